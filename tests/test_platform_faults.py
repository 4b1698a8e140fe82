"""Faults, maintenance and durability of real bytes on the mock platform."""

from __future__ import annotations

import itertools

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpp_sdk as dpp
from dpp_sdk import testing
from dpp_sdk.platform import ClusterConfig, MaintenanceVetoed, Platform
from dpp_sdk.platform._policies import Architecture

TOLERATED = {"vsan-default": 1, "vsan-raid5": 1, "vsan-raid6": 2}


pytestmark = pytest.mark.dpp_platform(
    "tests.providers:KVProvider", "tests.providers:VetoingProvider", hosts=6
)


def _probe(p: Platform, name: str) -> dpp.DataProbe:
    probe = p.data_probe(name)
    assert probe is not None
    return probe


def test_a_host_failure_turns_health_red_and_recovery_restores_green(
    dpp_platform: Platform,
) -> None:
    """The member's host fails: unreachable, red; the host returns: running, green."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=5)
    host = dpp_platform.get_instance("kv1").members[0].host
    assert dpp_platform.instance_health("kv1").status is dpp.HealthStatus.GREEN
    dpp_platform.inject_host_failure(host)
    assert dpp_platform.get_instance("kv1").members[0].state == "unreachable"
    assert dpp_platform.instance_health("kv1").status is dpp.HealthStatus.RED
    dpp_platform.clear_host_failure(host)
    assert dpp_platform.instance_health("kv1").status is dpp.HealthStatus.GREEN
    kinds = [e.kind for e in dpp_platform.events()]
    assert "host-failure" in kinds
    assert "host-recovered" in kinds


def test_a_replica_host_failure_degrades_the_volume_without_losing_access(
    dpp_platform: Platform,
) -> None:
    """A RAID-1 volume with one replica's host down is degraded (yellow) and still readable."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=5)
    info = dpp_platform.get_instance("kv1")
    member_host = info.members[0].host
    other = next(c.host for c in info.volumes[0].components if c.host != member_host)
    _probe(dpp_platform, "kv1").write("canary", b"x" * 1000)
    dpp_platform.inject_host_failure(other)
    (volume,) = dpp_platform.get_instance("kv1").volumes
    assert volume.state == "reduced-availability"
    assert dpp_platform.instance_health("kv1").status is dpp.HealthStatus.YELLOW
    assert _probe(dpp_platform, "kv1").read("canary") == b"x" * 1000


def test_writes_during_an_outage_reach_the_returning_replica(dpp_platform: Platform) -> None:
    """A replica that missed writes is resynced when its host recovers."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=5)
    info = dpp_platform.get_instance("kv1")
    replicas = [c for c in info.volumes[0].components if c.role == "replica"]
    down = replicas[1].host
    dpp_platform.inject_host_failure(down)
    _probe(dpp_platform, "kv1").write("canary", b"written while away")
    assert {c.state for c in dpp_platform.get_instance("kv1").volumes[0].components} >= {"absent"}
    dpp_platform.clear_host_failure(down)
    (volume,) = dpp_platform.get_instance("kv1").volumes
    assert volume.health is dpp.ObjectHealth.REDUCED_AVAILABILITY_ACTIVE_REBUILD
    assert volume.resync_bytes_left > 0
    assert volume.resync_done_at is not None
    dpp_platform.advance((volume.resync_done_at - dpp_platform.clock.now()).total_seconds() + 1)
    (volume,) = dpp_platform.get_instance("kv1").volumes
    assert volume.state == "healthy"
    # Now lose the replica that stayed up: the resynced one must hold the write.
    dpp_platform.inject_host_failure(replicas[0].host)
    assert _probe(dpp_platform, "kv1").read("canary") == b"written while away"


def test_a_disk_failure_rebuilds_a_raid1_component_elsewhere(dpp_platform: Platform) -> None:
    """Its bytes are destroyed, the platform re-homes and rebuilds the component."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=5)
    _probe(dpp_platform, "kv1").write("canary", b"precious")
    victim = dpp_platform.get_instance("kv1").volumes[0].components[0]
    dpp_platform.inject_disk_failure(victim.host, victim.disk)
    (volume,) = dpp_platform.get_instance("kv1").volumes
    assert volume.components[0].state == "active-stale"  # rebuilding, at resync_mbps
    dpp_platform.advance(3600)
    (volume,) = dpp_platform.get_instance("kv1").volumes
    assert volume.state == "healthy"
    assert (volume.components[0].host, volume.components[0].disk) != (victim.host, victim.disk)
    assert _probe(dpp_platform, "kv1").read("canary") == b"precious"


def test_an_sna_volume_on_a_failed_disk_loses_its_data(dpp_platform: Platform) -> None:
    """FTT=0: the disk failure destroys the only copy; reads fail, health is red."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=5, policy="vsan-sna")
    _probe(dpp_platform, "kv1").write("canary", b"doomed")
    (comp,) = dpp_platform.get_instance("kv1").volumes[0].components
    dpp_platform.inject_disk_failure(comp.host, comp.disk)
    with pytest.raises(dpp.DataUnavailable):
        _probe(dpp_platform, "kv1").read("canary")
    assert dpp_platform.instance_health("kv1").status is dpp.HealthStatus.RED
    dpp_platform.clear_disk_failure(comp.host, comp.disk)
    with pytest.raises(dpp.DataUnavailable):
        _probe(dpp_platform, "kv1").read("canary")
    disk_events = dpp_platform.events(kind="disk-failure")
    assert disk_events[-1].data["lost"] == {"kv1": ["data"]}


# Every redundant layout: (policy, architecture, hosts) -> failures tolerated (FTT). ESA's RAID-5
# is 2+1 on 3 hosts and 4+1 on 6.
LAYOUTS = {
    ("vsan-default", "osa", 6): 1,
    ("vsan-raid1-ftt2", "osa", 5): 2,
    ("vsan-raid1-ftt3", "osa", 7): 3,
    ("vsan-raid5", "osa", 6): 1,
    ("vsan-raid6", "osa", 6): 2,
    ("vsan-raid5", "esa", 3): 1,
    ("vsan-raid5", "esa", 6): 1,
}


def _wide(layout: tuple[str, Architecture, int]) -> Platform:
    """A platform of the layout's hosts and architecture offering every redundant policy,
    with instance kv1 of the layout's policy."""
    policy, architecture, hosts = layout
    config = attrs.evolve(ClusterConfig.uniform(hosts=hosts), architecture=architecture)
    p = Platform.open(config=config)
    p.register_service("tests.providers:WideKVProvider")
    p.create_instance(service="kv-wide", name="kv1", capacity_gb=5, policy=policy)
    return p


@settings(max_examples=40, deadline=None)
@given(
    layout=st.sampled_from(sorted(LAYOUTS)),
    data=st.data(),
    payload=st.binary(min_size=1, max_size=20_000),
    offset=st.integers(0, 3 << 20),
)
def test_a_redundant_volume_returns_every_byte_after_any_failure_it_tolerates(
    layout: tuple[str, Architecture, int], data: st.DataObject, payload: bytes, offset: int
) -> None:
    """Any set of up to FTT failed disks (or hosts) holding components of a RAID-1 (FTT=1 to
    3), RAID-5 (OSA 3+1, ESA 2+1 and 4+1) or RAID-6 volume: every byte reads back."""
    with _wide(layout) as p:
        testing.write_volume(p, "kv1", "data", offset, payload)
        comps = p.get_instance("kv1").volumes[0].components
        victims = data.draw(
            st.lists(st.sampled_from(comps), max_size=LAYOUTS[layout], unique_by=lambda c: c.host)
        )
        kind = data.draw(st.sampled_from(["disk", "host"]))
        for victim in victims:
            if kind == "disk":
                p.inject_disk_failure(victim.host, victim.disk)
            else:
                p.inject_host_failure(victim.host)
        assert p.get_instance("kv1").volumes[0].accessible
        assert testing.read_volume(p, "kv1", "data", offset, len(payload)) == payload


@settings(max_examples=30, deadline=None)
@given(layout=st.sampled_from(sorted(LAYOUTS)), data=st.data())
def test_one_failure_more_than_tolerated_makes_a_volume_inaccessible(
    layout: tuple[str, Architecture, int], data: st.DataObject
) -> None:
    """Any FTT+1 failed hosts holding components: too few votes (a mirror, even with a full
    replica left) or shards (erasure coding); the read raises DataUnavailable."""
    with _wide(layout) as p:
        testing.write_volume(p, "kv1", "data", 0, b"abc")
        hosts = p.get_instance("kv1").volumes[0].hosts
        ftt = LAYOUTS[layout]
        victims = st.lists(st.sampled_from(hosts), min_size=ftt + 1, max_size=ftt + 1, unique=True)
        for host in data.draw(victims):
            p.inject_host_failure(host)
        assert p.get_instance("kv1").volumes[0].state == "inaccessible"
        with pytest.raises(dpp.DataUnavailable):
            testing.read_volume(p, "kv1", "data", 0, 3)


def test_raid1_loses_quorum_when_a_replica_and_the_witness_are_gone(dpp_platform: Platform) -> None:
    """vSAN's vote rule: one full replica left is not enough without a majority of votes."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=5)
    comps = dpp_platform.get_instance("kv1").volumes[0].components
    dpp_platform.inject_host_failure(comps[1].host)
    dpp_platform.inject_host_failure(comps[2].host)
    assert dpp_platform.get_instance("kv1").volumes[0].state == "inaccessible"


def test_maintenance_precheck_predicts_without_changing_anything(dpp_platform: Platform) -> None:
    """no-action reduces availability; evacuate-all rebuilds; the host stays connected."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=5)
    testing.write_volume(dpp_platform, "kv1", "data", 0, b"z" * 10_000)
    comps = dpp_platform.get_instance("kv1").volumes[0].components
    host = comps[1].host
    before = dpp_platform.get_instance("kv1")
    keep = dpp_platform.maintenance_precheck(host, dpp.MaintenanceMode.NO_ACTION)
    assert keep.reduced_availability == ("kv1",)
    assert keep.bytes_to_rebuild == 0
    evac = dpp_platform.maintenance_precheck(host, dpp.MaintenanceMode.EVACUATE_ALL)
    assert evac.rebuild == ("kv1",)
    assert evac.bytes_to_rebuild == 10_000
    ensure = dpp_platform.maintenance_precheck(host, dpp.MaintenanceMode.ENSURE_ACCESSIBILITY)
    assert ensure.inaccessible == ()
    assert dpp_platform.get_instance("kv1") == before
    assert all(h.state == "connected" for h in dpp_platform.list_hosts())


def test_maintenance_of_an_sna_member_host_predicts_inaccessibility(dpp_platform: Platform) -> None:
    """Host-local data cannot move: the instance would become inaccessible."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=5, policy="vsan-sna")
    host = dpp_platform.get_instance("kv1").members[0].host
    check = dpp_platform.maintenance_precheck(host, dpp.MaintenanceMode.EVACUATE_ALL)
    assert check.inaccessible == ("kv1",)
    assert check.instances[0].stopped_members == ("kv-0",)


def test_evacuate_all_moves_components_and_keeps_every_byte(dpp_platform: Platform) -> None:
    """After evacuation the host holds no component; data reads back; exit reconnects."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=5)
    testing.write_volume(dpp_platform, "kv1", "data", 123, b"evacuate me")
    host = dpp_platform.get_instance("kv1").volumes[0].components[1].host
    result = dpp_platform.enter_maintenance(host, "evacuate-all")
    assert result.consulted == ("kv1",)
    (volume,) = dpp_platform.get_instance("kv1").volumes
    assert host not in volume.hosts
    assert volume.state == "healthy"
    assert testing.read_volume(dpp_platform, "kv1", "data", 123, 11) == b"evacuate me"
    assert {h.name: h.state for h in dpp_platform.list_hosts()}[host] == "maintenance"
    dpp_platform.exit_maintenance(host)
    assert {h.name: h.state for h in dpp_platform.list_hosts()}[host] == "connected"


def test_a_provider_veto_refuses_maintenance_and_changes_nothing(dpp_platform: Platform) -> None:
    """The veto's reason and message reach the admin; the host stays connected."""
    dpp_platform.create_instance(service="vetoing", name="v1", capacity_gb=5)
    host = dpp_platform.get_instance("v1").members[0].host
    with pytest.raises(MaintenanceVetoed) as info:
        dpp_platform.enter_maintenance(host, "no-action")
    (veto,) = info.value.vetoes
    assert veto.reason is dpp.VetoReason.TOO_MANY_EXISTING_FAILURES
    assert host in veto.message
    assert "TooManyExistingFailures" in str(info.value)
    assert {h.name: h.state for h in dpp_platform.list_hosts()}[host] == "connected"
    assert dpp_platform.audit()[-1].outcome == "refused"


def test_unknown_hosts_and_disks_are_named_in_the_error(dpp_platform: Platform) -> None:
    """Fault injection on a host or disk that does not exist says which exist."""
    with pytest.raises(dpp.NotFound, match="esx-99"):
        dpp_platform.inject_host_failure("esx-99")
    with pytest.raises(dpp.NotFound, match="cap-7"):
        dpp_platform.inject_disk_failure("esx-01", "cap-7")


def test_clear_faults_recovers_every_host_and_disk(dpp_platform: Platform) -> None:
    """One call clears every injected fault."""
    dpp_platform.inject_host_failure("esx-01")
    dpp_platform.inject_disk_failure("esx-02", "cap-0")
    dpp_platform.clear_faults()
    assert all(h.state == "connected" for h in dpp_platform.list_hosts())
    assert all(d.state == "healthy" for h in dpp_platform.list_hosts() for d in h.disks)


def test_capacity_warning_is_raised_once_when_a_disk_passes_the_threshold() -> None:
    """Reserving past the warning percentage on one disk emits one capacity-warning event,
    even with the pool under it (vSAN's per-disk "Disk capacity" check)."""
    import attrs

    config = attrs.evolve(
        ClusterConfig.uniform(
            hosts=4, capacity_disks_per_host=1, capacity_disk_gb=100, direct_disks_per_host=0
        ),
        resource_quota=100,
    )
    with Platform.open(config=config) as p:
        p.register_service("tests.providers:KVProvider")
        for name in ("a", "b", "c", "d"):  # 70 GB on each disk: 70%, under the threshold
            p.create_instance(service="kv", name=name, capacity_gb=70, policy="vsan-sna-thick")
        assert p.events(kind="capacity-warning") == []
        p.create_instance(service="kv", name="e", capacity_gb=15, policy="vsan-sna-thick")
        assert [e.kind for e in p.events(kind="capacity-warning")] == ["capacity-warning"]
        p.create_instance(service="kv", name="f", capacity_gb=5, policy="vsan-sna-thick")
        assert len(p.events(kind="capacity-warning")) == 1
        assert p.cluster_health().status is dpp.HealthStatus.YELLOW
        assert p.resources().pools[0].used_percent == 75.0  # the pool itself is under 80%


def test_component_placement_never_shares_a_fault_domain_across_policies() -> None:
    """For every distributed policy and several instances, components sit on distinct FDs."""
    with Platform.open(config=ClusterConfig.uniform(hosts=6)) as p:
        p.register_service("tests.providers:KVProvider")
        for i, policy in enumerate(itertools.islice(itertools.cycle(sorted(TOLERATED)), 9)):
            p.create_instance(service="kv", name=f"i{i}", capacity_gb=10 + i, policy=policy)
        domains = {h.name: h.fault_domain for h in p.list_hosts()}
        for info in p.list_instances():
            for volume in info.volumes:
                fds = [domains[c.host] for c in volume.components]
                assert len(fds) == len(set(fds)), volume


def test_a_disk_failure_is_reported_even_when_the_platform_rebuilt_the_component() -> None:
    """The provider hears of the failure although its volume is already whole again."""
    from tests.providers import RecordingProvider

    RecordingProvider.events.clear()
    with Platform.open(config=ClusterConfig.uniform(hosts=5)) as p:
        p.register_service("tests.providers:RecordingProvider")
        p.create_instance(service="recording", name="r1", capacity_gb=5)
        witness = p.get_instance("r1").volumes[0].components[2]
        p.inject_disk_failure(witness.host, witness.disk)
        assert p.get_instance("r1").volumes[0].state == "healthy"
        (event,) = RecordingProvider.events
        assert (event.kind, event.volumes, event.lost_volumes) == (
            dpp.FailureKind.DISK_FAILURE,
            ("data",),
            (),
        )


def test_precheck_reports_provider_vetoes_without_changing_anything(dpp_platform: Platform) -> None:
    """The dry run asks on_maintenance read-only and lists the veto."""
    dpp_platform.create_instance(service="vetoing", name="v1", capacity_gb=5)
    host = dpp_platform.get_instance("v1").members[0].host
    check = dpp_platform.maintenance_precheck(host, "ensure-accessibility")
    (veto,) = check.vetoes
    assert veto.instance == "v1"
    assert {h.name: h.state for h in dpp_platform.list_hosts()}[host] == "connected"


def test_disk_maintenance_asks_providers_about_the_disk_and_moves_its_components(
    dpp_platform: Platform,
) -> None:
    """evacuate-all of one disk: providers see request.disk, data moves off it, members run."""
    from tests.providers import RecordingProvider

    RecordingProvider.events.clear()
    dpp_platform.register_service("tests.providers:RecordingProvider")
    dpp_platform.create_instance(service="recording", name="r1", capacity_gb=5)
    testing.write_volume(dpp_platform, "r1", "data", 100, b"off the disk")
    comp = dpp_platform.get_instance("r1").volumes[0].components[0]
    check = dpp_platform.maintenance_precheck(comp.host, "evacuate-all", disk=comp.disk)
    assert (check.disk, check.rebuild, check.vetoes) == (comp.disk, ("r1",), ())
    result = dpp_platform.enter_maintenance(comp.host, "evacuate-all", disk=comp.disk)
    assert result.consulted == ("r1",)
    (volume,) = dpp_platform.get_instance("r1").volumes
    assert (comp.host, comp.disk) not in {(c.host, c.disk) for c in volume.components}
    assert volume.state == "healthy"
    assert [m.state for m in dpp_platform.get_instance("r1").members] == ["running"]
    assert testing.read_volume(dpp_platform, "r1", "data", 100, 12) == b"off the disk"
    disks = {(h.name, d.name): d.state for h in dpp_platform.list_hosts() for d in h.disks}
    assert disks[(comp.host, comp.disk)] == "maintenance"
    assert dpp_platform.cluster_health().checks[1].status is dpp.HealthStatus.YELLOW
    dpp_platform.exit_maintenance(comp.host, disk=comp.disk)
    disks = {(h.name, d.name): d.state for h in dpp_platform.list_hosts() for d in h.disks}
    assert disks[(comp.host, comp.disk)] == "healthy"


def test_disk_maintenance_of_an_sna_volume_is_vetoed_by_a_careful_provider(
    dpp_platform: Platform,
) -> None:
    """The veto names the disk's host; no-action would make the only copy unreachable."""
    # Thick, so that the second volume goes to the other disk (the one with more free space).
    dpp_platform.create_instance(
        service="vetoing", name="v1", capacity_gb=5, policy="vsan-sna-thick"
    )
    (comp,) = dpp_platform.get_instance("v1").volumes[0].components
    check = dpp_platform.maintenance_precheck(comp.host, "no-action", disk=comp.disk)
    assert check.inaccessible == ("v1",)
    with pytest.raises(MaintenanceVetoed):
        dpp_platform.enter_maintenance(comp.host, "no-action", disk=comp.disk)
    dpp_platform.create_instance(service="kv", name="k1", capacity_gb=5, policy="vsan-sna-thick")
    (comp,) = dpp_platform.get_instance("k1").volumes[0].components
    dpp_platform.enter_maintenance(comp.host, "no-action", disk=comp.disk)
    assert dpp_platform.get_instance("k1").volumes[0].state == "inaccessible"
    dpp_platform.exit_maintenance(comp.host, disk=comp.disk)
    assert dpp_platform.get_instance("k1").volumes[0].state == "healthy"
