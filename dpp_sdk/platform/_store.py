"""Durable state: an SQLite database (WAL) in the state directory, or in memory.

Tables (schema version 2):

``records``
    One row per stored record: ``kind``, ``scope`` (the instance for instance-scoped kinds,
    the instance uid for ledger entries, ``""`` otherwise), ``name``, an optional indexed
    ``attr`` (an instance's service, so a service's instances are found without a scan) and
    the JSON ``body``. Keyed by (kind, scope, name), so a get or a page is an index lookup.
``operations``
    One row per operation, indexed by id, idempotency key, target and state.
``audit``, ``events``
    Append-only, by sequence number.
``secret_values``
    Every secret value ever stored (append-only), so redaction also covers deleted ones and
    another process's; read incrementally by sequence number.
``meta``
    The cluster configuration, the host and disk states, the cluster version (changed by every
    change of capacity or states, so other processes know to reload), the schema version.

Every write of one logical change happens in one transaction (:meth:`Store.transaction`), so
a process killed at any point leaves either the whole change or none of it. Several processes
may open the same state directory: SQLite serialises their writes, and ``BEGIN IMMEDIATE``
makes read-then-write sequences atomic.

A database of schema version 1 (one ``docs`` table and the whole cluster as one document) is
migrated in place when opened; see :func:`migrate_v1`.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from dpp_sdk.platform._sqlite import (
    LOCKS_DIR,
    Checkpoints,
    LockFiles,
    StoreLock,
    check_database,
    instance_lock_file,
)

__all__ = ["DB_NAME", "LOCKS_DIR", "SCHEMA_VERSION", "Store", "StoreLock", "instance_lock_file"]

SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    kind TEXT NOT NULL,
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    attr TEXT,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, scope, name)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS records_attr ON records (kind, attr, name) WHERE attr IS NOT NULL;
CREATE TABLE IF NOT EXISTS operations (
    id TEXT PRIMARY KEY,
    idempotency_key TEXT UNIQUE,
    target TEXT NOT NULL,
    state TEXT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS operations_state ON operations (state);
CREATE INDEX IF NOT EXISTS operations_target ON operations (target);
CREATE TABLE IF NOT EXISTS audit (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS secret_values (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    value TEXT NOT NULL UNIQUE
);
"""

DB_NAME = "platform.db"
_APPEND_ONLY = ("audit", "events")


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def _dumps(body: Any) -> str:
    """``body`` as stored: compact JSON with sorted keys. One encoder serves every write
    (``json.dumps`` with options builds a new encoder per call)."""
    return _ENCODER.encode(body)


def _page_query(
    columns: str, kind: str, scope: str, *, after: str | None, limit: int | None, attr: str | None
) -> tuple[str, list[Any]]:
    """The statement and arguments of :meth:`Store.page` reading ``columns``."""
    sql = f"SELECT {columns} FROM records WHERE kind = ? AND scope = ?"
    args: list[Any] = [kind, scope]
    if attr is not None:
        sql += " AND attr = ?"
        args.append(attr)
    if after is not None:
        sql += " AND name > ?"
        args.append(after)
    sql += " ORDER BY name"
    if limit is not None:
        sql += " LIMIT ?"
        args.append(limit)
    return sql, args


class _Transaction:
    """One use of :meth:`Store.transaction`: begins (or joins) on enter, commits or rolls back
    on exit. The outermost one holds the store's lock from ``BEGIN IMMEDIATE`` to the end of
    its after-commit actions; a nested one holds it too, for its own extent."""

    __slots__ = ("_outer", "_store")

    def __init__(self, store: Store) -> None:
        self._store = store
        self._outer = False

    def __enter__(self) -> Store:
        store = self._store
        lock = store._lock
        lock.__enter__()
        if store._depth:
            store._depth += 1
            return store
        try:
            if store.before_begin is not None:
                store.before_begin()
            store._db.execute("BEGIN IMMEDIATE")
        except BaseException:
            lock.__exit__()
            raise
        store.serial += 1
        store._depth = 1
        self._outer = True
        return store

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> None:
        store = self._store
        lock = store._lock
        try:
            if not self._outer:
                store._depth -= 1
                return
            try:
                if exc_type is not None:
                    store._after.clear()
                    store._db.execute("ROLLBACK")
                    store.rollbacks += 1
                    return
                store._db.execute("COMMIT")
            finally:
                store._depth = 0
            if store._checkpoints is not None:
                store._checkpoints.committed()
            store.commits += 1
            actions, store._after = store._after, []
            for action in actions:
                action()
            if store.after_commit is not None:
                store.after_commit(store.commits)
        finally:
            lock.__exit__()


class Store:
    """Records in SQLite. Thread-safe; one connection guarded by a re-entrant lock."""

    def __init__(self, state_dir: Path | None) -> None:
        self.state_dir = state_dir
        if state_dir is None:
            target = ":memory:"
        else:
            state_dir.mkdir(parents=True, exist_ok=True)
            target = str(state_dir / DB_NAME)
            check_database(state_dir / DB_NAME)
        self._lock = StoreLock()
        self._depth = 0
        #: Bumped on every rollback, so caches of what was read inside a rolled-back
        #: transaction can tell they are void (SQLite's data_version only counts others).
        self.rollbacks = 0
        #: Crash-point hooks for tests (``dpp_sdk.testing.dies_after`` stops a process at a commit
        #: with them). ``before_begin`` is called before every outermost transaction begins;
        #: if it raises, the transaction never starts and nothing reaches the database.
        #: ``after_commit`` is called after every outermost commit with ``commits``, the
        #: number of commits so far.
        self.before_begin: Callable[[], None] | None = None
        self.after_commit: Callable[[int], None] | None = None
        self.commits = 0
        self._after: list[Callable[[], None]] = []
        self._instance_locks: dict[str, threading.RLock] = {}
        self._instance_depth: dict[str, int] = {}
        #: The instances' lock files (their call marks use them too).
        self.lock_files = LockFiles(state_dir)
        self._instance_guard = threading.Lock()
        self._data_fd: int | None = None
        self._data_depth = 0
        #: Counts transactions begun, so a cache can tell it already checked this one.
        self.serial = 0
        # The data version read in transaction number ``_version_serial`` (see data_version).
        self._version_serial = -1
        self._version_in_transaction = 0
        # The data version read in the hold of the lock numbered ``_version_generation``.
        self._version_generation = -1
        self._version_outside = 0
        self._db = sqlite3.connect(
            target, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._checkpoints: Checkpoints | None = None
        if state_dir is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._checkpoints = Checkpoints(target, self._db)
        with self.transaction():
            legacy = self._db.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'docs'"
            ).fetchone()
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    self._db.execute(statement)
            if legacy:
                migrate_v1(self)
            if self.get_meta("schema") is None:
                self.set_meta("schema", str(SCHEMA_VERSION))

    def close(self) -> None:
        """Close the database connection (once a checkpoint under way has finished)."""
        with self._lock:
            if self._checkpoints is not None:
                self._checkpoints.close()  # its thread never takes this lock
            self._db.close()
        self.lock_files.close()

    def transaction(self) -> _Transaction:
        """All writes inside commit together, or not at all. Nested calls join the outer one.

        A context manager yielding the store. Most calls are nested (every write of a record
        joins the transaction of its logical change), so it is a small class rather than a
        generator: joining costs one lock acquisition and a counter."""
        return _Transaction(self)

    def after_commit_do(self, action: Callable[[], None]) -> None:
        """Run ``action`` once the current transaction commits (now, outside one); dropped if
        it rolls back. For what must follow a committed change and cannot be undone, such as
        deleting a deleted volume's bytes."""
        with self._lock:
            if self._depth:
                self._after.append(action)
                return
        action()

    @contextlib.contextmanager
    def data_lock(self) -> Iterator[None]:
        """Exclusive access to volume bytes across threads and processes.

        Held by the data path (reads, writes) and by every change that moves, rebuilds or
        destroys bytes, across the records it commits and the bytes it touches, so that which
        components a write reached and which ones a resync rebuilt are always decided in one
        order. Taken before any transaction (never while holding one), so it cannot deadlock
        with SQLite's write lock. A file lock (``data.lock``) in a state directory."""
        with self._lock:
            if self._depth:
                raise RuntimeError("data_lock() must be taken before any transaction")
            if self._data_depth == 0 and self.state_dir is not None:
                fd = os.open(self.state_dir / "data.lock", os.O_RDWR | os.O_CREAT, 0o644)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    os.close(fd)
                    raise
                self._data_fd = fd
            self._data_depth += 1
            try:
                yield
            finally:
                self._data_depth -= 1
                if self._data_depth == 0 and self._data_fd is not None:
                    fd, self._data_fd = self._data_fd, None
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    os.close(fd)

    @contextlib.contextmanager
    def instance_lock(self, instance: str) -> Iterator[None]:
        """Exclusive use of one instance across threads and processes: held by every operation
        on it while it runs, and by each call of its data probe, so a probe never reads or
        writes while a repair (or any change) rearranges the instance. Re-entrant in a thread.
        Never taken inside a transaction, so it cannot deadlock with SQLite's write lock."""
        with self._instance_guard:
            lock = self._instance_locks.setdefault(instance, threading.RLock())
        with lock:
            depth = self._instance_depth.get(instance, 0)
            fd = None
            if depth == 0 and self.state_dir is not None:
                fd = self.lock_files.take(instance)
                assert fd is not None
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except BaseException:
                    self.lock_files.give(instance, fd)
                    raise
            self._instance_depth[instance] = depth + 1
            try:
                yield
            finally:
                self._instance_depth[instance] = depth
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                    self.lock_files.give(instance, fd)

    @property
    def in_transaction(self) -> bool:
        """Whether this thread's connection is inside a transaction."""
        return self._depth > 0

    def data_version(self) -> tuple[int, int]:
        """Changes whenever the stored data may have changed under this connection's caches:
        another connection committed, or this one rolled back.

        Read once per transaction (while this connection holds the write lock no other one
        can commit) and once per hold of the store's lock outside transactions, so the reads
        of one step see one state; a value read in a transaction serves the rest of its hold."""
        with self._lock:
            if self._depth:
                if self._version_serial == self.serial:
                    return self._version_in_transaction, self.rollbacks
            elif self._version_generation == self._lock.generation:
                return self._version_outside, self.rollbacks
            row = self._db.execute("PRAGMA data_version").fetchone()
            version = int(row[0])
            if self._depth:
                self._version_serial = self.serial
                self._version_in_transaction = version
            self._version_generation = self._lock.generation
            self._version_outside = version
        return version, self.rollbacks

    @property
    def lock(self) -> StoreLock:
        """The store's lock; hold it to make several reads and writes one step."""
        return self._lock

    # ------------------------------------------------------------------ meta

    def get_meta(self, key: str) -> str | None:
        """A metadata value, or None."""
        with self._lock:
            row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        """Set a metadata value."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    def delete_meta(self, key: str) -> None:
        """Remove a metadata value."""
        with self.transaction():
            self._db.execute("DELETE FROM meta WHERE key = ?", (key,))

    # ------------------------------------------------------------------ records

    def get(self, kind: str, scope: str, name: str) -> Any:
        """The record's body, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM records WHERE kind = ? AND scope = ? AND name = ?",
                (kind, scope, name),
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, kind: str, scope: str, name: str, body: Any, *, attr: str | None = None) -> None:
        """Insert or replace a record."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO records (kind, scope, name, attr, body) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (kind, scope, name) DO UPDATE SET "
                "attr = excluded.attr, body = excluded.body",
                (kind, scope, name, attr, _dumps(body)),
            )

    def delete(self, kind: str, scope: str, name: str) -> bool:
        """Delete a record; True if it existed."""
        with self.transaction():
            cur = self._db.execute(
                "DELETE FROM records WHERE kind = ? AND scope = ? AND name = ?",
                (kind, scope, name),
            )
        return cur.rowcount > 0

    def select(self, kind: str, scope: str | None = None) -> list[Any]:
        """Every record of ``kind`` (within ``scope`` when given), by scope and name."""
        with self._lock:
            if scope is None:
                rows = self._db.execute(
                    "SELECT body FROM records WHERE kind = ? ORDER BY scope, name", (kind,)
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT body FROM records WHERE kind = ? AND scope = ? ORDER BY name",
                    (kind, scope),
                ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def page(
        self,
        kind: str,
        scope: str,
        *,
        after: str | None,
        limit: int | None,
        attr: str | None = None,
    ) -> list[tuple[str, Any]]:
        """(name, body) of records of ``kind`` in ``scope`` named after ``after``, by name, at
        most ``limit``; only those whose ``attr`` is ``attr`` when given."""
        with self._lock:
            rows = self._db.execute(
                *_page_query("name, body", kind, scope, after=after, limit=limit, attr=attr)
            )
            return [(str(name), json.loads(body)) for name, body in rows.fetchall()]

    def page_names(self, kind: str, scope: str, **where: Any) -> list[str]:
        """The names :meth:`page` would return (``where``: its keywords), without the bodies."""
        with self._lock:
            rows = self._db.execute(*_page_query("name", kind, scope, **where))
            return [str(name) for (name,) in rows.fetchall()]

    def count(self, kind: str, *, attr: str | None = None) -> int:
        """Number of records of ``kind`` (whose ``attr`` is ``attr``, when given)."""
        with self._lock:
            if attr is None:
                row = self._db.execute(
                    "SELECT COUNT(*) FROM records WHERE kind = ?", (kind,)
                ).fetchone()
            else:
                row = self._db.execute(
                    "SELECT COUNT(*) FROM records WHERE kind = ? AND attr = ?", (kind, attr)
                ).fetchone()
        return int(row[0])

    # ------------------------------------------------------------------ operations

    def put_operation(self, body: dict[str, Any]) -> None:
        """Insert or replace an operation record."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO operations (id, idempotency_key, target, state, body) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "state = excluded.state, body = excluded.body",
                (
                    body["id"],
                    body.get("idempotency_key"),
                    body["target"],
                    body["state"],
                    _dumps(body),
                ),
            )

    def get_operation(self, op_id: str) -> dict[str, Any] | None:
        """An operation record by id."""
        with self._lock:
            row = self._db.execute("SELECT body FROM operations WHERE id = ?", (op_id,)).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def operation_by_key(self, key: str) -> dict[str, Any] | None:
        """The operation created with idempotency key ``key``."""
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM operations WHERE idempotency_key = ?", (key,)
            ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def operations(
        self,
        *,
        target: str | None = None,
        states: tuple[str, ...] = (),
        after: int = 0,
        limit: int | None = None,
    ) -> list[tuple[int, dict[str, Any]]]:
        """(position, record) of operations, oldest first, filtered by target and state,
        after position ``after``, at most ``limit``."""
        sql = "SELECT rowid, body FROM operations WHERE rowid > ?"
        args: list[Any] = [after]
        if target is not None:
            sql += " AND target = ?"
            args.append(target)
        if states:
            sql += f" AND state IN ({', '.join('?' for _ in states)})"
            args.extend(states)
        sql += " ORDER BY rowid"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [(int(rowid), dict(json.loads(body))) for rowid, body in rows]

    # ------------------------------------------------------------------ append-only logs

    def append(self, table: str, body: dict[str, Any]) -> int:
        """Append to ``audit`` or ``events``; returns the record's sequence number."""
        if table not in _APPEND_ONLY:
            raise ValueError(f"not an append-only table: {table!r}")
        with self.transaction():
            cur = self._db.execute(f"INSERT INTO {table} (body) VALUES (?)", (_dumps(body),))
        return int(cur.lastrowid or 0)

    def tail(
        self,
        table: str,
        *,
        since: int = 0,
        limit: int | None = None,
        last: bool = False,
    ) -> list[Any]:
        """Records of ``audit`` or ``events`` after sequence number ``since``, oldest first:
        the first ``limit`` of them, or with ``last`` the last ``limit``."""
        if table not in _APPEND_ONLY:
            raise ValueError(f"not an append-only table: {table!r}")
        order = "DESC" if last else "ASC"
        sql = f"SELECT seq, body FROM {table} WHERE seq > ? ORDER BY seq {order}"
        args: list[Any] = [since]
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        if last:
            rows.reverse()
        return [{**json.loads(body), "seq": seq} for seq, body in rows]

    # ------------------------------------------------------------------ secret values

    def add_secret_value(self, value: str) -> None:
        """Remember a secret value for redaction (idempotent)."""
        with self.transaction():
            self._db.execute("INSERT OR IGNORE INTO secret_values (value) VALUES (?)", (value,))

    def secret_values(self, *, since: int = 0) -> tuple[int, list[str]]:
        """(highest sequence number, secret values added after ``since``)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, value FROM secret_values WHERE seq > ? ORDER BY seq", (since,)
            ).fetchall()
        if not rows:
            return since, []
        return int(rows[-1][0]), [str(r[1]) for r in rows]


def migrate_v1(store: Store) -> None:
    """Bring a schema-1 database (PR #1 layout) to schema 2, inside the open transaction.

    Records move from ``docs`` to ``records`` (instances get their service as ``attr``); the
    cluster document is reduced to its host and disk states (reservations now follow from the
    volume records); every stored secret value is remembered for redaction."""
    db = store._db
    rows = db.execute("SELECT kind, scope, name, body FROM docs").fetchall()
    for kind, scope, name, body in rows:
        attr = json.loads(body).get("service") if kind == "instance" else None
        db.execute(
            "INSERT OR REPLACE INTO records (kind, scope, name, attr, body) VALUES (?, ?, ?, ?, ?)",
            (kind, scope, name, attr, body),
        )
        if kind == "secret":
            value = json.loads(body).get("value")
            if isinstance(value, str):
                db.execute("INSERT OR IGNORE INTO secret_values (value) VALUES (?)", (value,))
    raw = store.get_meta("cluster")
    if raw is not None:
        cluster = json.loads(raw)
        states: dict[str, dict[str, str]] = {"hosts": {}, "disks": {}}
        for host in cluster.get("hosts", {}).values():
            if host.get("state", "connected") != "connected":
                states["hosts"][host["name"]] = host["state"]
            for disk in host.get("disks", {}).values():
                if disk.get("state", "healthy") != "healthy":
                    states["disks"][f"{host['name']}/{disk['name']}"] = disk["state"]
        store.set_meta("cluster_states", _dumps(states))
        store.delete_meta("cluster")
    db.execute("DROP TABLE docs")
    store.set_meta("schema", str(SCHEMA_VERSION))
