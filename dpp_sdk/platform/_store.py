"""Durable state: an SQLite database (WAL) in the state directory, or in memory.

Every table holds JSON documents keyed by name. All writes of one logical change happen in
one transaction (:meth:`Store.transaction`), so a process killed at any point leaves either
the whole change or none of it. Several processes may open the same state directory: SQLite
serialises their writes, and ``BEGIN IMMEDIATE`` makes read-then-write sequences atomic.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["Store"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS docs (
    kind TEXT NOT NULL,
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, scope, name)
);
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
"""

DB_NAME = "platform.db"


class Store:
    """JSON documents in SQLite. Thread-safe; one connection guarded by a re-entrant lock."""

    def __init__(self, state_dir: Path | None) -> None:
        self.state_dir = state_dir
        if state_dir is None:
            target = ":memory:"
        else:
            state_dir.mkdir(parents=True, exist_ok=True)
            target = str(state_dir / DB_NAME)
        self._lock = threading.RLock()
        self._depth = 0
        #: Bumped on every rollback, so caches of what was read inside a rolled-back
        #: transaction can tell they are void (SQLite's data_version only counts others).
        self.rollbacks = 0
        self._db = sqlite3.connect(
            target, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        if state_dir is not None:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Close the database connection."""
        with self._lock:
            self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Store]:
        """All writes inside commit together, or not at all. Nested calls join the outer one."""
        with self._lock:
            if self._depth:
                self._depth += 1
                try:
                    yield self
                finally:
                    self._depth -= 1
                return
            self._db.execute("BEGIN IMMEDIATE")
            self._depth = 1
            try:
                yield self
            except BaseException:
                self._db.execute("ROLLBACK")
                self.rollbacks += 1
                raise
            else:
                self._db.execute("COMMIT")
            finally:
                self._depth = 0

    def data_version(self) -> tuple[int, int]:
        """Changes whenever the stored data may have changed under this connection's caches:
        another connection committed, or this one rolled back."""
        with self._lock:
            row = self._db.execute("PRAGMA data_version").fetchone()
        return int(row[0]), self.rollbacks

    @property
    def lock(self) -> threading.RLock:
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

    # ------------------------------------------------------------------ documents

    def get(self, kind: str, scope: str, name: str) -> Any:
        """The document, or None."""
        with self._lock:
            row = self._db.execute(
                "SELECT body FROM docs WHERE kind = ? AND scope = ? AND name = ?",
                (kind, scope, name),
            ).fetchone()
        return None if row is None else json.loads(row[0])

    def put(self, kind: str, scope: str, name: str, body: Any) -> None:
        """Insert or replace a document."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO docs (kind, scope, name, body) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (kind, scope, name) DO UPDATE SET body = excluded.body",
                (kind, scope, name, json.dumps(body, sort_keys=True)),
            )

    def delete(self, kind: str, scope: str, name: str) -> bool:
        """Delete a document; True if it existed."""
        with self.transaction():
            cur = self._db.execute(
                "DELETE FROM docs WHERE kind = ? AND scope = ? AND name = ?", (kind, scope, name)
            )
        return cur.rowcount > 0

    def select(self, kind: str, scope: str | None = None) -> list[Any]:
        """Documents of ``kind`` (within ``scope`` when given), ordered by scope and name."""
        with self._lock:
            if scope is None:
                rows = self._db.execute(
                    "SELECT body FROM docs WHERE kind = ? ORDER BY scope, name", (kind,)
                ).fetchall()
            else:
                rows = self._db.execute(
                    "SELECT body FROM docs WHERE kind = ? AND scope = ? ORDER BY name",
                    (kind, scope),
                ).fetchall()
        return [json.loads(r[0]) for r in rows]

    def count(self, kind: str) -> int:
        """Number of documents of ``kind``."""
        with self._lock:
            row = self._db.execute("SELECT COUNT(*) FROM docs WHERE kind = ?", (kind,)).fetchone()
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
                    json.dumps(body, sort_keys=True),
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
        self, *, target: str | None = None, states: tuple[str, ...] = ()
    ) -> list[dict[str, Any]]:
        """Operation records, oldest first, filtered by target and state."""
        sql = "SELECT body FROM operations"
        clauses: list[str] = []
        args: list[Any] = []
        if target is not None:
            clauses.append("target = ?")
            args.append(target)
        if states:
            clauses.append(f"state IN ({', '.join('?' for _ in states)})")
            args.extend(states)
        if clauses:
            sql += " WHERE " + " AND ".join(clauses)
        sql += " ORDER BY rowid"
        with self._lock:
            rows = self._db.execute(sql, args).fetchall()
        return [dict(json.loads(r[0])) for r in rows]

    # ------------------------------------------------------------------ append-only logs

    def append(self, table: str, body: dict[str, Any]) -> int:
        """Append to ``audit`` or ``events``; returns the record's sequence number."""
        if table not in ("audit", "events"):
            raise ValueError(f"not an append-only table: {table!r}")
        with self.transaction():
            cur = self._db.execute(
                f"INSERT INTO {table} (body) VALUES (?)",
                (json.dumps(body, sort_keys=True),),
            )
        return int(cur.lastrowid or 0)

    def tail(self, table: str, *, since: int = 0, limit: int | None = None) -> list[Any]:
        """Records of ``audit`` or ``events`` after ``since``; the last ``limit`` if given."""
        if table not in ("audit", "events"):
            raise ValueError(f"not an append-only table: {table!r}")
        with self._lock:
            rows = self._db.execute(
                f"SELECT seq, body FROM {table} WHERE seq > ? ORDER BY seq",
                (since,),
            ).fetchall()
        out = [{**json.loads(body), "seq": seq} for seq, body in rows]
        return out[-limit:] if limit else out
