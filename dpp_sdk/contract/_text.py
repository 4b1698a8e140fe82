"""Text from provider code, made safe to keep and to print.

A provider's error message, health check or veto ends up in a table cell, on a one-line
``dpp: error:`` and in the database. :func:`printable` makes it harmless there: characters that
Python does not count as printable (newline, ESC and the other control characters, format
characters such as bidirectional overrides) are shown escaped, as ``repr`` would (``\\n``,
``\\x1b``, ``\\u202e``), so a row or a line can never be broken or recoloured; and the text is cut
after a documented number of characters, ending ``... (N more characters)``, so a 2 MB
exception message does not become a 2 MB error line.
"""

from __future__ import annotations

__all__ = ["MESSAGE_LIMIT", "TRACEBACK_LIMIT", "printable"]

MESSAGE_LIMIT = 2_000
"""Characters the platform keeps of a message from provider code (an operation's error, a
health check's name or message, a veto's message)."""

TRACEBACK_LIMIT = 20_000
"""Characters the platform keeps of a provider's traceback."""


def printable(text: str, limit: int = MESSAGE_LIMIT, *, keep: str = "") -> str:
    """``text`` with every non-printable character but those in ``keep`` escaped, cut after
    ``limit`` characters (escapes included) with ``... (N more characters)``, N counting the
    characters of ``text`` left out.

    ``printable("a\\nb\\x1b[31m")`` is ``"a\\\\nb\\\\x1b[31m"``; tracebacks keep their lines with
    ``keep="\\n"``.
    """
    if len(text) <= limit and text.isprintable():
        return text
    out: list[str] = []
    used = 0
    for index, char in enumerate(text):
        shown = char if char.isprintable() or char in keep else repr(char)[1:-1]
        if used + len(shown) > limit:
            return f"{''.join(out)}... ({len(text) - index} more characters)"
        out.append(shown)
        used += len(shown)
    return "".join(out)
