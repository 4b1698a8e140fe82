"""Provisioning: defaults reach ready, repeats and crashes converge, bad requests are refused
before any allocation, and a declared footprint matches what provision allocates."""

from __future__ import annotations

from functools import partial

from dpp_sdk.conformance._lab import Step
from dpp_sdk.conformance._params import bad_parameters, random_parameters
from dpp_sdk.conformance._registry import Category, CheckFailed, Level, Skip, check
from dpp_sdk.conformance._steps import converges_after_crashes, create_step
from dpp_sdk.conformance._trial import Trial, said
from dpp_sdk.contract import (
    ClusterView,
    DppError,
    OperationFailed,
    ProvisionRequest,
)
from dpp_sdk.testing import cluster

P = Category.PROVISIONING


@check(
    "PROV-001",
    P,
    "An instance with the first plan's defaults provisions to ready and green",
    quick=True,
)
def defaults_provision_to_ready(t: Trial) -> None:
    t.round_trip("c1")


@check("PROV-002", P, "Every plan provisions to ready with its own defaults")
def every_plan_provisions(t: Trial) -> None:
    for number, plan in enumerate(t.subject.manifest.plans):
        t.round_trip(f"plan{number}", plan=plan.name, capacity_gb=t.default_capacity(plan))


@check(
    "PROV-003",
    P,
    "provision called again with the same request converges: nothing allocated twice",
    quick=True,
)
def provision_repeated_converges(t: Trial) -> None:
    info = t.create("c1")
    first = t.holding("c1")
    request = ProvisionRequest(
        instance="c1", service=t.service, spec=info.spec, operation_id="conformance-repeat"
    )
    t.call_provider("c1", request, "a repeated provision to succeed")
    second = t.holding("c1")
    t.expect(
        second == first,
        "the same holding after a repeated provision",
        f"{second.difference(first)}",
    )
    problems = t.platform.check_consistency()
    t.expect(not problems, "a consistent platform", "; ".join(problems))


@check(
    "PROV-004",
    P,
    "A provision killed after any context call and resumed converges, nothing allocated twice",
)
def provision_converges_after_a_crash(t: Trial) -> None:
    capacity = t.default_capacity()

    def provision(name: str) -> Step:
        return create_step(t, name, capacity)

    converges_after_crashes(t, "provision", None, provision)


@check(
    "PROV-005",
    P,
    "Parameters the schema refuses are refused before any allocation, naming the parameter",
    quick=True,
)
def bad_parameters_are_refused(t: Trial) -> None:
    cases = list(bad_parameters(t.subject.manifest.parameters_schema))
    if not cases:
        t.note("the schema refuses nothing one key at a time")
    t.random.shuffle(cases)
    for case in cases[: 3 if t.quick else 12]:
        t.expect_refused(
            partial(
                t.platform.create_instance,
                service=t.service,
                name="bad",
                capacity_gb=t.default_capacity(),
                parameters={case.key: case.value},
            ),
            f"a create with {case.key}={case.value!r} ({case.why})",
            names=case.key,
        )


@check(
    "PROV-006",
    P,
    "Parameter sets the schema allows are refused up front or provisioned, never failed half-way",
)
def allowed_parameters_never_fail_half_way(t: Trial) -> None:
    schema = t.subject.manifest.parameters_schema
    for number in range(3 if t.quick else 10):
        parameters = random_parameters(schema, t.random)
        name = f"p{number}"
        try:
            operation = t.platform.create_instance(
                service=t.service,
                name=name,
                capacity_gb=t.default_capacity(),
                parameters=parameters,
            )
        except OperationFailed as error:
            cause = error.operation.error
            kind = cause.type if cause is not None else ""
            if kind.endswith(("ValidationError", "PermanentError")):
                t.fail(
                    f"parameters {parameters} to be refused by validate before any allocation, "
                    "or provisioned",
                    f"provision started and failed: {kind}: {cause.message if cause else error}",
                )
            t.note(f"{parameters}: failed for want of room ({kind})")
            continue
        except DppError as error:
            t.note(f"{parameters}: refused up front ({said(error)})")
            continue
        t.track(operation, name)
        t.expect(
            t.platform.get_instance(name).status == "ready",
            f"instance with {parameters} ready",
            partial(t.state_text, name),
        )
        leaked = t.remove(name)
        t.expect(not leaked, f"nothing left after decommissioning {parameters}", ", ".join(leaked))


@check(
    "PROV-007",
    P,
    "Capacity outside the plan's bounds is refused before any allocation, naming capacity_gb",
    quick=True,
)
def capacity_outside_the_plan_is_refused(t: Trial) -> None:
    plan = t.plan()
    sizes = [plan.max_capacity_gb + 1]
    if plan.min_capacity_gb > 1:
        sizes.append(plan.min_capacity_gb - 1)
    for size in sizes:
        t.expect_refused(
            partial(t.platform.create_instance, service=t.service, name="bad", capacity_gb=size),
            f"a create of {size} GB on plan {plan.name!r} "
            f"({plan.min_capacity_gb}-{plan.max_capacity_gb} GB)",
            names="capacity_gb",
        )


@check(
    "PROV-008",
    P,
    "A request over the quota (counting every copy it stores) is refused before any allocation",
)
def over_quota_is_refused(t: Trial) -> None:
    quota = t.platform.resources().quota_gb
    for number, plan in enumerate(t.subject.manifest.plans):
        size = max(plan.min_capacity_gb, min(plan.max_capacity_gb, int(quota) + 1))
        what = f"a create of {size} GB on plan {plan.name!r} (quota {quota:g} GB raw)"
        request = partial(
            t.platform.create_instance,
            service=t.service,
            name=f"big{number}",
            plan=plan.name,
            capacity_gb=size,
        )
        if size > quota:
            t.expect_refused(request, what)
            continue
        # The largest request the plan allows: it fits the quota or is refused up front.
        try:
            operation = request()
        except OperationFailed as error:
            t.fail(f"{what} to provision or be refused before any allocation", said(error))
        except DppError as error:
            t.note(f"{what}: refused ({said(error)})")
            continue
        else:
            t.track(operation, f"big{number}")
            t.remove(f"big{number}")


def _footprint_view(t: Trial) -> ClusterView:
    return ClusterView(hosts=tuple(t.platform.list_hosts()))


@check(
    "PROV-009", P, "A declared footprint names exactly the members and volumes provision creates"
)
def footprint_matches_provision(t: Trial) -> None:
    plan = t.plan()
    info = t.create("c1")
    provider = t.subject.provider_class()
    try:
        declared = provider.footprint(info.spec, _footprint_view(t))
    except Exception as error:
        raise CheckFailed("footprint to describe the spec", f"it raised {said(error)}") from error
    if declared is None:
        raise Skip(f"the provider declares no footprint for plan {plan.name!r}")
    members = sorted(m.name for m in declared.members)
    volumes = sorted(
        [(v.name, float(v.size_gb)) for m in declared.members for v in m.volumes]
        + [(v.name, float(v.size_gb)) for v in declared.volumes]
    )
    real_members = sorted(m.name for m in info.members)
    real_volumes = sorted((v.name, float(v.size_gb)) for v in info.volumes)
    t.expect(
        members == real_members,
        f"the declared members {members}",
        f"provision created {real_members}",
    )
    t.expect(
        volumes == real_volumes,
        f"the declared volumes {volumes}",
        f"provision created {real_volumes}",
    )


@check(
    "PROV-010",
    P,
    "An instance provisions to ready on every supported policy",
    level=Level.RECOMMENDED,
)
def every_policy_provisions(t: Trial) -> None:
    # Six hosts, each its own fault domain: enough for every policy (RAID-6 needs six).
    t.open(config=cluster(hosts=6))
    for number, policy in enumerate(t.subject.manifest.supported_policies):
        t.round_trip(f"pol{number}", policy=policy)
