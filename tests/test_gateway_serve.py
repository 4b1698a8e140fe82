"""``dpp platform serve`` as a process: start-up lines, the admin token, graceful shutdown."""

from __future__ import annotations

import re
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import dpp_sdk as dpp
from dpp_sdk.client import PlatformClient
from dpp_sdk.gateway import TOKEN_FILE
from tests.gateways import ROOT, Served, serve_env


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[Path, list[Served]]]:
    """Start ``dpp platform serve`` processes on a fresh state directory; killed after."""
    started: list[Served] = []
    yield tmp_path / "state", started
    for served in started:
        served.kill()


def test_serve_prints_the_url_writes_a_private_token_and_stops_gracefully_on_sigterm(
    serve: tuple[Path, list[Served]],
) -> None:
    """The generated token is in the state directory with mode 0600 and works; SIGTERM ends
    the process with status 0 and the state is consistent afterwards."""
    state_dir, started = serve
    served = Served(state_dir, serve_env())
    started.append(served)
    assert served.url.startswith("http://127.0.0.1:")
    token_file = state_dir / TOKEN_FILE
    assert f"admin token: {token_file}" in served.lines
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    with PlatformClient(served.url, token_file.read_text().strip()) as client:
        client.register_service("tests.providers:KVProvider")
        client.create_instance(service="kv", name="kv1", capacity_gb=1)
    status, out = served.stop()
    assert status == 0, out
    assert "dpp gateway stopped on signal" in out
    with dpp.Platform.open(state_dir) as platform:
        assert [i.name for i in platform.list_instances()] == ["kv1"]
        assert platform.check_consistency() == []


def test_serve_takes_the_admin_token_from_the_environment_and_stops_on_sigint(
    serve: tuple[Path, list[Served]],
) -> None:
    """With DPP_ADMIN_TOKEN set no token file is written and that token is the one accepted."""
    state_dir, started = serve
    served = Served(state_dir, serve_env(DPP_ADMIN_TOKEN="from-env"))
    started.append(served)
    assert "admin token: DPP_ADMIN_TOKEN" in served.lines
    assert not (state_dir / TOKEN_FILE).exists()
    with PlatformClient(served.url, "from-env") as client:
        assert client.list_services() == []
    status, _ = served.stop(signal.SIGINT)
    assert status == 0


def test_serve_after_a_sigkill_recovers_the_operation_left_running_before_serving(
    serve: tuple[Path, list[Served]],
) -> None:
    """A create killed half-way leaves its operation running; serve resumes it at start and
    says so, and the instance is ready when the first request comes."""
    state_dir, started = serve
    script = (
        "from dpp_sdk.cli._app import run\n"
        f"base = ['--state-dir', {str(state_dir)!r}]\n"
        "assert run([*base, 'service', 'register', 'tests.providers:SuicidalProvider']) == 0\n"
        "run([*base, 'instance', 'create', '--service', 'suicidal', '--name', 's1'])\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=serve_env(DPP_TEST_CRASH="s1"),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    served = Served(state_dir, serve_env(DPP_ADMIN_TOKEN="t"))
    started.append(served)
    assert any(
        re.match(r"recovered operation op-\w+ \(provision s1\): succeeded", line)
        for line in served.lines
    ), served.lines
    with PlatformClient(served.url, "t") as client:
        assert client.get_instance("s1").status == dpp.InstanceStatus.READY
    assert served.stop()[0] == 0


def test_dpp_help_and_serve_help_do_not_load_the_gateway() -> None:
    """The web stack loads only when ``platform serve`` runs, never for help."""
    code = (
        "import sys\n"
        "from dpp_sdk.cli._app import run\n"
        "for args in (['--help'], ['platform', '--help'], ['platform', 'serve', '--help']):\n"
        "    assert run(args) == 0\n"
        "print(sorted(m for m in ('dpp_sdk.gateway', 'dpp_sdk.client', 'starlette', 'uvicorn')"
        " if m in sys.modules), file=sys.stderr)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stderr.strip() == "[]"
