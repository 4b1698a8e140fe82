"""Documents the platform reports to its users (admins, the CLI, the gateway)."""

from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Mapping
from typing import Any, Literal, TypeVar

import attrs

from dpp_sdk.contract import (
    HealthCheck,
    HealthStatus,
    MaintenanceMode,
    Manifest,
    VetoReason,
)
from dpp_sdk.contract._serde import converter
from dpp_sdk.platform._policies import Architecture

__all__ = [
    "AuditRecord",
    "ClockStatus",
    "ClusterHealth",
    "DiskUsage",
    "Event",
    "InstanceHealth",
    "InstanceImpact",
    "InstanceUsage",
    "MaintenancePrecheck",
    "MaintenanceResult",
    "Page",
    "PlatformStatus",
    "PoolUsage",
    "RepairTimerInfo",
    "ResourceReport",
    "ServiceInfo",
    "ServiceVersion",
    "Veto",
]


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


@attrs.frozen(kw_only=True)
class ServiceVersion:
    """One registered version of a service and the provider reference that implements it."""

    version: str
    provider: str
    manifest: Manifest
    registered_at: _dt.datetime = attrs.field(factory=_utcnow)


@attrs.frozen(kw_only=True)
class ServiceInfo:
    """A catalog entry: the service, its versions, which one is active, whether enabled."""

    name: str
    display_name: str
    vendor: str
    category: str
    enabled: bool
    active_version: str
    versions: tuple[ServiceVersion, ...]
    instances: int = 0

    @property
    def active(self) -> ServiceVersion:
        """The active version's record."""
        return next(v for v in self.versions if v.version == self.active_version)


@attrs.frozen(kw_only=True)
class PlatformStatus:
    """What ``dpp platform status`` shows (``esxcli vsan datapersistence list``)."""

    enabled: bool
    default_policy: str
    #: ``osa`` or ``esa`` (``[cluster] architecture``).
    architecture: Architecture
    max_services: int
    resource_quota: int
    hosts: int
    hosts_connected: int
    fault_domains: int
    services: int
    instances: int
    raw_capacity_gb: float
    reserved_gb: float
    quota_gb: float
    state_dir: str | None
    warnings: tuple[str, ...] = ()
    #: The vSAN Direct pools' quota (``quota_gb`` is the vSAN datastore's); raw GB.
    direct_quota_gb: float = 0.0
    #: vSAN's operations reserve and host rebuild reserve (shown, not enforced); raw GB.
    operations_reserve_gb: float = 0.0
    host_rebuild_reserve_gb: float = 0.0


@attrs.frozen(kw_only=True)
class InstanceHealth:
    """Health of one instance: the provider's checks combined with the platform's own."""

    instance: str
    service: str
    status: HealthStatus
    checks: tuple[HealthCheck, ...]


@attrs.frozen(kw_only=True)
class ClusterHealth:
    """Health summary (``esxcli vsan datapersistence health get``)."""

    status: HealthStatus
    checks: tuple[HealthCheck, ...]
    instances: tuple[InstanceHealth, ...]


@attrs.frozen(kw_only=True)
class DiskUsage:
    """Capacity of one disk: size, reserved by volumes, free."""

    host: str
    disk: str
    kind: Literal["capacity", "direct"]
    state: Literal["healthy", "maintenance", "failed"]
    size_gb: float
    reserved_gb: float
    free_gb: float
    #: Reserved share of the disk, in percent, and whether it passed the capacity warning.
    used_percent: float = 0.0
    warning: bool = False


@attrs.frozen(kw_only=True)
class PoolUsage:
    """Capacity of one pool: the vSAN datastore (every capacity disk) or the vSAN Direct
    pools together (every direct disk), each with its own quota."""

    pool: Literal["vsan", "direct"]
    raw_gb: float
    reserved_gb: float
    quota_gb: float
    used_percent: float
    warning: bool


@attrs.frozen(kw_only=True)
class InstanceUsage:
    """What one instance holds: volumes, their logical size and the raw capacity reserved."""

    instance: str
    service: str
    volumes: int
    members: int
    logical_gb: float
    reserved_gb: float


@attrs.frozen(kw_only=True)
class ResourceReport:
    """``dpp resource list``: per-disk and per-instance capacity accounting."""

    raw_capacity_gb: float
    reserved_gb: float
    quota_gb: float
    disks: tuple[DiskUsage, ...]
    instances: tuple[InstanceUsage, ...]
    pools: tuple[PoolUsage, ...] = ()
    #: vSAN's operations reserve and host rebuild reserve (shown, not enforced); raw GB.
    operations_reserve_gb: float = 0.0
    host_rebuild_reserve_gb: float = 0.0


@attrs.frozen(kw_only=True)
class Veto:
    """A provider's refusal of a maintenance request."""

    instance: str
    reason: VetoReason
    message: str


@attrs.frozen(kw_only=True)
class InstanceImpact:
    """How maintenance of a host would affect one instance."""

    instance: str
    service: str
    inaccessible_volumes: tuple[str, ...] = ()
    reduced_availability_volumes: tuple[str, ...] = ()
    rebuilt_volumes: tuple[str, ...] = ()
    stopped_members: tuple[str, ...] = ()
    bytes_to_rebuild: int = 0
    instance_inaccessible: bool = False
    #: Host-local volumes the *service* rebuilds elsewhere when it drains (``evacuate-all``
    #: of a maintenance-aware instance), and their bytes: vSAN's ``dataToRebuild``, apart
    #: from the platform's own component moves (``rebuilt_volumes``, ``dataToMove``).
    service_rebuilt_volumes: tuple[str, ...] = ()
    service_bytes_to_rebuild: int = 0

    @property
    def becomes_inaccessible(self) -> bool:
        """True when the instance as a whole would be unreachable: for a service relying on
        the platform's policy, any inaccessible volume; for a service with its own
        redundancy (``Redundancy.SERVICE``), no member left running."""
        return self.instance_inaccessible


@attrs.frozen(kw_only=True)
class MaintenancePrecheck:
    """Prediction for putting ``host`` into maintenance with ``mode``; nothing is changed.

    ``inaccessible``, ``reduced_availability`` and ``rebuild`` summarise ``instances`` (so a
    script reading the JSON need not re-derive them): the instances that would become
    inaccessible, keep running with reduced availability (fewer copies, offline volumes of a
    self-replicating service, stopped members), have data rebuilt elsewhere by the platform
    (``rebuild``, ``bytes_to_rebuild``), or rebuild data elsewhere themselves when they drain
    (``service_rebuild``, ``service_bytes_to_rebuild``), as vSAN's data-persistence resource
    check reports them.
    """

    host: str
    mode: MaintenanceMode
    instances: tuple[InstanceImpact, ...]
    bytes_to_rebuild: int
    disk: str | None = None
    problems: tuple[str, ...] = ()
    vetoes: tuple[Veto, ...] = ()
    inaccessible: tuple[str, ...] = ()
    reduced_availability: tuple[str, ...] = ()
    rebuild: tuple[str, ...] = ()
    service_rebuild: tuple[str, ...] = ()
    service_bytes_to_rebuild: int = 0

    @classmethod
    def summarise(
        cls,
        *,
        host: str,
        mode: MaintenanceMode,
        instances: tuple[InstanceImpact, ...],
        disk: str | None = None,
        problems: tuple[str, ...] = (),
        vetoes: tuple[Veto, ...] = (),
    ) -> MaintenancePrecheck:
        """A pre-check whose summary lists and byte total are derived from ``instances``."""
        return cls(
            host=host,
            disk=disk,
            mode=mode,
            instances=instances,
            bytes_to_rebuild=sum(i.bytes_to_rebuild for i in instances),
            problems=problems,
            vetoes=vetoes,
            inaccessible=tuple(i.instance for i in instances if i.becomes_inaccessible),
            reduced_availability=tuple(
                i.instance
                for i in instances
                if not i.becomes_inaccessible
                and (i.reduced_availability_volumes or i.inaccessible_volumes or i.stopped_members)
            ),
            rebuild=tuple(i.instance for i in instances if i.rebuilt_volumes),
            service_rebuild=tuple(i.instance for i in instances if i.service_rebuilt_volumes),
            service_bytes_to_rebuild=sum(i.service_bytes_to_rebuild for i in instances),
        )


@attrs.frozen(kw_only=True)
class MaintenanceResult:
    """What entering maintenance did (``disk`` is None for a whole host)."""

    host: str
    mode: MaintenanceMode
    disk: str | None = None
    precheck: MaintenancePrecheck
    consulted: tuple[str, ...] = ()
    #: The maintenance-aware instances whose providers drained their members off the host.
    drained: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class AuditRecord:
    """One mutating action: who did what to which target, and how it ended."""

    seq: int
    time: _dt.datetime
    principal: str
    action: str
    target: str
    outcome: Literal["succeeded", "failed", "refused"]
    detail: str = ""


@attrs.frozen(kw_only=True)
class Event:
    """Something the platform noticed: a failure, a warning, a repair."""

    seq: int
    time: _dt.datetime
    kind: str
    target: str
    message: str
    data: Mapping[str, Any] = attrs.field(factory=dict)


T = TypeVar("T")


class Page(list[T]):
    """One page of a listing: the items (it is a list of them) and ``next_cursor``, the
    opaque cursor of the next page, or None on the last page.

    Pass ``next_cursor`` back as ``cursor=`` to get the next page; a cursor stays valid while
    items are added or removed (it remembers where the page ended, not an offset)."""

    next_cursor: str | None

    def __init__(self, items: Iterable[T] = (), next_cursor: str | None = None) -> None:
        super().__init__(items)
        self.next_cursor = next_cursor

    def __repr__(self) -> str:
        return f"Page({list.__repr__(self)}, next_cursor={self.next_cursor!r})"


def _unstructure_page(page: Page[Any]) -> list[Any]:
    return [converter.unstructure(item) for item in page]


converter.register_unstructure_hook_func(
    lambda cls: isinstance(cls, type) and issubclass(cls, Page), _unstructure_page
)


@attrs.frozen(kw_only=True)
class RepairTimerInfo:
    """A running object repair timer: the host whose components are absent, why, since
    when, and when its absent components will be rebuilt elsewhere."""

    host: str
    cause: Literal["host-failure", "maintenance"]
    started_at: _dt.datetime
    due_at: _dt.datetime
    remaining_seconds: float


@attrs.frozen(kw_only=True)
class ClockStatus:
    """The platform's clock (``dpp clock show``): what time it is, which kind of clock
    (``simulated``: real time plus ``ahead_seconds``; ``manual``; ``system``: real time,
    cannot be advanced), the object repair timer setting and the timers running."""

    now: _dt.datetime
    kind: str
    ahead_seconds: float | None
    object_repair_timer_minutes: int
    repair_timers: tuple[RepairTimerInfo, ...] = ()
