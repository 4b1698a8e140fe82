"""Disk maintenance (decommission): host-local volumes move to another disk of the host."""

from __future__ import annotations

import pytest

import dpp_sdk as dpp
from dpp_sdk.platform import ManualClock, Platform

pytestmark = pytest.mark.dpp_platform(
    "tests.providers:DirectProvider",
    "tests.providers:KVProvider",
    "tests.providers:PoolSpreadProvider",
    hosts=4,
    clock=ManualClock,
)


def _where(p: Platform, instance: str) -> tuple[str, str]:
    (component,) = p.get_instance(instance).volumes[0].components
    return component.host, component.disk


@pytest.mark.parametrize("mode", ["ensure-accessibility", "evacuate-all"])
def test_a_direct_disk_in_maintenance_moves_its_volumes_to_another_disk_of_the_host(
    dpp_platform: Platform, mode: str
) -> None:
    """Like the CSI syncer's storage vMotion: same host, another direct disk, bytes kept; the
    object is in data-move while the copy lasts."""
    dpp_platform.create_instance(service="direct", name="d1", capacity_gb=10)
    probe = dpp_platform.data_probe("d1")
    assert probe is not None
    probe.write("canary", b"on a direct disk")
    host, disk = _where(dpp_platform, "d1")
    check = dpp_platform.maintenance_precheck(host, mode, disk=disk)
    assert check.rebuild == ("d1",)
    assert check.bytes_to_rebuild > 0
    dpp_platform.enter_maintenance(host, mode, disk=disk)
    new_host, new_disk = _where(dpp_platform, "d1")
    assert (new_host, new_disk != disk) == (host, True)
    (volume,) = dpp_platform.get_instance("d1").volumes
    assert (volume.state, volume.health) == ("healthy", dpp.ObjectHealth.DATA_MOVE)
    assert probe.read("canary") == b"on a direct disk"
    dpp_platform.advance(3600)
    assert dpp_platform.get_instance("d1").volumes[0].health is dpp.ObjectHealth.HEALTHY
    dpp_platform.exit_maintenance(host, disk=disk)
    assert _where(dpp_platform, "d1") == (new_host, new_disk)
    assert dpp_platform.check_consistency() == []


def test_a_direct_disk_in_no_action_maintenance_detaches_its_volumes(
    dpp_platform: Platform,
) -> None:
    """no-action: nothing moves; the volume is absent until the disk returns."""
    dpp_platform.create_instance(service="direct", name="d1", capacity_gb=10)
    host, disk = _where(dpp_platform, "d1")
    dpp_platform.enter_maintenance(host, "no-action", disk=disk)
    (volume,) = dpp_platform.get_instance("d1").volumes
    assert volume.components[0].state == "absent"
    assert volume.state == "inaccessible"
    dpp_platform.exit_maintenance(host, disk=disk)
    assert _where(dpp_platform, "d1") == (host, disk)
    assert dpp_platform.get_instance("d1").volumes[0].state == "healthy"


def test_a_disk_decommission_keeps_the_storage_pool_anti_affinity(dpp_platform: Platform) -> None:
    """Four drives, required spread over the host's four direct disks: none can move off one
    of them without sharing a disk with its group, so the pre-check says so and entering is
    refused, changing nothing."""
    dpp_platform.create_instance(service="spread", name="s1", capacity_gb=10)
    volumes = dpp_platform.get_instance("s1").volumes
    host, disk = volumes[0].components[0].host, volumes[0].components[0].disk
    check = dpp_platform.maintenance_precheck(host, "evacuate-all", disk=disk)
    assert check.problems
    assert "anti-affinity" in check.problems[0]
    with pytest.raises(dpp.Conflict, match="cannot enter maintenance"):
        dpp_platform.enter_maintenance(host, "evacuate-all", disk=disk)
    assert [v.components[0].disk for v in dpp_platform.get_instance("s1").volumes] == [
        v.components[0].disk for v in volumes
    ]


def test_an_sna_volume_moves_to_the_other_capacity_disk_of_its_host(dpp_platform: Platform) -> None:
    dpp_platform.create_instance(service="kv", name="k1", capacity_gb=10, policy="vsan-sna")
    host, disk = _where(dpp_platform, "k1")
    dpp_platform.enter_maintenance(host, "evacuate-all", disk=disk)
    assert _where(dpp_platform, "k1")[0] == host
    assert _where(dpp_platform, "k1")[1] != disk
