"""``dpp clock``: simulated time from the command line, and the repair timer it passes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from hypothesis import given
from hypothesis import strategies as st

from dpp_sdk.cli._app import cli
from dpp_sdk.cli.commands.clock import parse_duration

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def _runner(state_dir: Path) -> Any:
    runner = CliRunner()

    def run(*args: str) -> Result:
        return runner.invoke(cli, ["--state-dir", str(state_dir), *args])

    return run


def _json(result: Result) -> Any:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return json.loads(result.stdout)


def test_a_failed_hosts_mongodb_member_is_replaced_only_once_the_clock_passes_the_timer(
    tmp_path: Path,
) -> None:
    """4 hosts, replicaCount 3: a host failure leaves the instance yellow with its member in
    place; ``dpp clock advance 61m`` makes the sample re-create it on the free host, green."""
    run = _runner(tmp_path / "state")
    assert run("service", "register", str(SAMPLES / "mongodb")).exit_code == 0
    created = run(
        "instance", "create", "--service", "mongodb", "--name", "db1", "--capacity-gb", "50",
        "--param", "replicaCount=3",
    )  # fmt: skip
    assert created.exit_code == 0, created.stderr
    members = _json(run("instance", "show", "db1", "-o", "json"))["members"]
    failed = members[0]["host"]
    free = {"esx-01", "esx-02", "esx-03", "esx-04"} - {m["host"] for m in members}
    assert run("fault", "inject", "host-failure", failed).exit_code == 0
    assert _json(run("health", "db1", "-o", "json"))["status"] == "yellow"
    timers = _json(run("clock", "show", "-o", "json"))["repair_timers"]
    assert [(t["host"], t["cause"]) for t in timers] == [(failed, "host-failure")]
    member = next(m for m in _json(run("instance", "show", "db1", "-o", "json"))["members"])
    assert (member["name"], member["host"], member["state"]) == (
        members[0]["name"],
        failed,
        "unreachable",
    )

    clock = _json(run("clock", "advance", "61m", "-o", "json"))
    assert clock["ahead_seconds"] == 61 * 60
    assert clock["repair_timers"] == []
    moved = {
        m["name"]: m["host"] for m in _json(run("instance", "show", "db1", "-o", "json"))["members"]
    }
    assert moved[members[0]["name"]] in free
    assert _json(run("health", "db1", "-o", "json"))["status"] == "green"


def test_clock_show_prints_the_time_and_each_running_timer(tmp_path: Path) -> None:
    run = _runner(tmp_path / "state")
    assert run("fault", "inject", "host-failure", "esx-03").exit_code == 0
    shown = run("clock", "show")
    assert shown.exit_code == 0, shown.stderr
    assert "Object repair timer  60 min" in shown.stdout
    assert "esx-03" in shown.stdout
    assert "host-failure" in shown.stdout
    advanced = run("clock", "advance", "1h30m")
    assert "No repair timer is running." in advanced.stdout
    assert "Ahead of real time   1h 30m 00s" in advanced.stdout


@pytest.mark.parametrize("bad", ["", "1x", "m", "-5", "0", "1h-2m", "1.5.2s"])
def test_a_bad_duration_is_a_usage_error_naming_the_value(tmp_path: Path, bad: str) -> None:
    result = _runner(tmp_path / "state")("clock", "advance", "--", bad)
    assert result.exit_code == 2
    assert "DURATION" in result.stderr
    assert repr(bad) in result.stderr
    assert not (tmp_path / "state").exists()  # refused before the platform opened


@given(
    days=st.integers(0, 3),
    hours=st.integers(0, 30),
    minutes=st.integers(0, 90),
    seconds=st.integers(0, 90),
)
def test_a_duration_is_the_sum_of_its_parts(
    days: int, hours: int, minutes: int, seconds: int
) -> None:
    parts = [(days, "d"), (hours, "h"), (minutes, "m"), (seconds, "s")]
    text = "".join(f"{n}{unit}" for n, unit in parts if n)
    total = days * 86400 + hours * 3600 + minutes * 60 + seconds
    if total == 0:
        with pytest.raises(click.BadParameter):
            parse_duration(text or "0")
    else:
        assert parse_duration(text) == total
        assert parse_duration(str(total)) == total
