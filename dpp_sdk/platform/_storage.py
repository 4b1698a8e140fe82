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

import contextlib
import errno
import math
import os
import pathlib
import re
import shutil
import threading
from collections.abc import Collection, Iterator, Sequence
from typing import Any, Literal

import attrs
import zfec

from dpp_sdk.contract._errors import DataUnavailable as _ContractDataUnavailable

__all__ = ["CHUNK", "DataUnavailable", "Scheme", "VolumeStore"]

CHUNK = 4096
"""Erasure stripe unit per shard: a stripe covers ``k * CHUNK`` bytes of volume address space."""

_PAGE = 16 * CHUNK
"""Page size of the in-memory backend (pages are allocated on first write)."""

_BATCH = 256 * CHUNK
"""Component bytes handled per step by bulk reads, writes and rebuilds (1 MiB)."""

_ZFEC_MAX_SHARES = 256
_VOLUME_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}")
_COMPONENT_FILE = re.compile(r"(0|[1-9][0-9]*)\.bin")

Operation = Literal["read", "write", "rebuild"]


# --------------------------------------------------------------------------------------------
# Scheme
# --------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Scheme:
    """How a volume's bytes are spread over components (see the module docstring).

    ``Scheme(kind="mirror", replicas=2, witnesses=1)`` is ``vsan-default``;
    ``Scheme(kind="erasure", k=3, m=1)`` is RAID-5, ``k=4, m=2`` RAID-6;
    ``Scheme(kind="single")`` is ``vsan-sna`` and ``vsan-direct``.
    Fields that do not belong to ``kind`` must keep their defaults.
    """

    kind: Literal["mirror", "erasure", "single"]
    replicas: int = 1
    witnesses: int = 0
    k: int = 1
    m: int = 0

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        if self.kind == "mirror":
            if self.replicas < 1:
                problems.append(f"replicas must be >= 1, got {self.replicas}")
            if self.witnesses < 0:
                problems.append(f"witnesses must be >= 0, got {self.witnesses}")
        elif self.replicas != 1 or self.witnesses != 0:
            problems.append("replicas/witnesses apply to kind='mirror' only")
        if self.kind == "erasure":
            if self.k < 1:
                problems.append(f"k must be >= 1, got {self.k}")
            if self.m < 0:
                problems.append(f"m must be >= 0, got {self.m}")
            if self.k + self.m > _ZFEC_MAX_SHARES:
                problems.append(f"k + m must be <= {_ZFEC_MAX_SHARES}, got {self.k + self.m}")
        elif self.k != 1 or self.m != 0:
            problems.append("k/m apply to kind='erasure' only")
        if self.kind not in ("mirror", "erasure", "single"):
            problems.append(f"kind must be 'mirror', 'erasure' or 'single', got {self.kind!r}")
        if problems:
            raise ValueError(f"invalid storage scheme {self!r}: " + "; ".join(problems))

    @property
    def component_count(self) -> int:
        """Number of components, each with one vote (witnesses included)."""
        if self.kind == "mirror":
            return self.replicas + self.witnesses
        if self.kind == "erasure":
            return self.k + self.m
        return 1

    @property
    def data_components(self) -> frozenset[int]:
        """Indices of the components that hold bytes (every one except witnesses)."""
        if self.kind == "mirror":
            return frozenset(range(self.replicas))
        return frozenset(range(self.component_count))

    @property
    def raw_factor(self) -> float:
        """Raw bytes stored per volume byte: 2.0 for RAID-1 2+1, 1.33 for 3+1, 1.5 for 4+2."""
        if self.kind == "mirror":
            return float(self.replicas)
        if self.kind == "erasure":
            return (self.k + self.m) / self.k
        return 1.0

    @property
    def label(self) -> str:
        """Human-readable name, e.g. ``RAID-1 mirror (2 replicas + 1 witness)``."""
        if self.kind == "mirror":
            witnesses = "witness" if self.witnesses == 1 else "witnesses"
            return f"RAID-1 mirror ({self.replicas} replicas + {self.witnesses} {witnesses})"
        if self.kind == "erasure":
            return f"erasure coding {self.k}+{self.m}"
        return "single component (no redundancy)"

    def can_reconstruct(self, available: Collection[int]) -> bool:
        """Whether the available components hold enough to rebuild the data (votes ignored)."""
        present = frozenset(available) & self.data_components
        if self.kind == "erasure":
            return len(present) >= self.k
        return bool(present)

    def has_quorum(self, available: Collection[int]) -> bool:
        """Whether more than half of all component votes are available (one vote each)."""
        votes = len(frozenset(available) & frozenset(range(self.component_count)))
        return 2 * votes > self.component_count

    def is_accessible(self, available: Collection[int]) -> bool:
        """vSAN's rule: a vote majority is available *and* the data can be reconstructed.

        So RAID-1 with 2 replicas + 1 witness survives losing any one component but not two,
        even when the component left is a replica that holds all the data.
        """
        return self.has_quorum(available) and self.can_reconstruct(available)

    def tolerates(self) -> int:
        """Failures tolerated (FTT): any this many components may be lost, one more may not.

        Mirror: ``replicas - 1`` when there are enough witnesses to keep a majority; erasure:
        ``m`` (likewise capped by the majority rule); single: 0.
        """
        majority_cap = (self.component_count - 1) // 2
        if self.kind == "mirror":
            return min(self.replicas - 1, majority_cap)
        if self.kind == "erasure":
            return min(self.m, majority_cap)
        return 0

    def why_inaccessible(
        self, available: Collection[int], *, check_votes: bool = True
    ) -> str | None:
        """Why the scheme is inaccessible with these components, or ``None`` if it is not.

        With ``check_votes=False`` only the data is considered (see :meth:`can_reconstruct`).
        """
        present = frozenset(available) & frozenset(range(self.component_count))
        reasons: list[str] = []
        if check_votes and not self.has_quorum(present):
            needed = self.component_count // 2 + 1
            reasons.append(
                f"only {len(present)} of {self.component_count} component votes are available "
                f"and more than half ({needed}) are needed"
            )
        if not self.can_reconstruct(present):
            held = sorted(present & self.data_components)
            if self.kind == "mirror":
                reasons.append(
                    f"none of the {self.replicas} replicas (components "
                    f"{_ranges(range(self.replicas))}) is available"
                )
            elif self.kind == "erasure":
                reasons.append(
                    f"only {len(held)} of the {self.k} shards needed to reconstruct the data "
                    f"are available"
                )
            else:
                reasons.append("its only component (0) is unavailable and it has no copy")
        return "; ".join(reasons) or None


def _ranges(indices: Collection[int]) -> str:
    """``[0, 1, 2]`` -> ``"0-2"``; ``[0, 2]`` -> ``"0, 2"``."""
    ordered = sorted(indices)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(str(i) for i in ordered) or "none"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class DataUnavailable(_ContractDataUnavailable):
    """A volume range cannot be read, written or rebuilt with the available components.

    Subclass of :class:`dpp_sdk.contract.DataUnavailable` (so a ``DppError`` and an
    ``OSError``), with structured fields: ``volume_id``, ``operation`` (``read``, ``write``,
    ``rebuild``), ``offset``, ``length``, ``available`` (sorted component indices), ``scheme``,
    ``reason`` (why, in words) and, for ``rebuild``, ``component``.
    """

    def __init__(
        self,
        *,
        volume_id: str,
        operation: Operation,
        offset: int,
        length: int,
        available: Collection[int],
        scheme: Scheme,
        reason: str,
        component: int | None = None,
    ) -> None:
        self.volume_id = volume_id
        self.operation: Operation = operation
        self.offset = offset
        self.length = length
        self.available: tuple[int, ...] = tuple(sorted(available))
        self.scheme = scheme
        self.reason = reason
        self.component = component
        missing = sorted(frozenset(range(scheme.component_count)) - frozenset(available))
        what = (
            f"rebuild component {component} of volume {volume_id!r}"
            if operation == "rebuild"
            else f"{operation} bytes [{offset}, {offset + length}) of volume {volume_id!r}"
        )
        super().__init__(
            f"cannot {what}: {reason}. Scheme: {scheme.label}, "
            f"{scheme.component_count} components; available: [{_ranges(self.available)}]; "
            f"unavailable: [{_ranges(missing)}]. Bring back the hosts or disks holding the "
            f"unavailable components (exit maintenance, repair the host); if their disks "
            f"failed, those bytes are gone and the data must be restored from a backup."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        fields = {
            "volume_id": self.volume_id,
            "operation": self.operation,
            "offset": self.offset,
            "length": self.length,
            "available": self.available,
            "scheme": self.scheme,
            "reason": self.reason,
            "component": self.component,
        }
        return (_unpickle_error, (fields,))


def _unpickle_error(fields: dict[str, Any]) -> DataUnavailable:
    """Unpickle a :class:`DataUnavailable` (its constructor is keyword-only)."""
    return DataUnavailable(**fields)


# --------------------------------------------------------------------------------------------
# Backends: where component bytes live
# --------------------------------------------------------------------------------------------


class _MemoryBackend:
    """Components as sparse maps of page number -> bytearray of ``_PAGE`` bytes."""

    def __init__(self) -> None:
        self._volumes: dict[str, dict[int, dict[int, bytearray]]] = {}
        self._guard = threading.Lock()  # guards self._volumes itself, not the pages

    def read(self, volume_id: str, index: int, offset: int, length: int) -> bytes:
        out = bytearray(length)
        pages = self._volumes.get(volume_id, {}).get(index)
        if not pages or length == 0:
            return bytes(out)
        end = offset + length
        for page_no in range(offset // _PAGE, (end - 1) // _PAGE + 1):
            page = pages.get(page_no)
            if page is None:
                continue
            base = page_no * _PAGE
            lo, hi = max(offset, base), min(end, base + _PAGE)
            out[lo - offset : hi - offset] = page[lo - base : hi - base]
        return bytes(out)

    def write(self, volume_id: str, index: int, offset: int, data: bytes | bytearray) -> None:
        if not data:
            return
        with self._guard:
            pages = self._volumes.setdefault(volume_id, {}).setdefault(index, {})
        view = memoryview(data)
        end = offset + len(data)
        for page_no in range(offset // _PAGE, (end - 1) // _PAGE + 1):
            page = pages.get(page_no)
            if page is None:
                page = pages[page_no] = bytearray(_PAGE)
            base = page_no * _PAGE
            lo, hi = max(offset, base), min(end, base + _PAGE)
            page[lo - base : hi - base] = view[lo - offset : hi - offset]

    def delete_component(self, volume_id: str, index: int) -> None:
        with self._guard:
            components = self._volumes.get(volume_id)
            if components is None:
                return
            components.pop(index, None)
            if not components:
                del self._volumes[volume_id]

    def delete_volume(self, volume_id: str) -> None:
        with self._guard:
            self._volumes.pop(volume_id, None)

    def volume_ids(self) -> set[str]:
        with self._guard:
            return {vid for vid, components in self._volumes.items() if components}

    def data_ranges(self, volume_id: str, index: int) -> list[tuple[int, int]]:
        pages = self._volumes.get(volume_id, {}).get(index, {})
        return _merge((n * _PAGE, (n + 1) * _PAGE) for n in sorted(pages))

    def bytes_stored(self, volume_id: str) -> int:
        with self._guard:
            components = list(self._volumes.get(volume_id, {}).values())
        return sum(len(pages) * _PAGE for pages in components)


_O_BINARY: int = getattr(os, "O_BINARY", 0)
_SEEK_DATA: int | None = getattr(os, "SEEK_DATA", None)
_SEEK_HOLE: int | None = getattr(os, "SEEK_HOLE", None)


class _FileBackend:
    """Components as sparse files ``root / volume_id / f"{index}.bin"``."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root

    def _path(self, volume_id: str, index: int) -> pathlib.Path:
        return self.root / volume_id / f"{index}.bin"

    def read(self, volume_id: str, index: int, offset: int, length: int) -> bytes:
        try:
            fd = os.open(self._path(volume_id, index), os.O_RDONLY | _O_BINARY)
        except FileNotFoundError:
            return bytes(length)
        try:
            parts: list[bytes] = []
            got = 0
            while got < length:
                chunk = _pread(fd, length - got, offset + got)
                if not chunk:
                    break  # end of file: the rest was never written
                parts.append(chunk)
                got += len(chunk)
        finally:
            os.close(fd)
        if got < length:
            parts.append(bytes(length - got))
        return b"".join(parts)

    def write(self, volume_id: str, index: int, offset: int, data: bytes | bytearray) -> None:
        if not data:
            return
        path = self._path(volume_id, index)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | _O_BINARY, 0o644)
        try:
            view = memoryview(data)
            done = 0
            while done < len(view):
                done += _pwrite(fd, view[done:], offset + done)
        finally:
            os.close(fd)

    def delete_component(self, volume_id: str, index: int) -> None:
        path = self._path(volume_id, index)
        path.unlink(missing_ok=True)
        with contextlib.suppress(OSError):
            path.parent.rmdir()  # only succeeds once the volume directory is empty

    def delete_volume(self, volume_id: str) -> None:
        directory = self.root / volume_id
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(directory)

    def volume_ids(self) -> set[str]:
        if not self.root.is_dir():
            return set()
        found: set[str] = set()
        for directory in self.root.iterdir():
            if not directory.is_dir() or not _VOLUME_ID.fullmatch(directory.name):
                continue
            if any(_COMPONENT_FILE.fullmatch(f.name) for f in directory.iterdir()):
                found.add(directory.name)
        return found

    def data_ranges(self, volume_id: str, index: int) -> list[tuple[int, int]]:
        try:
            fd = os.open(self._path(volume_id, index), os.O_RDONLY | _O_BINARY)
        except FileNotFoundError:
            return []
        try:
            size = os.fstat(fd).st_size
            if _SEEK_DATA is None or _SEEK_HOLE is None:
                return [(0, size)] if size else []
            ranges: list[tuple[int, int]] = []
            position = 0
            while position < size:
                try:
                    start = os.lseek(fd, position, _SEEK_DATA)
                except OSError as exc:
                    if exc.errno == errno.ENXIO:
                        break  # no data after `position`
                    return [(0, size)] if size else []  # SEEK_DATA unsupported here
                end = os.lseek(fd, start, _SEEK_HOLE)
                ranges.append((start, end))
                position = end
            return ranges
        finally:
            os.close(fd)

    def bytes_stored(self, volume_id: str) -> int:
        directory = self.root / volume_id
        total = 0
        with contextlib.suppress(FileNotFoundError):
            for path in directory.iterdir():
                if _COMPONENT_FILE.fullmatch(path.name):
                    with contextlib.suppress(FileNotFoundError):
                        stat = path.stat()
                        blocks = getattr(stat, "st_blocks", None)
                        total += blocks * 512 if blocks is not None else stat.st_size
        return total


def _pread(fd: int, length: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, length, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - platforms without pread
    return os.read(fd, length)  # pragma: no cover


def _pwrite(fd: int, data: memoryview, offset: int) -> int:
    if hasattr(os, "pwrite"):
        return os.pwrite(fd, data, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # pragma: no cover - platforms without pwrite
    return os.write(fd, data)  # pragma: no cover


def _merge(ranges: Iterator[tuple[int, int]] | list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sort and merge overlapping or touching half-open ranges."""
    merged: list[tuple[int, int]] = []
    for start, end in sorted(ranges):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


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
        self._backend: _MemoryBackend | _FileBackend = (
            _MemoryBackend() if root is None else _FileBackend(pathlib.Path(root))
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
        """Volumes with at least one stored component (for orphan cleanup)."""
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
            for index in sorted(present):
                self._backend.write(volume_id, index, batch * CHUNK, shards[index])

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
        stored = _merge(
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
    if not _VOLUME_ID.fullmatch(volume_id):
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
