"""Steps several checks share: finding a parameter change the provider applies, crashing a
verb at chosen context calls and checking it converges, and where an instance's members are."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import attrs

from dpp_sdk.conformance._lab import Step
from dpp_sdk.conformance._params import allowed_values
from dpp_sdk.conformance._registry import CheckFailed, Skip
from dpp_sdk.conformance._trial import Holding, Trial, said
from dpp_sdk.contract import DppError, HealthStatus, InstanceInfo, OperationFailed

__all__ = [
    "Change",
    "apply_change",
    "candidate_changes",
    "converges_after_crashes",
    "crash_points",
    "create_step",
    "member_hosts",
]


@attrs.frozen(kw_only=True)
class Change:
    """A parameter change: ``key`` from ``previous`` to ``value``."""

    key: str
    value: Any
    previous: Any

    def describe(self) -> str:
        return f"{self.key} {self.previous!r} -> {self.value!r}"


def candidate_changes(t: Trial, info: InstanceInfo) -> list[Change]:
    """Every one-key change to another value the schema allows, in seeded order."""
    properties = t.subject.manifest.parameters_schema.get("properties", {})
    current = dict(info.spec.parameters)
    changes = [
        Change(key=key, value=value, previous=current.get(key))
        for key, prop in sorted(properties.items())
        if isinstance(prop, Mapping)
        for value in allowed_values(prop)
        if value != current.get(key)
    ]
    t.random.shuffle(changes)
    return changes


def apply_change(t: Trial, name: str, *, wanted: Callable[[Change], bool] | None = None) -> Change:
    """Apply the first candidate change the provider accepts (refusals up front, and
    PermanentError failures that keep the previous parameters, are tried past); expect it
    recorded in the instance's spec and the instance green again. Skip when the schema
    offers no change; fail when the provider accepts none, or a failed one changed things."""
    info = t.platform.get_instance(name)
    candidates = [c for c in candidate_changes(t, info) if wanted is None or wanted(c)]
    if not candidates:
        raise Skip("the parameter schema offers no other value to configure")
    tried = []
    for change in candidates[:12]:
        before = t.platform.get_instance(name).spec.parameters
        try:
            t.platform.configure_instance(name, {change.key: change.value})
        except OperationFailed as error:
            kind = error.operation.error.type if error.operation.error else ""
            after = t.platform.get_instance(name)
            t.expect(
                kind.endswith("PermanentError") and after.spec.parameters == before,
                f"configure {change.describe()} to succeed, or to fail with PermanentError "
                "keeping the previous parameters",
                f"it failed with {kind} and the parameters are {dict(after.spec.parameters)}",
            )
            tried.append(f"{change.describe()}: failed ({kind})")
            t.settle(name)
            continue
        except DppError as error:
            tried.append(f"{change.describe()}: refused ({said(error)})")
            continue
        got = t.platform.get_instance(name).spec.parameters.get(change.key)
        t.expect(
            got == change.value,
            f"configure {change.describe()} recorded in the instance's parameters",
            f"{change.key} is {got!r}",
        )
        t.settle(name)
        t.note(f"applied {change.describe()}" + (f" after {'; '.join(tried)}" if tried else ""))
        return change
    raise CheckFailed(
        "configure to apply at least one parameter change the schema allows",
        "every change was refused or failed: " + "; ".join(tried),
    )


def crash_points(t: Trial, calls: int) -> list[int]:
    """Where crashes land: the first and last call always, then seeded picks in between
    (one in the quick profile, three in the full one)."""
    if calls <= 0:
        return []
    picks = {0, calls - 1}
    middle = list(range(1, calls - 1))
    t.random.shuffle(middle)
    picks.update(middle[: 1 if t.quick else 3])
    return sorted(picks)


def create_step(t: Trial, name: str, capacity_gb: int) -> Step:
    """The step that creates ``name`` of the trial's service with ``capacity_gb`` (the first
    plan and its defaults)."""
    return Step(
        call="create_instance",
        kwargs={"service": t.service, "name": name, "capacity_gb": capacity_gb},
    )


def converges_after_crashes(
    t: Trial,
    verb: str,
    prepare: Callable[[str], Step] | None,
    action: Callable[[str], Step],
    done: Callable[[str], None] | None = None,
) -> None:
    """Crash ``action(name)`` (one verb on instance ``name``) after seeded context calls
    and expect each resumed run to converge: the instance ready, green, holding what a clean
    run holds, the platform consistent. ``prepare(name)`` sets up an instance before the
    action; ``done(name)`` checks the outcome further (after the clean run too)."""
    platform = t.open(on_disk=True)
    if prepare is not None:
        prepare("ref").run(platform)
    verbs = {verb}  # the platform's own monitor after the verb is not a crash point
    calls = t.lab.count_context_calls(platform, action("ref"), verbs=verbs)
    if done is not None:
        done("ref")
    gone = not any(i.name == "ref" for i in platform.list_instances(limit=None))
    reference = None if gone else t.holding("ref")
    if not gone:
        t.remove("ref")
    t.note(f"a clean {verb} makes {calls} context calls")
    for after in crash_points(t, calls):
        name = f"crash{after}"
        if prepare is not None:
            prepare(name).run(t.platform)
        crashed, reopened = t.lab.crash_and_resume(
            t.platform, action(name), after_calls=after, verbs=verbs
        )
        t.adopt(reopened)
        t.expect(crashed, f"a crash after context call {after}", f"the {verb} finished first")
        _converged(t, verb, name, after, reference)
        if done is not None:
            done(name)
        if reference is not None:
            t.remove(name)


def _converged(t: Trial, verb: str, name: str, after: int, reference: Holding | None) -> None:
    problems = t.platform.check_consistency()
    t.expect(
        not problems, f"a consistent platform after a crash at call {after}", "; ".join(problems)
    )
    exists = any(i.name == name for i in t.platform.list_instances(limit=None))
    if reference is None:
        t.expect(
            not exists,
            f"the {verb} killed at call {after} to finish on resume",
            lambda: t.state_text(name),
        )
        return
    t.expect(
        exists and t.platform.get_instance(name).status == "ready",
        f"the {verb} killed after context call {after} to resume to ready",
        lambda: t.state_text(name),
    )
    t.settle(name)
    holding = t.holding(name)
    t.expect(
        holding == reference,
        f"after a crash at call {after}, what a clean {verb} holds ({reference.describe()})",
        holding.difference(reference),
    )
    t.expect(t.health(name) == HealthStatus.GREEN, "green", lambda: t.health_text(name))


def member_hosts(info: InstanceInfo) -> dict[str, str]:
    """Member name -> host."""
    return {m.name: m.host for m in info.members}
