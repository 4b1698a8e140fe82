"""``dpp service``: the service catalog (``Get-VsanDataPersistenceService``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from dpp_sdk.cli import _render
from dpp_sdk.cli._options import emit, output_option, pass_session, read_only
from dpp_sdk.cli._session import Session

if TYPE_CHECKING:
    from dpp_sdk.platform import ServiceInfo

__all__ = ["service_group"]


@click.group("service")
def service_group() -> None:
    """The service catalog (Get-VsanDataPersistenceService)."""


def _emit_entry(session: Session, info: ServiceInfo) -> None:
    """Print the catalog entry a change left, as one row of ``service list``."""
    emit(session, info, lambda s: _render.services_table([s]))


@read_only
@service_group.command("list")
@output_option
@pass_session
def service_list(session: Session) -> None:
    """List registered services: version, vendor, enabled, instance count.

    \b
    Example:
      dpp service list
    """
    emit(session, session.platform().list_services(), _render.services_table)


@read_only
@service_group.command("show")
@click.argument("name")
@output_option
@pass_session
def service_show(session: Session, name: str) -> None:
    """Show one service: its manifest's plans, policies and registered versions.

    \b
    Example:
      dpp service show minio
    """
    emit(session, session.platform().get_service(name), _render.service_view)


@service_group.command("register")
@click.argument("provider")
@output_option
@pass_session
def service_register(session: Session, provider: str) -> None:
    """Register a provider: a MODULE:CLASS reference or a directory with dpp-provider.toml.

    The provider's manifest is validated; an invalid one is refused with every problem
    listed. A MODULE is imported with the current directory on the import path. Registering
    a new version of a service makes it the active one.

    \b
    Example:
      dpp service register mypackage.provider:MyProvider
      dpp service register samples/minio
    """
    _emit_entry(session, session.platform().register_service(provider))


@service_group.command("enable")
@click.argument("name")
@output_option
@pass_session
def service_enable(session: Session, name: str) -> None:
    """Enable a service so that new instances of it can be created.

    \b
    Example:
      dpp service enable minio
    """
    _emit_entry(session, session.platform().enable_service(name))


@service_group.command("activate")
@click.argument("name")
@click.argument("version")
@output_option
@pass_session
def service_activate(session: Session, name: str, version: str) -> None:
    """Make a registered VERSION of a service the active one (new instances use it).

    \b
    Example:
      dpp service activate minio 1.0.0
    """
    _emit_entry(session, session.platform().activate_version(name, version))


@service_group.command("disable")
@click.argument("name")
@output_option
@pass_session
def service_disable(session: Session, name: str) -> None:
    """Disable a service: existing instances keep running, new ones are refused.

    \b
    Example:
      dpp service disable minio
    """
    _emit_entry(session, session.platform().disable_service(name))
