"""Tables for people: one function per document the platform returns.

Every function takes a model and returns rich renderables; :func:`print_renderables` prints
them. Cell text is never parsed as rich markup (a name like ``db[1]`` prints as is), and
colour is used only on a terminal (rich's own detection; ``NO_COLOR`` is honoured).
Secret values never reach this module: documents carry secret names only.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich import box
from rich.console import Console, RenderableType
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from dpp_sdk.contract import HostInfo, InstanceInfo, Operation
    from dpp_sdk.platform import (
        AuditRecord,
        ClusterHealth,
        Event,
        InstanceHealth,
        MaintenancePrecheck,
        MaintenanceResult,
        PlatformStatus,
        ResourceReport,
        ServiceInfo,
    )

__all__ = [
    "audit_table",
    "cluster_health_view",
    "events_table",
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
]

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
    "maintenance": "yellow",
    "stopped": "yellow",
    "pending": "yellow",
    "refused": "yellow",
    "failed": "bold red",
    "unreachable": "bold red",
    "inaccessible": "bold red",
    "lost": "bold red",
}


def make_console() -> Console:
    """A console on stdout; wide enough when not a terminal that tables are not squeezed."""
    console = Console(highlight=False, soft_wrap=False)
    if not console.is_terminal and "COLUMNS" not in os.environ:
        console.width = 200
    return console


def print_renderables(renderables: Iterable[RenderableType]) -> None:
    """Print ``renderables`` to stdout, separated by blank lines.

    When stdout is not a terminal, trailing spaces (rich pads every cell) are removed so
    that the output greps and diffs cleanly.
    """
    console = make_console()
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


def _table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Text]],
    *,
    title: str = "",
    empty: str = "",
) -> RenderableType:
    """A table of ``rows``; when there are none and ``empty`` is given, that sentence instead."""
    table = Table(
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        title=title or None,
        title_justify="left",
        title_style="bold",
    )
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*row)
    if not table.row_count and empty:
        return Text(f"{title}: {empty}" if title else empty)
    return table


def _details(rows: Iterable[tuple[str, Text | str]]) -> Table:
    """A two-column key/value grid."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for key, value in rows:
        grid.add_row(Text(key), value if isinstance(value, Text) else Text(value))
    return grid


def _json_inline(value: Mapping[str, Any]) -> str:
    return json.dumps(dict(value), sort_keys=True, default=str)


# --------------------------------------------------------------------------- platform, services


def status_view(status: PlatformStatus) -> list[RenderableType]:
    """``dpp platform status``."""
    rows: list[tuple[str, Text | str]] = [
        ("Enabled", _text(status.enabled)),
        ("Default policy", status.default_policy),
        ("Max services", str(status.max_services)),
        ("Resource quota", f"{status.resource_quota}%"),
        ("Hosts", f"{status.hosts} ({status.hosts_connected} connected)"),
        ("Fault domains", str(status.fault_domains)),
        ("Services", str(status.services)),
        ("Instances", str(status.instances)),
        ("Raw capacity GB", _num(status.raw_capacity_gb)),
        ("Reserved GB", _num(status.reserved_gb)),
        ("Quota GB", _num(status.quota_gb)),
        ("State dir", status.state_dir or "(in memory)"),
    ]
    rows.extend(("Warning", Text(w, style="yellow")) for w in status.warnings)
    return [_details(rows)]


_SERVICE_COLUMNS = ("Name", "DisplayName", "Version", "Vendor", "Category", "Enabled", "Instances")


def _service_row(service: ServiceInfo) -> list[Text]:
    return [
        _text(service.name),
        _text(service.display_name),
        _text(service.active_version),
        _text(service.vendor),
        _text(service.category),
        _state("yes" if service.enabled else "no"),
        _text(service.instances),
    ]


def services_table(services: Sequence[ServiceInfo]) -> list[RenderableType]:
    """``dpp service list`` (and the result of register, enable, disable)."""
    return [_table(_SERVICE_COLUMNS, (_service_row(s) for s in services), empty="No services.")]


def service_view(service: ServiceInfo) -> list[RenderableType]:
    """``dpp service show``: the catalog entry, its plans and its versions."""
    manifest = service.active.manifest
    details = _details(
        [
            ("Name", service.name),
            ("Display name", service.display_name),
            ("Vendor", service.vendor),
            ("Category", str(service.category)),
            ("Enabled", _text(service.enabled)),
            ("Active version", service.active_version),
            ("Provider", service.active.provider),
            ("Description", manifest.description),
            (
                "Policies",
                f"{_list(manifest.supported_policies)} (default {manifest.default_policy})",
            ),
            ("Redundancy", str(manifest.redundancy)),
            ("Instances", str(service.instances)),
        ]
    )
    plans = _table(
        ("Plan", "MinGB", "MaxGB", "Parameters", "Description"),
        (
            [
                _text(p.name),
                _text(p.min_capacity_gb),
                _text(p.max_capacity_gb),
                _text(_json_inline(p.parameters)),
                _text(p.description),
            ]
            for p in manifest.plans
        ),
        title="Plans",
    )
    versions = _table(
        ("Version", "Provider", "Registered"),
        ([_text(v.version), _text(v.provider), _text(v.registered_at)] for v in service.versions),
        title="Versions",
    )
    return [details, plans, versions]


# --------------------------------------------------------------------------- operations


def operations_table(operations: Sequence[Operation]) -> list[RenderableType]:
    """The result of a mutation (and ``dpp operation list``): id, kind, target, state."""
    return [
        _table(
            ("ID", "Kind", "Target", "State"),
            ([_text(o.id), _text(o.kind), _text(o.target), _state(o.state)] for o in operations),
            empty="No operations.",
        )
    ]


def operation_view(operation: Operation) -> list[RenderableType]:
    """``dpp operation show``: the whole record, with its error if it failed."""
    rows: list[tuple[str, Text | str]] = [
        ("ID", operation.id),
        ("Kind", operation.kind),
        ("Target", operation.target),
        ("State", _state(operation.state)),
        ("Progress", f"{operation.progress:.0%}"),
        ("Attempts", str(operation.attempts)),
        ("Idempotency key", _text(operation.idempotency_key)),
        ("Created", _text(operation.created_at)),
        ("Started", _text(operation.started_at)),
        ("Finished", _text(operation.finished_at)),
    ]
    if operation.result:
        rows.append(("Result", _json_inline(operation.result)))
    error = operation.error
    if error is not None:
        rows.append(("Error", Text(f"{error.type}: {error.message}", style="red")))
        rows.extend(("Problem", p) for p in error.problems)
    out: list[RenderableType] = [_details(rows)]
    if error is not None and error.traceback:
        out.append(Text(error.traceback.rstrip()))
    return out


# --------------------------------------------------------------------------- instances


def instances_table(instances: Sequence[InstanceInfo]) -> list[RenderableType]:
    """``dpp instance list``: the seed's ``Select Name, ServiceType, Status, CapacityGB``."""
    return [
        _table(
            ("Name", "ServiceType", "Status", "CapacityGB", "Health"),
            (
                [
                    _text(i.name),
                    _text(i.service),
                    _state(i.status),
                    _text(i.spec.capacity_gb),
                    _state(i.health),
                ]
                for i in instances
            ),
            empty="No instances.",
        )
    ]


def instance_view(instance: InstanceInfo) -> list[RenderableType]:
    """``dpp instance show``: spec, status, volumes, members, endpoints and secret names."""
    spec = instance.spec
    out: list[RenderableType] = [
        _details(
            [
                ("Name", instance.name),
                ("Service", f"{instance.service} {instance.service_version}"),
                ("Status", _state(instance.status)),
                ("Health", _state(instance.health)),
                ("Plan", spec.plan),
                ("Capacity GB", str(spec.capacity_gb)),
                ("Policy", spec.policy),
                ("Parameters", _json_inline(spec.parameters)),
                ("Secrets", _list(s.name for s in instance.secrets)),
                ("Created", _text(instance.created_at)),
                ("Updated", _text(instance.updated_at)),
            ]
        )
    ]
    if instance.volumes:
        out.append(
            _table(
                ("Volume", "SizeGB", "Policy", "Member", "State", "Hosts"),
                (
                    [
                        _text(v.name),
                        _text(v.size_gb),
                        _text(v.policy),
                        _text(v.member),
                        _state(v.state),
                        _text(_list(v.hosts)),
                    ]
                    for v in instance.volumes
                ),
                title="Volumes",
            )
        )
    if instance.members:
        out.append(
            _table(
                ("Member", "Host", "State", "Volumes"),
                (
                    [_text(m.name), _text(m.host), _state(m.state), _text(_list(m.volumes))]
                    for m in instance.members
                ),
                title="Members",
            )
        )
    if instance.endpoints:
        out.append(
            _table(
                ("Endpoint", "URL", "Member"),
                ([_text(e.name), _text(e.url), _text(e.member)] for e in instance.endpoints),
                title="Endpoints",
            )
        )
    return out


# --------------------------------------------------------------------------- health


def _checks_table(health_checks: Iterable[Any], *, title: str = "") -> RenderableType:
    return _table(
        ("Check", "Status", "Message"),
        ([_text(c.name), _state(c.status), _text(c.message)] for c in health_checks),
        title=title,
        empty="No checks.",
    )


def instance_health_view(health: InstanceHealth) -> list[RenderableType]:
    """``dpp health NAME``: the instance's status and each named check."""
    header = _details(
        [
            ("Instance", health.instance),
            ("Service", health.service),
            ("Health", _state(health.status)),
        ]
    )
    return [header, _checks_table(health.checks)]


def cluster_health_view(health: ClusterHealth) -> list[RenderableType]:
    """``dpp health``: the cluster summary (``esxcli vsan datapersistence health get``)."""
    out: list[RenderableType] = [_details([("Cluster health", _state(health.status))])]
    if health.checks:
        out.append(_checks_table(health.checks, title="Platform checks"))
    out.append(
        _table(
            ("Instance", "Service", "Health", "Failing checks"),
            (
                [
                    _text(i.instance),
                    _text(i.service),
                    _state(i.status),
                    _text(_list(c.name for c in i.checks if c.status != "green")),
                ]
                for i in health.instances
            ),
            title="Instances",
            empty="none",
        )
    )
    return out


# --------------------------------------------------------------------------- resources, hosts


def resources_view(report: ResourceReport) -> list[RenderableType]:
    """``dpp resource list``: capacity totals, per disk and per instance."""
    totals = _details(
        [
            ("Raw capacity GB", _num(report.raw_capacity_gb)),
            ("Reserved GB", _num(report.reserved_gb)),
            ("Quota GB", _num(report.quota_gb)),
        ]
    )
    disks = _table(
        ("Host", "Disk", "Kind", "State", "SizeGB", "ReservedGB", "FreeGB"),
        (
            [
                _text(d.host),
                _text(d.disk),
                _text(d.kind),
                _state(d.state),
                _text(d.size_gb),
                _text(d.reserved_gb),
                _text(d.free_gb),
            ]
            for d in report.disks
        ),
        title="Disks",
    )
    instances = _table(
        ("Instance", "Service", "Volumes", "Members", "LogicalGB", "ReservedGB"),
        (
            [
                _text(i.instance),
                _text(i.service),
                _text(i.volumes),
                _text(i.members),
                _text(i.logical_gb),
                _text(i.reserved_gb),
            ]
            for i in report.instances
        ),
        title="Instances",
        empty="none",
    )
    return [totals, disks, instances]


def _disk_summary(host: HostInfo) -> str:
    parts = [d.name if d.state == "healthy" else f"{d.name} ({d.state})" for d in host.disks]
    return _list(parts)


def hosts_table(hosts: Sequence[HostInfo]) -> list[RenderableType]:
    """``dpp host list``: state, fault domain, capacity and disks of every host."""
    return [
        _table(
            ("Name", "FaultDomain", "State", "SizeGB", "FreeGB", "Disks"),
            (
                [
                    _text(h.name),
                    _text(h.fault_domain),
                    _state(h.state),
                    _text(float(sum(d.size_gb for d in h.disks))),
                    _text(float(sum(d.free_gb for d in h.disks))),
                    _text(_disk_summary(h)),
                ]
                for h in hosts
            ),
        )
    ]


def precheck_view(precheck: MaintenancePrecheck) -> list[RenderableType]:
    """``dpp host maintenance enter --precheck``: what maintenance would do, per instance."""
    rows: list[tuple[str, Text | str]] = [
        ("Host", precheck.host),
        *([("Disk", precheck.disk)] if precheck.disk is not None else []),
        ("Mode", str(precheck.mode)),
        (
            "Inaccessible",
            Text(_list(precheck.inaccessible), style="red" if precheck.inaccessible else ""),
        ),
        ("Reduced availability", _list(precheck.reduced_availability)),
        ("Rebuild", _list(precheck.rebuild)),
        ("Bytes to rebuild", _bytes(precheck.bytes_to_rebuild)),
    ]
    rows.extend(("Problem", Text(p, style="red")) for p in precheck.problems)
    rows.extend(
        ("Veto", Text(f"{v.instance}: {v.reason.value} ({v.message})", style="red"))
        for v in precheck.vetoes
    )
    out: list[RenderableType] = [_details(rows)]
    if precheck.instances:
        out.append(
            _table(
                (
                    "Instance",
                    "Service",
                    "OfflineVolumes",
                    "ReducedVolumes",
                    "RebuiltVolumes",
                    "StoppedMembers",
                    "Rebuild",
                ),
                (
                    [
                        _text(i.instance),
                        _text(i.service),
                        _text(_list(i.inaccessible_volumes)),
                        _text(_list(i.reduced_availability_volumes)),
                        _text(_list(i.rebuilt_volumes)),
                        _text(_list(i.stopped_members)),
                        _text(_bytes(i.bytes_to_rebuild)),
                    ]
                    for i in precheck.instances
                ),
                title="Affected instances",
            )
        )
    return out


def maintenance_result_view(result: MaintenanceResult) -> list[RenderableType]:
    """``dpp host maintenance enter``: which providers were consulted, and the impact."""
    where = result.host if result.disk is None else f"{result.host} {result.disk}"
    header = Text(
        f"{where} entered maintenance ({result.mode}); "
        f"providers consulted for: {_list(result.consulted)}"
    )
    return [header, *precheck_view(result.precheck)]


# --------------------------------------------------------------------------- audit, events


def audit_table(records: Sequence[AuditRecord]) -> list[RenderableType]:
    """``dpp audit``: who did what to which target, and the outcome."""
    return [
        _table(
            ("Seq", "Time", "Principal", "Action", "Target", "Outcome", "Detail"),
            (
                [
                    _text(r.seq),
                    _text(r.time),
                    _text(r.principal),
                    _text(r.action),
                    _text(r.target),
                    _state(r.outcome),
                    _text(r.detail),
                ]
                for r in records
            ),
            empty="No audit records.",
        )
    ]


def events_table(events: Sequence[Event]) -> list[RenderableType]:
    """``dpp events``: failures, warnings and repairs the platform noticed."""
    return [
        _table(
            ("Seq", "Time", "Kind", "Target", "Message"),
            (
                [_text(e.seq), _text(e.time), _text(e.kind), _text(e.target), _text(e.message)]
                for e in events
            ),
            empty="No events.",
        )
    ]
