"""Time on the platform: the simulated clock, vSAN's object repair timer, and what it rebuilds."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpp_sdk as dpp
from dpp_sdk.platform import (
    ClockNotAdjustable,
    ClusterConfig,
    ManualClock,
    Platform,
    SimulatedClock,
    SystemClock,
)
from tests.providers import RecordingProvider

HOUR = 3600.0


pytestmark = pytest.mark.dpp_platform(
    "tests.providers:KVProvider", "tests.providers:RecordingProvider", hosts=5, clock=ManualClock
)


@pytest.fixture(autouse=True)
def _no_recorded_events() -> None:
    RecordingProvider.events.clear()


def _probe(p: Platform, name: str) -> dpp.DataProbe:
    probe = p.data_probe(name)
    assert probe is not None
    return probe


def _replica_host(p: Platform, name: str) -> tuple[str, dpp.VolumeInfo]:
    """A host holding a replica of ``name``'s volume but not its member."""
    info = p.get_instance(name)
    (volume,) = info.volumes
    member = info.members[0].host
    return next(c.host for c in volume.components if c.role == "replica" and c.host != member), (
        volume
    )


def test_absent_components_wait_for_the_repair_timer_then_are_rebuilt_elsewhere(
    dpp_platform: Platform,
) -> None:
    """RAID-1 with a replica's host down: 'delay timer' until 60 min, then rebuilt on another
    host from the surviving replica, healthy again, and the data readable without the host."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=5)
    _probe(dpp_platform, "kv1").write("canary", b"before")
    down, before = _replica_host(dpp_platform, "kv1")
    dpp_platform.inject_host_failure(down)
    (volume,) = dpp_platform.get_instance("kv1").volumes
    assert volume.state == "reduced-availability"
    assert volume.health is dpp.ObjectHealth.REDUCED_AVAILABILITY_DELAY_TIMER
    assert volume.rebuild_at == dpp_platform.clock.now() + dt.timedelta(minutes=60)
    assert "absent" in {c.state for c in volume.components}
    dpp_platform.advance(59 * 60)
    assert dpp_platform.get_instance("kv1").volumes[0].hosts == before.hosts
    dpp_platform.advance(2 * 60)
    (volume,) = dpp_platform.get_instance("kv1").volumes
    assert volume.health is dpp.ObjectHealth.REDUCED_AVAILABILITY_ACTIVE_REBUILD
    assert down not in volume.hosts
    dpp_platform.advance(60)  # the rebuilt replica copies its 64 MiB at 100 MB/s
    (volume,) = dpp_platform.get_instance("kv1").volumes
    assert volume.health is dpp.ObjectHealth.HEALTHY
    assert {c.state for c in volume.components} == {"active"}
    assert dpp_platform.clock_status().repair_timers == ()
    dpp_platform.clear_host_failure(down)
    member_host = dpp_platform.get_instance("kv1").members[0].host
    others = [h for h in volume.hosts if h != member_host]
    for host in others[:1]:
        dpp_platform.inject_host_failure(host)
    assert _probe(dpp_platform, "kv1").read("canary") == b"before"
    assert dpp_platform.check_consistency() == []


def test_a_host_back_before_the_timer_only_resyncs_and_its_timer_stops(
    dpp_platform: Platform,
) -> None:
    """A reboot inside the window: the components stay where they were and catch up."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=5)
    down, before = _replica_host(dpp_platform, "kv1")
    dpp_platform.inject_host_failure(down)
    _probe(dpp_platform, "kv1").write("canary", b"while away")
    dpp_platform.advance(30 * 60)
    dpp_platform.clear_host_failure(down)
    assert dpp_platform.clock_status().repair_timers == ()
    dpp_platform.advance(2 * HOUR)
    (volume,) = dpp_platform.get_instance("kv1").volumes
    assert volume.hosts == before.hosts
    assert volume.health is dpp.ObjectHealth.HEALTHY
    assert "repair-timer-expired" not in [e.kind for e in dpp_platform.events()]


def test_host_local_data_on_a_failed_host_is_declared_lost_only_when_the_timer_expires(
    dpp_platform: Platform,
) -> None:
    """vsan-sna: unreachable (not lost) for 60 min; then the member is lost, its volume's
    component degraded, and the provider told REPAIR_TIMER_EXPIRED with the lost volume."""
    dpp_platform.create_instance(service="recording", name="r1", capacity_gb=5, policy="vsan-sna")
    host = dpp_platform.get_instance("r1").members[0].host
    dpp_platform.inject_host_failure(host)
    assert [e.kind for e in RecordingProvider.events] == [dpp.FailureKind.HOST_FAILURE]
    info = dpp_platform.get_instance("r1")
    assert info.members[0].state == "unreachable"
    assert info.volumes[0].components[0].state == "absent"
    dpp_platform.advance(HOUR + 1)
    info = dpp_platform.get_instance("r1")
    assert info.members[0].state == "lost"
    assert info.volumes[0].components[0].state == "degraded"
    assert info.volumes[0].health is dpp.ObjectHealth.INACCESSIBLE
    expired = RecordingProvider.events[-1]
    assert expired.kind is dpp.FailureKind.REPAIR_TIMER_EXPIRED
    assert (expired.host, expired.members, expired.lost_volumes) == (host, ("kv-0",), ("data",))
    # The host returns, but what was declared lost stays lost.
    dpp_platform.clear_host_failure(host)
    info = dpp_platform.get_instance("r1")
    assert info.members[0].state == "running"
    assert info.volumes[0].components[0].state == "degraded"
    assert dpp_platform.check_consistency() == []


def test_a_host_in_maintenance_without_evacuation_has_its_components_rebuilt_after_the_timer(
    dpp_platform: Platform,
) -> None:
    """ensure-accessibility: absent components are rebuilt after 60 min, but maintenance
    is planned downtime: the data only on the host is not declared lost, nobody is told."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=5)
    dpp_platform.create_instance(service="recording", name="r1", capacity_gb=5, policy="vsan-sna")
    down, _ = _replica_host(dpp_platform, "kv1")
    sna_host = dpp_platform.get_instance("r1").members[0].host
    dpp_platform.enter_maintenance(down, "ensure-accessibility")
    (timer,) = dpp_platform.clock_status().repair_timers
    assert (timer.host, timer.cause) == (down, "maintenance")
    dpp_platform.advance(HOUR + 60)
    assert down not in dpp_platform.get_instance("kv1").volumes[0].hosts
    assert dpp_platform.get_instance("kv1").volumes[0].health is dpp.ObjectHealth.HEALTHY
    if sna_host == down:
        assert dpp_platform.get_instance("r1").members[0].state == "stopped"
        assert dpp_platform.get_instance("r1").volumes[0].components[0].state == "absent"
    assert dpp.FailureKind.REPAIR_TIMER_EXPIRED not in [e.kind for e in RecordingProvider.events]
    dpp_platform.exit_maintenance(down)
    assert dpp_platform.instance_health("r1").status is dpp.HealthStatus.GREEN
    assert dpp_platform.check_consistency() == []


def test_an_absent_component_with_nowhere_to_go_stays_absent_with_no_rebuild() -> None:
    """3 hosts, RAID-1 needs 3 fault domains: nothing to rebuild on; the health says so."""
    with Platform.open(config=ClusterConfig.uniform(hosts=3), clock=ManualClock()) as p:
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="kv", name="kv1", capacity_gb=5)
        down, _ = _replica_host(p, "kv1")
        p.inject_host_failure(down)
        p.advance(HOUR + 1)
        (volume,) = p.get_instance("kv1").volumes
        assert volume.health is dpp.ObjectHealth.REDUCED_AVAILABILITY_NO_REBUILD
        assert volume.rebuild_at is None
        assert any(e.kind == "rebuild-deferred" for e in p.events())


def test_the_repair_timer_setting_decides_when_rebuilds_start() -> None:
    """object_repair_timer = 15: a rebuild at 15 minutes, not at 14."""
    config = attrs.evolve(ClusterConfig.uniform(hosts=5), object_repair_timer=15)
    with Platform.open(config=config, clock=ManualClock()) as p:
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="kv", name="kv1", capacity_gb=5)
        down, _ = _replica_host(p, "kv1")
        p.inject_host_failure(down)
        assert p.clock_status().object_repair_timer_minutes == 15
        p.advance(14 * 60)
        assert down in p.get_instance("kv1").volumes[0].hosts
        p.advance(60)
        assert down not in p.get_instance("kv1").volumes[0].hosts


def test_a_timer_that_fell_due_fires_at_the_next_change_without_an_advance() -> None:
    """Time that passes on its own (a ManualClock moved directly, or real time) fires the
    timer at the next health check."""
    clock = ManualClock()
    with Platform.open(config=ClusterConfig.uniform(hosts=5), clock=clock) as p:
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="kv", name="kv1", capacity_gb=5)
        down, _ = _replica_host(p, "kv1")
        p.inject_host_failure(down)
        clock.advance(HOUR)
        p.instance_health("kv1")
        assert down not in p.get_instance("kv1").volumes[0].hosts


def test_timers_and_simulated_time_survive_a_restart(tmp_path: Path) -> None:
    """The clock's offset and the running timer are stored: a new process on the state
    directory is as far ahead, and the timer fires when it passes it there."""
    with Platform.open(tmp_path, config=ClusterConfig.uniform(hosts=5)) as p:
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="kv", name="kv1", capacity_gb=5)
        down, _ = _replica_host(p, "kv1")
        p.inject_host_failure(down)
        p.advance(40 * 60)
    with Platform.open(tmp_path) as p:
        status = p.clock_status()
        assert status.kind == "simulated"
        assert status.ahead_seconds == pytest.approx(40 * 60)
        (timer,) = status.repair_timers
        assert timer.remaining_seconds == pytest.approx(20 * 60, abs=30)
        p.advance(21 * 60)
        assert down not in p.get_instance("kv1").volumes[0].hosts
    with Platform.open(tmp_path) as p:
        assert p.clock_status().ahead_seconds == pytest.approx(61 * 60)


def test_a_manual_clock_reopened_behind_the_stored_time_catches_up(tmp_path: Path) -> None:
    """Simulated time never goes back across a restart."""
    with Platform.open(tmp_path, clock=ManualClock()) as p:
        p.advance(5 * HOUR)
        reached = p.clock.now()
    clock = ManualClock()
    with Platform.open(tmp_path, clock=clock):
        assert clock.now() == reached


def test_a_system_clock_cannot_be_advanced_and_says_what_to_use() -> None:
    with Platform.open(clock=SystemClock()) as p:
        with pytest.raises(ClockNotAdjustable, match="SimulatedClock"):
            p.advance(60)
        status = p.clock_status()
        assert (status.kind, status.ahead_seconds) == ("system", None)


@pytest.mark.parametrize("seconds", [0, -5, float("nan"), float("inf"), "1h", True])
def test_advancing_by_a_bad_number_of_seconds_is_refused_naming_it(
    dpp_platform: Platform, seconds: object
) -> None:
    with pytest.raises(dpp.ValidationError, match=r"\$\.seconds"):
        dpp_platform.advance(seconds)  # type: ignore[arg-type]


def test_a_simulated_clock_is_real_time_plus_its_offset() -> None:
    clock = SimulatedClock()
    before = dt.datetime.now(dt.UTC)
    clock.advance(HOUR)
    assert clock.now() - before >= dt.timedelta(hours=1)
    assert clock.saved() == HOUR
    clock.restore(30.0)  # behind: ignored
    assert clock.offset == HOUR


@settings(max_examples=25, deadline=None)
@given(steps=st.lists(st.integers(1, 40 * 60), min_size=1, max_size=8))
def test_the_timer_fires_once_exactly_when_the_clock_first_passes_it(steps: list[int]) -> None:
    """Whatever the advances, the components move the first time the total reaches 60 min,
    and the expiry happens once."""
    with Platform.open(config=ClusterConfig.uniform(hosts=5), clock=ManualClock()) as p:
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="kv", name="kv1", capacity_gb=5)
        down, _ = _replica_host(p, "kv1")
        p.inject_host_failure(down)
        total = 0
        for step in steps:
            p.advance(step)
            total += step
            moved = down not in p.get_instance("kv1").volumes[0].hosts
            assert moved == (total >= HOUR)
        expired = [e for e in p.events() if e.kind == "repair-timer-expired"]
        assert len(expired) == (1 if total >= HOUR else 0)
        assert p.check_consistency() == []


def test_a_platform_sees_the_clock_another_process_advanced_at_its_next_change(
    tmp_path: Path,
) -> None:
    """Two platforms on one state directory: one advances, the other's next change is
    stamped with the advanced time."""
    with Platform.open(tmp_path) as first, Platform.open(tmp_path) as second:
        first.register_service("tests.providers:KVProvider")
        first.advance(5 * HOUR)
        before = dt.datetime.now(dt.UTC)
        op = second.create_instance(service="kv", name="kv1", capacity_gb=5)
        assert op.created_at is not None
        assert op.created_at >= before + dt.timedelta(hours=5)
