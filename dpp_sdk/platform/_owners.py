"""Who runs an operation: owner tags ``pid:start:token`` and whether their owner is alive.

An operation records its owner: the platform object running it, named by its process id, the
process's start time (so a pid reused by a later process is not mistaken for the dead one) and
a random token (so two platform objects of one process differ). :func:`owner_alive` tells
whether that owner may still be running it, so recovery never steals an operation from a live
process (or a live sibling platform in this one).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import uuid
import weakref
from pathlib import Path
from typing import Any

__all__ = ["CallMarks", "owner_alive", "owner_tag", "register_owner"]

# Platform objects alive in this process, by owner tag.
_LIVE_OWNERS: weakref.WeakValueDictionary[str, Any] = weakref.WeakValueDictionary()


def _process_stat(pid: int) -> list[str]:
    """Fields 3 onwards of ``/proc/<pid>/stat`` (state, ppid, ...), or [] if unknown."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            # The command name in field 2 may contain spaces and parentheses.
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return []


def _process_start(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, from /proc), or "" if unknown.

    With the pid it names a process uniquely: a pid reused by a later process has another
    start time, so an operation of the dead one is not mistaken for a live one."""
    fields = _process_stat(pid)
    return fields[19] if len(fields) > 19 else ""  # field 22, starttime


def owner_tag() -> str:
    """``pid:start:token`` naming a new platform object in this process."""
    pid = os.getpid()
    return f"{pid}:{_process_start(pid)}:{uuid.uuid4().hex}"


def register_owner(tag: str, owner: object | None) -> None:
    """Note that ``owner`` (a live platform object) runs operations tagged ``tag``; None
    forgets it."""
    if owner is None:
        _LIVE_OWNERS.pop(tag, None)
    else:
        _LIVE_OWNERS[tag] = owner


def owner_alive(owner: str) -> bool:
    """Whether the platform object that owns an operation may still be running it."""
    if owner in _LIVE_OWNERS:
        return True
    pid_text, _, rest = owner.partition(":")
    start, _, _token = rest.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return False  # same process, and not a live platform: its owner is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    if _process_stat(pid)[:1] in (["Z"], ["X"]):
        return False  # a zombie (killed, not yet reaped by its parent) runs nothing
    # Alive, unless the pid now belongs to a process that started later.
    now = _process_start(pid)
    return not (start and now and now != start)


class CallMarks:
    """Marks of provider calls in flight that no operation records (``monitor``,
    ``on_maintenance``): a small file in ``calls/`` of the state directory while the call runs.
    One left by a process that is gone means that call ended its process."""

    def __init__(self, state_dir: Path | None) -> None:
        self._state_dir = state_dir
        self._calls_dir: str | None = None

    def _marker(self, instance: str, verb: str) -> str | None:
        if self._state_dir is None:
            return None
        if self._calls_dir is None:
            directory = self._state_dir / "calls"
            directory.mkdir(exist_ok=True)
            self._calls_dir = str(directory)
        digest = hashlib.sha1(instance.encode(), usedforsecurity=False).hexdigest()
        return f"{self._calls_dir}/{digest}-{verb}"

    def starting(self, instance: str, verb: str, owner: str, *, limit: int) -> int:
        """Note that ``verb`` of ``instance``'s provider is about to run in ``owner``; returns
        how many calls of it in a row ended their process. Once that reaches ``limit`` the
        call is not to be made (and nothing more is noted). Always 0 in memory, where a dead
        process leaves nothing behind. The note is one line: ``kills owner`` (owner ``-`` once
        the calls stopped)."""
        marker = self._marker(instance, verb)
        if marker is None:
            return 0
        try:
            with open(marker, encoding="utf-8") as found:
                kills_text, _, previous = found.read().partition(" ")
            kills = int(kills_text)
        except (FileNotFoundError, ValueError):
            kills, previous = 0, None
        if previous and previous != "-" and not owner_alive(previous):
            kills += 1
        # Written aside and renamed over the marker, so a process killed mid-write leaves the
        # old note or the new one, never an empty file (which would forget the kills counted).
        temporary = f"{marker}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as note:
            note.write(f"{kills} {'-' if kills >= limit or previous == '-' else owner}")
        os.replace(temporary, marker)
        return kills

    def finished(self, instance: str, verb: str) -> None:
        """The call returned (whatever it returned): its process survived it."""
        marker = self._marker(instance, verb)
        if marker is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(marker)
