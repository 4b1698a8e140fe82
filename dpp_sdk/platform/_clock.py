"""Time for the platform: real, or a manual clock whose sleeps pass instantly (for tests)."""

from __future__ import annotations

import abc
import datetime as dt
import threading
import time

__all__ = ["Clock", "ManualClock", "SystemClock"]


class Clock(abc.ABC):
    """Interface: ``now()`` as aware UTC datetime, ``monotonic()`` seconds, ``sleep(s)``."""

    @abc.abstractmethod
    def now(self) -> dt.datetime:
        """The current time (UTC)."""

    @abc.abstractmethod
    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, never going back."""

    @abc.abstractmethod
    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``."""


class SystemClock(Clock):
    """Wall-clock time and real sleeps."""

    def now(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class ManualClock(Clock):
    """A clock that only moves when told to; ``sleep`` advances it instantly."""

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
