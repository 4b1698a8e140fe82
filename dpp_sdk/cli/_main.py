"""The ``dpp`` command line: the seed's PowerCLI and esxcli commands on the mock platform.

Every command opens the platform on the state directory when it runs (never at import or for
``--help``), prints a table for people or, with ``-o json``, the document for scripts, and
exits 0. A failure prints one line, ``dpp: error: <message>``, on stderr and exits 1; click's
usage errors exit 2. See ``docs/cli.md``.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dpp_sdk._version import __version__
from dpp_sdk.cli import _render
from dpp_sdk.cli._errors import EXIT_ERROR, CliError, format_error, one_line
from dpp_sdk.cli._logs import follow, tail
from dpp_sdk.cli._params import ParamError, split_params, typed_params
from dpp_sdk.cli._session import OutputFormat, Session
from dpp_sdk.contract import DppError, MaintenanceMode, NotFound, to_json, validate_model

if TYPE_CHECKING:
    from rich.console import RenderableType

    from dpp_sdk.contract import HostInfo, Operation
    from dpp_sdk.platform._api import PlatformAPI

__all__ = ["cli", "run"]

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])

_OUTPUT = click.Choice(["table", "json"])
_MODES = [mode.value for mode in MaintenanceMode]


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
            raise CliError(format_error(exc)) from exc
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


pass_session = click.make_pass_decorator(Session)


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
        type=_OUTPUT,
        default=None,
        expose_value=False,
        callback=_set_output,
        help="Print a table (for people) or JSON (for scripts). Overrides the global -o.",
    )(func)


def _emit(session: Session, document: T, view: Callable[[T], list[RenderableType]]) -> None:
    """Print ``document`` as JSON or as the tables ``view`` makes of it."""
    if session.json:
        validate_model(document)  # documents with a shipped schema must match it
        click.echo(to_json(document, indent=2))
    else:
        _render.print_renderables(view(document))


def _note(session: Session, message: str) -> None:
    """A sentence for people before a table; JSON output stays pure."""
    if not session.json:
        click.echo(message)


def _params_callback(
    _ctx: click.Context, param: click.Parameter, values: Sequence[str]
) -> dict[str, Any]:
    try:
        return split_params(values, flag="--param")
    except ParamError as exc:
        raise click.BadParameter(str(exc), param=param) from exc


def param_option(help_text: str) -> Callable[[F], F]:
    """``--param KEY=VALUE``, repeatable, parsed to a dict (values as JSON when they parse)."""
    return click.option(
        "--param",
        "params",
        metavar="KEY=VALUE",
        multiple=True,
        callback=_params_callback,
        help=help_text,
    )


def _host(session: Session, name: str) -> HostInfo:
    for host in session.platform().list_hosts():
        if host.name == name:
            return host
    raise NotFound("host", name)


def _stdin_is_terminal() -> bool:
    return sys.stdin is not None and sys.stdin.isatty()


# --------------------------------------------------------------------------- root


@click.group(
    cls=_DppGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="dpp")
@click.option(
    "--state-dir",
    type=click.Path(file_okay=False, path_type=Path),
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
    type=click.FloatRange(min=1.0),
    envvar="DPP_OPERATION_TIMEOUT",
    show_envvar=True,
    default=600.0,
    show_default=True,
    help="Seconds an operation may keep retrying a provider's temporary errors.",
)
@click.option(
    "-o",
    "--output",
    type=_OUTPUT,
    default="table",
    show_default=True,
    help="Print tables (for people) or JSON (for scripts).",
)
@click.pass_context
def cli(
    ctx: click.Context,
    state_dir: Path | None,
    config_path: Path | None,
    operation_timeout: float,
    output: str,
) -> None:
    """dpp: run service providers on a local mock Data Persistence Platform.

    The commands mirror the seed's PowerCLI and esxcli commands. The platform lives in a
    state directory and is opened only when a command runs.

    \b
    Example:
      dpp service register samples/minio
      dpp instance create --service minio --name store-1 --capacity-gb 100
      dpp instance list -o json
    """
    session = Session(
        state_dir=state_dir,
        config_path=config_path,
        output="json" if output == "json" else "table",
        operation_timeout=operation_timeout,
    )
    ctx.obj = session
    ctx.call_on_close(session.close)


# --------------------------------------------------------------------------- platform


@cli.group()
def platform() -> None:
    """The platform itself (esxcli vsan datapersistence list)."""


@platform.command("status")
@output_option
@pass_session
def platform_status(session: Session) -> None:
    """Show the platform's settings, cluster size, capacity and warnings.

    \b
    Example:
      dpp platform status
      dpp platform status -o json
    """
    _emit(session, session.platform().status(), _render.status_view)


# --------------------------------------------------------------------------- services


@cli.group()
def service() -> None:
    """The service catalog (Get-VsanDataPersistenceService)."""


@service.command("list")
@output_option
@pass_session
def service_list(session: Session) -> None:
    """List registered services: version, vendor, enabled, instance count.

    \b
    Example:
      dpp service list
    """
    _emit(session, session.platform().list_services(), _render.services_table)


@service.command("show")
@click.argument("name")
@output_option
@pass_session
def service_show(session: Session, name: str) -> None:
    """Show one service: its manifest's plans, policies and registered versions.

    \b
    Example:
      dpp service show minio
    """
    _emit(session, session.platform().get_service(name), _render.service_view)


@service.command("register")
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
    info = session.platform().register_service(provider)
    _emit(session, info, lambda s: _render.services_table([s]))


@service.command("enable")
@click.argument("name")
@output_option
@pass_session
def service_enable(session: Session, name: str) -> None:
    """Enable a service so that new instances of it can be created.

    \b
    Example:
      dpp service enable minio
    """
    info = session.platform().enable_service(name)
    _emit(session, info, lambda s: _render.services_table([s]))


@service.command("activate")
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
    info = session.platform().activate_version(name, version)
    _emit(session, info, lambda s: _render.services_table([s]))


@service.command("disable")
@click.argument("name")
@output_option
@pass_session
def service_disable(session: Session, name: str) -> None:
    """Disable a service: existing instances keep running, new ones are refused.

    \b
    Example:
      dpp service disable minio
    """
    info = session.platform().disable_service(name)
    _emit(session, info, lambda s: _render.services_table([s]))


# --------------------------------------------------------------------------- instances


@cli.group()
def instance() -> None:
    """Service instances (New-, Set-, Get-, Remove-VsanDataPersistenceServiceInstance)."""


def _operations(session: Session, operations: list[Operation]) -> None:
    _emit(session, operations, _render.operations_table)


def _operation(session: Session, operation: Operation) -> None:
    _emit(session, operation, lambda o: _render.operations_table([o]))


@instance.command("create")
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
@click.option(
    "--idempotency-key",
    default=None,
    help="Repeat a request with the same key to get the same operation back.",
)
@output_option
@pass_session
def instance_create(
    session: Session,
    *,
    service_name: str,
    name: str,
    capacity_gb: int | None,
    params: dict[str, Any],
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
    _operation(session, operation)


@instance.command("list")
@click.option("--service", "service_name", default=None, help="Only instances of this service.")
@output_option
@pass_session
def instance_list(session: Session, service_name: str | None) -> None:
    """List instances: Name, ServiceType, Status, CapacityGB, Health.

    \b
    Example:
      dpp instance list
      dpp instance list --service mongodb -o json
    """
    _emit(
        session,
        session.platform().list_instances(service=service_name),
        _render.instances_table,
    )


@instance.command("show")
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
    _emit(session, session.platform().get_instance(name), _render.instance_view)


@instance.command("set")
@click.argument("name")
@param_option("A parameter to change, repeatable; the others keep their values.")
@click.option(
    "--capacity-gb", type=click.IntRange(min=1), default=None, help="Scale to this capacity."
)
@click.option(
    "--idempotency-key",
    default=None,
    help="Key of the request (with both --param and --capacity-gb, suffixed per operation).",
)
@output_option
@pass_session
def instance_set(
    session: Session,
    *,
    name: str,
    params: dict[str, Any],
    capacity_gb: int | None,
    idempotency_key: str | None,
) -> None:
    """Change an instance's parameters (configure) and/or its capacity (scale).

    With both, parameters are changed first, then capacity. Prints the operations (a JSON
    list with -o json).

    \b
    Example:
      dpp instance set orders --param replicaCount=3
      dpp instance set orders --capacity-gb 2000
    """
    if not params and capacity_gb is None:
        raise click.UsageError("nothing to change: give --param KEY=VALUE and/or --capacity-gb G")
    both = bool(params) and capacity_gb is not None
    platform = session.platform()
    operations: list[Operation] = []
    if params:
        key = f"{idempotency_key}:configure" if both and idempotency_key else idempotency_key
        service = platform.get_instance(name).service
        typed = typed_params(params, _parameter_schema(platform, service))
        operations.append(platform.configure_instance(name, typed, idempotency_key=key))
    if capacity_gb is not None:
        key = f"{idempotency_key}:scale" if both and idempotency_key else idempotency_key
        try:
            operations.append(platform.scale_instance(name, capacity_gb, idempotency_key=key))
        except DppError as exc:
            if not operations:
                raise
            # The configure already happened: show it, and say so in the error.
            _operations(session, operations)
            done = ", ".join(f"{o.kind} {o.id} {o.state.value}" for o in operations)
            raise CliError(f"{format_error(exc)} (already done: {done})") from exc
    _operations(session, operations)


def _parameter_schema(platform: PlatformAPI, service: str) -> Mapping[str, Any] | None:
    """The active parameter schema of ``service``, or None when it is unknown."""
    try:
        return platform.get_service(service).active.manifest.parameters_schema
    except DppError:
        return None


@instance.command("remove")
@click.argument("name")
@click.option("-y", "--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option(
    "--force",
    is_flag=True,
    help="Do not call the provider; the platform reclaims everything the instance holds.",
)
@click.option("--idempotency-key", default=None, help="Key of the request.")
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
    if idempotency_key is not None and yes:
        # A repeated request with its key returns the first operation, even once the
        # instance is gone; nothing to look up or confirm.
        _operation(
            session, platform.remove_instance(name, force=force, idempotency_key=idempotency_key)
        )
        return
    info = platform.get_instance(name)  # NotFound before asking anything
    if not yes:
        if not _stdin_is_terminal():
            raise CliError(
                f"not removing instance {name!r}: confirmation needed but stdin is not a "
                "terminal; pass --yes to remove without asking"
            )
        if not click.confirm(
            f"Remove instance {name!r} of {info.service} and all its data?",
            default=False,
            err=True,  # the prompt must not mix with -o json on stdout
        ):
            raise CliError(f"instance {name!r} not removed")
    _operation(
        session, platform.remove_instance(name, force=force, idempotency_key=idempotency_key)
    )


# --------------------------------------------------------------------------- operations


@cli.group()
def operation() -> None:
    """Operation records: what each mutating request did."""


@operation.command("list")
@click.option("--target", default=None, help="Only operations on this target (an instance).")
@output_option
@pass_session
def operation_list(session: Session, target: str | None) -> None:
    """List operations: id, kind, target, state.

    \b
    Example:
      dpp operation list --target orders
    """
    _operations(session, session.platform().list_operations(target=target))


@operation.command("show")
@click.argument("operation_id")
@output_option
@pass_session
def operation_show(session: Session, operation_id: str) -> None:
    """Show one operation, with its error (and traceback) if it failed.

    \b
    Example:
      dpp operation show op-0001
    """
    _emit(session, session.platform().get_operation(operation_id), _render.operation_view)


# --------------------------------------------------------------------------- health, resources


@cli.command("health")
@click.argument("name", required=False)
@output_option
@pass_session
def health(session: Session, name: str | None) -> None:
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
        _emit(session, platform.cluster_health(), _render.cluster_health_view)
    else:
        _emit(session, platform.instance_health(name), _render.instance_health_view)


@cli.group()
def resource() -> None:
    """Capacity accounting (esxcli vsan datapersistence resource list)."""


@resource.command("list")
@output_option
@pass_session
def resource_list(session: Session) -> None:
    """Show raw capacity, reservations and quota, per disk and per instance.

    \b
    Example:
      dpp resource list
      dpp resource list -o json
    """
    _emit(session, session.platform().resources(), _render.resources_view)


# --------------------------------------------------------------------------- logs, audit


@cli.command("logs")
@click.option("-f", "--follow", "following", is_flag=True, help="Keep printing new lines.")
@click.option(
    "-n",
    "--lines",
    type=click.IntRange(min=0),
    default=None,
    help="Print only the last N lines [default: all].",
)
@pass_session
def logs(session: Session, following: bool, lines: int | None) -> None:
    """Print the platform log; with -f keep following it until Ctrl-C.

    Mirrors tail -f .../datapersistence.log.

    \b
    Example:
      dpp logs -n 50
      dpp logs -f
    """
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


@cli.command("audit")
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Only the last N records.")
@output_option
@pass_session
def audit(session: Session, limit: int | None) -> None:
    """Show the audit trail: principal, action, target, outcome and time of every change.

    \b
    Example:
      dpp audit --limit 20
    """
    _emit(session, session.platform().audit(limit=limit), _render.audit_table)


@cli.command("events")
@click.option("--since", type=click.IntRange(min=0), default=0, help="Only events after this seq.")
@output_option
@pass_session
def events(session: Session, since: int) -> None:
    """Show platform events: failures, capacity warnings, repairs.

    \b
    Example:
      dpp events --since 10 -o json
    """
    _emit(session, session.platform().events(since=since), _render.events_table)


# --------------------------------------------------------------------------- hosts


@cli.group()
def host() -> None:
    """Hosts of the cluster, and maintenance mode."""


@host.command("list")
@output_option
@pass_session
def host_list(session: Session) -> None:
    """List hosts: fault domain, state, capacity and disks.

    \b
    Example:
      dpp host list
    """
    _emit(session, session.platform().list_hosts(), _render.hosts_table)


@host.group("maintenance")
def maintenance() -> None:
    """Put hosts into maintenance mode and take them out."""


@maintenance.command("enter")
@click.argument("host_name", metavar="HOST")
@click.option(
    "--mode",
    type=click.Choice(_MODES),
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
    without changing anything. A veto fails the command, naming each instance, reason and
    message.

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
        _emit(session, result, _render.precheck_view)
    else:
        entered = platform.enter_maintenance(host_name, maintenance_mode, disk=disk)
        _emit(session, entered, _render.maintenance_result_view)


@maintenance.command("exit")
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


@cli.group()
def fault() -> None:
    """Inject and clear hardware faults; affected providers are notified."""


@fault.group("inject")
def fault_inject() -> None:
    """Fail a host or a disk."""


def _report_host(session: Session, host_name: str, note: str) -> None:
    """Say what was done to a host, then show the host as it is now."""
    _note(session, note)
    _emit(session, _host(session, host_name), lambda h: _render.hosts_table([h]))


@fault_inject.command("host-failure")
@click.argument("host_name", metavar="HOST")
@output_option
@pass_session
def inject_host_failure(session: Session, host_name: str) -> None:
    """Fail HOST: its members become unreachable, its components absent.

    \b
    Example:
      dpp fault inject host-failure esx-02
    """
    session.platform().inject_host_failure(host_name)
    _report_host(session, host_name, f"Injected host failure on {host_name}.")


@fault_inject.command("disk-failure")
@click.argument("host_name", metavar="HOST")
@click.argument("disk")
@output_option
@pass_session
def inject_disk_failure(session: Session, host_name: str, disk: str) -> None:
    """Fail DISK of HOST: the components on it are lost.

    \b
    Example:
      dpp fault inject disk-failure esx-02 cap-0
    """
    session.platform().inject_disk_failure(host_name, disk)
    _report_host(session, host_name, f"Injected disk failure on {host_name} {disk}.")


@fault.group("clear", invoke_without_command=True)
@output_option
@click.pass_context
def fault_clear(ctx: click.Context) -> None:
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
    _note(session, "Cleared all faults.")
    _emit(session, session.platform().list_hosts(), _render.hosts_table)


@fault_clear.command("host-failure")
@click.argument("host_name", metavar="HOST")
@output_option
@pass_session
def clear_host_failure(session: Session, host_name: str) -> None:
    """Recover HOST from an injected failure.

    \b
    Example:
      dpp fault clear host-failure esx-02
    """
    session.platform().clear_host_failure(host_name)
    _report_host(session, host_name, f"Cleared host failure on {host_name}.")


@fault_clear.command("disk-failure")
@click.argument("host_name", metavar="HOST")
@click.argument("disk")
@output_option
@pass_session
def clear_disk_failure(session: Session, host_name: str, disk: str) -> None:
    """Replace failed DISK of HOST with an empty healthy one.

    \b
    Example:
      dpp fault clear disk-failure esx-02 cap-0
    """
    session.platform().clear_disk_failure(host_name, disk)
    _report_host(session, host_name, f"Cleared disk failure on {host_name} {disk}.")


def run(args: Sequence[str] | None = None) -> int:
    """Run ``dpp`` with ``args`` (default: the command line); return the exit status.

    Unlike click's own standalone mode, every failure is ONE line on stderr: usage errors
    (status 2) say what was wrong and point to ``--help``.
    """
    try:
        cli.main(args=args, prog_name="dpp", standalone_mode=False)
    except click.UsageError as exc:
        hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx is not None else ""
        click.echo(f"dpp: error: {one_line(exc.format_message())}{hint}", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("dpp: error: aborted; nothing more was done", err=True)
        return EXIT_ERROR
    except click.exceptions.Exit as exc:
        return exc.exit_code
    return 0
