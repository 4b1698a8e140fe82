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


_NOTE_LIMIT = 4096
"""Instances whose marker prefix :class:`CallMarks` keeps; beyond, it starts afresh."""


class CallMarks:
    """Marks of provider calls in flight that no operation records (``monitor``,
    ``on_maintenance``): a small file in ``calls/`` of the state directory while the call runs.
    One left by a process that is gone means that call ended its process.

    Every health check writes one marker and removes it, and every operation that concludes
    removes two, so the files are handled with plain ``os`` calls (no buffered text files)
    and each instance's marker path is computed once."""

    def __init__(self, state_dir: Path | None) -> None:
        self._state_dir = state_dir
        self._calls_dir: str | None = None
        self._prefixes: dict[str, str] = {}

    def _marker(self, instance: str, verb: str) -> str | None:
        if self._state_dir is None:
            return None
        prefix = self._prefixes.get(instance)
        if prefix is None:
            if self._calls_dir is None:
                directory = self._state_dir / "calls"
                directory.mkdir(exist_ok=True)
                self._calls_dir = str(directory)
            if len(self._prefixes) >= _NOTE_LIMIT:
                self._prefixes.clear()  # bounded, whatever the number of instances
            digest = hashlib.sha1(instance.encode(), usedforsecurity=False).hexdigest()
            prefix = self._prefixes[instance] = f"{self._calls_dir}/{digest}-"
        return prefix + verb

    def starting(self, instance: str, verb: str, owner: str, *, limit: int) -> int:
        """Note that ``verb`` of ``instance``'s provider is about to run in ``owner``; returns
        how many calls of it in a row ended their process. Once that reaches ``limit`` the
        call is not to be made (and nothing more is noted). Always 0 in memory, where a dead
        process leaves nothing behind. The note is one line: ``kills owner`` (owner ``-`` once
        the calls stopped)."""
        marker = self._marker(instance, verb)
        if marker is None:
            return 0
        found = _read(marker)
        if found is None:
            kills, previous = 0, None
        else:
            kills_text, _, previous = found.partition(" ")
            try:
                kills = int(kills_text)
            except ValueError:
                kills, previous = 0, None
        if previous and previous != "-" and not owner_alive(previous):
            kills += 1
        note = f"{kills} {'-' if kills >= limit or previous == '-' else owner}".encode()
        if found is None and _create(marker, note):
            return kills
        # Written aside and renamed over the marker, so a process killed mid-write leaves the
        # old note or the new one, never an empty file (which would forget the kills counted).
        temporary = f"{marker}.{os.getpid()}.tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            _write_all(fd, note)
        finally:
            os.close(fd)
        os.replace(temporary, marker)
        return kills

    def finished(self, instance: str, verb: str) -> None:
        """The call returned (whatever it returned): its process survived it."""
        marker = self._marker(instance, verb)
        if marker is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(marker)


def _read(path: str) -> str | None:
    """The text of the file at ``path``, or None if there is none."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        chunks = []
        while chunk := os.read(fd, 4096):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode("utf-8")


def _create(path: str, note: bytes) -> bool:
    """Create the marker at ``path`` holding ``note``, if there is none; False if another
    process made one meanwhile.

    Written in place, without the aside-and-rename of a rewrite: a process killed between
    creating the file and writing it leaves an empty marker, which reads as no marker at
    all (no kills counted, no call in flight), and that is what there was, since the call
    starts only once this returns."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return False
    try:
        _write_all(fd, note)
    finally:
        os.close(fd)
    return True


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]
