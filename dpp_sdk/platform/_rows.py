"""The generic rows under :class:`~dpp_sdk.platform._repository.Repository`: typed records
read from and written to the store through a cache of this process's own, keyed by (kind,
scope, name), and dropped whenever the store's data version says another connection committed
or a transaction of this one rolled back."""

from __future__ import annotations

import bisect
from typing import Any, TypeVar

from dpp_sdk.contract import structure, unstructure
from dpp_sdk.platform._records import EndpointRecord, MemberRecord, SecretRecord, VolumeRecord
from dpp_sdk.platform._store import Store, StoreLock

__all__ = ["RowCache"]

R = TypeVar("R")


class RowCache:
    """Records as rows of the store, cached per process. Thread-safe (the store's lock)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.lock: StoreLock = store.lock
        # Rows read or written by this process, valid until the data version changes.
        self._rows: dict[tuple[str, str, str], Any] = {}
        self._scopes: dict[tuple[str, str], list[str]] = {}
        self._rows_version: tuple[int, int] | None = None
        self._version_mark = 0  # what the last version read was read for (see _version)
        self._last_version = (0, 0)

    def _version(self) -> tuple[int, int]:
        """The store's data version, read once per transaction (which holds the database's
        write lock) and once per hold of the platform lock outside transactions (see
        :meth:`Store.data_version`; remembered here too, as this is asked at every read)."""
        store = self.store
        # A transaction's serial number (>= 1), or minus one less the lock's generation.
        mark = store.serial if store.in_transaction else -1 - self.lock.generation
        if mark != self._version_mark:
            self._last_version = store.data_version()
            self._version_mark = mark
        return self._last_version

    def _fresh(self) -> None:
        """Drop cached rows when another process committed or a transaction rolled back."""
        version = self._version()
        if version != self._rows_version:
            self._rows.clear()
            self._scopes.clear()
            self._rows_version = version

    def _get(self, cls: type[R], kind: str, scope: str, name: str) -> R | None:
        with self.lock:
            self._fresh()
            key = (kind, scope, name)
            if key in self._rows:
                found: R | None = self._rows[key]
                return found
            data = self.store.get(kind, scope, name)
            record = None if data is None else structure(data, cls)
            self._rows[key] = record
            return record

    def _all(self, cls: type[R], kind: str, scope: str) -> list[R]:
        with self.lock:
            self._fresh()
            return self._all_fresh(cls, kind, scope)

    def _all_fresh(self, cls: type[R], kind: str, scope: str) -> list[R]:
        """:meth:`_all`, the lock held and the cache checked by the caller."""
        names = self._scopes.get((kind, scope))
        if names is None:
            rows = self.store.page(kind, scope, after=None, limit=None)
            for name, body in rows:
                self._rows[(kind, scope, name)] = structure(body, cls)
            names = [name for name, _ in rows]
            self._scopes[(kind, scope)] = names
        return [self._rows[(kind, scope, name)] for name in names]

    def held(
        self, instance: str
    ) -> tuple[list[VolumeRecord], list[MemberRecord], list[EndpointRecord], list[SecretRecord]]:
        """The volumes, members, endpoints and secrets of ``instance``, each by name, read
        together (one check of the cache for all four)."""
        with self.lock:
            self._fresh()
            return (
                self._all_fresh(VolumeRecord, "volume", instance),
                self._all_fresh(MemberRecord, "member", instance),
                self._all_fresh(EndpointRecord, "endpoint", instance),
                self._all_fresh(SecretRecord, "secret", instance),
            )

    def _put(self, kind: str, scope: str, name: str, record: Any, attr: str | None = None) -> None:
        with self.lock:
            self._fresh()
            self.store.put(kind, scope, name, unstructure(record), attr=attr)
            self._rows[(kind, scope, name)] = record
            names = self._scopes.get((kind, scope))
            if names is not None and name not in self._rows_named(names, name):
                bisect.insort(names, name)

    @staticmethod
    def _rows_named(names: list[str], name: str) -> list[str]:
        i = bisect.bisect_left(names, name)
        return names[i : i + 1]

    def _delete(self, kind: str, scope: str, name: str) -> None:
        with self.lock:
            self._fresh()
            self.store.delete(kind, scope, name)
            self._rows[(kind, scope, name)] = None
            names = self._scopes.get((kind, scope))
            if names is not None and self._rows_named(names, name) == [name]:
                names.remove(name)
