"""Deterministic crash points: make a platform die right after its n-th commit.

A process killed with SIGKILL stops between two instructions. What it leaves behind in the
state directory is what its durable writes made: the database's commits and the byte store's
file changes. So every crash a platform can suffer is "right after durable write N" for some
N, and :func:`dies_after` reproduces exactly that, in process and replayably::

    with dies_after(platform, 7) as point:   # the 7th commit from now is the last one
        run_scenario(platform)               # stops with the process at that commit
    assert point.crashed                     # (False if the scenario made fewer commits)
    with Platform.open(state_dir) as reopened:   # recovery runs here, as after a SIGKILL
        assert reopened.check_consistency() == []

By default only commits count. With ``byte_writes=True`` the byte store's changes count as
crash points too: volume bytes live in files beside the database, outside its transactions,
so a process can also die between two of them (one replica written, the next not).

How the process "dies"
    The store's ``after_commit`` hook (or the byte store, with ``byte_writes``) raises
    :class:`_Crashed` once the n-th durable write has landed. From then on the store's
    ``before_begin`` hook refuses every transaction with :class:`_Crashed`, and the byte
    store refuses every change, so nothing more reaches the state directory (a transaction
    open at that moment rolls back, as SQLite discards an uncommitted one after a kill).
    :class:`_Crashed` derives from ``BaseException``: no ``except Exception`` in the
    platform catches it, and its ``except BaseException`` clean-ups (an operation's
    ``abandon``, a rolled-back mutation) cannot land anything either, which is the point: a
    killed process cleans nothing up.

    When the block ends (crashed or not) the platform is dropped as a dead process's would
    be: :func:`kill` unregisters its owner tag, so recovery treats its operations as a dead
    process's, and closes its files without writing anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from dpp_sdk.platform import Platform
from dpp_sdk.testing import kill

__all__ = ["CrashPoint", "dies_after", "kill"]

# The byte store's backend calls that change bytes on disk (the rest only read).
_BYTE_WRITES = frozenset(
    {"write", "delete_component", "delete_volume", "put_journal", "clear_journal"}
)


class _Crashed(BaseException):
    """The simulated process died at its crash point; nothing after it reaches the disk."""


class CrashPoint:
    """Kills ``platform`` right after its ``after``-th durable write counted from now.

    Durable writes are the store's commits and, with ``byte_writes``, also the byte store's
    changes (each write, component destroyed or volume deleted), so that a crash can also
    fall between the bytes of one request (a replica written and not the next).

    ``writes`` counts the durable writes so far; ``crashed`` tells whether the ``after``-th
    happened (and the process died there); ``dead`` is true once nothing more may reach the
    state directory (after the crash, or after :meth:`die`)."""

    def __init__(self, platform: Platform, after: int, *, byte_writes: bool = False) -> None:
        if after < 1:
            raise ValueError(f"a crash point comes after durable write 1 or later, got {after}")
        self.platform = platform
        self.after = after
        self.byte_writes = byte_writes
        self.writes = 0
        self.crashed = False
        self.dead = False
        store = platform._repo.store
        store.after_commit = lambda _commits: self._landed("commit")
        store.before_begin = self._refuse_if_dead
        volumes = platform._resources.bytes
        volumes._backend = _FencedBackend(volumes._backend, self)  # type: ignore[assignment]

    def die(self) -> None:
        """Die now (if not dead already): nothing more reaches the state directory."""
        self.dead = True

    def _landed(self, what: str) -> None:
        """A durable write (``what``) just landed: die if it is the chosen one."""
        self.writes += 1
        if self.writes == self.after and not self.dead:
            self.crashed = self.dead = True
            raise _Crashed(f"process killed right after durable write {self.writes} ({what})")

    def _refuse_if_dead(self) -> None:
        if self.dead:
            raise _Crashed("the process was killed; nothing more reaches the state directory")


class _FencedBackend:
    """The byte store's backend, refusing every change once the process is dead."""

    def __init__(self, inner: Any, point: CrashPoint) -> None:
        self._inner = inner
        self._point = point

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._inner, name)
        if name not in _BYTE_WRITES:
            return attr

        def fenced(*args: Any, **kwargs: Any) -> Any:
            self._point._refuse_if_dead()
            result = attr(*args, **kwargs)
            if self._point.byte_writes:
                self._point._landed(f"byte store {name}")
            return result

        return fenced


def _refuse() -> None:
    raise _Crashed("the process was killed; nothing more reaches the state directory")


@contextlib.contextmanager
def dies_after(
    platform: Platform, after: int, *, byte_writes: bool = False
) -> Iterator[CrashPoint]:
    """Run the block with ``platform`` dying right after its ``after``-th commit from now
    (durable write, counting the byte store's changes too, with ``byte_writes``).

    The crash leaves the block like a signal would: the statement running stops, the rest
    of the block is skipped. Whether it crashed or not, the platform is :func:`kill`-ed when
    the block ends. Exceptions other than the crash propagate."""
    point = CrashPoint(platform, after, byte_writes=byte_writes)
    try:
        yield point
    except _Crashed:
        if not point.crashed:  # pragma: no cover - only a bug in this module gets here
            raise
    finally:
        point.die()
        kill(platform)
