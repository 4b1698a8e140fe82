"""Where a volume's component bytes live: in memory (sparse pages) or in one sparse file per
component, written only with positioned writes. Used by :class:`._storage.VolumeStore`."""

from __future__ import annotations

import contextlib
import errno
import os
import pathlib
import re
import shutil
import threading
from collections.abc import Iterator

from dpp_sdk.platform._schemes import CHUNK

__all__ = ["JOURNAL", "VOLUME_ID", "FileBackend", "MemoryBackend", "merge_ranges"]

_PAGE = 16 * CHUNK
"""Page size of the in-memory backend (pages are allocated on first write)."""

JOURNAL = "journal.bin"
"""A volume's write-ahead journal of the stripes a write is changing (erasure coding)."""

VOLUME_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]{0,254}")
"""What a volume id may look like (it names a directory)."""

_COMPONENT_FILE = re.compile(r"(0|[1-9][0-9]*)\.bin")


class MemoryBackend:
    """Components as sparse maps of page number -> bytearray of ``_PAGE`` bytes."""

    def __init__(self) -> None:
        self._volumes: dict[str, dict[int, dict[int, bytearray]]] = {}
        self._guard = threading.Lock()  # guards self._volumes itself, not the pages
        self._journals: dict[str, bytes] = {}

    def put_journal(self, volume_id: str, blob: bytes) -> None:
        """Keep ``blob`` as the volume's write-ahead journal (replacing any)."""
        self._journals[volume_id] = blob

    def get_journal(self, volume_id: str) -> bytes | None:
        """The volume's journal, or None."""
        return self._journals.get(volume_id)

    def clear_journal(self, volume_id: str) -> None:
        """Forget the volume's journal."""
        self._journals.pop(volume_id, None)

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
        return merge_ranges((n * _PAGE, (n + 1) * _PAGE) for n in sorted(pages))

    def bytes_stored(self, volume_id: str) -> int:
        with self._guard:
            components = list(self._volumes.get(volume_id, {}).values())
        return sum(len(pages) * _PAGE for pages in components)


_O_BINARY: int = getattr(os, "O_BINARY", 0)
_SEEK_DATA: int | None = getattr(os, "SEEK_DATA", None)
_SEEK_HOLE: int | None = getattr(os, "SEEK_HOLE", None)


class FileBackend:
    """Components as sparse files ``root / volume_id / f"{index}.bin"``."""

    def __init__(self, root: pathlib.Path) -> None:
        self.root = root

    def _path(self, volume_id: str, index: int) -> pathlib.Path:
        return self.root / volume_id / f"{index}.bin"

    def put_journal(self, volume_id: str, blob: bytes) -> None:
        """Keep ``blob`` as the volume's write-ahead journal, atomically (a crash leaves the
        old journal or the new one, never a part)."""
        directory = self.root / volume_id
        directory.mkdir(parents=True, exist_ok=True)
        temporary = directory / "journal.tmp"
        temporary.write_bytes(blob)
        os.replace(temporary, directory / JOURNAL)

    def get_journal(self, volume_id: str) -> bytes | None:
        """The volume's journal, or None."""
        try:
            return (self.root / volume_id / JOURNAL).read_bytes()
        except FileNotFoundError:
            return None

    def clear_journal(self, volume_id: str) -> None:
        """Forget the volume's journal."""
        with contextlib.suppress(FileNotFoundError):
            (self.root / volume_id / JOURNAL).unlink()

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
        # Every volume directory, also an empty one (a crash between its mkdir and the first
        # write, or during a delete, leaves one), so that orphan cleanup removes it too.
        if not self.root.is_dir():
            return set()
        return {
            directory.name
            for directory in self.root.iterdir()
            if directory.is_dir() and VOLUME_ID.fullmatch(directory.name)
        }

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


def merge_ranges(
    ranges: Iterator[tuple[int, int]] | list[tuple[int, int]],
) -> list[tuple[int, int]]:
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
