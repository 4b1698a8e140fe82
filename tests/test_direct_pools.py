"""vSAN Direct as shared storage pools, and storage-pool anti-affinity between volumes."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpp_sdk as dpp
from dpp_sdk import testing
from dpp_sdk.contract import structure, unstructure, validate_document
from dpp_sdk.platform import ClusterConfig, Platform
from dpp_sdk.platform._cluster import GB_TOLERANCE, Cluster, PlacementError
from dpp_sdk.platform._config import HostSpec
from dpp_sdk.platform._placement import DirectVolume, PoolSpread, place_member, place_volume
from dpp_sdk.platform._policies import POLICIES
from dpp_sdk.platform._records import VolumeRecord

DIRECT = POLICIES["vsan-direct"]


def one_host(*direct_gb: float) -> Cluster:
    """A cluster of host esx-01 with direct disks of these sizes and no capacity disks."""
    spec = HostSpec(name="esx-01", fault_domain="esx-01", capacity_disks=[], direct_disks=direct_gb)
    return Cluster.from_config(ClusterConfig(hosts=[spec]))


def spread(cluster: Cluster, group: str, *, required: bool = True) -> PoolSpread:
    """The group's rule with the disks its volumes (named ``group-N``) are on now."""
    neighbours: dict[tuple[str, str], list[str]] = {}
    for volume in cluster.volumes():
        if volume.startswith(f"{group}-"):
            for c in cluster.components(volume):
                neighbours.setdefault((c.host, c.disk), []).append(volume)
    return PoolSpread(group=group, required=required, neighbours=neighbours)


def place(cluster: Cluster, name: str, size_gb: float, rule: PoolSpread | None) -> str:
    """Place and reserve direct volume ``name`` on esx-01; return its disk."""
    [placement] = place_volume(cluster, DIRECT, size_gb, host="esx-01", pool_spread=rule)
    cluster.reserve(name, [placement])
    return placement.disk


# --------------------------------------------------------------------------- placement


def test_a_required_group_puts_each_volume_on_its_own_direct_disk() -> None:
    """Even where one disk has the most free space, a required group avoids its own disks."""
    cluster = one_host(4000, 1000, 1000)
    disks = [place(cluster, f"g-{n}", 10, spread(cluster, "g")) for n in range(3)]
    assert disks == ["direct-0", "direct-1", "direct-2"]
    assert place(cluster, "other", 10, None) == "direct-0"  # no rule: most free space


def test_a_required_group_that_cannot_hold_fails_naming_the_group_and_each_disk() -> None:
    """With every disk that has room holding a volume of the group, placement fails with
    AntiAffinityUnsatisfiable, saying which volume of the group is on which disk."""
    cluster = one_host(1000, 1000, 5)
    for n in range(2):
        place(cluster, f"g-{n}", 10, spread(cluster, "g"))
    with pytest.raises(PlacementError) as caught:
        place(cluster, "g-2", 10, spread(cluster, "g"))
    assert caught.value.reason == "AntiAffinityUnsatisfiable"
    message = caught.value.message
    assert "storage-pool anti-affinity group 'g' (required)" in message
    assert "direct-0 990.0 GB free, holds 'g-0' of the group" in message
    assert "direct-1 990.0 GB free, holds 'g-1' of the group" in message
    assert "direct-2 5.0 GB free" in message
    assert cluster.volumes() == ["g-0", "g-1"]


def test_a_volume_too_big_for_every_pool_is_not_enough_resources_even_in_a_group() -> None:
    """When space is what is lacking, the reason says so, whatever the group."""
    cluster = one_host(100, 100)
    place(cluster, "g-0", 10, spread(cluster, "g"))
    with pytest.raises(PlacementError) as caught:
        place(cluster, "g-1", 101, spread(cluster, "g"))
    assert caught.value.reason == "NotEnoughResources"
    assert "needs 101.0 GB free on one healthy direct disk of host esx-01" in caught.value.message


def test_a_preferred_group_spreads_while_it_can_then_shares_the_least_crowded_disk() -> None:
    """Preferred anti-affinity spreads over the disks first, then doubles up evenly."""
    cluster = one_host(1000, 1000)
    rule = lambda: spread(cluster, "g", required=False)  # noqa: E731 - read fresh each time
    disks = [place(cluster, f"g-{n}", 10, rule()) for n in range(4)]
    assert disks == ["direct-0", "direct-1", "direct-0", "direct-1"]


def test_a_failed_direct_disk_takes_no_new_volumes() -> None:
    """Pools on failed disks are passed over, and said to be failed when nothing fits."""
    cluster = one_host(1000, 1000)
    cluster.disk("esx-01", "direct-0").state = "failed"
    assert place(cluster, "a", 10, None) == "direct-1"
    with pytest.raises(PlacementError, match=re.escape("direct-0 failed; direct-1 990.0 GB free")):
        place(cluster, "b", 991, None)


def test_a_member_whose_group_needs_more_disks_than_any_host_has_is_refused() -> None:
    """Five drives of one required group on hosts of four direct disks: no host can take the
    member, and the reason is the anti-affinity, not space."""
    cluster = Cluster.from_config(ClusterConfig.uniform(hosts=2, direct_disks_per_host=4))
    rule = PoolSpread(group="set-0")
    drives = [DirectVolume(name=f"drive-{n}", size_gb=10, spread=rule) for n in range(5)]
    with pytest.raises(PlacementError) as caught:
        place_member(cluster, existing={}, direct_volumes=drives)
    assert caught.value.reason == "AntiAffinityUnsatisfiable"
    assert "its direct volume 'drive-4' (10.0 GB) must not share a direct disk" in (
        caught.value.message
    )
    assert place_member(cluster, existing={}, direct_volumes=drives[:4]) == "esx-01"
    preferred = PoolSpread(group="set-0", required=False)
    loose = [DirectVolume(name=f"d-{n}", size_gb=10, spread=preferred) for n in range(5)]
    assert place_member(cluster, existing={}, direct_volumes=loose) == "esx-01"


def test_storage_pool_anti_affinity_on_a_distributed_policy_is_a_programming_error() -> None:
    """place_volume refuses a spread for a policy without storage pools."""
    cluster = Cluster.from_config(ClusterConfig.default())
    with pytest.raises(ValueError, match="applies to vsan-direct volumes only, not to vsan-sna"):
        place_volume(
            cluster, POLICIES["vsan-sna"], 10, host="esx-01", pool_spread=PoolSpread(group="g")
        )


@settings(max_examples=60, deadline=None)
@given(
    disks=st.lists(st.integers(1, 400), min_size=1, max_size=5),
    volumes=st.lists(
        st.tuples(st.integers(1, 150), st.sampled_from([None, "a", "b", "c"])),
        min_size=1,
        max_size=25,
    ),
    required=st.fixed_dictionaries({g: st.booleans() for g in "abc"}),
)
def test_pools_are_never_over_committed_and_required_groups_never_share_a_disk(
    disks: list[int], volumes: list[tuple[int, str | None]], required: dict[str, bool]
) -> None:
    """Random pool sizes, volume sizes and groups: every placement goes to the pool the rules
    rank first (fewest of its group for a preferred rule, then most free space), no pool
    holds more than its size, a required group never has two volumes on one disk, and a
    refusal happens only when no pool could take the volume."""
    cluster = one_host(*disks)
    for number, (size, group) in enumerate(volumes):
        rule = None if group is None else spread(cluster, group, required=required[group])
        crowd = {
            disk.name: len(rule.neighbours.get(("esx-01", disk.name), ())) if rule else 0
            for disk in cluster.disks_of("esx-01", "direct")
        }
        allowed = {
            name: cluster.disk_free_gb("esx-01", name)
            for name in crowd
            if cluster.disk_free_gb("esx-01", name) + GB_TOLERANCE >= size
            and not (rule and rule.required and crowd[name])
        }
        name = f"{group or 'none'}-{number}"
        try:
            disk = place(cluster, name, size, rule)
        except PlacementError:
            assert not allowed
            continue
        best = min(allowed, key=lambda d: (crowd[d], -allowed[d]))
        assert (crowd[disk], allowed[disk]) == (crowd[best], allowed[best])
    for disk in cluster.disks_of("esx-01", "direct"):
        assert disk.reserved_gb <= disk.size_gb + GB_TOLERANCE
        groups = [r.volume.split("-")[0] for r in disk.reservations]
        for group, strict in required.items():
            if strict:
                assert groups.count(group) <= 1


# --------------------------------------------------------------------------- the platform


# The default cluster (4 hosts with 4 direct disks of 1,000 GB) and the spread provider.
pytestmark = pytest.mark.dpp_platform("tests.providers:PoolSpreadProvider")


def drive_disks(dpp_platform: Platform, instance: str) -> list[tuple[str, str]]:
    """``(host, disk)`` of each drive of ``instance``, by drive name."""
    return [
        (v.components[0].host, v.components[0].disk)
        for v in instance_volumes(dpp_platform, instance)
    ]


def instance_volumes(dpp_platform: Platform, instance: str) -> tuple[dpp.VolumeInfo, ...]:
    return dpp_platform.get_instance(instance).volumes


def test_volumes_of_several_instances_share_a_direct_disk() -> None:
    """One direct disk holds volumes of two instances (it is a pool, not a volume's own)."""
    config = ClusterConfig.uniform(hosts=1, direct_disks_per_host=1, direct_disk_gb=100)
    with Platform.open(config=config) as dpp_platform:
        dpp_platform.register_service("tests.providers:PoolSpreadProvider")
        for name in ("s1", "s2"):
            dpp_platform.create_instance(
                service="spread", name=name, capacity_gb=40, parameters={"drives": 1}
            )
        assert (
            drive_disks(dpp_platform, "s1")
            == drive_disks(dpp_platform, "s2")
            == [("esx-01", "direct-0")]
        )
        [disk] = [d for d in dpp_platform.get_host("esx-01").disks if d.kind == "direct"]
        assert (disk.reserved_gb, disk.free_gb) == (80.0, 20.0)
        # The direct pools' own quota (80% of 100 GB) refuses a third before placement.
        with pytest.raises(dpp.QuotaExceeded, match="quota of the vSAN Direct pools"):
            dpp_platform.create_instance(
                service="spread", name="s3", capacity_gb=40, parameters={"drives": 1}
            )


def test_required_anti_affinity_puts_each_drive_on_its_own_disk(dpp_platform: Platform) -> None:
    """Four small drives that would fit on one disk land on four, and say their rule."""
    dpp_platform.create_instance(service="spread", name="s1", capacity_gb=10)
    placed = drive_disks(dpp_platform, "s1")
    assert len(set(placed)) == 4
    assert {v.pool_anti_affinity for v in instance_volumes(dpp_platform, "s1")} == {
        dpp.PoolAntiAffinity(group="disks", required=True)
    }


def test_a_required_rule_that_cannot_hold_fails_the_operation_and_leaves_nothing(
    dpp_platform: Platform,
) -> None:
    """Five drives of a required group on hosts of four disks: the operation fails with the
    reason, names the group, keeps no member or volume, and the next request goes through."""
    with pytest.raises(dpp.OperationFailed) as caught:
        dpp_platform.create_instance(
            service="spread", name="s1", capacity_gb=10, parameters={"drives": 5}
        )
    text = str(caught.value)
    assert "AntiAffinityUnsatisfiable" in text
    assert "member 'node-0' of 's1'" in text
    assert "storage-pool anti-affinity group 'disks' (required)" in text
    assert dpp_platform.resources().reserved_gb == 0
    assert dpp_platform.list_instances() == []
    dpp_platform.create_instance(
        service="spread", name="s1", capacity_gb=10, parameters={"drives": 4}
    )
    assert len(set(drive_disks(dpp_platform, "s1"))) == 4


def test_a_preferred_rule_shares_a_disk_only_when_it_must(dpp_platform: Platform) -> None:
    """Five drives of a preferred group on four disks: created, one disk holds two."""
    dpp_platform.create_instance(
        service="spread",
        name="s1",
        capacity_gb=10,
        parameters={"drives": 5, "spread": "preferred"},
    )
    placed = drive_disks(dpp_platform, "s1")
    assert len(placed) == 5
    assert len(set(placed)) == 4


def test_a_volume_ensured_later_keeps_away_from_its_group(dpp_platform: Platform) -> None:
    """volumes.ensure with pool_anti_affinity avoids the disks of the group's volumes, and a
    later member's claims see the earlier ones too."""
    dpp_platform.create_instance(
        service="spread", name="s1", capacity_gb=10, parameters={"drives": 3}
    )
    rule = dpp.PoolAntiAffinity(group="disks")
    ctx = testing.context(dpp_platform, "s1")
    info = ctx.volumes.ensure("drive-9", size_gb=10, member="node-0", pool_anti_affinity=rule)
    assert len(set(drive_disks(dpp_platform, "s1"))) == 4
    assert info.pool_anti_affinity == rule
    with pytest.raises(dpp.PlacementFailed, match="AntiAffinityUnsatisfiable"):
        ctx.volumes.ensure("drive-10", size_gb=10, member="node-0", pool_anti_affinity=rule)
    assert len(instance_volumes(dpp_platform, "s1")) == 4


def test_pool_anti_affinity_on_a_policy_without_pools_is_refused_naming_the_field() -> None:
    """A claim on vsan-sna (or any policy but vsan-direct) with a rule is a ValidationError
    naming the claim's field, the group and the policy; nothing is created."""
    with Platform.open() as dpp_platform:
        dpp_platform.register_service("tests.providers:KVProvider")
        dpp_platform.create_instance(service="kv", name="k1", capacity_gb=1, policy="vsan-sna")
        claim = dpp.VolumeClaim(
            name="extra", size_gb=1, pool_anti_affinity=dpp.PoolAntiAffinity(group="g")
        )
        with pytest.raises(dpp.ValidationError) as caught:
            testing.context(dpp_platform, "k1").members.ensure("kv-1", volumes=[claim])
        [problem] = caught.value.problems
        assert (problem.path, problem.value) == ("$.volumes[0].pool_anti_affinity", "g")
        assert "volume 'extra' has policy vsan-sna" in problem.message
        assert [m.name for m in dpp_platform.get_instance("k1").members] == ["kv-0"]


def test_malformed_pool_anti_affinity_is_refused_with_every_problem(dpp_platform: Platform) -> None:
    """An empty group, a non-boolean strength and a rule of the wrong type are all reported
    at once, each with its path and value."""
    dpp_platform.create_instance(
        service="spread", name="s1", capacity_gb=10, parameters={"drives": 1}
    )
    claims = (
        dpp.VolumeClaim(
            name="a",
            size_gb=1,
            pool_anti_affinity=dpp.PoolAntiAffinity(group="", required="yes"),  # type: ignore[arg-type]
        ),
        dpp.VolumeClaim(name="b", size_gb=1, pool_anti_affinity="set-0"),  # type: ignore[arg-type]
    )
    with pytest.raises(dpp.ValidationError) as caught:
        testing.context(dpp_platform, "s1").members.ensure("node-1", volumes=claims)
    found = {(p.path, p.value) for p in caught.value.problems}
    assert found == {
        ("$.volumes[0].pool_anti_affinity.required", "yes"),
        ("$.volumes[0].pool_anti_affinity.group", ""),
        ("$.volumes[1].pool_anti_affinity", "'set-0'"),
    }


def test_a_group_cannot_be_both_required_and_preferred(dpp_platform: Platform) -> None:
    """A claim whose group another volume of the instance holds with the other strength is
    refused, naming that volume."""
    dpp_platform.create_instance(
        service="spread", name="s1", capacity_gb=10, parameters={"drives": 1}
    )
    loose = dpp.PoolAntiAffinity(group="disks", required=False)
    with pytest.raises(dpp.ValidationError) as caught:
        testing.context(dpp_platform, "s1").volumes.ensure(
            "drive-5", size_gb=1, member="node-0", pool_anti_affinity=loose
        )
    [problem] = caught.value.problems
    assert problem.path == "$.volume.pool_anti_affinity.required"
    assert "volume 'drive-0' has storage-pool anti-affinity group 'disks' required" in (
        problem.message
    )


def test_volume_records_stored_before_pool_anti_affinity_still_load() -> None:
    """A stored volume without the field loads with no anti-affinity; one with it round-trips,
    and the instance document carrying it matches the instance schema."""
    old = {
        "id": "v-1",
        "instance": "s1",
        "name": "data",
        "size_gb": 10.0,
        "policy": "vsan-direct",
        "member": "node-0",
        "components": [
            {"index": 0, "role": "direct", "host": "esx-01", "disk": "direct-0", "reserved_gb": 10}
        ],
    }
    record = structure(old, VolumeRecord)
    assert record.pool_anti_affinity is None
    rule = dpp.PoolAntiAffinity(group="set-0", required=False)
    with_rule = structure({**old, "pool_anti_affinity": unstructure(rule)}, VolumeRecord)
    assert with_rule.pool_anti_affinity == rule
    with Platform.open() as dpp_platform:
        dpp_platform.register_service("tests.providers:PoolSpreadProvider")
        dpp_platform.create_instance(service="spread", name="s1", capacity_gb=10)
        validate_document("instance", unstructure(dpp_platform.get_instance("s1")))


def test_the_cluster_view_shows_each_pool_used_and_free(dpp_platform: Platform) -> None:
    """Hosts list each direct disk's reserved and free GB, as the resource report does."""
    dpp_platform.create_instance(service="spread", name="s1", capacity_gb=100)
    report = {(d.host, d.disk): (d.reserved_gb, d.free_gb) for d in dpp_platform.resources().disks}
    for host in dpp_platform.list_hosts():
        for disk in host.disks:
            assert (disk.reserved_gb, disk.free_gb) == report[host.name, disk.name]
    used = [d for d in dpp_platform.resources().disks if d.kind == "direct" and d.reserved_gb]
    assert [(d.reserved_gb, d.free_gb) for d in used] == [(100.0, 900.0)] * 4
