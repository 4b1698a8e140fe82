"""Cluster model, capacity accounting and placement of volumes and members."""

from __future__ import annotations

import json
import math
import pickle

import attrs
import cattrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpp_sdk.platform._cluster import (
    GB_TOLERANCE,
    STRIPE_GB,
    Cluster,
    ComponentPlacement,
    PlacementError,
    QuotaExceeded,
)
from dpp_sdk.platform._config import ClusterConfig, HostSpec, host_name
from dpp_sdk.platform._placement import (
    AntiAffinity,
    AntiAffinityScope,
    MemberPlacementInfo,
    check_quota,
    place_member,
    place_volume,
    pool_kind,
    replace_component,
)
from dpp_sdk.platform._policies import POLICIES, Policy

# Thick twins: these tests are about where reservations go (thin ones start at 0 GB).
DEFAULT = POLICIES["vsan-default-thick"]
RAID5 = POLICIES["vsan-raid5-thick"]
RAID6 = POLICIES["vsan-raid6-thick"]
SNA = POLICIES["vsan-sna-thick"]
DIRECT = POLICIES["vsan-direct"]
DISTRIBUTED = [DEFAULT, RAID5, RAID6]


def uniform(
    hosts: int = 4,
    *,
    capacity_disks_per_host: int = 2,
    capacity_disk_gb: float = 2000,
    direct_disks_per_host: int = 4,
) -> Cluster:
    return Cluster.from_config(
        ClusterConfig.uniform(
            hosts=hosts,
            capacity_disks_per_host=capacity_disks_per_host,
            capacity_disk_gb=capacity_disk_gb,
            direct_disks_per_host=direct_disks_per_host,
        )
    )


def domains_of(cluster: Cluster, placements: list[ComponentPlacement]) -> list[str]:
    return [cluster.fault_domain_of(p.host) for p in placements]


# -- strategies --------------------------------------------------------------------------------

disk_sizes = st.integers(50, 3000).map(float)


@st.composite
def clusters(draw: st.DrawFn, max_hosts: int = 8) -> Cluster:
    """Clusters of 1-8 hosts over 1-8 fault domains, some hosts down, some disks failed,
    some space already reserved."""
    count = draw(st.integers(1, max_hosts))
    racks = draw(st.integers(1, count))
    specs = [
        HostSpec(
            name=host_name(n),
            fault_domain=draw(
                st.sampled_from([host_name(n), *[f"rack-{r}" for r in range(racks)]])
            ),
            capacity_disks=draw(st.lists(disk_sizes, max_size=3)),
            direct_disks=draw(st.lists(disk_sizes, max_size=2)),
        )
        for n in range(1, count + 1)
    ]
    cluster = Cluster.from_config(ClusterConfig(hosts=specs))
    for host in cluster.hosts.values():
        host.state = draw(st.sampled_from(["connected"] * 4 + ["maintenance", "failed"]))
        for disk in host.disks.values():
            if draw(st.integers(0, 9)) == 0:
                disk.state = "failed"
            if disk.kind == "capacity" and draw(st.booleans()):
                used = draw(st.floats(0, 1)) * disk.size_gb
                filler = ComponentPlacement(
                    index=0, role="data", host=disk.host, disk=disk.name, reserved_gb=used
                )
                cluster.reserve(f"filler-{disk.host}-{disk.name}", [filler])
    return cluster


def feasible(cluster: Cluster, sizes: list[float]) -> bool:
    """Brute-force truth: can components of ``sizes`` go on distinct fault domains? A
    component fits on one disk with room, or, over 255 GB, striped over one host's disks."""
    best: dict[str, float] = {}
    striped = max(sizes) > STRIPE_GB + GB_TOLERANCE
    for domain, hosts in cluster.fault_domains().items():
        by_host = [
            [
                cluster.free_on(disk)
                for disk in cluster.hosts[host].disks.values()
                if disk.kind == "capacity" and cluster.disk_available(disk)
            ]
            for host in hosts
        ]
        frees = [free for host in by_host for free in host]
        if frees:
            best[domain] = max(frees)
            if striped:
                best[domain] = max(best[domain], *(math.fsum(host) for host in by_host))
    data = [s for s in sizes if s > 0]
    roomy = sum(1 for free in best.values() if free + GB_TOLERANCE >= max(sizes))
    return roomy >= len(data) and len(best) >= len(sizes)


# -- the cluster model -------------------------------------------------------------------------


def test_a_cluster_from_the_default_config_has_named_hosts_and_disks() -> None:
    """Hosts esx-01..04, each with cap-0, cap-1 and direct-0..3, all connected and healthy."""
    cluster = Cluster.from_config(ClusterConfig.default())
    assert list(cluster.hosts) == ["esx-01", "esx-02", "esx-03", "esx-04"]
    host = cluster.host("esx-02")
    assert list(host.disks) == ["cap-0", "cap-1", "direct-0", "direct-1", "direct-2", "direct-3"]
    assert host.state == "connected"
    disk = cluster.disk("esx-02", "direct-3")
    assert (disk.host, disk.kind, disk.size_gb, disk.state) == (
        "esx-02",
        "direct",
        1000.0,
        "healthy",
    )
    assert disk.reserved_gb == 0.0
    assert cluster.raw_capacity_gb() == 4 * (2 * 2000 + 4 * 1000)
    assert cluster.raw_capacity_gb("capacity") == 16_000
    assert cluster.quota_gb() == 0.8 * 16_000  # the vSAN datastore: capacity disks only
    assert cluster.quota_gb("direct") == 0.8 * 16_000


def test_fault_domains_group_hosts_per_config() -> None:
    """fault_domains() maps each fault domain to its hosts (default: one per host)."""
    specs = [
        HostSpec(
            name=host_name(n),
            fault_domain="rack-b" if n > 2 else host_name(n),
            capacity_disks=[100],
        )
        for n in range(1, 5)
    ]
    cluster = Cluster.from_config(ClusterConfig(hosts=specs))
    assert cluster.fault_domains() == {
        "esx-01": ["esx-01"],
        "esx-02": ["esx-02"],
        "rack-b": ["esx-03", "esx-04"],
    }


def test_unknown_hosts_and_disks_are_named_in_the_error() -> None:
    """Looking up a host or disk that does not exist says what does."""
    cluster = uniform()
    with pytest.raises(KeyError, match=r"esx-09.*esx-01"):
        cluster.host("esx-09")
    with pytest.raises(KeyError, match=r"cap-7.*cap-0"):
        cluster.disk("esx-01", "cap-7")


def test_failed_disks_and_hosts_that_are_not_connected_offer_no_free_space() -> None:
    """Free space counts only what a new placement could use; raw capacity is unchanged."""
    cluster = uniform(direct_disks_per_host=0)
    before = cluster.free_gb()
    cluster.disk("esx-01", "cap-0").state = "failed"
    cluster.host("esx-02").state = "maintenance"
    cluster.host("esx-03").state = "failed"
    assert cluster.disk_free_gb("esx-01", "cap-0") == 0.0
    assert cluster.host_free_gb("esx-01") == 2000.0
    assert cluster.host_free_gb("esx-02") == 0.0
    assert cluster.host_free_gb("esx-03") == 0.0
    assert cluster.free_gb() == before - 2000 - 4000 - 4000
    assert cluster.raw_capacity_gb() == 16_000


def test_capacity_warning_fires_at_the_configured_pool_percentage() -> None:
    """capacity_warning() turns on once the pool's reserved share reaches the threshold."""
    cluster = uniform(
        hosts=1, capacity_disks_per_host=1, capacity_disk_gb=100, direct_disks_per_host=0
    )
    cluster.reserve(
        "v",
        [ComponentPlacement(index=0, role="local", host="esx-01", disk="cap-0", reserved_gb=79)],
    )
    assert not cluster.capacity_warning()
    cluster.reserve(
        "v",
        [ComponentPlacement(index=0, role="local", host="esx-01", disk="cap-0", reserved_gb=80)],
    )
    assert cluster.pool_used_percent() == 80.0
    assert cluster.capacity_warning()


def test_reserving_again_resizes_or_moves_a_component() -> None:
    """Reserving an existing (volume, index) replaces it: expansion in place, or a move."""
    cluster = uniform()
    first = ComponentPlacement(index=0, role="local", host="esx-01", disk="cap-0", reserved_gb=10)
    cluster.reserve("v", [first])
    cluster.reserve("v", [attrs.evolve(first, reserved_gb=25)])
    assert cluster.disk("esx-01", "cap-0").reserved_gb == 25
    cluster.reserve("v", [attrs.evolve(first, host="esx-02", reserved_gb=25)])
    assert cluster.disk("esx-01", "cap-0").reserved_gb == 0
    assert cluster.components("v") == [attrs.evolve(first, host="esx-02", reserved_gb=25)]
    assert cluster.reserved_gb() == 25


def test_a_reservation_that_does_not_fit_changes_nothing() -> None:
    """reserve is all or nothing: one component too big refuses the whole request."""
    cluster = uniform(capacity_disk_gb=100)
    parts = [
        ComponentPlacement(index=0, role="replica", host="esx-01", disk="cap-0", reserved_gb=60),
        ComponentPlacement(index=1, role="replica", host="esx-02", disk="cap-0", reserved_gb=160),
    ]
    with pytest.raises(PlacementError) as caught:
        cluster.reserve("v", parts)
    assert caught.value.reason == "NotEnoughResources"
    assert "esx-02/cap-0" in caught.value.message
    assert cluster.reserved_gb() == 0


def test_release_is_idempotent_and_returns_what_it_freed() -> None:
    """Releasing a volume frees its reservations once; a second release frees nothing."""
    cluster = uniform()
    cluster.reserve("v", place_volume(cluster, DEFAULT, 100))
    assert cluster.volumes() == ["v"]
    assert cluster.release("v") == 200
    assert cluster.release("v") == 0
    assert cluster.reserved_gb() == 0
    assert cluster.volumes() == []


def test_cluster_state_round_trips_through_cattrs_and_json() -> None:
    """to_dict/from_dict (and plain cattrs) preserve host states, disk states and reservations."""
    cluster = uniform()
    cluster.reserve("a", place_volume(cluster, RAID5, 300))
    cluster.reserve("b", place_volume(cluster, DIRECT, 500, host="esx-02"))
    cluster.host("esx-03").state = "maintenance"
    cluster.disk("esx-04", "cap-1").state = "failed"
    data = json.loads(json.dumps(cluster.to_dict()))
    assert Cluster.from_dict(data) == cluster
    assert cattrs.structure(cattrs.unstructure(cluster), Cluster) == cluster
    assert [c.disk for c in Cluster.from_dict(data).components("b")] == ["direct-0"]


def test_a_snapshot_with_inconsistent_names_is_refused() -> None:
    """A host filed under another host's name is rejected when the snapshot is loaded."""
    data = uniform().to_dict()
    data["hosts"]["esx-01"]["name"] = "esx-02"
    with pytest.raises(ValueError, match="'esx-02' is filed under the key 'esx-01'"):
        Cluster.from_dict(data)


def test_a_snapshot_with_bad_values_lists_every_problem_with_its_path() -> None:
    """Invalid states and sizes are reported together, each with its JSON path."""
    data = uniform().to_dict()
    data["hosts"]["esx-01"]["state"] = "asleep"
    data["hosts"]["esx-02"]["disks"]["cap-0"]["size_gb"] = "big"
    with pytest.raises(ValueError, match="invalid cluster snapshot") as caught:
        Cluster.from_dict(data)
    message = str(caught.value)
    assert "asleep" in message
    assert "$.hosts['esx-01'].state" in message
    assert "$.hosts['esx-02'].disks['cap-0'].size_gb" in message


@settings(max_examples=40, deadline=None)
@given(cluster=clusters())
def test_any_cluster_state_round_trips_through_json(cluster: Cluster) -> None:
    """Whatever the states and reservations, the JSON snapshot rebuilds an equal cluster."""
    assert Cluster.from_dict(json.loads(json.dumps(cluster.to_dict()))) == cluster


# -- capacity accounting -----------------------------------------------------------------------

# (what, policy, size in GB, number): "create" a volume of ``policy`` and ``size`` on host
# ``number % 4 + 1``; "release" or "expand" (by ``size / 5``) the ``number``-th live volume.
operations = st.lists(
    st.tuples(
        st.sampled_from(["create", "create", "release", "expand"]),
        st.sampled_from(list(POLICIES.values())),
        st.integers(1, 2500).map(float),
        st.integers(0, 30),
    ),
    max_size=30,
)


@settings(max_examples=60, deadline=None)
@given(ops=operations, quota=st.integers(1, 100))
def test_reserved_always_equals_the_live_reservations_and_stays_within_quota(
    ops: list[tuple[str, Policy, float, int]], quota: int
) -> None:
    """After any sequence of quota-checked reserves, expansions and releases, reserved is the
    sum of the live volumes' raw use, no disk is over-reserved, and the quota is never passed."""
    cluster = Cluster.from_config(attrs.evolve(ClusterConfig.default(), resource_quota=quota))
    live: dict[str, float] = {}
    sizes: dict[str, float] = {}
    policies: dict[str, Policy] = {}
    for step, (what, policy, size, number) in enumerate(ops):
        if what == "create":
            try:
                placements = place_volume(cluster, policy, size, host=host_name(number % 4 + 1))
                check_quota(cluster, policy.raw_gb(size), pool_kind(policy))
            except (PlacementError, QuotaExceeded):
                continue
            name = f"v{step}"
            cluster.reserve(name, placements)
            live[name] = math.fsum(p.reserved_gb for p in placements)
            sizes[name], policies[name] = size, policy
        elif live:
            name = sorted(live)[number % len(live)]
            if what == "release":
                assert math.isclose(cluster.release(name), live.pop(name), abs_tol=1e-6)
            else:
                new_size = sizes[name] + size / 5
                grown = [
                    attrs.evolve(p, reserved_gb=s)
                    for p, s in zip(
                        cluster.components(name),
                        policies[name].component_sizes_gb(new_size),
                        strict=True,
                    )
                ]
                extra = math.fsum(p.reserved_gb for p in grown) - live[name]
                try:
                    check_quota(cluster, extra, pool_kind(policies[name]))
                    cluster.reserve(name, grown)
                except (PlacementError, QuotaExceeded):
                    continue
                live[name] += extra
                sizes[name] = new_size
        assert math.isclose(cluster.reserved_gb(), math.fsum(live.values()), abs_tol=1e-6)
        for kind in ("capacity", "direct"):  # each pool kind has its own quota
            assert cluster.reserved_gb(kind) <= cluster.quota_gb(kind) + 1e-6
        for disk in cluster.disks():
            assert disk.reserved_gb <= disk.size_gb + 1e-6
            assert disk.kind == "capacity" or len(disk.reservations) <= 1
    assert cluster.volumes() == sorted(live)


def test_check_quota_reports_used_asked_and_left() -> None:
    """QuotaExceeded carries used/asked/left/quota GB and says them in its message."""
    cluster = uniform(direct_disks_per_host=0)  # 16,000 GB raw, 12,800 GB quota
    for n in range(6):
        cluster.reserve(f"v{n}", place_volume(cluster, DEFAULT, 1000))
    check_quota(cluster, 800)
    with pytest.raises(QuotaExceeded) as caught:
        check_quota(cluster, 800.5)
    error = caught.value
    assert (error.used_gb, error.asked_gb, error.left_gb, error.quota_gb) == (
        12_000,
        800.5,
        800,
        12_800,
    )
    for figure in ("12,000.0 GB", "800.5 GB", "800.0 GB", "12,800.0 GB"):
        assert figure in str(error)
    assert pickle.loads(pickle.dumps(error)).left_gb == 800


# -- volume placement --------------------------------------------------------------------------


@settings(max_examples=100, deadline=None)
@given(
    cluster=clusters(),
    policy=st.sampled_from(DISTRIBUTED),
    size=st.integers(1, 4000).map(float),
)
def test_components_of_a_fault_tolerant_volume_never_share_a_fault_domain(
    cluster: Cluster, policy: Policy, size: float
) -> None:
    """FTT>=1 volumes get one component per distinct fault domain, on connected hosts and
    healthy disks with room, or a PlacementError exactly when that is impossible."""
    sizes = policy.component_sizes_gb(size)
    if not feasible(cluster, sizes):
        structural = sum(
            1
            for hosts in cluster.fault_domains().values()
            if any(d.kind == "capacity" for h in hosts for d in cluster.hosts[h].disks.values())
        )
        expected = "PolicyUnsatisfiable" if structural < len(sizes) else "NotEnoughResources"
        with pytest.raises(PlacementError) as caught:
            place_volume(cluster, policy, size)
        assert caught.value.reason == expected
        return
    placements = place_volume(cluster, policy, size)
    domains = domains_of(cluster, placements)
    assert len(set(domains)) == len(domains) == policy.fault_domains_needed
    assert [p.index for p in placements] == list(range(len(sizes)))
    assert [p.role for p in placements] == policy.component_roles()
    for placement, wanted in zip(placements, sizes, strict=True):
        disk = cluster.disk(placement.host, placement.disk)
        assert disk.kind == "capacity"
        assert cluster.disk_available(disk)
        assert placement.reserved_gb == wanted
    assert place_volume(cluster, policy, size) == placements
    cluster.reserve("v", placements)  # fits: reserve's own checks pass


def test_raid6_on_four_fault_domains_is_policy_unsatisfiable() -> None:
    """vsan-raid6 needs 6 fault domains; the default 4-host cluster is refused with a reason."""
    with pytest.raises(PlacementError) as caught:
        place_volume(uniform(), RAID6, 100)
    error = caught.value
    assert error.reason == "PolicyUnsatisfiable"
    assert "needs 6 fault domains" in error.message
    assert "has 4: esx-01, esx-02, esx-03, esx-04" in error.message


def test_hosts_sharing_a_fault_domain_count_once() -> None:
    """Six hosts in three racks are three fault domains: enough for a mirror, not for raid5."""
    specs = [
        HostSpec(name=host_name(n), fault_domain=f"rack-{(n - 1) // 2}", capacity_disks=[1000])
        for n in range(1, 7)
    ]
    cluster = Cluster.from_config(ClusterConfig(hosts=specs))
    assert len(set(domains_of(cluster, place_volume(cluster, DEFAULT, 100)))) == 3
    with pytest.raises(PlacementError) as caught:
        place_volume(cluster, RAID5, 100)
    assert caught.value.reason == "PolicyUnsatisfiable"


def test_a_host_in_maintenance_leaves_too_few_usable_fault_domains() -> None:
    """raid5 on 4 hosts with one in maintenance is NotEnoughResources, naming that host."""
    cluster = uniform()
    cluster.host("esx-04").state = "maintenance"
    with pytest.raises(PlacementError) as caught:
        place_volume(cluster, RAID5, 300)
    assert caught.value.reason == "NotEnoughResources"
    assert "esx-04 is in maintenance" in caught.value.message
    assert "only 3 qualify: esx-01, esx-02, esx-03" in caught.value.message


def test_a_replica_too_big_for_any_disk_is_striped_across_the_disks_of_one_host() -> None:
    """A 2,500 GB RAID-1 volume fits on 2,000 GB disks: each replica is cut into 255 GB
    pieces spread over the two disks of one host, no disk holding more than it has."""
    cluster = uniform()
    placed = place_volume(cluster, DEFAULT, 2500)
    cluster.reserve("v", placed)
    replicas = [c for c in placed if c.role == "replica"]
    assert len({c.host for c in placed}) == 3
    for c in replicas:
        assert [s.disk for s in c.stripes] == ["cap-0", "cap-1"]
        assert math.fsum(s.size_gb for s in c.stripes) == 2500
        assert all(s.size_gb <= 2000 for s in c.stripes)
        assert [d.reserved_gb for d in cluster.disks_of(c.host, "capacity")] == [
            s.size_gb for s in c.stripes
        ]
    assert cluster.components("v") == placed


def test_a_volume_too_big_for_any_host_is_not_enough_resources() -> None:
    """Without a host whose disks can hold a replica between them, the mirror is refused,
    never degraded."""
    with pytest.raises(PlacementError) as caught:
        place_volume(uniform(), DEFAULT, 4500)
    assert caught.value.reason == "NotEnoughResources"
    assert "4,500.0 GB free" in caught.value.message


def test_the_witness_needs_a_fault_domain_but_no_space() -> None:
    """A mirror fits when only two fault domains have room, if a third can hold the witness."""
    cluster = uniform(
        hosts=3, capacity_disks_per_host=1, capacity_disk_gb=1000, direct_disks_per_host=0
    )
    full = ComponentPlacement(index=0, role="data", host="esx-02", disk="cap-0", reserved_gb=1000)
    cluster.reserve("full", [full])
    placements = place_volume(cluster, DEFAULT, 900)
    witness = placements[2]
    assert (witness.role, witness.host, witness.reserved_gb) == ("witness", "esx-02", 0.0)


def test_volumes_spread_to_the_least_loaded_fault_domains() -> None:
    """Successive mirrors rotate over the hosts instead of piling onto the first three."""
    cluster = uniform()
    used: dict[str, int] = {}
    for n in range(4):
        placements = place_volume(cluster, DEFAULT, 100)
        cluster.reserve(f"v{n}", placements)
        for p in placements:
            if p.reserved_gb:
                used[p.host] = used.get(p.host, 0) + 1
    assert used == {"esx-01": 2, "esx-02": 2, "esx-03": 2, "esx-04": 2}


def test_avoided_fault_domains_and_excluded_disks_are_not_used() -> None:
    """place_volume honours avoid_fault_domains, avoid_hosts and exclude_disks."""
    cluster = uniform(hosts=5)
    placements = place_volume(
        cluster,
        DEFAULT,
        100,
        avoid_fault_domains={"esx-01"},
        avoid_hosts={"esx-02"},
        exclude_disks={("esx-03", "cap-0")},
    )
    assert {p.host for p in placements} == {"esx-03", "esx-04", "esx-05"}
    assert ("esx-03", "cap-0") not in {(p.host, p.disk) for p in placements}


def test_sna_volume_goes_on_the_members_host_disk_with_most_free_space() -> None:
    """vsan-sna places one local component on the given host's emptiest capacity disk."""
    cluster = uniform()
    cluster.reserve(
        "x", [ComponentPlacement(index=0, role="local", host="esx-02", disk="cap-0", reserved_gb=5)]
    )
    [placement] = place_volume(cluster, SNA, 100, host="esx-02")
    assert (placement.host, placement.disk, placement.role, placement.reserved_gb) == (
        "esx-02",
        "cap-1",
        "local",
        100.0,
    )


@pytest.mark.parametrize("policy", [SNA, DIRECT])
def test_host_bound_policies_need_a_connected_host(policy: Policy) -> None:
    """Without a host it is PolicyUnsatisfiable; on a host in maintenance NotEnoughResources."""
    cluster = uniform()
    with pytest.raises(PlacementError) as caught:
        place_volume(cluster, policy, 10)
    assert caught.value.reason == "PolicyUnsatisfiable"
    cluster.host("esx-01").state = "maintenance"
    with pytest.raises(PlacementError) as caught:
        place_volume(cluster, policy, 10, host="esx-01")
    assert caught.value.reason == "NotEnoughResources"
    assert "esx-01 is in maintenance" in caught.value.message


def test_direct_volumes_share_the_direct_disks_as_storage_pools() -> None:
    """Direct volumes go to the pool with the most free space, several to a disk; a pool's
    free space is its size minus its volumes, and a volume no pool has room for is refused."""
    cluster = uniform()
    for n in range(6):
        cluster.reserve(f"d{n}", place_volume(cluster, DIRECT, 100, host="esx-01"))
    on_disk = {n: cluster.components(f"d{n}")[0].disk for n in range(6)}
    assert on_disk == {0: "direct-0", 1: "direct-1", 2: "direct-2", 3: "direct-3"} | {
        4: "direct-0",
        5: "direct-1",
    }
    assert cluster.disk_free_gb("esx-01", "direct-0") == 800
    assert cluster.disk_free_gb("esx-01", "direct-2") == 900
    assert cluster.host_free_gb("esx-01", "direct") == 3400
    with pytest.raises(PlacementError) as caught:
        place_volume(cluster, DIRECT, 901, host="esx-01")
    assert caught.value.reason == "NotEnoughResources"
    assert "needs 901.0 GB free on one healthy direct disk of host esx-01" in caught.value.message
    assert "direct-0 800.0 GB free; direct-1 800.0 GB free; direct-2 900.0 GB free" in (
        caught.value.message
    )
    cluster.release("d2")
    assert place_volume(cluster, DIRECT, 901, host="esx-01")[0].disk == "direct-2"


def test_a_direct_disk_holds_reservations_of_several_volumes_up_to_its_size() -> None:
    """reserve lets volumes share a direct disk and refuses only what passes its size."""
    cluster = uniform()
    slot = ComponentPlacement(
        index=0, role="direct", host="esx-01", disk="direct-0", reserved_gb=10
    )
    cluster.reserve("mine", [slot])
    cluster.reserve("theirs", [slot])
    assert cluster.disk("esx-01", "direct-0").reserved_gb == 20
    cluster.reserve("mine", [attrs.evolve(slot, reserved_gb=990)])  # growing in place is fine
    with pytest.raises(PlacementError, match=r"only 990\.0 GB of it is not reserved by other"):
        cluster.reserve("mine", [attrs.evolve(slot, reserved_gb=991)])


def test_direct_placement_picks_the_pool_with_the_most_free_space() -> None:
    """Among direct disks with room, the one with the most free space is taken, whatever
    its size."""
    specs = [
        HostSpec(
            name="esx-01", fault_domain="esx-01", capacity_disks=[], direct_disks=[4000, 500, 1000]
        )
    ]
    cluster = Cluster.from_config(ClusterConfig(hosts=specs))
    assert place_volume(cluster, DIRECT, 600, host="esx-01")[0].disk == "direct-0"
    cluster.reserve("big", place_volume(cluster, DIRECT, 3500, host="esx-01"))
    assert place_volume(cluster, DIRECT, 10, host="esx-01")[0].disk == "direct-2"
    assert place_volume(cluster, DIRECT, 600, host="esx-01")[0].disk == "direct-2"


def test_a_host_without_direct_disks_cannot_satisfy_vsan_direct() -> None:
    """No direct disk at all on the host is PolicyUnsatisfiable."""
    cluster = uniform(direct_disks_per_host=0)
    with pytest.raises(PlacementError) as caught:
        place_volume(cluster, DIRECT, 10, host="esx-01")
    assert caught.value.reason == "PolicyUnsatisfiable"


def test_a_lost_component_is_rebuilt_in_a_fault_domain_the_others_do_not_use() -> None:
    """replace_component moves a component off a failed disk, away from its siblings."""
    cluster = uniform(hosts=5)
    placements = place_volume(cluster, DEFAULT, 100)
    cluster.reserve("v", placements)
    lost = placements[0]
    cluster.disk(lost.host, lost.disk).state = "failed"
    cluster.host(lost.host).state = "failed"
    new = replace_component(cluster, DEFAULT, cluster.components("v"), 0)
    others = {cluster.fault_domain_of(p.host) for p in placements[1:]}
    assert cluster.fault_domain_of(new.host) not in others
    assert (new.index, new.role, new.reserved_gb) == (0, "replica", 100)
    cluster.reserve("v", [new])
    assert len({cluster.fault_domain_of(p.host) for p in cluster.components("v")}) == 3


def test_a_component_may_be_rebuilt_on_another_disk_of_its_own_host() -> None:
    """After a disk failure, the same fault domain is fine if another disk there qualifies."""
    cluster = uniform(hosts=3)
    placements = place_volume(cluster, DEFAULT, 100)
    cluster.reserve("v", placements)
    lost = placements[1]
    cluster.disk(lost.host, lost.disk).state = "failed"
    new = replace_component(cluster, DEFAULT, placements, 1)
    assert new.host == lost.host
    assert new.disk != lost.disk


def test_rebuild_without_a_spare_fault_domain_fails_with_a_reason() -> None:
    """With every other fault domain taken and the own host down, nothing can be rebuilt."""
    cluster = uniform(hosts=3)
    placements = place_volume(cluster, DEFAULT, 100)
    cluster.host(placements[0].host).state = "failed"
    with pytest.raises(PlacementError) as caught:
        replace_component(cluster, DEFAULT, placements, 0)
    assert caught.value.reason == "NotEnoughResources"


def test_placement_error_survives_pickling() -> None:
    """PlacementError keeps its reason and message through pickle."""
    error = pickle.loads(pickle.dumps(PlacementError("PolicyUnsatisfiable", "why")))
    assert (error.reason, error.message, str(error)) == (
        "PolicyUnsatisfiable",
        "why",
        "PolicyUnsatisfiable: why",
    )


# -- member placement --------------------------------------------------------------------------


@st.composite
def members(draw: st.DrawFn, cluster: Cluster) -> dict[str, MemberPlacementInfo]:
    hosts = sorted(cluster.hosts)
    count = draw(st.integers(0, 6))
    return {
        f"m{n}": MemberPlacementInfo(
            host=draw(st.sampled_from(hosts)), group=draw(st.sampled_from(["g", "other", None]))
        )
        for n in range(count)
    }


@settings(max_examples=100, deadline=None)
@given(data=st.data(), scope=st.sampled_from(["host", "fault-domain"]))
def test_required_anti_affinity_never_co_locates(
    data: st.DataObject, scope: AntiAffinityScope
) -> None:
    """With required anti-affinity, the chosen host never shares its host (or fault domain)
    with another member of the group; when no host qualifies, AntiAffinityUnsatisfiable or
    NotEnoughResources is raised."""
    cluster = data.draw(clusters())
    existing = data.draw(members(cluster))
    rule = AntiAffinity(group="g", required=True, scope=scope)

    def near(member: MemberPlacementInfo, host: str) -> bool:
        if scope == "host":
            return member.host == host
        return cluster.fault_domain_of(member.host) == cluster.fault_domain_of(host)

    free = [
        host
        for host in cluster.hosts
        if cluster.hosts[host].connected
        and not any(m.group == "g" and near(m, host) for m in existing.values())
    ]
    if not free:
        with pytest.raises(PlacementError) as caught:
            place_member(cluster, existing=existing, host=None, anti_affinity=rule)
        assert caught.value.reason in ("AntiAffinityUnsatisfiable", "NotEnoughResources")
        return
    chosen = place_member(cluster, existing=existing, host=None, anti_affinity=rule)
    assert chosen in free
    assert cluster.host(chosen).connected
    for member in existing.values():
        if member.group == "g":
            assert member.host != chosen
            if scope == "fault-domain":
                assert cluster.fault_domain_of(member.host) != cluster.fault_domain_of(chosen)


def test_required_anti_affinity_fails_when_every_host_has_a_group_member() -> None:
    """Four members of a group on four hosts leave no host for a fifth."""
    cluster = uniform()
    existing = {f"db-{n}": MemberPlacementInfo(host=host_name(n + 1), group="db") for n in range(4)}
    with pytest.raises(PlacementError) as caught:
        place_member(cluster, existing=existing, host=None, anti_affinity=AntiAffinity(group="db"))
    assert caught.value.reason == "AntiAffinityUnsatisfiable"
    assert "'db-2'" in caught.value.message


def test_preferred_anti_affinity_spreads_when_it_can() -> None:
    """A preferred rule is honoured while a free host exists."""
    cluster = uniform()
    existing = {"db-0": MemberPlacementInfo(host="esx-01", group="db")}
    rule = AntiAffinity(group="db", required=False)
    assert place_member(cluster, existing=existing, host=None, anti_affinity=rule) == "esx-02"


def test_preferred_anti_affinity_falls_back_to_the_host_with_fewest_group_members() -> None:
    """When every host has a group member, the one with the fewest is chosen."""
    cluster = uniform()
    existing = {
        "a": MemberPlacementInfo(host="esx-01", group="db"),
        "b": MemberPlacementInfo(host="esx-01", group="db"),
        "c": MemberPlacementInfo(host="esx-02", group="db"),
        "d": MemberPlacementInfo(host="esx-02", group="db"),
        "e": MemberPlacementInfo(host="esx-03", group="db"),
        "f": MemberPlacementInfo(host="esx-04", group="db"),
        "g": MemberPlacementInfo(host="esx-04", group="db"),
    }
    rule = AntiAffinity(group="db", required=False)
    assert place_member(cluster, existing=existing, host=None, anti_affinity=rule) == "esx-03"


def test_fault_domain_scope_keeps_members_out_of_the_whole_rack() -> None:
    """Scope fault-domain excludes every host of a rack holding a group member."""
    specs = [
        HostSpec(
            name=host_name(n), fault_domain="rack-a" if n <= 2 else "rack-b", capacity_disks=[100]
        )
        for n in range(1, 5)
    ]
    cluster = Cluster.from_config(ClusterConfig(hosts=specs))
    existing = {"db-0": MemberPlacementInfo(host="esx-01", group="db")}
    rule = AntiAffinity(group="db", scope="fault-domain")
    assert place_member(cluster, existing=existing, host=None, anti_affinity=rule) == "esx-03"


def test_a_pinned_host_is_honoured_or_the_reason_is_given() -> None:
    """Pinning wins over preference, but not over a required rule or a host that is down."""
    cluster = uniform()
    existing = {"db-0": MemberPlacementInfo(host="esx-01", group="db")}
    preferred = AntiAffinity(group="db", required=False)
    assert (
        place_member(cluster, existing=existing, host="esx-01", anti_affinity=preferred) == "esx-01"
    )
    with pytest.raises(PlacementError) as caught:
        place_member(
            cluster, existing=existing, host="esx-01", anti_affinity=AntiAffinity(group="db")
        )
    assert caught.value.reason == "AntiAffinityUnsatisfiable"
    assert "esx-01" in caught.value.message
    cluster.host("esx-02").state = "failed"
    with pytest.raises(PlacementError) as caught:
        place_member(cluster, existing={}, host="esx-02", anti_affinity=None)
    assert caught.value.reason == "NotEnoughResources"
    assert "esx-02 is failed" in caught.value.message


def test_members_spread_over_the_least_loaded_hosts() -> None:
    """Without anti-affinity, new members still go where the instance has fewest members."""
    cluster = uniform()
    existing: dict[str, MemberPlacementInfo] = {}
    for n in range(8):
        chosen = place_member(cluster, existing=existing, host=None, anti_affinity=None)
        existing[f"m{n}"] = MemberPlacementInfo(host=chosen)
    hosts = [m.host for m in existing.values()]
    assert {h: hosts.count(h) for h in hosts} == {host_name(n): 2 for n in range(1, 5)}


def test_a_member_goes_where_its_volumes_fit() -> None:
    """Hosts without room for the member's host-local or direct volumes are passed over."""
    cluster = uniform()
    for disk in ("cap-0", "cap-1"):
        cluster.reserve(
            f"fill-{disk}",
            [ComponentPlacement(index=0, role="local", host="esx-01", disk=disk, reserved_gb=1950)],
        )
    assert (
        place_member(cluster, existing={}, host=None, anti_affinity=None, local_volume_gb=100)
        == "esx-02"
    )
    for n in range(4):
        cluster.reserve(f"d{n}", place_volume(cluster, DIRECT, 600, host="esx-02"))
    chosen = place_member(
        cluster, existing={}, host=None, anti_affinity=None, direct_volumes=[500, 500]
    )
    assert chosen == "esx-03"
    assert (
        place_member(cluster, existing={}, host=None, anti_affinity=None, direct_volumes=[400] * 4)
        == "esx-02"
    )
    with pytest.raises(PlacementError) as caught:
        place_member(
            cluster, existing={}, host="esx-01", anti_affinity=None, local_volume_gb=[60, 60]
        )
    assert caught.value.reason == "NotEnoughResources"
    assert "host-local" in caught.value.message


def test_a_member_that_fits_nowhere_is_not_enough_resources() -> None:
    """Five 600 GB direct volumes on hosts of four 1,000 GB pools (each holds one): refused,
    with every host's reason."""
    with pytest.raises(PlacementError) as caught:
        place_member(
            uniform(), existing={}, host=None, anti_affinity=None, direct_volumes=[600] * 5
        )
    assert caught.value.reason == "NotEnoughResources"
    for n in range(1, 5):
        assert f"{host_name(n)}:" in caught.value.message


@pytest.mark.parametrize(("hosts", "racks", "nodes"), [(6, 3, 3), (6, 3, 6), (9, 3, 5), (8, 4, 4)])
def test_distinct_hosts_required_and_racks_preferred_spread_members_evenly_over_racks(
    hosts: int, racks: int, nodes: int
) -> None:
    """Issue 10 #3: two rules on one member; every rack gets its share before any gets more."""
    from dpp_sdk import testing

    # Racks hold neighbouring hosts (esx-01 and esx-02 in rack-1, ...): the load order alone
    # would fill a rack before the next.
    base = testing.cluster(hosts=hosts, direct_disks=0)
    per_rack = hosts // racks
    config = attrs.evolve(
        base,
        hosts=[
            attrs.evolve(spec, fault_domain=f"rack-{(n // per_rack) + 1}")
            for n, spec in enumerate(base.hosts)
        ],
    )
    with testing.open_platform("tests.providers:RackAwareProvider", config=config) as p:
        p.create_instance(
            service="rack-aware", name="r1", capacity_gb=1, parameters={"nodes": nodes}
        )
        info = p.get_instance("r1")
        domains = {h.name: h.fault_domain for h in p.list_hosts()}
        placed = [domains[m.host] for m in info.members]
        assert len({m.host for m in info.members}) == nodes
        counts = sorted(placed.count(f"rack-{r}") for r in range(1, racks + 1))
        assert counts[-1] - counts[0] <= 1, placed
        assert {len(m.anti_affinities) for m in info.members} == {2}


def test_several_rules_are_each_checked_naming_the_bad_one() -> None:
    """A list of rules is checked rule by rule, each problem at its index."""
    from dpp_sdk.contract import AntiAffinity, ValidationError
    from dpp_sdk.platform._checks import check_member_request

    rules = [AntiAffinity(group="g"), AntiAffinity(group="g", scope="rack"), "host"]  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as caught:
        check_member_request((), rules, {})
    paths = [problem.path for problem in caught.value.problems]
    assert paths == ["$.anti_affinity[1].scope", "$.anti_affinity[2]"]
    check_member_request(
        (), [AntiAffinity(group="g"), AntiAffinity(group="g", scope="fault-domain")], {}
    )
