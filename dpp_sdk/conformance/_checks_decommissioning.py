"""Decommissioning: nothing is left (the leak ledger), also after repeats, crashes, failures
and scaling."""

from __future__ import annotations

from dpp_sdk.conformance._lab import Step
from dpp_sdk.conformance._registry import Category, Skip, check
from dpp_sdk.conformance._steps import converges_after_crashes, create_step, member_hosts
from dpp_sdk.conformance._trial import Trial
from dpp_sdk.contract import DecommissionRequest

D = Category.DECOMMISSIONING


def _leaves_nothing(t: Trial, name: str, after: str) -> None:
    uid = t.uid(name)
    held = t.platform.ledger(uid)
    leaked = t.remove(name)
    t.expect(
        not leaked,
        f"decommission {after} to release all {len(held)} things the instance ever held "
        "(the leak ledger)",
        f"the platform had to reclaim {', '.join(leaked)}",
    )
    gone = [u.instance for u in t.platform.resources().instances if u.instance == name]
    t.expect(not gone, "no capacity accounted to the instance", f"still accounted: {gone}")
    problems = t.platform.check_consistency()
    t.expect(not problems, "a consistent platform after decommission", "; ".join(problems))


@check(
    "DECOM-001",
    D,
    "Decommission releases every volume, member, endpoint and secret the instance held",
    quick=True,
)
def decommission_leaves_nothing(t: Trial) -> None:
    t.create("c1")
    _leaves_nothing(t, "c1", "of a ready instance")
    reserved = t.platform.resources().reserved_gb
    t.expect(
        reserved == 0, "no raw capacity reserved with no instance left", f"{reserved:g} GB reserved"
    )


@check(
    "DECOM-002",
    D,
    "decommission called again, on a half-decommissioned instance, succeeds and leaves nothing",
)
def decommission_repeated_converges(t: Trial) -> None:
    t.create("c1")
    request = DecommissionRequest(instance="c1", operation_id="conformance-repeat")
    for attempt in ("first", "second"):
        t.call_provider("c1", request, f"the {attempt} direct decommission call to succeed")
    _leaves_nothing(t, "c1", "after two direct calls")


@check(
    "DECOM-003", D, "Decommission with a member's host failed still completes and leaves nothing"
)
def decommission_with_a_failed_host(t: Trial) -> None:
    info = t.create("c1")
    hosts = sorted(set(member_hosts(info).values()))
    if not hosts:
        raise Skip("the instance has no members")
    t.platform.inject_host_failure(t.random.choice(hosts))
    _leaves_nothing(t, "c1", "with a member's host failed")


@check("DECOM-004", D, "Decommission after a scale up or a configure leaves nothing")
def decommission_after_changes(t: Trial) -> None:
    info = t.create("c1")
    plan = t.plan()
    bigger = min(plan.max_capacity_gb, info.spec.capacity_gb * 2)
    if t.subject.manifest.capabilities.capacity_scale_up and bigger > info.spec.capacity_gb:
        t.platform.scale_instance("c1", bigger)
    _leaves_nothing(t, "c1", "after a scale up")


@check("DECOM-005", D, "A decommission killed after any context call and resumed leaves nothing")
def decommission_converges_after_a_crash(t: Trial) -> None:
    capacity = t.default_capacity()

    def prepare(name: str) -> Step:
        return create_step(t, name, capacity)

    def remove(name: str) -> Step:
        return Step(call="remove_instance", kwargs={"name": name})

    def released(name: str) -> None:
        last = t.platform.list_operations(target=name, limit=None)[-1]
        leaked = last.result.get("leaked", [])
        t.expect(
            last.state == "succeeded" and not leaked,
            f"the decommission of {name!r} to succeed and release everything",
            f"it {last.state}, leaving {leaked}",
        )

    converges_after_crashes(t, "decommission", prepare, remove, released)
