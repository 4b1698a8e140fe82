"""What the command modules share: options, the read-only marker, and printing a result."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dpp_sdk.cli import _render
from dpp_sdk.cli._params import ParamError, split_params
from dpp_sdk.cli._session import READ_ONLY_ATTRIBUTE, OutputFormat, ReadOnlyWhen, Session
from dpp_sdk.contract import to_json, validate_model

if TYPE_CHECKING:
    from rich.console import RenderableType

__all__ = [
    "OUTPUT_CHOICE",
    "emit",
    "idempotency_option",
    "note",
    "output_option",
    "page_note",
    "page_options",
    "param_option",
    "pass_session",
    "read_only",
    "read_only_when",
]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
C = TypeVar("C", bound=click.Command)

OUTPUT_CHOICE = click.Choice(["table", "json"])
"""The values of ``-o/--output``, globally and on each command."""

pass_session = click.make_pass_decorator(Session)
"""Pass the invocation's :class:`Session` (made by the root group) as the first argument."""


# --------------------------------------------------------------------------- read-only


def read_only(command: C) -> C:
    """Mark ``command`` as one that only looks.

    A read-only command never resumes the operations another ``dpp`` process left
    unfinished; the next command that changes something does. Put it above the
    ``@group.command(...)`` line, so it marks the command click made.
    """
    return _mark(command, lambda _params: True)


def read_only_when(flag: str) -> Callable[[C], C]:
    """Mark a command as read-only on the calls where its boolean option ``flag`` is set.

    ``host maintenance enter --precheck`` only looks; without ``--precheck`` it changes the
    cluster. Decided when the command runs, from its parsed parameters.
    """
    return lambda command: _mark(command, lambda params: bool(params.get(flag)))


def _mark(command: C, when: ReadOnlyWhen) -> C:
    if not isinstance(command, click.Command):
        raise TypeError(
            f"read_only marks a click command, got {command!r}: put it above @group.command()"
        )
    setattr(command, READ_ONLY_ATTRIBUTE, when)
    return command


# --------------------------------------------------------------------------- options


def _set_output(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    session = ctx.find_object(Session)
    if value is not None and session is not None:
        output: OutputFormat = "json" if value == "json" else "table"
        session.output = output


def output_option(func: F) -> F:
    """``-o/--output [table|json]`` on a command; overrides the global ``-o``."""
    return click.option(
        "-o",
        "--output",
        type=OUTPUT_CHOICE,
        default=None,
        expose_value=False,
        callback=_set_output,
        help="Print a table (for people) or JSON (for scripts). Overrides the global -o.",
    )(func)


def _params_callback(
    _ctx: click.Context, param: click.Parameter, values: Sequence[str]
) -> Mapping[str, str]:
    try:
        return split_params(values, flag="--param")
    except ParamError as exc:
        raise click.BadParameter(str(exc), param=param) from exc


def param_option(help_text: str) -> Callable[[F], F]:
    """``--param KEY=VALUE``, repeatable, passed as ``params``: a dict of raw text values.

    Malformed pairs are a usage error naming each one; the values are typed later, by the
    service's parameter schema (:func:`dpp_sdk.cli._params.typed_params`).
    """
    return click.option(
        "--param",
        "params",
        metavar="KEY=VALUE",
        multiple=True,
        callback=_params_callback,
        help=help_text,
    )


def idempotency_option(
    help_text: str = "Repeat a request with the same key to get the same operation back.",
) -> Callable[[F], F]:
    """``--idempotency-key K``, passed as ``idempotency_key`` (None when not given)."""
    return click.option("--idempotency-key", default=None, help=help_text)


# --------------------------------------------------------------------------- printing


def emit(session: Session, document: T, view: Callable[[T], list[RenderableType]]) -> None:
    """Print ``document`` as JSON (``-o json``) or as the tables ``view`` makes of it, on the
    session's stdout (what provider code prints meanwhile goes to stderr)."""
    if session.json:
        validate_model(document)  # documents with a shipped schema must match it
        click.echo(to_json(document, indent=2), file=session.stdout)
    else:
        _render.print_renderables(view(document), file=session.stdout)


def note(session: Session, message: str) -> None:
    """A sentence for people before a table; JSON output stays pure."""
    if not session.json:
        click.echo(message, file=session.stdout)


# --------------------------------------------------------------------------- pages

DEFAULT_LIMIT = 100
"""How many items a listing shows unless told (the platform's default page)."""


def page_options(func: F) -> F:
    """``--limit N`` (default 100) and ``--all``; the command gets ``limit`` (None for all)."""

    func = click.option(
        "--all",
        "all_items",
        is_flag=True,
        help="Show every item, not just the first page.",
    )(func)
    return click.option(
        "--limit",
        type=click.IntRange(min=1, max=10_000),
        default=DEFAULT_LIMIT,
        show_default=True,
        help="Show at most this many items.",
    )(func)


def page_note(session: Session, shown: int, next_cursor: str | None) -> None:
    """Tell a person (on stderr, not in JSON) that a listing was cut at its page size."""
    if next_cursor is not None:
        click.echo(
            f"dpp: showing the first {shown}; pass --all (or a larger --limit) for more", err=True
        )
