"""Rebuilds, resyncs and moves take simulated time: bytes copied at ``resync_mbps``."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpp_sdk as dpp
from dpp_sdk.platform import ClusterConfig, ManualClock, Platform


def _open(resync_mbps: int = 100) -> Platform:
    config = attrs.evolve(ClusterConfig.uniform(hosts=5), resync_mbps=resync_mbps)
    dpp_platform = Platform.open(config=config, clock=ManualClock())
    dpp_platform.register_service("tests.providers:KVProvider")
    return dpp_platform


pytestmark = pytest.mark.dpp_platform(
    "tests.providers:KVProvider",
    config=attrs.evolve(ClusterConfig.uniform(hosts=5), resync_mbps=100),
    clock=ManualClock,
)


def _probe(p: Platform) -> dpp.DataProbe:
    probe = p.data_probe("kv1")
    assert probe is not None
    return probe


def _resyncing(p: Platform) -> tuple[str, str]:
    """kv1 with a write its second replica missed; returns (that replica's host, the other
    replica's host) after the first comes back and starts to resync."""
    p.create_instance(service="kv", name="kv1", capacity_gb=5)
    replicas = [c for c in p.get_instance("kv1").volumes[0].components if c.role == "replica"]
    p.inject_host_failure(replicas[1].host)
    _probe(p).write("canary", b"missed by one replica")
    p.clear_host_failure(replicas[1].host)
    return replicas[1].host, replicas[0].host


@settings(max_examples=10, deadline=None)
@given(mbps=st.integers(1, 2000))
def test_a_resync_lasts_its_bytes_divided_by_the_resync_rate(mbps: int) -> None:
    """The time left and the bytes left agree with resync_mbps, and fall as time passes."""
    with _open(mbps) as p:
        _resyncing(p)
        (volume,) = p.get_instance("kv1").volumes
        assert volume.resync_done_at is not None
        seconds = (volume.resync_done_at - p.clock.now()).total_seconds()
        rate = mbps * 1_000_000
        # Times are kept to the microsecond.
        assert seconds == pytest.approx(volume.resync_bytes_left / rate, abs=2e-6)
        p.advance(seconds / 2)
        (half,) = p.get_instance("kv1").volumes
        left = volume.resync_bytes_left / 2
        assert half.resync_bytes_left == pytest.approx(left, abs=rate * 2e-6 + 1)
        assert half.health is dpp.ObjectHealth.REDUCED_AVAILABILITY_ACTIVE_REBUILD
        p.advance(seconds / 2 + 0.001)
        (done,) = p.get_instance("kv1").volumes
        assert (done.health, done.resync_bytes_left, done.resync_done_at) == (
            dpp.ObjectHealth.HEALTHY,
            0,
            None,
        )


def test_a_replica_still_resyncing_does_not_count_when_the_other_one_fails(
    dpp_platform: Platform,
) -> None:
    """During the resync only one replica is complete: losing it makes the volume
    inaccessible, as on vSAN; once the resync finished it would not have."""
    resyncing, complete = _resyncing(dpp_platform)
    dpp_platform.inject_host_failure(complete)
    (volume,) = dpp_platform.get_instance("kv1").volumes
    assert volume.state == "inaccessible"
    with pytest.raises(dpp.DataUnavailable):
        _probe(dpp_platform).read("canary")
    dpp_platform.clear_host_failure(complete)
    dpp_platform.advance(3600)
    dpp_platform.inject_host_failure(complete)
    assert _probe(dpp_platform).read("canary") == b"missed by one replica"
    assert resyncing != complete


def test_writes_during_a_resync_reach_the_resyncing_replica(dpp_platform: Platform) -> None:
    """A write while a replica resyncs lands on it too: when the resync ends it holds it."""
    _, complete = _resyncing(dpp_platform)
    _probe(dpp_platform).write("late", b"written during the resync")
    dpp_platform.advance(3600)
    dpp_platform.inject_host_failure(complete)
    assert _probe(dpp_platform).read("late") == b"written during the resync"


def test_evacuating_a_host_puts_moved_objects_in_data_move_until_the_copy_ends(
    dpp_platform: Platform,
) -> None:
    """evacuate-all copies the host's components elsewhere: fully available meanwhile."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=5)
    _probe(dpp_platform).write("canary", b"moving")
    info = dpp_platform.get_instance("kv1")
    host = next(c.host for c in info.volumes[0].components if c.role == "replica")
    dpp_platform.enter_maintenance(host, "evacuate-all")
    (volume,) = dpp_platform.get_instance("kv1").volumes
    assert (volume.state, volume.health) == ("healthy", dpp.ObjectHealth.DATA_MOVE)
    assert volume.resync_bytes_left > 0
    dpp_platform.advance(3600)
    (volume,) = dpp_platform.get_instance("kv1").volumes
    assert volume.health is dpp.ObjectHealth.HEALTHY


def test_a_bad_resync_rate_is_refused_naming_the_key() -> None:
    with pytest.raises(dpp.ConfigError, match=r"\[cluster\] resync_mbps = '0'"):
        attrs.evolve(ClusterConfig.default(), resync_mbps=0)
