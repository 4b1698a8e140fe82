"""``dpp logs``: the tail of the platform log, and following it by polling the file."""

from __future__ import annotations

import codecs
import collections
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["follow", "tail"]


def tail(path: Path, lines: int | None) -> tuple[list[str], int]:
    """The last ``lines`` lines of ``path`` (all when None) and the byte offset of its end.

    A missing file has no lines and ends at offset 0. Lines keep their line endings; bytes
    that are not UTF-8 are replaced rather than failing.
    """
    try:
        with path.open("rb") as stream:
            if lines is None:
                kept: collections.deque[bytes] = collections.deque(stream)
            else:
                kept = collections.deque(stream, maxlen=lines)
            end = stream.tell()
    except FileNotFoundError:
        return [], 0
    return [line.decode("utf-8", errors="replace") for line in kept], end


def follow(
    path: Path,
    write: Callable[[str], None],
    *,
    offset: int = 0,
    interval: float = 0.5,
    keep_going: Callable[[], bool] = lambda: True,
    sleep: Callable[[float], None] = time.sleep,
) -> None:
    """Write what is appended to ``path`` after byte ``offset``, polling every ``interval``
    seconds while ``keep_going()`` is true (the CLI stops on Ctrl-C instead).

    A file that does not exist yet is waited for; a file that shrank (truncated or rotated)
    is read again from its start.
    """
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    while keep_going():
        try:
            size = path.stat().st_size
        except FileNotFoundError:
            size = 0
            offset = 0
        if size < offset:
            offset = 0
            decoder.reset()
        if size > offset:
            with path.open("rb") as stream:
                stream.seek(offset)
                data = stream.read(size - offset)
            offset += len(data)
            text = decoder.decode(data)
            if text:
                write(text)
            continue
        sleep(interval)
