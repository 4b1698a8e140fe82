"""The ``dpp`` command line: the seed's PowerCLI and esxcli commands on the mock platform.

This module holds the root group (its error policy and global options) and :func:`run`; the
commands live in :mod:`dpp_sdk.cli.commands`, one module per area, and are added here.

Every command opens the platform on the state directory when it runs (never at import or for
``--help``), prints a table for people or, with ``-o json``, the document for scripts, and
exits 0. A failure prints one line, ``dpp: error: <message>``, on stderr and exits 1; click's
usage errors exit 2. See ``docs/cli.md``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import click

from dpp_sdk._version import __version__
from dpp_sdk.cli._errors import EXIT_ERROR, CliError, error_line, format_error
from dpp_sdk.cli._options import OUTPUT_CHOICE
from dpp_sdk.cli._session import Session
from dpp_sdk.cli.commands import clock, conformance, hardware, instance, observe, platform, service
from dpp_sdk.contract import DppError

__all__ = ["cli", "run"]


class _Seconds(click.FloatRange):
    """A finite number of seconds within the range: ``nan`` and ``inf``, which
    ``click.FloatRange`` lets through, are refused as usage errors."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        seconds = super().convert(value, param, ctx)
        if not math.isfinite(seconds):
            self.fail(f"{value!r} is not a finite number of seconds.", param, ctx)
        return seconds


def _state_dir(ctx: click.Context, param: click.Parameter, value: str | None) -> Path | None:
    """``--state-dir`` as a Path; an empty one is refused rather than taken for ``.``."""
    if value == "":
        raise click.BadParameter(
            "an empty path is not a state directory (it would be the working directory); "
            "give a directory, or leave the option out for the default",
            ctx=ctx,
            param=param,
        )
    if value is None and os.environ.get("DPP_STATE_DIR") == "":
        raise click.BadParameter(
            "DPP_STATE_DIR is set but empty; set it to a directory, or unset it for the default",
            ctx=ctx,
            param=param,
        )
    return None if value is None else Path(value)


def _url(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """``--url``: the base URL of a gateway (``/v1`` at its end is dropped), or None (an
    empty DPP_URL counts as unset)."""
    if not value:
        return None
    if not value.startswith(("http://", "https://")) or value in ("http://", "https://"):
        raise click.BadParameter(
            f"{value!r} is not the URL of a gateway (http://HOST:PORT or https://...)",
            ctx=ctx,
            param=param,
        )
    return value.rstrip("/").removesuffix("/v1")  # the URL 'platform serve' prints ends in /v1


_LOCAL_OPTIONS = (
    ("state_dir", "--state-dir"),
    ("config_path", "--config"),
    ("operation_timeout", "--operation-timeout"),
)


def _check_remote(ctx: click.Context, url: str | None, token: str | None) -> None:
    """Usage errors of the remote switch: a token with no URL to send it to, and options of a
    local state directory given on the command line together with --url."""
    if url is None:
        if token is not None:
            source = ctx.get_parameter_source("token")
            where = "--token" if source is click.core.ParameterSource.COMMANDLINE else "DPP_TOKEN"
            raise click.UsageError(
                f"{where} is the token of a gateway: give its URL with --url (or DPP_URL), "
                "or leave the token out to work on a local state directory",
                ctx=ctx,
            )
        return
    for name, flag in _LOCAL_OPTIONS:
        if ctx.get_parameter_source(name) is click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError(
                f"{flag} is for a local state directory and does not go with --url: the "
                "gateway's platform has its own",
                ctx=ctx,
            )


class _DppGroup(click.Group):
    """The root group: every failure becomes one line, ``dpp: error: <message>``.

    dpp-sdk errors exit 1 with their message; usage errors exit 2 with click's message and a
    pointer to ``--help``; anything unexpected (a bug in a provider, say) exits 1 naming the
    exception, with the traceback only when ``DPP_DEBUG=1``.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (DppError, OSError) as exc:
            raise CliError(_remote_hint(ctx, exc, format_error(exc))) from exc
        except click.Abort:
            raise CliError("aborted; nothing more was done") from None
        except (click.ClickException, click.exceptions.Exit):
            raise
        except Exception as exc:
            if os.environ.get("DPP_DEBUG"):
                raise
            raise CliError(
                f"unexpected {type(exc).__name__}: {exc} (set DPP_DEBUG=1 to see the traceback)"
            ) from exc


def _remote_hint(ctx: click.Context, exc: BaseException, message: str) -> str:
    """``message``, saying which gateway and what to check when the error came from one."""
    session = ctx.find_object(Session)
    if session is None or session.url is None:
        return message
    if getattr(exc, "status", None) == 401:
        return f"{message} (check --token or DPP_TOKEN)"
    if isinstance(exc, OSError) and not isinstance(exc, DppError):
        return f"cannot reach the gateway at {session.url}: {type(exc).__name__}: {message}"
    return message


@click.group(
    cls=_DppGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="dpp")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False),
    callback=_state_dir,
    envvar="DPP_STATE_DIR",
    show_envvar=True,
    default=None,
    help="The platform's state directory (created if missing). "
    "[default: platformdirs user_data_dir('dpp-sdk')/state]",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    envvar="DPP_CONFIG",
    show_envvar=True,
    default=None,
    help="Cluster configuration (INI) used when the state directory is new.",
)
@click.option(
    "--operation-timeout",
    type=_Seconds(min=1.0),
    envvar="DPP_OPERATION_TIMEOUT",
    show_envvar=True,
    default=600.0,
    show_default=True,
    help="Seconds an operation may keep retrying a provider's temporary errors.",
)
@click.option(
    "--url",
    envvar="DPP_URL",
    show_envvar=True,
    default=None,
    callback=_url,
    help="Work on the platform a gateway serves (dpp platform serve), e.g. "
    "http://127.0.0.1:8080, instead of a local state directory.",
)
@click.option(
    "--token",
    envvar="DPP_TOKEN",
    show_envvar=True,
    default=None,
    help="The gateway's bearer token (with --url).",
)
@click.option(
    "-o",
    "--output",
    type=OUTPUT_CHOICE,
    default="table",
    show_default=True,
    help="Print tables (for people) or JSON (for scripts).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    *,
    state_dir: Path | None,
    config_path: Path | None,
    operation_timeout: float,
    url: str | None,
    token: str | None,
    output: str,
) -> None:
    """dpp: run service providers on a local mock Data Persistence Platform.

    The commands mirror the seed's PowerCLI and esxcli commands. The platform lives in a
    state directory and is opened only when a command runs; with --url (or DPP_URL) and
    --token (or DPP_TOKEN) every command works on a gateway's platform instead.

    \b
    Example:
      dpp service register samples/minio
      dpp instance create --service minio --name store-1 --capacity-gb 100
      dpp instance list -o json
      dpp --url http://127.0.0.1:8080 --token "$TOKEN" instance list
    """
    _check_remote(ctx, url, token or None)
    session = Session(
        state_dir=state_dir,
        config_path=config_path,
        output="json" if output == "json" else "table",
        operation_timeout=operation_timeout,
        url=url,
        token=token or None,
    )
    ctx.obj = session
    ctx.call_on_close(session.close)


for _command in (
    platform.platform_group,
    service.service_group,
    instance.instance_group,
    observe.operation_group,
    observe.health_command,
    observe.resource_group,
    observe.logs_command,
    observe.audit_command,
    observe.events_command,
    hardware.host_group,
    hardware.fault_group,
    clock.clock_group,
    conformance.conformance_group,
):
    cli.add_command(_command)


def run(args: Sequence[str] | None = None) -> int:
    """Run ``dpp`` with ``args`` (default: the command line); return the exit status.

    Unlike click's own standalone mode, every failure is ONE line on stderr: usage errors
    (status 2) say what was wrong and point to ``--help``.
    """
    try:
        status = cli.main(args=args, prog_name="dpp", standalone_mode=False)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"dpp: error: {error_line(exc.format_message())}{hint}", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("dpp: error: aborted; nothing more was done", err=True)
        return EXIT_ERROR
    except click.exceptions.Exit as exc:
        return exc.exit_code
    # Without standalone mode, click returns the status of a command that called ctx.exit(N).
    return status if isinstance(status, int) else 0
