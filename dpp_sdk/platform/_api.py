"""The platform as its front ends see it: :class:`PlatformAPI`.

The ``dpp`` command (and later the HTTP gateway) is typed against this protocol, not against
the in-process :class:`~dpp_sdk.platform.Platform`. ``Platform`` satisfies it structurally
(a test compares every member's signature, and mypy checks an assignment of one to the
other); the HTTP client will implement it too, so a front end runs unchanged against either.

Every method behaves as the ``Platform`` method of the same name documents. In short:
mutating methods run an :class:`~dpp_sdk.Operation` to completion and return it, raising
:class:`~dpp_sdk.OperationFailed` when it ends ``failed``; invalid requests raise
:class:`~dpp_sdk.ValidationError` listing every problem before anything is allocated; an
unknown name raises :class:`~dpp_sdk.NotFound`. Every error is a :class:`~dpp_sdk.DppError`.

Left out on purpose, because they hand out in-process objects or exist for tests and the
conformance suite: ``Platform.open`` (how a platform is reached is the implementation's
business), ``config``, ``provider_for`` and ``data_probe`` (the conformance suite reaches
those through its lab, ``dpp_sdk.conformance.Lab``).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any, Protocol, Self

from dpp_sdk.contract import (
    Conflict,
    HostInfo,
    InstanceInfo,
    MaintenanceMode,
    Operation,
    ServiceProvider,
    unstructure,
)
from dpp_sdk.platform._checks import DEFAULT_PAGE
from dpp_sdk.platform._models import (
    AuditRecord,
    ClockStatus,
    ClusterHealth,
    Event,
    InstanceHealth,
    MaintenancePrecheck,
    MaintenanceResult,
    Page,
    PlatformStatus,
    ResourceReport,
    ServiceInfo,
)

__all__ = ["PlatformAPI", "PreconditionFailed", "etag_of", "etag_of_document"]


class PreconditionFailed(Conflict):
    """An update named the version of the instance it was meant for (``if_match``, the HTTP
    ``If-Match`` header) and the instance has changed since: nothing was done. Get the
    instance again and decide. Raised by the HTTP client (``dpp_sdk.client``) and the
    gateway; the in-process :class:`~dpp_sdk.Platform` takes no ``if_match``."""


def etag_of(info: InstanceInfo) -> str:
    """The entity tag of an instance document, as the gateway's ``ETag`` header gives it: a
    strong tag, a hash of the document as JSON (any change to the instance, its
    ``updated_at`` included, changes it). One function for the gateway and the client, so
    that a tag the client computes from a document it read is the one the gateway compares."""
    return etag_of_document(unstructure(info))


def etag_of_document(document: Any) -> str:
    """:func:`etag_of` of an instance already turned into its JSON document (``unstructure``),
    for a caller that has it anyway."""
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return '"' + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:32] + '"'


class PlatformAPI(Protocol):
    """What a front end (the CLI, the gateway) may ask of a Data Persistence Platform."""

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Release what the platform holds (database, log file, connection); idempotent."""
        ...

    def __enter__(self) -> Self:
        """The platform itself, closed when the ``with`` block ends."""
        ...

    def __exit__(self, *exc: object) -> None:
        """Close the platform."""
        ...

    @property
    def log_path(self) -> Path | None:
        """The platform log file (``datapersistence.log``), or None when there is none."""
        ...

    def interrupted_operations(self) -> list[Operation]:
        """Operations left pending or running by a process that is gone (changes nothing)."""
        ...

    def recover(self, *, targets: Collection[str] | None = None) -> list[Operation]:
        """Resume or fail every interrupted operation; returns them as they ended."""
        ...

    # ------------------------------------------------------------------ catalog

    def register_service(self, ref: str | type[ServiceProvider]) -> ServiceInfo:
        """Register the provider ``ref`` names (``module:Class``, a directory, a class)."""
        ...

    def get_service(self, name: str) -> ServiceInfo:
        """The catalog entry of service ``name``."""
        ...

    def list_services(self) -> list[ServiceInfo]:
        """Every registered service, by name."""
        ...

    def activate_version(self, name: str, version: str) -> ServiceInfo:
        """Make registered ``version`` of service ``name`` the one new instances use."""
        ...

    def enable_service(self, name: str) -> ServiceInfo:
        """Allow new instances of service ``name``."""
        ...

    def disable_service(self, name: str) -> ServiceInfo:
        """Refuse new instances of service ``name`` (existing ones keep running)."""
        ...

    # ------------------------------------------------------------------ instances

    def create_instance(
        self,
        *,
        service: str,
        name: str,
        capacity_gb: int | None = None,
        parameters: Mapping[str, Any] | None = None,
        plan: str | None = None,
        policy: str | None = None,
        idempotency_key: str | None = None,
    ) -> Operation:
        """Provision instance ``name`` of ``service``; returns the succeeded operation."""
        ...

    def get_instance(self, name: str) -> InstanceInfo:
        """The instance document of ``name``."""
        ...

    def list_instances(
        self,
        *,
        service: str | None = None,
        limit: int | None = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> Page[InstanceInfo]:
        """One page of instances by name (of ``service``), after ``cursor``; ``limit=None``: all."""
        ...

    def configure_instance(
        self, name: str, parameters: Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> Operation:
        """Merge ``parameters`` into instance ``name``'s through the provider's ``configure``."""
        ...

    def change_instance(
        self,
        name: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        capacity_gb: int | None = None,
        idempotency_key: str | None = None,
    ) -> list[Operation]:
        """Configure then scale instance ``name`` (keys ``K:configure`` and ``K:scale``)."""
        ...

    def scale_instance(
        self, name: str, capacity_gb: int, *, idempotency_key: str | None = None
    ) -> Operation:
        """Change instance ``name``'s capacity through the provider's ``scale``."""
        ...

    def remove_instance(
        self, name: str, *, force: bool = False, idempotency_key: str | None = None
    ) -> Operation:
        """Decommission instance ``name`` (``force``: reclaim without calling the provider)."""
        ...

    # ------------------------------------------------------------------ operations

    def get_operation(self, op_id: str) -> Operation:
        """The operation ``op_id``."""
        ...

    def list_operations(
        self,
        *,
        target: str | None = None,
        limit: int | None = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> Page[Operation]:
        """One page of operations, oldest first (on ``target``), after ``cursor``."""
        ...

    # ------------------------------------------------------------------ health, status

    def instance_health(self, name: str) -> InstanceHealth:
        """Health of instance ``name``: the provider's checks plus the platform's own."""
        ...

    def cluster_health(self) -> ClusterHealth:
        """Health of every instance plus the cluster's hosts, disks and capacity."""
        ...

    def status(self) -> PlatformStatus:
        """Platform settings and a capacity summary (``esxcli vsan datapersistence list``)."""
        ...

    def resources(self) -> ResourceReport:
        """Capacity accounting per disk and per instance."""
        ...

    # ------------------------------------------------------------------ hosts, maintenance

    def list_hosts(self) -> list[HostInfo]:
        """Hosts with their fault domain, state and disks."""
        ...

    def get_host(self, name: str) -> HostInfo:
        """Host ``name`` with its fault domain, state and disks."""
        ...

    def maintenance_precheck(
        self, host: str, mode: MaintenanceMode | str, *, disk: str | None = None
    ) -> MaintenancePrecheck:
        """Predict, changing nothing, what entering maintenance on ``host`` would do."""
        ...

    def enter_maintenance(
        self, host: str, mode: MaintenanceMode | str, *, disk: str | None = None
    ) -> MaintenanceResult:
        """Put ``host`` (or its ``disk``) into maintenance; any provider's veto refuses it."""
        ...

    def exit_maintenance(self, host: str, *, disk: str | None = None) -> None:
        """Bring ``host`` (or its ``disk``) back from maintenance."""
        ...

    # ------------------------------------------------------------------ faults

    def inject_host_failure(self, host: str) -> None:
        """Fail ``host``: members unreachable, components absent, its repair timer starts."""
        ...

    def clear_host_failure(self, host: str) -> None:
        """Recover failed ``host``: it reconnects and its components resync."""
        ...

    def inject_disk_failure(self, host: str, disk: str) -> None:
        """Fail disk ``disk`` of ``host``: the components on it are destroyed."""
        ...

    def clear_disk_failure(self, host: str, disk: str) -> None:
        """Replace failed disk ``disk`` of ``host`` with a new, empty one."""
        ...

    def clear_faults(self) -> None:
        """Recover every failed host and replace every failed disk."""
        ...

    # ------------------------------------------------------------------ time

    def advance(self, seconds: float) -> ClockStatus:
        """Move the simulated clock forward and fire the timers that fall due."""
        ...

    def clock_status(self) -> ClockStatus:
        """The clock's time and kind, and the running repair timers."""
        ...

    # ------------------------------------------------------------------ audit, events

    def audit(self, *, limit: int | None = None, cursor: str | None = None) -> Page[AuditRecord]:
        """The audit trail, oldest first: the last ``limit`` records, or those after ``cursor``."""
        ...

    def events(
        self, *, since: int = 0, kind: str | None = None, limit: int | None = None
    ) -> list[Event]:
        """Platform events after sequence number ``since`` (of ``kind``), at most ``limit``."""
        ...

    # ------------------------------------------------------------------ self-checks

    def check_consistency(self) -> list[str]:
        """Every way the stored state contradicts itself; an empty list means consistent."""
        ...

    def ledger(self, instance_uid: str) -> list[dict[str, Any]]:
        """Everything instance ``instance_uid`` ever held (the ledger outlives it)."""
        ...
