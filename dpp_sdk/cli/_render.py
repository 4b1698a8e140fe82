"""Tables for people, declared per document: which columns, read how, shown as what.

Each document the platform returns has a view here. A view is mostly data: a tuple of
:class:`Column` (a header, a function reading the value from the document, and its kind:
plain text, a coloured state, bytes, a list, inline JSON) that :func:`table` turns into a
table of many documents, or :func:`details` into a key/value grid of one. The view
functions (``services_table``, ``instance_view``, ...) put those pieces together;
:func:`print_renderables` prints them.

Cell text is never parsed as rich markup (a name like ``db[1]`` prints as is), and colour is
used only on a terminal (rich's own detection; ``NO_COLOR`` is honoured). Secret values never
reach this module: documents carry secret names only.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import IO, TYPE_CHECKING, Any, Generic, Literal, TypeVar

import attrs
from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from dpp_sdk.contract import (
        EndpointInfo,
        HealthCheck,
        HostInfo,
        InstanceInfo,
        MemberInfo,
        Operation,
        Plan,
        VolumeInfo,
    )
    from dpp_sdk.platform import (
        AuditRecord,
        ClockStatus,
        ClusterHealth,
        DiskUsage,
        Event,
        InstanceHealth,
        InstanceImpact,
        InstanceUsage,
        MaintenancePrecheck,
        MaintenanceResult,
        PlatformStatus,
        PoolUsage,
        RepairTimerInfo,
        ResourceReport,
        ServiceInfo,
        ServiceVersion,
    )

__all__ = [
    "Column",
    "audit_table",
    "clock_view",
    "cluster_health_view",
    "details",
    "events_table",
    "host_view",
    "hosts_table",
    "instance_health_view",
    "instance_view",
    "instances_table",
    "maintenance_result_view",
    "make_console",
    "operation_view",
    "operations_table",
    "precheck_view",
    "print_renderables",
    "resources_view",
    "service_view",
    "services_table",
    "status_view",
    "table",
]

T = TypeVar("T")

_STYLES = {
    "green": "green",
    "yellow": "yellow",
    "red": "bold red",
    "ready": "green",
    "succeeded": "green",
    "connected": "green",
    "healthy": "green",
    "running": "green",
    "degraded": "yellow",
    "reduced-availability": "yellow",
    "absent": "yellow",
    "active-stale": "yellow",
    "maintenance": "yellow",
    "stopped": "yellow",
    "pending": "yellow",
    "refused": "yellow",
    "failed": "bold red",
    "unreachable": "bold red",
    "inaccessible": "bold red",
}


def make_console(file: IO[str] | None = None) -> Console:
    """A console on ``file`` (default: stdout); wide enough when not a terminal that tables are
    not squeezed."""
    console = Console(file=file, highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 200
    return console


def print_renderables(renderables: Iterable[RenderableType], file: IO[str] | None = None) -> None:
    """Print ``renderables`` to ``file`` (default: stdout), separated by blank lines.

    When stdout is not a terminal, trailing spaces (rich pads every cell) are removed so
    that the output greps and diffs cleanly.
    """
    console = make_console(file)
    items = list(renderables)
    if console.is_terminal:
        for index, renderable in enumerate(items):
            if index:
                console.print()
            console.print(renderable)
        return
    with console.capture() as capture:
        for index, renderable in enumerate(items):
            if index:
                console.print()
            console.print(renderable)
    lines = [line.rstrip() for line in capture.get().splitlines()]
    console.file.write("".join(f"{line}\n" for line in lines))
    console.file.flush()


# --------------------------------------------------------------------------- cells


def _text(value: object) -> Text:
    """A cell: ``value`` as plain text, never parsed as markup."""
    if value is None:
        return Text("-")
    if isinstance(value, bool):
        return Text("yes" if value else "no")
    if isinstance(value, float):
        return Text(_num(value))
    if isinstance(value, _dt.datetime):
        return Text(_time(value))
    return Text(str(value))


def _state(value: object) -> Text:
    """A state or health cell, coloured by meaning on a terminal."""
    text = str(value)
    return Text(text, style=_STYLES.get(text, ""))


def _num(value: float) -> str:
    """``2000.0`` as ``2000``, ``1333.3333`` as ``1333.33``."""
    if float(value).is_integer():
        return str(int(value))
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _bytes(value: int) -> str:
    """A byte count for people: ``0 B``, ``512 B``, ``1.5 GiB``."""
    size = float(value)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{int(size)} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")  # pragma: no cover


def _time(value: _dt.datetime) -> str:
    return value.isoformat(timespec="seconds")


def _list(values: Iterable[object]) -> str:
    text = ", ".join(str(v) for v in values)
    return text or "-"


def _json_inline(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), sort_keys=True, default=str)


def _alarm(values: Iterable[object]) -> Text:
    """A list that is bad news when it is not empty: red then."""
    text = _list(values)
    return Text(text, style="red" if text != "-" else "")


Kind = Literal["text", "state", "bytes", "list", "json", "alarm"]
"""How a column shows its value: ``text`` (None as ``-``, booleans as yes/no, numbers without
needless decimals, times to the second), ``state`` (coloured by meaning), ``bytes`` (``1.5
GiB``), ``list`` (comma-separated, ``-`` when empty), ``json`` (a mapping on one line) or
``alarm`` (a list, red when not empty)."""

_CELLS: Mapping[Kind, Callable[[Any], Text]] = {
    "text": _text,
    "state": _state,
    "bytes": lambda value: _text(None if value is None else _bytes(value)),
    "list": lambda values: Text(_list(values)),
    "json": lambda value: _text(None if value is None else _json_inline(value)),
    "alarm": _alarm,
}


@attrs.frozen
class Column(Generic[T]):
    """One column of a table of ``T`` documents, or one row of a :func:`details` grid."""

    header: str
    get: Callable[[T], Any]
    """Reads the value from a document."""
    kind: Kind = "text"
    optional: bool = attrs.field(default=False, kw_only=True)
    """In a details grid, leave the row out when the value is None."""

    def cell(self, document: T) -> Text:
        """The value of this column for ``document``, as a cell."""
        return _CELLS[self.kind](self.get(document))


def table(
    columns: Sequence[Column[T]],
    documents: Iterable[T],
    *,
    title: str = "",
    empty: str = "",
) -> RenderableType:
    """A table with a row per document; when there are none and ``empty`` is given, that
    sentence instead."""
    grid = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        title=title or None,
        title_justify="left",
        title_style="bold",
    )
    for column in columns:
        grid.add_column(column.header, overflow="fold")
    for document in documents:
        grid.add_row(*(column.cell(document) for column in columns))
    if not grid.row_count and empty:
        return Text(f"{title}: {empty}" if title else empty)
    return grid


def details(
    fields: Sequence[Column[T]], document: T, *, more: Iterable[tuple[str, Text]] = ()
) -> Table:
    """A two-column grid: each field's header and value for ``document``, then the ``more``
    rows (repeated ones, such as warnings)."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for field in fields:
        if not (field.optional and field.get(document) is None):
            grid.add_row(Text(field.header), field.cell(document))
    for key, value in more:
        grid.add_row(Text(key), value)
    return grid


# --------------------------------------------------------------------------- platform, services

STATUS_FIELDS: tuple[Column[PlatformStatus], ...] = (
    Column("Enabled", lambda s: s.enabled),
    Column("Default policy", lambda s: s.default_policy),
    Column("Architecture", lambda s: s.architecture.upper()),
    Column("Max services", lambda s: s.max_services),
    Column("Resource quota", lambda s: f"{s.resource_quota}%"),
    Column("Hosts", lambda s: f"{s.hosts} ({s.hosts_connected} connected)"),
    Column("Fault domains", lambda s: s.fault_domains),
    Column("Services", lambda s: s.services),
    Column("Instances", lambda s: s.instances),
    Column("Raw capacity GB", lambda s: s.raw_capacity_gb),
    Column("Reserved GB", lambda s: s.reserved_gb),
    Column("Quota GB", lambda s: s.quota_gb),
    Column("Direct quota GB", lambda s: s.direct_quota_gb),
    Column("Operations reserve GB", lambda s: s.operations_reserve_gb),
    Column("Host rebuild reserve GB", lambda s: s.host_rebuild_reserve_gb),
    Column("State dir", lambda s: s.state_dir or "(in memory)"),
)


def status_view(status: PlatformStatus) -> list[RenderableType]:
    """``dpp platform status``."""
    warnings = (("Warning", Text(w, style="yellow")) for w in status.warnings)
    return [details(STATUS_FIELDS, status, more=warnings)]


CLOCK_FIELDS: tuple[Column[ClockStatus], ...] = (
    Column("Now", lambda c: c.now),
    Column("Clock", lambda c: c.kind),
    Column(
        "Ahead of real time",
        lambda c: None if c.ahead_seconds is None else _duration(c.ahead_seconds),
        optional=True,
    ),
    Column("Object repair timer", lambda c: f"{c.object_repair_timer_minutes} min"),
)

REPAIR_TIMER_COLUMNS: tuple[Column[RepairTimerInfo], ...] = (
    Column("Host", lambda t: t.host),
    Column("Cause", lambda t: t.cause),
    Column("Started", lambda t: t.started_at),
    Column("Due", lambda t: t.due_at),
    Column("Remaining", lambda t: _duration(t.remaining_seconds)),
)


def _duration(seconds: float) -> str:
    """``1h 01m 05s``-style text for people."""
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    if days or hours:
        parts.append(f"{hours}h")
    if days or hours or minutes:
        parts.append(f"{minutes:02d}m" if parts else f"{minutes}m")
    parts.append(f"{secs:02d}s" if parts else f"{secs}s")
    return " ".join(parts)


def clock_view(status: ClockStatus) -> list[RenderableType]:
    """``dpp clock show`` and ``dpp clock advance``."""
    return [
        details(CLOCK_FIELDS, status),
        table(
            REPAIR_TIMER_COLUMNS,
            status.repair_timers,
            title="Object repair timers",
            empty="No repair timer is running.",
        ),
    ]


SERVICE_COLUMNS: tuple[Column[ServiceInfo], ...] = (
    Column("Name", lambda s: s.name),
    Column("DisplayName", lambda s: s.display_name),
    Column("Version", lambda s: s.active_version),
    Column("Vendor", lambda s: s.vendor),
    Column("Category", lambda s: s.category),
    Column("Enabled", lambda s: "yes" if s.enabled else "no", "state"),
    Column("Instances", lambda s: s.instances),
)

SERVICE_FIELDS: tuple[Column[ServiceInfo], ...] = (
    Column("Name", lambda s: s.name),
    Column("Display name", lambda s: s.display_name),
    Column("Vendor", lambda s: s.vendor),
    Column("Category", lambda s: s.category),
    Column("Enabled", lambda s: s.enabled),
    Column("Active version", lambda s: s.active_version),
    Column("Provider", lambda s: s.active.provider),
    Column("Description", lambda s: s.active.manifest.description),
    Column(
        "Policies",
        lambda s: (
            f"{_list(s.active.manifest.supported_policies)} "
            f"(default {s.active.manifest.default_policy})"
        ),
    ),
    Column("Redundancy", lambda s: s.active.manifest.redundancy),
    Column("Instances", lambda s: s.instances),
)

PLAN_COLUMNS: tuple[Column[Plan], ...] = (
    Column("Plan", lambda p: p.name),
    Column("MinGB", lambda p: p.min_capacity_gb),
    Column("MaxGB", lambda p: p.max_capacity_gb),
    Column("Parameters", lambda p: p.parameters, "json"),
    Column("Description", lambda p: p.description),
)

VERSION_COLUMNS: tuple[Column[ServiceVersion], ...] = (
    Column("Version", lambda v: v.version),
    Column("Provider", lambda v: v.provider),
    Column("Registered", lambda v: v.registered_at),
)


def services_table(services: Sequence[ServiceInfo]) -> list[RenderableType]:
    """``dpp service list`` (and the result of register, enable, disable)."""
    return [table(SERVICE_COLUMNS, services, empty="No services.")]


def service_view(service: ServiceInfo) -> list[RenderableType]:
    """``dpp service show``: the catalog entry, its plans and its versions."""
    return [
        details(SERVICE_FIELDS, service),
        table(PLAN_COLUMNS, service.active.manifest.plans, title="Plans"),
        table(VERSION_COLUMNS, service.versions, title="Versions"),
    ]


# --------------------------------------------------------------------------- operations

OPERATION_COLUMNS: tuple[Column[Operation], ...] = (
    Column("ID", lambda o: o.id),
    Column("Kind", lambda o: o.kind),
    Column("Target", lambda o: o.target),
    Column("State", lambda o: o.state, "state"),
)

OPERATION_FIELDS: tuple[Column[Operation], ...] = (
    *OPERATION_COLUMNS,
    Column("Progress", lambda o: f"{o.progress:.0%}"),
    Column("Attempts", lambda o: o.attempts),
    Column("Idempotency key", lambda o: o.idempotency_key),
    Column("Created", lambda o: o.created_at),
    Column("Started", lambda o: o.started_at),
    Column("Finished", lambda o: o.finished_at),
    Column("Result", lambda o: o.result or None, "json", optional=True),
)


def operations_table(operations: Sequence[Operation]) -> list[RenderableType]:
    """The result of a mutation (and ``dpp operation list``): id, kind, target, state."""
    return [table(OPERATION_COLUMNS, operations, empty="No operations.")]


def operation_view(operation: Operation) -> list[RenderableType]:
    """``dpp operation show``: the whole record, with its error if it failed."""
    error = operation.error
    more: list[tuple[str, Text]] = []
    if error is not None:
        more.append(("Error", Text(f"{error.type}: {error.message}", style="red")))
        more.extend(("Problem", Text(p)) for p in error.problems)
    out: list[RenderableType] = [details(OPERATION_FIELDS, operation, more=more)]
    if error is not None and error.traceback:
        out.append(Text(error.traceback.rstrip()))
    return out


# --------------------------------------------------------------------------- instances

INSTANCE_COLUMNS: tuple[Column[InstanceInfo], ...] = (
    Column("Name", lambda i: i.name),
    Column("ServiceType", lambda i: i.service),
    Column("Status", lambda i: i.status, "state"),
    Column("CapacityGB", lambda i: i.spec.capacity_gb),
    Column("Health", lambda i: i.health, "state"),
)

INSTANCE_FIELDS: tuple[Column[InstanceInfo], ...] = (
    Column("Name", lambda i: i.name),
    Column("Service", lambda i: f"{i.service} {i.service_version}"),
    Column("Status", lambda i: i.status, "state"),
    Column("Health", lambda i: i.health, "state"),
    Column("Plan", lambda i: i.spec.plan),
    Column("Capacity GB", lambda i: i.spec.capacity_gb),
    Column("Policy", lambda i: i.spec.policy),
    Column("Parameters", lambda i: i.spec.parameters, "json"),
    Column("Secrets", lambda i: [s.name for s in i.secrets], "list"),
    Column("Created", lambda i: i.created_at),
    Column("Updated", lambda i: i.updated_at),
)


def _volume_policy(volume: VolumeInfo) -> str:
    """The policy, with the erasure layout the volume has (ESA's RAID-5: ``vsan-raid5 2+1``)."""
    roles = [c.role for c in volume.components]
    if "parity" not in roles:
        return volume.policy
    return f"{volume.policy} {roles.count('data')}+{roles.count('parity')}"


VOLUME_COLUMNS: tuple[Column[VolumeInfo], ...] = (
    Column("Volume", lambda v: v.name),
    Column("SizeGB", lambda v: v.size_gb),
    Column("Policy", _volume_policy),
    Column("Member", lambda v: v.member),
    Column("State", lambda v: v.state, "state"),
    Column("Health", lambda v: "" if v.health == "healthy" else v.health.value),
    Column("RebuildAt", lambda v: v.rebuild_at),
    Column("ToResync", lambda v: v.resync_bytes_left or None, "bytes"),
    Column("Hosts", lambda v: v.hosts, "list"),
)

MEMBER_COLUMNS: tuple[Column[MemberInfo], ...] = (
    Column("Member", lambda m: m.name),
    Column("Host", lambda m: m.host),
    Column("State", lambda m: m.state, "state"),
    Column("Volumes", lambda m: m.volumes, "list"),
)

ENDPOINT_COLUMNS: tuple[Column[EndpointInfo], ...] = (
    Column("Endpoint", lambda e: e.name),
    Column("URL", lambda e: e.url),
    Column("Member", lambda e: e.member),
)


def instances_table(instances: Sequence[InstanceInfo]) -> list[RenderableType]:
    """``dpp instance list``: the seed's ``Select Name, ServiceType, Status, CapacityGB``."""
    return [table(INSTANCE_COLUMNS, instances, empty="No instances.")]


def instance_view(instance: InstanceInfo) -> list[RenderableType]:
    """``dpp instance show``: spec, status, volumes, members, endpoints and secret names."""
    out: list[RenderableType] = [details(INSTANCE_FIELDS, instance)]
    if instance.volumes:
        out.append(table(VOLUME_COLUMNS, instance.volumes, title="Volumes"))
    if instance.members:
        out.append(table(MEMBER_COLUMNS, instance.members, title="Members"))
    if instance.endpoints:
        out.append(table(ENDPOINT_COLUMNS, instance.endpoints, title="Endpoints"))
    return out


# --------------------------------------------------------------------------- health

CHECK_COLUMNS: tuple[Column[HealthCheck], ...] = (
    Column("Check", lambda c: c.name),
    Column("Status", lambda c: c.status, "state"),
    Column("Message", lambda c: c.message),
)

INSTANCE_HEALTH_FIELDS: tuple[Column[InstanceHealth], ...] = (
    Column("Instance", lambda h: h.instance),
    Column("Service", lambda h: h.service),
    Column("Health", lambda h: h.status, "state"),
)

CLUSTER_HEALTH_FIELDS: tuple[Column[ClusterHealth], ...] = (
    Column("Cluster health", lambda h: h.status, "state"),
)

INSTANCE_HEALTH_COLUMNS: tuple[Column[InstanceHealth], ...] = (
    *INSTANCE_HEALTH_FIELDS,
    Column("Failing checks", lambda h: [c.name for c in h.checks if c.status != "green"], "list"),
)


def instance_health_view(health: InstanceHealth) -> list[RenderableType]:
    """``dpp health NAME``: the instance's status and each named check."""
    return [
        details(INSTANCE_HEALTH_FIELDS, health),
        table(CHECK_COLUMNS, health.checks, empty="No checks."),
    ]


def cluster_health_view(health: ClusterHealth) -> list[RenderableType]:
    """``dpp health``: the cluster summary (``esxcli vsan datapersistence health get``)."""
    out: list[RenderableType] = [details(CLUSTER_HEALTH_FIELDS, health)]
    if health.checks:
        out.append(table(CHECK_COLUMNS, health.checks, title="Platform checks", empty="No checks."))
    out.append(table(INSTANCE_HEALTH_COLUMNS, health.instances, title="Instances", empty="none"))
    return out


# --------------------------------------------------------------------------- resources, hosts

RESOURCE_FIELDS: tuple[Column[ResourceReport], ...] = (
    Column("Raw capacity GB", lambda r: r.raw_capacity_gb),
    Column("Reserved GB", lambda r: r.reserved_gb),
    Column("Quota GB", lambda r: r.quota_gb),
    Column("Operations reserve GB", lambda r: r.operations_reserve_gb),
    Column("Host rebuild reserve GB", lambda r: r.host_rebuild_reserve_gb),
)

POOL_USAGE_COLUMNS: tuple[Column[PoolUsage], ...] = (
    Column("Pool", lambda p: p.pool),
    Column("RawGB", lambda p: p.raw_gb),
    Column("ReservedGB", lambda p: p.reserved_gb),
    Column("QuotaGB", lambda p: p.quota_gb),
    Column("Used%", lambda p: p.used_percent),
    Column("Warning", lambda p: "yes" if p.warning else ""),
)

DISK_USAGE_COLUMNS: tuple[Column[DiskUsage], ...] = (
    Column("Host", lambda d: d.host),
    Column("Disk", lambda d: d.disk),
    Column("Kind", lambda d: d.kind),
    Column("State", lambda d: d.state, "state"),
    Column("SizeGB", lambda d: d.size_gb),
    Column("ReservedGB", lambda d: d.reserved_gb),
    Column("FreeGB", lambda d: d.free_gb),
    Column("Used%", lambda d: d.used_percent),
    Column("Warning", lambda d: "yes" if d.warning else ""),
)

INSTANCE_USAGE_COLUMNS: tuple[Column[InstanceUsage], ...] = (
    Column("Instance", lambda i: i.instance),
    Column("Service", lambda i: i.service),
    Column("Volumes", lambda i: i.volumes),
    Column("Members", lambda i: i.members),
    Column("LogicalGB", lambda i: i.logical_gb),
    Column("ReservedGB", lambda i: i.reserved_gb),
)

HOST_COLUMNS: tuple[Column[HostInfo], ...] = (
    Column("Name", lambda h: h.name),
    Column("FaultDomain", lambda h: h.fault_domain),
    Column("State", lambda h: h.state, "state"),
    Column("SizeGB", lambda h: float(sum(d.size_gb for d in h.disks))),
    Column("ReservedGB", lambda h: float(sum(d.reserved_gb for d in h.disks))),
    Column("FreeGB", lambda h: float(sum(d.free_gb for d in h.disks))),
    Column(
        "Disks",
        lambda h: [d.name if d.state == "healthy" else f"{d.name} ({d.state})" for d in h.disks],
        "list",
    ),
)


def resources_view(report: ResourceReport) -> list[RenderableType]:
    """``dpp resource list``: capacity totals, per pool, per disk and per instance."""
    return [
        details(RESOURCE_FIELDS, report),
        table(POOL_USAGE_COLUMNS, report.pools, title="Pools", empty="none"),
        table(DISK_USAGE_COLUMNS, report.disks, title="Disks"),
        table(INSTANCE_USAGE_COLUMNS, report.instances, title="Instances", empty="none"),
    ]


def hosts_table(hosts: Sequence[HostInfo]) -> list[RenderableType]:
    """``dpp host list``: state, fault domain, capacity and disks of every host."""
    return [table(HOST_COLUMNS, hosts)]


def host_view(host: HostInfo) -> list[RenderableType]:
    """One host (after a maintenance or fault command): the row ``dpp host list`` shows."""
    return hosts_table([host])


# --------------------------------------------------------------------------- maintenance

PRECHECK_FIELDS: tuple[Column[MaintenancePrecheck], ...] = (
    Column("Host", lambda p: p.host),
    Column("Disk", lambda p: p.disk, optional=True),
    Column("Mode", lambda p: p.mode),
    Column("Inaccessible", lambda p: p.inaccessible, "alarm"),
    Column("Reduced availability", lambda p: p.reduced_availability, "list"),
    Column("Rebuild", lambda p: p.rebuild, "list"),
    Column("Bytes to rebuild", lambda p: p.bytes_to_rebuild, "bytes"),
    Column("Rebuilt by the service", lambda p: p.service_rebuild, "list"),
    Column("Bytes the services rebuild", lambda p: p.service_bytes_to_rebuild, "bytes"),
)

IMPACT_COLUMNS: tuple[Column[InstanceImpact], ...] = (
    Column("Instance", lambda i: i.instance),
    Column("Service", lambda i: i.service),
    Column("OfflineVolumes", lambda i: i.inaccessible_volumes, "list"),
    Column("ReducedVolumes", lambda i: i.reduced_availability_volumes, "list"),
    Column("RebuiltVolumes", lambda i: i.rebuilt_volumes, "list"),
    Column("StoppedMembers", lambda i: i.stopped_members, "list"),
    Column("Rebuild", lambda i: i.bytes_to_rebuild, "bytes"),
    Column("ServiceRebuilds", lambda i: i.service_rebuilt_volumes, "list"),
    Column("ServiceBytes", lambda i: i.service_bytes_to_rebuild, "bytes"),
)


def precheck_view(precheck: MaintenancePrecheck) -> list[RenderableType]:
    """``dpp host maintenance enter --precheck``: what maintenance would do, per instance."""
    more = [
        *(("Problem", Text(p, style="red")) for p in precheck.problems),
        *(
            ("Veto", Text(f"{v.instance}: {v.reason.value} ({v.message})", style="red"))
            for v in precheck.vetoes
        ),
    ]
    out: list[RenderableType] = [details(PRECHECK_FIELDS, precheck, more=more)]
    if precheck.instances:
        out.append(table(IMPACT_COLUMNS, precheck.instances, title="Affected instances"))
    return out


def maintenance_result_view(result: MaintenanceResult) -> list[RenderableType]:
    """``dpp host maintenance enter``: which providers were consulted, and the impact."""
    where = result.host if result.disk is None else f"{result.host} {result.disk}"
    header = Text(
        f"{where} entered maintenance ({result.mode}); "
        f"providers consulted for: {_list(result.consulted)}; "
        f"drained by their providers: {_list(result.drained)}"
    )
    return [header, *precheck_view(result.precheck)]


# --------------------------------------------------------------------------- audit, events

AUDIT_COLUMNS: tuple[Column[AuditRecord], ...] = (
    Column("Seq", lambda r: r.seq),
    Column("Time", lambda r: r.time),
    Column("Principal", lambda r: r.principal),
    Column("Action", lambda r: r.action),
    Column("Target", lambda r: r.target),
    Column("Outcome", lambda r: r.outcome, "state"),
    Column("Detail", lambda r: r.detail),
)

EVENT_COLUMNS: tuple[Column[Event], ...] = (
    Column("Seq", lambda e: e.seq),
    Column("Time", lambda e: e.time),
    Column("Kind", lambda e: e.kind),
    Column("Target", lambda e: e.target),
    Column("Message", lambda e: e.message),
)


def audit_table(records: Sequence[AuditRecord]) -> list[RenderableType]:
    """``dpp audit``: who did what to which target, and the outcome."""
    return [table(AUDIT_COLUMNS, records, empty="No audit records.")]


def events_table(events: Sequence[Event]) -> list[RenderableType]:
    """``dpp events``: failures, warnings and repairs the platform noticed."""
    return [table(EVENT_COLUMNS, events, empty="No events.")]
