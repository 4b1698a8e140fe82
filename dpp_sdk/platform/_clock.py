"""Time for the platform.

Three clocks: :class:`SimulatedClock` (the default: real time plus however far users have
advanced it, so timers such as the object repair timer can be passed in a moment),
:class:`ManualClock` (moves only when told; its sleeps pass instantly; for tests) and
:class:`SystemClock` (real time only; cannot be advanced).

A clock that can be advanced also knows how to save its position, so the platform keeps
simulated time across restarts and between processes sharing a state directory
(:meth:`Clock.saved` / :meth:`Clock.restore`).
"""

from __future__ import annotations

import abc
import datetime as dt
import threading
import time

from dpp_sdk.contract import Conflict

__all__ = [
    "Clock",
    "ClockNotAdjustable",
    "ManualClock",
    "SimulatedClock",
    "SystemClock",
]


class ClockNotAdjustable(Conflict):
    """Raised by :meth:`Clock.advance` on a clock that follows real time only."""


class Clock(abc.ABC):
    """Interface: ``now()`` as aware UTC datetime, ``monotonic()`` seconds, ``sleep(s)``;
    clocks that simulate time also ``advance(s)`` and save their position."""

    #: How the saved position is labelled; a position saved by another kind is ignored.
    kind = "system"

    @abc.abstractmethod
    def now(self) -> dt.datetime:
        """The current time (UTC)."""

    @abc.abstractmethod
    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going back."""

    @abc.abstractmethod
    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""

    def advance(self, seconds: float) -> None:
        """Move simulated time forward by ``seconds``. A real-time clock cannot."""
        del seconds
        raise ClockNotAdjustable(
            f"the platform runs on {type(self).__name__}, which follows real time only; "
            "open it with a SimulatedClock (the default) or a ManualClock to advance time"
        )

    def saved(self) -> float | None:
        """The position to keep across restarts (seconds), or None for a real-time clock."""
        return None

    def restore(self, position: float) -> None:
        """Take up a position saved by :meth:`saved` of the same kind of clock, if it is
        ahead of this one (simulated time never goes back)."""
        del position


class SystemClock(Clock):
    """Wall-clock time and real sleeps."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class SimulatedClock(Clock):
    """Real time plus an offset that :meth:`advance` grows: timestamps look like the wall
    clock's, waits are real, and users can jump ahead (``dpp clock advance 61m``)."""

    kind = "simulated"

    def __init__(self, offset: float = 0.0) -> None:
        self._offset = max(0.0, float(offset))
        self._delta = dt.timedelta(seconds=self._offset)  # made once per change, not per now()
        self._lock = threading.Lock()

    @property
    def offset(self) -> float:
        """Seconds this clock is ahead of real time."""
        return self._offset

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + self._delta

    def monotonic(self) -> float:
        return time.monotonic() + self._offset

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)

    def advance(self, seconds: float) -> None:
        with self._lock:
            offset = self._offset + max(0.0, seconds)
            self._delta = dt.timedelta(seconds=offset)  # first: if it overflows, nothing moved
            self._offset = offset

    def saved(self) -> float | None:
        return self._offset

    def restore(self, position: float) -> None:
        with self._lock:
            self._offset = max(self._offset, position)
            self._delta = dt.timedelta(seconds=self._offset)


class ManualClock(Clock):
    """A clock that only moves when told to; ``sleep`` advances it instantly."""

    kind = "manual"

    def __init__(self, start: dt.datetime | None = None) -> None:
        self._now = start or dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
        self._offset = 0.0
        self._lock = threading.Lock()
        self.slept: list[float] = []

    def now(self) -> dt.datetime:
        with self._lock:
            return self._now + dt.timedelta(seconds=self._offset)

    def monotonic(self) -> float:
        with self._lock:
            return self._offset

    def sleep(self, seconds: float) -> None:
        self.advance(seconds)
        self.slept.append(seconds)

    def advance(self, seconds: float) -> None:
        """Move the clock forward."""
        with self._lock:
            self._offset += max(0.0, seconds)

    def saved(self) -> float | None:
        return self.now().timestamp()

    def restore(self, position: float) -> None:
        with self._lock:
            ahead = position - (self._now.timestamp() + self._offset)
            self._offset += max(0.0, ahead)
