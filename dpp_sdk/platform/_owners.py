"""Who runs an operation: owner tags ``pid:start:token`` and whether their owner is alive.

An operation records its owner: the platform object running it, named by its process id, the
process's start time (so a pid reused by a later process is not mistaken for the dead one) and
a random token (so two platform objects of one process differ). :func:`owner_alive` tells
whether that owner may still be running it, so recovery never steals an operation from a live
process (or a live sibling platform in this one).
"""

from __future__ import annotations

import os
import uuid
import weakref
from typing import Any

__all__ = ["owner_alive", "owner_tag", "register_owner"]

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
