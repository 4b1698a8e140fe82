"""How the ``dpp`` command reports a failure: one line on stderr, ``dpp: error: <message>``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

import click

from dpp_sdk.contract._text import printable

__all__ = ["EXIT_ERROR", "LINE_LIMIT", "CliError", "error_line", "format_error", "one_line"]

EXIT_ERROR = 1
"""Exit status of a command that failed (click's usage errors exit with 2)."""

LINE_LIMIT = 10_000
"""Characters of a ``dpp: error:`` line's message, after which it is cut with
``... (N more characters)``. Messages from provider code are already cut at 2,000 by the
platform; this bounds the line whatever it holds (every problem of a request, notes)."""


class CliError(click.ClickException):
    """A failure shown as ``dpp: error: <message>`` on stderr, exiting with :data:`EXIT_ERROR`."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str) -> None:
        super().__init__(error_line(message))

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(f"dpp: error: {self.format_message()}", file=file, err=file is None)


def one_line(text: str) -> str:
    """``text`` on a single line: lines are stripped, list bullets dropped, joined with ``; ``.

    A line ending with ``:`` is joined to the next with a space, so ``"2 problems:\\n  - a"``
    becomes ``"2 problems: a"``.
    """
    parts = [line.strip().removeprefix("- ").strip() for line in text.splitlines()]
    out = ""
    for part in filter(None, parts):
        if not out:
            out = part
        elif out.endswith(":"):
            out = f"{out} {part}"
        else:
            out = f"{out}; {part}"
    return out


def error_line(text: str) -> str:
    """``text`` as the message of a ``dpp: error:`` line: on one line (:func:`one_line`),
    control characters escaped (``\\x1b``), at most :data:`LINE_LIMIT` characters."""
    return printable(one_line(text), LINE_LIMIT)


def _problems_of(exc: BaseException) -> Sequence[object]:
    problems = getattr(exc, "problems", None)
    if isinstance(problems, (list, tuple)):
        return problems
    error = getattr(getattr(exc, "operation", None), "error", None)
    problems = getattr(error, "problems", None)
    if isinstance(problems, (list, tuple)):
        return problems
    return ()


def format_error(exc: BaseException) -> str:
    """The one-line message for ``exc``, without the ``dpp: error:`` prefix.

    Errors that carry ``problems`` (``ValidationError``, ``ConfigError``, an ``OperationFailed``
    whose operation recorded problems) list every problem, joined with ``; ``, after the
    error's headline; each problem names its field path and the offending value. Notes added
    to the error (``add_note``, e.g. what a partly done change already did) follow in
    parentheses.
    """
    notes = "".join(f" ({one_line(str(n))})" for n in getattr(exc, "__notes__", ()))
    return _headline_and_problems(exc) + notes


def _headline_and_problems(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    problems = [one_line(str(p)) for p in _problems_of(exc)]
    if not problems:
        return one_line(text)
    headline = one_line(text.splitlines()[0]).rstrip(":").strip()
    shown = [p for p in problems if p != headline]
    if not shown:
        return headline
    return f"{headline}: {'; '.join(shown)}"
