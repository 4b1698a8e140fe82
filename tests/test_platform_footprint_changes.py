"""A declared footprint is checked on configure and scale too, counting only what the change
adds to what the instance holds: a change that cannot fit is refused up front, audited
``refused``, with nothing changed."""

from __future__ import annotations

from typing import ClassVar

import attrs
import pytest

import dpp_sdk as dpp
from dpp_sdk import testing

REF = "tests.test_platform_footprint_changes:CopiesProvider"
SPEC_ONLY = "tests.test_platform_footprint_changes:SpecOnlyCopiesProvider"
RULE = dpp.AntiAffinity(group="copies", required=True, scope="host")

# Four hosts with one 8,000 GB capacity disk each: 32,000 GB raw, a 25,600 GB vSAN quota.
SHAPE = {"capacity_disks": 1, "capacity_disk_gb": 8000, "direct_disks": 0}
pytestmark = pytest.mark.dpp_platform(REF, **SHAPE)


def copy(n: int, capacity_gb: float) -> dpp.MemberFootprint:
    """Member ``copy-<n>`` with its host-local copy of the data."""
    return dpp.MemberFootprint(
        name=f"copy-{n}",
        volumes=(dpp.VolumeClaim(name=f"data-{n}", size_gb=capacity_gb),),
        anti_affinity=RULE,
    )


class CopiesProvider(dpp.ServiceProvider):
    """``copies`` members on distinct hosts, each with a ``capacity_gb`` host-local volume
    (thick, so what is held counts against the quota in full):
    configure adds or removes members, scale expands every volume. Its footprint (told
    what the instance holds, which it does not need) is what provision, configure and scale
    make."""

    calls: ClassVar[list[dpp.Footprint | None]] = []

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return dpp.Manifest(
            name="copies",
            display_name="Copies",
            version="1.0.0",
            vendor="tests",
            category=dpp.Category.DATABASE,
            description="copies on distinct hosts",
            plans=(dpp.Plan(name="any", min_capacity_gb=1, max_capacity_gb=20_000),),
            parameters_schema={
                "type": "object",
                "properties": {"copies": {"type": "integer", "minimum": 1, "default": 3}},
                "additionalProperties": False,
            },
            supported_policies=("vsan-sna-thick",),
            default_policy="vsan-sna-thick",
            capabilities=dpp.Capabilities(capacity_scale_up=True, horizontal_scale=True),
            redundancy=dpp.Redundancy.SERVICE,
        )

    @staticmethod
    def layout(spec: dpp.InstanceSpec) -> dpp.Footprint:
        return dpp.Footprint(
            members=tuple(copy(n, spec.capacity_gb) for n in range(spec.parameters["copies"]))
        )

    def footprint(
        self,
        spec: dpp.InstanceSpec,
        cluster: dpp.ClusterView,
        *,
        current: dpp.Footprint | None = None,
    ) -> dpp.Footprint | None:
        self.calls.append(current)
        return self.layout(spec)

    def _apply(self, ctx: dpp.InstanceContext) -> None:
        wanted = self.layout(ctx.spec)
        names = {m.name for m in wanted.members}
        for member in ctx.members.list():
            if member.name not in names:
                ctx.members.delete(member.name)
        for member in wanted.members:
            ctx.members.ensure(
                member.name, volumes=member.volumes, anti_affinity=member.anti_affinity
            )
            for claim in member.volumes:
                ctx.volumes.expand(claim.name, claim.size_gb)

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        self._apply(ctx)

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        self._apply(ctx)

    def scale(self, ctx: dpp.InstanceContext, request: dpp.ScaleRequest) -> None:
        self._apply(ctx)

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        return dpp.HealthReport.from_checks([])

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        for member in ctx.members.list():
            ctx.members.delete(member.name)


class SpecOnlyCopiesProvider(CopiesProvider):
    """The same, with a footprint written before ``current`` existed (two arguments)."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return attrs.evolve(super().register(cluster), name="spec-only")

    def footprint(  # type: ignore[override]  # the signature older providers have
        self, spec: dpp.InstanceSpec, cluster: dpp.ClusterView
    ) -> dpp.Footprint | None:
        return self.layout(spec)


def create(platform: dpp.Platform, capacity_gb: int, copies: int = 3) -> None:
    platform.create_instance(
        service="copies", name="c1", capacity_gb=capacity_gb, parameters={"copies": copies}
    )


def outcomes(platform: dpp.Platform, action: str) -> list[str]:
    return [a.outcome for a in platform.audit() if a.action == action]


def holdings(platform: dpp.Platform) -> tuple[object, ...]:
    info = platform.get_instance("c1")
    return (
        info.spec,
        sorted((m.name, m.host) for m in info.members),
        sorted((v.name, v.size_gb) for v in info.volumes),
        platform.resources().reserved_gb,
        len(list(platform.list_operations(limit=None))),
    )


def test_a_scale_over_the_quota_is_refused_with_used_asked_and_left(
    dpp_platform: dpp.Platform,
) -> None:
    """Three 2,000 GB copies hold 6,000 GB; at 9,000 GB each they add 21,000 GB, past the
    19,600 GB left. The platform's own estimate (one copy: 7,000 GB more) would let it start."""
    create(dpp_platform, 2000)
    before = holdings(dpp_platform)
    with pytest.raises(dpp.QuotaExceeded) as caught:
        dpp_platform.scale_instance("c1", 9000)
    assert (caught.value.used, caught.value.asked, caught.value.left) == (6000, 21000, 19600)
    assert "instance 'c1' declares 21000.0 GB more of raw capacity" in str(caught.value)
    assert outcomes(dpp_platform, "instance.scale") == ["refused"]
    assert holdings(dpp_platform) == before
    assert dpp_platform.get_instance("c1").status is dpp.InstanceStatus.READY


def test_a_configure_adding_members_beyond_the_hosts_is_refused(
    dpp_platform: dpp.Platform,
) -> None:
    """3 -> 5 copies on four hosts: the fifth has no host of its own, and the dry run, which
    keeps the held members where they are, says so before anything runs."""
    create(dpp_platform, 100)
    before = holdings(dpp_platform)
    with pytest.raises(
        dpp.PlacementFailed, match=r"AntiAffinityUnsatisfiable.*declared footprint.*copy-4"
    ):
        dpp_platform.configure_instance("c1", {"copies": 5})
    assert outcomes(dpp_platform, "instance.configure") == ["refused"]
    assert holdings(dpp_platform) == before


def test_changes_within_the_room_succeed_as_declared(dpp_platform: dpp.Platform) -> None:
    """3 -> 4 copies fills the fourth host; then every copy grows within the quota. The
    footprint is told what the instance holds."""
    create(dpp_platform, 1000)
    CopiesProvider.calls.clear()
    dpp_platform.configure_instance("c1", {"copies": 4})
    (current,) = CopiesProvider.calls
    assert current is not None
    assert sorted(m.name for m in current.members) == ["copy-0", "copy-1", "copy-2"]
    dpp_platform.scale_instance("c1", 3000)
    info = dpp_platform.get_instance("c1")
    assert len({m.host for m in info.members}) == 4
    assert sorted((v.name, v.size_gb) for v in info.volumes) == [
        (f"data-{n}", 3000.0) for n in range(4)
    ]
    assert outcomes(dpp_platform, "instance.configure") == ["succeeded"]
    assert outcomes(dpp_platform, "instance.scale") == ["succeeded"]


def test_only_what_a_change_adds_counts_against_the_quota(dpp_platform: dpp.Platform) -> None:
    """Three 6,000 GB copies hold 18,000 GB; a fourth adds 6,000 GB (24,000 of 25,600 GB).
    Counting the whole new footprint on top of what is held (42,000 GB) would refuse it."""
    create(dpp_platform, 6000)
    dpp_platform.configure_instance("c1", {"copies": 4})
    assert len(dpp_platform.get_instance("c1").members) == 4
    with pytest.raises(dpp.QuotaExceeded, match=r"declares 6000\.0 GB more"):
        dpp_platform.configure_instance("c1", {"copies": 5})  # 30,000 GB would be needed
    assert outcomes(dpp_platform, "instance.configure") == ["succeeded", "refused"]


def test_removing_members_needs_no_room(dpp_platform: dpp.Platform) -> None:
    create(dpp_platform, 8000)  # 24,000 of 25,600 GB used, every disk of three hosts full
    dpp_platform.configure_instance("c1", {"copies": 1})
    assert [m.name for m in dpp_platform.get_instance("c1").members] == ["copy-0"]


@pytest.mark.dpp_platform(SPEC_ONLY, **SHAPE)
def test_a_footprint_without_current_is_checked_on_scale_too(
    dpp_platform: dpp.Platform,
) -> None:
    """A provider whose hook takes (spec, cluster) only is asked the same way."""
    dpp_platform.create_instance(service="spec-only", name="c1", capacity_gb=2000)
    with pytest.raises(dpp.QuotaExceeded, match=r"declares 21000\.0 GB more"):
        dpp_platform.scale_instance("c1", 9000)
    assert outcomes(dpp_platform, "instance.scale") == ["refused"]
    assert dpp_platform.get_instance("c1").spec.capacity_gb == 2000
    dpp_platform.remove_instance("c1")
    testing.assert_nothing_allocated(dpp_platform)
