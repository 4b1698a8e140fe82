"""The ``dpp`` command: help and usage, the whole lifecycle end to end, faults, and which
commands resume the operations a killed ``dpp`` left unfinished."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

import dpp_sdk as dpp
from dpp_sdk import kits
from dpp_sdk.cli import _app
from dpp_sdk.cli._app import cli
from dpp_sdk.cli._options import read_only
from dpp_sdk.cli._session import READ_ONLY_ATTRIBUTE
from dpp_sdk.cli.commands import instance as instance_commands
from dpp_sdk.cli.commands.hardware import FAULT_KINDS, FaultKind
from dpp_sdk.platform import Platform

PROVIDER_REF = "tests.test_cli:TinyProvider"


# --------------------------------------------------------------------------- a tiny provider


class TinyProvider(dpp.ServiceProvider):
    """One member, ``kv-0``, with one volume ``data`` as large as the instance's capacity."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return dpp.Manifest(
            name="tiny-kv",
            display_name="Tiny KV",
            version="1.0.0",
            vendor="dpp-sdk tests",
            category=dpp.Category.DATABASE,
            description="A one-member key-value store for CLI tests.",
            plans=(dpp.Plan(name="small", min_capacity_gb=1, max_capacity_gb=100),),
            parameters_schema={
                "type": "object",
                "properties": {
                    "replicas": {"type": "integer", "minimum": 1, "default": 1},
                    "vetoMaintenance": {"type": "boolean", "default": False},
                },
                "additionalProperties": False,
            },
            supported_policies=("vsan-default", "vsan-sna"),
            default_policy="vsan-default",
            capabilities=dpp.Capabilities(maintenance_aware=True),
        )

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        ctx.members.ensure(
            "kv-0", volumes=[dpp.VolumeClaim(name="data", size_gb=request.spec.capacity_gb)]
        )
        ctx.secrets.ensure("admin-password")
        ctx.endpoints.ensure("client", port=6379)

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        del ctx, request

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        checks = []
        for member in ctx.members.list():
            if member.state == "running":
                status = dpp.HealthStatus.GREEN
            elif member.state == "stopped":
                status = dpp.HealthStatus.YELLOW
            else:
                status = dpp.HealthStatus.RED
            checks.append(dpp.HealthCheck(name=f"member-{member.name}", status=status))
        return dpp.HealthReport.from_checks(checks)

    def scale(self, ctx: dpp.InstanceContext, request: dpp.ScaleRequest) -> None:
        ctx.volumes.expand("data", request.capacity_gb)

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        kits.release_everything(ctx, keep_state=True)

    def on_maintenance(
        self, ctx: dpp.InstanceContext, request: dpp.MaintenanceRequest
    ) -> dpp.MaintenanceDecision:
        if ctx.spec.parameters.get("vetoMaintenance") and request.members:
            return dpp.MaintenanceDecision.veto(
                dpp.VetoReason.NOT_ENOUGH_RESOURCES, "kv-0 is the only copy being served"
            )
        return dpp.MaintenanceDecision.allow()


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def dpp_cli(state_dir: Path) -> Callable[..., Result]:
    """Run ``dpp --state-dir <tmp> ARGS...`` in-process; returns the click Result."""
    runner = CliRunner()

    def run(*args: str, input: str | None = None) -> Result:
        return runner.invoke(cli, ["--state-dir", str(state_dir), *args], input=input)

    return run


def _ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.exit_code, result.stdout, result.stderr)
    return result


def _json(result: Result) -> Any:
    return json.loads(_ok(result).stdout)


def _error_line(result: Result) -> str:
    """The single ``dpp: error:`` line a failed command printed."""
    assert result.exit_code == 1, (result.exit_code, result.stdout, result.stderr)
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("dpp: error: "), lines[0]
    return lines[0]


def _all_commands(
    command: click.Command, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    """Every command and group under ``command``, with the words that reach it."""
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _all_commands(sub, (*path, name))


# --------------------------------------------------------------------------- help and usage


def test_every_command_has_help_with_an_example(state_dir: Path) -> None:
    """--help works for every command and group, and each command's help shows an example."""
    runner = CliRunner()
    commands = list(_all_commands(cli))
    assert len(commands) > 25
    for path, command in commands:
        result = runner.invoke(cli, ["--state-dir", str(state_dir), *path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage: " in result.stdout
        if not isinstance(command, click.Group) or path == ("fault", "clear"):
            assert "Example:" in result.stdout, path
    assert not state_dir.exists(), "--help must not open or create the platform"


def test_help_does_not_create_the_default_state_dir(tmp_path: Path) -> None:
    """`dpp --help` with DPP_STATE_DIR set leaves the directory absent."""
    target = tmp_path / "from-env"
    result = CliRunner().invoke(cli, ["--help"], env={"DPP_STATE_DIR": str(target)})
    assert result.exit_code == 0
    assert "DPP_STATE_DIR" in result.stdout
    assert not target.exists()


def test_a_malformed_param_is_refused_naming_the_flag_and_value(
    dpp_cli: Any, state_dir: Path
) -> None:
    """`--param replicas` (no '=') is a usage error that names --param and the value."""
    result = dpp_cli(
        "instance", "create", "--service", "tiny-kv", "--name", "kv", "--param", "replicas"
    )
    assert result.exit_code == 2
    assert "--param" in result.stderr
    assert "'replicas'" in result.stderr
    assert not state_dir.exists()


def test_instance_set_without_changes_is_a_usage_error(dpp_cli: Any) -> None:
    """`instance set NAME` with neither --param nor --capacity-gb is refused."""
    result = dpp_cli("instance", "set", "kv")
    assert result.exit_code == 2
    assert "nothing to change" in result.stderr


def test_an_unknown_output_format_is_refused(dpp_cli: Any) -> None:
    """-o accepts only table and json."""
    result = dpp_cli("-o", "yaml", "platform", "status")
    assert result.exit_code == 2
    assert "yaml" in result.stderr


def test_an_invalid_cluster_config_is_one_error_line(tmp_path: Path) -> None:
    """--config with a bad INI fails with every problem on the dpp: error: line."""
    ini = tmp_path / "cluster.ini"
    ini.write_text("[cluster]\nhosts = many\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["--state-dir", str(tmp_path / "s"), "--config", str(ini), "platform", "status"]
    )
    line = _error_line(result)
    assert "hosts" in line
    assert "many" in line


def test_an_empty_or_unreadable_state_database_is_one_error_line_naming_it(
    dpp_cli: Any, state_dir: Path
) -> None:
    """A truncated platform.db, or one that is not SQLite, is refused on one line saying what
    to do; the file is left as it was."""
    _ok(dpp_cli("platform", "status"))
    database = state_dir / "platform.db"
    for leftover in ("platform.db-wal", "platform.db-shm"):
        (state_dir / leftover).unlink(missing_ok=True)
    for content in (b"", b"not a database\n" * 300):
        database.write_bytes(content)
        line = _error_line(dpp_cli("platform", "status"))
        assert str(database) in line
        assert "restore it from a backup, or delete it" in line
        assert database.read_bytes() == content


# --------------------------------------------------------------------------- end to end


def test_the_whole_lifecycle_from_the_command_line(dpp_cli: Any) -> None:
    """status, register, create, list, health, faults, precheck, scale, remove, resources."""
    status = _json(dpp_cli("platform", "status", "-o", "json"))
    assert status["hosts"] == 4
    assert status["instances"] == 0
    assert "Default policy" in _ok(dpp_cli("platform", "status")).stdout

    registered = _json(dpp_cli("-o", "json", "service", "register", PROVIDER_REF))
    assert registered["name"] == "tiny-kv"
    listing = _ok(dpp_cli("service", "list")).stdout
    assert "tiny-kv" in listing
    assert "1.0.0" in listing

    created = _json(
        dpp_cli(
            "instance", "create", "--service", "tiny-kv", "--name", "kv1",
            "--capacity-gb", "10", "--param", "replicas=2", "-o", "json",
        )
    )  # fmt: skip
    assert created["target"] == "kv1"
    assert created["state"] == "succeeded"

    table = _ok(dpp_cli("instance", "list")).stdout
    header = table.splitlines()[0].split()
    assert header == ["Name", "ServiceType", "Status", "CapacityGB", "Health"]
    assert "kv1" in table
    assert "ready" in table
    instances = _json(dpp_cli("instance", "list", "--service", "tiny-kv", "-o", "json"))
    assert [i["name"] for i in instances] == ["kv1"]
    assert instances[0]["spec"]["parameters"]["replicas"] == 2

    shown = _ok(dpp_cli("instance", "show", "kv1")).stdout
    assert "admin-password" in shown  # the secret's name, never its value
    info = _json(dpp_cli("instance", "show", "kv1", "-o", "json"))
    assert info["secrets"] == [{"name": "admin-password"}]
    member_host = info["members"][0]["host"]

    health = _json(dpp_cli("health", "kv1", "-o", "json"))
    assert health["status"] == "green"
    assert "green" in _ok(dpp_cli("health")).stdout

    injected = _json(dpp_cli("fault", "inject", "host-failure", member_host, "-o", "json"))
    assert injected["state"] == "failed"
    assert _json(dpp_cli("health", "kv1", "-o", "json"))["status"] != "green"
    cluster = _json(dpp_cli("health", "-o", "json"))
    assert cluster["status"] != "green"

    _ok(dpp_cli("fault", "clear"))
    hosts = _json(dpp_cli("host", "list", "-o", "json"))
    assert {h["state"] for h in hosts} == {"connected"}
    assert _json(dpp_cli("instance", "show", "kv1", "-o", "json"))["members"][0]["state"] == (
        "running"
    )

    precheck = _json(
        dpp_cli("host", "maintenance", "enter", member_host, "--mode", "no-action", "--precheck",
                "-o", "json")
    )  # fmt: skip
    assert precheck["host"] == member_host
    assert [i["instance"] for i in precheck["instances"]] == ["kv1"]
    assert _json(dpp_cli("host", "list", "-o", "json"))[0]["state"] == "connected"

    scaled = _json(dpp_cli("instance", "set", "kv1", "--capacity-gb", "20", "-o", "json"))
    assert [o["state"] for o in scaled] == ["succeeded"]
    assert _json(dpp_cli("instance", "show", "kv1", "-o", "json"))["spec"]["capacity_gb"] == 20

    removed = _ok(dpp_cli("instance", "remove", "kv1", "--yes")).stdout
    assert "kv1" in removed
    assert "succeeded" in removed

    resources = _json(dpp_cli("resource", "list", "-o", "json"))
    assert all(i["instance"] != "kv1" for i in resources["instances"])
    assert resources["reserved_gb"] == 0
    assert _json(dpp_cli("instance", "list", "-o", "json")) == []

    audit = _json(dpp_cli("audit", "-o", "json"))
    assert any(r["action"].startswith("service.register") for r in audit)
    assert len(_json(dpp_cli("audit", "--limit", "2", "-o", "json"))) == 2


def test_remove_without_yes_and_without_a_terminal_refuses(dpp_cli: Any) -> None:
    """With stdin not a tty and no --yes, nothing is removed and the exit status is 1."""
    _ok(dpp_cli("service", "register", PROVIDER_REF))
    _ok(dpp_cli("instance", "create", "--service", "tiny-kv", "--name", "kv2"))
    line = _error_line(dpp_cli("instance", "remove", "kv2"))
    assert "--yes" in line
    assert "not a terminal" in line
    assert [i["name"] for i in _json(dpp_cli("instance", "list", "-o", "json"))] == ["kv2"]


def test_remove_on_a_terminal_asks_and_respects_the_answer(
    dpp_cli: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a terminal 'n' keeps the instance (exit 1) and 'y' removes it."""
    monkeypatch.setattr(instance_commands, "_stdin_is_terminal", lambda: True)
    _ok(dpp_cli("service", "register", PROVIDER_REF))
    _ok(dpp_cli("instance", "create", "--service", "tiny-kv", "--name", "kv3"))
    declined = dpp_cli("instance", "remove", "kv3", input="n\n")
    assert declined.exit_code == 1
    assert "not removed" in declined.stderr
    assert len(_json(dpp_cli("instance", "list", "-o", "json"))) == 1
    _ok(dpp_cli("instance", "remove", "kv3", input="y\n"))
    assert _json(dpp_cli("instance", "list", "-o", "json")) == []


def test_invalid_parameters_are_one_line_naming_the_field_and_value(dpp_cli: Any) -> None:
    """A parameter outside the schema fails with its path and value on the error line."""
    _ok(dpp_cli("service", "register", PROVIDER_REF))
    result = dpp_cli(
        "instance", "create", "--service", "tiny-kv", "--name", "kv4", "--param", "replicas=0"
    )
    line = _error_line(result)
    assert "replicas" in line
    assert "0" in line
    assert _json(dpp_cli("instance", "list", "-o", "json")) == []


def test_unknown_names_fail_with_one_line(dpp_cli: Any) -> None:
    """A missing instance, service or host is a one-line error, exit 1."""
    assert "'nope'" in _error_line(dpp_cli("instance", "show", "nope"))
    assert "'nope'" in _error_line(dpp_cli("service", "enable", "nope"))
    assert "'esx-99'" in _error_line(dpp_cli("fault", "inject", "host-failure", "esx-99"))


def test_instance_set_changes_parameters_and_capacity(dpp_cli: Any) -> None:
    """--param configures, --capacity-gb scales; both print one operation each."""
    _ok(dpp_cli("service", "register", PROVIDER_REF))
    _ok(
        dpp_cli("instance", "create", "--service", "tiny-kv", "--name", "kv5", "--capacity-gb", "5")
    )
    operations = _json(
        dpp_cli(
            "instance", "set", "kv5", "--param", "replicas=3", "--capacity-gb", "8", "-o", "json"
        )
    )
    assert [o["state"] for o in operations] == ["succeeded", "succeeded"]
    spec = _json(dpp_cli("instance", "show", "kv5", "-o", "json"))["spec"]
    assert spec["parameters"]["replicas"] == 3
    assert spec["capacity_gb"] == 8
    table = _ok(dpp_cli("instance", "set", "kv5", "--param", "replicas=1")).stdout
    assert table.splitlines()[0].split() == ["ID", "Kind", "Target", "State"]


def test_a_vetoed_maintenance_fails_naming_the_instance_and_reason(dpp_cli: Any) -> None:
    """A provider's veto is one error line; the host stays connected; exit works after."""
    _ok(dpp_cli("service", "register", PROVIDER_REF))
    _ok(
        dpp_cli(
            "instance", "create", "--service", "tiny-kv", "--name", "kv6",
            "--param", "vetoMaintenance=true",
        )
    )  # fmt: skip
    host = _json(dpp_cli("instance", "show", "kv6", "-o", "json"))["members"][0]["host"]
    line = _error_line(dpp_cli("host", "maintenance", "enter", host, "--mode", "evacuate-all"))
    assert "kv6" in line
    assert "NotEnoughResources" in line
    hosts = {h["name"]: h["state"] for h in _json(dpp_cli("host", "list", "-o", "json"))}
    assert hosts[host] == "connected"

    other = next(name for name in sorted(hosts) if name != host)
    entered = _json(dpp_cli("host", "maintenance", "enter", other, "-o", "json"))
    assert entered["host"] == other
    left = _json(dpp_cli("host", "maintenance", "exit", other, "-o", "json"))
    assert left["state"] == "connected"


def test_disk_failure_can_be_injected_and_cleared(dpp_cli: Any) -> None:
    """fault inject disk-failure marks the disk failed; fault clear disk-failure heals it."""
    hosts = _json(dpp_cli("host", "list", "-o", "json"))
    host, disk = hosts[0]["name"], hosts[0]["disks"][0]["name"]
    failed = _json(dpp_cli("fault", "inject", "disk-failure", host, disk, "-o", "json"))
    assert failed["disks"][0]["state"] == "failed"
    assert "(failed)" in _ok(dpp_cli("host", "list")).stdout
    healed = _json(dpp_cli("fault", "clear", "disk-failure", host, disk, "-o", "json"))
    assert healed["disks"][0]["state"] == "healthy"


def test_logs_print_the_platform_log_and_its_last_lines(dpp_cli: Any) -> None:
    """`dpp logs` prints the log file; `-n 1` only its last line."""
    _ok(dpp_cli("service", "register", PROVIDER_REF))
    _ok(dpp_cli("instance", "create", "--service", "tiny-kv", "--name", "kv7"))
    everything = _ok(dpp_cli("logs")).stdout
    assert "kv7" in everything
    last = _ok(dpp_cli("logs", "-n", "1")).stdout
    assert last.count("\n") == 1
    assert everything.endswith(last)


def test_state_persists_between_commands_and_tables_have_no_colour(dpp_cli: Any) -> None:
    """A service registered by one command is listed by the next; output has no ANSI codes."""
    _ok(dpp_cli("service", "register", PROVIDER_REF))
    listing = _ok(dpp_cli("service", "list")).stdout
    assert "tiny-kv" in listing
    assert "\x1b[" not in listing
    services = _json(dpp_cli("service", "list", "-o", "json"))
    assert services[0]["enabled"] is True
    assert _json(dpp_cli("-o", "json", "service", "disable", "tiny-kv"))["enabled"] is False


def test_the_mongodb_sample_follows_its_rules_from_the_command_line(tmp_path: Path) -> None:
    """replicaCount=2 refused leaving nothing; 3 members on 3 hosts; 1 host down yellow, 2 red."""
    config = tmp_path / "three-hosts.ini"
    config.write_text("[cluster]\nhosts = 3\n")
    runner = CliRunner()

    def run(*args: str) -> Result:
        base = ["--state-dir", str(tmp_path / "state"), "--config", str(config)]
        return runner.invoke(cli, [*base, *args])

    sample = str(Path(__file__).resolve().parent.parent / "samples" / "mongodb")
    _ok(run("service", "register", sample))
    create = ["instance", "create", "--service", "mongodb", "--name", "db1", "--capacity-gb"]
    refused = run(*create, "100", "--param", "replicaCount=2")
    assert refused.exit_code != 0
    assert "$.parameters.replicaCount" in _error_line(refused)
    resources = _json(run("resource", "list", "-o", "json"))
    assert resources["reserved_gb"] == 0
    assert resources["instances"] == []
    _ok(run(*create, "100", "--param", "replicaCount=3"))
    members = _json(run("instance", "show", "db1", "-o", "json"))["members"]
    assert len({m["host"] for m in members}) == 3
    _ok(run("fault", "inject", "host-failure", members[0]["host"]))
    assert _json(run("health", "db1", "-o", "json"))["status"] == "yellow"
    _ok(run("fault", "inject", "host-failure", members[1]["host"]))
    assert _json(run("health", "db1", "-o", "json"))["status"] == "red"


def test_usage_errors_are_one_line_pointing_to_help(
    state_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """run() turns click's usage block into a single 'dpp: error:' line, exit 2."""
    status = _app.run(["--state-dir", str(state_dir), "instance", "set", "x"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert err.startswith("dpp: error: nothing to change")
    assert "dpp instance set --help" in err


@pytest.mark.parametrize("source", ["option", "environment"])
@pytest.mark.parametrize("value", ["nan", "inf"])
def test_an_operation_timeout_that_is_not_finite_is_a_usage_error_naming_it(
    state_dir: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    source: str,
    value: str,
) -> None:
    """--operation-timeout nan (or DPP_OPERATION_TIMEOUT=inf) is refused before opening."""
    args = ["--state-dir", str(state_dir)]
    if source == "option":
        args += ["--operation-timeout", value]
    else:
        monkeypatch.setenv("DPP_OPERATION_TIMEOUT", value)
    status = _app.run([*args, "platform", "status"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert err.startswith("dpp: error: Invalid value for '--operation-timeout'")
    assert f"'{value}' is not a finite number of seconds" in err
    assert not state_dir.exists()


@pytest.mark.parametrize("source", ["option", "environment"])
def test_an_empty_state_directory_is_a_usage_error_not_the_working_directory(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    source: str,
) -> None:
    """--state-dir '' (or DPP_STATE_DIR='') is refused; nothing is created where dpp runs
    (nor in the default state directory)."""
    workdir, data_home = tmp_path / "workdir", tmp_path / "data-home"
    workdir.mkdir()
    monkeypatch.chdir(workdir)
    monkeypatch.setenv("XDG_DATA_HOME", str(data_home))
    if source == "option":
        args = ["--state-dir", ""]
    else:
        monkeypatch.setenv("DPP_STATE_DIR", "")
        args = []
    status = _app.run([*args, "platform", "status"])
    err = capsys.readouterr().err
    assert status == 2
    assert err.count("\n") == 1
    assert err.startswith("dpp: error: Invalid value for '--state-dir'")
    assert "empty" in err
    assert list(workdir.iterdir()) == []
    assert not data_home.exists()


def test_an_unexpected_provider_bug_is_one_line_not_a_traceback(dpp_cli: Any) -> None:
    """A register() that raises a plain exception is reported in one line naming it."""
    result = dpp_cli("service", "register", "tests.test_cli:BrokenRegisterProvider")
    assert result.exit_code == 1
    line = _error_line(result)
    assert "register() raised ZeroDivisionError" in line
    assert "Traceback" not in result.stderr


def test_provider_text_cannot_break_or_recolour_an_error_line_or_a_table(dpp_cli: Any) -> None:
    """A provider's 200 kB message with a newline and escapes is one short line; its health
    check's name and message are printed escaped."""
    _ok(dpp_cli("service", "register", "tests.providers:NoisyProvider"))
    _ok(dpp_cli("instance", "create", "--service", "noisy", "--name", "n1"))
    line = _error_line(dpp_cli("instance", "set", "n1", "--param", "cacheMb=128"))
    assert "RuntimeError: line one\\nline two \\x1b[31mred" in line
    assert line.isprintable()
    assert len(line) < 3_000
    health = _ok(dpp_cli("health", "n1")).stdout
    assert "\x1b" not in health
    assert "\\x1b[31mred" in health


CHATTY_PROVIDER = """
import sys

from tests.providers import KVProvider, _renamed

print("chatty: imported")


class ChattyProvider(KVProvider):
    def register(self, cluster):
        print("chatty: register")
        return _renamed("chatty")

    def provision(self, ctx, request):
        sys.stdout.write("chatty: provision\\n")
        super().provision(ctx, request)

    def monitor(self, ctx):
        print("chatty: monitor")
        return super().monitor(ctx)
"""


def test_what_a_provider_prints_goes_to_stderr_and_json_output_stays_pure(
    tmp_path: Path,
) -> None:
    """A provider printing at import and in its verbs cannot pollute dpp ... -o json."""
    (tmp_path / "chatty_provider.py").write_text(CHATTY_PROVIDER, encoding="utf-8")
    state = tmp_path / "state"

    def dpp_json(*args: str) -> tuple[Any, str]:
        done = subprocess.run(
            [sys.executable, "-c", "from dpp_sdk.cli import main; main()", *args],
            cwd=tmp_path,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout), done.stderr

    base = ("--state-dir", str(state), "-o", "json")
    service, err = dpp_json(*base, "service", "register", "chatty_provider:ChattyProvider")
    assert service["name"] == "chatty"
    assert "chatty: imported" in err
    assert "chatty: register" in err
    operation, err = dpp_json(*base, "instance", "create", "--service", "chatty", "--name", "c1")
    assert operation["state"] == "succeeded"
    assert "chatty: provision" in err
    health, err = dpp_json(*base, "health", "c1")
    assert health["instance"] == "c1"
    assert "chatty: monitor" in err


def test_params_are_typed_by_the_services_schema(dpp_cli: Any, tmp_path: Path) -> None:
    """A string parameter written as 7.0 stays the string '7.0'; 3.0 for an integer is 3."""
    sample = str(Path(__file__).resolve().parent.parent / "samples" / "mongodb")
    _ok(dpp_cli("service", "register", sample))
    _ok(
        dpp_cli(
            "instance", "create", "--service", "mongodb", "--name", "db1", "--capacity-gb",
            "10", "--param", "version=7.0", "--param", "replicaCount=3.0",
        )
    )  # fmt: skip
    spec = _json(dpp_cli("instance", "show", "db1", "-o", "json"))["spec"]
    assert spec["parameters"]["version"] == "7.0"
    assert spec["parameters"]["replicaCount"] == 3


def test_set_changes_nothing_when_the_scale_would_be_refused(dpp_cli: Any) -> None:
    """A refused scale refuses the whole 'instance set' before the parameters change."""
    _ok(dpp_cli("service", "register", PROVIDER_REF))
    _ok(dpp_cli("instance", "create", "--service", "tiny-kv", "--name", "a", "--capacity-gb", "5"))
    result = dpp_cli("instance", "set", "a", "--param", "replicas=2", "--capacity-gb", "1")
    assert result.exit_code == 1
    assert "$.capacity_gb" in _error_line(result)
    spec = _json(dpp_cli("instance", "show", "a", "-o", "json"))["spec"]
    assert spec["parameters"].get("replicas") != 2
    assert spec["capacity_gb"] == 5


def test_remove_with_the_same_idempotency_key_returns_the_first_operation(dpp_cli: Any) -> None:
    """The second call succeeds with the same operation id, though the instance is gone."""
    _ok(dpp_cli("service", "register", PROVIDER_REF))
    _ok(dpp_cli("instance", "create", "--service", "tiny-kv", "--name", "a", "--capacity-gb", "5"))
    args = ("instance", "remove", "a", "--yes", "--idempotency-key", "rm-a", "-o", "json")
    first = _json(dpp_cli(*args))
    second = _json(dpp_cli(*args))
    assert first["id"] == second["id"]


class BrokenRegisterProvider(TinyProvider):
    """register() has a bug."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        raise ZeroDivisionError("division by zero")  # the bug under test


# --------------------------------------------------------------------------- each fault kind


@pytest.mark.parametrize("kind", FAULT_KINDS, ids=lambda kind: kind.name)
def test_each_fault_kind_is_injected_and_cleared_naming_where(
    dpp_cli: Any, kind: FaultKind
) -> None:
    """inject and clear say what they did to which host (and disk), then print the host."""
    host = _json(dpp_cli("host", "list", "-o", "json"))[1]
    place = [host["name"], host["disks"][0]["name"]] if kind.on_disk else [host["name"]]
    where = " ".join(place)
    noun = kind.name.replace("-", " ")

    injected = _ok(dpp_cli("fault", "inject", kind.name, *place)).stdout
    assert injected.splitlines()[0] == f"Injected {noun} on {where}."
    assert "failed" in injected
    shown = _json(dpp_cli("fault", "clear", kind.name, *place, "-o", "json"))
    assert shown["name"] == host["name"]
    assert shown["state"] == "connected"
    assert {d["state"] for d in shown["disks"]} == {"healthy"}
    _ok(dpp_cli("fault", "inject", kind.name, *place))
    cleared = _ok(dpp_cli("fault", "clear", kind.name, *place)).stdout
    assert cleared.splitlines()[0] == f"Cleared {noun} on {where}."


# --------------------------------------------------------------------------- interrupted operations

ROOT = Path(__file__).resolve().parent.parent

# How the tests call each read-only command, by command path ("{op}" is the operation's id).
READ_ONLY_CALLS: dict[str, tuple[str, ...]] = {
    "platform status": (),
    "service list": (),
    "service show": ("suicidal",),
    "instance list": (),
    "instance show": ("s1",),
    "health": (),
    "resource list": (),
    "logs": (),
    "audit": (),
    "events": (),
    "operation list": (),
    "operation show": ("{op}",),
    "host list": (),
    "host maintenance enter": ("esx-01", "--precheck"),
    "clock show": (),
}


@pytest.fixture
def interrupted_operation(state_dir: Path) -> str:
    """The id of the provision of ``s1`` that a ``dpp instance create``, killed half-way
    through, left running in ``state_dir``."""
    script = textwrap.dedent(
        f"""
        from dpp_sdk.cli._app import run
        base = ["--state-dir", {str(state_dir)!r}]
        assert run([*base, "service", "register", "tests.providers:SuicidalProvider"]) == 0
        run([*base, "instance", "create", "--service", "suicidal", "--name", "s1"])
        """
    )
    killed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "DPP_TEST_CRASH": "s1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (operation,) = _interrupted(state_dir)
    return operation


def _interrupted(state_dir: Path) -> list[str]:
    """Ids of the operations a dead process left unfinished in ``state_dir``."""
    with Platform.open(state_dir, recover=False) as platform:
        return [o.id for o in platform.interrupted_operations()]


def test_a_writer_resumes_only_its_own_instance_and_platform_recover_the_rest(
    dpp_cli: Any, state_dir: Path, interrupted_operation: str
) -> None:
    """instance list resumes nothing; a create of another instance only points the
    interrupted one out; dpp platform recover resumes it."""
    _ok(dpp_cli("instance", "list"))
    assert _interrupted(state_dir) == [interrupted_operation]
    result = _ok(dpp_cli("instance", "create", "--service", "suicidal", "--name", "s2"))
    assert "resuming" not in result.stderr
    assert "interrupted operations on s1" in result.stderr
    assert "dpp platform recover" in result.stderr
    assert _interrupted(state_dir) == [interrupted_operation]
    recovered = _ok(dpp_cli("platform", "recover", "-o", "json"))
    assert f"resuming operation {interrupted_operation}" in recovered.stderr
    assert [(o["id"], o["state"]) for o in _json(recovered)] == [
        (interrupted_operation, "succeeded")
    ]
    assert _interrupted(state_dir) == []


def test_a_command_on_the_interrupted_instance_resumes_it_first(
    dpp_cli: Any, state_dir: Path, interrupted_operation: str
) -> None:
    """Removing s1 resumes its interrupted provision, then removes it."""
    result = _ok(dpp_cli("instance", "remove", "s1", "--yes"))
    assert f"resuming operation {interrupted_operation}" in result.stderr
    assert _interrupted(state_dir) == []
    assert _json(dpp_cli("instance", "list", "-o", "json")) == []


def test_every_read_only_command_runs_without_resuming_anything(
    dpp_cli: Any, state_dir: Path, interrupted_operation: str
) -> None:
    """Each command marked read-only succeeds and leaves the interrupted operation alone."""
    marked = {" ".join(path) for path, command in _all_commands(cli) if _marked(command)}
    assert marked == set(READ_ONLY_CALLS)
    for path, arguments in READ_ONLY_CALLS.items():
        call = [a.format(op=interrupted_operation) for a in arguments]
        result = _ok(dpp_cli(*path.split(), *call))
        assert "resuming" not in result.stderr, path
    assert _interrupted(state_dir) == [interrupted_operation]


def test_a_maintenance_precheck_is_read_only_and_entering_maintenance_is_not(
    dpp_cli: Any, state_dir: Path, interrupted_operation: str
) -> None:
    """enter --precheck says nothing of interrupted work; entering points it out, then enters."""
    enter = ("host", "maintenance", "enter", "esx-01", "--mode", "no-action")
    precheck = _ok(dpp_cli(*enter, "--precheck"))
    assert "interrupted" not in precheck.stderr
    assert _interrupted(state_dir) == [interrupted_operation]
    entered = _ok(dpp_cli(*enter))
    assert "interrupted operations on s1" in entered.stderr
    hosts = {h["name"]: h["state"] for h in _json(dpp_cli("host", "list", "-o", "json"))}
    assert hosts["esx-01"] == "maintenance"


def test_the_read_only_marker_refuses_a_plain_function() -> None:
    """Put below @group.command() it would be lost, so it raises TypeError instead."""
    with pytest.raises(TypeError, match=r"above @group\.command\(\)"):
        read_only(lambda: None)  # type: ignore[type-var]


def test_the_docs_name_every_read_only_command() -> None:
    """docs/cli.md lists each read-only command as `dpp PATH`."""
    docs = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    section = docs.split("## Interrupted operations", 1)[1].split("\n## ", 1)[0]
    for path in READ_ONLY_CALLS:
        assert f"`dpp {path}`" in section, path


def _marked(command: click.Command) -> bool:
    return hasattr(command, READ_ONLY_ATTRIBUTE)


def test_instance_list_shows_a_page_and_says_when_there_is_more(dpp_cli: Any) -> None:
    """--limit cuts the listing and says so on stderr; --all lists everything; JSON stays a list."""
    _ok(dpp_cli("service", "register", PROVIDER_REF))
    for name in ("a", "b", "c"):
        _ok(
            dpp_cli(
                "instance", "create", "--service", "tiny-kv", "--name", name, "--capacity-gb", "5"
            )
        )
    cut = dpp_cli("instance", "list", "--limit", "2", "-o", "json")
    assert [i["name"] for i in _json(cut)] == ["a", "b"]
    assert "--all" in cut.stderr
    everything = dpp_cli("instance", "list", "--all", "-o", "json")
    assert [i["name"] for i in _json(everything)] == ["a", "b", "c"]
    assert everything.stderr == ""
    ops = _json(dpp_cli("operation", "list", "--limit", "1", "-o", "json"))
    assert [o["kind"] for o in ops] == ["provision"]
