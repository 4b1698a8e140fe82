"""Calling provider code with a deadline.

Every call into a provider (its verbs, ``validate``, ``register``, ``monitor``,
``on_maintenance``, ``on_failure``) runs in a worker thread that the platform waits for at most
the verb's deadline. A call that overruns it fails with :class:`ProviderTimeout`, naming the
verb and the deadline; the platform closes the call's context, so the stray thread can no
longer change anything, and carries on. Whatever the provider raises reaches the platform in
the calling thread; a ``BaseException`` that is not an ``Exception`` (``SystemExit``, a
``KeyboardInterrupt`` raised by the provider itself) becomes a :class:`ProviderCrashed`, so a
provider can never end the platform's process or make it report success.

Deadlines are real time, whatever clock the platform runs on.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Mapping
from typing import TypeVar, cast

from dpp_sdk.contract import DppError, ValidationError

__all__ = [
    "MAX_KILLS",
    "DEFAULT_DEADLINES",
    "Deadlines",
    "ProviderCrashed",
    "ProviderTimeout",
    "call_provider",
    "check_seconds",
]

T = TypeVar("T")

DEFAULT_DEADLINES: Mapping[str, float] = {
    "register": 30.0,
    "validate": 30.0,
    "provision": 300.0,
    "configure": 300.0,
    "scale": 300.0,
    "decommission": 300.0,
    "monitor": 30.0,
    "on_maintenance": 60.0,
    "footprint": 30.0,
    "drain": 300.0,
    "on_failure": 300.0,
}
"""Seconds each provider method may take by default (``Platform.open(provider_deadlines=...)``
overrides them per method)."""


class ProviderTimeout(DppError):
    """A provider call did not return within its deadline. ``verb`` and ``seconds`` say which."""

    def __init__(self, verb: str, seconds: float) -> None:
        self.verb = verb
        self.seconds = seconds
        super().__init__(
            f"the provider's {verb} did not return within its deadline of {seconds:g} s; the "
            f"platform stopped waiting (raise the deadline with "
            f"provider_deadlines={{{verb!r}: SECONDS}} if it needs longer)"
        )


MAX_KILLS = 1
"""Calls of one provider hook (``monitor``, ``on_maintenance``) for one instance that may end
their process before the platform stops making them, until an operation on the instance
succeeds again (operations have their own bound, see recovery). One: a health or maintenance
command must survive the first call after a kill, and a hook that ends its process is a bug
the check that replaces it names."""


class ProviderCrashed(DppError):
    """Provider code raised ``SystemExit`` or another ``BaseException`` that is not an
    ``Exception``; it counts as a provider failure (``__cause__`` is what it raised)."""


def check_seconds(path: str, value: object) -> float:
    """A positive, finite number of seconds, or a ValidationError naming ``path``."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise ValidationError.single(path, value, "must be a finite number of seconds > 0")
    return float(value)


class Deadlines:
    """The deadline of each provider method."""

    def __init__(self, overrides: Mapping[str, float] | None = None) -> None:
        chosen = dict(DEFAULT_DEADLINES)
        for verb, seconds in (overrides or {}).items():
            if verb not in DEFAULT_DEADLINES:
                raise ValidationError.single(
                    "$.provider_deadlines",
                    verb,
                    f"not a provider method; one of {sorted(DEFAULT_DEADLINES)}",
                )
            chosen[verb] = check_seconds(f"$.provider_deadlines.{verb}", seconds)
        self._seconds = chosen

    def __getitem__(self, verb: str) -> float:
        return self._seconds[verb]


class _Worker:
    """A thread that runs the provider calls of one calling thread, one at a time.

    Reused from call to call (starting a thread per call costs more than the call); a call
    that overruns its deadline leaves its worker behind, still running the provider's code,
    and the next call gets a new one."""

    def __init__(self) -> None:
        self._jobs: queue.SimpleQueue[tuple[Callable[[], object], _Job]] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._serve, name="dpp-provider", daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        _local.inside = True
        while True:
            fn, job = self._jobs.get()
            try:
                job.value = fn()
            except BaseException as exc:  # everything the provider raises is reported
                job.error = exc
            job.done.release()

    def submit(self, fn: Callable[[], object]) -> _Job:
        job = _Job()
        self._jobs.put((fn, job))
        return job


class _Job:
    """One call handed to a worker. ``done`` is a plain lock, taken when the job is made and
    released by the worker when the call returns: waiting on it with a timeout is the
    deadline, and costs less than an :class:`threading.Event` (a condition and a lock per
    wait), which matters at one handoff per provider call."""

    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Lock()
        self.done.acquire()
        self.value: object = None
        self.error: BaseException | None = None


_local = threading.local()


def call_provider(verb: str, seconds: float, fn: Callable[[], T]) -> T:
    """Run ``fn`` (provider code) in a worker thread; its result, or what it raised, or
    :class:`ProviderTimeout` after ``seconds``. Called from provider code itself (a provider
    driving the platform), it runs inline under the outer call's deadline."""
    if getattr(_local, "inside", False):
        return fn()
    worker: _Worker | None = getattr(_local, "worker", None)
    if worker is None:
        worker = _local.worker = _Worker()
    job = worker.submit(fn)
    if not job.done.acquire(True, seconds):
        _local.worker = None  # that worker is busy with the stray call for good
        raise ProviderTimeout(verb, seconds)
    exc = job.error
    if exc is None:
        return cast(T, job.value)
    if isinstance(exc, Exception):
        raise exc
    raise ProviderCrashed(
        f"the provider's {verb} raised {type(exc).__name__}({exc}); a provider must not end "
        "the process"
    ) from exc
