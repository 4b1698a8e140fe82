"""The data path: reading and writing a volume's bytes with its policy's redundancy.

A write first records, in the volume's record, which components it will miss (they become
``stale``) and how far the volume was written (``extent``), then writes the bytes to the
available components: a crash in between leaves a component marked stale that is not, never
the reverse. Reads use only the components that are active now.

Thin volumes (object space reservation 0%) reserve on their disks only what has been written:
each component's share of the written extent. A write that reaches past the extent grows those
reservations in the same transaction that records the new extent, before any byte is written;
if a disk cannot hold the growth, or the pool's resource quota would pass, the write fails
with :class:`~dpp_sdk.OutOfSpace` and nothing (record, reservations, bytes) changes.
"""

from __future__ import annotations

import math

import attrs

from dpp_sdk.contract import DataUnavailable, OutOfSpace, ValidationError
from dpp_sdk.platform._cluster import Cluster, PlacementError, QuotaExceeded, format_gb
from dpp_sdk.platform._placement import check_quota, pool_kind
from dpp_sdk.platform._policies import Policy
from dpp_sdk.platform._records import VolumeRecord
from dpp_sdk.platform._repository import Repository
from dpp_sdk.platform._storage import DataUnavailable as StoreUnavailable
from dpp_sdk.platform._storage import VolumeStore
from dpp_sdk.platform._views import available, placements, scheme_for

__all__ = ["GIB", "VolumeData", "grow_thin"]

GIB = 1024**3


def grow_thin(cluster: Cluster, record: VolumeRecord, policy: Policy, extent: int) -> VolumeRecord:
    """``record`` written up to ``extent`` bytes, with a thin volume's reservations grown to
    match on ``cluster`` (inside an open mutation). Raises :class:`~dpp_sdk.OutOfSpace`,
    changing nothing, when a disk or the pool's quota lacks the room."""
    grown = attrs.evolve(record, extent=max(record.extent, extent))
    if not policy.thin or grown.extent == record.extent:
        return grown
    # Never less than now: a volume from before thin policies reserved its whole size.
    sizes = [
        max(c.reserved_gb, size)
        for c, size in zip(
            record.components,
            policy.reserved_sizes_gb(grown.size_gb, grown.written_gb),
            strict=True,
        )
    ]
    extra = max(0.0, math.fsum(sizes) - math.fsum(c.reserved_gb for c in record.components))
    what = (
        f"writing volume {record.name!r} of {record.instance!r} up to byte {extent:,} needs "
        f"{format_gb(extra)} more raw capacity ({record.policy} is thin)"
    )
    try:
        with cluster.changes():
            check_quota(cluster, extra, pool_kind(policy))
            cluster.reserve(record.id, placements(record, sizes))
    except PlacementError as exc:
        raise OutOfSpace(f"{what}: {exc.message}", volume=record.name, needed_gb=extra) from exc
    except QuotaExceeded as exc:
        raise OutOfSpace(f"{what}: {exc.message}", volume=record.name, needed_gb=extra) from exc
    return attrs.evolve(
        grown,
        components=tuple(attrs.evolve(c, reserved_gb=sizes[c.index]) for c in grown.components),
    )


class VolumeData:
    """Reads and writes of volume bytes, by instance and volume name."""

    def __init__(self, repo: Repository, volumes: VolumeStore) -> None:
        self._repo = repo
        self.bytes = volumes
        self._lock = repo.lock

    def write(self, instance: str, name: str, offset: int, data: bytes) -> None:
        """Write ``data`` at ``offset`` with the volume's redundancy.

        Under the store's data lock, so no other thread or process moves, rebuilds or
        destroys this volume's components between the decision of which components the write
        reaches (committed first) and the bytes landing there."""
        if not isinstance(data, bytes | bytearray | memoryview):
            raise ValidationError.single(
                "$.data", type(data).__name__, "must be bytes (encode text first)"
            )
        store = self._repo.store
        with store.data_lock():
            with self._lock, store.transaction():
                record = self._repo.volume(instance, name)
                _check_range(record, offset, len(data))
                policy = record.layout
                scheme = scheme_for(policy)
                states = self._repo.states()
                # Accessible by the components whose resync has finished; the write also
                # reaches those still resyncing (their bytes are current), so they finish
                # current.
                done = available(states, record, self._repo.clock.now())
                if not scheme.is_accessible(done):
                    raise DataUnavailable(
                        f"volume {name!r} of {instance!r} is inaccessible: "
                        f"{scheme.why_inaccessible(done)}"
                    )
                up = available(states, record)
                # Record first what the write will miss and how far it reaches (with a thin
                # volume's grown reservations), then write: a crash in between leaves a
                # component marked stale that is not, never the reverse.
                missing = scheme.data_components - up
                stale = {
                    c.index: attrs.evolve(c, state="stale")
                    for c in record.components
                    if c.index in missing and c.state == "active"
                }
                end = offset + len(data)
                if stale or end > record.extent:
                    record = record.with_components(stale)
                    if policy.thin and end > record.extent:
                        with self._repo.mutation() as cluster:
                            record = grow_thin(cluster, record, policy, end)
                    else:
                        record = attrs.evolve(record, extent=max(record.extent, end))
                    self._repo.put_volume(record)
            try:
                self.bytes.write(record.id, scheme, offset, bytes(data), up)
            except StoreUnavailable as exc:
                raise DataUnavailable(f"volume {name!r} of {instance!r}: {exc}") from exc

    def read(self, instance: str, name: str, offset: int, length: int) -> bytes:
        """Read ``length`` bytes at ``offset`` from what is available (under the data lock)."""
        with self._repo.store.data_lock(), self._lock:
            record = self._repo.volume(instance, name)
            _check_range(record, offset, length)
            scheme = scheme_for(record.layout)
            try:
                done = available(self._repo.states(), record, self._repo.clock.now())
                return self.bytes.read(record.id, scheme, offset, length, done)
            except StoreUnavailable as exc:
                raise DataUnavailable(f"volume {name!r} of {instance!r}: {exc}") from exc

    def drop(self, volume_id: str) -> None:
        """Delete a volume's bytes once the deletion of its record commits (under the data
        lock, so no write of another process is half-way through them)."""
        store = self._repo.store

        def delete() -> None:
            with store.data_lock():
                self.bytes.delete_volume(volume_id)

        store.after_commit_do(delete)


def _check_range(record: VolumeRecord, offset: int, length: int) -> None:
    for path, value in (("$.offset", offset), ("$.length", length)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValidationError.single(path, value, "must be an integer")
    size = int(record.size_gb * GIB)
    if offset < 0 or length < 0 or offset + length > size:
        raise ValidationError.single(
            "$.offset",
            offset,
            f"range [{offset}, {offset + length}) is outside volume {record.name!r} "
            f"({record.size_gb} GB = {size} bytes)",
        )
