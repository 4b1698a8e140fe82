"""``dpp host`` (list, maintenance enter|exit) and ``dpp fault`` (inject|clear)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Literal

import attrs
import click

from dpp_sdk.cli import _render
from dpp_sdk.cli._options import (
    emit,
    note,
    output_option,
    pass_session,
    read_only,
    read_only_when,
)
from dpp_sdk.cli._session import Session
from dpp_sdk.contract import MaintenanceMode

if TYPE_CHECKING:
    from dpp_sdk.contract import HostInfo
    from dpp_sdk.platform._api import PlatformAPI

__all__ = ["FAULT_KINDS", "FaultKind", "fault_group", "host_group"]


def _host(session: Session, name: str) -> HostInfo:
    """Host ``name`` as it is now."""
    return session.platform().get_host(name)


def _report_host(session: Session, host_name: str, message: str) -> None:
    """Say what was done to a host, then show the host as it is now."""
    note(session, message)
    emit(session, _host(session, host_name), _render.host_view)


# --------------------------------------------------------------------------- hosts


@click.group("host")
def host_group() -> None:
    """Hosts of the cluster, and maintenance mode."""


@read_only
@host_group.command("list")
@output_option
@pass_session
def host_list(session: Session) -> None:
    """List hosts: fault domain, state, capacity and disks.

    \b
    Example:
      dpp host list
    """
    emit(session, session.platform().list_hosts(), _render.hosts_table)


@host_group.group("maintenance")
def maintenance_group() -> None:
    """Put hosts into maintenance mode and take them out."""


@read_only_when("precheck")
@maintenance_group.command("enter")
@click.argument("host_name", metavar="HOST")
@click.option(
    "--mode",
    type=click.Choice([mode.value for mode in MaintenanceMode]),
    default=MaintenanceMode.ENSURE_ACCESSIBILITY.value,
    show_default=True,
    help="What happens to data on the host (vSAN's data-migration modes).",
)
@click.option("--precheck", is_flag=True, help="Only predict the impact; change nothing.")
@click.option(
    "--disk", default=None, help="Only this disk of HOST (its components go; members keep running)."
)
@output_option
@pass_session
def maintenance_enter(
    session: Session, host_name: str, mode: str, precheck: bool, disk: str | None
) -> None:
    """Put HOST (or one --disk of it) into maintenance; affected providers may veto.

    With --precheck, print which instances would become inaccessible, run with reduced
    availability or be rebuilt, how many bytes would move and which providers would veto,
    without changing anything (nor resuming operations another dpp left unfinished). A veto
    fails the command, naming each instance, reason and message.

    \b
    Example:
      dpp host maintenance enter esx-02 --mode evacuate-all --precheck
      dpp host maintenance enter esx-02 --mode ensure-accessibility
      dpp host maintenance enter esx-02 --disk cap-0 --mode evacuate-all
    """
    platform = session.platform()
    maintenance_mode = MaintenanceMode(mode)
    if precheck:
        result = platform.maintenance_precheck(host_name, maintenance_mode, disk=disk)
        emit(session, result, _render.precheck_view)
    else:
        entered = platform.enter_maintenance(host_name, maintenance_mode, disk=disk)
        emit(session, entered, _render.maintenance_result_view)


@maintenance_group.command("exit")
@click.argument("host_name", metavar="HOST")
@click.option("--disk", default=None, help="Only this disk of HOST.")
@output_option
@pass_session
def maintenance_exit(session: Session, host_name: str, disk: str | None) -> None:
    """Take HOST (or one --disk of it) out of maintenance and print the host.

    \b
    Example:
      dpp host maintenance exit esx-02
      dpp host maintenance exit esx-02 --disk cap-0
    """
    session.platform().exit_maintenance(host_name, disk=disk)
    where = host_name if disk is None else f"{host_name} {disk}"
    _report_host(session, host_name, f"{where} left maintenance.")


# --------------------------------------------------------------------------- faults

FaultAction = Callable[["PlatformAPI", tuple[str, ...]], None]
"""Makes or mends a fault at a place: ``(HOST,)`` or ``(HOST, DISK)``."""


@attrs.frozen(kw_only=True)
class FaultKind:
    """A hardware fault: ``dpp fault inject NAME ...`` makes it, ``dpp fault clear NAME ...``
    mends it. One entry of :data:`FAULT_KINDS` gives both commands."""

    name: str
    """The word on the command line, e.g. ``host-failure``."""
    on_disk: bool
    """Whether the fault is on a DISK of the HOST (the commands then take both)."""
    inject_help: str
    """The first line of ``fault inject NAME --help``."""
    clear_help: str
    """The first line of ``fault clear NAME --help``."""
    inject: FaultAction
    clear: FaultAction


FAULT_KINDS = (
    FaultKind(
        name="host-failure",
        on_disk=False,
        inject_help="Fail HOST: its members become unreachable, its components absent.",
        clear_help="Recover HOST from an injected failure.",
        inject=lambda platform, place: platform.inject_host_failure(*place),
        clear=lambda platform, place: platform.clear_host_failure(*place),
    ),
    FaultKind(
        name="disk-failure",
        on_disk=True,
        inject_help="Fail DISK of HOST: the components on it are lost.",
        clear_help="Replace failed DISK of HOST with an empty healthy one.",
        inject=lambda platform, place: platform.inject_disk_failure(*place),
        clear=lambda platform, place: platform.clear_disk_failure(*place),
    ),
)


def _fault_command(kind: FaultKind, verb: Literal["inject", "clear"]) -> click.Command:
    """``dpp fault VERB KIND HOST [DISK]``: make or mend ``kind``, then print the host."""
    if verb == "inject":
        act, summary, done = kind.inject, kind.inject_help, "Injected"
    else:
        act, summary, done = kind.clear, kind.clear_help, "Cleared"
    example = "esx-02 cap-0" if kind.on_disk else "esx-02"

    def run(session: Session, host_name: str, disk: str | None = None) -> None:
        place = (host_name,) if disk is None else (host_name, disk)
        act(session.platform(), place)
        message = f"{done} {kind.name.replace('-', ' ')} on {' '.join(place)}."
        _report_host(session, host_name, message)

    callback = output_option(pass_session(run))
    if kind.on_disk:
        callback = click.argument("disk")(callback)
    callback = click.argument("host_name", metavar="HOST")(callback)
    help_text = f"{summary}\n\n\b\nExample:\n  dpp fault {verb} {kind.name} {example}"
    return click.command(kind.name, help=help_text)(callback)


@click.group("fault")
def fault_group() -> None:
    """Inject and clear hardware faults; affected providers are notified."""


@fault_group.group("inject")
def fault_inject_group() -> None:
    """Fail a host or a disk."""


@fault_group.group("clear", invoke_without_command=True)
@output_option
@click.pass_context
def fault_clear_group(ctx: click.Context) -> None:
    """Clear faults: all of them, or one host or disk failure.

    \b
    Example:
      dpp fault clear
      dpp fault clear host-failure esx-02
      dpp fault clear disk-failure esx-02 cap-0
    """
    if ctx.invoked_subcommand is not None:
        return
    session = ctx.find_object(Session)
    assert session is not None  # set by the root group
    session.platform().clear_faults()
    note(session, "Cleared all faults.")
    emit(session, session.platform().list_hosts(), _render.hosts_table)


for _kind in FAULT_KINDS:
    fault_inject_group.add_command(_fault_command(_kind, "inject"))
    fault_clear_group.add_command(_fault_command(_kind, "clear"))
