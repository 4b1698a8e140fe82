"""Property-based lifecycle sequences: a Hypothesis state machine drives random interleavings
of create, configure, scale, host failures, clock advances, maintenance and removal against
the provider, and after every step checks the platform's consistency; whenever no host is
down, that every instance returns to green and its canary reads back intact.

The machine is seeded from the run's seed, so ``dpp conformance run PROVIDER --only RES-013
--seed N`` replays the same sequences; a failure's notes list the steps Hypothesis printed.
"""

from __future__ import annotations

from typing import Any

import hypothesis
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from dpp_sdk.conformance._params import allowed_values
from dpp_sdk.conformance._registry import Category, CheckFailed, check
from dpp_sdk.conformance._trial import Trial, said
from dpp_sdk.contract import DppError, OperationFailed
from dpp_sdk.platform import MaintenanceIncomplete, MaintenanceVetoed

__all__ = ["lifecycle_sequences"]

NAMES = ("s1", "s2")
MINUTES = (1, 5, 30, 61, 90)


class _Lifecycle(RuleBasedStateMachine):
    """One example: a fresh platform, then random steps."""

    trial: Trial  # set on the subclass the check builds

    def __init__(self) -> None:
        super().__init__()
        t = self.trial
        self.platform = t.open()
        self.canaries: dict[str, bytes] = {}
        self.live: set[str] = set()
        self.down: str | None = None  # a failed host
        self.maintenance: str | None = None
        self.hosts = [h.name for h in self.platform.list_hosts()]
        self.manifest = t.subject.manifest

    # ------------------------------------------------------------------ steps

    @initialize()
    def first_instance(self) -> None:
        """Every sequence starts from one ready instance (with a canary)."""
        self._create(NAMES[0])

    @precondition(lambda self: len(self.live) < len(NAMES))
    @rule(data=st.data())
    def create(self, data: st.DataObject) -> None:
        self._create(data.draw(st.sampled_from([n for n in NAMES if n not in self.live]), "name"))

    def _create(self, name: str) -> None:
        t = self.trial
        try:
            operation = self.platform.create_instance(
                service=t.service, name=name, capacity_gb=t.default_capacity()
            )
        except OperationFailed as error:
            t.note(f"create {name}: failed ({said(error)})")
            self._nothing_left(name)
            return
        except DppError as error:
            t.note(f"create {name}: refused ({said(error)})")
            return
        t.track(operation, name)
        self.live.add(name)
        if self.manifest.capabilities.data_probe and self.down is None and self.maintenance is None:
            self.canaries[name] = t.write_canary(name)

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data())
    def configure(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.live)), "instance")
        properties = self.manifest.parameters_schema.get("properties", {})
        choices = [(k, v) for k, p in sorted(properties.items()) for v in allowed_values(p)]
        if not choices:
            return
        key, value = data.draw(st.sampled_from(choices), "change")
        before = self.platform.get_instance(name).spec.parameters
        try:
            self.platform.configure_instance(name, {key: value})
        except OperationFailed:
            after = self.platform.get_instance(name).spec.parameters
            self.trial.expect(
                after == before,
                f"a failed configure {key}={value!r} of {name} to keep the previous parameters",
                f"they are {dict(after)}",
            )
        except DppError:
            pass  # refused up front: nothing changed (the invariants check the rest)

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data(), factor=st.sampled_from((1.5, 2.0)))
    def scale(self, data: st.DataObject, factor: float) -> None:
        if not self.manifest.capabilities.capacity_scale_up:
            return
        name = data.draw(st.sampled_from(sorted(self.live)), "instance")
        info = self.platform.get_instance(name)
        plan = self.trial.plan(info.spec.plan)
        target = min(plan.max_capacity_gb, int(info.spec.capacity_gb * factor))
        if target > info.spec.capacity_gb:
            try:
                self.platform.scale_instance(name, target)
            except DppError as error:
                self.trial.note(f"scale {name} to {target} GB: {said(error)}")

    @precondition(lambda self: self.down is None and self.maintenance is None)
    @rule(data=st.data())
    def fail_host(self, data: st.DataObject) -> None:
        self.down = data.draw(st.sampled_from(self.hosts), "host")
        self.platform.inject_host_failure(self.down)

    @precondition(lambda self: self.down is not None)
    @rule()
    def repair_host(self) -> None:
        assert self.down is not None
        self.platform.clear_host_failure(self.down)
        self.down = None

    @rule(minutes=st.sampled_from(MINUTES))
    def advance(self, minutes: int) -> None:
        self.platform.advance(minutes * 60)

    @precondition(
        lambda self: (
            self.down is None
            and self.maintenance is None
            and self.manifest.capabilities.maintenance_aware
        )
    )
    @rule(data=st.data(), mode=st.sampled_from(("ensure-accessibility", "evacuate-all")))
    def enter_maintenance(self, data: st.DataObject, mode: str) -> None:
        host = data.draw(st.sampled_from(self.hosts), "host")
        try:
            self.platform.enter_maintenance(host, mode)
        except (MaintenanceVetoed, MaintenanceIncomplete) as refused:
            self.trial.note(f"maintenance {host} {mode}: {said(refused)}")
            return
        self.maintenance = host

    @precondition(lambda self: self.maintenance is not None)
    @rule()
    def exit_maintenance(self) -> None:
        assert self.maintenance is not None
        self.platform.exit_maintenance(self.maintenance)
        self.maintenance = None

    @precondition(lambda self: bool(self.live))
    @rule(data=st.data())
    def remove(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(sorted(self.live)), "instance")
        leaked = self.trial.remove(name)
        self.live.discard(name)
        self.canaries.pop(name, None)
        self.trial.expect(not leaked, f"removing {name} to leave nothing", f"left {leaked}")

    # ------------------------------------------------------------------ invariants

    @invariant()
    def consistent(self) -> None:
        problems = self.platform.check_consistency()
        self.trial.expect(
            not problems, "a consistent platform after every step", "; ".join(problems)
        )

    @invariant()
    def healthy_when_nothing_is_down(self) -> None:
        if self.down is not None or self.maintenance is not None:
            return
        for name in sorted(self.live):
            self.trial.settle(name)
            if name in self.canaries:
                self.trial.read_canary(name, self.canaries[name], after="the steps so far")

    def teardown(self) -> None:
        self.platform.clear_faults()
        if self.maintenance is not None:
            self.platform.exit_maintenance(self.maintenance)
        for name in sorted(self.live):
            leaked = self.trial.remove(name)
            self.trial.expect(not leaked, f"removing {name} to leave nothing", f"left {leaked}")

    def _nothing_left(self, name: str) -> None:
        left = [i.name for i in self.platform.list_instances(limit=None) if i.name == name]
        self.trial.expect(not left, f"a failed create of {name} to leave nothing", f"{left} left")


@check(
    "RES-013",
    Category.RESILIENCE,
    "Random sequences of lifecycle steps, faults, clock advances and maintenance keep the "
    "platform consistent and the service green with its data once nothing is down",
)
def lifecycle_sequences(t: Trial) -> None:
    machine: Any = type("Lifecycle", (_Lifecycle,), {"trial": t})
    machine = hypothesis.seed(t.seed)(machine)
    settings = hypothesis.settings(
        max_examples=2 if t.quick else 6,
        stateful_step_count=6 if t.quick else 10,
        deadline=None,
        database=None,
        derandomize=False,
        print_blob=False,
        phases=(hypothesis.Phase.generate,),
        suppress_health_check=list(hypothesis.HealthCheck),
    )
    printed: list[object] = []
    with hypothesis.reporting.with_reporter(printed.append):
        try:
            hypothesis.stateful.run_state_machine_as_test(machine, settings=settings)
        except CheckFailed as failed:
            # Hypothesis attaches the failing sequence to the error as notes (PEP 678).
            notes = [*printed, *getattr(failed, "__notes__", [])]
            steps = [line for text in notes for line in str(text).splitlines() if line.strip()]
            raise CheckFailed(
                failed.expected, failed.actual + " (steps: " + "; ".join(steps[-25:]) + ")"
            ) from failed
