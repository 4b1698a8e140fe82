"""Scenario tests of the MongoDB sample, through the mock platform's public interface.

Each test opens an in-memory platform, registers the sample by its directory (as
``dpp service register samples/mongodb`` does) and tells one story of a replica set.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpp_sdk as dpp
from dpp_sdk import kits, testing
from dpp_sdk.platform import MaintenanceVetoed

from .provider import MongoDBProvider, ReplicaSetView, majority

SAMPLE = Path(__file__).parent
GB = 10


# The default cluster: four hosts, so a replica set of three has one spare host. Tests marked
# THREE_HOSTS get exactly three: a replica set of three has nowhere to move a lost member.
pytestmark = pytest.mark.dpp_platform(SAMPLE, hosts=4)
THREE_HOSTS = pytest.mark.dpp_platform(SAMPLE, hosts=3)


def create(dpp_platform: dpp.Platform, name: str = "db1", **parameters: object) -> dpp.InstanceInfo:
    policy = parameters.pop("policy", None)
    dpp_platform.create_instance(
        service="mongodb",
        name=name,
        capacity_gb=GB,
        parameters=parameters,
        policy=None if policy is None else str(policy),
    )
    return dpp_platform.get_instance(name)


def host_of(dpp_platform: dpp.Platform, member: str, instance: str = "db1") -> str:
    return next(m.host for m in dpp_platform.get_instance(instance).members if m.name == member)


def primaries(info: dpp.InstanceInfo) -> list[str]:
    return [m.name for m in info.members if m.labels.get("role") == "primary"]


def replica_set_status(health: object) -> dpp.HealthStatus:
    """The worst of the provider's own ``replica-set/*`` checks (the platform's left out)."""
    checks = getattr(health, "checks", ())
    return dpp.HealthStatus.worst(c.status for c in checks if c.name.startswith("replica-set/"))


def probe_of(dpp_platform: dpp.Platform, instance: str = "db1") -> dpp.DataProbe:
    probe = dpp_platform.data_probe(instance)
    assert probe is not None
    return probe


def assert_nothing_left(dpp_platform: dpp.Platform) -> None:
    assert dpp_platform.list_instances() == []
    assert dpp_platform.resources().reserved_gb == 0


# --------------------------------------------------------------------------- registration


def test_the_sample_directory_registers_a_mongodb_service() -> None:
    """Registering samples/mongodb by its path yields the manifest a partner expects."""
    with testing.open_platform(SAMPLE) as dpp_platform:
        service = dpp_platform.get_service("mongodb")
        manifest = service.active.manifest
        assert service.category == "database"
        assert manifest.parameters_schema["properties"]["replicaCount"]["enum"] == [1, 3, 5, 7]
        assert manifest.parameters_schema["properties"]["replicaCount"]["default"] == 3
        assert manifest.default_policy == "vsan-sna"
        assert set(manifest.supported_policies) == {"vsan-sna", "vsan-direct", "vsan-default"}
        assert manifest.redundancy is dpp.Redundancy.SERVICE
        caps = manifest.capabilities
        assert caps.horizontal_scale
        assert caps.maintenance_aware
        assert caps.data_probe
        assert caps.capacity_scale_up
        assert not caps.capacity_scale_down


# --------------------------------------------------------------------------- provisioning


def test_an_even_replica_count_is_refused_before_anything_is_allocated(
    dpp_platform: dpp.Platform,
) -> None:
    """replicaCount=2 fails validation naming $.parameters.replicaCount; nothing is held."""
    with pytest.raises(dpp.ValidationError) as caught:
        create(dpp_platform, replicaCount=2)
    assert [p.path for p in caught.value.problems] == ["$.parameters.replicaCount"]
    assert_nothing_left(dpp_platform)


def test_three_members_land_on_three_distinct_hosts(dpp_platform: dpp.Platform) -> None:
    """Each member has its own host, one host-local data volume, and an endpoint."""
    info = create(dpp_platform, replicaCount=3)
    assert info.status is dpp.InstanceStatus.READY
    assert [m.name for m in info.members] == ["mongodb-0", "mongodb-1", "mongodb-2"]
    assert len({m.host for m in info.members}) == 3
    volumes = {v.name: v for v in info.volumes}
    for member in info.members:
        (volume_name,) = member.volumes
        assert volumes[volume_name].size_gb == GB
        assert volumes[volume_name].policy == "vsan-sna"
        assert volumes[volume_name].hosts == (member.host,)
    assert primaries(info) == ["mongodb-0"]
    assert {e.protocol for e in info.endpoints} == {"mongodb"}
    assert {e.port for e in info.endpoints} == {27017}
    assert {e.member for e in info.endpoints} == {None, "mongodb-0", "mongodb-1", "mongodb-2"}
    assert {s.name for s in info.secrets} == {"admin-password", "keyfile"}
    assert dpp_platform.instance_health("db1").status is dpp.HealthStatus.GREEN


def test_a_replica_set_larger_than_the_cluster_is_refused_before_anything_runs(
    dpp_platform: dpp.Platform,
) -> None:
    """Five members cannot be kept apart on four hosts: validate says so, nothing runs."""
    with pytest.raises(dpp.ValidationError) as caught:
        create(dpp_platform, replicaCount=5)
    (problem,) = caught.value.problems
    assert problem.path == "$.parameters.replicaCount"
    assert "4 connected hosts" in problem.message
    assert [a.outcome for a in dpp_platform.audit() if a.action == "instance.provision"] == [
        "refused"
    ]
    assert list(dpp_platform.list_operations(limit=None)) == []
    assert_nothing_left(dpp_platform)


@settings(max_examples=30, deadline=None)
@given(count=st.integers(0, 9), hosts=st.integers(1, 8))
def test_a_replica_count_is_accepted_only_if_odd_and_within_the_hosts(
    count: int, hosts: int
) -> None:
    """Any replicaCount: valid iff in {1, 3, 5, 7} and within the hosts; refusals leave nothing."""
    with testing.open_platform(SAMPLE, hosts=hosts) as dpp_platform:
        if count not in (1, 3, 5, 7):
            with pytest.raises(dpp.ValidationError) as refused:
                create(dpp_platform, replicaCount=count)
            assert [p.path for p in refused.value.problems] == ["$.parameters.replicaCount"]
        elif count > hosts:
            with pytest.raises(dpp.ValidationError) as refused:
                create(dpp_platform, replicaCount=count)
            assert [p.path for p in refused.value.problems] == ["$.parameters.replicaCount"]
            assert list(dpp_platform.list_operations(limit=None)) == []
        else:
            info = create(dpp_platform, replicaCount=count)
            assert len({m.host for m in info.members}) == count
            assert len(primaries(info)) == 1
            assert dpp_platform.remove_instance("db1").result["leaked"] == []
        assert_nothing_left(dpp_platform)


# --------------------------------------------------------------------------- health and elections


@THREE_HOSTS
def test_a_minority_down_is_yellow_and_a_majority_down_is_red(dpp_platform: dpp.Platform) -> None:
    """By MongoDB's rules: one of three members down is yellow, two are red."""
    create(dpp_platform, replicaCount=3)
    dpp_platform.inject_host_failure(host_of(dpp_platform, "mongodb-1"))
    health = dpp_platform.instance_health("db1")
    assert replica_set_status(health) is dpp.HealthStatus.YELLOW
    dpp_platform.inject_host_failure(host_of(dpp_platform, "mongodb-2"))
    health = dpp_platform.instance_health("db1")
    assert replica_set_status(health) is dpp.HealthStatus.RED
    assert primaries(dpp_platform.get_instance("db1")) == []


@pytest.mark.parametrize("policy", ["vsan-default", "vsan-sna"])
def test_instance_health_follows_the_replica_set(policy: str) -> None:
    """The instance as a whole is yellow with one member down and red with two."""
    with testing.open_platform(SAMPLE, hosts=3) as dpp_platform:
        create(dpp_platform, replicaCount=3, policy=policy)
        dpp_platform.inject_host_failure(host_of(dpp_platform, "mongodb-1"))
        assert dpp_platform.instance_health("db1").status is dpp.HealthStatus.YELLOW
        dpp_platform.inject_host_failure(host_of(dpp_platform, "mongodb-2"))
        assert dpp_platform.instance_health("db1").status is dpp.HealthStatus.RED


@THREE_HOSTS
def test_losing_the_primary_host_elects_a_new_primary(dpp_platform: dpp.Platform) -> None:
    """When the primary's host fails, a member that is still up takes over."""
    create(dpp_platform, replicaCount=3)
    dpp_platform.inject_host_failure(host_of(dpp_platform, "mongodb-0"))
    info = dpp_platform.get_instance("db1")
    assert primaries(info) == ["mongodb-1"]
    health = dpp_platform.instance_health("db1")
    primary_check = next(c for c in health.checks if c.name == "replica-set/primary")
    assert primary_check.status is dpp.HealthStatus.GREEN
    assert "mongodb-1 is primary (term 2)" in primary_check.message


@settings(max_examples=200, deadline=None)
@given(
    size=st.sampled_from([1, 3, 5, 7]),
    up=st.sets(st.integers(0, 6)),
    recorded=st.none() | st.integers(0, 6),
)
def test_an_election_needs_a_majority_and_keeps_a_primary_that_is_up(
    size: int, up: set[int], recorded: int | None
) -> None:
    """No primary without a majority; otherwise an up voting member, the current one if it can."""
    members = {
        f"mongodb-{i}": dpp.MemberInfo(
            name=f"mongodb-{i}",
            host=f"esx-{i:02}",
            state="running" if i in up else "unreachable",
            volumes=(f"data-mongodb-{i}",),
        )
        for i in range(7)
    }
    volumes = {
        f"data-mongodb-{i}": dpp.VolumeInfo(name=f"data-mongodb-{i}", size_gb=1, policy="vsan-sna")
        for i in range(7)
    }
    view = ReplicaSetView(
        size=size,
        snapshot=kits.InstanceSnapshot(members=members, volumes=volumes),
        recorded_primary=None if recorded is None else f"mongodb-{recorded}",
        term=1,
    )
    voting_up = {i for i in up if i < size}
    primary = view.elect()
    if len(voting_up) < majority(size):
        assert primary is None
    else:
        assert primary is not None
        assert int(primary.rsplit("-", 1)[1]) in voting_up
        if recorded in voting_up:
            assert primary == f"mongodb-{recorded}"


# --------------------------------------------------------------------------- configure and scale


def test_configure_adds_and_removes_members_and_keeps_a_primary() -> None:
    """3 -> 5 adds two members on new hosts; 5 -> 3 removes the highest two."""
    with testing.open_platform(SAMPLE, hosts=8) as dpp_platform:
        create(dpp_platform, replicaCount=3)
        dpp_platform.configure_instance("db1", {"replicaCount": 5})
        info = dpp_platform.get_instance("db1")
        assert [m.name for m in info.members] == [f"mongodb-{i}" for i in range(5)]
        assert len({m.host for m in info.members}) == 5
        assert len(info.volumes) == 5
        assert dpp_platform.instance_health("db1").status is dpp.HealthStatus.GREEN

        dpp_platform.configure_instance("db1", {"replicaCount": 3})
        info = dpp_platform.get_instance("db1")
        assert [m.name for m in info.members] == ["mongodb-0", "mongodb-1", "mongodb-2"]
        assert len(info.volumes) == 3
        assert {e.member for e in info.endpoints} == {None, "mongodb-0", "mongodb-1", "mongodb-2"}
        assert len(primaries(info)) == 1
        assert info.spec.parameters["replicaCount"] == 3
        assert dpp_platform.instance_health("db1").status is dpp.HealthStatus.GREEN


def test_new_members_receive_the_existing_data_by_initial_sync() -> None:
    """A document written to three members is readable from a member added later."""
    with testing.open_platform(SAMPLE, hosts=5) as dpp_platform:
        create(dpp_platform, replicaCount=3)
        probe_of(dpp_platform).write("order-1", b"paid")
        dpp_platform.configure_instance("db1", {"replicaCount": 5})
        for member in ("mongodb-0", "mongodb-1", "mongodb-2"):
            dpp_platform.inject_host_failure(host_of(dpp_platform, member))
        # Two of five are up: no majority, but mongodb-3 and -4 still hold the document.
        assert probe_of(dpp_platform).read("order-1") == b"paid"


def test_growing_past_the_hosts_is_refused_and_the_set_is_unchanged(
    dpp_platform: dpp.Platform,
) -> None:
    """3 -> 5 on four hosts is refused up front; the platform keeps three members and the spec."""
    create(dpp_platform, replicaCount=3)
    with pytest.raises(dpp.ValidationError, match="4 connected hosts"):
        dpp_platform.configure_instance("db1", {"replicaCount": 5})
    assert [a.outcome for a in dpp_platform.audit() if a.action == "instance.configure"] == [
        "refused"
    ]
    info = dpp_platform.get_instance("db1")
    assert [m.name for m in info.members] == ["mongodb-0", "mongodb-1", "mongodb-2"]
    assert info.spec.parameters["replicaCount"] == 3
    assert dpp_platform.instance_health("db1").status is dpp.HealthStatus.GREEN


@THREE_HOSTS
def test_shrinking_without_a_primary_is_refused_and_keeps_the_acknowledged_writes(
    dpp_platform: dpp.Platform,
) -> None:
    """With 1 of 3 members up, 3 -> 1 is refused and the majority-acknowledged canary survives."""
    create(dpp_platform, replicaCount=3)
    hosts = {m.name: m.host for m in dpp_platform.get_instance("db1").members}
    probe = probe_of(dpp_platform)
    dpp_platform.inject_host_failure(hosts["mongodb-0"])
    probe.write("canary", b"acknowledged by mongodb-1 and mongodb-2")
    dpp_platform.inject_host_failure(hosts["mongodb-1"])
    dpp_platform.inject_host_failure(hosts["mongodb-2"])
    dpp_platform.clear_host_failure(hosts["mongodb-0"])  # 1/3 up: no primary
    with pytest.raises(dpp.OperationFailed) as caught:
        dpp_platform.configure_instance("db1", {"replicaCount": 1})
    error = caught.value.operation.error
    assert error is not None
    assert error.type == "PermanentError"
    assert "only 1/3 members are up, so there is no primary" in error.message
    info = dpp_platform.get_instance("db1")
    assert [m.name for m in info.members] == ["mongodb-0", "mongodb-1", "mongodb-2"]
    assert len(info.volumes) == 3
    assert info.spec.parameters["replicaCount"] == 3
    dpp_platform.clear_faults()
    assert probe.read("canary") == b"acknowledged by mongodb-1 and mongodb-2"


def test_scaling_capacity_expands_every_member_volume(dpp_platform: dpp.Platform) -> None:
    """Capacity is per member: 10 -> 25 GB grows all three data volumes, keeping data."""
    create(dpp_platform, replicaCount=3)
    probe = probe_of(dpp_platform)
    probe.write("k", b"before scale")
    dpp_platform.scale_instance("db1", 25)
    info = dpp_platform.get_instance("db1")
    assert [v.size_gb for v in info.volumes] == [25, 25, 25]
    assert probe.read("k") == b"before scale"
    with pytest.raises(dpp.ValidationError) as caught:
        dpp_platform.scale_instance("db1", 20)
    assert [p.path for p in caught.value.problems] == ["$.capacity_gb"]


def test_a_version_upgrade_rolls_and_a_downgrade_is_refused(dpp_platform: dpp.Platform) -> None:
    """6.0 -> 7.0 relabels every member; 7.0 -> 6.0 fails and keeps 7.0."""
    create(dpp_platform, replicaCount=3, version="6.0")
    dpp_platform.configure_instance("db1", {"version": "7.0"})
    info = dpp_platform.get_instance("db1")
    assert {m.labels["version"] for m in info.members} == {"7.0"}
    assert len(primaries(info)) == 1
    with pytest.raises(dpp.OperationFailed) as caught:
        dpp_platform.configure_instance("db1", {"version": "6.0"})
    assert caught.value.operation.error is not None
    assert "downgrade" in caught.value.operation.error.message
    assert dpp_platform.get_instance("db1").spec.parameters["version"] == "7.0"


# --------------------------------------------------------------------------- maintenance


@THREE_HOSTS
def test_maintenance_is_vetoed_when_the_majority_would_be_lost(dpp_platform: dpp.Platform) -> None:
    """With one member already down, stopping a second one's host is refused."""
    create(dpp_platform, replicaCount=3)
    dpp_platform.inject_host_failure(host_of(dpp_platform, "mongodb-0"))
    target = host_of(dpp_platform, "mongodb-1")
    with pytest.raises(MaintenanceVetoed) as caught:
        dpp_platform.enter_maintenance(target, dpp.MaintenanceMode.ENSURE_ACCESSIBILITY)
    (veto,) = caught.value.vetoes
    assert veto.reason is dpp.VetoReason.NOT_ENOUGH_RESOURCES
    assert "mongodb-1" in veto.message
    assert "mongodb-0 unreachable" in veto.message
    assert "majority of 2" in veto.message
    assert {h.name: h.state for h in dpp_platform.list_hosts()}[target] == "connected"


def test_maintenance_is_allowed_while_a_majority_stays_up(dpp_platform: dpp.Platform) -> None:
    """Stopping one of three members keeps a primary and majority writes."""
    create(dpp_platform, replicaCount=3)
    target = host_of(dpp_platform, "mongodb-0")
    result = dpp_platform.enter_maintenance(target, dpp.MaintenanceMode.ENSURE_ACCESSIBILITY)
    assert result.consulted == ("db1",)
    health = dpp_platform.instance_health("db1")
    assert replica_set_status(health) is dpp.HealthStatus.YELLOW
    probe = probe_of(dpp_platform)
    probe.write("k", b"during maintenance")
    assert probe.read("k") == b"during maintenance"
    dpp_platform.exit_maintenance(target)
    assert dpp_platform.instance_health("db1").status is dpp.HealthStatus.GREEN


def test_a_single_member_vetoes_maintenance_of_its_host(dpp_platform: dpp.Platform) -> None:
    """A replica set of one has no majority to spare."""
    dpp_platform.create_instance(service="mongodb", name="dev", plan="development", capacity_gb=5)
    target = host_of(dpp_platform, "mongodb-0", instance="dev")
    with pytest.raises(MaintenanceVetoed):
        dpp_platform.enter_maintenance(target, dpp.MaintenanceMode.NO_ACTION)


# --------------------------------------------------------------------------- data and repair


@THREE_HOSTS
def test_the_probe_survives_a_minority_failure_and_refuses_writes_without_a_majority(
    dpp_platform: dpp.Platform,
) -> None:
    """Majority writes need 2 of 3, survive one loss, and a refused rewrite keeps the old value."""
    create(dpp_platform, replicaCount=3)
    probe = probe_of(dpp_platform)
    probe.write("canary", b"written by all three")
    dpp_platform.inject_host_failure(host_of(dpp_platform, "mongodb-0"))
    assert probe.read("canary") == b"written by all three"
    probe.write("second", b"written by two")
    dpp_platform.inject_host_failure(host_of(dpp_platform, "mongodb-1"))
    with pytest.raises(dpp.DataUnavailable, match="write concern majority not satisfied: 1/3"):
        probe.write("third", b"refused")
    with pytest.raises(dpp.DataUnavailable):
        probe.write("canary", b"a refused rewrite")
    assert probe.read("canary") == b"written by all three"
    assert probe.read("second") == b"written by two"
    with pytest.raises(KeyError):
        probe.read("third")


def test_a_member_on_a_failed_host_is_waited_for_until_the_repair_timer_expires(
    dpp_platform: dpp.Platform,
) -> None:
    """A host failure elects a new primary but replaces nothing: the member is unreachable
    and the instance yellow until the repair timer declares it lost."""
    create(dpp_platform, replicaCount=3)
    failed = host_of(dpp_platform, "mongodb-0")
    dpp_platform.inject_host_failure(failed)
    dpp_platform.advance(59 * 60)
    info = dpp_platform.get_instance("db1")
    assert host_of(dpp_platform, "mongodb-0") == failed
    assert {m.name: m.state for m in info.members}["mongodb-0"] == "unreachable"
    assert primaries(info) == ["mongodb-1"]
    assert dpp_platform.instance_health("db1").status is dpp.HealthStatus.YELLOW


def test_a_host_back_before_the_repair_timer_resumes_its_member_without_a_rebuild(
    dpp_platform: dpp.Platform,
) -> None:
    """A reboot: the member comes back on its host with its data and catches up."""
    create(dpp_platform, replicaCount=3)
    probe = probe_of(dpp_platform)
    failed = host_of(dpp_platform, "mongodb-0")
    dpp_platform.inject_host_failure(failed)
    probe.write("while-away", b"written by two")
    dpp_platform.advance(30 * 60)
    dpp_platform.clear_host_failure(failed)
    dpp_platform.advance(60 * 60)  # nothing left to fire
    assert host_of(dpp_platform, "mongodb-0") == failed
    assert dpp_platform.instance_health("db1").status is dpp.HealthStatus.GREEN
    for member in ("mongodb-1", "mongodb-2"):
        dpp_platform.inject_host_failure(host_of(dpp_platform, member))
    assert probe.read("while-away") == b"written by two"


def test_repair_returns_to_green_and_the_new_member_holds_the_data(
    dpp_platform: dpp.Platform,
) -> None:
    """Once the repair timer declares the member lost, it is rebuilt on the spare host by
    initial sync and serves reads alone."""
    create(dpp_platform, replicaCount=3)
    probe = probe_of(dpp_platform)
    probe.write("canary", b"before the failure")
    lost = host_of(dpp_platform, "mongodb-0")
    dpp_platform.inject_host_failure(lost)
    dpp_platform.advance(61 * 60)
    info = dpp_platform.get_instance("db1")
    assert host_of(dpp_platform, "mongodb-0") not in {lost, *(m.host for m in info.members[1:])}
    assert primaries(info) == ["mongodb-1"]
    assert dpp_platform.instance_health("db1").status is dpp.HealthStatus.GREEN
    repairs = [o for o in dpp_platform.list_operations(target="db1") if o.kind == "repair"]
    assert [o.state for o in repairs] == [dpp.OperationState.SUCCEEDED] * 2
    (expired,) = dpp_platform.events(kind="repair-timer-expired")
    assert expired.target == lost
    assert expired.data["lost"] == {"db1": ["data-mongodb-0"]}
    # Only the rebuilt member is left up: the document must come from its volume.
    dpp_platform.inject_host_failure(host_of(dpp_platform, "mongodb-1"))
    dpp_platform.inject_host_failure(host_of(dpp_platform, "mongodb-2"))
    assert probe.read("canary") == b"before the failure"


def test_a_disk_failure_rebuilds_the_member_that_lost_its_data(dpp_platform: dpp.Platform) -> None:
    """The member whose vsan-sna volume was destroyed is re-created and resynced."""
    create(dpp_platform, replicaCount=3)
    probe = probe_of(dpp_platform)
    probe.write("canary", b"on three disks")
    volume = next(v for v in dpp_platform.get_instance("db1").volumes if v.name == "data-mongodb-2")
    (component,) = volume.components
    dpp_platform.inject_disk_failure(component.host, component.disk)
    info = dpp_platform.get_instance("db1")
    assert all(v.state == "healthy" for v in info.volumes)
    assert dpp_platform.instance_health("db1").status is dpp.HealthStatus.GREEN
    for member in ("mongodb-0", "mongodb-1"):
        dpp_platform.inject_host_failure(host_of(dpp_platform, member))
    assert probe.read("canary") == b"on three disks"


# --------------------------------------------------------------------------- decommission


def test_decommission_leaves_nothing_behind(dpp_platform: dpp.Platform) -> None:
    """Members, volumes, endpoints and secrets all go; the platform reclaims nothing."""
    create(dpp_platform, replicaCount=3)
    probe_of(dpp_platform).write("k", b"v")
    operation = dpp_platform.remove_instance("db1")
    assert operation.result["leaked"] == []
    assert_nothing_left(dpp_platform)
    assert dpp_platform.events(kind="leak") == []


@THREE_HOSTS
def test_decommission_of_a_damaged_replica_set_leaves_nothing_behind(
    dpp_platform: dpp.Platform,
) -> None:
    """Even with members unreachable and no primary, decommission removes everything."""
    create(dpp_platform, replicaCount=3)
    dpp_platform.inject_host_failure(host_of(dpp_platform, "mongodb-0"))
    dpp_platform.inject_host_failure(host_of(dpp_platform, "mongodb-1"))
    assert dpp_platform.remove_instance("db1").result["leaked"] == []
    assert_nothing_left(dpp_platform)


@THREE_HOSTS
def test_the_probe_counts_a_member_without_its_data_volume_as_not_acknowledging(
    dpp_platform: dpp.Platform,
) -> None:
    """A member whose volume is gone (being replaced) refuses the write: DataUnavailable or
    a majority of the others, never NotFound from the platform."""
    create(dpp_platform, replicaCount=3)
    probe = probe_of(dpp_platform)
    testing.context(dpp_platform, "db1").volumes.delete("data-mongodb-2")
    probe.write("canary", b"two of three")
    assert probe.read("canary") == b"two of three"
    testing.context(dpp_platform, "db1").volumes.delete("data-mongodb-1")
    with pytest.raises(dpp.DataUnavailable, match="write concern majority not satisfied"):
        probe.write("more", b"one of three")


# --------------------------------------------------------------------------- maintenance drain


def test_planned_downtime_steps_the_primary_down_and_stops_the_member(
    dpp_platform: dpp.Platform,
) -> None:
    """ensure-accessibility on the primary's host: a secondary is elected, the member is
    stopped (with its data) and catches up when the host returns."""
    create(dpp_platform, replicaCount=3)
    probe = probe_of(dpp_platform)
    primary = primaries(dpp_platform.get_instance("db1"))[0]
    host = host_of(dpp_platform, primary)
    result = dpp_platform.enter_maintenance(host, "ensure-accessibility")
    assert result.drained == ("db1",)
    info = dpp_platform.get_instance("db1")
    assert {m.name: m.state for m in info.members}[primary] == "stopped"
    assert primary not in primaries(info)
    probe.write("during", b"two members")
    dpp_platform.exit_maintenance(host)
    assert host_of(dpp_platform, primary) == host
    assert dpp_platform.instance_health("db1").status is dpp.HealthStatus.GREEN
    other = min({m.name for m in info.members} - {primary})
    dpp_platform.inject_host_failure(host_of(dpp_platform, other))
    assert probe.read("during") == b"two members"


def test_evacuate_all_re_creates_the_member_on_the_free_host_before_the_host_goes(
    dpp_platform: dpp.Platform,
) -> None:
    """evacuate-all (the drain taint): the member moves with an initial sync first."""
    create(dpp_platform, replicaCount=3)
    probe = probe_of(dpp_platform)
    probe.write("canary", b"moved with the member")
    host = host_of(dpp_platform, "mongodb-1")
    dpp_platform.enter_maintenance(host, "evacuate-all")
    assert host_of(dpp_platform, "mongodb-1") != host
    assert dpp_platform.instance_health("db1").status is dpp.HealthStatus.GREEN
    for member in ("mongodb-0", "mongodb-2"):
        dpp_platform.inject_host_failure(host_of(dpp_platform, member))
    assert probe.read("canary") == b"moved with the member"


@THREE_HOSTS
def test_evacuate_all_with_nowhere_to_go_is_vetoed_and_changes_nothing(
    dpp_platform: dpp.Platform,
) -> None:
    create(dpp_platform, replicaCount=3)
    host = host_of(dpp_platform, "mongodb-0")
    with pytest.raises(dpp.MaintenanceVetoed, match="NotEnoughResources"):
        dpp_platform.enter_maintenance(host, "evacuate-all")
    assert dpp_platform.get_host(host).state == "connected"
    assert host_of(dpp_platform, "mongodb-0") == host
    assert dpp_platform.instance_health("db1").status is dpp.HealthStatus.GREEN


# --------------------------------------------------------------------------- the footprint


def made(info: dpp.InstanceInfo) -> list[tuple[str, list[tuple[str, float]]]]:
    """Members and their volumes (name, size) as the platform lists them, sorted."""
    return sorted(
        (m.name, sorted((v.name, v.size_gb) for v in info.volumes if v.member == m.name))
        for m in info.members
    )


def declared(dpp_platform: dpp.Platform, instance: str = "db1") -> object:
    """The sample's footprint of ``instance``'s spec, in the shape of :func:`made`."""
    spec = dpp_platform.get_instance(instance).spec
    view = dpp.ClusterView(hosts=tuple(dpp_platform.list_hosts()))
    footprint = MongoDBProvider().footprint(spec, view)
    assert footprint is not None
    return sorted(
        (m.name, sorted((v.name, float(v.size_gb)) for v in m.volumes)) for m in footprint.members
    )


@settings(max_examples=20, deadline=None)
@given(
    count=st.sampled_from([1, 3, 5]),
    capacity=st.integers(1, 500),
    policy=st.sampled_from(["vsan-sna", "vsan-direct", "vsan-default"]),
    changes=st.lists(
        st.one_of(
            st.tuples(st.just("replicaCount"), st.sampled_from([1, 3, 5])),
            st.tuples(st.just("capacity"), st.integers(0, 300)),
        ),
        max_size=3,
    ),
)
def test_the_footprint_is_what_provision_configure_and_scale_make(
    count: int, capacity: int, policy: str, changes: list[tuple[str, int]]
) -> None:
    """For any replica set: the footprint of its spec names exactly the members and data
    volumes (sizes too) the provider holds, after provision and after each change; a change
    that cannot fit is refused before it starts, never failed half-way."""
    with testing.open_platform(SAMPLE, hosts=5) as dpp_platform:
        create_sized(dpp_platform, capacity, replicaCount=count, policy=policy)
        assert declared(dpp_platform) == made(dpp_platform.get_instance("db1"))
        for key, value in changes:
            before = made(dpp_platform.get_instance("db1"))
            try:
                if key == "capacity":
                    dpp_platform.scale_instance("db1", capacity + value)
                else:
                    dpp_platform.configure_instance("db1", {"replicaCount": value})
            except (dpp.QuotaExceeded, dpp.PlacementFailed):
                # Refused up front (a direct disk too small to grow a volume): nothing changed.
                assert made(dpp_platform.get_instance("db1")) == before
                continue
            capacity = dpp_platform.get_instance("db1").spec.capacity_gb
            assert declared(dpp_platform) == made(dpp_platform.get_instance("db1"))
        assert dpp_platform.remove_instance("db1").result["leaked"] == []


def create_sized(dpp_platform: dpp.Platform, capacity_gb: int, **parameters: object) -> None:
    policy = parameters.pop("policy", None)
    dpp_platform.create_instance(
        service="mongodb",
        name="db1",
        capacity_gb=capacity_gb,
        parameters=parameters,
        policy=None if policy is None else str(policy),
    )


def test_the_largest_replica_set_is_refused_up_front_counting_every_copy() -> None:
    """Three 16,000 GB members need 48,000 GB raw against a 19,200 GB quota (six hosts):
    refused before any member exists, though one copy alone would pass the estimate."""
    with testing.open_platform(SAMPLE, hosts=6) as dpp_platform:
        with pytest.raises(dpp.QuotaExceeded, match=r"declares 48000\.0 GB of raw capacity"):
            create_sized(dpp_platform, 16_000)
        assert [a.outcome for a in dpp_platform.audit() if a.action == "instance.provision"] == [
            "refused"
        ]
        assert_nothing_left(dpp_platform)


def test_growing_every_copy_past_the_quota_is_refused_and_nothing_changes() -> None:
    """Three 1,000 GB members scaled to 8,000 GB add 21,000 GB raw against a 19,200 GB
    quota (one copy, 7,000 GB, would pass the estimate): refused before any volume grows."""
    with testing.open_platform(SAMPLE, hosts=6) as dpp_platform:
        create_sized(dpp_platform, 1000)
        with pytest.raises(dpp.QuotaExceeded, match=r"declares 21000\.0 GB more") as caught:
            dpp_platform.scale_instance("db1", 8000)
        assert caught.value.asked == 21000
        info = dpp_platform.get_instance("db1")
        assert info.spec.capacity_gb == 1000
        assert {v.size_gb for v in info.volumes} == {1000}
        assert [a.outcome for a in dpp_platform.audit() if a.action == "instance.scale"] == [
            "refused"
        ]


def _shrink_to_one(platform: dpp.Platform, name: str) -> None:
    platform.configure_instance(name, {"replicaCount": 1})


def test_a_shrink_killed_at_any_call_resumes_without_endpoints_of_removed_members(
    tmp_path: Path,
) -> None:
    state = tmp_path / "state"
    clock = dpp.ManualClock()
    with testing.open_platform(SAMPLE, state_dir=state, hosts=4, clock=clock) as platform:
        platform.create_instance(service="mongodb", name="ref", capacity_gb=10)
        calls = testing.count_context_calls(platform, partial(_shrink_to_one, name="ref"))
        platform.remove_instance("ref")
    for after in range(calls):
        name = f"db{after}"
        with testing.open_platform(state_dir=state, clock=clock) as platform:
            platform.create_instance(service="mongodb", name=name, capacity_gb=10)
        crashed, platform = testing.crash_and_resume(
            state,
            partial(_shrink_to_one, name=name),
            after_calls=after,
            clock=clock,
        )
        with platform:
            assert crashed
            info = platform.get_instance(name)
            assert [m.name for m in info.members] == ["mongodb-0"]
            assert sorted(e.name for e in info.endpoints) == ["mongodb-0", "replicaset"], after
            platform.remove_instance(name)
