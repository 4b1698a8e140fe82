"""Recovery after a crash: operations a dead process left pending or running are resumed
(when their kind's plan is resumable) or failed, never left running; then what the crash
interrupted in the byte store is finished."""

from __future__ import annotations

from collections.abc import Collection

from dpp_sdk.contract import (
    Conflict,
    InstanceSpec,
    InstanceStatus,
    NotFound,
    Operation,
    OperationError,
    OperationState,
    structure,
)
from dpp_sdk.platform._hardware import Hardware
from dpp_sdk.platform._journal import Journal
from dpp_sdk.platform._lifecycle import Lifecycle
from dpp_sdk.platform._operations import OperationEngine, Run
from dpp_sdk.platform._owners import owner_alive
from dpp_sdk.platform._records import OperationRecord
from dpp_sdk.platform._repository import Repository

__all__ = ["Recovery"]

_LIVE = (OperationState.PENDING, OperationState.RUNNING)
MAX_RESUMES = 2
"""How many times recovery runs an interrupted operation again before it gives up: a
provider whose verb kills or hangs its process every time must not hold the platform."""


class Recovery:
    """Finds and finishes what dead processes left behind."""

    def __init__(
        self,
        repo: Repository,
        journal: Journal,
        engine: OperationEngine,
        lifecycle: Lifecycle,
        hardware: Hardware,
    ) -> None:
        self._repo = repo
        self._journal = journal
        self._engine = engine
        self._lifecycle = lifecycle
        self._hardware = hardware

    def _orphans(self) -> list[OperationRecord]:
        return [
            record
            for _, record in self._repo.operations(states=_LIVE)
            if not owner_alive(record.owner)
        ]

    def interrupted(self) -> list[Operation]:
        """Operations left pending or running by a process that is gone."""
        return [record.public for record in self._orphans()]

    def recover(self, targets: Collection[str] | None = None) -> list[Operation]:
        """Resume or fail every orphaned operation (only those on ``targets`` when given),
        then tidy the byte store."""
        chosen = [
            record for record in self._orphans() if targets is None or record.target in targets
        ]
        for record in chosen:
            self._resume(record)
        self._hardware.remove_orphaned_bytes()
        return [self._engine.get(record.id) for record in chosen]

    def _claim(self, record: OperationRecord) -> Run | None:
        """Take over an orphaned operation, atomically: re-read it inside a transaction and
        make this platform its owner (counting the resumption), unless another process
        claimed it first or it ended meanwhile. None when it is not ours to resume."""
        with self._repo.lock, self._repo.store.transaction():
            now = self._repo.find_operation(record.id)
            if now is None or now.state.terminal or owner_alive(now.owner):
                return None
            run = Run(now)
            # Counted (and committed) before the provider runs again, so a resumption that
            # kills this process too still counts.
            self._engine.save(run, owner=self._engine.owner, resumes=now.resumes + 1)
            return run

    def _resume(self, record: OperationRecord) -> None:
        claimed = self._claim(record)
        if claimed is None:
            return
        run = claimed
        record = run.record
        self._journal.log.warning(
            "resuming operation %s (%s %s) interrupted by a crash",
            record.id,
            record.kind,
            record.target,
            extra={"target": record.target},
        )
        if record.resumes > MAX_RESUMES:
            self._fail(
                run,
                Conflict(
                    f"gave up after resuming it {record.resumes - 1} times: each time its process "
                    f"ended or hung before the provider's {record.kind} returned. Fix the "
                    f"provider, then remove the instance with force=True (dpp instance remove "
                    f"{record.target} --force)"
                ),
            )
            return
        if record.kind == "decommission" and self._repo.find_instance(record.target) is None:
            # The crash came after the instance was deleted: the work was done.
            run.result.update(leaked=[], recovered=True)
            self._engine.conclude(run, None, plan=None, audit=False)
            return
        try:
            if self._repo.find_instance(record.target) is None:
                raise NotFound("instance", record.target)
            plan = self._lifecycle.plans.get(record.kind)
            if plan is None or not plan.resumable:
                raise Conflict(
                    f"a {record.kind} operation is not resumed; the next failure or "
                    "recovery event triggers a new one"
                )
            self._lifecycle.run(run)
        except Exception as exc:
            self._fail(run, exc)

    def _fail(self, run: Run, exc: Exception) -> None:
        current = self._repo.find_instance(run.target)
        if current is not None and current.operation == run.id:
            changes: dict[str, object] = {
                "operation": None,
                "status": InstanceStatus.FAILED if current.busy_status else current.status,
            }
            previous = run.request.get("previous")
            if run.record.kind in ("configure", "scale") and previous is not None:
                # The change did not happen: the instance keeps the spec it had.
                changes["spec"] = structure(previous, InstanceSpec)
            self._repo.update_instance(run.target, **changes)
        if not run.record.state.terminal:
            self._engine.save(
                run,
                state=OperationState.FAILED,
                finished_at=self._repo.clock.now(),
                error=OperationError(
                    type="Interrupted",
                    message=f"interrupted by a crash and could not resume: {exc}",
                ),
            )
        self._journal.event("operation-failed", run.target, f"{run.id}: {exc}")
