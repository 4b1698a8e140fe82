"""Time passing on the platform: vSAN's object repair timer, and the simulated clock's position.

When a host fails, or enters maintenance without evacuating (``ensure-accessibility`` or
``no-action``), its components go ``absent`` and its repair timer starts
(``[cluster] object_repair_timer`` minutes, vSAN's ``VSAN.ClomRepairDelay``; 60 by default).
Until it expires, vSAN waits, because most outages are short: the object's health is
"reduced availability with no rebuild - delay timer". A host back in time only resyncs what
its components missed. When the timer expires:

- absent components of distributed volumes (``vsan-default``) are rebuilt on other hosts from
  their peers, where a home exists (else they stay absent, with a ``rebuild-deferred`` event);
- for a *failed* host, the data that lived only on it (``vsan-sna``, ``vsan-direct``) is
  declared lost, and every provider with members or volumes there is told so with
  ``FailureKind.REPAIR_TIMER_EXPIRED``, its ``lost_volumes`` naming those volumes: that, not
  the host failure itself, is the signal to re-create members elsewhere.

Timers are stored, so they fire as the clock passes them also after a restart: the platform
fires due timers when its clock is advanced, when it opens, and before each change and each
health check.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import attrs

from dpp_sdk.contract import FailureKind, ValidationError
from dpp_sdk.platform._clock import Clock, SimulatedClock
from dpp_sdk.platform._hardware import Hardware
from dpp_sdk.platform._journal import Journal
from dpp_sdk.platform._models import ClockStatus, RepairTimerInfo
from dpp_sdk.platform._policies import POLICIES
from dpp_sdk.platform._records import ClockPosition, RepairTimer
from dpp_sdk.platform._repairs import Repairs
from dpp_sdk.platform._repository import Repository

__all__ = ["Timers"]

LATEST = dt.datetime(3000, 1, 1, tzinfo=dt.UTC)
"""The clock is not advanced past this: far beyond any wait worth simulating, and far from
where ``datetime`` overflows, so every time computed from the clock stays representable."""


class Timers:
    """Starts, cancels and fires repair timers; keeps the simulated clock's position."""

    def __init__(
        self,
        repo: Repository,
        journal: Journal,
        hardware: Hardware,
        repairs: Repairs,
        clock: Clock,
    ) -> None:
        self._repo = repo
        self._journal = journal
        self._hardware = hardware
        self._repairs = repairs
        self._clock = clock

    # ------------------------------------------------------------------ the clock

    def catch_up(self) -> None:
        """Take up the clock position saved by this or another process (simulated time only
        moves forward)."""
        saved = self._repo.clock_position()
        if saved is not None and saved.kind == self._clock.kind:
            self._clock.restore(saved.position)

    def advance(self, seconds: float) -> None:
        """Move the clock forward ``seconds`` (> 0, checked by the caller), save where it
        stands, fire what fell due."""
        with self._repo.lock, self._repo.store.transaction():
            self.catch_up()
            if seconds > (LATEST - self._clock.now()).total_seconds():
                raise ValidationError.single(
                    "$.seconds", seconds, f"would move the clock past {LATEST:%Y-%m-%d}"
                )
            self._clock.advance(seconds)
            position = self._clock.saved()
            if position is not None:
                self._repo.put_clock_position(
                    ClockPosition(kind=self._clock.kind, position=position)
                )
            self._journal.audit("clock.advance", f"{seconds:g}s", "succeeded")
        self.fire_due()

    def status(self) -> ClockStatus:
        """The clock and the running repair timers, soonest first."""
        with self._repo.lock:
            self.catch_up()
            now = self._clock.now()
            timers = sorted(
                (t for t in self._all_timers() if not t.expired), key=lambda t: t.due_at
            )
        saved = self._clock.saved()
        return ClockStatus(
            now=now,
            kind=self._clock.kind,
            ahead_seconds=saved if isinstance(self._clock, SimulatedClock) else None,
            object_repair_timer_minutes=self._repo.config.object_repair_timer,
            repair_timers=tuple(
                RepairTimerInfo(
                    host=t.host,
                    cause=t.cause,
                    started_at=t.started_at,
                    due_at=t.due_at,
                    remaining_seconds=max(0.0, (t.due_at - now).total_seconds()),
                )
                for t in timers
            ),
        )

    # ------------------------------------------------------------------ repair timers

    def _all_timers(self) -> list[RepairTimer]:
        """The repair timers, running or expired (kept until the host returns), by host."""
        return self._repo.host_records(RepairTimer, "repair-timer")

    def start(self, host: str, cause: Literal["host-failure", "maintenance"]) -> RepairTimer:
        """Start ``host``'s repair timer (in the caller's transaction); returns it."""
        now = self._clock.now()
        minutes = self._repo.config.object_repair_timer
        timer = RepairTimer(
            host=host, cause=cause, started_at=now, due_at=now + dt.timedelta(minutes=minutes)
        )
        self._repo.put_host_record("repair-timer", host, timer)
        return timer

    def cancel(self, host: str) -> None:
        """Stop ``host``'s repair timer (in the caller's transaction), if one runs."""
        self._repo.delete_host_record("repair-timer", host)

    def due(self) -> list[RepairTimer]:
        """Timers whose time has come, soonest first."""
        with self._repo.lock:  # one hold: the data version is checked once for both reads
            self.catch_up()  # another process may have advanced the clock
            timers = self._all_timers()
        if not timers:
            return []
        now = self._clock.now()
        return sorted(
            (t for t in timers if not t.expired and t.due_at <= now), key=lambda t: t.due_at
        )

    def fire_due(self) -> list[str]:
        """Fire every timer that is due; returns the hosts whose timers fired."""
        fired = []
        for timer in self.due():
            if self._expire(timer):
                fired.append(timer.host)
        return fired

    def _expire(self, timer: RepairTimer) -> bool:
        """Rebuild ``timer.host``'s absent components elsewhere; for a failed host declare its
        host-local data lost and tell the providers. False if another process got there
        first (the timer is gone) or the host came back."""
        hardware, repo = self._hardware, self._repo
        lost: dict[str, list[str]] = {}
        destroyed: list[tuple[str, int]] = []
        with repo.store.data_lock(), repo.lock:
            current = {t.host: t for t in self._all_timers()}.get(timer.host)
            if current is None or current.expired or current.due_at > self._clock.now():
                return False
            affected = hardware.affected(timer.host)
            with repo.mutation() as cluster:
                failed = cluster.host(timer.host).state == "failed"
                if failed:  # kept, expired, until the host returns: its members are lost
                    repo.put_host_record(
                        "repair-timer", timer.host, attrs.evolve(current, expired=True)
                    )
                else:
                    repo.delete_host_record("repair-timer", timer.host)
                if cluster.host(timer.host).state == "connected":
                    return False
                for volume, here in hardware.volumes_on(timer.host):
                    absent = [c.index for c in here if c.state != "lost"]
                    if POLICIES[volume.policy].distributed:
                        moved, _ = hardware.rehome(cluster, volume, absent, copy=False)
                        repo.put_volume(hardware.resync(cluster, moved))
                    elif failed and absent:
                        gone = {i: attrs.evolve(volume.component(i), state="lost") for i in absent}
                        repo.put_volume(volume.with_components(gone))
                        lost.setdefault(volume.instance, []).append(volume.name)
                        destroyed.extend((volume.id, i) for i in absent)
            # The bytes go once the record says so: a crash in between leaves bytes that
            # recovery destroys, never a record pointing at destroyed bytes.
            for volume_id, index in destroyed:
                hardware.destroy(volume_id, index)
            self._journal.audit("repair-timer.expire", timer.host, "succeeded")
            self._journal.event(
                "repair-timer-expired",
                timer.host,
                f"object repair timer of host {timer.host} expired after "
                f"{repo.config.object_repair_timer} min ({timer.cause}); absent components "
                "rebuilt where a home exists"
                + ("; data only on this host declared lost" if lost else ""),
                lost=dict(lost),
            )
        if failed:
            self._repairs.notify_all(
                affected, FailureKind.REPAIR_TIMER_EXPIRED, timer.host, lost=lost
            )
        return True
