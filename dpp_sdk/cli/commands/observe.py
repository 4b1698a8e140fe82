"""Commands that look at the platform: ``operation list|show``, ``health``, ``resource list``,
``logs``, ``audit`` and ``events``. Every one of them is read-only."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, cast

import click

from dpp_sdk.cli import _render
from dpp_sdk.cli._errors import CliError
from dpp_sdk.cli._logs import follow, tail
from dpp_sdk.cli._options import (
    emit,
    output_option,
    page_note,
    page_options,
    pass_session,
    read_only,
)
from dpp_sdk.cli._session import Session

if TYPE_CHECKING:
    from dpp_sdk.client import PlatformClient

__all__ = [
    "FOLLOW_INTERVAL",
    "audit_command",
    "events_command",
    "health_command",
    "logs_command",
    "operation_group",
    "resource_group",
]


FOLLOW_INTERVAL = 0.5
"""Seconds between two reads of the log by ``dpp logs -f`` through a gateway."""

# --------------------------------------------------------------------------- operations


@click.group("operation")
def operation_group() -> None:
    """Operation records: what each mutating request did."""


@read_only
@operation_group.command("list")
@click.option("--target", default=None, help="Only operations on this target (an instance).")
@page_options
@output_option
@pass_session
def operation_list(session: Session, target: str | None, limit: int, all_items: bool) -> None:
    """List operations: id, kind, target, state.

    \b
    Example:
      dpp operation list --target orders
    """
    operations = session.platform().list_operations(
        target=target, limit=None if all_items else limit
    )
    emit(session, operations, _render.operations_table)
    page_note(session, len(operations), operations.next_cursor)


@read_only
@operation_group.command("show")
@click.argument("operation_id")
@output_option
@pass_session
def operation_show(session: Session, operation_id: str) -> None:
    """Show one operation, with its error (and traceback) if it failed.

    \b
    Example:
      dpp operation show op-0001
    """
    emit(session, session.platform().get_operation(operation_id), _render.operation_view)


# --------------------------------------------------------------------------- health, resources


@read_only
@click.command("health")
@click.argument("name", required=False)
@output_option
@pass_session
def health_command(session: Session, name: str | None) -> None:
    """Show one instance's health checks, or the cluster summary without NAME.

    Mirrors esxcli vsan datapersistence health get. The exit status is 0 whatever the
    health; scripts read "status" from -o json.

    \b
    Example:
      dpp health
      dpp health orders -o json
    """
    platform = session.platform()
    if name is None:
        emit(session, platform.cluster_health(), _render.cluster_health_view)
    else:
        emit(session, platform.instance_health(name), _render.instance_health_view)


@click.group("resource")
def resource_group() -> None:
    """Capacity accounting (esxcli vsan datapersistence resource list)."""


@read_only
@resource_group.command("list")
@output_option
@pass_session
def resource_list(session: Session) -> None:
    """Show raw capacity, reservations and quota, per disk and per instance.

    \b
    Example:
      dpp resource list
      dpp resource list -o json
    """
    emit(session, session.platform().resources(), _render.resources_view)


# --------------------------------------------------------------------------- logs, audit, events


@read_only
@click.command("logs")
@click.option("-f", "--follow", "following", is_flag=True, help="Keep printing new lines.")
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=0),
    default=None,
    help="Print only the last N lines [default: all].",
)
@pass_session
def logs_command(session: Session, following: bool, lines: int | None) -> None:
    """Print the platform log; with -f keep following it until Ctrl-C.

    Mirrors tail -f .../datapersistence.log. With --url, the log of the gateway's platform
    (with -f, asked for every half second).

    \b
    Example:
      dpp logs -n 50
      dpp logs -f
    """
    if session.remote:
        _remote_logs(session, following, lines)
        return
    path = session.platform().log_path
    if path is None:
        raise CliError("this platform keeps no log file (in-memory state)")
    # Release the platform before a possibly endless follow, so other commands can run.
    session.close()
    text, offset = tail(path, lines)
    for line in text:
        click.echo(line, nl=False)
    if not following:
        return
    try:
        follow(path, lambda chunk: click.echo(chunk, nl=False), offset=offset)
    except KeyboardInterrupt:
        return


def _remote_logs(session: Session, following: bool, lines: int | None) -> None:
    """``dpp logs`` through a gateway: the log's tail, then (with -f) what is written next,
    asked for every half second."""
    client = cast("PlatformClient", session.platform())
    text, offset = client.read_log(lines=lines)
    click.echo(text, nl=False)
    try:
        while following:
            time.sleep(FOLLOW_INTERVAL)
            text, offset = client.read_log(offset=offset)
            click.echo(text, nl=False)
    except KeyboardInterrupt:
        return


@read_only
@click.command("audit")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the last N records.")
@output_option
@pass_session
def audit_command(session: Session, limit: int | None) -> None:
    """Show the audit trail: principal, action, target, outcome and time of every change.

    \b
    Example:
      dpp audit --limit 20
    """
    emit(session, session.platform().audit(limit=limit), _render.audit_table)


@read_only
@click.command("events")
@click.option("--since", type=click.IntRange(min=0), default=0, help="Only events after this seq.")
@click.option(
    "--limit", type=click.IntRange(min=1, max=10_000), default=None, help="At most N events."
)
@output_option
@pass_session
def events_command(session: Session, since: int, limit: int | None) -> None:
    """Show platform events: failures, capacity warnings, repairs.

    \b
    Example:
      dpp events --since 10 -o json
    """
    emit(session, session.platform().events(since=since, limit=limit), _render.events_table)
