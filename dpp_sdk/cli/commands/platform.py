"""``dpp platform``: the platform itself (``esxcli vsan datapersistence list``)."""

from __future__ import annotations

import click

from dpp_sdk.cli import _render
from dpp_sdk.cli._options import emit, output_option, pass_session, read_only
from dpp_sdk.cli._session import Session

__all__ = ["platform_group"]


@click.group("platform")
def platform_group() -> None:
    """The platform itself (esxcli vsan datapersistence list)."""


@read_only
@platform_group.command("status")
@output_option
@pass_session
def platform_status(session: Session) -> None:
    """Show the platform's settings, cluster size, capacity and warnings.

    \b
    Example:
      dpp platform status
      dpp platform status -o json
    """
    emit(session, session.platform().status(), _render.status_view)


@platform_group.command("recover")
@output_option
@pass_session
def platform_recover(session: Session) -> None:
    """Resume, or fail, every operation a killed dpp left unfinished.

    Other commands resume only what was left on the instance they change. An operation is
    resumed at most twice: if its provider keeps ending or hanging the process, it is failed
    and its instance left 'failed', for 'dpp instance remove NAME --force'.

    \b
    Example:
      dpp platform recover
    """
    ended = session.platform().recover()
    emit(session, ended, _render.operations_table)
