"""The volume byte store: real bytes, kept with a storage policy's redundancy.

Every volume is split into *components* the way vSAN splits an object:

* ``mirror`` (``vsan-default``): ``replicas`` full copies, components ``0..replicas-1``, plus
  ``witnesses`` components after them that hold no bytes but carry a vote.
* ``erasure`` (``vsan-raid5`` / ``vsan-raid6``): ``k`` data shards and ``m`` parity shards,
  components ``0..k+m-1``, computed with zfec. The volume is cut into stripes of ``k * CHUNK``
  bytes; stripe ``s`` puts its ``i``-th ``CHUNK`` on data shard ``i`` at component offset
  ``s * CHUNK``, and its parity chunks on shards ``k..k+m-1`` at the same offset.
* ``single`` (``vsan-sna`` / ``vsan-direct``): one component, no redundancy.

The store does not know hosts or disks. The platform tells it, on every call, which components
are *available* (host up, disk healthy, component not stale); the store reads from and writes to
those only. ``destroy_component`` is what a disk failure does to the bytes, and
``rebuild_component`` is what a resync or a rebuild after disk replacement does.

Storage is either in memory (``root=None``; sparse pages in dicts) or one sparse file per
component, ``root / volume_id / f"{index}.bin"``, written only with positioned writes (never
truncated, never preallocated). Unwritten regions, and components whose file is missing, read
as zeros.

Thread safety: calls on different volumes run concurrently; calls on the same volume are
serialised by a per-volume lock, so an erasure read-modify-write never interleaves with
another write to the same stripe.
"""

from __future__ import annotations

import math
import pathlib
import struct
import threading
from collections.abc import Collection, Sequence
from typing import Any

import zfec

from dpp_sdk.platform._backends import VOLUME_ID, FileBackend, MemoryBackend, merge_ranges
from dpp_sdk.platform._schemes import CHUNK, DataUnavailable, Operation, Scheme

__all__ = ["CHUNK", "DataUnavailable", "Scheme", "VolumeStore"]

_BATCH = 256 * CHUNK
"""Component bytes handled per step by bulk reads, writes and rebuilds (1 MiB)."""


# --------------------------------------------------------------------------------------------
# zfec helpers
# --------------------------------------------------------------------------------------------

_codecs: dict[tuple[int, int], tuple[Any, Any]] = {}
_codecs_guard = threading.Lock()


def _codec(k: int, n: int) -> tuple[Any, Any]:
    """A cached ``(zfec.Encoder(k, n), zfec.Decoder(k, n))`` pair."""
    with _codecs_guard:
        pair = _codecs.get((k, n))
        if pair is None:
            pair = _codecs[(k, n)] = (zfec.Encoder(k, n), zfec.Decoder(k, n))
        return pair


def _split_stripes(buffer: bytes | bytearray, k: int) -> list[bytes]:
    """Volume bytes of whole stripes -> the k data-shard runs (one per shard, contiguous)."""
    view = memoryview(buffer)
    width = k * CHUNK
    count = len(buffer) // width
    return [
        b"".join(view[s * width + i * CHUNK : s * width + (i + 1) * CHUNK] for s in range(count))
        for i in range(k)
    ]


def _join_stripes(shards: Sequence[bytes], k: int) -> bytearray:
    """Inverse of :func:`_split_stripes`: k data-shard runs -> volume bytes."""
    count = len(shards[0]) // CHUNK
    out = bytearray(count * k * CHUNK)
    views = [memoryview(shard) for shard in shards]
    position = 0
    for s in range(count):
        for i in range(k):
            out[position : position + CHUNK] = views[i][s * CHUNK : (s + 1) * CHUNK]
            position += CHUNK
    return out


def _encode_parity(data_shards: Sequence[bytes], k: int, n: int) -> list[bytes]:
    """Parity shard runs ``k..n-1`` for the given data shard runs."""
    if n == k:
        return []
    encoder, _ = _codec(k, n)
    return [bytes(p) for p in encoder.encode(tuple(data_shards), tuple(range(k, n)))]


# --------------------------------------------------------------------------------------------
# The store
# --------------------------------------------------------------------------------------------


class VolumeStore:
    """Real bytes for every volume, kept with its scheme's redundancy.

    ``root=None`` keeps everything in memory; otherwise each component is a sparse file
    ``root / volume_id / f"{index}.bin"``. Every call takes the components the platform
    considers available (host up, disk healthy, not stale) and never touches the others.
    """

    def __init__(self, root: pathlib.Path | None) -> None:
        self.root = root
        self._backend: MemoryBackend | FileBackend = (
            MemoryBackend() if root is None else FileBackend(pathlib.Path(root))
        )
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- public API ---------------------------------------------------------------------------

    def write(
        self,
        volume_id: str,
        scheme: Scheme,
        offset: int,
        data: bytes | bytearray | memoryview,
        available: Collection[int],
    ) -> frozenset[int]:
        """Write ``data`` at volume ``offset`` to every available data component.

        Returns the data components that missed the write (were unavailable), which the
        platform must mark stale. Raises :class:`DataUnavailable`, writing nothing, when the
        scheme is not accessible with ``available``. A zero-length write misses nothing.
        """
        _check_volume_id(volume_id)
        present = _check_available(scheme, available)
        payload = bytes(data)
        _check_range(offset, len(payload))
        with self._lock(volume_id):
            self._replay(volume_id)
            self._require_accessible(
                volume_id,
                scheme=scheme,
                operation="write",
                offset=offset,
                length=len(payload),
                present=present,
            )
            if not payload:
                return frozenset()
            if scheme.kind == "erasure":
                self._write_erasure(volume_id, scheme, offset, payload, present)
            else:
                for index in sorted(present & scheme.data_components):
                    self._backend.write(volume_id, index, offset, payload)
            return scheme.data_components - present

    def read(
        self,
        volume_id: str,
        scheme: Scheme,
        offset: int,
        length: int,
        available: Collection[int],
    ) -> bytes:
        """Volume bytes ``[offset, offset + length)``, reconstructed from available components.

        Mirror reads the lowest available replica; erasure decodes from k available shards
        (data shards first). Raises :class:`DataUnavailable` when not accessible.
        """
        _check_volume_id(volume_id)
        present = _check_available(scheme, available)
        _check_range(offset, length)
        with self._lock(volume_id):
            self._replay(volume_id)
            self._require_accessible(
                volume_id,
                scheme=scheme,
                operation="read",
                offset=offset,
                length=length,
                present=present,
            )
            if length == 0:
                return b""
            if scheme.kind == "erasure":
                return self._read_erasure(volume_id, scheme, offset, length, present)
            source = min(present & scheme.data_components)
            return self._backend.read(volume_id, source, offset, length)

    def destroy_component(self, volume_id: str, index: int) -> None:
        """The disk holding component ``index`` failed: its bytes are gone."""
        _check_volume_id(volume_id)
        if index < 0:
            raise ValueError(f"component index must be >= 0, got {index}")
        with self._lock(volume_id):
            self._backend.delete_component(volume_id, index)

    def rebuild_component(
        self,
        volume_id: str,
        scheme: Scheme,
        index: int,
        available: Collection[int],
        extent: int,
    ) -> None:
        """Recreate component ``index`` from the *other* available components.

        Covers volume bytes ``[0, extent)`` (only the regions actually stored are visited, so
        a nominal size is fine). Used after a disk replacement and to resync a stale component.
        Only chunks whose content differs are rewritten, so a resync writes what changed and a
        fresh component stays sparse. ``available`` must not include ``index``. Witnesses hold
        no bytes: rebuilding one is a no-op. Raises :class:`DataUnavailable` when the others
        cannot reconstruct the data (the vote majority is the platform's call, not checked).
        """
        _check_volume_id(volume_id)
        present = _check_available(scheme, available)
        if not 0 <= index < scheme.component_count:
            raise ValueError(
                f"component index {index} out of range for {scheme.label} "
                f"({scheme.component_count} components)"
            )
        if index in present:
            raise ValueError(
                f"component {index} cannot be rebuilt from itself: leave it out of `available`"
            )
        _check_range(0, extent)
        if index not in scheme.data_components:
            return
        with self._lock(volume_id):
            if not scheme.can_reconstruct(present):
                reason = scheme.why_inaccessible(present, check_votes=False) or "no data"
                raise DataUnavailable(
                    volume_id=volume_id,
                    operation="rebuild",
                    offset=0,
                    length=extent,
                    available=present,
                    scheme=scheme,
                    reason=reason,
                    component=index,
                )
            self._rebuild(volume_id, scheme, index, present, extent)

    def delete_volume(self, volume_id: str) -> None:
        """Remove every component of the volume. Deleting a missing volume does nothing."""
        _check_volume_id(volume_id)
        with self._lock(volume_id):
            self._backend.delete_volume(volume_id)

    def volume_ids(self) -> set[str]:
        """Volumes with stored bytes, or with a directory left (even an empty one), for
        orphan cleanup."""
        return self._backend.volume_ids()

    def bytes_stored(self, volume_id: str) -> int:
        """Bytes actually held across the volume's components (allocated blocks or pages)."""
        _check_volume_id(volume_id)
        with self._lock(volume_id):
            return self._backend.bytes_stored(volume_id)

    # -- internals ----------------------------------------------------------------------------

    def _lock(self, volume_id: str) -> threading.Lock:
        with self._locks_guard:
            lock = self._locks.get(volume_id)
            if lock is None:
                lock = self._locks[volume_id] = threading.Lock()
            return lock

    @staticmethod
    def _require_accessible(
        volume_id: str,
        *,
        scheme: Scheme,
        operation: Operation,
        offset: int,
        length: int,
        present: frozenset[int],
    ) -> None:
        reason = scheme.why_inaccessible(present)
        if reason is not None:
            raise DataUnavailable(
                volume_id=volume_id,
                operation=operation,
                offset=offset,
                length=length,
                available=present,
                scheme=scheme,
                reason=reason,
            )

    def _read_stripes(
        self, volume_id: str, scheme: Scheme, first: int, count: int, present: frozenset[int]
    ) -> bytearray:
        """Volume bytes of stripes ``[first, first + count)`` from k available shards."""
        k = scheme.k
        chosen = sorted(present)[:k]  # lowest indices first: data shards need no decoding
        shards = [self._backend.read(volume_id, i, first * CHUNK, count * CHUNK) for i in chosen]
        if chosen != list(range(k)):
            _, decoder = _codec(k, scheme.component_count)
            shards = [bytes(s) for s in decoder.decode(tuple(shards), tuple(chosen))]
        return _join_stripes(shards, k)

    def _read_erasure(
        self, volume_id: str, scheme: Scheme, offset: int, length: int, present: frozenset[int]
    ) -> bytes:
        width = scheme.k * CHUNK
        end = offset + length
        first, last = offset // width, (end - 1) // width
        out = bytearray()
        for batch in range(first, last + 1, _BATCH // CHUNK):
            count = min(_BATCH // CHUNK, last + 1 - batch)
            stripes = self._read_stripes(volume_id, scheme, batch, count, present)
            base = batch * width
            lo, hi = max(offset, base), min(end, base + count * width)
            out += memoryview(stripes)[lo - base : hi - base]
        return bytes(out)

    def _write_erasure(
        self, volume_id: str, scheme: Scheme, offset: int, data: bytes, present: frozenset[int]
    ) -> None:
        k, n = scheme.k, scheme.component_count
        width = k * CHUNK
        end = offset + len(data)
        first, last = offset // width, (end - 1) // width
        view = memoryview(data)
        for batch in range(first, last + 1, _BATCH // CHUNK):
            count = min(_BATCH // CHUNK, last + 1 - batch)
            base = batch * width
            limit = base + count * width
            buffer = bytearray(count * width)
            # Read-modify-write: keep what the write does not cover in partial end stripes.
            head_partial = offset > base
            if head_partial:
                buffer[:width] = self._read_stripes(volume_id, scheme, batch, 1, present)
            if end < limit and not (head_partial and count == 1):
                tail = batch + count - 1
                buffer[-width:] = self._read_stripes(volume_id, scheme, tail, 1, present)
            lo, hi = max(offset, base), min(end, limit)
            buffer[lo - base : hi - base] = view[lo - offset : hi - offset]
            data_shards = _split_stripes(buffer, k)
            shards = data_shards + _encode_parity(data_shards, k, n)
            entries = [(index, batch * CHUNK, shards[index]) for index in sorted(present)]
            # Journal the whole stripe first: a crash between two shard writes would leave
            # data and parity disagreeing, and a later reconstruction would return wrong bytes
            # (the RAID-5 "write hole"); the journal is replayed before the volume is used.
            self._backend.put_journal(volume_id, _encode_journal(entries))
            for index, at, shard in entries:
                self._backend.write(volume_id, index, at, shard)
            self._backend.clear_journal(volume_id)

    def _replay(self, volume_id: str) -> None:
        """Finish the stripe write a crash interrupted, if any (call with the volume's lock)."""
        blob = self._backend.get_journal(volume_id)
        if blob is None:
            return
        for index, at, shard in _decode_journal(blob):
            self._backend.write(volume_id, index, at, shard)
        self._backend.clear_journal(volume_id)

    def replay_journals(self) -> list[str]:
        """Finish every stripe write a crash interrupted; returns the volumes repaired."""
        repaired = []
        for volume_id in sorted(self.volume_ids()):
            with self._lock(volume_id):
                if self._backend.get_journal(volume_id) is not None:
                    self._replay(volume_id)
                    repaired.append(volume_id)
        return repaired

    def _rebuild(
        self, volume_id: str, scheme: Scheme, index: int, present: frozenset[int], extent: int
    ) -> None:
        if scheme.kind == "erasure":
            sources = sorted(present)[: scheme.k]
            component_extent = math.ceil(extent / (scheme.k * CHUNK)) * CHUNK
        else:
            sources = [min(present & scheme.data_components)]
            component_extent = extent
        # Visit only what some involved component stores, aligned to CHUNK, up to the extent.
        stored = merge_ranges(
            (start // CHUNK * CHUNK, min(component_extent, -(-stop // CHUNK) * CHUNK))
            for component in [*sources, index]
            for start, stop in self._backend.data_ranges(volume_id, component)
        )
        for start, stop in stored:
            for piece in range(start, stop, _BATCH):
                length = min(_BATCH, stop - piece)
                fresh = self._component_bytes(
                    volume_id,
                    scheme=scheme,
                    index=index,
                    sources=sources,
                    offset=piece,
                    length=length,
                )
                old = self._backend.read(volume_id, index, piece, length)
                self._write_changes(volume_id, index, piece, old, fresh)

    def _component_bytes(
        self,
        volume_id: str,
        *,
        scheme: Scheme,
        index: int,
        sources: Sequence[int],
        offset: int,
        length: int,
    ) -> bytes:
        """What component ``index`` should hold at ``[offset, offset + length)``."""
        if scheme.kind != "erasure":
            return self._backend.read(volume_id, sources[0], offset, length)
        k, n = scheme.k, scheme.component_count
        shards = [self._backend.read(volume_id, i, offset, length) for i in sources]
        _, decoder = _codec(k, n)
        data_shards = [bytes(s) for s in decoder.decode(tuple(shards), tuple(sources))]
        if index < k:
            return data_shards[index]
        encoder, _ = _codec(k, n)
        return bytes(encoder.encode(tuple(data_shards), (index,))[0])

    def _write_changes(
        self, volume_id: str, index: int, offset: int, old: bytes, fresh: bytes
    ) -> None:
        """Write the runs of ``CHUNK``-sized pieces where ``fresh`` differs from ``old``."""
        run_start: int | None = None
        for position in range(0, len(fresh) + CHUNK, CHUNK):
            same = position >= len(fresh) or (
                fresh[position : position + CHUNK] == old[position : position + CHUNK]
            )
            if not same and run_start is None:
                run_start = position
            elif same and run_start is not None:
                self._backend.write(volume_id, index, offset + run_start, fresh[run_start:position])
                run_start = None


# --------------------------------------------------------------------------------------------
# Argument checks (programming errors in the platform, hence ValueError)
# --------------------------------------------------------------------------------------------


def _check_volume_id(volume_id: str) -> None:
    if not VOLUME_ID.fullmatch(volume_id):
        raise ValueError(
            f"volume id {volume_id!r} must be 1-255 characters of letters, digits, '_', '-', "
            f"'.', not starting with '.' or '-' (it names a directory)"
        )


def _check_available(scheme: Scheme, available: Collection[int]) -> frozenset[int]:
    present = frozenset(available)
    stray = sorted(i for i in present if not 0 <= i < scheme.component_count)
    if stray:
        raise ValueError(
            f"available components {stray} do not exist in {scheme.label} "
            f"(components 0-{scheme.component_count - 1})"
        )
    return present


def _check_range(offset: int, length: int) -> None:
    if offset < 0 or length < 0:
        raise ValueError(f"offset and length must be >= 0, got offset={offset} length={length}")


def _encode_journal(entries: Sequence[tuple[int, int, bytes]]) -> bytes:
    """``(component, offset, bytes)`` entries as one blob: a count, then each entry's index,
    offset and length followed by its bytes."""
    parts = [struct.pack("<I", len(entries))]
    for index, at, shard in entries:
        parts.append(struct.pack("<IQI", index, at, len(shard)))
        parts.append(shard)
    return b"".join(parts)


def _decode_journal(blob: bytes) -> list[tuple[int, int, bytes]]:
    (count,) = struct.unpack_from("<I", blob, 0)
    position = 4
    entries = []
    for _ in range(count):
        index, at, length = struct.unpack_from("<IQI", blob, position)
        position += struct.calcsize("<IQI")
        entries.append((index, at, blob[position : position + length]))
        position += length
    return entries
