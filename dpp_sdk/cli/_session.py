"""The state one ``dpp`` invocation carries: where the platform lives and how to print.

The platform is opened lazily, on the first command that needs it, so ``dpp --help`` (or a
usage error) never opens or creates a state directory. Opening it for a command that changes
something first resumes the operations a killed ``dpp`` left unfinished; a command marked
read-only where it is declared (:func:`dpp_sdk.cli._options.read_only`) leaves them alone.

From the moment the platform opens until the session closes, stdout belongs to the command:
whatever other code (a provider, at import or in its verbs) prints to ``sys.stdout`` goes to
stderr, and the command prints its result to :attr:`Session.stdout`, the real one, so
``-o json`` output always parses.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TextIO

import click

from dpp_sdk.cli._errors import CliError, format_error

if TYPE_CHECKING:
    from dpp_sdk.platform._api import PlatformAPI

__all__ = [
    "READ_ONLY_ATTRIBUTE",
    "OutputFormat",
    "ReadOnlyWhen",
    "Session",
    "default_state_dir",
    "is_read_only",
]

OutputFormat = Literal["table", "json"]


def default_state_dir() -> Path:
    """The per-user state directory used when neither ``--state-dir`` nor ``DPP_STATE_DIR``
    is given: ``platformdirs.user_data_dir("dpp-sdk")/state``."""
    import platformdirs

    return Path(platformdirs.user_data_dir("dpp-sdk")) / "state"


ReadOnlyWhen = Callable[[Mapping[str, Any]], bool]
"""Tells, from the parameters of one call of a command, whether that call only looks."""

READ_ONLY_ATTRIBUTE = "dpp_read_only_when"
"""The attribute of a click command holding its :data:`ReadOnlyWhen`. Set where the command
is declared, by :func:`dpp_sdk.cli._options.read_only` or ``read_only_when``; a command
without it changes something."""


def is_read_only(ctx: click.Context | None) -> bool:
    """Whether the command running in ``ctx`` only looks, on this call."""
    if ctx is None:
        return False
    when: ReadOnlyWhen | None = getattr(ctx.command, READ_ONLY_ATTRIBUTE, None)
    return when is not None and when(ctx.params)


def _put_cwd_on_path() -> None:
    # Providers are registered as "module:Class" and imported again on every later command.
    # A console script does not have the working directory on sys.path (``python -m`` does),
    # so add it, as uvicorn and gunicorn do for their "module:app" references.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.insert(0, cwd)


class Session:
    """Options of one invocation, and the platform it opened (if any)."""

    def __init__(
        self,
        *,
        state_dir: Path | None,
        config_path: Path | None,
        output: OutputFormat = "table",
        operation_timeout: float = 600.0,
        url: str | None = None,
        token: str | None = None,
    ) -> None:
        self.state_dir = state_dir
        self.url = url
        self.token = token
        self.config_path = config_path
        self.operation_timeout = operation_timeout
        self.output: OutputFormat = output
        self._platform: PlatformAPI | None = None
        self._stdout: TextIO | None = None  # the real stdout while other code's is diverted

    @property
    def json(self) -> bool:
        """True when results are printed as JSON."""
        return self.output == "json"

    @property
    def stdout(self) -> TextIO:
        """Where the command prints its result: the real stdout, also while what other code
        prints to ``sys.stdout`` goes to stderr."""
        return self._stdout if self._stdout is not None else sys.stdout

    def _divert_stdout(self) -> None:
        """Until :meth:`close`, send what other code prints to ``sys.stdout`` to stderr."""
        if self._stdout is None:
            self._stdout, sys.stdout = sys.stdout, sys.stderr

    @property
    def remote(self) -> bool:
        """True when the commands go to a gateway (``--url``) instead of a state directory."""
        return self.url is not None

    def local_only(self, command: str) -> None:
        """Refuse ``--url`` for ``command``, which works on a local state directory only."""
        if self.url is not None:
            raise click.UsageError(
                f"'dpp {command}' works on a local state directory and does not take --url "
                "(nor DPP_URL); run it without them, on the machine that has the state "
                "directory"
            )

    def platform(self) -> PlatformAPI:
        """The platform, opened on first use: the gateway's, through
        :class:`dpp_sdk.client.PlatformClient`, with ``--url``; otherwise the in-process
        :class:`~dpp_sdk.platform.Platform` on the state directory. Both are a
        :class:`~dpp_sdk.platform._api.PlatformAPI`, so every command runs unchanged."""
        if self._platform is None and self.url is not None:
            from dpp_sdk.client import PlatformClient  # only with --url: keeps dpp light

            client: PlatformAPI = PlatformClient(self.url, self.token)
            self._platform = client
            ctx = click.get_current_context(silent=True)
            if not is_read_only(ctx):
                self._resume(client, ctx)
        if self._platform is None:
            self._divert_stdout()  # provider modules may print when imported
            from dpp_sdk.platform import ConfigError, Platform, load_config

            config = None
            if self.config_path is not None:
                try:
                    config = load_config(self.config_path)
                except ConfigError as exc:
                    raise CliError(format_error(exc)) from exc
            _put_cwd_on_path()
            state_dir = self.state_dir if self.state_dir is not None else default_state_dir()
            # Typed as the protocol, so mypy checks that Platform satisfies it.
            platform: PlatformAPI = Platform.open(
                state_dir,
                config=config,
                operation_timeout=self.operation_timeout,
                recover=False,
            )
            self._platform = platform
            ctx = click.get_current_context(silent=True)
            if not is_read_only(ctx):
                self._resume(platform, ctx)
        return self._platform

    def _resume(self, platform: PlatformAPI, ctx: click.Context | None) -> None:
        """Resume what a killed ``dpp`` left unfinished on the instance this command changes
        (all of it for ``dpp platform recover``), saying so before waiting on it; others' are
        only pointed out, so a broken provider elsewhere never holds this command hostage."""
        # ``platform serve`` recovers everything too, before serving its first request.
        everything = ctx is not None and ctx.command_path.endswith(
            ("platform recover", "platform serve")
        )
        # A forced removal takes the instance over; resuming its operation first would run
        # the very provider code it is meant to get around.
        forced = ctx is not None and bool(ctx.params.get("force"))
        target = None if ctx is None or forced else ctx.params.get("name")
        interrupted = platform.interrupted_operations()
        mine = [op for op in interrupted if everything or op.target == target]
        for op in mine:
            click.echo(
                f"dpp: resuming operation {op.id} ({op.kind} {op.target}) left unfinished by a "
                "process that ended",
                err=True,
            )
        if everything:
            return  # the command itself recovers, and prints what it did
        others = sorted({op.target for op in interrupted if op not in mine})
        if others:
            click.echo(
                f"dpp: interrupted operations on {', '.join(others)} are left for "
                "'dpp platform recover' (or the next command on that instance)",
                err=True,
            )
        # Locally, recovering nothing still finishes what a crash left in the byte store; a
        # gateway did that when it started, so it is asked only when there is something.
        if mine or (not others and self.url is None):
            platform.recover(targets={op.target for op in mine})

    def close(self) -> None:
        """Close the platform if it was opened, and give stdout back. Safe to call more than
        once."""
        platform, self._platform = self._platform, None
        try:
            if platform is not None:
                platform.close()
        finally:
            if self._stdout is not None:
                sys.stdout, self._stdout = self._stdout, None
