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
