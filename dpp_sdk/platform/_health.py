"""Health and reports: an instance's health (the provider's ``monitor`` combined with the
platform's own view of its volumes and members), the cluster summary, the platform status and
the capacity report."""

from __future__ import annotations

import attrs

from dpp_sdk.contract import (
    HealthCheck,
    HealthReport,
    HealthStatus,
    InstanceInfo,
    NotFound,
    Redundancy,
    ServiceProvider,
    unstructure,
    validate_document,
)
from dpp_sdk.contract._text import printable
from dpp_sdk.platform._calls import MAX_KILLS, call_provider
from dpp_sdk.platform._catalog import Catalog
from dpp_sdk.platform._cluster import Cluster, DiskKind
from dpp_sdk.platform._context import Contexts
from dpp_sdk.platform._journal import Journal
from dpp_sdk.platform._models import (
    ClusterHealth,
    DiskUsage,
    InstanceHealth,
    InstanceUsage,
    PlatformStatus,
    PoolUsage,
    ResourceReport,
)
from dpp_sdk.platform._repository import Repository
from dpp_sdk.platform._views import instance_info

__all__ = ["Health"]


def platform_checks(info: InstanceInfo, redundancy: Redundancy) -> list[HealthCheck]:
    """The platform's own checks of an instance: its volumes and its members."""
    bad = [v.name for v in info.volumes if v.state == "inaccessible"]
    degraded = [
        f"{v.name} ({v.health.value})" for v in info.volumes if v.state == "reduced-availability"
    ]
    status, message = HealthStatus.GREEN, f"{len(info.volumes)} volumes accessible"
    if bad and redundancy is Redundancy.SERVICE:
        # The service keeps its own copies across members: an unreachable member volume
        # is an expected loss of one copy; the provider's checks judge the quorum.
        status = HealthStatus.YELLOW
        message = f"inaccessible (service-level redundancy): {', '.join(bad)}"
    elif bad:
        status, message = HealthStatus.RED, f"inaccessible: {', '.join(bad)}"
    elif degraded:
        status, message = HealthStatus.YELLOW, f"reduced availability: {', '.join(degraded)}"
    checks = [HealthCheck(name="platform/volumes", status=status, message=message)]
    down = [f"{m.name} ({m.state} on {m.host})" for m in info.members if m.state != "running"]
    checks.append(
        HealthCheck(
            name="platform/members",
            status=HealthStatus.YELLOW if down else HealthStatus.GREEN,
            message=f"not running: {', '.join(down)}"
            if down
            else f"{len(info.members)} members running",
        )
    )
    return checks


def _hardware_checks(cluster: Cluster) -> list[HealthCheck]:
    failed_hosts = [h.name for h in cluster.hosts.values() if h.state == "failed"]
    maint = [h.name for h in cluster.hosts.values() if h.state == "maintenance"]
    failed_disks = [f"{d.host}/{d.name}" for d in cluster.disks() if d.state == "failed"]
    resting = [f"{d.host}/{d.name}" for d in cluster.disks() if d.state == "maintenance"]

    def worst(red: list[str], yellow: list[str]) -> HealthStatus:
        return HealthStatus.RED if red else HealthStatus.YELLOW if yellow else HealthStatus.GREEN

    return [
        HealthCheck(
            name="cluster/hosts",
            status=worst(failed_hosts, maint),
            message=", ".join(
                [*(f"{h} failed" for h in failed_hosts), *(f"{h} in maintenance" for h in maint)]
            )
            or f"{len(cluster.hosts)} hosts connected",
        ),
        HealthCheck(
            name="cluster/disks",
            status=worst(failed_disks, resting),
            message="; ".join(
                [
                    *([f"failed: {', '.join(failed_disks)}"] if failed_disks else []),
                    *([f"in maintenance: {', '.join(resting)}"] if resting else []),
                ]
            )
            or "all disks healthy",
        ),
        _capacity_check(cluster),
    ]


def _capacity_check(cluster: Cluster) -> HealthCheck:
    """vSAN's capacity checks: the datastore's use, and each disk's ("Disk capacity"; a
    direct disk is a pool of its own), yellow from ``capacity_warning_percent``."""
    limit = cluster.capacity_warning_percent
    used = cluster.pool_used_percent()
    full = [
        f"{d.host}/{d.name} {cluster.disk_used_percent(d):.1f}%"
        for d in cluster.disks_past_warning()
    ]
    message = f"vSAN datastore {used:.1f}% reserved"
    if full:
        message += f"; disks past {limit}%: {', '.join(full)}"
    message += f" (warning at {limit}%)"
    return HealthCheck(
        name="cluster/capacity",
        status=HealthStatus.YELLOW if cluster.capacity_warning() else HealthStatus.GREEN,
        message=message,
    )


def _well_formed(report: HealthReport) -> bool:
    """What the health-report schema asks, checked directly on the model (the common case)."""
    return isinstance(report.status, HealthStatus) and all(
        isinstance(c, HealthCheck)
        and isinstance(c.name, str)
        and c.name
        and isinstance(c.status, HealthStatus)
        and isinstance(c.message, str)
        for c in report.checks
    )


class Health:
    """Instance and cluster health, platform status, capacity report."""

    def __init__(
        self,
        repo: Repository,
        journal: Journal,
        catalog: Catalog,
        contexts: Contexts,
        owner: str,
    ) -> None:
        self._owner = owner
        self._repo = repo
        self._journal = journal
        self._catalog = catalog
        self._contexts = contexts

    def _provider_checks(
        self, name: str, service: str, provider: ServiceProvider
    ) -> list[HealthCheck]:
        """The provider's ``monitor`` in a read-only context; a failure is a red check.

        A monitor that ended its process twice in a row (the call was in flight when the
        process died) is not called again for this instance: its check says so."""
        kills = self._repo.calls.starting(name, "monitor", self._owner, limit=MAX_KILLS)
        if kills >= MAX_KILLS:
            return [
                HealthCheck(
                    name="provider/monitor",
                    status=HealthStatus.RED,
                    message=f"the provider's monitor ended its process ({kills} time(s) in a "
                    "row); it is not called again for this instance until an operation on it "
                    "succeeds (or remove it with --force)",
                )
            ]
        try:
            return self._monitor(name, service, provider)
        finally:
            self._repo.calls.finished(name, "monitor")

    def _monitor(self, name: str, service: str, provider: ServiceProvider) -> list[HealthCheck]:
        with self._contexts.open(name, service, "monitor", read_only=True) as ctx:
            try:
                report = call_provider(
                    "monitor", self._catalog.deadlines["monitor"], lambda: provider.monitor(ctx)
                )
                if not isinstance(report, HealthReport):
                    raise TypeError(
                        f"monitor returned {type(report).__name__}, not a dpp_sdk.HealthReport"
                    )
                if not _well_formed(report):  # the schema then names what is wrong
                    validate_document("health-report", unstructure(report))
            except Exception as exc:
                return [
                    HealthCheck(
                        name="provider/monitor",
                        status=HealthStatus.RED,
                        message=printable(
                            self._journal.scrub(f"monitor failed: {type(exc).__name__}: {exc}")
                        ),
                    )
                ]
        # Names and messages are shown in tables and on one line: secrets redacted, control
        # characters escaped, length capped.
        detect = self._journal.scrub_detecting
        with self._repo.lock:  # one hold: the secrets other processes stored are looked up once
            checks = [
                attrs.evolve(
                    c,
                    name=printable(detect(c.name, name, "health check names")),
                    message=printable(detect(c.message, name, "health messages")),
                )
                for c in report.checks
            ]
        worst = HealthStatus.worst(c.status for c in checks)
        if not checks or report.status.severity > worst.severity:
            checks.append(
                HealthCheck(
                    name="provider",
                    status=report.status,
                    message="overall status reported by the provider",
                )
            )
        return checks

    def evaluate(self, name: str) -> InstanceHealth:
        """Health of instance ``name`` now: the provider's ``monitor`` (in a read-only
        context, outside any transaction) plus the platform's checks. Changes nothing."""
        with self._repo.lock:
            record = self._repo.instance(name)
            info = instance_info(self._repo, record, self._repo.states())
            try:
                version = self._catalog.version_of(record)
                provider: ServiceProvider | None = self._catalog.provider(version.provider)
                redundancy = version.manifest.redundancy
            except Exception as exc:
                provider, redundancy, load_error = None, Redundancy.PLATFORM, exc
        if provider is None:
            provider_checks = [
                HealthCheck(
                    name="provider/unavailable",
                    status=HealthStatus.RED,
                    message=printable(
                        self._journal.scrub(f"the provider cannot be loaded: {load_error}")
                    ),
                )
            ]
        else:
            provider_checks = self._provider_checks(name, record.service, provider)
        checks = (*provider_checks, *platform_checks(info, redundancy))
        return InstanceHealth(
            instance=name,
            service=record.service,
            status=HealthStatus.worst(c.status for c in checks),
            checks=checks,
        )

    def record(self, health: InstanceHealth) -> None:
        """Save an evaluated health on its instance; a change is reported as an event."""
        name, status = health.instance, health.status
        with self._repo.lock:
            current = self._repo.find_instance(name)
            if current is not None and current.health != status:
                with self._repo.store.transaction():
                    self._repo.update_instance(name, health=status)
                    self._journal.event(
                        "health-changed",
                        name,
                        f"health of {name!r} changed from {current.health.value} to {status.value}",
                    )

    def refresh(self, name: str) -> InstanceHealth:
        """Evaluate and record the health of instance ``name``."""
        health = self.evaluate(name)
        self.record(health)
        return health

    def cluster_health(self) -> ClusterHealth:
        """Health of every idle instance plus the cluster's hosts, disks and capacity."""
        with self._repo.lock:
            idle = [r.name for r in self._repo.instances() if not r.busy_status]
        # Each provider's monitor runs with no platform lock held (it may use its context
        # from worker threads).
        instances = tuple(h for h in (self._refresh_if_there(name) for name in idle) if h)
        with self._repo.lock:
            checks = _hardware_checks(self._repo.cluster())
        status = HealthStatus.worst([*(c.status for c in checks), *(i.status for i in instances)])
        return ClusterHealth(status=status, checks=tuple(checks), instances=instances)

    def _refresh_if_there(self, name: str) -> InstanceHealth | None:
        """Health of ``name``, or None if it was removed meanwhile (another thread or
        process)."""
        try:
            return self.refresh(name)
        except NotFound:
            if self._repo.find_instance(name) is None:
                return None
            raise

    def status(self, state_dir: str | None) -> PlatformStatus:
        """Platform settings and a capacity summary."""
        config = self._repo.config
        with self._repo.lock:
            cluster = self._repo.cluster()
            warnings = _capacity_warnings(cluster)
            for h in cluster.hosts.values():
                if h.state != "connected":
                    warnings.append(f"host {h.name} is {h.state}")
            return PlatformStatus(
                enabled=config.enabled,
                default_policy=config.default_policy,
                architecture=config.architecture,
                max_services=config.max_services,
                resource_quota=config.resource_quota,
                hosts=len(cluster.hosts),
                hosts_connected=sum(1 for h in cluster.hosts.values() if h.state == "connected"),
                fault_domains=len(cluster.fault_domains()),
                services=self._repo.count_services(),
                instances=self._repo.count_instances(),
                raw_capacity_gb=cluster.raw_capacity_gb(),
                reserved_gb=round(cluster.reserved_gb(), 6),
                quota_gb=cluster.quota_gb(),
                direct_quota_gb=cluster.quota_gb("direct"),
                operations_reserve_gb=cluster.operations_reserve_gb(),
                host_rebuild_reserve_gb=cluster.host_rebuild_reserve_gb(),
                state_dir=state_dir,
                warnings=tuple(warnings),
            )

    def resources(self) -> ResourceReport:
        """Per-disk and per-instance capacity accounting."""
        with self._repo.lock:
            cluster = self._repo.cluster()
            disks = tuple(
                DiskUsage(
                    host=d.host,
                    disk=d.name,
                    kind=d.kind,
                    state=d.state,
                    size_gb=d.size_gb,
                    reserved_gb=round(d.reserved_gb, 6),
                    free_gb=round(d.unreserved_gb, 6),
                    used_percent=round(cluster.disk_used_percent(d), 2),
                    warning=cluster.disk_used_percent(d) >= cluster.capacity_warning_percent,
                )
                for d in cluster.disks()
            )
            pools = tuple(
                PoolUsage(
                    pool="vsan" if kind == "capacity" else "direct",
                    raw_gb=cluster.raw_capacity_gb(kind),
                    reserved_gb=round(cluster.reserved_gb(kind), 6),
                    quota_gb=cluster.quota_gb(kind),
                    used_percent=round(cluster.pool_used_percent(kind), 2),
                    warning=cluster.pool_used_percent(kind) >= cluster.capacity_warning_percent,
                )
                for kind in _POOL_KINDS
                if cluster.raw_capacity_gb(kind) > 0
            )
            usage = []
            for record in self._repo.instances():
                volumes = self._repo.volumes(record.name)
                usage.append(
                    InstanceUsage(
                        instance=record.name,
                        service=record.service,
                        volumes=len(volumes),
                        members=len(self._repo.members(record.name)),
                        logical_gb=round(sum(v.size_gb for v in volumes), 6),
                        reserved_gb=round(
                            sum(c.reserved_gb for v in volumes for c in v.components), 6
                        ),
                    )
                )
            return ResourceReport(
                raw_capacity_gb=cluster.raw_capacity_gb(),
                reserved_gb=round(cluster.reserved_gb(), 6),
                quota_gb=cluster.quota_gb(),
                disks=disks,
                instances=tuple(usage),
                pools=pools,
                operations_reserve_gb=cluster.operations_reserve_gb(),
                host_rebuild_reserve_gb=cluster.host_rebuild_reserve_gb(),
            )


_POOL_KINDS: tuple[DiskKind, ...] = ("capacity", "direct")


def _capacity_warnings(cluster: Cluster) -> list[str]:
    """``dpp platform status`` warnings about capacity: the datastore's use, each disk's."""
    limit = cluster.capacity_warning_percent
    warnings = []
    if cluster.pool_used_percent() >= limit:
        warnings.append(
            f"vSAN datastore use {cluster.pool_used_percent():.1f}% is past the warning "
            f"threshold ({limit}%)"
        )
    warnings.extend(
        f"disk {d.host}/{d.name} use {cluster.disk_used_percent(d):.1f}% is past the warning "
        f"threshold ({limit}%)"
        for d in cluster.disks_past_warning()
    )
    return warnings
