"""Draining a host for maintenance: each maintenance-aware provider moves its members off.

On the real platform, entering maintenance taints the node (``drain=planned-downtime`` for
``ensure-accessibility`` and ``no-action``, ``drain=drain`` for ``evacuate-all``) and waits
until the services' operators have taken their pods off it, rebuilding host-local data
elsewhere for ``drain``; an operator may veto while the taint is there. Here the host is
``draining`` (nothing new is placed on it) while each affected instance whose manifest declares
``capabilities.maintenance_aware`` gets its provider's :meth:`ServiceProvider.drain`, run as an
operation of kind ``drain`` with a writable context. Instances that do not declare it have
their members stopped by the platform when the host enters maintenance, as before.

What is left on the host after the provider answered is checked here; the maintenance module
decides what to do with it.
"""

from __future__ import annotations

from typing import Literal

from dpp_sdk.contract import (
    DrainRequest,
    MaintenanceDecision,
    MaintenanceMode,
    OperationError,
    VetoReason,
    unstructure,
)
from dpp_sdk.contract._text import printable
from dpp_sdk.platform._catalog import Catalog
from dpp_sdk.platform._journal import Journal
from dpp_sdk.platform._models import Veto
from dpp_sdk.platform._operations import OperationEngine, Plan, Run
from dpp_sdk.platform._policies import POLICIES
from dpp_sdk.platform._repository import Repository

__all__ = ["Drains", "taint_of"]


def taint_of(mode: MaintenanceMode) -> Literal["planned-downtime", "drain"]:
    """The taint the real platform puts on a node entering maintenance in ``mode``."""
    return "drain" if mode is MaintenanceMode.EVACUATE_ALL else "planned-downtime"


class _Drain(Plan):
    """One instance's drain: the provider's ``drain`` and its decision."""

    kind = "drain"

    def __init__(self, drains: Drains, request: DrainRequest) -> None:
        self._d = drains
        self._request = request

    def run(self, run: Run) -> OperationError | None:
        request = self._request
        answers: list[object] = []
        error = self._d.engine.call_verb(run, lambda p, c: answers.append(p.drain(c, request)))
        if error is not None:
            return error
        decision = answers[-1]
        if not isinstance(decision, MaintenanceDecision):
            return OperationError(
                type="BadDecision",
                message=f"drain returned {decision!r} ({type(decision).__name__}), not a "
                "dpp_sdk.MaintenanceDecision; use MaintenanceDecision.allow() or .veto(...)",
            )
        if not decision.allowed:
            reason = decision.reason or VetoReason.GENERIC_FAILURE
            message = self._d.journal.scrub_detecting(
                decision.message, run.target, "a maintenance veto"
            )
            run.result["veto"] = {"reason": reason.value, "message": printable(message)}
            return OperationError(type=reason.value, message=printable(message))
        return None

    def settle(self, run: Run, error: OperationError | None) -> None:
        self._d.repo.update_instance(run.target, operation=None)

    def abandoned(self, run: Run) -> None:
        self._d.repo.update_instance(run.target, operation=None)


class Drains:
    """Runs providers' drains and tells what an instance left on a draining host."""

    def __init__(
        self, repo: Repository, journal: Journal, catalog: Catalog, engine: OperationEngine
    ) -> None:
        self.repo = repo
        self.journal = journal
        self.catalog = catalog
        self.engine = engine

    def aware(self, instance: str) -> bool:
        """Whether the instance's manifest declares ``capabilities.maintenance_aware``."""
        record = self.repo.instance(instance)
        return self.catalog.version_of(record).manifest.capabilities.maintenance_aware

    def request(self, instance: str, host: str, mode: MaintenanceMode) -> DrainRequest:
        """What the instance has on ``host`` now, as a drain request."""
        members = tuple(m.name for m in self.repo.members(instance) if m.host == host)
        volumes = [v for v in self.repo.volumes(instance) if host in {c.host for c in v.components}]
        return DrainRequest(
            instance=instance,
            host=host,
            mode=mode,
            taint=taint_of(mode),
            members=members,
            volumes=tuple(v.name for v in volumes),
            local_volumes=tuple(v.name for v in volumes if not POLICIES[v.policy].distributed),
        )

    def drain(self, instance: str, host: str, mode: MaintenanceMode) -> Veto | None:
        """Run the provider's ``drain`` for ``instance`` as a ``drain`` operation; a veto, a
        failure or a busy instance comes back as a :class:`Veto`."""
        request = self.request(instance, host, mode)
        with self.repo.lock:
            record = self.repo.instance(instance)
            if self.repo.is_busy(record):
                return Veto(
                    instance=instance,
                    reason=VetoReason.GENERIC_FAILURE,
                    message=f"busy with operation {record.operation}; try again when it ends",
                )
            run = self.engine.begin_side("drain", instance, {"drain": unstructure(request)})
        error = self.engine.finish_side(run, _Drain(self, request))
        if error is None:
            return None
        veto = run.result.get("veto")
        if isinstance(veto, dict):
            return Veto(
                instance=instance, reason=VetoReason(veto["reason"]), message=veto["message"]
            )
        return Veto(
            instance=instance,
            reason=VetoReason.GENERIC_FAILURE,
            message=f"drain failed ({error.type}): {error.message}",
        )

    def left_on(self, instance: str, host: str, mode: MaintenanceMode) -> list[str]:
        """What ``instance`` still has in the way on draining ``host``: members running there
        and, for ``evacuate-all``, volumes whose only copy is there."""
        left = [
            f"member {m.name}"
            for m in self.repo.members(instance)
            if m.host == host and not m.stopped
        ]
        if taint_of(mode) == "drain":
            left.extend(
                f"volume {name}" for name in self.request(instance, host, mode).local_volumes
            )
        return left
