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
from pathlib import Path
from typing import Any

from dpp_sdk.platform._sqlite import LockFiles

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


_SLOT = 256
"""Bytes of the note of one hook in an instance's lock file."""
_SLOTS = {"monitor": 0, "on_maintenance": _SLOT}
"""Where each hook's note lies in the lock file: both within its first page (4 KiB)."""


class CallMarks:
    """Marks of provider calls in flight that no operation records (``monitor``,
    ``on_maintenance``): a note in the instance's lock file (see
    :func:`~dpp_sdk.platform._store.instance_lock_file`) while the call runs. One left by a
    process that is gone means that call ended its process.

    Each hook has a fixed slot of :data:`_SLOT` bytes in the file, blank (spaces, or the
    zeros of a file not yet that long) when no call is in flight, else ``kills owner`` padded
    with spaces. A note is changed by one ``pwrite`` of the whole slot, never by truncating or
    replacing the file: a write that stays within one page of a file is done completely or not
    at all when its process is killed, so a kill mid-write leaves the old note or the new one,
    never an empty one that forgets the kills counted. The file already exists (every
    operation on the instance takes its lock), so a health check creates and removes no file;
    on this platform's storage creating and removing a marker file per call cost more than
    the rest of a health check."""

    def __init__(self, state_dir: Path | None, files: LockFiles | None = None) -> None:
        self._files = files if files is not None else LockFiles(state_dir)

    def starting(self, instance: str, verb: str, owner: str, *, limit: int) -> int:
        """Note that ``verb`` of ``instance``'s provider is about to run in ``owner``; returns
        how many calls of it in a row ended their process. Once that reaches ``limit`` the
        call is not to be made (and nothing more is noted). Always 0 in memory, where a dead
        process leaves nothing behind. The note is one line: ``kills owner`` (owner ``-`` once
        the calls stopped)."""
        if self._files.state_dir is None:
            return 0
        offset = _slot(verb)
        fd = self._files.take(instance)
        assert fd is not None
        try:
            found = _note(os.pread(fd, _SLOT, offset))
            kills_text, _, previous = found.partition(" ")
            try:
                kills = int(kills_text)
            except ValueError:
                kills, previous = 0, ""
            if previous and previous != "-" and not owner_alive(previous):
                kills += 1
            note = f"{kills} {'-' if kills >= limit or previous == '-' else owner}".encode()
            if len(note) > _SLOT:
                raise ValueError(f"owner tag too long for a call mark: {owner!r}")
            os.pwrite(fd, note.ljust(_SLOT), offset)
        finally:
            self._files.give(instance, fd)
        return kills

    def finished(self, instance: str, verb: str) -> None:
        """The call returned (whatever it returned): its process survived it."""
        if self._files.state_dir is None:
            return
        offset = _slot(verb)
        self._clear(instance, offset, offset + _SLOT)

    def finished_all(self, instance: str) -> None:
        """:meth:`finished` for every hook of ``instance`` (an operation on it succeeded, or
        it is deleted): one read of the lock file, and one write if any note was there."""
        self._clear(instance, 0, len(_SLOTS) * _SLOT)

    def _clear(self, instance: str, start: int, end: int) -> None:
        """Blank the notes between offsets ``start`` and ``end`` that are not blank."""
        if self._files.state_dir is None:
            return
        fd = self._files.take(instance, create=False)
        if fd is None:
            return  # no lock file, so no note
        try:
            found = os.pread(fd, end - start, start)
            for offset in range(start, end, _SLOT):
                if _note(found[offset - start : offset - start + _SLOT]):
                    os.pwrite(fd, b" " * _SLOT, offset)
        finally:
            self._files.give(instance, fd)


def _slot(verb: str) -> int:
    try:
        return _SLOTS[verb]
    except KeyError:
        raise ValueError(f"no call mark for {verb!r}; one of {sorted(_SLOTS)}") from None


def _note(slot: bytes) -> str:
    """The note in a slot read from a lock file ("" when blank)."""
    return slot.rstrip(b"\0 ").decode("utf-8")
