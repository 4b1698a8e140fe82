"""Kill a platform as SIGKILL would: at a chosen provider context call, or right after a
chosen durable write; and resume it.

A process killed with SIGKILL stops between two instructions. What it leaves behind in the
state directory is what its durable writes made: the database's commits and the byte
store's file changes. So every crash a platform can suffer is "right after durable write N"
for some N, which :func:`dies_after` reproduces in process and replayably.

How the process "dies": the store's commit hook (or the byte store, with ``byte_writes``)
raises :class:`_Killed` once the chosen durable write has landed. From then on every
transaction and every byte store change is refused with :class:`_Killed`, so nothing more
reaches the state directory (a transaction open at that moment rolls back, as SQLite
discards an uncommitted one after a kill). :class:`_Killed` derives from ``BaseException``:
no ``except Exception`` of the platform's or a provider's catches it, and the platform's
``except BaseException`` clean-ups cannot land anything either, which is the point: a killed
process cleans nothing up.

This is one of the two places (with :mod:`dpp_sdk.testing.faults`) where tests reach the
platform's internals; keep every such access here, documented.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Collection, Iterator
from typing import Any

from dpp_sdk.platform import Clock, Platform
from dpp_sdk.platform._owners import register_owner

__all__ = ["BYTE_WRITES", "CrashPoint", "crash_and_resume", "dies_after", "kill"]

BYTE_WRITES = ("write", "delete_component", "delete_volume", "put_journal", "clear_journal")
"""The byte store's durable changes, as :attr:`CrashPoint.landed` names them: a component
write, a component destroyed, a volume's bytes deleted, a stripe journal written or
cleared."""


class _Killed(BaseException):
    """The simulated process died; nothing after it reaches the state directory.

    A ``BaseException``: no ``except Exception`` of the platform's or a provider's catches it,
    and the platform's clean-ups cannot land anything either, as after a real kill."""


def _refuse() -> None:
    raise _Killed("the process was killed; nothing more reaches the state directory")


def kill(platform: Platform) -> None:
    """Drop ``platform`` as if its process had been SIGKILLed now: it writes nothing more,
    its operations become a dead process's (the next platform on the state directory
    recovers them) and its files are closed. The object is unusable afterwards."""
    store = platform._repo.store
    store.before_begin = _refuse
    register_owner(platform._owner, None)
    platform._journal.close()
    store.close()


def _fence_byte_store(
    platform: Platform, before: Callable[[], None], after: Callable[[str], None]
) -> None:
    """Call ``before()`` ahead of every durable change of ``platform``'s byte store and
    ``after(name)`` once it has landed (``name`` from :data:`BYTE_WRITES`)."""
    backend = platform._resources.bytes._backend

    def fenced(name: str, change: Callable[..., Any]) -> Callable[..., Any]:
        def run(*args: Any, **kwargs: Any) -> Any:
            before()
            result = change(*args, **kwargs)
            after(name)
            return result

        return run

    for name in BYTE_WRITES:
        # An instance attribute shadows the method for this platform's backend only.
        setattr(backend, name, fenced(name, getattr(backend, name)))


class CrashPoint:
    """Kills ``platform`` right after its ``after``-th durable write counted from now.

    Durable writes are the store's commits and, with ``byte_writes``, also the byte store's
    changes (:data:`BYTE_WRITES`), so that a crash can also fall between the bytes of one
    request (a replica written and not the next).

    ``writes`` counts the durable writes so far and ``landed`` names them in order
    (``"commit"`` or one of :data:`BYTE_WRITES`); ``crashed`` tells whether the
    ``after``-th happened (and the process died there); ``dead`` is true once nothing more
    may reach the state directory (after the crash, or after :meth:`die`). Made by
    :func:`dies_after`."""

    def __init__(self, platform: Platform, after: int, *, byte_writes: bool = False) -> None:
        if not (isinstance(after, int) and after >= 1):
            raise ValueError(f"a crash point comes after durable write 1 or later, got {after!r}")
        self.platform = platform
        self.after = after
        self.byte_writes = byte_writes
        self.writes = 0
        self.landed: list[str] = []
        self.crashed = False
        self.dead = False
        store = platform._repo.store
        store.after_commit = lambda _commits: self._landed("commit")
        store.before_begin = self._refuse_if_dead
        _fence_byte_store(platform, self._refuse_if_dead, self._byte_write_landed)

    def die(self) -> None:
        """Die now (if not dead already): nothing more reaches the state directory."""
        self.dead = True

    def _byte_write_landed(self, name: str) -> None:
        if self.byte_writes:
            self._landed(name)

    def _landed(self, what: str) -> None:
        """A durable write (``what``) just landed: die if it is the chosen one."""
        self.writes += 1
        self.landed.append(what)
        if self.writes == self.after and not self.dead:
            self.crashed = self.dead = True
            raise _Killed(f"process killed right after durable write {self.writes} ({what})")

    def _refuse_if_dead(self) -> None:
        if self.dead:
            _refuse()


@contextlib.contextmanager
def dies_after(
    platform: Platform, after: int, *, byte_writes: bool = False
) -> Iterator[CrashPoint]:
    """Run the block with ``platform`` dying right after its ``after``-th commit from now
    (durable write, counting the byte store's changes too, with ``byte_writes``)::

        with testing.dies_after(platform, 7) as point:  # the 7th commit from now is the last
            run_scenario(platform)                        # stops with the process there
        assert point.crashed                              # (False: fewer commits were made)
        with Platform.open(state_dir) as reopened:        # recovery runs, as after a SIGKILL
            assert reopened.check_consistency() == []

    The crash leaves the block like a signal would: the statement running stops, the rest
    of the block is skipped. Whether it crashed or not, the platform is :func:`kill`-ed when
    the block ends. Exceptions other than the crash propagate. A large ``after`` (never
    reached) counts a scenario's durable writes: ``point.writes`` and ``point.landed``."""
    point = CrashPoint(platform, after, byte_writes=byte_writes)
    try:
        yield point
    except _Killed:
        if not point.crashed:  # pragma: no cover - only a bug in this module gets here
            raise
    finally:
        point.die()
        kill(platform)


def crash_and_resume(
    state_dir: str | os.PathLike[str],
    action: Callable[[Platform], object],
    *,
    after_calls: int,
    clock: Clock | None = None,
    verbs: Collection[str] | None = None,
) -> tuple[bool, Platform]:
    """Run ``action`` on a platform opened on ``state_dir``, killing the process right after
    the provider's ``after_calls``-th context call (its next call never happens), then open
    the directory again, which resumes (or fails) the interrupted operation as recovery does.

    Returns whether the kill happened (False if ``action`` made fewer calls) and the reopened
    platform, for the caller to check and close. A verb that converges leaves the same
    instance as an uninterrupted run would, with nothing allocated twice. With ``verbs``,
    only the context calls of those verbs count (as for ``count_context_calls``)."""
    if not (isinstance(after_calls, int) and after_calls >= 0):
        raise ValueError(f"after_calls: {after_calls!r} must be an integer >= 0")
    platform = Platform.open(state_dir, clock=clock)
    calls = 0

    def count(verb: str) -> None:
        nonlocal calls
        if verbs is not None and verb not in verbs:
            return
        calls += 1
        if calls > after_calls:
            platform._repo.store.before_begin = _refuse  # nothing more is written
            raise _Killed(f"killed before context call {calls}")

    platform._contexts.on_call = count
    crashed = False
    try:
        action(platform)
    except _Killed:
        crashed = True
    finally:
        kill(platform)
    return crashed, Platform.open(state_dir, clock=clock)
