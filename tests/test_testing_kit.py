"""dpp_sdk.testing: the helpers partners' tests use, tested as a partner would use them."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpp_sdk as dpp
from dpp_sdk import testing
from dpp_sdk.testing import faults

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def test_a_cluster_described_in_one_call_spreads_hosts_over_racks() -> None:
    config = testing.cluster(hosts=6, racks=3, direct_disks=0, object_repair_timer=15)
    assert [h.fault_domain for h in config.hosts] == ["rack-1", "rack-2", "rack-3"] * 2
    assert config.object_repair_timer == 15
    assert all(h.direct_disks == () for h in config.hosts)
    with pytest.raises(ValueError, match="racks: 7 must be an integer from 1 to hosts"):
        testing.cluster(hosts=6, racks=7)


def test_open_platform_registers_providers_and_the_helpers_find_members_and_bytes() -> None:
    with testing.open_platform(SAMPLES / "mongodb", hosts=5, racks=5) as platform:
        platform.create_instance(service="mongodb", name="db1", capacity_gb=10)
        hosts = {testing.host_of(platform, "db1", f"mongodb-{i}") for i in range(3)}
        assert len(hosts) == 3
        probe = testing.probe(platform, "db1")
        probe.write("k", b"value")
        assert probe.read("k") == b"value"
        with pytest.raises(dpp.NotFound, match="mongodb-9"):
            testing.host_of(platform, "db1", "mongodb-9")
        platform.remove_instance("db1")
        testing.assert_nothing_allocated(platform)


def test_read_volume_reads_what_the_data_path_wrote() -> None:
    with testing.open_platform("tests.providers:KVProvider") as platform:
        platform.create_instance(service="kv", name="kv1", capacity_gb=5)
        testing.probe(platform, "kv1").write("a", b"abc")  # slot 97 % 64 = 33 MiB
        slot = (ord("a") % 64) * (1 << 20)
        assert testing.read_volume(platform, "kv1", "data", slot + 4, 3) == b"abc"


def test_assert_nothing_allocated_names_what_is_left() -> None:
    with testing.open_platform("tests.providers:KVProvider") as platform:
        platform.create_instance(service="kv", name="kv1", capacity_gb=5)
        with pytest.raises(AssertionError, match="instances left: kv1"):
            testing.assert_nothing_allocated(platform)


@settings(max_examples=8, deadline=None)
@given(after=st.integers(0, 6))
def test_a_provision_killed_after_any_context_call_resumes_without_double_allocation(
    after: int,
) -> None:
    """The crash-and-resume helper: the KV provider's provision is killed after its n-th
    context call; reopening resumes it to a ready instance holding one volume."""
    with tempfile.TemporaryDirectory() as tmp:
        state = Path(tmp) / "state"
        with testing.open_platform("tests.providers:KVProvider", state_dir=state):
            pass
        crashed, platform = testing.crash_and_resume(
            state,
            lambda p: p.create_instance(service="kv", name="kv1", capacity_gb=5),
            after_calls=after,
        )
        with platform:
            info = platform.get_instance("kv1")
            assert info.status is dpp.InstanceStatus.READY
            assert [v.name for v in info.volumes] == ["data"]
            assert [m.name for m in info.members] == ["kv-0"]
            assert platform.check_consistency() == []
            assert crashed or after > 0  # provision's first call is always reached
            platform.remove_instance("kv1")
            testing.assert_nothing_allocated(platform)


def test_the_pytest_factory_fixture_opens_platforms_and_closes_them(
    dpp_platform_factory: Callable[..., dpp.Platform],
) -> None:
    platform = dpp_platform_factory("tests.providers:KVProvider", hosts=3)
    assert [h.name for h in platform.list_hosts()] == ["esx-01", "esx-02", "esx-03"]


@pytest.mark.dpp_platform("tests.providers:KVProvider", hosts=2, racks=1)
def test_the_marker_shapes_the_platform_fixture(dpp_platform: dpp.Platform) -> None:
    assert [h.fault_domain for h in dpp_platform.list_hosts()] == ["rack-1", "rack-1"]
    assert [s.name for s in dpp_platform.list_services()] == ["kv"]


def test_a_crash_point_names_the_durable_writes_and_stops_the_block_at_the_chosen_one(
    tmp_path: Path,
) -> None:
    """dies_after: a large count lets the block finish and names its durable writes; a
    chosen one stops the block right after it, and the next open recovers."""
    with testing.open_platform("tests.providers:KVProvider", state_dir=tmp_path / "a") as p:
        p.create_instance(service="kv", name="kv1", capacity_gb=1)
    with testing.dies_after(dpp.Platform.open(tmp_path / "a"), 10**9, byte_writes=True) as all_:
        testing.write_volume(all_.platform, "kv1", "data", 0, b"abc")
    assert not all_.crashed
    assert all_.landed == ["commit", "write", "write"]  # the record, then both replicas
    with testing.open_platform("tests.providers:KVProvider", state_dir=tmp_path / "b") as p:
        p.create_instance(service="kv", name="kv1", capacity_gb=1)
    reached = []
    with testing.dies_after(dpp.Platform.open(tmp_path / "b"), 2, byte_writes=True) as point:
        testing.write_volume(point.platform, "kv1", "data", 0, b"abc")
        reached.append(True)
    assert point.crashed
    assert reached == []
    assert point.landed == ["commit", "write"]
    with dpp.Platform.open(tmp_path / "b") as reopened:
        assert reopened.check_consistency() == []
    with pytest.raises(ValueError, match="durable write 1 or later"):
        testing.dies_after(dpp.Platform.open(tmp_path / "b"), 0).__enter__()


def test_stored_volumes_tell_a_recreated_volume_apart_and_read_any_components() -> None:
    """A volume created again under the same names has a new id; read_components rebuilds
    the bytes with any one component lost and refuses with too few."""
    with testing.open_platform("tests.providers:KVProvider") as platform:
        platform.create_instance(service="kv", name="kv1", capacity_gb=1)
        first = testing.stored_volume(platform, "kv1", "data")
        assert first is not None
        assert (first.instance, first.name, first.policy) == ("kv1", "data", "vsan-default")
        assert testing.stored_volumes(platform) == [first]
        testing.write_volume(platform, "kv1", "data", 10, b"both")
        assert first.current == frozenset(first.components) == {0, 1, 2}  # 2 replicas, witness
        for lost in first.current:
            left = first.current - {lost}
            got = testing.read_components(platform, "kv1", "data", 10, 4, components=left)
            assert got == b"both"
        with pytest.raises(dpp.DataUnavailable, match="votes"):
            testing.read_components(platform, "kv1", "data", 10, 4, components={0})
        platform.remove_instance("kv1")
        assert testing.stored_volume(platform, "kv1", "data") is None
        platform.create_instance(service="kv", name="kv1", capacity_gb=1)
        second = testing.stored_volume(platform, "kv1", "data")
        assert second is not None
        assert second.id != first.id


def test_faults_set_up_what_recovery_and_health_must_cope_with(tmp_path: Path) -> None:
    """A provider gone is red; a component recorded lost is rebuilt on reopen; an operation
    left running by a dead process is interrupted; busy refuses a status no operation holds."""
    with testing.open_platform("tests.providers:KVProvider", state_dir=tmp_path) as platform:
        platform.create_instance(service="kv", name="kv1", capacity_gb=1)
        with pytest.raises(ValueError, match="not a status an operation holds"):
            faults.busy(platform, "kv1", dpp.InstanceStatus.READY).__enter__()
        with pytest.raises(dpp.NotFound, match="component"):
            faults.mark_component_lost(platform, "kv1", "data", 9)
        faults.mark_component_lost(platform, "kv1", "data", 0)
        op = faults.leave_running(platform, "decommission", "gone")
        assert [o.id for o in platform.interrupted_operations()] == [op.id]
        assert op.state is dpp.OperationState.RUNNING
    with testing.open_platform(state_dir=tmp_path) as platform:
        assert platform.get_operation(op.id).state is dpp.OperationState.SUCCEEDED
        (volume,) = platform.get_instance("kv1").volumes
        assert volume.state == "healthy"
        faults.provider_vanished(platform, "kv")
        health = platform.instance_health("kv1")
        assert health.status is dpp.HealthStatus.RED
        assert health.checks[0].name == "provider/unavailable"
