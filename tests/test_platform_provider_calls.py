"""Provider code is bounded: deadlines per method, SystemExit, odd answers (issue 8)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import dpp_sdk as dpp
from dpp_sdk.platform import Platform
from dpp_sdk.platform._calls import DEFAULT_DEADLINES, ProviderTimeout, call_provider
from tests import providers

SHORT = dict.fromkeys(DEFAULT_DEADLINES, 0.3)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def hanging() -> Iterator[type[providers.HangingProvider]]:
    """The hanging provider, with nothing hanging; releases every hung call at the end."""
    providers.RELEASE_HANGING.clear()
    providers.HangingProvider.HANGS = set()
    yield providers.HangingProvider
    providers.HangingProvider.HANGS = set()
    providers.RELEASE_HANGING.set()


def test_a_hanging_provision_fails_naming_the_verb_and_the_deadline(
    hanging: type[providers.HangingProvider],
) -> None:
    """The operation fails with ProviderTimeout; what the attempt made is released."""
    hanging.HANGS = {"provision"}
    with Platform.open(provider_deadlines=SHORT) as p:
        p.register_service("tests.providers:HangingProvider")
        with pytest.raises(dpp.OperationFailed) as info:
            p.create_instance(service="hanging", name="h", capacity_gb=1)
        error = info.value.operation.error
        assert error is not None
        assert error.type == "ProviderTimeout"
        assert "provision" in error.message
        assert "0.3 s" in error.message
        assert p.list_instances() == []
        assert p.check_consistency() == []


def test_a_hanging_monitor_turns_one_instance_red_and_spares_the_others(
    hanging: type[providers.HangingProvider],
) -> None:
    """cluster_health finishes; the hanging instance's check says monitor timed out."""
    with Platform.open(provider_deadlines=SHORT) as p:
        p.register_service("tests.providers:HangingProvider")
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="hanging", name="h", capacity_gb=1)
        p.create_instance(service="kv", name="ok", capacity_gb=1)
        hanging.HANGS = {"monitor"}
        health = {i.instance: i for i in p.cluster_health().instances}
        assert health["ok"].status is dpp.HealthStatus.GREEN
        assert health["h"].status is dpp.HealthStatus.RED
        assert "ProviderTimeout" in health["h"].checks[0].message


def test_a_hanging_on_maintenance_is_a_generic_failure_veto(
    hanging: type[providers.HangingProvider],
) -> None:
    """The pre-check returns; the veto names the deadline."""
    with Platform.open(provider_deadlines=SHORT) as p:
        p.register_service("tests.providers:HangingProvider")
        p.create_instance(service="hanging", name="h", capacity_gb=1)
        hanging.HANGS = {"on_maintenance"}
        host = p.get_instance("h").members[0].host
        (veto,) = p.maintenance_precheck(host, "ensure-accessibility").vetoes
        assert veto.reason is dpp.VetoReason.GENERIC_FAILURE
        assert "deadline" in veto.message


def test_a_hanging_validate_is_a_problem_not_a_hang(
    hanging: type[providers.HangingProvider],
) -> None:
    """create_instance is refused, naming the provider's validate."""
    hanging.HANGS = {"validate"}
    with Platform.open(provider_deadlines=SHORT) as p:
        p.register_service("tests.providers:HangingProvider")
        with pytest.raises(dpp.ValidationError, match="ProviderTimeout"):
            p.create_instance(service="hanging", name="h", capacity_gb=1)


def test_a_hanging_decommission_can_still_be_forced_away(
    hanging: type[providers.HangingProvider],
) -> None:
    """The decommission times out (instance failed); --force reclaims everything."""
    with Platform.open(provider_deadlines=SHORT) as p:
        p.register_service("tests.providers:HangingProvider")
        p.create_instance(service="hanging", name="h", capacity_gb=1)
        hanging.HANGS = {"decommission"}
        with pytest.raises(dpp.OperationFailed):
            p.remove_instance("h")
        assert p.get_instance("h").status is dpp.InstanceStatus.FAILED
        op = p.remove_instance("h", force=True)
        assert op.result["forced"] is True
        assert p.list_instances() == []
        assert p.resources().reserved_gb == 0
        assert p.check_consistency() == []


def test_a_provider_calling_sys_exit_fails_its_operation() -> None:
    """SystemExit(0) from a provider is a provider failure, never a successful exit."""
    with Platform.open() as p:
        p.register_service("tests.providers:ExitingProvider")
        with pytest.raises(dpp.OperationFailed) as info:
            p.create_instance(service="exiting", name="x", capacity_gb=1)
        error = info.value.operation.error
        assert error is not None
        assert error.type == "ProviderCrashed"
        assert "SystemExit" in error.message
        assert p.list_instances() == []


@pytest.mark.parametrize("answer", [None, True, "allow", 1])
def test_an_answer_that_is_not_a_decision_is_a_veto_naming_the_instance(answer: object) -> None:
    """on_maintenance returning None, True or "allow" vetoes with GenericFailure."""
    providers.SloppyVetoProvider.ANSWER = answer
    with Platform.open() as p:
        p.register_service("tests.providers:SloppyVetoProvider")
        p.create_instance(service="sloppy", name="s", capacity_gb=1)
        host = p.get_instance("s").members[0].host
        (veto,) = p.maintenance_precheck(host, "no-action").vetoes
        assert veto.instance == "s"
        assert veto.reason is dpp.VetoReason.GENERIC_FAILURE
        assert "MaintenanceDecision" in veto.message
        with pytest.raises(dpp.platform.MaintenanceVetoed):
            p.enter_maintenance(host, "no-action")
        assert p.get_host(host).state == "connected"


def test_call_provider_returns_results_and_raises_what_the_provider_raised() -> None:
    """The worker thread is invisible: values come back, exceptions keep their type."""
    assert call_provider("monitor", 5, lambda: 42) == 42
    with pytest.raises(ZeroDivisionError):
        call_provider("monitor", 5, lambda: 1 // 0)
    with pytest.raises(ProviderTimeout, match=r"monitor.*0\.05 s"):
        call_provider("monitor", 0.05, lambda: threading.Event().wait(1))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), 0, -1, True, "10"])
def test_deadlines_and_timeouts_must_be_finite_positive_seconds(bad: object) -> None:
    """nan, inf, zero, negatives, booleans and strings are refused naming the field."""
    with pytest.raises(dpp.ValidationError, match=r"\$\.provider_deadlines\.monitor"):
        Platform.open(provider_deadlines={"monitor": bad})  # type: ignore[dict-item]
    with pytest.raises(dpp.ValidationError, match=r"\$\.operation_timeout"):
        Platform.open(operation_timeout=bad)  # type: ignore[arg-type]


def test_an_unknown_provider_method_in_the_deadlines_is_refused() -> None:
    """A typo in provider_deadlines names the known methods."""
    with pytest.raises(dpp.ValidationError, match=r"on_maintenance.*got 'provison'"):
        Platform.open(provider_deadlines={"provison": 5})


def _in_subprocess(state: Path, code: str, crash: str | None = None) -> int:
    """Run ``code`` (with ``p``, a Platform on ``state`` opened without recovery) in a child
    process; its return code (-9 when the provider killed it)."""
    script = (
        "from dpp_sdk.platform import Platform\n"
        f"p = Platform.open({str(state)!r}, recover=False)\n" + textwrap.dedent(code)
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    env.pop("DPP_TEST_CRASH", None)
    if crash is not None:
        env["DPP_TEST_CRASH"] = crash
    done = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=env,
        capture_output=True,
        timeout=120,
        check=False,
    )
    return done.returncode


def test_an_operation_that_kills_every_process_resuming_it_is_given_up(tmp_path: Path) -> None:
    """Resumed twice, killed twice: the third recovery fails it and leaves the instance
    failed, without running the provider again; --force then reclaims it."""
    setup = 'p.register_service("tests.providers:SuicidalProvider")\n'
    create = 'p.create_instance(service="suicidal", name="s1", capacity_gb=1)\n'
    assert _in_subprocess(tmp_path, setup + create, crash="s1") == -signal.SIGKILL
    assert _in_subprocess(tmp_path, "p.recover()\n", crash="s1") == -signal.SIGKILL
    assert _in_subprocess(tmp_path, "p.recover()\n", crash="s1") == -signal.SIGKILL
    with Platform.open(tmp_path, recover=False) as p:
        (op,) = p.recover()
        assert op.state is dpp.OperationState.FAILED
        assert op.error is not None
        assert op.error.type == "Interrupted"
        assert "gave up after resuming it 2 times" in op.error.message
        assert p.get_instance("s1").status is dpp.InstanceStatus.FAILED
        p.remove_instance("s1", force=True)
        assert p.list_instances() == []
        assert p.check_consistency() == []


def test_force_reclaims_an_instance_whose_operation_was_left_by_a_dead_process(
    tmp_path: Path,
) -> None:
    """Without recovery, remove_instance(force=True) fails the orphaned operation
    (Superseded) and reclaims everything."""
    setup = 'p.register_service("tests.providers:SuicidalProvider")\n'
    create = 'p.create_instance(service="suicidal", name="s1", capacity_gb=1)\n'
    assert _in_subprocess(tmp_path, setup + create, crash="s1") == -signal.SIGKILL
    with Platform.open(tmp_path, recover=False) as p:
        (orphan,) = p.interrupted_operations()
        op = p.remove_instance("s1", force=True)
        assert op.result["forced"] is True
        superseded = p.get_operation(orphan.id)
        assert superseded.state is dpp.OperationState.FAILED
        assert superseded.error is not None
        assert superseded.error.type == "Superseded"
        assert p.list_instances() == []
        assert p.resources().reserved_gb == 0
        assert p.interrupted_operations() == []
        assert p.check_consistency() == []


def test_a_monitor_that_kills_its_process_is_not_called_again(tmp_path: Path) -> None:
    """A health call dies with the provider; the next reports it red without calling it,
    other instances stay healthy, and --force reclaims the instance."""
    setup = (
        'p.register_service("tests.providers:KillingMonitorProvider")\n'
        'p.register_service("tests.providers:KVProvider")\n'
        'p.create_instance(service="killing-monitor", name="km", capacity_gb=1)\n'
        'p.create_instance(service="kv", name="ok", capacity_gb=1)\n'
    )
    assert _in_subprocess(tmp_path, setup) == 0
    health = 'p.instance_health("km")\n'
    assert _in_subprocess(tmp_path, health, crash="km") == -signal.SIGKILL
    assert _in_subprocess(tmp_path, "p.cluster_health()\n", crash="km") == 0
    with Platform.open(tmp_path) as p:
        checks = {i.instance: i for i in p.cluster_health().instances}
        assert checks["ok"].status is dpp.HealthStatus.GREEN
        assert checks["km"].status is dpp.HealthStatus.RED
        assert "ended its process" in checks["km"].checks[0].message
        p.remove_instance("km", force=True)
        assert [i.name for i in p.list_instances()] == ["ok"]
        assert p.check_consistency() == []


def test_an_operation_waits_for_a_probe_call_on_its_instance(tmp_path: Path) -> None:
    """A probe call and an operation on one instance never overlap: the configure starts only
    once the probe's write has returned."""
    providers.PROBE_ENTERED.clear()
    providers.PROBE_RELEASE.clear()
    providers.HeldProbeProvider.CALLS.clear()
    with Platform.open(tmp_path) as p:
        p.register_service("tests.providers:HeldProbeProvider")
        p.create_instance(service="held-probe", name="h", capacity_gb=1)
        probe = p.data_probe("h")
        assert probe is not None
        writer = threading.Thread(target=lambda: probe.write("k", b"abcd"))
        writer.start()
        assert providers.PROBE_ENTERED.wait(timeout=30)
        changer = threading.Thread(target=lambda: p.configure_instance("h", {"cacheMb": 99}))
        changer.start()
        changer.join(timeout=0.5)
        assert changer.is_alive(), "the configure ran while the probe was writing"
        assert providers.HeldProbeProvider.CALLS == []
        providers.PROBE_RELEASE.set()
        writer.join(timeout=30)
        changer.join(timeout=30)
        assert providers.HeldProbeProvider.CALLS == ["configure"]
        assert probe.read("k") == b"abcd"


def test_call_marks_count_calls_whose_process_died_and_leave_no_temporary_files(
    tmp_path: Path,
) -> None:
    from dpp_sdk.platform._owners import CallMarks, owner_tag, register_owner
    from dpp_sdk.platform._store import instance_lock_file

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    dead_owner = f"{gone.pid}::token"
    live_owner = owner_tag()
    marks = CallMarks(tmp_path)
    register_owner(live_owner, marks)
    try:
        assert marks.starting("km", "monitor", dead_owner, limit=2) == 0
        assert marks.starting("km", "monitor", dead_owner, limit=2) == 1
        assert marks.starting("km", "monitor", live_owner, limit=2) == 2
        assert marks.starting("km", "monitor", live_owner, limit=2) == 2  # stopped, still counted
        # The marks are notes in the instance's lock file: no marker or temporary file.
        lock = Path(instance_lock_file(tmp_path, "km"))
        assert [p for p in tmp_path.rglob("*") if p.is_file()] == [lock]
        marks.finished("km", "monitor")
        assert lock.read_bytes().strip(b"\0 ") == b""
        assert marks.starting("km", "monitor", live_owner, limit=2) == 0
    finally:
        register_owner(live_owner, None)
