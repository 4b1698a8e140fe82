"""The operation engine: records, forward-only states, provider calls with retries, abandon.

Every mutating request becomes an operation (:class:`~dpp_sdk.Operation`), driven by
:meth:`OperationEngine.drive` through a :class:`Plan`: the plan of a kind of operation says,
in one place, what running it does, what success and failure leave behind, what an
unexpected exception (``abandoned``) leaves behind, and whether a crash-interrupted one is
resumed. The engine does the bookkeeping every kind shares: states that only move forward,
attempts, the instance's ``operation`` field, the audit record, and classifying what a
provider raised into an :class:`~dpp_sdk.OperationError`.

An operation records its owner, the platform object running it (see :mod:`._owners`; a
zombie, a process that ended but that its parent has not reaped yet, counts as dead).
"""

from __future__ import annotations

import abc
import hashlib
import json
import math
import os
import traceback
from collections.abc import Callable, Mapping
from typing import Any

from dpp_sdk.contract import (
    Conflict,
    DppError,
    NotFound,
    Operation,
    OperationError,
    OperationFailed,
    OperationState,
    PermanentError,
    ServiceProvider,
    TemporaryError,
    ValidationError,
)
from dpp_sdk.contract._text import TRACEBACK_LIMIT, printable
from dpp_sdk.platform._calls import call_provider
from dpp_sdk.platform._catalog import Catalog
from dpp_sdk.platform._clock import Clock
from dpp_sdk.platform._context import Contexts, PlatformContext
from dpp_sdk.platform._journal import Journal
from dpp_sdk.platform._records import OperationRecord
from dpp_sdk.platform._repository import Repository

__all__ = [
    "MIN_RETRY_DELAY",
    "OperationEngine",
    "Plan",
    "Run",
]

MIN_RETRY_DELAY = 0.1  # seconds; the shortest wait between two attempts of a verb
_METHOD_OF = {"repair": "on_failure"}  # the provider method an operation kind calls


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
"""The ``dpp_sdk`` package's directory: frames inside it are the SDK's, not the provider's."""


def _where(exc: BaseException) -> str:
    """`` (at FILE:LINE in FUNCTION)`` for the innermost frame of ``exc``'s traceback outside
    the SDK (the provider's code), or nothing when there is none."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if not f.filename.startswith(_PACKAGE)
    ]
    if not frames:
        return ""
    frame = frames[-1]
    return f" (at {frame.filename}:{frame.lineno} in {frame.name})"


class Run:
    """The operation being driven: its latest record (records are values; this holds the
    current one) and the result it accumulates."""

    def __init__(self, record: OperationRecord) -> None:
        self.record = record
        self.result: dict[str, Any] = dict(record.result)
        #: What the plan's ``run`` hands to its ``settle`` (e.g. the health it evaluated).
        self.carry: dict[str, Any] = {}

    @property
    def id(self) -> str:
        """The operation's id."""
        return self.record.id

    @property
    def target(self) -> str:
        """The instance the operation works on."""
        return self.record.target

    @property
    def request(self) -> Mapping[str, Any]:
        """What was asked (plus what the platform resolved: new and previous spec)."""
        return self.record.request


class Plan(abc.ABC):
    """What one kind of operation does, in success, failure, abandonment and recovery."""

    kind: str
    #: Whether an operation of this kind interrupted by a crash is run again on recovery.
    resumable: bool = False

    @abc.abstractmethod
    def run(self, run: Run) -> OperationError | None:
        """Do the work (provider calls included, outside any transaction); None on success,
        or the error the operation fails with."""

    @abc.abstractmethod
    def settle(self, run: Run, error: OperationError | None) -> None:
        """Leave the instance as success (``error`` None) or failure requires. Runs in the
        transaction that concludes the operation: records only, no provider code."""

    @abc.abstractmethod
    def abandoned(self, run: Run) -> None:
        """Leave the instance usable after an unexpected exception ended the run."""


class OperationEngine:
    """Creates, saves, drives and reports operations."""

    def __init__(
        self,
        *,
        repo: Repository,
        journal: Journal,
        catalog: Catalog,
        contexts: Contexts,
        clock: Clock,
        owner: str,
        timeout: float,
        max_backoff: float,
    ) -> None:
        self._repo = repo
        self._journal = journal
        self._catalog = catalog
        self._contexts = contexts
        self._clock = clock
        self.owner = owner
        self.timeout = timeout
        self.max_backoff = max_backoff

    # ------------------------------------------------------------------ records

    def new(
        self,
        kind: str,
        target: str,
        request: Mapping[str, Any],
        idempotency_key: str | None,
        extra: Mapping[str, Any] | None = None,
        *,
        started: bool = False,
    ) -> tuple[Run, bool]:
        """Create an operation, or return the one with the same idempotency key.

        Returns (run, created). The same key with a different request raises Conflict.
        ``started``: a new operation is stored already started, as :meth:`start` leaves it
        (in one write; the caller has recorded it on its instance)."""
        fingerprint = hashlib.sha256(
            json.dumps({"kind": kind, "target": target, **request}, sort_keys=True).encode()
        ).hexdigest()
        if idempotency_key is not None:
            existing = self._repo.operation_by_key(idempotency_key)
            if existing is not None:
                if existing.fingerprint != fingerprint:
                    raise Conflict(
                        f"idempotency key {idempotency_key!r} was used for a different request "
                        f"(operation {existing.id}: {existing.kind} {existing.target})"
                    )
                return Run(existing), False
        record = OperationRecord(
            id=f"op-{os.urandom(6).hex()}",
            kind=kind,
            target=target,
            idempotency_key=idempotency_key,
            created_at=self._clock.now(),
            fingerprint=fingerprint,
            request={**request, **(extra or {})},
            owner=self.owner,
        )
        if started:
            record = self._started(record)
        self._repo.put_operation(record)
        return Run(record), True

    def prior(self, idempotency_key: str | None) -> OperationRecord | None:
        """The operation already created with ``idempotency_key``, if any."""
        return None if idempotency_key is None else self._repo.operation_by_key(idempotency_key)

    def save(self, run: Run, **changes: Any) -> None:
        """Change the operation's record (states only move forward) and store it."""
        run.record = run.record.moved(**changes)
        self._repo.put_operation(run.record)

    def finish(self, run: Run) -> Operation:
        """The operation as returned to callers; OperationFailed when it failed."""
        op = run.record.public
        if op.state is OperationState.FAILED:
            # The provider's own exception (with its traceback), when this process saw it.
            raise OperationFailed(op) from run.carry.get("cause")
        return op

    def get(self, op_id: str) -> Operation:
        """Operation ``op_id``."""
        record = self._repo.find_operation(op_id)
        if record is None:
            raise NotFound("operation", op_id)
        return record.public

    # ------------------------------------------------------------------ driving

    def start(self, run: Run) -> None:
        """Mark the operation running (owned by this platform, first attempt counted) and its
        instance as the one it works on. Call inside the transaction that creates it."""
        run.record = self._started(run.record)
        self._repo.put_operation(run.record)
        self._repo.update_instance(run.target, operation=run.id)

    def _started(self, record: OperationRecord) -> OperationRecord:
        """``record`` running, owned by this platform, with one more attempt counted."""
        return record.moved(
            state=OperationState.RUNNING,
            started_at=record.started_at or self._clock.now(),
            owner=self.owner,
            attempts=record.attempts + 1,
        )

    def drive(self, run: Run, plan: Plan) -> None:
        """Drive the operation (just started, pending, or interrupted) to a terminal state,
        whatever happens.

        The plan's ``run`` does the work (provider code included, outside any transaction);
        its ``settle`` and the operation's conclusion then commit together, so the instance
        and its operation never disagree. An exception that escapes the plan (a
        ``BaseException`` such as ``KeyboardInterrupt``, or a bug) fails the operation, frees
        the instance through the plan's ``abandoned`` and is re-raised: a live process never
        leaves one running."""
        with self._repo.store.instance_lock(run.target):
            try:
                if run.record.state is not OperationState.RUNNING or run.record.owner != self.owner:
                    with self._repo.lock, self._repo.store.transaction():
                        self.start(run)
                error = plan.run(run)
                self.conclude(run, error, plan=plan, audit=True)
            except BaseException as exc:
                if not run.record.state.terminal:
                    self.abandon(run, plan, exc)
                raise

    def conclude(
        self, run: Run, error: OperationError | None, *, plan: Plan | None, audit: bool
    ) -> None:
        """In one transaction: the plan settles the instance, and the operation is saved as
        succeeded or failed with ``error`` (and audited)."""
        with self._repo.lock, self._repo.store.transaction():
            if plan is not None:
                plan.settle(run, error)
            now = self._clock.now()
            kind, target = run.record.kind, run.target
            if error is None:
                self.save(
                    run,
                    state=OperationState.SUCCEEDED,
                    progress=1.0,
                    finished_at=now,
                    result=run.result,
                )
                if audit:
                    self._journal.audit(f"instance.{kind}", target, "succeeded", run.id)
                # A provider whose hook ended a process gets called again once it works.
                self._repo.calls.finished_all(target)
            else:
                self.save(
                    run,
                    state=OperationState.FAILED,
                    finished_at=now,
                    error=error,
                    result=run.result,
                )
                if audit:
                    self._journal.audit(
                        f"instance.{kind}", target, "failed", f"{error.type}: {error.message}"
                    )

    def abandon(self, run: Run, plan: Plan, exc: BaseException) -> None:
        """Fail the operation after an unexpected exception and free its instance."""
        with self._repo.lock:
            current = self._repo.find_instance(run.target)
            if current is not None and current.operation == run.id:
                plan.abandoned(run)
            self.save(
                run,
                state=OperationState.FAILED,
                finished_at=self._clock.now(),
                error=OperationError(
                    type=type(exc).__name__,
                    message=self._kept(f"operation abandoned: {type(exc).__name__}: {exc}"),
                    traceback=self._kept_traceback(),
                ),
            )
            self._journal.audit(
                f"instance.{run.record.kind}", run.target, "failed", type(exc).__name__
            )

    def _kept(self, text: str) -> str:
        """What an operation keeps of a message built from provider text: secrets redacted,
        control characters escaped, at most ``MESSAGE_LIMIT`` characters."""
        return printable(self._journal.scrub(text))

    def _kept_traceback(self) -> str:
        """The traceback being handled, redacted, escaped (but for its newlines) and cut at
        ``TRACEBACK_LIMIT`` characters."""
        return printable(self._journal.scrub(traceback.format_exc()), TRACEBACK_LIMIT, keep="\n")

    def begin_side(self, kind: str, target: str, request: Mapping[str, Any]) -> Run:
        """Create and start, in one transaction, an operation beside the instance's lifecycle
        (a ``repair``, a ``drain``). The caller holds the platform lock and has checked that
        the instance is not busy."""
        with self._repo.store.transaction():
            run, _ = self.new(kind, target, request, None)
            self.start(run)
        return run

    def finish_side(self, run: Run, plan: Plan) -> OperationError | None:
        """Run ``plan`` for an operation begun by :meth:`begin_side` under the instance's lock
        (no probe call meanwhile) and conclude it, without an audit record; returns its error."""
        with self._repo.store.instance_lock(run.target):
            try:
                error = plan.run(run)
            except BaseException as exc:
                self.abandon(run, plan, exc)
                raise
            self.conclude(run, error, plan=plan, audit=False)
        return error

    def call_verb(
        self, run: Run, call: Callable[[ServiceProvider, PlatformContext], object]
    ) -> OperationError | None:
        """Run a provider call with retries; returns None on success or the final error.

        The platform lock is held only for the bookkeeping around each attempt, never while
        provider code runs or while waiting to retry: a provider may use its context from
        worker threads, and other instances' requests proceed meanwhile (the instance's busy
        status keeps other operations off this instance)."""
        instance = run.target
        deadline = self._clock.monotonic() + self.timeout
        attempt = 0
        while True:
            attempt += 1
            with self._repo.lock:
                record = self._repo.instance(instance)
                if attempt > 1:  # the first was counted when the operation started
                    self.save(run, attempts=run.record.attempts + 1)
                try:
                    provider = self._catalog.provider_of(record)
                except Exception as exc:
                    return OperationError(
                        type="ProviderUnavailable",
                        message=self._kept(
                            f"the provider of {record.service!r} cannot be loaded: {exc}"
                        ),
                    )
            with self._contexts.open(instance, record.service, run.record.kind) as ctx:
                outcome = self._attempt(
                    provider, ctx, call, run=run, attempt=attempt, deadline=deadline
                )
            if isinstance(outcome, float):
                self._clock.sleep(outcome)
                continue
            return outcome

    def _attempt(
        self,
        provider: ServiceProvider,
        ctx: PlatformContext,
        call: Callable[[ServiceProvider, PlatformContext], object],
        *,
        run: Run,
        attempt: int,
        deadline: float,
    ) -> OperationError | float | None:
        """One attempt: None on success, an error to fail with, or the delay before the next."""
        kept = self._kept
        try:
            verb = _METHOD_OF.get(run.record.kind, run.record.kind)
            call_provider(verb, self._catalog.deadlines[verb], lambda: call(provider, ctx))
            return None
        except TemporaryError as exc:
            # A floor keeps retry_after=0 from spinning; the exponent is capped so the
            # delay never overflows before the deadline stops the retries. TemporaryError
            # refuses a non-finite retry_after, but the attribute can be changed after: such
            # a value (nan, inf, not a number) gets the floor too, never a crashed sleep.
            wanted = exc.retry_after
            base = MIN_RETRY_DELAY
            if isinstance(wanted, int | float) and math.isfinite(wanted):
                base = max(wanted, MIN_RETRY_DELAY)
            delay = min(base * 2 ** min(attempt - 1, 32), self.max_backoff)
            if self._clock.monotonic() + delay > deadline:
                return OperationError(
                    type="DeadlineExceeded",
                    message=(
                        f"{run.record.kind} still failing temporarily after {attempt} attempts "
                        f"and {self.timeout:.0f}s: {kept(str(exc))}"
                    ),
                )
            self._journal.log.info(
                "%s attempt %d: temporary error, retrying in %.1fs: %s",
                run.record.kind,
                attempt,
                delay,
                kept(str(exc)),
                extra={"target": run.target},
            )
            return float(delay)
        except ValidationError as exc:
            run.carry["cause"] = exc
            return OperationError(
                type=type(exc).__name__,
                message=kept(exc.summary),
                problems=tuple(kept(str(p)) for p in exc.problems),
            )
        except (PermanentError, DppError) as exc:
            run.carry["cause"] = exc
            return OperationError(type=type(exc).__name__, message=kept(str(exc)))
        except Exception as exc:
            run.carry["cause"] = exc  # chained to the OperationFailed the caller gets
            return OperationError(
                type=type(exc).__name__,
                message=kept(f"provider raised {type(exc).__name__}: {exc}{_where(exc)}"),
                traceback=self._kept_traceback(),
            )
