"""Telling providers about failures: ``on_failure`` runs as a ``repair`` operation.

An instance busy with another operation gets the event queued on its record and delivered
when that operation ends, so no failure goes unreported; one instance's trouble never keeps
the others from hearing of an event.
"""

from __future__ import annotations

from collections.abc import Mapping

from dpp_sdk.contract import FailureEvent, FailureKind, OperationError, unstructure
from dpp_sdk.platform._health import Health
from dpp_sdk.platform._journal import Journal
from dpp_sdk.platform._operations import OperationEngine, Plan, Run
from dpp_sdk.platform._repository import Repository
from dpp_sdk.platform._resources import InstanceResources

__all__ = ["Repairs"]


class _Repair(Plan):
    """Deliver one failure event through the provider's ``on_failure``."""

    kind = "repair"

    def __init__(self, repairs: Repairs, event: FailureEvent) -> None:
        self._r = repairs
        self._event = event

    def run(self, run: Run) -> OperationError | None:
        event = self._event
        error = self._r.engine.call_verb(run, lambda p, c: p.on_failure(c, event))
        if error is not None:
            run.result["released"] = self._r.resources.release_created_by(run.target, run.id)
            self._r.journal.event(
                "repair-failed", run.target, f"on_failure for {event.kind.value}: {error.message}"
            )
        return error

    def settle(self, run: Run, error: OperationError | None) -> None:
        self._r.repo.update_instance(run.target, operation=None)

    def abandoned(self, run: Run) -> None:
        self._r.repo.update_instance(run.target, operation=None)


class Repairs:
    """Failure notification: repair operations and the queue of events held while busy."""

    def __init__(
        self,
        repo: Repository,
        journal: Journal,
        engine: OperationEngine,
        resources: InstanceResources,
        health: Health,
    ) -> None:
        self.repo = repo
        self.journal = journal
        self.engine = engine
        self.resources = resources
        self._health = health

    def notify(self, instance: str, event: FailureEvent) -> None:
        """Call on_failure as a 'repair' operation; its failure is recorded, not raised."""
        with self.repo.lock:
            record = self.repo.find_instance(instance)
            if record is None:
                return
            if self.repo.is_busy(record):
                self.repo.update_instance(instance, pending_events=(*record.pending_events, event))
                return
            run = self.engine.begin_side("repair", instance, {"event": unstructure(event)})
        self.engine.finish_side(run, _Repair(self, event))
        self._health.refresh(instance)
        self.deliver_pending(instance)

    def deliver_pending(self, instance: str) -> None:
        """Deliver failure events queued while ``instance`` was busy, oldest first."""
        with self.repo.lock:
            record = self.repo.find_instance(instance)
            if record is None or self.repo.is_busy(record) or not record.pending_events:
                return
            queued = record.pending_events
            self.repo.update_instance(instance, pending_events=())
        for event in queued:
            self.notify(instance, event)

    def notify_all(
        self,
        affected: Mapping[str, tuple[list[str], list[str]]],
        kind: FailureKind,
        host: str,
        *,
        disk: str | None = None,
        lost: Mapping[str, list[str]] | None = None,
    ) -> None:
        """Tell every affected instance's provider about ``kind`` on ``host`` (``disk``)."""
        for instance, (members, volumes) in sorted(affected.items()):
            event = FailureEvent(
                instance=instance,
                kind=kind,
                host=host,
                disk=disk,
                members=tuple(members),
                volumes=tuple(volumes),
                lost_volumes=tuple((lost or {}).get(instance, ())),
            )
            try:
                self.notify(instance, event)
            except Exception as exc:
                self.journal.event(
                    "repair-failed",
                    instance,
                    self.journal.scrub(f"on_failure for {kind.value} could not run: {exc}"),
                )
