"""A provider's declared footprint (issue 10 #2): refused up front, not failed half-way."""

from __future__ import annotations

import pytest

import dpp_sdk as dpp
from dpp_sdk import testing
from tests.providers import ThreeCopiesProvider

REF = "tests.providers:ThreeCopiesProvider"


@pytest.fixture(autouse=True)
def _declares() -> None:
    ThreeCopiesProvider.DECLARE = True
    ThreeCopiesProvider.views.clear()


def test_without_a_footprint_three_copies_over_quota_fail_half_way() -> None:
    """The old behaviour, kept for a provider that declares nothing: the platform's estimate
    (one copy) passes, provision then runs out of quota and the operation fails."""
    ThreeCopiesProvider.DECLARE = False
    with testing.open_platform(REF, capacity_disk_gb=4000, direct_disks=0) as platform:
        with pytest.raises(dpp.OperationFailed):
            platform.create_instance(service="three-copies", name="t1", capacity_gb=9000)
        (audit,) = [a for a in platform.audit() if a.action == "instance.provision"]
        assert audit.outcome == "failed"
        testing.assert_nothing_allocated(platform)


def test_a_declared_footprint_over_quota_is_refused_with_used_asked_and_left() -> None:
    """4 hosts x 2 x 4000 GB: a 25,600 GB vSAN quota; three 9,000 GB copies need 27,000 GB."""
    with testing.open_platform(REF, capacity_disk_gb=4000, direct_disks=0) as platform:
        with pytest.raises(dpp.QuotaExceeded) as caught:
            platform.create_instance(service="three-copies", name="t1", capacity_gb=9000)
        message = str(caught.value)
        assert "27000.0 GB" in message
        assert "used" in message
        assert "left" in message
        (audit,) = [a for a in platform.audit() if a.action == "instance.provision"]
        assert audit.outcome == "refused"
        assert list(platform.list_operations(limit=None)) == []
        testing.assert_nothing_allocated(platform)


def test_a_declared_footprint_that_cannot_be_placed_is_refused_naming_why() -> None:
    """Three copies on distinct hosts, two hosts: the dry run finds no third host."""
    with testing.open_platform(REF, hosts=2, direct_disks=0) as platform:
        with pytest.raises(
            dpp.PlacementFailed, match=r"declared footprint.*anti-affinity group .copies."
        ):
            platform.create_instance(service="three-copies", name="t1", capacity_gb=10)
        assert list(platform.list_operations(limit=None)) == []
        testing.assert_nothing_allocated(platform)


def test_a_footprint_that_fits_provisions_as_declared_and_the_view_shows_pools() -> None:
    with testing.open_platform(REF, direct_disks=0) as platform:
        platform.create_instance(service="three-copies", name="t1", capacity_gb=100)
        assert len({m.host for m in platform.get_instance("t1").members}) == 3
        view = ThreeCopiesProvider.views[-1]  # what footprint (and validate) are handed
        (vsan, direct) = view.pools
        assert (vsan.kind, direct.kind) == ("vsan", "direct")
        assert vsan.quota_gb == pytest.approx(vsan.raw_gb * 0.8)
        assert vsan.free_gb == pytest.approx(vsan.quota_gb - vsan.reserved_gb)
