"""``dpp host maintenance enter`` drains the host through the providers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from dpp_sdk.cli._app import cli

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def test_evacuate_all_completes_only_after_the_minio_sample_moved_its_server(
    tmp_path: Path,
) -> None:
    """5 hosts, a 4-server MinIO: entering evacuate-all on a server's host runs the sample's
    drain (a ``drain`` operation), which re-creates the server elsewhere; then the host is in
    maintenance with nothing of the instance on it, and health is green."""
    config = tmp_path / "five.ini"
    config.write_text("[cluster]\nhosts = 5\n")
    runner = CliRunner()

    def run(*args: str) -> Result:
        base = ["--state-dir", str(tmp_path / "state"), "--config", str(config)]
        return runner.invoke(cli, [*base, *args])

    def ok_json(*args: str) -> Any:
        result = run(*args, "-o", "json")
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return json.loads(result.stdout)

    assert run("service", "register", str(SAMPLES / "minio")).exit_code == 0
    created = run(
        "instance", "create", "--service", "minio", "--name", "s3", "--capacity-gb", "400"
    )
    assert created.exit_code == 0, created.stderr
    members = ok_json("instance", "show", "s3")["members"]
    host = members[0]["host"]
    entered = ok_json("host", "maintenance", "enter", host, "--mode", "evacuate-all")
    assert entered["drained"] == ["s3"]
    after = ok_json("instance", "show", "s3")
    assert host not in {m["host"] for m in after["members"]}
    assert all(c["host"] != host for v in after["volumes"] for c in v["components"])
    assert ok_json("health", "s3")["status"] == "green"
    drains = [o for o in ok_json("operation", "list", "--target", "s3") if o["kind"] == "drain"]
    assert [o["state"] for o in drains] == ["succeeded"]
    assert ok_json("host", "list")[int(host[-2:]) - 1]["state"] == "maintenance"
