"""The per-check workspace: a fresh platform with the provider registered, and the helpers
checks share (create an instance with the manifest's defaults, snapshot what it holds, write
and read a canary, wait on simulated time, remove and look for leaks).

Every check runs in its own :class:`Trial`, on its own platform, so one check's failure never
poisons the next: whatever a check leaves behind is removed by :meth:`Trial.close`, and leaks
found there are recorded on the check's result.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

import attrs

from dpp_sdk.conformance._lab import CLOCK_START, Lab, LocalLab, ProviderRequest
from dpp_sdk.conformance._registry import CheckFailed, CheckSpec, Skip
from dpp_sdk.conformance._subject import Subject
from dpp_sdk.contract import (
    DataProbe,
    DppError,
    HealthReport,
    HealthStatus,
    InstanceInfo,
    NotFound,
    Operation,
    OperationFailed,
    Plan,
)
from dpp_sdk.platform import ClusterConfig, InstanceHealth, PlatformAPI
from dpp_sdk.testing import cluster as testing_cluster

__all__ = ["CLOCK_START", "Holding", "Trial", "conformance_cluster"]

#: How far a check waits (simulated seconds) for something before it gives up.
WAIT_LIMIT = 6 * 3600.0
WAIT_STEP = 30.0
WAIT_STEP_MAX = 600.0


def conformance_cluster() -> ClusterConfig:
    """The cluster every check runs on unless told otherwise: six hosts in three racks (fault
    domains), each with two 2000 GB capacity disks and four 1000 GB vSAN Direct disks, the
    default 60-minute object repair timer and 100 MB/s resync."""
    return testing_cluster(hosts=6, racks=3)


@attrs.frozen(kw_only=True)
class Holding:
    """What an instance holds, by name and size (not by placement), to compare two runs:
    a repeated or resumed verb must leave the same holding as a clean one."""

    volumes: tuple[tuple[str, float], ...]
    members: tuple[str, ...]
    endpoints: tuple[str, ...]
    secrets: tuple[str, ...]
    reserved_gb: float

    def describe(self) -> str:
        volumes = ", ".join(f"{name} ({size:g} GB)" for name, size in self.volumes) or "none"
        return (
            f"volumes {volumes}; members {', '.join(self.members) or 'none'}; endpoints "
            f"{', '.join(self.endpoints) or 'none'}; secrets {', '.join(self.secrets) or 'none'};"
            f" {self.reserved_gb:g} GB raw reserved"
        )

    def difference(self, other: Holding) -> str:
        """What differs from ``other``, in words ("" when nothing does)."""
        parts = []
        for field in ("volumes", "members", "endpoints", "secrets"):
            mine, theirs = set(getattr(self, field)), set(getattr(other, field))
            if mine - theirs:
                parts.append(f"{field} {sorted(mine - theirs)} extra")
            if theirs - mine:
                parts.append(f"{field} {sorted(theirs - mine)} missing")
        if abs(self.reserved_gb - other.reserved_gb) > 0.01:
            parts.append(f"{self.reserved_gb:g} GB reserved instead of {other.reserved_gb:g}")
        return "; ".join(parts)


class Trial:
    """One check's run: its platform, random source, evidence and clean-up."""

    def __init__(
        self,
        spec: CheckSpec,
        subject: Subject,
        *,
        seed: int,
        config: ClusterConfig | None = None,
        quick: bool = False,
        lab: Lab | None = None,
    ) -> None:
        self.spec = spec
        self.subject = subject
        self.seed = seed
        self.quick = quick
        self.config = config if config is not None else conformance_cluster()
        #: Choices a check makes (which host fails, where a crash lands) come from here.
        self.random = random.Random(f"{seed}:{spec.id}")
        self.notes: list[str] = []
        self.leaks: list[str] = []
        #: Where the trial's platforms come from (this process, or a gateway's sandboxes).
        self.lab: Lab = lab if lab is not None else LocalLab()
        self._platforms: list[PlatformAPI] = []
        self._created: dict[str, str] = {}  # instance uid -> name
        self._audit_start: dict[int, int] = {}
        self._platform: PlatformAPI | None = None

    # ------------------------------------------------------------------ platform

    @property
    def platform(self) -> PlatformAPI:
        """The trial's platform (opened in memory on first use)."""
        if self._platform is None:
            self._platform = self.open()
        return self._platform

    def open(self, *, config: ClusterConfig | None = None, on_disk: bool = False) -> PlatformAPI:
        """Open another fresh platform with the provider registered (it becomes
        :attr:`platform`), its clock manual at :data:`CLOCK_START`. ``on_disk`` puts it on a
        new state directory, which crash checks need."""
        platform = self.lab.open(
            self.subject.ref,
            config=config if config is not None else self.config,
            on_disk=on_disk,
        )
        self.adopt(platform)
        return platform

    def adopt(self, platform: PlatformAPI) -> None:
        """Make ``platform`` the trial's platform (one reopened after a crash, say); it is
        closed and cleaned up with the trial."""
        self._platforms.append(platform)
        self._platform = platform
        records = platform.audit(limit=1)
        self._audit_start.setdefault(id(platform), records[-1].seq if records else 0)

    # ------------------------------------------------------------------ the service

    @property
    def service(self) -> str:
        return self.subject.manifest.name

    def plan(self, name: str | None = None) -> Plan:
        found = self.subject.manifest.plan(name)
        if found is None:
            raise Skip(f"the manifest has no plan {name!r}")
        return found

    def default_capacity(self, plan: Plan | None = None) -> int:
        """The capacity checks ask for: 20 GB, kept inside the plan's bounds."""
        chosen = plan if plan is not None else self.plan()
        return max(chosen.min_capacity_gb, min(chosen.max_capacity_gb, 20))

    def needs(self, capability: str) -> None:
        """Skip unless the manifest declares ``capability``."""
        if not getattr(self.subject.manifest.capabilities, capability):
            raise Skip(f"the manifest does not declare capabilities.{capability}")

    def create(self, name: str = "c1", **request: Any) -> InstanceInfo:
        """Create ``name`` with the first plan, its defaults and the default capacity
        (``request`` overrides ``plan``, ``capacity_gb``, ``parameters``, ``policy``) and
        expect it ready."""
        plan = self.plan(request.get("plan"))
        request.setdefault("capacity_gb", self.default_capacity(plan))
        try:
            operation = self.platform.create_instance(service=self.service, name=name, **request)
        except DppError as error:
            raise CheckFailed(
                f"instance {name!r} ({_describe_request(request)}) to provision", said(error)
            ) from error
        uid = str(operation.result.get("instance_uid", ""))
        if uid:
            self._created[uid] = name
        info = self.platform.get_instance(name)
        self.expect(
            info.status == "ready",
            f"instance {name!r} ready after provision",
            partial(self.state_text, name),
        )
        return info

    def round_trip(self, name: str, **request: Any) -> None:
        """Create ``name`` (as :meth:`create`), expect it green, remove it and expect
        nothing left behind."""
        self.create(name, **request)
        what = _describe_request(request)
        self.expect(
            self.health(name) == HealthStatus.GREEN,
            f"instance {name!r} ({what}) green once ready",
            partial(self.health_text, name),
        )
        leaked = self.remove(name)
        self.expect(not leaked, f"nothing left after removing {name!r} ({what})", ", ".join(leaked))

    def uid(self, name: str) -> str:
        """The unique id of instance ``name`` created in this trial."""
        for uid, known in reversed(self._created.items()):
            if known == name:
                return uid
        raise KeyError(name)

    def track(self, operation: Operation, name: str) -> None:
        """Remember an instance created outside :meth:`create` (for the leak check)."""
        uid = str(operation.result.get("instance_uid", ""))
        if uid:
            self._created[uid] = name

    def holding(self, name: str) -> Holding:
        """What instance ``name`` holds now."""
        info = self.platform.get_instance(name)
        usage = next((u for u in self.platform.resources().instances if u.instance == name), None)
        return Holding(
            volumes=tuple(sorted((v.name, v.size_gb) for v in info.volumes)),
            members=tuple(sorted(m.name for m in info.members)),
            endpoints=tuple(sorted(e.name for e in info.endpoints)),
            secrets=tuple(sorted(s.name for s in info.secrets)),
            reserved_gb=usage.reserved_gb if usage is not None else 0.0,
        )

    def health(self, name: str) -> HealthStatus:
        return self.platform.instance_health(name).status

    def provider_report(self, name: str) -> HealthReport:
        """What the provider's own ``monitor`` reports for ``name`` (without the platform's
        checks, and before any redaction), called with a read-only context."""
        try:
            report = self.lab.call_provider(self.platform, name, None)
        except Exception as error:
            raise CheckFailed(
                f"monitor of {name!r} to report", f"it raised {said(error)}"
            ) from error
        assert report is not None
        return report

    def call_provider(self, name: str, request: ProviderRequest, what: str) -> None:
        """Call the provider's verb for ``request`` (``verb_of``) directly on ``name``, as
        a repeat of what the platform already did, failing with ``what`` expected when it
        raises."""
        try:
            self.lab.call_provider(self.platform, name, request)
        except Exception as error:
            raise CheckFailed(what, f"it raised {said(error)}") from error

    def health_text(self, name: str) -> str:
        return report_text(self.platform.instance_health(name))

    def state_text(self, name: str) -> str:
        """The instance as a check reports it when something did not happen."""
        try:
            info = self.platform.get_instance(name)
        except NotFound:
            return f"instance {name!r} does not exist"
        members = ", ".join(f"{m.name}@{m.host} {m.state}" for m in info.members) or "none"
        volumes = ", ".join(f"{v.name} {v.state}" for v in info.volumes) or "none"
        return (
            f"instance {name!r} {info.status}, health {self.health_text(name)}; members "
            f"{members}; volumes {volumes}"
        )

    # ------------------------------------------------------------------ verdicts

    def fail(self, expected: str, actual: str) -> None:
        raise CheckFailed(expected, actual)

    def expect(self, condition: bool, expected: str, actual: str | Callable[[], str]) -> None:
        """Fail with ``expected`` and ``actual`` unless ``condition``."""
        if not condition:
            raise CheckFailed(expected, actual() if callable(actual) else actual)

    def note(self, text: str) -> None:
        """Evidence shown with the result (what was tried, what was seen)."""
        self.notes.append(text)

    def wait_until(
        self,
        condition: Callable[[], bool],
        what: str,
        state: Callable[[], str],
        *,
        limit: float = WAIT_LIMIT,
        step: float = WAIT_STEP,
    ) -> float:
        """Advance simulated time until ``condition`` holds, in steps that start at ``step``
        seconds and double up to ten minutes; fail after ``limit`` seconds saying what was
        awaited and the state things were in. Returns the seconds waited."""
        waited = 0.0
        while not condition():
            if waited >= limit:
                raise CheckFailed(
                    f"{what} within {limit / 60:g} minutes of simulated time",
                    f"gave up after {waited / 60:g} minutes; {state()}",
                )
            self.platform.advance(step)
            waited += step
            step = min(step * 2, WAIT_STEP_MAX)
        return waited

    def settle(self, name: str) -> None:
        """Wait until ``name`` is green (resyncs done, repairs made)."""
        self.wait_until(
            lambda: self.health(name) == HealthStatus.GREEN,
            f"instance {name!r} to return to green",
            lambda: self.state_text(name),
        )

    def expect_refused(
        self, action: Callable[[], object], what: str, *, names: str | None = None
    ) -> DppError:
        """Run ``action`` (a create, configure or scale) and expect it refused before any
        allocation: a DppError other than OperationFailed (which means it started and failed),
        naming ``names`` in its message when given, with nothing allocated or changed, the
        consistency check clean and the refusal audited ``refused``."""
        platform = self.platform
        before = (self._instances_text(), platform.resources().reserved_gb)
        try:
            action()
        except OperationFailed as error:
            raise CheckFailed(
                f"{what} to be refused before anything was allocated",
                f"it started and failed: {said(error)}",
            ) from error
        except DppError as error:
            refusal = error
        else:
            raise CheckFailed(f"{what} to be refused", "it was accepted and succeeded")
        after = (self._instances_text(), platform.resources().reserved_gb)
        self.expect(
            after == before,
            f"nothing allocated or changed by the refused {what}",
            f"before: {before[0]}, {before[1]:g} GB reserved; after: {after[0]}, "
            f"{after[1]:g} GB reserved",
        )
        problems = platform.check_consistency()
        self.expect(problems == [], "a consistent platform after a refusal", "; ".join(problems))
        if names is not None:
            self.expect(
                names in str(refusal),
                f"the refusal of {what} to name {names!r}",
                f"it said {said(refusal)}",
            )
        records = platform.audit(limit=1)
        self.expect(
            bool(records) and records[-1].outcome == "refused",
            f"the refusal of {what} audited 'refused'",
            f"the last audit record is {records[-1] if records else 'missing'}",
        )
        return refusal

    def _instances_text(self) -> str:
        infos = self.platform.list_instances(limit=None)
        return (
            ", ".join(
                f"{i.name} {i.status} {i.spec.capacity_gb} GB {dict(i.spec.parameters)}"
                for i in infos
            )
            or "no instances"
        )

    # ------------------------------------------------------------------ data canary

    def probe(self, name: str) -> DataProbe:
        """The provider's data probe of ``name`` (skip when the manifest declares none)."""
        self.needs("data_probe")
        found = self.lab.probe(self.platform, name)
        if found is None:
            self.fail(
                "a data probe, as capabilities.data_probe declares",
                "data_probe returned None",
            )
        assert found is not None
        return found

    def write_canary(self, name: str, key: str = "conformance-canary") -> bytes:
        """Write a seeded canary through ``name``'s probe; returns the bytes written."""
        data = self.random.randbytes(1024 + self.random.randrange(4096))
        probe = self.probe(name)
        try:
            probe.write(key, data)
        except Exception as error:
            raise CheckFailed(
                f"the probe of {name!r} to store a canary", f"write raised {said(error)}"
            ) from error
        return data

    def read_canary(
        self, name: str, data: bytes, *, after: str, key: str = "conformance-canary"
    ) -> None:
        """Expect the canary ``data`` to read back intact through ``name``'s probe."""
        probe = self.probe(name)
        try:
            got = probe.read(key)
        except Exception as error:
            raise CheckFailed(
                f"the canary written to {name!r} to read back after {after}",
                f"read raised {said(error)}; {self.state_text(name)}",
            ) from error
        self.expect(
            got == data,
            f"the canary written to {name!r} to read back intact after {after}",
            f"read returned {len(got)} bytes that differ from the {len(data)} written",
        )

    # ------------------------------------------------------------------ removal and leaks

    def remove(self, name: str) -> list[str]:
        """Remove ``name`` and return what the platform had to reclaim after decommission
        (the provider's leaks; empty when it released everything)."""
        operation = self.platform.remove_instance(name)
        return [str(item) for item in operation.result.get("leaked", [])]

    def audit_entries(self) -> list[str]:
        """The audit records written during this trial, as text."""
        if self._platform is None:
            return []
        start = self._audit_start.get(id(self._platform), 0)
        try:
            records = self._platform.audit(limit=None)
        except Exception:
            return []
        return [
            f"#{r.seq} {r.principal} {r.action} {r.target}: {r.outcome}"
            + (f" ({r.detail})" if r.detail else "")
            for r in records
            if r.seq > start
        ]

    def operations(self) -> list[str]:
        """The operations of this trial's platform, as text."""
        if self._platform is None:
            return []
        try:
            found = self._platform.list_operations(limit=None)
        except Exception:
            return []
        lines = []
        for op in found:
            line = f"{op.id} {op.kind} {op.target}: {op.state}"
            if op.error is not None:
                line += f" ({op.error.type}: {op.error.message})"
            lines.append(line)
        return lines

    def close(self) -> None:
        """Remove what the check left, record leaks, close every platform, delete files."""
        platform = self._platform
        if platform is not None:
            try:
                self._clean(platform)
            except Exception as error:
                self.notes.append(f"clean-up after the check failed: {said(error)}")
        for opened in self._platforms:
            with contextlib.suppress(Exception):  # a gateway may be gone by now
                self.lab.discard(opened)

    def _clean(self, platform: PlatformAPI) -> None:
        platform.clear_faults()
        for host in platform.list_hosts():
            if host.state in ("maintenance", "draining"):
                platform.exit_maintenance(host.name)
        for info in platform.list_instances(limit=None):
            try:
                leaked = self.remove(info.name)
            except DppError as error:
                # The provider could not decommission it: the platform reclaims everything.
                self.notes.append(f"removing {info.name!r} after the check failed: {said(error)}")
                forced = platform.remove_instance(info.name, force=True)
                leaked = [str(item) for item in forced.result.get("reclaimed", [])]
            if leaked:
                self.leaks.extend(f"{info.name}: {item}" for item in leaked)


def report_text(report: HealthReport | InstanceHealth) -> str:
    """A health report as one line: the status, then each check's name, status and message."""
    checks = "; ".join(f"{c.name} {c.status}: {c.message}" for c in report.checks)
    return f"{report.status} ({checks})" if checks else str(report.status)


def _describe_request(request: Mapping[str, Any]) -> str:
    return ", ".join(f"{key}={value!r}" for key, value in sorted(request.items())) or "defaults"


def said(error: BaseException) -> str:
    """An exception as one line: its type and message."""
    return f"{type(error).__name__}: {error}"
