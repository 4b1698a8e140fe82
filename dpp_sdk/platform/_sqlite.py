"""The SQLite file and its locks, below the store: the re-entrant store lock, the instances'
lock files, the check of the database file at open, and write-ahead-log checkpoints taken off
the request path. Split from :mod:`._store`, which builds the tables and queries on them."""

from __future__ import annotations

import contextlib
import hashlib
import os
import sqlite3
import threading
from pathlib import Path

from dpp_sdk.contract import Conflict

__all__ = [
    "CHECKPOINT_CHANGES",
    "LOCKS_DIR",
    "LOCK_FILES_KEPT",
    "Checkpoints",
    "LockFiles",
    "StoreLock",
    "check_database",
    "instance_lock_file",
    "open_lock_file",
]

LOCKS_DIR = "locks"
"""The directory of the instances' lock files (see :func:`instance_lock_file`)."""


class StoreLock:
    """The store's re-entrant lock, which also counts its outermost acquisitions.

    ``generation`` changes each time a thread takes the lock when nobody held it, so a cache
    can check the database's data version once per hold instead of once per read.

    The platform takes this lock a few hundred times per instance lifecycle (most of them
    nested), so ``__enter__`` and ``__exit__`` do their work inline rather than through
    :meth:`acquire` and :meth:`release`: one Python call per side instead of two."""

    __slots__ = ("_acquire", "_depth", "_lock", "_release", "generation")

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._acquire = self._lock.acquire
        self._release = self._lock.release
        self._depth = 0
        self.generation = 0

    def acquire(self, blocking: bool = True, timeout: float = -1) -> bool:
        """Take the lock (see :meth:`threading.RLock.acquire`)."""
        taken = self._acquire(blocking, timeout)
        if taken:
            self._depth += 1
            if self._depth == 1:
                self.generation += 1
        return taken

    def release(self) -> None:
        """Give the lock back."""
        self._depth -= 1
        self._release()

    def __enter__(self) -> bool:
        self._acquire()
        depth = self._depth = self._depth + 1
        if depth == 1:
            self.generation += 1
        return True

    def __exit__(self, *exc: object) -> None:
        self._depth -= 1
        self._release()


def instance_lock_file(state_dir: Path, instance: str) -> str:
    """The path of ``instance``'s lock file, in ``locks/`` of ``state_dir`` (opened through
    :class:`LockFiles`, which makes that directory when it is missing).

    The file is never removed or replaced (a lock is an open file's, so a new file would not
    exclude holders of the old one). Besides the lock of :meth:`Store.instance_lock`, it holds
    the instance's call marks (:class:`~dpp_sdk.platform._owners.CallMarks`)."""
    digest = hashlib.sha1(instance.encode(), usedforsecurity=False).hexdigest()
    return os.path.join(state_dir, LOCKS_DIR, f"{digest}.lock")


def open_lock_file(path: str) -> int:
    """A descriptor of the lock file ``path`` (:func:`instance_lock_file`), open for reading
    and writing, created if missing, and its directory too: the directory is made only when
    the first open finds it missing, not checked at every open."""
    try:
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except FileNotFoundError:
        with contextlib.suppress(FileExistsError):
            os.mkdir(os.path.dirname(path))
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)


LOCK_FILES_KEPT = 64
"""Descriptors of instances' lock files that :class:`LockFiles` keeps open between uses."""


class LockFiles:
    """Descriptors of the instances' lock files in ``state_dir``, kept open between uses.

    An instance lifecycle used to open and close its lock file about ten times (its operations'
    locks and the call marks of its health checks), each an ``open`` and a ``close`` costing
    more than the lock or the note itself. :meth:`take` lends the instance's descriptor,
    opening the file only when this store has none open; :meth:`give` returns it. One
    descriptor serves every use of an instance at once: :meth:`Store.instance_lock` (the only
    user that locks it, held by one thread of the store at a time thanks to its in-process
    lock) and the call marks' positional reads and writes, which take no lock. At most
    :data:`LOCK_FILES_KEPT` unused ones stay open (the least recently used are closed),
    however many instances there are.

    Locks are unchanged: ``flock`` locks belong to an open file, each store opens its own, and
    a descriptor is unlocked before its last user gives it back, so a store excludes other
    stores and processes exactly as with a file opened per use. A process made by ``fork``
    does not use its parent's descriptors (their open files, and so their locks, would be
    shared): it forgets them at its first :meth:`take`. A lock file is never removed (see
    :func:`instance_lock_file`), so a kept descriptor always names the instance's file."""

    def __init__(self, state_dir: Path | None) -> None:
        self.state_dir = state_dir
        self._paths: dict[str, str] = {}
        self._fds: dict[str, int] = {}  # open descriptors, by instance
        self._users: dict[str, int] = {}  # takes not given back yet, by instance
        self._unused: dict[str, None] = {}  # instances whose descriptor has no user, oldest first
        self._guard = threading.Lock()
        self._pid = os.getpid()

    def path(self, instance: str) -> str:
        """The path of ``instance``'s lock file (remembered for up to 64 times the kept
        descriptors' number of instances, forgotten beyond)."""
        path = self._paths.get(instance)
        if path is None:
            assert self.state_dir is not None
            if len(self._paths) >= 64 * LOCK_FILES_KEPT:
                self._paths.clear()
            path = self._paths[instance] = instance_lock_file(self.state_dir, instance)
        return path

    def take(self, instance: str, *, create: bool = True) -> int | None:
        """The descriptor of ``instance``'s lock file, until :meth:`give` (the file, and its
        directory, created if missing; None when missing and not ``create``)."""
        with self._guard:
            if self._pid != os.getpid():  # a forked child: the parent's descriptors are theirs
                self._pid = os.getpid()
                self._fds, self._users, self._unused = {}, {}, {}
            fd = self._fds.get(instance)
            if fd is not None:
                self._lend(instance)
                return fd
        if create:
            fd = open_lock_file(self.path(instance))
        else:
            try:
                fd = os.open(self.path(instance), os.O_RDWR)
            except FileNotFoundError:
                return None
        with self._guard:
            kept = self._fds.setdefault(instance, fd)
            self._lend(instance)
        if kept != fd:  # another thread opened it meanwhile: share theirs
            os.close(fd)
        return kept

    def _lend(self, instance: str) -> None:
        self._users[instance] = self._users.get(instance, 0) + 1
        self._unused.pop(instance, None)

    def give(self, instance: str, fd: int) -> None:
        """Return a descriptor from :meth:`take` (unlocked, if the caller locked it)."""
        closing: list[int] = []
        with self._guard:
            users = self._users.get(instance, 0) - 1
            if self._fds.get(instance) != fd:  # taken before a fork, or unknown
                closing.append(fd)
            elif users > 0:
                self._users[instance] = users
            else:
                self._users.pop(instance, None)
                self._unused[instance] = None
                while len(self._unused) > LOCK_FILES_KEPT:
                    oldest = next(iter(self._unused))
                    del self._unused[oldest]
                    closing.append(self._fds.pop(oldest))
        for each in closing:
            os.close(each)

    def close(self) -> None:
        """Close every descriptor no one uses."""
        with self._guard:
            unused, self._unused = self._unused, {}
            closing = [self._fds.pop(instance) for instance in unused]
        if self._pid == os.getpid():
            for fd in closing:
                os.close(fd)


def check_database(path: Path) -> None:
    """Create the database at ``path`` if missing; refuse one that is empty or unreadable.

    A new database is made under another name and linked into place, so ``platform.db`` is
    never empty while another process creates it: an empty one was truncated, and opening it
    would silently start an empty platform over the instances (and volume bytes) it recorded.
    A file that is not an SQLite database, or whose header or schema is damaged, is refused
    too. Both are a :class:`~dpp_sdk.Conflict` naming the file and what to do."""
    if not path.exists():
        temp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.new")
        try:
            fresh = sqlite3.connect(temp)
            try:
                fresh.execute("PRAGMA journal_mode=WAL")  # writes the file's header
            finally:
                fresh.close()
            # FileExistsError: another process created it meanwhile, so use theirs. Another
            # OSError (no hard links here): SQLite creates the file itself, as it always did.
            with contextlib.suppress(OSError):
                os.link(temp, path)
        finally:
            temp.unlink(missing_ok=True)
    if path.exists() and path.stat().st_size == 0:
        raise Conflict(
            f"state database {path} is empty (0 bytes): it was probably truncated, and opening "
            "it would start an empty platform; restore it from a backup, or delete it to start "
            "afresh"
        )
    try:
        probe = sqlite3.connect(path, timeout=30.0)
        try:
            probe.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            probe.close()
    except sqlite3.OperationalError:
        raise  # busy or locked, not damaged: the usual error
    except sqlite3.DatabaseError as exc:
        raise Conflict(
            f"state database {path} cannot be read ({exc}); restore it from a backup, or "
            f"delete it (and any {path.name}-wal and {path.name}-shm beside it) to start afresh"
        ) from exc


CHECKPOINT_CHANGES = 4000
"""Rows this connection changes between two checkpoints of the write-ahead log (an instance
lifecycle changes about 25 rows on about 35 pages, so about 160 lifecycles and a log of about
6,000 pages, 23 MiB). SQLite's own automatic checkpoint runs after 1,000 pages; checkpointing
less often makes the rare request that finishes a checkpoint (two ``fsync`` calls, 10 to 25 ms
here) rarer than one in a hundred, so it no longer sets the 99th percentile of a lifecycle."""


class Checkpoints:
    """Checkpoints of the write-ahead log, with their bulk in a short-lived thread.

    A checkpoint copies the committed pages of the WAL into the database file and, with
    ``synchronous=NORMAL``, syncs the WAL before and the database file after. SQLite's
    automatic checkpoint runs inside the ``COMMIT`` that crosses its threshold, so every few
    dozen instance lifecycles one request paid for copying a thousand pages and for two
    ``fsync`` calls over megabytes (tens of milliseconds here, most of the platform's commit
    time). Instead, the connection's automatic checkpoint is off (``wal_autocheckpoint=0``),
    and once the connection changed :data:`CHECKPOINT_CHANGES` rows since the last one:

    1. a ``PASSIVE`` checkpoint runs on a connection of its own, in a thread that ends with
       it, while requests go on (a passive checkpoint never blocks readers or writers);
    2. at the first commit after that thread ended, unless the thread's checkpoint copied the
       whole log (nothing was committed while it ran), a ``PASSIVE`` checkpoint on the store's
       connection copies what was committed meanwhile (a few pages, but two ``fsync`` calls),
       so the log is fully copied and the next write starts it over, as after SQLite's own;
       without this step, a process writing without pause would grow its WAL for ever.

    What is durable, and when, is unchanged: every commit is in the WAL (which a killed
    process leaves for the next one to recover), and the WAL is synced at least as often as
    before. A thread that cannot be started, or a checkpoint that failed, leaves the work to
    the next step on the store's connection; checkpoint errors never fail a commit, which has
    already happened."""

    def __init__(self, target: str, db: sqlite3.Connection) -> None:
        self._target = target
        self._db = db
        db.execute("PRAGMA wal_autocheckpoint=0")
        self._last = db.total_changes
        self._thread: threading.Thread | None = None
        # Set by the thread: its checkpoint copied every frame of the log (the next write
        # then starts the log over by itself).
        self._copied_all = False

    def committed(self) -> None:
        """After each outermost commit, with the store's lock held: finish a checkpoint whose
        thread has ended, or start one when enough has changed since the last."""
        thread = self._thread
        if thread is not None:
            if thread.is_alive():
                return  # still copying; the next commit looks again
            self._thread = None
            if not self._copied_all:
                self._here()
            return
        changes = self._db.total_changes
        if changes - self._last < CHECKPOINT_CHANGES:
            return
        self._last = changes
        self._copied_all = False
        thread = threading.Thread(target=self._run, name="dpp-checkpoint", daemon=True)
        try:
            thread.start()
        except RuntimeError:  # no thread to be had: all of it here, as SQLite's own would
            self._here()
        else:
            self._thread = thread

    def _here(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _run(self) -> None:
        with contextlib.suppress(sqlite3.Error):  # the step on the store's connection follows
            db = sqlite3.connect(self._target, isolation_level=None, timeout=30.0)
            try:
                db.execute("PRAGMA synchronous=NORMAL")
                busy, log, copied = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                self._copied_all = busy == 0 and log == copied
            finally:
                db.close()

    def close(self) -> None:
        """Wait for a checkpoint under way, so that closing the store's connection (usually
        the last one) checkpoints the rest and removes the WAL, as it always did."""
        thread = self._thread
        if thread is not None:
            thread.join()
