"""Documents that cross the boundary between a provider, the platform and its users.

All models are frozen, keyword-only attrs classes. Convert them to and from JSON with
:func:`dpp_sdk.to_json` / :func:`dpp_sdk.from_json` (one cattrs converter), never by hand.
"""

from __future__ import annotations

import datetime as _dt
import enum
from collections.abc import Iterable, Mapping
from typing import Any, Literal

import attrs

__all__ = [
    "POLICY_NAMES",
    "AntiAffinity",
    "Capabilities",
    "Category",
    "ClusterView",
    "ComponentInfo",
    "ConfigureRequest",
    "DecommissionRequest",
    "DrainRequest",
    "Footprint",
    "DiskInfo",
    "EndpointInfo",
    "FailureEvent",
    "FailureKind",
    "HealthCheck",
    "HealthReport",
    "HealthStatus",
    "HostInfo",
    "InstanceInfo",
    "InstanceSpec",
    "InstanceStatus",
    "MaintenanceDecision",
    "MaintenanceMode",
    "MaintenanceRequest",
    "Manifest",
    "MemberFootprint",
    "MemberInfo",
    "ObjectHealth",
    "Operation",
    "OperationError",
    "OperationState",
    "Plan",
    "PoolInfo",
    "PoolAntiAffinity",
    "ProvisionRequest",
    "Redundancy",
    "ScaleRequest",
    "SecretInfo",
    "VetoReason",
    "VolumeClaim",
    "VolumeInfo",
]

#: The storage policies every platform offers (PRODUCT.md section 3). Each vSAN policy is
#: thin (object space reservation 0%); its ``-thick`` twin reserves its full size at creation
#: (object space reservation 100%). A manifest that supports a policy supports its twin.
POLICY_NAMES: tuple[str, ...] = (
    "vsan-default",
    "vsan-raid1-ftt2",
    "vsan-raid1-ftt3",
    "vsan-raid5",
    "vsan-raid6",
    "vsan-sna",
    "vsan-direct",
    "vsan-default-thick",
    "vsan-raid1-ftt2-thick",
    "vsan-raid1-ftt3-thick",
    "vsan-raid5-thick",
    "vsan-raid6-thick",
    "vsan-sna-thick",
)

JSON = Any  # a JSON-compatible value: dict, list, str, int, float, bool or None


def _utcnow() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC)


# --------------------------------------------------------------------------- manifest


class Category(enum.StrEnum):
    """What kind of service a provider offers."""

    DATABASE = "database"
    OBJECT_STORAGE = "object-storage"
    ANALYTICS = "analytics"
    MESSAGING = "messaging"
    CACHE = "cache"
    SEARCH = "search"
    OTHER = "other"


class Redundancy(enum.StrEnum):
    """Who keeps the data safe when hardware fails.

    ``SERVICE``: the service replicates or erasure-codes data itself across members (MongoDB
    replica sets, MinIO erasure sets) and usually runs on FTT=0 policies (``vsan-sna``,
    ``vsan-direct``). ``PLATFORM``: the service keeps one copy and relies on the storage
    policy's redundancy (``vsan-default``, ``vsan-raid1-ftt2``, ``vsan-raid1-ftt3``,
    ``vsan-raid5``, ``vsan-raid6``).
    """

    SERVICE = "service"
    PLATFORM = "platform"


@attrs.frozen(kw_only=True)
class Plan:
    """A sized offering of a service: capacity bounds and default parameters."""

    name: str
    description: str = ""
    min_capacity_gb: int = 1
    max_capacity_gb: int = 1_000_000
    parameters: Mapping[str, JSON] = attrs.field(factory=dict)


@attrs.frozen(kw_only=True)
class Capabilities:
    """What a provider supports. The conformance suite skips checks for what is not declared."""

    capacity_scale_up: bool = True
    capacity_scale_down: bool = False
    horizontal_scale: bool = False
    maintenance_aware: bool = False
    data_probe: bool = False


@attrs.frozen(kw_only=True)
class Manifest:
    """What a provider declares about its service when it registers.

    ``parameters_schema`` is a JSON Schema (2020-12) for the instance parameters; ``default``
    keywords in its ``properties`` supply values a request omits. ``version`` is semver.
    """

    name: str
    display_name: str
    version: str
    vendor: str
    category: Category
    description: str
    plans: tuple[Plan, ...]
    parameters_schema: Mapping[str, JSON] = attrs.field(
        factory=lambda: {"type": "object", "properties": {}}
    )
    supported_policies: tuple[str, ...] = ("vsan-default",)
    default_policy: str = "vsan-default"
    capabilities: Capabilities = attrs.field(factory=Capabilities)
    redundancy: Redundancy = Redundancy.PLATFORM

    def plan(self, name: str | None) -> Plan | None:
        """The plan called ``name`` (the first plan when ``name`` is None), or None."""
        if name is None:
            return self.plans[0] if self.plans else None
        return next((p for p in self.plans if p.name == name), None)


# --------------------------------------------------------------------------- requests


@attrs.frozen(kw_only=True)
class InstanceSpec:
    """What the user asked for: plan, capacity, parameters (defaults applied), policy."""

    plan: str
    capacity_gb: int
    parameters: Mapping[str, JSON] = attrs.field(factory=dict)
    policy: str = "vsan-default"


@attrs.frozen(kw_only=True)
class ProvisionRequest:
    """Handed to :meth:`ServiceProvider.provision`: create instance ``instance`` to ``spec``."""

    instance: str
    service: str
    spec: InstanceSpec
    operation_id: str = ""


@attrs.frozen(kw_only=True)
class ConfigureRequest:
    """Handed to :meth:`ServiceProvider.configure`: move the instance to ``parameters``.

    ``parameters`` is the complete, validated new parameter set; ``previous`` the set the
    instance had; ``changed`` the names whose values differ.
    """

    instance: str
    parameters: Mapping[str, JSON]
    previous: Mapping[str, JSON]
    changed: tuple[str, ...]
    operation_id: str = ""


@attrs.frozen(kw_only=True)
class ScaleRequest:
    """Handed to :meth:`ServiceProvider.scale`: change capacity to ``capacity_gb``."""

    instance: str
    capacity_gb: int
    previous_capacity_gb: int
    operation_id: str = ""


@attrs.frozen(kw_only=True)
class DecommissionRequest:
    """Handed to :meth:`ServiceProvider.decommission`: release everything of ``instance``."""

    instance: str
    operation_id: str = ""


# --------------------------------------------------------------------------- health


class HealthStatus(enum.StrEnum):
    """Traffic-light health, ordered: green < yellow < red."""

    GREEN = "green"
    YELLOW = "yellow"
    RED = "red"

    @property
    def severity(self) -> int:
        """0 for green, 1 for yellow, 2 for red."""
        return ("green", "yellow", "red").index(self.value)

    @classmethod
    def worst(cls, statuses: Iterable[HealthStatus]) -> HealthStatus:
        """The most severe of ``statuses`` (green when empty)."""
        return max(statuses, key=lambda s: s.severity, default=cls.GREEN)


@attrs.frozen(kw_only=True)
class HealthCheck:
    """One named check: ``HealthCheck(name="write-quorum", status=RED, message="2/4 drives")``."""

    name: str
    status: HealthStatus
    message: str = ""


@attrs.frozen(kw_only=True)
class HealthReport:
    """What :meth:`ServiceProvider.monitor` returns; ``status`` is the worst check's status."""

    status: HealthStatus
    checks: tuple[HealthCheck, ...] = ()

    @classmethod
    def from_checks(cls, checks: Iterable[HealthCheck]) -> HealthReport:
        """Build a report whose status is the worst of ``checks``."""
        items = tuple(checks)
        return cls(status=HealthStatus.worst(c.status for c in items), checks=items)


# --------------------------------------------------------------------------- resources


@attrs.frozen(kw_only=True)
class AntiAffinity:
    """Keep members of ``group`` apart, across hosts or fault domains.

    ``required=True`` fails placement rather than co-locate (``AntiAffinityUnsatisfiable``);
    ``required=False`` prefers to spread but co-locates when it must.
    """

    group: str
    required: bool = True
    scope: Literal["host", "fault-domain"] = "host"


@attrs.frozen(kw_only=True)
class PoolAntiAffinity:
    """Keep ``vsan-direct`` volumes of ``group`` on different direct disks (storage pools).

    Each vSAN Direct disk is a storage pool that several volumes share; the platform puts a
    new direct volume on the pool of its host with the most free space, so two volumes of one
    service may well land on the same disk. Volumes of this instance that name the same
    ``group`` avoid each other's disks: ``required=True`` fails placement rather than share a
    disk (``PlacementFailed`` with reason ``AntiAffinityUnsatisfiable``, naming the volume,
    the group and what holds each disk); ``required=False`` spreads when a disk with room is
    free of the group, else shares the disk with the fewest volumes of the group.

    The real platform's name for it is storage-pool anti-affinity: the PVC annotations
    ``placement.beta.vmware.com/storagepool_antiAffinityRequired`` and
    ``placement.beta.vmware.com/storagepool_antiAffinityPreferred``, whose value is the group.
    Only ``vsan-direct`` volumes take it; on any other policy it is a ``ValidationError``.
    """

    group: str
    required: bool = True


@attrs.frozen(kw_only=True)
class VolumeClaim:
    """A volume a member needs, created with it and placed with it (``vsan-sna`` and
    ``vsan-direct`` volumes land on the member's host). ``policy=None`` means the
    instance's policy. ``pool_anti_affinity`` (``vsan-direct`` only) keeps the volume off the
    direct disks that hold other volumes of its group (see :class:`PoolAntiAffinity`)."""

    name: str
    size_gb: float
    policy: str | None = None
    pool_anti_affinity: PoolAntiAffinity | None = None


@attrs.frozen(kw_only=True)
class ComponentInfo:
    """Where one component of a volume lives, and whether it is usable now."""

    index: int
    role: Literal["replica", "witness", "data", "parity", "local", "direct"]
    host: str
    disk: str
    state: Literal["active", "absent", "degraded", "active-stale"]
    """vSAN's component states: ``active``; ``absent`` (its host is down or in maintenance,
    or its disk in maintenance: it may come back, and is rebuilt elsewhere only when the
    object repair timer expires); ``degraded`` (its disk failed or its data was declared
    lost: it will not come back and is rebuilt elsewhere at once where possible);
    ``active-stale`` (reachable but missed writes; being resynced from its peers)."""


class ObjectHealth(enum.StrEnum):
    """A volume's health in vSAN's object health categories (``VsanObjectHealthState``)."""

    HEALTHY = "healthy"
    #: Accessible without some components; vSAN waits for the object repair timer before
    #: rebuilding them (their host may come back).
    REDUCED_AVAILABILITY_DELAY_TIMER = "reduced-availability-with-no-rebuild-delay-timer"
    #: Accessible without some components that vSAN cannot rebuild now (no home for them, or
    #: the policy keeps the data on one host).
    REDUCED_AVAILABILITY_NO_REBUILD = "reduced-availability-with-no-rebuild"
    #: Accessible while missing components are being rebuilt or resynced.
    REDUCED_AVAILABILITY_ACTIVE_REBUILD = "reduced-availability-with-active-rebuild"
    INACCESSIBLE = "inaccessible"
    #: Fully available while components are being moved (maintenance evacuation).
    DATA_MOVE = "data-move"


@attrs.frozen(kw_only=True)
class VolumeInfo:
    """A volume of an instance.

    ``state`` summarises: ``healthy`` (all components active), ``reduced-availability``
    (accessible without some) or ``inaccessible``. ``health`` says why, in vSAN's object
    health categories; ``rebuild_at`` is when the object repair timer will rebuild absent
    components (``health`` is then ``reduced-availability-with-no-rebuild-delay-timer``).
    While components are rebuilt, resynced or moved (``...-with-active-rebuild``,
    ``data-move``), ``resync_done_at`` is when the copying ends and ``resync_bytes_left`` how
    much is left to copy.
    ``pool_anti_affinity`` is the storage-pool anti-affinity it was created with, if any.
    ``written_gb`` is how far the volume has been written, and ``reserved_gb`` the raw
    capacity its components reserve: all of their size under a thick policy (and
    ``vsan-direct``), their share of what was written under a thin one.
    """

    name: str
    size_gb: float
    policy: str
    member: str | None = None
    state: Literal["healthy", "reduced-availability", "inaccessible"] = "healthy"
    health: ObjectHealth = ObjectHealth.HEALTHY
    rebuild_at: _dt.datetime | None = None
    resync_done_at: _dt.datetime | None = None
    resync_bytes_left: int = 0
    components: tuple[ComponentInfo, ...] = ()
    pool_anti_affinity: PoolAntiAffinity | None = None
    written_gb: float = 0.0
    reserved_gb: float = 0.0

    @property
    def accessible(self) -> bool:
        """True when the volume can be read and written now."""
        return self.state != "inaccessible"

    @property
    def hosts(self) -> tuple[str, ...]:
        """Hosts holding components of this volume, in component order, without repeats."""
        return tuple(dict.fromkeys(c.host for c in self.components))


@attrs.frozen(kw_only=True)
class MemberInfo:
    """A process of the service (a pod). ``state``: ``running``; ``unreachable`` when its
    host failed (it may come back: wait); ``lost`` when its host is still down after the
    object repair timer expired (the platform declared the data that lived only on that host
    lost: re-create the member elsewhere); ``stopped`` when its host is in maintenance."""

    name: str
    host: str
    state: Literal["running", "unreachable", "lost", "stopped"] = "running"
    volumes: tuple[str, ...] = ()
    labels: Mapping[str, str] = attrs.field(factory=dict)
    anti_affinity: AntiAffinity | None = None
    #: Every anti-affinity rule the member was placed by (``anti_affinity`` is the first).
    anti_affinities: tuple[AntiAffinity, ...] = ()


@attrs.frozen(kw_only=True)
class EndpointInfo:
    """A network endpoint the instance exposes: ``protocol://address:port``."""

    name: str
    protocol: str
    address: str
    port: int
    member: str | None = None

    @property
    def url(self) -> str:
        """The endpoint as a URL."""
        return f"{self.protocol}://{self.address}:{self.port}"


@attrs.frozen(kw_only=True)
class SecretInfo:
    """A secret's name. Values never appear in documents, logs, health or audit."""

    name: str


# --------------------------------------------------------------------------- cluster view


@attrs.frozen(kw_only=True)
class DiskInfo:
    """A disk as providers see it.

    ``reserved_gb`` is what volume components hold on it; ``free_gb`` is what a new volume
    could still use (0 while the disk or its host cannot take new volumes). A ``direct`` disk
    is a vSAN Direct storage pool that volumes share: its free space is its size minus the
    volumes on it."""

    name: str
    kind: Literal["capacity", "direct"]
    size_gb: float
    free_gb: float
    state: Literal["healthy", "maintenance", "failed"] = "healthy"
    reserved_gb: float = 0.0


@attrs.frozen(kw_only=True)
class HostInfo:
    """A host as providers see it. ``draining``: it is entering maintenance and tainted
    (vSAN's ``drain`` / ``planned-downtime`` taint): nothing new is placed there, and the
    services must take their members off it (:meth:`ServiceProvider.drain`)."""

    name: str
    fault_domain: str
    state: Literal["connected", "draining", "maintenance", "failed"] = "connected"
    disks: tuple[DiskInfo, ...] = ()


@attrs.frozen(kw_only=True)
class PoolInfo:
    """One pool kind's capacity as quotas count it: ``vsan`` (the vSAN datastore: every
    capacity disk) or ``direct`` (every vSAN Direct disk together). GB are raw."""

    kind: Literal["vsan", "direct"]
    raw_gb: float
    reserved_gb: float
    quota_gb: float

    @property
    def free_gb(self) -> float:
        """Raw GB still allowed under the quota (never negative)."""
        return max(0.0, self.quota_gb - self.reserved_gb)


@attrs.frozen(kw_only=True)
class ClusterView:
    """A read-only snapshot of the cluster, for decisions such as 'enough hosts for 3 members?'.
    ``pools`` gives each pool kind's raw capacity, what is reserved and the quota."""

    hosts: tuple[HostInfo, ...]
    pools: tuple[PoolInfo, ...] = ()

    def host(self, name: str) -> HostInfo | None:
        """The host called ``name``, or None."""
        return next((h for h in self.hosts if h.name == name), None)

    @property
    def connected_hosts(self) -> tuple[HostInfo, ...]:
        """Hosts that can run members now."""
        return tuple(h for h in self.hosts if h.state == "connected")

    @property
    def fault_domains(self) -> tuple[str, ...]:
        """Distinct fault domains, sorted."""
        return tuple(sorted({h.fault_domain for h in self.hosts}))


# --------------------------------------------------------------------------- instances


class InstanceStatus(enum.StrEnum):
    """Lifecycle status of an instance."""

    PROVISIONING = "provisioning"
    READY = "ready"
    CONFIGURING = "configuring"
    SCALING = "scaling"
    DEGRADED = "degraded"
    FAILED = "failed"
    DECOMMISSIONING = "decommissioning"
    DELETED = "deleted"


@attrs.frozen(kw_only=True)
class InstanceInfo:
    """The instance document: what ``dpp instance show`` prints and the gateway returns."""

    name: str
    service: str
    service_version: str
    spec: InstanceSpec
    status: InstanceStatus
    health: HealthStatus = HealthStatus.GREEN
    volumes: tuple[VolumeInfo, ...] = ()
    members: tuple[MemberInfo, ...] = ()
    endpoints: tuple[EndpointInfo, ...] = ()
    secrets: tuple[SecretInfo, ...] = ()
    created_at: _dt.datetime = attrs.field(factory=_utcnow)
    updated_at: _dt.datetime = attrs.field(factory=_utcnow)


# --------------------------------------------------------------------------- maintenance, failures


class MaintenanceMode(enum.StrEnum):
    """How a host enters maintenance (vSAN's data-migration modes)."""

    ENSURE_ACCESSIBILITY = "ensure-accessibility"
    EVACUATE_ALL = "evacuate-all"
    NO_ACTION = "no-action"


class VetoReason(enum.StrEnum):
    """Why a provider refuses a maintenance request."""

    GENERIC_FAILURE = "GenericFailure"
    NOT_ENOUGH_RESOURCES = "NotEnoughResources"
    TOO_MANY_EXISTING_FAILURES = "TooManyExistingFailures"


@attrs.frozen(kw_only=True)
class MaintenanceRequest:
    """Handed to :meth:`ServiceProvider.on_maintenance` before a host or disk goes away.

    ``disk`` is None for host maintenance. ``members`` and ``volumes`` are this instance's
    members on that host and volumes with a component there.
    """

    instance: str
    host: str
    mode: MaintenanceMode
    disk: str | None = None
    members: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class MemberFootprint:
    """One member a spec needs: its volume claims and its anti-affinity rules, as the
    provider will ``ensure`` it."""

    name: str
    volumes: tuple[VolumeClaim, ...] = ()
    anti_affinity: AntiAffinity | tuple[AntiAffinity, ...] | None = None


@attrs.frozen(kw_only=True)
class Footprint:
    """What an instance of a spec will hold, declared by :meth:`ServiceProvider.footprint`:
    its members (with their volumes) and any volumes of no member. The platform checks it
    against the quota of each pool kind and places it as a dry run before anything is
    allocated, so a request that cannot fit is refused, not failed half-way."""

    members: tuple[MemberFootprint, ...] = ()
    volumes: tuple[VolumeClaim, ...] = ()


@attrs.frozen(kw_only=True)
class DrainRequest:
    """Handed to :meth:`ServiceProvider.drain` while ``host`` is tainted for maintenance.

    ``taint`` is what the real platform puts on the node: ``planned-downtime`` for the
    ``ensure-accessibility`` and ``no-action`` modes (take the members off the host, by
    stopping them with ``ctx.members.stop`` to come back with their data, or moving them) and
    ``drain`` for ``evacuate-all`` (the host's data must be rebuilt elsewhere: re-create the
    members on other hosts). ``members`` are this instance's members on the host, ``volumes``
    its volumes with a component there, ``local_volumes`` those whose only copy is there
    (``vsan-sna``, ``vsan-direct``).
    """

    instance: str
    host: str
    mode: MaintenanceMode
    taint: Literal["planned-downtime", "drain"]
    members: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    local_volumes: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class MaintenanceDecision:
    """A provider's answer: allow, or veto with a reason and a message for the admin."""

    allowed: bool
    reason: VetoReason | None = None
    message: str = ""

    @classmethod
    def allow(cls, message: str = "") -> MaintenanceDecision:
        """Let the maintenance proceed."""
        return cls(allowed=True, message=message)

    @classmethod
    def veto(cls, reason: VetoReason, message: str) -> MaintenanceDecision:
        """Refuse the maintenance; ``message`` is shown to the admin."""
        return cls(allowed=False, reason=reason, message=message)


class FailureKind(enum.StrEnum):
    """What happened to the hardware."""

    HOST_FAILURE = "host-failure"
    HOST_RECOVERED = "host-recovered"
    DISK_FAILURE = "disk-failure"
    DISK_REPLACED = "disk-replaced"
    DISK_RECOVERED = "disk-recovered"  # back from maintenance, its components resynced
    #: A failed host stayed away past the object repair timer: its absent components were
    #: rebuilt elsewhere where possible, and the data that lived only on it (``vsan-sna``,
    #: ``vsan-direct`` volumes, in ``lost_volumes``) is declared lost. The time to re-create
    #: the members that were on it.
    REPAIR_TIMER_EXPIRED = "repair-timer-expired"


@attrs.frozen(kw_only=True)
class FailureEvent:
    """Handed to :meth:`ServiceProvider.on_failure` when hardware an instance uses changes.

    ``members`` are this instance's members on the host; ``volumes`` its volumes with a
    component on the failed host or disk; ``lost_volumes`` those whose data was destroyed.
    """

    instance: str
    kind: FailureKind
    host: str
    disk: str | None = None
    members: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    lost_volumes: tuple[str, ...] = ()


# --------------------------------------------------------------------------- operations


class OperationState(enum.StrEnum):
    """States only move forward: pending -> running -> succeeded | failed."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        """True for succeeded and failed."""
        return self in (OperationState.SUCCEEDED, OperationState.FAILED)

    def can_move_to(self, other: OperationState) -> bool:
        """Whether the transition self -> other is allowed (forward only)."""
        order = {"pending": 0, "running": 1, "succeeded": 2, "failed": 2}
        return not self.terminal and order[other.value] > order[self.value]


@attrs.frozen(kw_only=True)
class OperationError:
    """Why an operation failed: the exception type, its message, and optional detail."""

    type: str
    message: str
    problems: tuple[str, ...] = ()
    traceback: str | None = None


@attrs.frozen(kw_only=True)
class Operation:
    """The record of one mutating request."""

    id: str
    kind: str
    target: str
    state: OperationState = OperationState.PENDING
    progress: float = 0.0
    error: OperationError | None = None
    idempotency_key: str | None = None
    attempts: int = 0
    result: Mapping[str, JSON] = attrs.field(factory=dict)
    created_at: _dt.datetime = attrs.field(factory=_utcnow)
    started_at: _dt.datetime | None = None
    finished_at: _dt.datetime | None = None
