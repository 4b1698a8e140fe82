"""The platform's stored records: one frozen attrs class per kind of thing it keeps.

Every record converts to and from JSON through the contract's one cattrs converter
(:func:`dpp_sdk.contract.structure` / :func:`~dpp_sdk.contract.unstructure`), and only
:mod:`dpp_sdk.platform._repository` reads or writes them. Records are values: a change is a
new record (``attrs.evolve``) saved in the same transaction as whatever else the change
touches.

Field names are the JSON keys of the stored documents, so the storage layout reads the same
in SQLite as in this file.

=============== =========================== ================================================
record          stored as                   holds
=============== =========================== ================================================
ServiceRecord   ``service/<name>``          catalog entry: versions, active one, enabled
InstanceRecord  ``instance/<name>``         spec, status, health, running operation,
                                            provider state, failure events queued while busy
VolumeRecord    ``volume/<instance>/<name>`` size, policy, member, written extent, components
MemberRecord    ``member/<instance>/<name>`` host, attached volumes, labels, anti-affinity
EndpointRecord  ``endpoint/<instance>/...`` protocol, address, port
SecretRecord    ``secret/<instance>/<name>`` the value (never shown)
LedgerEntry     ``ledger/<instance uid>/..`` one thing an instance ever came to hold
OperationRecord ``operations`` table        the public Operation plus request, fingerprint
                                            and the owner (the process running it)
=============== =========================== ================================================
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, Literal, TypeAlias

import attrs

from dpp_sdk.contract import (
    AntiAffinity,
    FailureEvent,
    HealthStatus,
    InstanceSpec,
    InstanceStatus,
    MaintenanceMode,
    Operation,
    OperationError,
    OperationState,
    PoolAntiAffinity,
    structure,
    unstructure,
)
from dpp_sdk.platform._capacity import ComponentPlacement, Stripe
from dpp_sdk.platform._models import ServiceVersion
from dpp_sdk.platform._policies import POLICIES, ComponentRole, Policy

__all__ = [
    "BUSY",
    "JSON",
    "ComponentRecord",
    "ClockPosition",
    "ComponentState",
    "DrainRecord",
    "EndpointRecord",
    "InstanceRecord",
    "LedgerEntry",
    "MemberRecord",
    "OperationRecord",
    "RepairTimer",
    "SecretRecord",
    "ServiceRecord",
    "VolumeRecord",
]

JSON: TypeAlias = Any
"""A JSON-compatible value (what provider state and operation requests hold)."""

ComponentState: TypeAlias = Literal["active", "stale", "lost"]
"""A stored component's state. ``stale`` missed writes and must resync; ``lost`` lost its bytes.
(``absent`` is never stored: it follows from the host's or disk's state.)"""

BUSY = frozenset(
    {
        InstanceStatus.PROVISIONING,
        InstanceStatus.CONFIGURING,
        InstanceStatus.SCALING,
        InstanceStatus.DECOMMISSIONING,
    }
)
"""Statuses in which a lifecycle operation owns the instance."""


@attrs.frozen(kw_only=True)
class ServiceRecord:
    """A catalog entry."""

    name: str
    enabled: bool = True
    active_version: str
    versions: tuple[ServiceVersion, ...]

    @property
    def active(self) -> ServiceVersion:
        """The active version."""
        return self.version(self.active_version)

    def version(self, version: str) -> ServiceVersion:
        """Registered version ``version``; KeyError if there is none."""
        for v in self.versions:
            if v.version == version:
                return v
        raise KeyError(version)


@attrs.frozen(kw_only=True)
class InstanceRecord:
    """An instance: what was asked for, where it stands, and the provider's own state."""

    name: str
    uid: str
    service: str
    service_version: str
    spec: InstanceSpec
    status: InstanceStatus
    health: HealthStatus = HealthStatus.GREEN
    operation: str | None = None
    provider_state: Mapping[str, JSON] = attrs.field(factory=dict)
    pending_events: tuple[FailureEvent, ...] = ()
    created_at: dt.datetime
    updated_at: dt.datetime

    @property
    def busy_status(self) -> bool:
        """Whether the status says a lifecycle operation owns the instance."""
        return self.status in BUSY


@attrs.frozen(kw_only=True)
class ComponentRecord:
    """One component of a volume: where it lives, what it reserves, and its stored state.

    ``stripes`` is set when the component is striped across several capacity disks of its
    host (see :class:`~dpp_sdk.platform._capacity.ComponentPlacement`); ``disk`` is then the
    first of them."""

    index: int
    role: ComponentRole
    host: str
    disk: str
    reserved_gb: float
    state: ComponentState = "active"
    #: A component rebuilt, resynced or moved finishes copying its ``resync_bytes`` at this
    #: time (``[cluster] resync_mbps``): until then it is ``active-stale`` (or, when
    #: ``moving``, the copy of a component that still serves: the object is in ``data-move``).
    #: Its bytes are already current, and writes reach it meanwhile.
    resync_from: dt.datetime | None = None
    resync_until: dt.datetime | None = None
    resync_bytes: int = 0
    moving: bool = False

    def syncing(self, now: dt.datetime | None) -> bool:
        """Whether its resync (or move) is still under way at ``now`` (None: never)."""
        return now is not None and self.resync_until is not None and now < self.resync_until

    stripes: tuple[Stripe, ...] = ()

    @property
    def disks(self) -> tuple[str, ...]:
        """Every disk holding part of the component, in stripe order."""
        return tuple(s.disk for s in self.stripes) if self.stripes else (self.disk,)

    def placement(self, reserved_gb: float | None = None) -> ComponentPlacement:
        """The component as the cluster's ledger holds it (reserving ``reserved_gb`` instead,
        when given)."""
        return ComponentPlacement(
            index=self.index,
            role=self.role,
            host=self.host,
            disk=self.disk,
            reserved_gb=self.reserved_gb if reserved_gb is None else reserved_gb,
            stripes=self.stripes,
        )


@attrs.frozen(kw_only=True)
class VolumeRecord:
    """A volume of an instance. ``id`` names its bytes; ``extent`` is how far it was written."""

    id: str
    instance: str
    name: str
    size_gb: float
    policy: str
    member: str | None = None
    extent: int = 0
    created_by: str = ""
    components: tuple[ComponentRecord, ...] = ()
    pool_anti_affinity: PoolAntiAffinity | None = None  # vsan-direct only; None in old records
    #: Data components of an erasure-coded volume, fixed when it was created (ESA's adaptive
    #: RAID-5 picks 2 or 4 by cluster size); None for other policies and in records written
    #: before it was kept, which have the policy's own ``k`` (RAID-5: 3+1).
    k: int | None = None

    @property
    def layout(self) -> Policy:
        """The policy as this volume is laid out (its recorded ``k`` for erasure coding)."""
        return POLICIES[self.policy].with_data_components(self.k)

    @property
    def written_gb(self) -> float:
        """How much of the volume has been written, in GB: its extent, at most its size (what
        a thin volume's components reserve their share of)."""
        return min(self.size_gb, self.extent / 1024**3)

    def component(self, index: int) -> ComponentRecord:
        """Component ``index``."""
        return next(c for c in self.components if c.index == index)

    def with_components(self, changes: Mapping[int, ComponentRecord]) -> VolumeRecord:
        """A copy whose components ``changes`` names are replaced."""
        return attrs.evolve(
            self, components=tuple(changes.get(c.index, c) for c in self.components)
        )


@attrs.frozen(kw_only=True)
class MemberRecord:
    """A member (a process of the service) on a host."""

    name: str
    host: str
    volumes: tuple[str, ...] = ()
    labels: Mapping[str, str] = attrs.field(factory=dict)
    anti_affinity: AntiAffinity | None = None
    #: The rules after the first, for a member placed by several.
    more_anti_affinity: tuple[AntiAffinity, ...] = ()
    created_by: str = ""
    #: Evicted from a draining host by its provider (``ctx.members.stop``); runs again when
    #: the host leaves maintenance or the maintenance is abandoned.
    stopped: bool = False


@attrs.frozen(kw_only=True)
class EndpointRecord:
    """A network endpoint of an instance (or of one member)."""

    name: str
    protocol: str
    address: str
    port: int
    member: str | None = None
    created_by: str = ""


@attrs.frozen(kw_only=True, repr=False)
class SecretRecord:
    """A secret value of an instance. Its repr never shows the value."""

    name: str
    value: str
    created_by: str = ""

    def __repr__(self) -> str:
        return f"SecretRecord(name={self.name!r}, value='********')"


@attrs.frozen(kw_only=True)
class LedgerEntry:
    """Instance ``uid`` came to hold ``kind``/``name`` during ``operation`` (the leak ledger)."""

    kind: str
    name: str
    operation: str
    time: dt.datetime


@attrs.frozen(kw_only=True)
class OperationRecord:
    """An operation as stored: the public :class:`~dpp_sdk.Operation` fields, plus the request
    it runs (``request``), its idempotency ``fingerprint``, its ``owner`` (the platform
    object running it, ``pid:start:token``) and how many times recovery ``resumes``d it."""

    id: str
    kind: str
    target: str
    state: OperationState = OperationState.PENDING
    progress: float = 0.0
    error: OperationError | None = None
    idempotency_key: str | None = None
    attempts: int = 0
    result: Mapping[str, JSON] = attrs.field(factory=dict)
    created_at: dt.datetime
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    fingerprint: str = ""
    request: Mapping[str, JSON] = attrs.field(factory=dict)
    owner: str = ""
    resumes: int = 0

    @property
    def public(self) -> Operation:
        """The public view of this operation."""
        return Operation(
            id=self.id,
            kind=self.kind,
            target=self.target,
            state=self.state,
            progress=self.progress,
            error=self.error,
            idempotency_key=self.idempotency_key,
            attempts=self.attempts,
            result=self.result,
            created_at=self.created_at,
            started_at=self.started_at,
            finished_at=self.finished_at,
        )

    def moved(self, **changes: Any) -> OperationRecord:
        """A copy with ``changes``; a state change must move forward (AssertionError if not)."""
        new_state = changes.get("state")
        if new_state is not None:
            new_state = OperationState(new_state)
            changes["state"] = new_state
            if new_state != self.state and not self.state.can_move_to(new_state):
                raise AssertionError(
                    f"operation {self.id}: illegal move {self.state} -> {new_state}"
                )
        return attrs.evolve(self, **changes)


@attrs.frozen(kw_only=True)
class RepairTimer:
    """vSAN's object repair timer for one host whose components are absent: when it expires,
    the absent components are rebuilt elsewhere and, for a failed host, the data that lives
    only on it (``vsan-sna``, ``vsan-direct``) is declared lost. Cancelled when the host
    returns first."""

    host: str
    cause: Literal["host-failure", "maintenance"]
    started_at: dt.datetime
    due_at: dt.datetime
    #: Expired while the host was failed: kept until the host returns, so its members show
    #: as ``lost`` rather than ``unreachable``.
    expired: bool = False


@attrs.frozen(kw_only=True)
class DrainRecord:
    """A host being drained for maintenance by process ``owner``: if that process dies, the
    next platform to open the state directory abandons the drain (the host is connected
    again and the members its providers stopped run again)."""

    host: str
    mode: MaintenanceMode
    owner: str
    started_at: dt.datetime


@attrs.frozen(kw_only=True)
class ClockPosition:
    """Where a simulated clock stood when last advanced (``Clock.saved``), by clock kind."""

    kind: str
    position: float


def to_data(record: Any) -> Any:
    """A record as JSON-compatible data."""
    return unstructure(record)


def from_data(data: Any, cls: type[Any]) -> Any:
    """A record of type ``cls`` from JSON-compatible data."""
    return structure(data, cls)
