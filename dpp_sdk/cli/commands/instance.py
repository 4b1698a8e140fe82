"""``dpp instance``: service instances (``New-``, ``Set-``, ``Get-``, ``Remove-``
``VsanDataPersistenceServiceInstance``)."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import click

from dpp_sdk.cli import _render
from dpp_sdk.cli._errors import CliError
from dpp_sdk.cli._options import (
    emit,
    idempotency_option,
    output_option,
    page_note,
    page_options,
    param_option,
    pass_session,
    read_only,
)
from dpp_sdk.cli._params import typed_params
from dpp_sdk.cli._session import Session
from dpp_sdk.contract import DppError

if TYPE_CHECKING:
    from dpp_sdk.contract import Operation
    from dpp_sdk.platform._api import PlatformAPI

__all__ = ["instance_group"]


@click.group("instance")
def instance_group() -> None:
    """Service instances (New-, Set-, Get-, Remove-VsanDataPersistenceServiceInstance)."""


def _emit_operation(session: Session, operation: Operation) -> None:
    emit(session, operation, lambda o: _render.operations_table([o]))


def _parameter_schema(platform: PlatformAPI, service: str) -> Mapping[str, Any] | None:
    """The active parameter schema of ``service``, or None when it is unknown."""
    try:
        return platform.get_service(service).active.manifest.parameters_schema
    except DppError:
        return None


def _stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


@instance_group.command("create")
@click.option("--service", "service_name", required=True, help="The service to instantiate.")
@click.option("--name", required=True, help="The new instance's name.")
@click.option(
    "--capacity-gb",
    type=click.IntRange(min=1),
    default=None,
    help="Capacity in GB [default: the plan's minimum].",
)
@param_option("A service parameter, repeatable. VALUE is JSON if it parses (3, true, [1]).")
@click.option("--plan", default=None, help="The plan [default: the service's first plan].")
@click.option("--policy", default=None, help="The storage policy [default: the service's default].")
@idempotency_option()
@output_option
@pass_session
def instance_create(
    session: Session,
    *,
    service_name: str,
    name: str,
    capacity_gb: int | None,
    params: dict[str, str],
    plan: str | None,
    policy: str | None,
    idempotency_key: str | None,
) -> None:
    """Create an instance of a service and print the operation.

    Parameters are validated against the service's schema and capacity against the plan
    and the quota before anything is allocated; every problem is reported at once.

    \b
    Example:
      dpp instance create --service mongodb --name orders --capacity-gb 1000 \\
          --param replicaCount=3 --policy vsan-sna
    """
    platform = session.platform()
    operation = platform.create_instance(
        service=service_name,
        name=name,
        capacity_gb=capacity_gb,
        parameters=typed_params(params, _parameter_schema(platform, service_name)) or None,
        plan=plan,
        policy=policy,
        idempotency_key=idempotency_key,
    )
    _emit_operation(session, operation)


@read_only
@instance_group.command("list")
@click.option("--service", "service_name", default=None, help="Only instances of this service.")
@page_options
@output_option
@pass_session
def instance_list(session: Session, service_name: str | None, limit: int, all_items: bool) -> None:
    """List instances: Name, ServiceType, Status, CapacityGB, Health.

    \b
    Example:
      dpp instance list
      dpp instance list --service mongodb -o json
      dpp instance list --all
    """
    instances = session.platform().list_instances(
        service=service_name, limit=None if all_items else limit
    )
    emit(session, instances, _render.instances_table)
    page_note(session, len(instances), instances.next_cursor)


@read_only
@instance_group.command("show")
@click.argument("name")
@output_option
@pass_session
def instance_show(session: Session, name: str) -> None:
    """Show one instance: spec, status, volumes, members, endpoints and secret names.

    Secret values are never shown.

    \b
    Example:
      dpp instance show orders
    """
    emit(session, session.platform().get_instance(name), _render.instance_view)


@instance_group.command("set")
@click.argument("name")
@param_option("A parameter to change, repeatable; the others keep their values.")
@click.option(
    "--capacity-gb", type=click.IntRange(min=1), default=None, help="Scale to this capacity."
)
@idempotency_option(
    "Key of the request (with both --param and --capacity-gb, suffixed per operation)."
)
@output_option
@pass_session
def instance_set(
    session: Session,
    *,
    name: str,
    params: dict[str, str],
    capacity_gb: int | None,
    idempotency_key: str | None,
) -> None:
    """Change an instance's parameters (configure) and/or its capacity (scale).

    With both, parameters are changed first, then capacity, each an operation of its own; a
    scale that would be refused is refused before the parameters change. Prints the
    operations (a JSON list with -o json).

    \b
    Example:
      dpp instance set orders --param replicaCount=3
      dpp instance set orders --capacity-gb 2000
    """
    if not params and capacity_gb is None:
        raise click.UsageError("nothing to change: give --param KEY=VALUE and/or --capacity-gb G")
    platform = session.platform()
    typed: dict[str, Any] | None = None
    if params:
        service = platform.get_instance(name).service
        typed = typed_params(params, _parameter_schema(platform, service))
    operations = platform.change_instance(
        name, parameters=typed, capacity_gb=capacity_gb, idempotency_key=idempotency_key
    )
    emit(session, operations, _render.operations_table)


@instance_group.command("remove")
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--force",
    is_flag=True,
    help="Do not call the provider; the platform reclaims everything the instance holds.",
)
@idempotency_option()
@output_option
@pass_session
def instance_remove(
    session: Session, name: str, yes: bool, force: bool, idempotency_key: str | None
) -> None:
    """Decommission an instance, releasing its volumes, members, endpoints and secrets.

    Asks for confirmation on a terminal. Without a terminal (a script), --yes is required:
    without it nothing is removed and the command fails. --force skips the provider (for an
    instance whose provider cannot be loaded or whose decommission keeps failing).

    \b
    Example:
      dpp instance remove orders
      dpp instance remove orders --yes
      dpp instance remove orders --yes --force
    """
    platform = session.platform()
    # A repeated request with its key returns the first operation, even once the instance
    # is gone: then there is nothing to look up or confirm.
    if idempotency_key is None or not yes:
        info = platform.get_instance(name)  # NotFound before asking anything
        if not yes:
            _confirm_removal(name, info.service)
    operation = platform.remove_instance(name, force=force, idempotency_key=idempotency_key)
    _emit_operation(session, operation)


def _confirm_removal(name: str, service: str) -> None:
    """Ask on a terminal; refuse without one. Raises CliError unless the answer is yes."""
    if not _stdin_is_terminal():
        raise CliError(
            f"not removing instance {name!r}: confirmation needed but stdin is not a "
            "terminal; pass --yes to remove without asking"
        )
    if not click.confirm(
        f"Remove instance {name!r} of {service} and all its data?",
        default=False,
        err=True,  # the prompt must not mix with -o json on stdout
    ):
        raise CliError(f"instance {name!r} not removed")
