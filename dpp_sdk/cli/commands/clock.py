"""``dpp clock`` (show, advance): the platform's simulated time and its repair timers."""

from __future__ import annotations

import re

import click

from dpp_sdk.cli import _render
from dpp_sdk.cli._options import emit, output_option, pass_session, read_only
from dpp_sdk.cli._session import Session

__all__ = ["clock_group", "parse_duration"]

_UNITS = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_DURATION = re.compile(r"(?:\d+(?:\.\d+)?[dhms])+")


def parse_duration(text: str) -> float:
    """Seconds in a duration such as ``61m``, ``1h30m``, ``2d``, ``90s`` or ``45`` (seconds).

    Raises ``click.BadParameter`` naming the value when it is not one."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        if not _DURATION.fullmatch(value):
            raise click.BadParameter(
                f"{text!r} is not a duration; write a number of seconds or units d, h, m, s "
                "such as 61m, 1h30m or 2d"
            ) from None
        seconds = sum(float(n) * _UNITS[unit] for n, unit in _PART.findall(value))
    if not seconds > 0:
        raise click.BadParameter(f"{text!r} must be longer than zero")
    return seconds


def _duration_argument(ctx: click.Context, param: click.Parameter, value: str) -> float:
    """Click callback: the DURATION argument in seconds."""
    del ctx, param
    return parse_duration(value)


@click.group("clock")
def clock_group() -> None:
    """The platform's simulated time: show it, or jump ahead so timers fire.

    Time on the platform is real time plus however far it was advanced, kept in the state
    directory. Timers such as a failed host's object repair timer fire when the clock
    passes them: at once with ``dpp clock advance``, otherwise at the next command that
    changes something or checks health.
    """


@read_only
@clock_group.command("show")
@output_option
@pass_session
def clock_show(session: Session) -> None:
    """Print the platform's time, how far it is ahead of real time, and the repair timers.

    \b
    Example:
      dpp clock show
    """
    emit(session, session.platform().clock_status(), _render.clock_view)


@clock_group.command("advance")
@click.argument("duration", metavar="DURATION", callback=_duration_argument)
@output_option
@pass_session
def clock_advance(session: Session, duration: float) -> None:
    """Move the clock forward by DURATION and fire every timer that falls due.

    DURATION is a number of seconds or a sum of units d, h, m, s: 90s, 61m, 1h30m, 2d.
    A failed host whose object repair timer expires has its absent components rebuilt
    elsewhere, and its providers are told its host-local data is lost.

    \b
    Example:
      dpp fault inject host-failure esx-02
      dpp clock advance 61m
    """
    emit(session, session.platform().advance(duration), _render.clock_view)
