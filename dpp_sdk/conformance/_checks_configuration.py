"""Configuration: changes apply and show, repeats and crashes converge, bad input is refused."""

from __future__ import annotations

from functools import partial

from dpp_sdk.conformance._lab import Step
from dpp_sdk.conformance._params import bad_parameters
from dpp_sdk.conformance._registry import Category, check
from dpp_sdk.conformance._steps import Change, apply_change, converges_after_crashes, create_step
from dpp_sdk.conformance._trial import Trial
from dpp_sdk.contract import ConfigureRequest, HealthStatus

C = Category.CONFIGURATION


@check(
    "CONF-001",
    C,
    "A parameter change applies: recorded in the spec, and monitor green after it",
    quick=True,
)
def configure_applies(t: Trial) -> None:
    t.create("c1")
    change = apply_change(t, "c1")
    t.expect(
        t.health("c1") == HealthStatus.GREEN,
        f"green after {change.describe()}",
        lambda: t.health_text("c1"),
    )


@check("CONF-002", C, "configure called again with the same request converges: nothing changes")
def configure_repeated_converges(t: Trial) -> None:
    t.create("c1")
    change = apply_change(t, "c1")
    first = t.holding("c1")
    info = t.platform.get_instance("c1")
    previous = {**info.spec.parameters, change.key: change.previous}
    request = ConfigureRequest(
        instance="c1",
        parameters=info.spec.parameters,
        previous=previous,
        changed=(change.key,),
        operation_id="conformance-repeat",
    )
    t.call_provider("c1", request, f"a repeated configure of {change.describe()} to succeed")
    second = t.holding("c1")
    t.expect(
        second == first, "the same holding after a repeated configure", second.difference(first)
    )


@check(
    "CONF-003",
    C,
    "configure refuses parameters the schema refuses, before any change, naming the parameter",
    quick=True,
)
def configure_refuses_bad_parameters(t: Trial) -> None:
    t.create("c1")
    cases = list(bad_parameters(t.subject.manifest.parameters_schema))
    t.random.shuffle(cases)
    for case in cases[: 2 if t.quick else 8]:
        t.expect_refused(
            partial(t.platform.configure_instance, "c1", {case.key: case.value}),
            f"configure {case.key}={case.value!r} ({case.why})",
            names=case.key,
        )


@check("CONF-004", C, "Configuring the current parameters again changes nothing")
def configure_to_the_same_parameters_changes_nothing(t: Trial) -> None:
    info = t.create("c1")
    before = t.holding("c1")
    t.platform.configure_instance("c1", dict(info.spec.parameters))
    after = t.holding("c1")
    t.expect(
        after == before,
        "the same holding after configuring the same parameters",
        after.difference(before),
    )
    t.expect(t.health("c1") == HealthStatus.GREEN, "green", lambda: t.health_text("c1"))


@check("CONF-005", C, "A configure killed after any context call and resumed converges")
def configure_converges_after_a_crash(t: Trial) -> None:
    t.create("trial")
    change: Change = apply_change(t, "trial")
    t.remove("trial")
    capacity = t.default_capacity()

    def prepare(name: str) -> Step:
        return create_step(t, name, capacity)

    def configure(name: str) -> Step:
        return Step(
            call="configure_instance",
            kwargs={"name": name, "parameters": {change.key: change.value}},
        )

    def applied(name: str) -> None:
        got = t.platform.get_instance(name).spec.parameters.get(change.key)
        t.expect(
            got == change.value,
            f"{change.describe()} applied after the crash",
            f"{change.key} is {got!r}",
        )

    converges_after_crashes(t, "configure", prepare, configure, applied)
