"""Crash points: a platform killed right after any commit recovers to a consistent state.

Hypothesis picks a provider, a short scenario (``tests/strategies.py``: create, write bytes,
configure, scale, remove, host and disk failures, the clock advancing past repair timers) and
the commit after which the process dies (``dpp_sdk.testing.dies_after``). The scenario first runs in
memory to count its commits, so the crash falls inside it; then it runs on a state directory
and dies right after that commit; the recovering process may be killed too, once; then the
directory is reopened (which runs recovery) and checked:

* ``check_consistency()`` finds nothing, no operation is left pending or running, and no
  instance is left busy;
* every write acknowledged before the crash reads back byte for byte, unless a disk failure
  legitimately destroyed it (its volume had no other intact copy) or the volume is gone, and
  still does with any one component lost, where the policy tolerates a failure;
* the capacity reserved is exactly what the live volumes need, and the platform is usable:
  every instance can still be removed, returning every gigabyte.

A second test also lets the process die between two changes of the byte store (one replica
written, the next not), which the database's transactions do not cover. RAID-5 survives that
because the byte store journals each stripe before writing its components (the "write hole"
the torn-write tests below replay was found here).

Replaying a failure: Hypothesis prints the failing example: ``provider=``, ``steps=[...]``
and the draws. The scenario is deterministic, so pasting them into::

    _crash_and_check(provider, steps, tmp_path, crash_after=N, recovery_crash_after=M)

(with ``byte_writes=True`` for the second test) replays it exactly, as does the
``@reproduce_failure`` blob printed with it.
"""

from __future__ import annotations

import functools
import math
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpp_sdk as dpp
from dpp_sdk import testing
from dpp_sdk.platform import POLICIES, ClusterConfig, ManualClock, Platform
from dpp_sdk.testing import CrashPoint, dies_after
from tests import providers
from tests.strategies import (
    SCENARIO_HOSTS,
    SCENARIO_PROVIDERS,
    Advance,
    ClearDisk,
    ClearHost,
    Configure,
    Create,
    FailDisk,
    FailHost,
    Remove,
    Scale,
    Step,
    Write,
    scenarios,
)

CONFIG = ClusterConfig.uniform(hosts=SCENARIO_HOSTS, direct_disks_per_host=0)
VOLUME = "data"  # the volume every provider of tests/providers.py keeps its data in
KV = "tests.providers:KVProvider"
UNTORN_POLICIES = ("vsan-default", "vsan-raid5", "vsan-sna")
"""Policies whose bytes must survive a write torn between components."""


@attrs.define
class Acknowledged:
    """What acknowledged writes say each volume holds (by volume id), and the one write in
    flight when the process died (it may or may not have landed)."""

    writes: dict[str, list[tuple[int, bytes]]] = attrs.Factory(dict)
    in_flight: tuple[str, int, bytes] | None = None

    def problem(self, volume_id: str, read: Callable[[int, int], bytes]) -> str | None:
        """How what ``read(offset, length)`` returns contradicts the acknowledged writes of
        the volume, or None. Unwritten gaps read as zeros; each byte under the write in
        flight may hold its old or its new value (an unacknowledged write may be torn)."""
        writes = self.writes[volume_id]
        flying = [self.in_flight[1:]] if self.in_flight and self.in_flight[0] == volume_id else []
        start = min(offset for offset, _ in writes + flying)
        end = max(offset + len(data) for offset, data in writes + flying)
        allowed = []
        for candidate in [writes, writes + flying] if flying else [writes]:
            buffer = bytearray(end - start)
            for offset, data in candidate:
                buffer[offset - start : offset - start + len(data)] = data
            allowed.append(bytes(buffer))
        got = read(start, end - start)
        if got in allowed:
            return None
        wrong = [i for i, byte in enumerate(got) if all(a[i] != byte for a in allowed)]
        if not wrong:
            return None
        return f"{len(wrong)} of {len(got)} bytes differ, the first at offset {start + wrong[0]}"


def _volume_id(p: Platform, instance: str) -> str | None:
    stored = testing.stored_volume(p, instance, VOLUME)
    return None if stored is None else stored.id


def _destroyed_by_disk_failure(p: Platform, host: str, disk: str) -> set[str]:
    """Volumes whose bytes a failure of ``host``/``disk`` may legitimately destroy: those
    with a component there and no redundancy, or no intact copy elsewhere."""
    doomed: set[str] = set()
    for info in p.list_instances(limit=None):
        for volume in info.volumes:
            here = [c for c in volume.components if (c.host, c.disk) == (host, disk)]
            others = [c for c in volume.components if c not in here]
            fragile = POLICIES[volume.policy].ftt == 0 or any(c.state != "active" for c in others)
            if here and fragile:
                volume_id = _volume_id(p, info.name)
                if volume_id is not None:
                    doomed.add(volume_id)
    return doomed


def _request(p: Platform, service: str, step: Step) -> None:
    """Make the request ``step`` stands for (instances are named by slot: ``i0``...)."""
    match step:
        case Create(slot, policy, capacity_gb):
            p.create_instance(
                service=service, name=f"i{slot}", capacity_gb=capacity_gb, policy=policy
            )
        case Write(slot, offset):
            testing.write_volume(p, f"i{slot}", VOLUME, offset, step.data)
        case Configure(slot, cache_mb):
            p.configure_instance(f"i{slot}", {"cacheMb": cache_mb})
        case Scale(slot, grow_gb):
            p.scale_instance(f"i{slot}", p.get_instance(f"i{slot}").spec.capacity_gb + grow_gb)
        case Remove(slot, force):
            p.remove_instance(f"i{slot}", force=force)
        case FailHost(host) | ClearHost(host):
            on_host = p.inject_host_failure if isinstance(step, FailHost) else p.clear_host_failure
            on_host(f"esx-0{host}")
        case FailDisk(host, disk) | ClearDisk(host, disk):
            on_disk = p.inject_disk_failure if isinstance(step, FailDisk) else p.clear_disk_failure
            on_disk(f"esx-0{host}", f"cap-{disk}")
        case Advance(minutes):
            p.advance(minutes * 60)


def _apply(p: Platform, service: str, step: Step, acked: Acknowledged) -> None:
    """Run one step, noting what it acknowledges (a write) or may destroy (a disk failure).
    The platform's refusals (any dpp error) are part of the scenario."""
    volume_id = None
    if isinstance(step, Write):
        volume_id = _volume_id(p, f"i{step.slot}")
        if volume_id is not None:
            acked.in_flight = (volume_id, step.offset, step.data)
    if isinstance(step, FailDisk):
        for doomed in _destroyed_by_disk_failure(p, f"esx-0{step.host}", f"cap-{step.disk}"):
            acked.writes.pop(doomed, None)
    try:
        _request(p, service, step)
    except dpp.DppError:
        acked.in_flight = None
        return
    if volume_id is not None:
        assert isinstance(step, Write)
        acked.writes.setdefault(volume_id, []).append((step.offset, step.data))
        acked.in_flight = None


def _scenario(
    p: Platform, provider: str, steps: list[Step], acked: Acknowledged, point: CrashPoint | None
) -> None:
    providers.FlakyProvider.calls.clear()  # its failures are counted per instance name
    service = p.register_service(provider).name
    for step in steps:
        _apply(p, service, step, acked)
        assert point is None or not point.crashed, f"{step} returned after the process died"


def _durable_writes(provider: str, steps: list[Step], *, byte_writes: bool) -> int:
    """How many commits (and byte store changes, with ``byte_writes``) the scenario makes;
    counted in memory, which makes the same writes faster."""
    p = Platform.open(config=CONFIG, clock=ManualClock())
    with dies_after(p, 10**9, byte_writes=byte_writes) as point:
        _scenario(p, provider, steps, Acknowledged(), None)
    return point.writes


def _check_recovered(p: Platform, acked: Acknowledged) -> None:
    """The invariants a platform reopened after a crash must hold."""
    assert p.check_consistency() == []
    live = [o for o in p.list_operations(limit=None) if not o.state.terminal]
    assert live == [], "operations left in flight after recovery"
    instances = p.list_instances(limit=None)
    settled = {dpp.InstanceStatus.READY, dpp.InstanceStatus.DEGRADED, dpp.InstanceStatus.FAILED}
    assert {i.name: i.status for i in instances if i.status not in settled} == {}
    needed = sum(
        math.fsum(POLICIES[v.policy].reserved_sizes_gb(v.size_gb, v.written_gb))
        for i in instances
        for v in i.volumes
    )
    assert p.resources().reserved_gb == pytest.approx(needed, abs=1e-6)
    volumes = {stored.id: stored for stored in testing.stored_volumes(p)}
    accessible = {
        (info.name, volume.name)
        for info in p.list_instances(limit=None)
        for volume in info.volumes
        if volume.accessible
    }
    for volume_id in acked.writes:
        record = volumes.get(volume_id)
        if record is None or (record.instance, record.name) not in accessible:
            continue
        read = functools.partial(testing.read_volume, p, record.instance, record.name)
        problem = acked.problem(volume_id, read)
        assert problem is None, (
            f"acknowledged bytes of {record.instance}/{record.name} changed: {problem}"
        )


def _check_redundant(p: Platform, acked: Acknowledged) -> None:
    """Every acknowledged byte of a volume with all its components active and a policy that
    tolerates a failure can still be read with any one of its components lost."""
    for record in testing.stored_volumes(p):
        policy = POLICIES[record.policy]
        up = record.current
        if record.id not in acked.writes or policy.ftt < 1 or len(up) < len(record.components):
            continue
        for lost in sorted(up):
            read = functools.partial(
                testing.read_components, p, record.instance, record.name, components=up - {lost}
            )
            problem = acked.problem(record.id, read)
            assert problem is None, (
                f"acknowledged bytes of {record.instance}/{record.name} read without its "
                f"component {lost}: {problem}"
            )


def _check_usable(p: Platform) -> None:
    """Every instance left can be removed, and then nothing is reserved."""
    for info in p.list_instances(limit=None):
        p.remove_instance(info.name, force=True)
    assert p.resources().reserved_gb == pytest.approx(0.0, abs=1e-6)
    assert p.check_consistency() == []


def _crash_and_check(
    provider: str,
    steps: list[Step],
    state: Path,
    *,
    crash_after: int,
    byte_writes: bool = False,
    recovery_crash_after: int | None = None,
) -> bool:
    """Run the scenario on ``state``, dying right after its durable write ``crash_after``
    (commits; byte store changes too with ``byte_writes``); reopen (the recovering process
    dying too, right after its commit ``recovery_crash_after``, when given), reopen and
    check. Returns whether the scenario crashed."""
    clock = ManualClock()
    acked = Acknowledged()
    p = Platform.open(state, config=CONFIG, clock=clock)
    with dies_after(p, crash_after, byte_writes=byte_writes) as point:
        _scenario(p, provider, steps, acked, point)
    if recovery_crash_after is not None:
        recovering = Platform.open(state, clock=ManualClock(clock.now()), recover=False)
        with dies_after(recovering, recovery_crash_after, byte_writes=byte_writes):
            recovering.recover()
    with Platform.open(state, clock=ManualClock(clock.now())) as reopened:
        _check_recovered(reopened, acked)
        _check_redundant(reopened, acked)
        _check_usable(reopened)
    return point.crashed


@settings(max_examples=40, deadline=None, print_blob=True)
@given(st.sampled_from(SCENARIO_PROVIDERS), scenarios(), st.data())
def test_a_crash_after_any_commit_recovers_to_a_consistent_state_without_losing_bytes(
    provider: str, steps: list[Step], data: st.DataObject
) -> None:
    """Killed right after any commit of a scenario (and maybe again while recovering), the
    platform reopens consistent, settled, with every acknowledged byte and exact capacity
    accounting."""
    commits = _durable_writes(provider, steps, byte_writes=False)
    crash_after = data.draw(st.integers(1, max(commits, 1)), label="crash after commit")
    recovery_crash_after = data.draw(
        st.none() | st.integers(1, 20), label="recovery crashes after commit"
    )
    state = Path(tempfile.mkdtemp(prefix="dpp-crash-"))
    try:
        _crash_and_check(
            provider,
            steps,
            state,
            crash_after=crash_after,
            recovery_crash_after=recovery_crash_after,
        )
    finally:
        shutil.rmtree(state, ignore_errors=True)


@settings(max_examples=30, deadline=None, print_blob=True)
@given(st.sampled_from(SCENARIO_PROVIDERS), scenarios(UNTORN_POLICIES), st.data())
def test_a_crash_between_the_bytes_of_a_mirrored_or_local_write_loses_no_acknowledged_byte(
    provider: str, steps: list[Step], data: st.DataObject
) -> None:
    """Killed right after any commit or any change of the byte store (one replica written,
    the next not), a platform whose volumes are mirrored or host-local reopens consistent,
    with every acknowledged byte, still protected by its redundancy."""
    writes = _durable_writes(provider, steps, byte_writes=True)
    crash_after = data.draw(st.integers(1, max(writes, 1)), label="crash after durable write")
    state = Path(tempfile.mkdtemp(prefix="dpp-crash-"))
    try:
        _crash_and_check(provider, steps, state, crash_after=crash_after, byte_writes=True)
    finally:
        shutil.rmtree(state, ignore_errors=True)


def _torn_in_its_last_write(steps: list[Step], state: Path, torn_at: int) -> None:
    """Run ``steps``, the process dying right after the ``torn_at``-th byte store change of
    the last one (a write: its stripe journal, then one component after another), then
    reopen and check."""
    crash_after = _durable_writes(KV, steps[:-1], byte_writes=True) + torn_at
    _crash_and_check(KV, steps, state, crash_after=crash_after, byte_writes=True)


@pytest.mark.parametrize("torn_at", [1, 2, 3, 4])
def test_a_torn_raid5_write_does_not_change_acknowledged_bytes_of_its_stripe(
    tmp_path: Path, torn_at: int
) -> None:
    """A RAID-5 write torn by a crash (data component written, parity not) leaves the
    acknowledged bytes of the stripe's absent component readable as they were."""
    steps: list[Step] = [
        Create(slot=0, policy="vsan-raid5", capacity_gb=1),
        FailHost(host=2),  # esx-02 holds component 1, which offset 4096 maps to
        Write(slot=0, offset=4096, length=12, seed=1),
        Write(slot=0, offset=0, length=4, seed=2),
    ]
    _torn_in_its_last_write(steps, tmp_path, torn_at)


@pytest.mark.parametrize("torn_at", [1, 2, 3, 4])
def test_a_torn_raid5_write_keeps_acknowledged_bytes_protected_by_parity(
    tmp_path: Path, torn_at: int
) -> None:
    """After a RAID-5 write torn by a crash, every acknowledged byte can still be read with
    any one component lost (the redundancy the policy promises)."""
    steps: list[Step] = [
        Create(slot=0, policy="vsan-raid5", capacity_gb=1),
        Write(slot=0, offset=4096, length=12, seed=1),
        Write(slot=0, offset=0, length=4, seed=2),
    ]
    _torn_in_its_last_write(steps, tmp_path, torn_at)


EXAMPLE: list[Step] = [
    Create(slot=0, policy="vsan-raid5", capacity_gb=3),
    Write(slot=0, offset=100, length=5000, seed=3),
    FailHost(host=1),
    Write(slot=0, offset=0, length=20000, seed=9),
    Scale(slot=0, grow_gb=5),
    ClearHost(host=1),
    FailDisk(host=2, disk=0),
    Configure(slot=0, cache_mb=40),
    Remove(slot=0, force=False),
]


def test_every_crash_point_of_one_scenario_recovers(tmp_path: Path) -> None:
    """Each commit of a create, write, fault, scale, configure and remove scenario, in
    turn, is the last before a crash; every one recovers consistently."""
    commits = _durable_writes(KV, EXAMPLE, byte_writes=False)
    assert commits > 30
    for crash_after in range(1, commits + 1):
        assert _crash_and_check(KV, EXAMPLE, tmp_path / str(crash_after), crash_after=crash_after)


def test_a_crash_point_lets_nothing_after_its_commit_reach_the_state_directory(
    tmp_path: Path,
) -> None:
    """Dying right after a provision started running, the operation is left running: the
    platform's clean-up (abandon) cannot land, as after a SIGKILL; recovery resumes it."""
    p = Platform.open(tmp_path, config=CONFIG, clock=ManualClock())
    p.register_service(KV)
    returned = False
    with dies_after(p, 1) as point:  # 1: the operation, the instance, marked running
        p.create_instance(service="kv", name="a", capacity_gb=1)
        returned = True
    assert point.crashed
    assert not returned, "the crash did not stop create_instance"
    with Platform.open(tmp_path, recover=False) as dead:
        (op,) = dead.interrupted_operations()
        assert (op.kind, op.state) == ("provision", dpp.OperationState.RUNNING)
        assert dead.get_instance("a").status is dpp.InstanceStatus.PROVISIONING
        assert dead.get_instance("a").volumes == ()
    with Platform.open(tmp_path) as reopened:
        assert reopened.get_operation(op.id).state is dpp.OperationState.SUCCEEDED
        assert reopened.get_instance("a").status is dpp.InstanceStatus.READY
        assert reopened.check_consistency() == []


def _raid5_volume_written(state: Path) -> Platform:
    """A platform on ``state`` with a RAID-5 volume ``r/data`` holding acknowledged bytes."""
    p = Platform.open(state, config=CONFIG)
    p.register_service(KV)
    p.create_instance(service="kv", name="r", capacity_gb=1, policy="vsan-raid5")
    testing.write_volume(p, "r", "data", 4096, b"acknowledged")
    return p


def _stripe_write(p: Platform) -> None:
    testing.write_volume(p, "r", "data", 0, b"abcd")


@pytest.mark.parametrize("landed", [0, 1, 2, 3])
def test_a_raid5_stripe_write_torn_between_components_is_finished_from_its_journal(
    tmp_path: Path, landed: int
) -> None:
    """The process dies after ``landed`` of a stripe's four component writes: on reopen the
    stripe journal finishes the write, so the acknowledged bytes of the stripe still read
    right with any one component lost (no RAID-5 write hole)."""
    # A first run, not killed, names the stripe write's durable writes in order: the crash
    # falls right before its component write number landed + 1.
    with dies_after(_raid5_volume_written(tmp_path / "counted"), 10**9, byte_writes=True) as all_:
        _stripe_write(all_.platform)
    assert all_.landed.count("write") == 4
    before_next = [i for i, what in enumerate(all_.landed) if what == "write"][landed]
    assert "put_journal" in all_.landed[:before_next]  # the stripe journal came first
    state = tmp_path / "torn"
    with dies_after(_raid5_volume_written(state), before_next, byte_writes=True) as point:
        _stripe_write(point.platform)
    assert point.crashed
    assert point.landed == all_.landed[:before_next]
    assert point.landed.count("write") == landed
    with Platform.open(state) as q:
        (volume,) = q.get_instance("r").volumes
        for component in volume.components:
            q.inject_host_failure(component.host)
            assert testing.read_volume(q, "r", "data", 4096, 12) == b"acknowledged"
            q.clear_host_failure(component.host)
        assert q.check_consistency() == []
