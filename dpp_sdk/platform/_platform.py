"""The mock Data Persistence Platform: the :class:`Platform` facade.

:class:`Platform` is the public interface. The conformance suite, the CLI and the HTTP gateway
all drive it through the same methods (listed by :class:`~dpp_sdk.platform.PlatformAPI`).
Providers reach it only through the :class:`~dpp_sdk.InstanceContext` it hands them.

The facade holds its collaborators as fields and gives each public call one short method;
the behaviour lives in the modules named in ``docs/design.md`` ("The platform package").
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from dpp_sdk.contract import (
    DataProbe,
    HostInfo,
    InstanceInfo,
    MaintenanceMode,
    Operation,
    ServiceProvider,
    ValidationError,
)
from dpp_sdk.platform._calls import Deadlines, check_seconds
from dpp_sdk.platform._catalog import Catalog
from dpp_sdk.platform._checks import (
    DEFAULT_PAGE,
    check_limit,
    check_seq,
    decode_cursor,
    encode_cursor,
)
from dpp_sdk.platform._clock import Clock, SimulatedClock
from dpp_sdk.platform._config import ClusterConfig
from dpp_sdk.platform._consistency import check_consistency
from dpp_sdk.platform._context import Contexts, GuardedProbe
from dpp_sdk.platform._drain import Drains
from dpp_sdk.platform._faults import Faults, check_host
from dpp_sdk.platform._hardware import Hardware
from dpp_sdk.platform._health import Health
from dpp_sdk.platform._journal import LOG_NAME, Journal
from dpp_sdk.platform._lifecycle import Lifecycle
from dpp_sdk.platform._maintenance import Maintenance
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
from dpp_sdk.platform._operations import OperationEngine
from dpp_sdk.platform._owners import owner_tag, register_owner
from dpp_sdk.platform._recovery import Recovery
from dpp_sdk.platform._repairs import Repairs
from dpp_sdk.platform._repository import Repository
from dpp_sdk.platform._resources import InstanceResources
from dpp_sdk.platform._storage import VolumeStore
from dpp_sdk.platform._store import Store
from dpp_sdk.platform._timers import Timers
from dpp_sdk.platform._views import InstanceViews, cluster_view, host_info, instance_info

__all__ = ["Platform"]


class Platform:
    """A local, faithful simulation of a Data Persistence Platform.

    Open one with :meth:`open`: on a state directory (SQLite plus volume bytes; survives
    restarts and crashes) or in memory (``state_dir=None``; fast, for tests). Thread-safe.

    Mutating methods run an :class:`~dpp_sdk.Operation` to completion and return it; when it
    ends ``failed`` they raise :class:`~dpp_sdk.OperationFailed` carrying it. Invalid requests
    raise :class:`~dpp_sdk.ValidationError` listing every problem, before anything is
    allocated. Listings return a :class:`~dpp_sdk.platform.Page` of at most ``limit`` items
    (100 unless told; ``limit=None`` for all) with the ``next_cursor`` to pass back as
    ``cursor=``.
    """

    def __init__(
        self,
        *,
        state_dir: Path | None,
        config: ClusterConfig | None,
        clock: Clock | None = None,
        principal: str = "admin",
        operation_timeout: float = 600.0,
        max_backoff: float = 60.0,
        provider_deadlines: Mapping[str, float] | None = None,
        recover: bool = True,
    ) -> None:
        operation_timeout = check_seconds("$.operation_timeout", operation_timeout)
        max_backoff = check_seconds("$.max_backoff", max_backoff)
        self.state_dir = state_dir
        self.clock = clock or SimulatedClock()
        self.principal = principal
        self.operation_timeout = operation_timeout
        self.max_backoff = max_backoff
        self._owner = owner_tag()
        store = Store(state_dir)
        self._journal = Journal(
            store,
            self.clock,
            principal=principal,
            log_path=None if state_dir is None else state_dir / LOG_NAME,
        )
        try:
            self._repo = Repository(store, self._journal, self.clock, config)
        except BaseException:
            self._journal.close()
            store.close()
            raise
        repo, journal = self._repo, self._journal
        self._views = InstanceViews()
        volumes = VolumeStore(None if state_dir is None else state_dir / "volumes")
        self._catalog = Catalog(repo, journal, self.clock, Deadlines(provider_deadlines))
        self._resources = InstanceResources(repo, volumes, self.clock, journal)
        self._contexts = Contexts(self._resources, journal.instance_logger, self._cluster_view)
        self._hardware = Hardware(repo, journal, volumes)
        self._engine = OperationEngine(
            repo=repo,
            journal=journal,
            catalog=self._catalog,
            contexts=self._contexts,
            clock=self.clock,
            owner=self._owner,
            timeout=operation_timeout,
            max_backoff=max_backoff,
        )
        self._health = Health(repo, journal, self._catalog, self._contexts, self._owner)
        self._repairs = Repairs(repo, journal, self._engine, self._resources, self._health)
        self._lifecycle = Lifecycle(
            repo=repo,
            journal=journal,
            catalog=self._catalog,
            engine=self._engine,
            resources=self._resources,
            health=self._health,
            repairs=self._repairs,
        )
        self._timers = Timers(repo, journal, self._hardware, self._repairs, self.clock)
        self._faults = Faults(repo, journal, self._hardware, self._repairs, self._timers)
        self._maintenance = Maintenance(
            repo=repo,
            journal=journal,
            catalog=self._catalog,
            contexts=self._contexts,
            hardware=self._hardware,
            faults=self._faults,
            repairs=self._repairs,
            timers=self._timers,
            drains=Drains(repo, journal, self._catalog, self._engine),
            clock=self.clock,
            owner=self._owner,
        )
        self._recovery = Recovery(repo, journal, self._engine, self._lifecycle, self._hardware)
        register_owner(self._owner, self)
        self._timers.catch_up()
        if recover:
            self.recover()
            self._timers.fire_due()

    # ================================================================== opening and closing

    @classmethod
    def open(
        cls,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        config: ClusterConfig | None = None,
        clock: Clock | None = None,
        principal: str = "admin",
        operation_timeout: float = 600.0,
        max_backoff: float = 60.0,
        provider_deadlines: Mapping[str, float] | None = None,
        recover: bool = True,
    ) -> Platform:
        """Open (creating if needed) a platform on ``state_dir``, or in memory when None.

        ``config`` shapes a new platform (default: 4 hosts); on an existing state directory it
        must match the stored configuration or be None. With ``recover`` (the default),
        operations a dead process left in flight are resumed or failed before this returns
        (see :meth:`recover`); a read-only tool may pass False and leave that to the next
        writer. ``operation_timeout`` bounds how long a verb is retried after temporary
        errors; ``max_backoff`` caps the wait between two attempts (seconds).
        ``provider_deadlines`` maps provider methods (``provision``, ``monitor``,
        ``on_maintenance``...) to the seconds one call may take before it fails with
        :class:`~dpp_sdk.platform.ProviderTimeout` (defaults: ``DEFAULT_DEADLINES``).
        """
        path = None if state_dir is None else Path(state_dir)
        return cls(
            state_dir=path,
            config=config,
            clock=clock,
            principal=principal,
            operation_timeout=operation_timeout,
            max_backoff=max_backoff,
            provider_deadlines=provider_deadlines,
            recover=recover,
        )

    def close(self) -> None:
        """Release the database and the log file."""
        register_owner(self._owner, None)
        self._journal.close()
        self._repo.store.close()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def log_path(self) -> Path | None:
        """The platform log file (``datapersistence.log``), or None in memory."""
        return self._journal.log_path

    def acting_as(self, principal: str) -> contextlib.AbstractContextManager[None]:
        """Within the block, the audit trail records what this thread (or asyncio task) does
        as ``principal`` (the gateway's ``partner:VENDOR``) instead of the one given at
        :meth:`open`; other threads are not affected."""
        if not isinstance(principal, str) or not principal.strip():
            raise ValidationError.single("$.principal", principal, "must be a non-empty string")
        return self._journal.acting_as(principal)

    @property
    def config(self) -> ClusterConfig:
        """The cluster configuration this platform was created with."""
        return self._repo.config

    def _cluster_view(self) -> Any:
        with self._repo.lock:
            return cluster_view(self._repo.cluster())

    # ================================================================== catalog

    def register_service(self, ref: str | type[ServiceProvider]) -> ServiceInfo:
        """Register (or re-register) the provider named by ``ref`` in the catalog.

        ``ref`` is ``module:Class``, a provider directory (with ``dpp-provider.toml``), or a
        provider class. The provider's manifest is validated; every problem is reported at
        once. A new version becomes the active one; registering the same version again
        refreshes it.
        """
        return self._catalog.register(ref)

    def get_service(self, name: str) -> ServiceInfo:
        """The catalog entry of service ``name``."""
        return self._catalog.get(name)

    def list_services(self) -> list[ServiceInfo]:
        """Every registered service, by name."""
        return self._catalog.list()

    def activate_version(self, name: str, version: str) -> ServiceInfo:
        """Make registered ``version`` of service ``name`` the active one (e.g. a rollback).

        New instances use the active version; existing instances keep the version they were
        created with."""
        return self._catalog.activate(name, version)

    def enable_service(self, name: str) -> ServiceInfo:
        """Allow new instances of service ``name``."""
        return self._catalog.set_enabled(name, True)

    def disable_service(self, name: str) -> ServiceInfo:
        """Refuse new instances of service ``name`` (existing ones keep running)."""
        return self._catalog.set_enabled(name, False)

    def provider_for(self, instance: str) -> ServiceProvider:
        """The provider object serving ``instance`` (for the conformance suite)."""
        return self._catalog.provider_of(self._repo.instance(instance))

    # ================================================================== instances

    def get_instance(self, name: str) -> InstanceInfo:
        """The instance document of ``name``."""
        with self._repo.lock:
            return instance_info(self._repo, self._repo.instance(name), self._repo.states())

    def list_instances(
        self,
        *,
        service: str | None = None,
        limit: int | None = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> Page[InstanceInfo]:
        """Instances by name (of ``service`` when given): one page of at most ``limit``
        (``None``: all), starting after ``cursor`` (a previous page's ``next_cursor``)."""
        size = check_limit(limit)
        after = decode_cursor("instances", cursor, str)
        items, last = self._views.page(self._repo, after=after, size=size, service=service)
        return Page(items, None if last is None else encode_cursor("instances", last))

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
        """Provision a new instance of ``service`` called ``name``.

        The request is validated (name, plan, capacity within the plan and the quota,
        parameters against the manifest's schema, policy) before anything is allocated; every
        problem is reported at once. Returns the succeeded operation, or raises
        :class:`~dpp_sdk.OperationFailed` (everything the attempt allocated is released).
        """
        self._timers.fire_due()
        return self._lifecycle.create(
            service=service,
            name=name,
            capacity_gb=capacity_gb,
            parameters=parameters,
            plan=plan,
            policy=policy,
            idempotency_key=idempotency_key,
        )

    def configure_instance(
        self,
        name: str,
        parameters: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> Operation:
        """Change parameters of instance ``name`` (merged into the current ones) via
        the provider's ``configure``. Invalid parameters are refused before anything runs."""
        self._timers.fire_due()
        return self._lifecycle.configure(name, parameters, idempotency_key)

    def scale_instance(
        self, name: str, capacity_gb: int, *, idempotency_key: str | None = None
    ) -> Operation:
        """Change the capacity of instance ``name`` via the provider's ``scale``.

        Checked against the plan's bounds, the quota, and the manifest's
        ``capacity_scale_down`` capability before anything runs.
        """
        self._timers.fire_due()
        return self._lifecycle.scale(name, capacity_gb, idempotency_key)

    def change_instance(
        self,
        name: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        capacity_gb: int | None = None,
        idempotency_key: str | None = None,
    ) -> list[Operation]:
        """Change parameters and/or capacity of instance ``name``: ``configure`` first, then
        ``scale``, each an operation of its own (``dpp instance set``).

        With an ``idempotency_key`` K the two operations use the keys ``K:configure`` and
        ``K:scale``, so a repeated request returns the same operations. If the configure
        fails, the scale is not attempted (:class:`~dpp_sdk.OperationFailed` is raised)."""
        self._timers.fire_due()
        return self._lifecycle.change(
            name, parameters=parameters, capacity_gb=capacity_gb, idempotency_key=idempotency_key
        )

    def remove_instance(
        self, name: str, *, force: bool = False, idempotency_key: str | None = None
    ) -> Operation:
        """Decommission instance ``name``: the provider releases everything, then the
        platform reclaims (and reports as leaked) whatever is left.

        With ``force`` the provider is not called at all (for an instance whose provider can
        no longer be loaded, or whose decommission keeps failing or hanging): an operation
        still holding the instance (left by a dead or hung process) is failed as
        ``Superseded``, and the platform reclaims everything and lists it in
        ``result["reclaimed"]``."""
        self._timers.fire_due()
        return self._lifecycle.remove(name, force, idempotency_key)

    def ledger(self, instance_uid: str) -> list[dict[str, Any]]:
        """Every volume, member, endpoint and secret an instance ever held.

        ``instance_uid`` is in the provision operation's ``result["instance_uid"]``; the
        ledger outlives the instance, so a check can compare it with what is left."""
        return self._repo.ledger(instance_uid)

    def data_probe(self, instance: str) -> DataProbe | None:
        """The provider's data probe for ``instance`` bound to a fresh context, or None.

        Unlike a verb's context, this one stays valid for as long as the probe is used, so a
        durability check can write a canary, inject a fault, and read the canary back. Each
        call of the probe waits for any operation on the instance (a repair, a scale) to end,
        and operations wait for it, in this process or another."""
        record = self._repo.instance(instance)
        provider = self._catalog.provider_of(record)
        probe = provider.data_probe(self._contexts.new(instance, record.service, "data_probe"))
        if probe is None:
            return None
        return GuardedProbe(probe, lambda: self._repo.store.instance_lock(instance))

    # ================================================================== operations

    def get_operation(self, op_id: str) -> Operation:
        """The operation ``op_id``."""
        return self._engine.get(op_id)

    def list_operations(
        self,
        *,
        target: str | None = None,
        limit: int | None = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> Page[Operation]:
        """Operations, oldest first (those on ``target`` when given): one page of at most
        ``limit`` (``None``: all), starting after ``cursor``."""
        size = check_limit(limit)
        after = decode_cursor("operations", cursor, int) or 0
        rows = self._repo.operations(
            target=target, after=after, limit=None if size is None else size + 1
        )
        more = size is not None and len(rows) > size
        rows = rows[:size] if size is not None else rows
        return Page(
            [record.public for _, record in rows],
            encode_cursor("operations", rows[-1][0]) if more else None,
        )

    def interrupted_operations(self) -> list[Operation]:
        """Operations left pending or running by a process that is gone."""
        return self._recovery.interrupted()

    def recover(self, *, targets: Collection[str] | None = None) -> list[Operation]:
        """Resume, or fail, every operation a dead process left pending or running (only
        those on the instances ``targets`` names, when given), then finish what the crash
        interrupted in the byte store. Returns the operations as they ended. Called by
        :meth:`open` unless ``recover=False``.

        An operation is resumed at most twice: if its process died (or it hung) every time,
        recovery gives up, fails it as ``Interrupted`` and leaves its instance ``failed``,
        for ``remove_instance(name, force=True)``. A host left ``draining`` by a dead process
        is connected again (its drain is abandoned) when ``targets`` is None."""
        if targets is None:
            self._maintenance.abandon_dead_drains()
        return self._recovery.recover(targets)

    # ================================================================== time

    def advance(self, seconds: float) -> ClockStatus:
        """Move the platform's simulated clock forward by ``seconds`` and fire every timer
        that falls due (such as a host's object repair timer); returns the clock's status.

        Works on the default :class:`~dpp_sdk.platform.SimulatedClock` (real time plus an
        offset, kept in the state directory, so every process on it agrees) and on a
        :class:`~dpp_sdk.platform.ManualClock`; raises
        :class:`~dpp_sdk.platform.ClockNotAdjustable` on a ``SystemClock``."""
        seconds = check_seconds("$.seconds", seconds)
        self._timers.advance(seconds)
        return self.clock_status()

    def clock_status(self) -> ClockStatus:
        """The time on the platform's clock, its kind, and the running repair timers."""
        return self._timers.status()

    # ================================================================== health and reports

    def instance_health(self, name: str) -> InstanceHealth:
        """Health of instance ``name``: the provider's ``monitor`` plus the platform's view."""
        self._timers.fire_due()
        return self._health.refresh(name)

    def cluster_health(self) -> ClusterHealth:
        """Health of every instance plus the cluster's hosts, disks and capacity."""
        self._timers.fire_due()
        return self._health.cluster_health()

    def status(self) -> PlatformStatus:
        """Platform settings and a capacity summary (``esxcli vsan datapersistence list``)."""
        return self._health.status(None if self.state_dir is None else str(self.state_dir))

    def resources(self) -> ResourceReport:
        """Per-disk and per-instance capacity accounting (``dpp resource list``)."""
        return self._health.resources()

    def audit(self, *, limit: int | None = None, cursor: str | None = None) -> Page[AuditRecord]:
        """The audit trail, oldest first. Without ``cursor``: the last ``limit`` records (all
        when ``limit`` is None); with a cursor, the ``limit`` records after it."""
        size = check_limit(limit)
        since = decode_cursor("audit", cursor, int)
        records = self._journal.audit_records(limit=size, since=since or 0)
        if since is None:
            return Page(records)
        more = size is not None and len(records) == size
        return Page(records, encode_cursor("audit", records[-1].seq) if more else None)

    def events(
        self, *, since: int = 0, kind: str | None = None, limit: int | None = None
    ) -> list[Event]:
        """Platform events after sequence number ``since`` (failures, warnings, leaks...),
        oldest first, at most ``limit``; pass the last event's ``seq`` as ``since`` for more."""
        since = check_seq("$.since", since)
        return self._journal.events(since=since, kind=kind, limit=check_limit(limit))

    def check_consistency(self) -> list[str]:
        """Every way the stored state contradicts itself; an empty list means consistent.

        Checks that disk reservations equal the components of live volumes (placement,
        sizes, roles), that members and volumes reference each other, that no operation of a
        dead process is left pending or running, and that no idle instance claims to be busy.
        """
        return check_consistency(self._repo)

    # ================================================================== hosts and faults

    def list_hosts(self) -> list[HostInfo]:
        """Hosts with their fault domain, state and disks."""
        return list(self._cluster_view().hosts)

    def get_host(self, name: str) -> HostInfo:
        """Host ``name`` with its fault domain, state and disks."""
        with self._repo.lock:
            cluster = self._repo.cluster()
            check_host(cluster, name)
            return host_info(cluster, name)

    def inject_host_failure(self, host: str) -> None:
        """Fail ``host``: its members become unreachable, its components absent, and its
        object repair timer starts. Affected providers are told through ``on_failure``
        (``HOST_FAILURE``). If the host is still down when the timer expires, its absent
        components are rebuilt elsewhere and its host-local data is declared lost
        (``REPAIR_TIMER_EXPIRED``); see :meth:`advance`."""
        self._timers.fire_due()
        self._faults.inject_host_failure(host)

    def clear_host_failure(self, host: str) -> None:
        """Recover ``host``: it reconnects, its repair timer stops, and stale components
        resync from their peers."""
        self._timers.fire_due()
        self._faults.clear_host_failure(host)

    def inject_disk_failure(self, host: str, disk: str) -> None:
        """Fail disk ``host``/``disk``: its components' bytes are destroyed. Volumes that can
        still be reconstructed are rebuilt elsewhere when the cluster has room; the others
        are reported lost to their providers."""
        self._timers.fire_due()
        self._faults.inject_disk_failure(host, disk)

    def clear_disk_failure(self, host: str, disk: str) -> None:
        """Replace failed disk ``host``/``disk`` with a new empty one; components still homed
        there are rebuilt from their peers where possible (data of FTT=0 volumes stays lost)."""
        self._timers.fire_due()
        self._faults.clear_disk_failure(host, disk)

    def clear_faults(self) -> None:
        """Recover every failed host and replace every failed disk."""
        self._timers.fire_due()
        self._faults.clear_all()

    # ================================================================== maintenance

    def maintenance_precheck(
        self, host: str, mode: MaintenanceMode | str, *, disk: str | None = None
    ) -> MaintenancePrecheck:
        """Predict, changing nothing, what entering maintenance on ``host`` with ``mode`` does:
        instances that would become inaccessible, run with reduced availability, or have data
        rebuilt elsewhere, how many bytes would be rebuilt, and which providers would veto
        (their ``on_maintenance`` is asked with a read-only context).

        With ``disk``, the prediction is for that one disk of the host: its components go (or
        move, per the mode) and no member stops."""
        self._timers.fire_due()
        return self._maintenance.precheck(host, mode, disk)

    def enter_maintenance(
        self, host: str, mode: MaintenanceMode | str, *, disk: str | None = None
    ) -> MaintenanceResult:
        """Put ``host`` (or just its ``disk``) into maintenance with ``mode``.

        Every instance with a member or component there is consulted through
        ``on_maintenance`` (``request.disk`` names the disk); any veto refuses the whole
        request (:class:`MaintenanceVetoed`) and nothing changes. Otherwise components are
        moved per the mode, and for a host its members stop."""
        self._timers.fire_due()
        return self._maintenance.enter(host, mode, disk)

    def exit_maintenance(self, host: str, *, disk: str | None = None) -> None:
        """Bring ``host`` (or just its ``disk``) back from maintenance; stale components
        resync and the providers of its members and volumes are told (``HOST_RECOVERED``,
        or ``DISK_RECOVERED`` for a disk)."""
        self._timers.fire_due()
        self._maintenance.exit(host, disk)
