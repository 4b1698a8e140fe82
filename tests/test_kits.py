"""dpp_sdk.kits: the helpers providers use, checked on their own and through a platform."""

from __future__ import annotations

from typing import ClassVar, Literal

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

import dpp_sdk as dpp
from dpp_sdk import kits, testing
from tests.providers import KVProvider


@given(st.integers(1, 10_000))
def test_a_majority_is_more_than_half(members: int) -> None:
    assert kits.majority(members) > members / 2 >= kits.majority(members) - 1


@pytest.mark.parametrize("bad", [0, -1, 2.0, True])
def test_a_majority_of_nothing_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match="members"):
        kits.majority(bad)  # type: ignore[arg-type]


def test_a_validation_error_lists_every_problem() -> None:
    problems = [
        dpp.Problem(path="$.a", value=1, message="no"),
        dpp.Problem(path="$.b", value=2, message="nope"),
    ]
    error = kits.validation_error(problems)
    assert error.problems == tuple(problems)
    assert error.summary == "2 problems"
    with pytest.raises(ValueError, match="at least one"):
        kits.validation_error([])


MemberState = Literal["running", "unreachable", "lost", "stopped"]


def _member(name: str, state: MemberState, volume: str = "") -> dpp.MemberInfo:
    return dpp.MemberInfo(
        name=name,
        host="esx-01",
        state=state,
        volumes=(volume,) if volume else (),
    )


def test_a_snapshot_says_who_is_up_who_waits_and_who_needs_replacing() -> None:
    volumes = {
        "d-ok": dpp.VolumeInfo(name="d-ok", size_gb=1, policy="vsan-sna"),
        "d-gone": dpp.VolumeInfo(name="d-gone", size_gb=1, policy="vsan-sna", state="inaccessible"),
    }
    snap = kits.InstanceSnapshot(
        members={
            "up": _member("up", "running", "d-ok"),
            "rebooting": _member("rebooting", "unreachable", "d-ok"),
            "lost": _member("lost", "lost", "d-gone"),
            "dataless": _member("dataless", "running", "d-gone"),
            "maint": _member("maint", "stopped", "d-ok"),
        },
        volumes=volumes,
    )
    assert snap.up() == ("up",)
    assert snap.needing_replacement([*snap.members, "missing"]) == ("lost", "dataless", "missing")
    assert snap.why_down("rebooting") == "rebooting unreachable on failed host esx-01"
    assert snap.why_down("dataless") == "dataless has lost its data (d-gone) on esx-01"
    assert snap.why_down("up") is None


@attrs.frozen
class Layout:
    servers: int
    names: tuple[str, ...]


class StatefulProvider(KVProvider):
    """Keeps a typed layout in its state, and releases everything through the kit."""

    seen: ClassVar[list[Layout | None]] = []

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        super().provision(ctx, request)
        kits.save_state(ctx, "layout", Layout(servers=2, names=("a", "b")))
        self.seen.append(kits.load_state(ctx, "layout", Layout))
        ctx.state.set("broken", {"servers": "many"})
        with pytest.raises(dpp.ValidationError, match=r"\$\.state\.broken"):
            kits.load_state(ctx, "broken", Layout)
        assert kits.load_state(ctx, "absent", Layout) is None

    def on_failure(self, ctx: dpp.InstanceContext, event: dpp.FailureEvent) -> None:
        snap = kits.InstanceSnapshot.take(ctx)
        for name in snap.needing_replacement():
            claim = dpp.VolumeClaim(name="data", size_gb=ctx.spec.capacity_gb)
            kits.replace_member(ctx, name, volumes=[claim])

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        kits.release_everything(ctx)


def test_typed_state_round_trips_and_release_everything_leaves_nothing() -> None:
    StatefulProvider.seen.clear()
    with testing.open_platform(StatefulProvider, hosts=3) as platform:
        platform.create_instance(service="kv", name="s1", capacity_gb=5)
        assert StatefulProvider.seen == [Layout(servers=2, names=("a", "b"))]
        platform.remove_instance("s1")
        testing.assert_nothing_allocated(platform)


def test_a_lost_member_is_replaced_on_another_host_by_the_kit() -> None:
    with testing.open_platform(StatefulProvider, hosts=3) as platform:
        platform.create_instance(service="kv", name="s1", capacity_gb=5, policy="vsan-sna")
        failed = testing.host_of(platform, "s1", "kv-0")
        platform.inject_host_failure(failed)
        assert testing.host_of(platform, "s1", "kv-0") == failed  # unreachable: waited for
        platform.advance(61 * 60)
        assert testing.host_of(platform, "s1", "kv-0") != failed
        assert platform.check_consistency() == []


class PlanningProvider(KVProvider):
    """Asks the platform where members would go, in monitor (a read-only context)."""

    answers: ClassVar[list[object]] = []

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        claim = dpp.VolumeClaim(name="data", size_gb=ctx.spec.capacity_gb)
        self.answers.append(ctx.members.plan("kv-0", volumes=[claim], replacing=True).host)
        huge = dpp.VolumeClaim(name="huge", size_gb=10**6)
        try:
            ctx.members.plan("kv-9", volumes=[huge])
        except (dpp.PlacementFailed, dpp.QuotaExceeded) as exc:
            self.answers.append(type(exc).__name__)
        return super().monitor(ctx)


def test_a_placement_dry_run_answers_where_and_why_not_and_changes_nothing() -> None:
    """ctx.members.plan runs the platform's placement and undoes it: a replacement's host
    avoids the failed one; an impossible member is refused with the reason; nothing moves."""
    PlanningProvider.answers.clear()
    with testing.open_platform(PlanningProvider, hosts=3) as platform:
        platform.create_instance(service="kv", name="p1", capacity_gb=5, policy="vsan-sna")
        failed = testing.host_of(platform, "p1", "kv-0")
        platform.inject_host_failure(failed)
        before = (platform.resources().reserved_gb, platform.get_instance("p1"))
        PlanningProvider.answers.clear()
        platform.instance_health("p1")
        planned, refusal = PlanningProvider.answers
        assert planned != failed
        assert refusal in ("PlacementFailed", "QuotaExceeded")
        after = (platform.resources().reserved_gb, platform.get_instance("p1"))
        assert after == before
        assert [m.name for m in after[1].members] == ["kv-0"]
        assert platform.check_consistency() == []


class VolumePlanningProvider(KVProvider):
    """Asks where a replacement volume would go, in monitor (a read-only context)."""

    answers: ClassVar[list[object]] = []

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        planned = ctx.volumes.plan("data", size_gb=5, member="kv-0", replacing=True)
        self.answers.append((planned.name, planned.components[0].host))
        try:
            ctx.volumes.plan("huge", size_gb=10**6, member="kv-0", policy="vsan-sna-thick")
        except (dpp.PlacementFailed, dpp.QuotaExceeded) as exc:
            self.answers.append(type(exc).__name__)
        return super().monitor(ctx)


def test_a_volume_dry_run_answers_where_and_why_not_and_changes_nothing() -> None:
    VolumePlanningProvider.answers.clear()
    with testing.open_platform(VolumePlanningProvider, hosts=3) as platform:
        platform.create_instance(service="kv", name="v1", capacity_gb=5, policy="vsan-sna")
        host = testing.host_of(platform, "v1", "kv-0")
        before = platform.resources().reserved_gb
        VolumePlanningProvider.answers.clear()
        platform.instance_health("v1")
        assert VolumePlanningProvider.answers[0] == ("data", host)
        assert VolumePlanningProvider.answers[1] in ("PlacementFailed", "QuotaExceeded")
        assert platform.resources().reserved_gb == before
        assert [v.name for v in platform.get_instance("v1").volumes] == ["data"]
        assert platform.check_consistency() == []
