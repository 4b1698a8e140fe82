"""``dpp platform``: the platform itself (``esxcli vsan datapersistence list``)."""

from __future__ import annotations

import click

from dpp_sdk.cli import _render
from dpp_sdk.cli._errors import CliError
from dpp_sdk.cli._options import emit, output_option, pass_session, read_only
from dpp_sdk.cli._session import Session, default_state_dir

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


@platform_group.command("serve")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on (loopback by default; 0.0.0.0 exposes the platform).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on (0: any free port, printed at start).",
)
@pass_session
def platform_serve(session: Session, host: str, port: int) -> None:
    """Serve the platform over HTTP (the /v1 REST API) until Ctrl+C or SIGTERM.

    Every route needs the admin bearer token: DPP_ADMIN_TOKEN when set, otherwise a token
    generated into the state directory (its path is printed). Other dpp commands reach it
    with --url and --token; this one works on a local state directory and takes no --url.
    See docs/gateway.md.

    \b
    Example:
      dpp platform serve --port 8080
      curl -H "Authorization: Bearer $(cat STATE_DIR/gateway-admin-token)" \\
        http://127.0.0.1:8080/v1/instances
    """
    session.local_only("platform serve")
    try:
        from dpp_sdk.gateway import serve
    except ImportError as exc:
        raise CliError(
            f"the gateway needs the 'gateway' extra ({exc.name} is missing): "
            "pip install 'dpp-sdk[gateway]'"
        ) from exc
    platform = session.platform()
    state_dir = session.state_dir if session.state_dir is not None else default_state_dir()

    def echo(line: str) -> None:
        click.echo(line, file=session.stdout)
        session.stdout.flush()

    serve(platform, state_dir=state_dir, host=host, port=port, echo=echo)
