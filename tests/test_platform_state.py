"""Durable state: reopen, crash recovery and concurrency.

Crashes at every commit are tested in ``tests/test_crash_points.py`` (replayable crash points);
capacity accounting in ``tests/test_lifecycle_machine.py`` (a state machine with a model).
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

import dpp_sdk as dpp
from dpp_sdk import testing
from dpp_sdk.platform import ClusterConfig, Platform
from dpp_sdk.testing import faults

ROOT = Path(__file__).resolve().parent.parent


def _snapshot(p: Platform) -> tuple[object, ...]:
    return (
        p.list_services(),
        p.list_instances(),
        p.resources(),
        p.list_hosts(),
        p.list_operations(),
        p.audit(),
        p.events(),
    )


def test_state_is_equal_after_close_and_reopen(tmp_path: Path) -> None:
    """Everything listed before closing is listed identically after reopening."""
    with Platform.open(tmp_path, config=ClusterConfig.uniform(hosts=5)) as p:
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="kv", name="a", capacity_gb=10, policy="vsan-raid5")
        p.create_instance(service="kv", name="b", capacity_gb=3, policy="vsan-sna")
        testing.write_volume(p, "a", "data", 4096, b"persisted bytes")
        p.inject_host_failure("esx-05")
        before = _snapshot(p)
    with Platform.open(tmp_path) as p:
        assert _snapshot(p) == before
        assert testing.read_volume(p, "a", "data", 4096, 15) == b"persisted bytes"
        assert p.check_consistency() == []


def test_reopening_with_a_different_config_is_refused(tmp_path: Path) -> None:
    """The cluster shape is fixed when the state directory is created."""
    Platform.open(tmp_path).close()
    with pytest.raises(dpp.Conflict, match="different cluster configuration"):
        Platform.open(tmp_path, config=ClusterConfig.uniform(hosts=7))


def _run(code: str, state: Path, **env: str) -> subprocess.CompletedProcess[str]:
    script = textwrap.dedent(code).format(state=str(state))
    return subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_smoke_a_real_sigkill_mid_provision_is_resumed_on_reopen(tmp_path: Path) -> None:
    """Smoke test with a real SIGKILL (tests/test_crash_points.py covers every commit):
    reopening re-runs the provision, which converges without doubling."""
    result = _run(
        """
        from dpp_sdk.platform import Platform
        p = Platform.open({state!r})
        p.register_service("tests.providers:SuicidalProvider")
        p.create_instance(
            service="suicidal", name="s1", capacity_gb=10, policy="vsan-default-thick"
        )
        """,
        tmp_path,
        DPP_TEST_CRASH="s1",
    )
    assert result.returncode == -9, result.stderr
    with Platform.open(tmp_path) as p:
        (op,) = p.list_operations()
        assert op.state is dpp.OperationState.SUCCEEDED
        info = p.get_instance("s1")
        assert info.status is dpp.InstanceStatus.READY
        assert [m.name for m in info.members] == ["kv-0"]
        assert [e.name for e in info.endpoints] == ["client"]
        assert p.resources().reserved_gb == pytest.approx(20.0)
        assert p.check_consistency() == []


def test_concurrent_threads_never_lose_an_update(tmp_path: Path) -> None:
    """Four threads creating instances at once: all exist, accounting adds up exactly."""
    with Platform.open(tmp_path, config=ClusterConfig.uniform(hosts=6)) as p:
        p.register_service("tests.providers:KVProvider")
        errors: list[BaseException] = []

        def work(t: int) -> None:
            try:
                for i in range(8):
                    p.create_instance(
                        service="kv", name=f"t{t}-{i}", capacity_gb=2, policy="vsan-default-thick"
                    )
                    p.configure_instance(f"t{t}-{i}", {"cacheMb": 32 + i})
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=work, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert errors == []
        assert len(p.list_instances()) == 32
        assert p.resources().reserved_gb == pytest.approx(32 * 4.0)
        assert all(i.spec.parameters["cacheMb"] >= 32 for i in p.list_instances())
        assert p.check_consistency() == []


def test_recovery_fails_an_interrupted_repair_and_frees_the_instance(tmp_path: Path) -> None:
    """A repair left running by a dead process is failed, never resumed or left running."""
    with Platform.open(tmp_path) as p:
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="kv", name="kv1", capacity_gb=1)
        record = faults.leave_running(
            p, "repair", "kv1", owner="999999999:dead", holds_instance=True
        )
    with Platform.open(tmp_path) as p:
        op = p.get_operation(record.id)
        assert op.state is dpp.OperationState.FAILED
        assert op.error is not None
        assert op.error.type == "Interrupted"
        assert p.get_instance("kv1").status is dpp.InstanceStatus.READY
        assert p.check_consistency() == []
