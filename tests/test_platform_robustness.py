"""The platform stays consistent and clear when providers and callers misbehave."""

from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess
import time
import traceback
from pathlib import Path

import attrs
import pytest

import dpp_sdk as dpp
from dpp_sdk import testing
from dpp_sdk.contract._text import MESSAGE_LIMIT, TRACEBACK_LIMIT
from dpp_sdk.platform import ClusterConfig, ManualClock, Platform
from dpp_sdk.platform._operations import MIN_RETRY_DELAY
from dpp_sdk.platform._owners import _process_start
from dpp_sdk.platform._owners import owner_alive as _owner_alive
from dpp_sdk.testing import faults
from tests import providers

pytestmark = pytest.mark.dpp_platform("tests.providers:KVProvider", clock=ManualClock)


def test_configure_tells_the_provider_which_parameters_changed() -> None:
    """changed names the parameters whose values differ from the previous spec."""
    providers.ChangeRecordingProvider.changes.clear()
    with Platform.open() as p:
        p.register_service("tests.providers:ChangeRecordingProvider")
        p.create_instance(service="changes", name="c1", capacity_gb=1)
        p.configure_instance("c1", {"cacheMb": 128})
        p.configure_instance("c1", {"cacheMb": 128})
        assert providers.ChangeRecordingProvider.changes == [("cacheMb",), ()]


def test_an_immediate_retry_request_still_waits_a_little_and_succeeds() -> None:
    """retry_after=0 gets the minimum delay, doubling; it never spins or overflows."""
    clock = ManualClock()
    providers.ImpatientProvider.calls = 0
    with Platform.open(clock=clock) as p:
        p.register_service("tests.providers:ImpatientProvider")
        op = p.create_instance(service="impatient", name="i1", capacity_gb=1)
        assert op.attempts == 4
        assert clock.slept == pytest.approx([0.1, 0.2, 0.4])


def test_a_temporary_error_with_a_nan_delay_fails_its_call_with_a_clear_value_error() -> None:
    """The provider's TemporaryError(retry_after=nan) is a ValueError naming retry_after."""
    with Platform.open() as p:
        p.register_service("tests.providers:NanRetryProvider")
        with pytest.raises(dpp.OperationFailed) as info:
            p.create_instance(service="nanretry", name="n1", capacity_gb=1)
        error = info.value.operation.error
        assert error is not None
        assert error.type == "ValueError"
        assert error.message.startswith("provider raised ValueError: retry_after")
        assert "nan" in error.message
        assert p.list_instances() == []


@pytest.mark.parametrize("delay", [float("nan"), float("inf")])
def test_a_non_finite_retry_delay_set_after_the_error_was_made_waits_the_minimum(
    delay: float,
) -> None:
    """The engine does not trust retry_after: a non-finite one waits MIN_RETRY_DELAY."""
    clock = ManualClock()
    providers.TamperedRetryProvider.calls = 0
    providers.TamperedRetryProvider.DELAY = delay
    with Platform.open(clock=clock) as p:
        p.register_service("tests.providers:TamperedRetryProvider")
        op = p.create_instance(service="tampered", name="t1", capacity_gb=1)
        assert op.attempts == 2
        assert clock.slept == [MIN_RETRY_DELAY]


def test_a_secret_that_is_not_a_string_is_refused_and_the_platform_stays_usable(
    tmp_path: Path,
) -> None:
    """The error names $.secret.value; nothing is left and the state directory reopens."""
    with Platform.open(tmp_path) as p:
        p.register_service("tests.providers:BadSecretProvider")
        with pytest.raises(dpp.OperationFailed) as info:
            p.create_instance(service="badsecret", name="b1", capacity_gb=1)
        error = info.value.operation.error
        assert error is not None
        assert any(x.startswith("$.secret.value") for x in error.problems)
        assert p.list_instances() == []
    with Platform.open(tmp_path) as p:
        assert p.check_consistency() == []
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="kv", name="k1", capacity_gb=1)


def test_a_provider_may_use_its_context_from_worker_threads() -> None:
    """Provider code runs outside the platform lock, so a worker thread can call ctx."""
    with Platform.open() as p:
        p.register_service("tests.providers:ThreadedProvider")
        p.create_instance(service="threaded", name="t1", capacity_gb=1)
        assert [m.name for m in p.get_instance("t1").members] == ["kv-0"]


def test_a_keyboard_interrupt_in_a_provider_fails_the_operation_and_propagates() -> None:
    """The operation ends failed, the half-made instance is gone, the interrupt goes on."""
    with Platform.open() as p:
        p.register_service("tests.providers:InterruptedProvider")
        with pytest.raises(KeyboardInterrupt):
            p.create_instance(service="interrupted", name="x1", capacity_gb=1)
        (op,) = p.list_operations()
        assert op.state is dpp.OperationState.FAILED
        assert p.list_instances() == []
        assert p.check_consistency() == []


def test_secrets_in_tracebacks_and_vetoes_are_redacted(tmp_path: Path) -> None:
    """ctx.log.exception and a veto message quoting the password show asterisks instead."""
    with Platform.open(tmp_path) as p:
        p.register_service("tests.providers:LeakyLoggerProvider")
        p.create_instance(service="leakylog", name="l1", capacity_gb=1)
        secret = testing.context(p, "l1").secrets.find("password")
        assert secret is not None
        host = p.get_instance("l1").members[0].host
        check = p.maintenance_precheck(host, "no-action")
        assert secret.reveal() not in check.vetoes[0].message
        with pytest.raises(dpp.Conflict) as info:
            p.enter_maintenance(host, "no-action")
        assert secret.reveal() not in str(info.value)
        assert p.log_path is not None
        log = p.log_path.read_text()
        assert "Traceback" in log
        assert secret.reveal() not in log


def test_provider_text_is_kept_escaped_and_capped_in_errors_health_and_vetoes() -> None:
    """Newlines and terminal escapes are shown as \\n and \\x1b; of a 200 kB message the
    first MESSAGE_LIMIT characters are kept, saying how many more there were."""
    with Platform.open() as p:
        p.register_service("tests.providers:NoisyProvider")
        p.create_instance(service="noisy", name="n1", capacity_gb=1)
        check = p.instance_health("n1").checks[0]
        host = p.get_instance("n1").members[0].host
        (veto,) = p.maintenance_precheck(host, "no-action").vetoes
        with pytest.raises(dpp.OperationFailed) as info:
            p.configure_instance("n1", {"cacheMb": 128})
        error = info.value.operation.error
        assert error is not None
        for text in (check.name, check.message, veto.message, error.message):
            assert "line one\\nline two \\x1b[31mred\\x1b[0m" in text
            assert text.isprintable()
            assert len(text) < MESSAGE_LIMIT + 40
            assert text.endswith(" more characters)")
        assert error.message.startswith("provider raised RuntimeError: line one\\n")
        assert error.traceback is not None
        assert error.traceback.startswith("Traceback (most recent call last):\n")
        assert len(error.traceback) < TRACEBACK_LIMIT + 40


def test_a_failed_repair_keeps_the_volume_it_reattached() -> None:
    """Cleanup of a failed on_failure removes what it made, not the surviving data volume."""
    with Platform.open(config=ClusterConfig.uniform(hosts=5)) as p:
        p.register_service("tests.providers:RepairThenFailProvider")
        p.create_instance(service="repairfail", name="r1", capacity_gb=1)
        testing.write_volume(p, "r1", "data", 0, b"survivor")
        host = p.get_instance("r1").members[0].host
        p.inject_host_failure(host)
        repair = next(o for o in p.list_operations() if o.kind == "repair")
        assert repair.state is dpp.OperationState.FAILED
        assert [v.name for v in p.get_instance("r1").volumes] == ["data"]
        assert testing.read_volume(p, "r1", "data", 0, 8) == b"survivor"
        assert "endpoint/client-new" in repair.result["released"]
        assert p.check_consistency() == []


def test_member_requests_with_bad_fields_are_refused_before_anything_is_stored(
    dpp_platform: Platform,
) -> None:
    """Duplicate claims, an unknown anti-affinity scope and non-string labels: one error."""
    dpp_platform.create_instance(service="kv", name="k1", capacity_gb=1)
    claim = dpp.VolumeClaim(name="d", size_gb=1)
    with pytest.raises(dpp.ValidationError) as info:
        testing.context(dpp_platform, "k1").members.ensure(
            "m1",
            volumes=(claim, claim),
            anti_affinity=dpp.AntiAffinity(group="g", scope="rack"),  # type: ignore[arg-type]
            labels={"replica": 0},  # type: ignore[dict-item]
        )
    paths = sorted(p.path for p in info.value.problems)
    assert paths == ["$.anti_affinity.scope", "$.labels.replica", "$.volumes[1].name"]
    assert [m.name for m in dpp_platform.get_instance("k1").members] == ["kv-0"]
    assert dpp_platform.check_consistency() == []


def test_wrongly_typed_arguments_are_validation_errors_naming_them(dpp_platform: Platform) -> None:
    """Strings for numbers, lists for mappings, text for bytes, an unknown mode."""
    with pytest.raises(dpp.ValidationError, match=r"\$\.capacity_gb"):
        dpp_platform.create_instance(
            service="kv", name="a", capacity_gb="10"
        )  # wrong type on purpose
    with pytest.raises(dpp.ValidationError, match=r"\$\.capacity_gb"):
        dpp_platform.create_instance(
            service="kv", name="a", capacity_gb=2.5
        )  # wrong type on purpose
    with pytest.raises(dpp.ValidationError, match=r"\$\.parameters"):
        dpp_platform.create_instance(
            service="kv", name="a", parameters=[1]
        )  # wrong type on purpose
    dpp_platform.create_instance(service="kv", name="a", capacity_gb=1)
    with pytest.raises(dpp.ValidationError, match=r"\$\.data"):
        testing.write_volume(dpp_platform, "a", "data", 0, "text")  # wrong type on purpose
    with pytest.raises(dpp.ValidationError, match="evacuate-all"):
        dpp_platform.maintenance_precheck("esx-01", "evacuate")
    with pytest.raises(dpp.ValidationError, match="finite"):
        testing.context(dpp_platform, "a").volumes.ensure("big", size_gb=float("inf"))


def test_values_of_the_wrong_type_or_out_of_range_are_refused_not_crashed_on(
    dpp_platform: Platform,
) -> None:
    """What once raised TypeError or OverflowError (a 500 over HTTP) is an error naming the
    value; a refused advance leaves the clock working."""
    p = dpp_platform
    p.create_instance(service="kv", name="kv1", capacity_gb=1)
    with pytest.raises(dpp.ValidationError, match=r"\$\.provider"):
        p.register_service({})  # type: ignore[arg-type]
    with pytest.raises(dpp.ValidationError, match=r"\$\.service"):
        p.create_instance(service=[], name="a")  # type: ignore[arg-type]
    with pytest.raises(dpp.ValidationError, match=r"\$\.policy"):
        p.create_instance(service="kv", name="a", policy=0)  # type: ignore[arg-type]
    with pytest.raises(dpp.ValidationError, match=r"\$\.capacity_gb"):
        p.create_instance(service="kv", name="9", capacity_gb=-1)
    with pytest.raises(dpp.ValidationError, match=r"\$\.parameters"):
        p.configure_instance("kv1", None)  # type: ignore[arg-type]
    with pytest.raises(dpp.NotFound, match="disk"):
        p.enter_maintenance("esx-01", "no-action", disk=[])  # type: ignore[arg-type]
    with pytest.raises(dpp.ValidationError, match=r"\$\.since"):
        p.events(since=2**70)
    with pytest.raises(dpp.ValidationError, match=r"\$\.cursor"):
        p.audit(limit=5, cursor=_cursor("audit", 2**70))
    with pytest.raises(dpp.ValidationError, match=r"\$\.cursor"):
        p.list_operations(cursor=_cursor("operations", 2**70))
    before = p.clock_status().now
    with pytest.raises(dpp.ValidationError, match="past 3000-01-01"):
        p.advance(1e300)
    assert p.advance(60).now == before + dt.timedelta(seconds=60)  # a manual clock
    assert p.check_consistency() == []


def _cursor(kind: str, position: object) -> str:
    return base64.urlsafe_b64encode(json.dumps([kind, position]).encode()).decode()


def test_the_quota_problem_is_listed_with_the_others(dpp_platform: Platform) -> None:
    """A request with a bad parameter and too much capacity reports both at once."""
    config_quota = dpp_platform.status().quota_gb
    with pytest.raises(dpp.ValidationError) as info:
        dpp_platform.create_instance(
            service="kv",
            name="q1",
            capacity_gb=int(config_quota),
            parameters={"cacheMb": 1},
        )
    paths = [p.path for p in info.value.problems]
    assert "$.parameters.cacheMb" in paths
    assert paths.count("$.capacity_gb") >= 1


def test_a_failed_instance_can_only_be_removed(dpp_platform: Platform) -> None:
    """configure and scale are refused on a failed instance; remove works."""
    dpp_platform.create_instance(service="kv", name="f1", capacity_gb=1)
    faults.set_status(dpp_platform, "f1", dpp.InstanceStatus.FAILED)
    with pytest.raises(dpp.Conflict, match="can only be removed"):
        dpp_platform.configure_instance("f1", {"cacheMb": 100})
    dpp_platform.remove_instance("f1")


def test_an_unloadable_provider_is_red_vetoes_maintenance_and_can_be_force_removed(
    dpp_platform: Platform,
) -> None:
    """Health and maintenance report it; other instances still hear of failures."""
    dpp_platform.create_instance(service="kv", name="ok", capacity_gb=1)
    dpp_platform.register_service("tests.providers:RecordingProvider")
    dpp_platform.create_instance(service="recording", name="gone", capacity_gb=1)
    faults.provider_vanished(dpp_platform, "recording")
    health = dpp_platform.instance_health("gone")
    assert health.status is dpp.HealthStatus.RED
    assert health.checks[0].name == "provider/unavailable"
    host = dpp_platform.get_instance("gone").members[0].host
    check = dpp_platform.maintenance_precheck(host, "no-action")
    assert [v.reason for v in check.vetoes] == [dpp.VetoReason.GENERIC_FAILURE]
    for h in {c.host for v in dpp_platform.get_instance("ok").volumes for c in v.components}:
        dpp_platform.inject_host_failure(h)
    assert any(e.kind == "repair-failed" for e in dpp_platform.events())
    op = dpp_platform.remove_instance("gone", force=True)
    assert op.result["forced"] is True
    assert "member/kv-0" in op.result["reclaimed"]
    assert [i.name for i in dpp_platform.list_instances()] == ["ok"]
    assert dpp_platform.check_consistency() == []


def test_a_failure_during_another_operation_is_delivered_afterwards() -> None:
    """The event is queued while the instance is busy, then handed to on_failure."""
    providers.RecordingProvider.events.clear()
    with Platform.open() as p:
        p.register_service("tests.providers:RecordingProvider")
        p.create_instance(service="recording", name="r1", capacity_gb=1)
        with faults.busy(p, "r1", dpp.InstanceStatus.SCALING):
            p.inject_host_failure(p.get_instance("r1").members[0].host)
            assert providers.RecordingProvider.events == []
        assert [e.kind for e in providers.RecordingProvider.events] == [
            dpp.FailureKind.HOST_FAILURE
        ]


def test_a_component_recorded_lost_is_rebuilt_from_its_peers_on_reopen(tmp_path: Path) -> None:
    """A crash between recording a loss and destroying bytes is finished on the next open."""
    with Platform.open(tmp_path) as p:
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="kv", name="k1", capacity_gb=1)
        testing.write_volume(p, "k1", "data", 0, b"keep me")
        faults.mark_component_lost(p, "k1", "data", 0)
    with Platform.open(tmp_path) as p:
        (volume,) = p.get_instance("k1").volumes
        assert volume.state == "healthy"
        p.inject_host_failure(volume.components[1].host)
        assert testing.read_volume(p, "k1", "data", 0, 7) == b"keep me"


def test_an_empty_volume_directory_left_by_a_crash_is_removed_on_reopen(tmp_path: Path) -> None:
    """An unknown volume's directory with no component in it is orphaned too; known volumes'
    bytes stay."""
    with Platform.open(tmp_path) as p:
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="kv", name="k1", capacity_gb=1)
        testing.write_volume(p, "k1", "data", 0, b"keep me")
    volumes = tmp_path / "volumes"
    (volumes / "vol-crashed").mkdir()
    (volumes / "vol-half-deleted").mkdir()
    (volumes / "vol-half-deleted" / "leftover.tmp").write_bytes(b"x")
    with Platform.open(tmp_path) as p:
        assert not (volumes / "vol-crashed").exists()
        assert not (volumes / "vol-half-deleted").exists()
        assert testing.read_volume(p, "k1", "data", 0, 7) == b"keep me"


def test_an_operation_owner_whose_pid_was_reused_is_not_alive() -> None:
    """The same pid with another start time is a different, later process."""
    proc = subprocess.Popen(["sleep", "5"])
    try:
        start = _process_start(proc.pid)
        assert _owner_alive(f"{proc.pid}:{start}:token")
        assert not _owner_alive(f"{proc.pid}:1:token")
    finally:
        proc.kill()
        proc.wait()


def _state_of(pid: int) -> str:
    """The process state letter in /proc/PID/stat (``Z`` for a zombie)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]


def test_an_operation_whose_owner_is_a_zombie_is_interrupted_and_recovered(
    tmp_path: Path,
) -> None:
    """A process that ended but is not reaped yet (state Z) owns nothing: its operation is
    listed as interrupted and the next open resumes it."""
    zombie = subprocess.Popen(["true"])  # held, never waited for until the end: a zombie
    try:
        deadline = time.monotonic() + 10
        while _state_of(zombie.pid) != "Z":
            assert time.monotonic() < deadline, "the child did not end"
            time.sleep(0.01)
        owner = f"{zombie.pid}:{_process_start(zombie.pid)}:token"
        assert not _owner_alive(owner)
        with Platform.open(tmp_path) as p:
            p.register_service("tests.providers:KVProvider")
            run = faults.leave_running(p, "decommission", "vanished", owner=owner)
            assert [op.id for op in p.interrupted_operations()] == [run.id]
        with Platform.open(tmp_path) as p:
            assert p.get_operation(run.id).state is dpp.OperationState.SUCCEEDED
    finally:
        zombie.wait()


def test_a_decommission_finished_before_a_crash_counts_as_succeeded(tmp_path: Path) -> None:
    """The instance is gone, so recovery marks the interrupted decommission done."""
    with Platform.open(tmp_path) as p:
        p.register_service("tests.providers:KVProvider")
        record = faults.leave_running(p, "decommission", "vanished", owner="999999999::dead")
    with Platform.open(tmp_path) as p:
        op = p.get_operation(record.id)
        assert op.state is dpp.OperationState.SUCCEEDED


def test_a_provider_reporting_red_overall_is_red_whatever_its_checks_say() -> None:
    """The report's own status is not lost when its checks are all green."""
    with Platform.open() as p:
        p.register_service("tests.providers:OverallRedProvider")
        p.create_instance(service="overallred", name="o1", capacity_gb=1)
        assert p.instance_health("o1").status is dpp.HealthStatus.RED


def test_a_nested_provider_class_registers_and_a_missing_directory_is_named(
    dpp_platform: Platform,
) -> None:
    """Outer.Inner loads by reference; a path that does not exist says so."""
    assert dpp_platform.register_service(providers.Outer.Inner).name == "nested"
    with pytest.raises(dpp.ValidationError, match="no such provider directory"):
        dpp_platform.register_service("./no/such/dir")


def test_a_refused_registration_of_an_incomplete_provider_is_audited(
    dpp_platform: Platform,
) -> None:
    """The missing verbs are named in a ValidationError, and the refusal is audited."""

    with pytest.raises(dpp.ValidationError, match="configure, decommission, monitor"):
        dpp_platform.register_service("tests.providers:IncompleteProvider")
    assert dpp_platform.audit()[-1].outcome == "refused"


def test_direct_disks_in_use_show_their_pool_space_left(dpp_platform: Platform) -> None:
    """resources() agrees with list_hosts(): a direct disk holding a volume is a storage pool
    with its size minus the volume free, and shows what is reserved on it."""
    dpp_platform.register_service("tests.providers:DirectProvider")
    dpp_platform.create_instance(service="direct", name="d1", capacity_gb=10)
    used = [d for d in dpp_platform.resources().disks if d.kind == "direct" and d.reserved_gb]
    assert used
    assert all(d.free_gb == d.size_gb - d.reserved_gb for d in used)
    shown = {
        (host.name, disk.name): (disk.reserved_gb, disk.free_gb)
        for host in dpp_platform.list_hosts()
        for disk in host.disks
    }
    assert all(shown[d.host, d.disk] == (d.reserved_gb, d.free_gb) for d in used)


def test_manifests_of_the_wrong_shape_are_refused_with_problems_not_crashes() -> None:
    """None plans, a bad regex and a $ref to nowhere are ManifestErrors with paths."""
    base = providers.KV_MANIFEST
    with pytest.raises(dpp.ManifestError):
        dpp.validate_manifest(attrs.evolve(base, plans=None))  # wrong type on purpose
    bad_regex = {"type": "object", "properties": {"x": {"type": "string", "pattern": "("}}}
    with pytest.raises(dpp.ManifestError) as info:
        dpp.validate_manifest(attrs.evolve(base, parameters_schema=bad_regex))
    assert any(p.path.startswith("$.parameters_schema") for p in info.value.problems)
    dangling = {"type": "object", "properties": {"x": {"$ref": "#/$defs/nowhere"}}}
    with pytest.raises(dpp.ManifestError) as info:
        dpp.validate_manifest(attrs.evolve(base, parameters_schema=dangling))
    assert any(p.path.startswith("$.parameters_schema") for p in info.value.problems)


def test_a_data_probe_dies_with_its_instance_and_never_reaches_a_new_one_of_that_name() -> None:
    """Issue 10 #1: a probe taken on c1, c1 removed, a new c1 created: the old probe refuses
    (ScopeViolation) instead of writing into the new instance."""
    with Platform.open() as p:
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="kv", name="c1", capacity_gb=5)
        probe = p.data_probe("c1")
        assert probe is not None
        probe.write("k", b"old instance")
        p.remove_instance("c1")
        with pytest.raises(dpp.ScopeViolation, match="no longer exists"):
            probe.read("k")
        p.create_instance(service="kv", name="c1", capacity_gb=5)
        with pytest.raises(dpp.ScopeViolation, match="die with their instance"):
            probe.write("k", b"meant for the old one")
        fresh = p.data_probe("c1")
        assert fresh is not None
        fresh.write("k", b"new instance")
        assert fresh.read("k") == b"new instance"


class UnpackingProvider(providers.KVProvider):
    """Issue 10 #4: iterates ctx.state.items() as dict.items() reads, then breaks."""

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        ctx.state.set("a", 1)
        ctx.state.set("b", [2])
        pairs = dict(ctx.state.items())
        assert pairs == {"a": 1, "b": [2]}
        assert ctx.state.as_dict() == pairs
        raise ValueError("the provider's own bug")


def test_a_provider_exception_is_the_cause_of_operation_failed_and_named_by_file_and_line() -> None:
    """Issue 10 #4: the OperationFailed a caller gets is chained to the provider's exception
    (its traceback, file and line), the error message names that file and line, and the type
    prints with its public path."""
    with Platform.open() as p:
        p.register_service(UnpackingProvider)
        with pytest.raises(dpp.OperationFailed) as caught:
            p.create_instance(service="kv", name="u1", capacity_gb=5)
    cause = caught.value.__cause__
    assert isinstance(cause, ValueError)
    assert str(cause) == "the provider's own bug"
    frames = traceback.extract_tb(cause.__traceback__)
    assert frames[-1].filename == __file__
    error = caught.value.operation.error
    assert error is not None
    assert f"(at {__file__}:" in error.message
    assert "in provision)" in error.message
    assert type(caught.value).__module__ == "dpp_sdk"
    assert "dpp_sdk.OperationFailed" in "".join(traceback.format_exception_only(caught.value))
