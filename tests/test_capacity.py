"""Capacity as vSAN accounts it: striping of components over 255 GB, thin and thick policies,
a quota per pool kind, the operations and host rebuild reserves, per-disk warnings, and a thin
write that cannot grow."""

from __future__ import annotations

import math
import pickle

import attrs
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import dpp_sdk as dpp
from dpp_sdk import testing
from dpp_sdk.platform import ClusterConfig, Platform
from dpp_sdk.platform._cluster import (
    GB_TOLERANCE,
    STRIPE_GB,
    Cluster,
    PlacementError,
    QuotaExceeded,
)
from dpp_sdk.platform._config import HostSpec
from dpp_sdk.platform._data import GIB
from dpp_sdk.platform._placement import check_quota, place_volume, pool_kind
from dpp_sdk.platform._policies import POLICIES
from tests.providers import KV_MANIFEST, KVProvider


class BigKV(KVProvider):
    """The kv provider with a plan up to 10,000 GB."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        plan = dpp.Plan(name="big", min_capacity_gb=1, max_capacity_gb=10_000)
        return attrs.evolve(KV_MANIFEST, name="kv-big", plans=(plan,))


THICK_MIRROR = POLICIES["vsan-default-thick"]
THICK_SNA = POLICIES["vsan-sna-thick"]


def _cluster(disks_per_host: list[list[float]], direct_gb: float = 0, quota: int = 80) -> Cluster:
    config = attrs.evolve(
        ClusterConfig.default(),
        resource_quota=quota,
        hosts=tuple(
            HostSpec(
                name=f"esx-{i + 1:02d}",
                fault_domain=f"esx-{i + 1:02d}",
                capacity_disks=tuple(disks),
                direct_disks=(direct_gb,) if direct_gb else (),
            )
            for i, disks in enumerate(disks_per_host)
        ),
    )
    return Cluster.from_config(config)


# -- striping ----------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    disks=st.lists(
        st.lists(st.integers(100, 3000).map(float), min_size=1, max_size=4),
        min_size=3,
        max_size=5,
    ),
    requests=st.lists(
        st.tuples(st.sampled_from(["mirror", "sna"]), st.integers(1, 7000)), max_size=8
    ),
)
def test_striping_never_puts_more_on_a_disk_than_it_holds_nor_splits_a_component_across_hosts(
    disks: list[list[float]], requests: list[tuple[str, int]]
) -> None:
    """Whatever the disks and volume sizes, a placed component lives on one host, its stripes
    add up to its size, only components over 255 GB are striped, and no disk is overfull."""
    cluster = _cluster(disks)
    for n, (kind, size) in enumerate(requests):
        policy = THICK_MIRROR if kind == "mirror" else THICK_SNA
        try:
            placed = place_volume(cluster, policy, size, host="esx-01")
        except PlacementError as exc:
            reasons = {exc.reason}
            assert reasons == {"NotEnoughResources"}
            continue
        cluster.reserve(f"v{n}", placed)
        assert cluster.components(f"v{n}") == placed
        for c in placed:
            if c.stripes:
                assert c.reserved_gb > STRIPE_GB
                assert c.disks[0] == c.disk
                assert math.isclose(math.fsum(s.size_gb for s in c.stripes), c.reserved_gb)
                assert all(name in cluster.hosts[c.host].disks for name in c.disks)
        for disk in cluster.disks():
            assert disk.reserved_gb <= disk.size_gb + GB_TOLERANCE


def test_a_2500_gb_raid1_volume_fits_on_2000_gb_disks_and_reads_back() -> None:
    """On hosts with two 2,000 GB disks, a 2,500 GB RAID-1 instance is created, its replicas
    striped; bytes written near its end read back."""
    config = ClusterConfig.uniform(
        hosts=3, capacity_disks_per_host=2, capacity_disk_gb=2000, direct_disks_per_host=0
    )
    with Platform.open(config=attrs.evolve(config, resource_quota=100)) as platform:
        platform.register_service(BigKV)
        platform.create_instance(
            service="kv-big", name="big", capacity_gb=2500, policy="vsan-default-thick"
        )
        (volume,) = platform.get_instance("big").volumes
        assert volume.reserved_gb == 5000
        # Each replica: ten pieces (nine of 255 GB, one of 205 GB) over its host's two disks.
        big = {d.reserved_gb for d in platform.resources().disks if d.reserved_gb > 1000}
        assert big == {1275.0, 1225.0}
        testing.write_volume(platform, "big", "data", 2400 * GIB, b"tail")
        assert testing.read_volume(platform, "big", "data", 2400 * GIB, 4) == b"tail"
        assert platform.check_consistency() == []


def test_a_failed_disk_under_one_stripe_loses_the_whole_component() -> None:
    """A striped replica is degraded when any one of its disks fails; the volume keeps
    serving from the other replica."""
    config = ClusterConfig.uniform(
        hosts=3, capacity_disks_per_host=2, capacity_disk_gb=200, direct_disks_per_host=0
    )
    with Platform.open(config=attrs.evolve(config, resource_quota=100)) as platform:
        platform.register_service("tests.providers:KVProvider")
        platform.create_instance(service="kv", name="kv", capacity_gb=300, policy="vsan-default")
        testing.write_volume(platform, "kv", "data", 0, b"kept")
        (volume,) = platform.get_instance("kv").volumes
        replica = volume.components[0]
        # 300 GB fits on neither 200 GB disk alone: the replica is striped over both, and
        # its first stripe is ``replica.disk``; fail the other one.
        [other] = [d.name for d in platform.get_host(replica.host).disks if d.name != replica.disk]
        platform.inject_disk_failure(replica.host, other)
        (volume,) = platform.get_instance("kv").volumes
        assert volume.components[0].state == "degraded"
        assert volume.state == "reduced-availability"
        assert testing.read_volume(platform, "kv", "data", 0, 4) == b"kept"


# -- thin and thick ----------------------------------------------------------------------------


SMALL = pytest.mark.dpp_platform(
    "tests.providers:KVProvider",
    config=attrs.evolve(
        ClusterConfig.uniform(
            hosts=3, capacity_disks_per_host=1, capacity_disk_gb=3, direct_disks_per_host=0
        ),
        resource_quota=100,
    ),
)
"""Three hosts with one 3 GB capacity disk each, no direct disks, quota 100%."""


@SMALL
def test_a_thin_volume_reserves_what_was_written_and_a_thick_one_its_size(
    dpp_platform: Platform,
) -> None:
    """vsan-default reserves nothing until written, then each replica its written extent;
    vsan-default-thick reserves its raw size at creation."""
    dpp_platform.create_instance(service="kv", name="thin", capacity_gb=2)
    (volume,) = dpp_platform.get_instance("thin").volumes
    assert (volume.written_gb, volume.reserved_gb) == (0.0, 0.0)
    testing.write_volume(dpp_platform, "thin", "data", GIB // 2 - 1, b"x")
    (volume,) = dpp_platform.get_instance("thin").volumes
    assert (volume.written_gb, volume.reserved_gb) == (0.5, 1.0)
    assert dpp_platform.resources().reserved_gb == 1.0
    dpp_platform.create_instance(
        service="kv", name="thick", capacity_gb=1, policy="vsan-default-thick"
    )
    (volume,) = dpp_platform.get_instance("thick").volumes
    assert (volume.written_gb, volume.reserved_gb) == (0.0, 2.0)
    assert dpp_platform.check_consistency() == []


@SMALL
def test_a_thin_write_past_the_room_left_fails_with_out_of_space_and_changes_nothing(
    dpp_platform: Platform,
) -> None:
    """With a thick volume beside it, a thin volume can grow to 1 GB; a write past that is
    refused with OutOfSpace naming the disk, and nothing was written or reserved."""
    dpp_platform.create_instance(service="kv", name="thin", capacity_gb=2)
    dpp_platform.create_instance(
        service="kv", name="thick", capacity_gb=2, policy="vsan-default-thick"
    )
    testing.write_volume(dpp_platform, "thin", "data", 0, b"before")
    before = dpp_platform.resources()
    with pytest.raises(dpp.OutOfSpace) as caught:
        testing.write_volume(dpp_platform, "thin", "data", GIB + 8192, b"too far")
    error = caught.value
    assert isinstance(error, dpp.DataUnavailable)
    assert error.volume == "data"
    assert error.needed_gb > 0
    assert "vsan-default is thin" in str(error)
    assert "disk esx-0" in str(error)
    assert dpp_platform.resources() == before
    assert testing.read_volume(dpp_platform, "thin", "data", 0, 6) == b"before"
    assert testing.read_volume(dpp_platform, "thin", "data", GIB + 8192, 7) == bytes(7)
    assert dpp_platform.check_consistency() == []
    round_trip = pickle.loads(pickle.dumps(error))
    assert (round_trip.volume, round_trip.needed_gb, str(round_trip)) == (
        error.volume,
        error.needed_gb,
        str(error),
    )


@settings(max_examples=25, deadline=None)
@given(
    writes=st.lists(
        st.tuples(st.integers(0, 2 * GIB - 4096), st.binary(min_size=1, max_size=4096)),
        min_size=1,
        max_size=8,
    )
)
def test_a_thin_write_beyond_the_room_fails_and_leaves_bytes_and_records_as_they_were(
    writes: list[tuple[int, bytes]],
) -> None:
    """Random writes to a thin volume that may grow to 1 GB: each one past that fails with
    OutOfSpace, and afterwards every byte, the extent and the reservations are as if it had
    never been tried."""
    for offset, payload in writes:
        end = offset + len(payload)
        assume(not GIB < end <= GIB + 4096)  # the byte-level edge of GB_TOLERANCE
    config = ClusterConfig.uniform(
        hosts=3, capacity_disks_per_host=1, capacity_disk_gb=3, direct_disks_per_host=0
    )
    with Platform.open(config=attrs.evolve(config, resource_quota=100)) as p:
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="kv", name="thin", capacity_gb=2)
        p.create_instance(service="kv", name="thick", capacity_gb=2, policy="vsan-default-thick")
        model: dict[int, int] = {}
        extent = 0
        for offset, payload in writes:
            end = offset + len(payload)
            if max(extent, end) <= GIB:
                testing.write_volume(p, "thin", "data", offset, payload)
                model.update({offset + i: b for i, b in enumerate(payload)})
                extent = max(extent, end)
            else:
                reserved = p.resources().reserved_gb
                with pytest.raises(dpp.OutOfSpace):
                    testing.write_volume(p, "thin", "data", offset, payload)
                assert p.resources().reserved_gb == reserved
            (volume,) = p.get_instance("thin").volumes
            assert volume.written_gb == extent / GIB
            assert volume.reserved_gb == 2 * extent / GIB
        for offset, payload in writes:
            got = testing.read_volume(p, "thin", "data", offset, len(payload))
            assert got == bytes(model.get(offset + i, 0) for i in range(len(payload)))
        assert p.check_consistency() == []


def test_a_manifest_supporting_a_policy_accepts_its_thick_twin_only() -> None:
    """KVProvider supports vsan-default but not vsan-direct: vsan-default-thick is accepted,
    and a policy it does not support is refused, naming it."""
    with Platform.open(config=ClusterConfig.uniform(hosts=4)) as p:
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="kv", name="a", capacity_gb=1, policy="vsan-default-thick")
        with pytest.raises(dpp.ValidationError, match="vsan-direct"):
            p.create_instance(service="kv", name="b", capacity_gb=1, policy="vsan-direct")


# -- quotas, reserves, warnings ----------------------------------------------------------------


def test_the_default_quota_of_the_vsan_datastore_leaves_out_the_direct_disks() -> None:
    """Default cluster: 16,000 GB of capacity disks, 16,000 GB of direct disks; 80% of each
    is its own quota, so direct disks never widen the datastore's room."""
    cluster = Cluster.from_config(ClusterConfig.default())
    assert cluster.quota_gb("capacity") == 12_800
    assert cluster.quota_gb("direct") == 12_800
    cluster.reserve("d", place_volume(cluster, POLICIES["vsan-direct"], 1000, host="esx-01"))
    assert cluster.quota_left_gb("capacity") == 12_800
    assert cluster.quota_left_gb("direct") == 11_800
    with pytest.raises(QuotaExceeded) as caught:
        check_quota(cluster, 12_800.5)
    assert (caught.value.pool, caught.value.left_gb) == ("capacity", 12_800)
    assert "quota of the vSAN datastore exceeded" in caught.value.message
    assert pickle.loads(pickle.dumps(caught.value)).pool == "capacity"


@settings(max_examples=40, deadline=None)
@given(
    quota=st.integers(1, 100),
    requests=st.lists(
        st.tuples(
            st.sampled_from(sorted(POLICIES)), st.integers(1, 3000), st.sampled_from(["1", "2"])
        ),
        max_size=12,
    ),
)
def test_per_pool_quotas_are_never_exceeded(
    quota: int, requests: list[tuple[str, int, str]]
) -> None:
    """Volumes reserved only after check_quota passes: neither the vSAN datastore nor the
    vSAN Direct pools ever hold more than their own quota."""
    cluster = _cluster([[2000.0, 2000.0]] * 4, direct_gb=1000, quota=quota)
    for n, (name, size, host) in enumerate(requests):
        policy = POLICIES[name]
        try:
            check_quota(cluster, math.fsum(policy.reserved_sizes_gb(size)), pool_kind(policy))
            placed = place_volume(cluster, policy, size, host=f"esx-0{host}")
        except (QuotaExceeded, PlacementError):
            continue
        cluster.reserve(f"v{n}", placed)
        for kind in ("capacity", "direct"):
            assert cluster.reserved_gb(kind) <= cluster.quota_gb(kind) + GB_TOLERANCE


def test_status_and_resources_show_the_reserves_pools_and_per_disk_warnings() -> None:
    """A disk 90% full while the datastore is far from full: status warns about the disk,
    resources flag it, cluster health's capacity check is yellow naming it; the operations
    reserve is 10% of the datastore and the host rebuild reserve its largest host."""
    config = ClusterConfig.uniform(hosts=4, capacity_disks_per_host=2, capacity_disk_gb=100)
    with Platform.open(config=config) as p:
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="kv", name="kv", capacity_gb=90, policy="vsan-default-thick")
        status = p.status()
        assert (status.operations_reserve_gb, status.host_rebuild_reserve_gb) == (80.0, 200.0)
        assert status.quota_gb == 640.0
        assert status.direct_quota_gb == 0.8 * 4 * 4 * 1000
        assert any("esx-01/cap-0 use 90.0%" in w for w in status.warnings)
        report = p.resources()
        assert (report.operations_reserve_gb, report.host_rebuild_reserve_gb) == (80.0, 200.0)
        [vsan] = [pool for pool in report.pools if pool.pool == "vsan"]
        assert (vsan.raw_gb, vsan.reserved_gb, vsan.quota_gb, vsan.warning) == (
            800.0,
            180.0,
            640.0,
            False,
        )
        full = [d for d in report.disks if d.warning]
        assert [(d.host, d.disk, d.used_percent) for d in full] == [
            ("esx-01", "cap-0", 90.0),
            ("esx-02", "cap-0", 90.0),
        ]
        (check,) = [c for c in p.cluster_health().checks if c.name == "cluster/capacity"]
        assert check.status is dpp.HealthStatus.YELLOW
        assert "disks past 80%: esx-01/cap-0 90.0%, esx-02/cap-0 90.0%" in check.message


@SMALL
def test_a_quota_shortfall_on_create_names_the_pool(dpp_platform: Platform) -> None:
    """A capacity the vSAN datastore's quota cannot take is refused before any work, and
    the error says which pool's quota."""
    with pytest.raises(dpp.QuotaExceeded, match="quota of the vSAN datastore exceeded"):
        dpp_platform.create_instance(service="kv", name="kv", capacity_gb=5)
