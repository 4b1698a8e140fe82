"""Scaling: capacity grows, repeats and crashes converge, shrinking is refused or honoured as
the manifest declares, requests beyond the plan or the quota are refused, and a horizontal
scale (a member-count parameter) adds members."""

from __future__ import annotations

from dpp_sdk.conformance._lab import Step
from dpp_sdk.conformance._registry import Category, check
from dpp_sdk.conformance._steps import apply_change, converges_after_crashes, create_step
from dpp_sdk.conformance._trial import Trial
from dpp_sdk.contract import HealthStatus, ScaleRequest

S = Category.SCALING


def _bigger(t: Trial, capacity: int) -> int:
    plan = t.plan(t.platform.get_instance("c1").spec.plan)
    target = min(plan.max_capacity_gb, capacity * 2)
    t.expect(
        target > capacity,
        f"room to grow in plan {plan.name!r}",
        f"its maximum is {plan.max_capacity_gb} GB",
    )
    return target


def _total_gb(t: Trial, name: str) -> float:
    return sum(v.size_gb for v in t.platform.get_instance(name).volumes)


@check(
    "SCALE-001",
    S,
    "Scaling capacity up grows the instance's volumes and stays green",
    needs=("capacity_scale_up",),
    quick=True,
)
def scale_up_grows(t: Trial) -> None:
    info = t.create("c1")
    before = _total_gb(t, "c1")
    target = _bigger(t, info.spec.capacity_gb)
    t.platform.scale_instance("c1", target)
    after = t.platform.get_instance("c1")
    t.expect(
        after.spec.capacity_gb == target,
        f"capacity {target} GB recorded",
        f"it is {after.spec.capacity_gb} GB",
    )
    t.expect(
        _total_gb(t, "c1") > before,
        f"volumes larger than {before:g} GB in total",
        f"{_total_gb(t, 'c1'):g} GB",
    )
    t.settle("c1")


@check(
    "SCALE-002",
    S,
    "scale called again with the same request converges: nothing changes",
    needs=("capacity_scale_up",),
)
def scale_repeated_converges(t: Trial) -> None:
    info = t.create("c1")
    target = _bigger(t, info.spec.capacity_gb)
    t.platform.scale_instance("c1", target)
    first = t.holding("c1")
    request = ScaleRequest(
        instance="c1", capacity_gb=target, previous_capacity_gb=info.spec.capacity_gb
    )
    t.call_provider("c1", request, "a repeated scale to succeed")
    second = t.holding("c1")
    t.expect(second == first, "the same holding after a repeated scale", second.difference(first))


@check(
    "SCALE-003",
    S,
    "Scale down is refused up front unless capacity_scale_down is declared, and honoured if it is",
    quick=True,
)
def scale_down_as_declared(t: Trial) -> None:
    plan = t.plan()
    capacity = max(plan.min_capacity_gb + 1, t.default_capacity())
    if capacity > plan.max_capacity_gb:
        t.note(f"plan {plan.name!r} allows a single capacity; nothing to shrink")
        return
    t.create("c1", capacity_gb=capacity)
    smaller = plan.min_capacity_gb
    if t.subject.manifest.capabilities.capacity_scale_down:
        t.platform.scale_instance("c1", smaller)
        got = t.platform.get_instance("c1").spec.capacity_gb
        t.expect(got == smaller, f"capacity {smaller} GB after scaling down", f"it is {got} GB")
        t.settle("c1")
    else:
        t.expect_refused(
            lambda: t.platform.scale_instance("c1", smaller),
            f"a scale down to {smaller} GB",
            names="capacity",
        )


@check(
    "SCALE-004",
    S,
    "A scale beyond the plan's maximum or the quota is refused before any change",
    needs=("capacity_scale_up",),
)
def scale_beyond_limits_is_refused(t: Trial) -> None:
    t.create("c1")
    plan = t.plan()
    t.expect_refused(
        lambda: t.platform.scale_instance("c1", plan.max_capacity_gb + 1),
        f"a scale to {plan.max_capacity_gb + 1} GB (plan maximum {plan.max_capacity_gb} GB)",
        names="capacity_gb",
    )
    quota = t.platform.resources().quota_gb
    if plan.max_capacity_gb > quota:
        size = int(quota) + 1
        t.expect_refused(
            lambda: t.platform.scale_instance("c1", size),
            f"a scale to {size} GB (quota {quota:g} GB raw)",
        )


@check(
    "SCALE-005",
    S,
    "A scale killed after any context call and resumed converges",
    needs=("capacity_scale_up",),
)
def scale_converges_after_a_crash(t: Trial) -> None:
    plan = t.plan()
    capacity = t.default_capacity()
    target = min(plan.max_capacity_gb, capacity * 2)
    if target <= capacity:
        t.note("the plan leaves no room to grow")
        return

    def prepare(name: str) -> Step:
        return create_step(t, name, capacity)

    def scale(name: str) -> Step:
        return Step(call="scale_instance", kwargs={"name": name, "capacity_gb": target})

    converges_after_crashes(t, "scale", prepare, scale)


@check(
    "SCALE-006",
    S,
    "A horizontal scale (a member-count parameter) adds running members and stays green",
    needs=("horizontal_scale",),
)
def horizontal_scale_adds_members(t: Trial) -> None:
    info = t.create("c1")
    before = len(info.members)
    current = dict(info.spec.parameters)

    def grows(change: object) -> bool:
        value, previous = getattr(change, "value", None), getattr(change, "previous", None)
        key = getattr(change, "key", "")
        return (
            isinstance(value, int)
            and isinstance(previous, int)
            and value > previous
            and key in current
        )

    change = apply_change(t, "c1", wanted=grows)
    after = t.platform.get_instance("c1")
    t.expect(
        len(after.members) > before,
        f"more than {before} members after {change.describe()}",
        f"{len(after.members)} members",
    )
    down = [m.name for m in after.members if m.state != "running"]
    t.expect(not down, "every member running", f"not running: {', '.join(down)}")
    t.expect(t.health("c1") == HealthStatus.GREEN, "green", lambda: t.health_text("c1"))
