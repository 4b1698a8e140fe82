"""The cluster's derived data, its undo journal and restore: always what a recount would give."""

from __future__ import annotations

import copy
import math
import pickle
from collections.abc import Callable
from functools import partial
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dpp_sdk.platform._cluster import (
    Cluster,
    ComponentPlacement,
    Disk,
    PlacementError,
    QuotaExceeded,
    natural_key,
)
from dpp_sdk.platform._config import ClusterConfig, HostSpec, host_name
from dpp_sdk.platform._placement import (
    AntiAffinity,
    MemberPlacementInfo,
    check_quota,
    place_member,
    place_volume,
    replace_component,
)
from dpp_sdk.platform._policies import POLICIES

POLICY_LIST = list(POLICIES.values())
HOST_STATES = ["connected", "maintenance", "failed"]
DISK_STATES = ["healthy", "maintenance", "failed"]


class Boom(Exception):
    """Raised inside a journaled block to make it fail."""


# -- strategies --------------------------------------------------------------------------------


@st.composite
def configs(draw: st.DrawFn, max_hosts: int = 7) -> ClusterConfig:
    """Configurations of 1-7 hosts over 1-7 fault domains, with 0-3 capacity and 0-2 direct
    disks each."""
    count = draw(st.integers(1, max_hosts))
    racks = draw(st.integers(1, count))
    sizes = st.sampled_from([50.0, 100.0, 333.0, 1000.0, 2000.0])
    return ClusterConfig(
        hosts=[
            HostSpec(
                name=host_name(n),
                fault_domain=draw(
                    st.sampled_from([host_name(n), *[f"rack-{r}" for r in range(racks)]])
                ),
                capacity_disks=draw(st.lists(sizes, max_size=3)),
                direct_disks=draw(st.lists(sizes, max_size=2)),
            )
            for n in range(1, count + 1)
        ]
    )


Step = tuple[str, int, int]
"""One change: what, and two numbers that pick its arguments (see :func:`apply`)."""

steps = st.lists(
    st.tuples(
        st.sampled_from(["create", "create", "create", "release", "grow", "move", "host", "disk"]),
        st.integers(0, 10_000),
        st.integers(0, 10_000),
    ),
    max_size=25,
)


def apply(cluster: Cluster, step: Step, number: int) -> None:
    """Make ``step`` on ``cluster``; a step the cluster refuses changes nothing."""
    what, a, b = step
    hosts = cluster.host_names()
    volumes = cluster.volumes()
    disks = list(cluster.disks())
    try:
        if what == "create":
            policy = POLICY_LIST[a % len(POLICY_LIST)]
            size = (1 + b % 900) / 3  # thirds: sizes whose float sums round
            placements = place_volume(cluster, policy, size, host=hosts[b % len(hosts)])
            cluster.reserve(f"v{number}", placements)
        elif what == "host":
            cluster.host(hosts[a % len(hosts)]).state = HOST_STATES[b % 3]
        elif what == "disk" and disks:
            disks[a % len(disks)].state = DISK_STATES[b % 3]
        elif volumes:
            volume = volumes[a % len(volumes)]
            components = cluster.components(volume)
            chosen = components[b % len(components)]
            if what == "release":
                cluster.release(volume, None if b % 2 else [chosen.index])
            elif what == "grow":
                cluster.reserve(
                    volume,
                    [
                        attrs.evolve(c, reserved_gb=c.reserved_gb * (1 + b / 997))
                        for c in components
                    ],
                )
            else:  # move one component to another disk of the same kind
                kind = "direct" if chosen.role == "direct" else "capacity"
                targets = list(cluster.disks(kind))
                target = targets[b % len(targets)]
                cluster.reserve(volume, [attrs.evolve(chosen, host=target.host, disk=target.name)])
    except PlacementError:
        pass


def build(config: ClusterConfig, changes: list[Step]) -> Cluster:
    cluster = Cluster.from_config(config)
    for number, step in enumerate(changes):
        apply(cluster, step, number)
    return cluster


# -- what a recount from the reservations gives ------------------------------------------------


def fsum_load(disks: list[Disk], *, none: float) -> float:
    if not disks:
        return none
    size = math.fsum(d.size_gb for d in disks)
    return math.fsum(d.reserved_gb for d in disks) / size if size > 0 else 1.0


def assert_derived_data_is_a_recount(cluster: Cluster) -> None:
    """Every cached total, order, load and index equals a recount from scratch."""
    every = [d for h in cluster.hosts.values() for d in h.disks.values()]
    for disk in every:
        assert disk.reserved_gb == math.fsum(r.size_gb for r in disk.reservations)
        assert disk.reservations == sorted(disk.reservations, key=lambda r: (r.volume, r.index))
    for kind in (None, "capacity", "direct"):
        mine = [d for d in every if kind is None or d.kind == kind]
        assert cluster.reserved_gb(kind) == math.fsum(
            r.size_gb for d in mine for r in d.reservations
        )
        assert cluster.raw_capacity_gb(kind) == math.fsum(d.size_gb for d in mine)
    found: dict[str, list[ComponentPlacement]] = {}
    for disk in every:
        for r in disk.reservations:
            found.setdefault(r.volume, []).append(
                ComponentPlacement(
                    index=r.index,
                    role=r.role,
                    host=disk.host,
                    disk=disk.name,
                    reserved_gb=r.size_gb,
                )
            )
    assert cluster.volumes() == sorted(found)
    for volume, components in found.items():
        assert cluster.components(volume) == sorted(components, key=lambda c: c.index)
    for host in cluster.hosts.values():
        capacity = [d for d in host.disks.values() if d.kind == "capacity"]
        assert cluster.host_rank(host.name).load == fsum_load(capacity, none=0.0)
    ranks = sorted(cluster.hosts_by_load(), key=lambda r: (r.load, natural_key(r.name)))
    assert list(cluster.hosts_by_load()) == ranks
    for domain, names in cluster.fault_domains().items():
        usable = [
            d
            for name in names
            for d in cluster.hosts[name].disks.values()
            if d.kind == "capacity" and cluster.disk_available(d)
        ]
        assert cluster.domain_rank(domain).load == fsum_load(usable, none=1.0)
    ranks = sorted(cluster.domains_by_load(), key=lambda r: (r.load, natural_key(r.name)))
    assert list(cluster.domains_by_load()) == ranks
    fresh = Cluster.from_dict(cluster.to_dict())
    assert list(fresh.hosts_by_load()) == list(cluster.hosts_by_load())
    assert list(fresh.domains_by_load()) == list(cluster.domains_by_load())


def outcome(decide: Callable[[], Any]) -> Any:
    """What a placement call returns, or the reason and message it fails with."""
    try:
        return decide()
    except (PlacementError, QuotaExceeded) as error:
        return type(error).__name__, str(error)


def decisions(cluster: Cluster, asks: list[tuple[int, int]]) -> list[Any]:
    """Placement's answers to a few requests picked by ``asks``."""
    hosts = cluster.host_names()
    found = []
    for a, b in asks:
        policy = POLICY_LIST[a % len(POLICY_LIST)]
        host = hosts[b % len(hosts)]
        size = float(1 + b % 1500)
        existing = {
            f"m{n}": MemberPlacementInfo(host=hosts[(a + n) % len(hosts)], group="g")
            for n in range(a % 3)
        }
        rule = AntiAffinity(group="g", required=bool(b % 2), scope=("host", "fault-domain")[a % 2])
        asked = [
            partial(place_volume, cluster, policy, size, host=host),
            partial(
                place_volume,
                cluster,
                policy,
                size,
                host=host,
                avoid_hosts={host},
                exclude_disks={(host, "cap-0")},
            ),
            partial(check_quota, cluster, size),
            partial(
                place_member,
                cluster,
                existing=existing,
                anti_affinity=rule,
                local_volume_gb=size / 4,
                direct_volumes=[size / 8] * (b % 2),
            ),
        ]
        volumes = cluster.volumes()
        if volumes:
            components = cluster.components(volumes[a % len(volumes)])
            index = components[b % len(components)].index
            asked.append(partial(replace_component, cluster, policy, components, index))
        found += [outcome(decide) for decide in asked]
    return found


def fail_inside(cluster: Cluster, changes: list[Step], first: int) -> None:
    """Make ``changes`` inside a ``changes()`` block, then raise ``Boom`` out of it."""
    with cluster.changes():
        for number, step in enumerate(changes):
            apply(cluster, step, first + number)
        raise Boom


asks = st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 10_000)), min_size=1, max_size=4)


# -- derived data --------------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(config=configs(), changes=steps)
def test_derived_totals_always_equal_a_recount_of_the_reservations(
    config: ClusterConfig, changes: list[Step]
) -> None:
    """After any reserves, releases, resizes, moves and state changes, every derived total,
    load, order and index equals a recount from the reservations, bit for bit."""
    cluster = Cluster.from_config(config)
    for number, step in enumerate(changes):
        apply(cluster, step, number)
        assert_derived_data_is_a_recount(cluster)


@settings(max_examples=60, deadline=None)
@given(config=configs(), changes=steps, undone=steps, asked=asks)
def test_placement_on_a_cluster_equals_placement_on_its_snapshot(
    config: ClusterConfig, changes: list[Step], undone: list[Step], asked: list[tuple[int, int]]
) -> None:
    """A cluster that has lived (including undone blocks) places exactly as the cluster
    rebuilt from its snapshot: no cache is ever stale."""
    cluster = build(config, changes)
    with pytest.raises(Boom):
        fail_inside(cluster, undone, 1000)
    assert decisions(cluster, asked) == decisions(Cluster.from_dict(cluster.to_dict()), asked)


def test_shape_fields_cannot_be_reassigned() -> None:
    """Names, kinds, sizes, fault domains and the lists themselves are fixed once built."""
    cluster = Cluster.from_config(ClusterConfig.default())
    disk = cluster.disk("esx-01", "cap-0")
    for target, field, value in [
        (disk, "size_gb", 5.0),
        (disk, "reservations", []),
        (cluster.host("esx-01"), "fault_domain", "rack-9"),
        (cluster, "hosts", {}),
    ]:
        with pytest.raises(attrs.exceptions.FrozenAttributeError):
            setattr(target, field, value)


def test_an_unknown_state_is_refused_naming_the_host_or_disk() -> None:
    """Assigning a state that does not exist raises ValueError and changes nothing."""
    cluster = Cluster.from_config(ClusterConfig.default())
    with pytest.raises(ValueError, match=r"host esx-02: state must be one of .*'asleep'"):
        cluster.host("esx-02").state = "asleep"  # type: ignore[assignment]
    with pytest.raises(ValueError, match=r"disk esx-01/cap-1: state must be one of"):
        cluster.disk("esx-01", "cap-1").state = "gone"  # type: ignore[assignment]
    assert cluster == Cluster.from_config(ClusterConfig.default())


def test_a_host_belongs_to_one_cluster() -> None:
    """Building a second cluster around another cluster's hosts is refused."""
    cluster = Cluster.from_config(ClusterConfig.default())
    with pytest.raises(ValueError, match="'esx-01' already belongs to another cluster"):
        Cluster(hosts=cluster.hosts)


def test_a_snapshot_that_reserves_a_component_twice_is_refused() -> None:
    """One component of one volume on two disks cannot be loaded: release would be ambiguous."""
    cluster = Cluster.from_config(ClusterConfig.default())
    one = ComponentPlacement(index=0, role="local", host="esx-01", disk="cap-0", reserved_gb=5)
    cluster.reserve("v", [one])
    data = cluster.to_dict()
    data["hosts"]["esx-02"]["disks"]["cap-0"]["reservations"] = data["hosts"]["esx-01"]["disks"][
        "cap-0"
    ]["reservations"]
    with pytest.raises(ValueError, match=r"component 0 of volume 'v' is reserved on both"):
        Cluster.from_dict(data)


@settings(max_examples=30, deadline=None)
@given(config=configs(), changes=steps)
def test_copies_and_pickles_keep_working_derived_data(
    config: ClusterConfig, changes: list[Step]
) -> None:
    """A deep copy or an unpickled cluster is equal, and keeps its derived data right as it
    changes further."""
    cluster = build(config, changes)
    for twin in (copy.deepcopy(cluster), pickle.loads(pickle.dumps(cluster))):
        assert twin == cluster
        for number, step in enumerate(changes):
            apply(twin, step, 500 + number)
        assert_derived_data_is_a_recount(twin)


# -- the undo journal ----------------------------------------------------------------------------


@settings(max_examples=80, deadline=None)
@given(config=configs(), before=steps, inside=steps)
def test_a_block_that_raises_leaves_the_cluster_as_it_was(
    config: ClusterConfig, before: list[Step], inside: list[Step]
) -> None:
    """Whatever changed inside a failed ``changes()`` block is undone: the cluster is equal,
    its snapshot identical, and its derived data right."""
    cluster = build(config, before)
    snapshot = cluster.to_dict()
    with pytest.raises(Boom):
        fail_inside(cluster, inside, 1000)
    assert cluster == Cluster.from_dict(snapshot)
    assert cluster.to_dict() == snapshot
    assert_derived_data_is_a_recount(cluster)


@settings(max_examples=60, deadline=None)
@given(config=configs(), before=steps, kept=steps, undone=steps)
def test_a_nested_block_that_raises_undoes_only_its_own_changes(
    config: ClusterConfig, before: list[Step], kept: list[Step], undone: list[Step]
) -> None:
    """A failed inner block restores the cluster as the outer block had it; the outer block's
    own changes stay, and are reported by the one journal both share."""
    cluster = build(config, before)
    with cluster.changes() as outer:
        for number, step in enumerate(kept):
            apply(cluster, step, 1000 + number)
        middle = cluster.to_dict()
        steps_kept = len(outer)
        with cluster.changes() as inner:
            assert inner is outer
        with pytest.raises(Boom):
            fail_inside(cluster, undone, 2000)
        assert cluster.to_dict() == middle
        assert len(outer) == steps_kept
    assert cluster == Cluster.from_dict(middle)
    assert_derived_data_is_a_recount(cluster)


@settings(max_examples=60, deadline=None)
@given(config=configs(), before=steps, inside=steps)
def test_the_journal_reports_exactly_what_a_block_changed(
    config: ClusterConfig, before: list[Step], inside: list[Step]
) -> None:
    """After a block, the journal names the hosts and disks whose state differs (with the new
    state) and the volumes whose reservations differ, and nothing else."""
    cluster = build(config, before)
    old = Cluster.from_dict(cluster.to_dict())
    with cluster.changes() as journal:
        for number, step in enumerate(inside):
            apply(cluster, step, 1000 + number)
    assert journal.hosts == {
        name: host.state
        for name, host in cluster.hosts.items()
        if host.state != old.hosts[name].state
    }
    assert journal.disks == {
        (disk.host, disk.name): disk.state
        for disk in cluster.disks()
        if disk.state != old.disk(disk.host, disk.name).state
    }
    every = set(cluster.volumes()) | set(old.volumes())
    assert journal.volumes == {v for v in every if cluster.components(v) != old.components(v)}


def test_a_block_records_one_change_per_component_and_state_assignment() -> None:
    """The journal grows with the changes made, whatever the cluster's size."""
    cluster = Cluster.from_config(ClusterConfig.uniform(hosts=50))
    for n in range(200):
        cluster.reserve(f"old-{n}", place_volume(cluster, POLICIES["vsan-default-thick"], 10))
    with cluster.changes() as journal:
        cluster.reserve(
            "new", place_volume(cluster, POLICIES["vsan-raid5-thick"], 30)
        )  # 4 components
        cluster.host("esx-07").state = "maintenance"
        cluster.disk("esx-08", "cap-1").state = "failed"
        cluster.release("old-3")  # 3 components
    assert len(journal) == 4 + 1 + 1 + 3
    assert journal.hosts == {"esx-07": "maintenance"}
    assert journal.disks == {("esx-08", "cap-1"): "failed"}
    assert journal.volumes == {"new", "old-3"}


def test_a_trial_is_undone_even_when_it_succeeds() -> None:
    """``trial()`` answers a what-if: inside, the changes are there; after it, they are not."""
    cluster = Cluster.from_config(ClusterConfig.default())
    snapshot = cluster.to_dict()
    with cluster.trial() as journal:
        cluster.host("esx-01").state = "maintenance"
        cluster.reserve("v", place_volume(cluster, POLICIES["vsan-default-thick"], 100))
        assert cluster.host("esx-01").state == "maintenance"
        assert journal.volumes == {"v"}
    assert cluster.to_dict() == snapshot
    assert (journal.hosts, journal.volumes) == ({}, frozenset())


def test_outside_a_block_nothing_is_recorded() -> None:
    """Changes made outside any block are not journaled, and a later block starts afresh."""
    cluster = Cluster.from_config(ClusterConfig.default())
    cluster.host("esx-01").state = "failed"
    with cluster.changes() as journal:
        pass
    assert (len(journal), journal.hosts) == (0, {})


# -- restore ---------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(config=configs(), changes=steps, order=st.randoms(use_true_random=False))
def test_restore_equals_the_cluster_built_by_reserving_the_same_things(
    config: ClusterConfig, changes: list[Step], order: Any
) -> None:
    """``restore`` from a cluster's non-default states and its reservations, in any order,
    gives an equal cluster with the same derived data."""
    cluster = build(config, changes)
    reservations = [(v, c) for v in cluster.volumes() for c in cluster.components(v)]
    order.shuffle(reservations)
    restored = Cluster.restore(
        config,
        host_states={h.name: h.state for h in cluster.hosts.values() if h.state != "connected"},
        disk_states={(d.host, d.name): d.state for d in cluster.disks() if d.state != "healthy"},
        reservations=reservations,
    )
    assert restored == cluster
    assert restored.to_dict() == cluster.to_dict()
    assert_derived_data_is_a_recount(restored)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"host_states": {"esx-09": "failed"}}, "host_states names host 'esx-09'"),
        ({"host_states": {"esx-01": "asleep"}}, "host esx-01: state must be one of"),
        ({"disk_states": {("esx-01", "cap-7"): "failed"}}, "disk esx-01/cap-7, which is not"),
        ({"disk_states": {("esx-09", "cap-0"): "failed"}}, "disk esx-09/cap-0, which is not"),
        (
            {
                "reservations": [
                    (
                        "v",
                        ComponentPlacement(
                            index=0, role="local", host="esx-01", disk="cap-9", reserved_gb=1
                        ),
                    )
                ]
            },
            "volume 'v' component 0 is reserved on esx-01/cap-9, which is not in the cluster",
        ),
        (
            {
                "reservations": [
                    (
                        "v",
                        ComponentPlacement(
                            index=0, role="local", host="esx-01", disk="direct-0", reserved_gb=1
                        ),
                    )
                ]
            },
            "a 'local' component cannot live on direct disk esx-01/direct-0",
        ),
        (
            {
                "reservations": [
                    (
                        "v",
                        ComponentPlacement(
                            index=0, role="local", host="esx-01", disk="cap-0", reserved_gb=1
                        ),
                    ),
                    (
                        "v",
                        ComponentPlacement(
                            index=0, role="local", host="esx-01", disk="cap-0", reserved_gb=2
                        ),
                    ),
                ]
            },
            "disk esx-01/cap-0 holds component 0 of volume 'v' twice",
        ),
    ],
)
def test_restore_names_what_does_not_exist(arguments: dict[str, Any], message: str) -> None:
    """An unknown host or disk, an unknown state, a component on the wrong kind of disk or a
    component given twice is a ValueError naming it."""
    with pytest.raises(ValueError, match=message):
        Cluster.restore(ClusterConfig.default(), **arguments)


# -- cost: proportional to what is touched (counted, never timed) --------------------------------


@pytest.fixture
def lists_read(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """Records ``(host, disk)`` each time a disk's reservation list is read."""
    reads: list[tuple[str, str]] = []
    slot = Disk.__dict__["reservations"]

    def read(disk: Disk) -> list[Any]:
        reads.append((disk.host, disk.name))
        found: list[Any] = slot.__get__(disk, Disk)
        return found

    monkeypatch.setattr(Disk, "reservations", property(read, slot.__set__))
    return reads


def test_work_on_one_volume_reads_only_its_own_disks(lists_read: list[tuple[str, str]]) -> None:
    """With 10,000 other reservations, reserving, finding and releasing a volume reads only
    the lists of the disks it is on, and quota checks and placement read none."""
    config = ClusterConfig.uniform(hosts=100)
    cluster = Cluster.restore(
        config,
        reservations=(
            (
                f"other-{n}",
                ComponentPlacement(
                    index=0,
                    role="local",
                    host=host_name(1 + n % 100),
                    disk=f"cap-{n // 100 % 2}",
                    reserved_gb=1.5,
                ),
            )
            for n in range(10_000)
        ),
    )
    lists_read.clear()
    placed = place_volume(cluster, POLICIES["vsan-default-thick"], 20)
    place_member(cluster, existing={}, local_volume_gb=20)
    check_quota(cluster, 20)
    cluster.capacity_warning()
    cluster.quota_left_gb()
    assert lists_read == []
    own = {(c.host, c.disk) for c in placed}
    cluster.reserve("mine", placed)
    assert cluster.components("mine") == placed
    assert cluster.release("mine") == 40
    assert set(lists_read) <= own
    assert cluster.reserved_gb() == 15_000


def test_placement_on_a_thousand_idle_hosts_looks_at_few_disks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Placing a member or a mirror on 1,000 hosts checks the free space of a handful of
    disks, not of every disk: candidates are ranked by cached loads first."""
    cluster = Cluster.from_config(ClusterConfig.uniform(hosts=1000))
    looked: list[Disk] = []
    free_on = Cluster.free_on

    def counting(self: Cluster, disk: Disk) -> float:
        looked.append(disk)
        return free_on(self, disk)

    monkeypatch.setattr(Cluster, "free_on", counting)
    assert place_member(cluster, existing={}, local_volume_gb=50) == "esx-01"
    placed = place_volume(cluster, POLICIES["vsan-default-thick"], 50)
    assert [c.host for c in placed] == ["esx-01", "esx-02", "esx-03"]
    assert len(looked) <= 10
