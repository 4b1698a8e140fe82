"""Maintenance mode of a host or of one of its disks: pre-check, enter, exit.

The pre-check predicts, changing nothing, which instances would become inaccessible, run with
reduced availability or have data rebuilt elsewhere, and asks every affected provider's
``on_maintenance`` (with a read-only context) whether it would veto. Entering refuses on any
veto or problem; otherwise components move per the mode and a host's members stop. Exiting
resyncs what went stale and tells the providers.
"""

from __future__ import annotations

from collections.abc import Sequence

from dpp_sdk.contract import (
    Conflict,
    FailureKind,
    MaintenanceDecision,
    MaintenanceMode,
    MaintenanceRequest,
    Redundancy,
    VetoReason,
)
from dpp_sdk.contract._text import printable
from dpp_sdk.platform._calls import MAX_KILLS, call_provider
from dpp_sdk.platform._catalog import Catalog
from dpp_sdk.platform._checks import maintenance_mode
from dpp_sdk.platform._clock import Clock
from dpp_sdk.platform._cluster import Cluster
from dpp_sdk.platform._context import Contexts
from dpp_sdk.platform._drain import Drains
from dpp_sdk.platform._faults import Faults, check_disk, check_host
from dpp_sdk.platform._hardware import Hardware
from dpp_sdk.platform._journal import Journal
from dpp_sdk.platform._models import InstanceImpact, MaintenancePrecheck, MaintenanceResult, Veto
from dpp_sdk.platform._owners import owner_alive
from dpp_sdk.platform._records import DrainRecord, VolumeRecord
from dpp_sdk.platform._repairs import Repairs
from dpp_sdk.platform._repository import Repository
from dpp_sdk.platform._timers import Timers
from dpp_sdk.platform._views import available, component_bytes, member_info, scheme_for

__all__ = ["Maintenance", "MaintenanceIncomplete", "MaintenanceVetoed"]


class MaintenanceVetoed(Conflict):
    """Entering maintenance was refused by one or more providers. ``vetoes`` says who and why."""

    def __init__(self, host: str, vetoes: Sequence[Veto]) -> None:
        self.host = host
        self.vetoes = tuple(vetoes)
        listed = "; ".join(f"{v.instance}: {v.reason.value} ({v.message})" for v in self.vetoes)
        super().__init__(f"maintenance of {host!r} vetoed: {listed}")


class MaintenanceIncomplete(Conflict):
    """The providers did not take everything off a draining host; ``left`` says what
    (instance -> members and volumes still there). The host is connected again."""

    def __init__(self, host: str, mode: MaintenanceMode, left: dict[str, list[str]]) -> None:
        self.host = host
        self.left = {k: tuple(v) for k, v in left.items()}
        listed = "; ".join(f"{i}: {', '.join(things)}" for i, things in sorted(left.items()))
        super().__init__(
            f"{host!r} did not finish draining for maintenance ({mode.value}); still on the "
            f"host: {listed}. The providers' drain must stop or move these members"
            + (
                " and rebuild these volumes elsewhere"
                if mode is MaintenanceMode.EVACUATE_ALL
                else ""
            )
        )


class _Impact:
    """What maintenance does to one instance, gathered volume by volume."""

    def __init__(self) -> None:
        self.inaccessible: list[str] = []
        self.reduced: list[str] = []
        self.rebuilt: list[str] = []
        self.stopped: list[str] = []
        self.bytes = 0
        self.service_rebuilt: list[str] = []
        self.service_bytes = 0


class Maintenance:
    """Pre-check, enter and exit maintenance of hosts and disks."""

    def __init__(
        self,
        *,
        repo: Repository,
        journal: Journal,
        catalog: Catalog,
        contexts: Contexts,
        hardware: Hardware,
        faults: Faults,
        repairs: Repairs,
        timers: Timers,
        drains: Drains,
        clock: Clock,
        owner: str,
    ) -> None:
        self._timers = timers
        self._drains = drains
        self._clock = clock
        self._owner = owner
        self._repo = repo
        self._journal = journal
        self._catalog = catalog
        self._contexts = contexts
        self._hardware = hardware
        self._faults = faults
        self._repairs = repairs

    def _impacts(
        self, cluster: Cluster, host: str, mode: MaintenanceMode, disk: str | None
    ) -> tuple[list[InstanceImpact], dict[str, list[int]]]:
        """Predict maintenance effects; also returns volume id -> component indices to move."""
        impacts: dict[str, _Impact] = {}
        moves: dict[str, list[int]] = {}
        if disk is None:  # a disk's maintenance stops no member
            for instance, members in self._hardware.members_on(host).items():
                impacts.setdefault(instance, _Impact()).stopped.extend(members)
        for volume, here in self._hardware.volumes_on(host, disk):
            policy = volume.layout
            scheme = scheme_for(policy)
            up = available(cluster, volume)
            indices = [c.index for c in here]
            after = up - set(indices)
            move = (policy.distributed or disk is not None) and (
                mode is MaintenanceMode.EVACUATE_ALL
                or (
                    mode is MaintenanceMode.ENSURE_ACCESSIBILITY and not scheme.is_accessible(after)
                )
            )  # a disk's host-local volumes move to another disk of the host (vSAN Direct:
            # the storage vMotion of disk decommission); a host's never move
            impact = impacts.setdefault(volume.instance, _Impact())
            if move and scheme.can_reconstruct(up):
                moves[volume.id] = indices
                impact.rebuilt.append(volume.name)
                impact.bytes += sum(component_bytes(policy, c.role, volume.extent) for c in here)
            elif (
                disk is None
                and not policy.distributed
                and mode is MaintenanceMode.EVACUATE_ALL
                and self._drains.aware(volume.instance)
            ):  # the service rebuilds it elsewhere when it drains
                impact.service_rebuilt.append(volume.name)
                impact.service_bytes += volume.extent
            elif not scheme.is_accessible(after):
                impact.inaccessible.append(volume.name)
            elif after != up:
                impact.reduced.append(volume.name)
        out = []
        for name, impact in sorted(impacts.items()):
            record = self._repo.instance(name)
            if self._catalog.version_of(record).manifest.redundancy is Redundancy.SERVICE:
                running = {
                    m.name
                    for m in self._repo.members(name)
                    if member_info(cluster, m).state == "running"
                } - set(impact.stopped)
                whole = not running
            else:
                whole = bool(impact.inaccessible)
            out.append(
                InstanceImpact(
                    instance=name,
                    service=record.service,
                    inaccessible_volumes=tuple(impact.inaccessible),
                    reduced_availability_volumes=tuple(impact.reduced),
                    rebuilt_volumes=tuple(impact.rebuilt),
                    stopped_members=tuple(impact.stopped),
                    bytes_to_rebuild=impact.bytes,
                    instance_inaccessible=whole,
                    service_rebuilt_volumes=tuple(impact.service_rebuilt),
                    service_bytes_to_rebuild=impact.service_bytes,
                )
            )
        return out, moves

    def _consult(self, host: str, mode: MaintenanceMode, disk: str | None) -> list[Veto]:
        """Ask every affected provider's ``on_maintenance`` (read-only context, its deadline,
        no platform lock held); collect vetoes. A provider that cannot be loaded, raises,
        overruns its deadline or answers something other than a ``MaintenanceDecision``
        vetoes with ``GenericFailure``, naming what went wrong."""
        vetoes: list[Veto] = []
        for instance, (members, volumes) in sorted(self._hardware.affected(host, disk).items()):
            request = MaintenanceRequest(
                instance=instance,
                host=host,
                disk=disk,
                mode=mode,
                members=tuple(members),
                volumes=tuple(volumes),
            )
            veto = self._ask(instance, request)
            if veto is not None:
                vetoes.append(veto)
        return vetoes

    def _ask(self, instance: str, request: MaintenanceRequest) -> Veto | None:
        def failed(why: str) -> Veto:
            return Veto(
                instance=instance,
                reason=VetoReason.GENERIC_FAILURE,
                message=printable(self._journal.scrub(why)),
            )

        record = self._repo.instance(instance)
        try:
            provider = self._catalog.provider_of(record)
        except Exception as exc:
            return failed(f"the provider cannot be loaded: {exc}")
        seconds = self._catalog.deadlines["on_maintenance"]
        kills = self._repo.calls.starting(instance, "on_maintenance", self._owner, limit=MAX_KILLS)
        if kills >= MAX_KILLS:
            return failed(
                f"the provider's on_maintenance ended its process ({kills} time(s) in a row); "
                "it is not called again for this instance until an operation on it succeeds"
            )
        try:
            with self._contexts.open(
                instance, record.service, "on_maintenance", read_only=True
            ) as ctx:
                try:
                    decision: object = call_provider(
                        "on_maintenance", seconds, lambda: provider.on_maintenance(ctx, request)
                    )
                except Exception as exc:
                    return failed(f"on_maintenance raised {type(exc).__name__}: {exc}")
        finally:
            self._repo.calls.finished(instance, "on_maintenance")
        if not isinstance(decision, MaintenanceDecision):
            return failed(
                f"on_maintenance returned {decision!r} ({type(decision).__name__}), not a "
                "dpp_sdk.MaintenanceDecision; use MaintenanceDecision.allow() or .veto(...)"
            )
        if decision.allowed:
            return None
        return Veto(
            instance=instance,
            reason=decision.reason or VetoReason.GENERIC_FAILURE,
            message=printable(
                self._journal.scrub_detecting(decision.message, instance, "a maintenance veto")
            ),
        )

    def _evacuate(
        self,
        cluster: Cluster,
        host: str,
        disk: str | None,
        moves: dict[str, list[int]],
        *,
        unplaced: list[str] | None = None,
    ) -> list[VolumeRecord]:
        """Put the host (or its disk) in maintenance in ``cluster`` and move the components
        ``moves`` names off it; returns the volumes' new records. Marked first so placement
        looks elsewhere; the components still leave while their bytes are readable, so the
        bytes travel with them (copy). ``unplaced`` as in :meth:`Hardware.rehome`."""
        if disk is None:
            cluster.host(host).state = "maintenance"
        else:
            cluster.disk(host, disk).state = "maintenance"
        rehome = self._hardware.rehome
        return [
            rehome(cluster, volume, moves[volume.id], copy=True, unplaced=unplaced)[0]
            for volume, _ in self._hardware.volumes_on(host, disk)
            if volume.id in moves
        ]

    def precheck(
        self, host: str, mode: MaintenanceMode | str, disk: str | None
    ) -> MaintenancePrecheck:
        """See :meth:`Platform.maintenance_precheck`."""
        mode = maintenance_mode(mode)
        with self._repo.lock:
            cluster = self._repo.cluster()
            check_host(cluster, host)
            problems: list[str] = []
            if cluster.host(host).state != "connected":
                problems.append(f"host {host} is {cluster.host(host).state}, not connected")
            if disk is not None:
                check_disk(cluster, host, disk)
                state = cluster.disk(host, disk).state
                if state != "healthy":
                    problems.append(f"disk {host}/{disk} is {state}, not healthy")
            impacts, moves = self._impacts(cluster, host, mode, disk)
            # Check that every planned move has a home, in a trial undone afterwards.
            with cluster.trial():
                self._evacuate(cluster, host, disk, moves, unplaced=problems)
        # Providers are asked with no platform lock held: their code may use its context
        # from any thread, and a slow one must not stop the platform.
        vetoes = self._consult(host, mode, disk)
        return MaintenancePrecheck.summarise(
            host=host,
            disk=disk,
            mode=mode,
            instances=tuple(impacts),
            problems=tuple(problems),
            vetoes=tuple(vetoes),
        )

    def enter(self, host: str, mode: MaintenanceMode | str, disk: str | None) -> MaintenanceResult:
        """See :meth:`Platform.enter_maintenance`."""
        mode = maintenance_mode(mode)
        target = host if disk is None else f"{host}/{disk}"
        action = "host.maintenance.enter" if disk is None else "disk.maintenance.enter"
        precheck = self.precheck(host, mode, disk)
        with self._repo.store.data_lock(), self._repo.lock:
            with self._journal.refusals(action, target):
                cluster = self._repo.cluster()
                state = cluster.host(host).state if disk is None else cluster.disk(host, disk).state
                if state not in ("connected", "healthy"):  # changed while providers were asked
                    raise Conflict(f"{target!r} is {state} now; it cannot enter maintenance")
                if precheck.problems:
                    raise Conflict(
                        f"{target!r} cannot enter maintenance ({mode.value}): "
                        + "; ".join(precheck.problems)
                    )
                if precheck.vetoes:
                    raise MaintenanceVetoed(target, precheck.vetoes)
            if disk is None:
                with self._repo.mutation() as cluster:
                    cluster.host(host).state = "draining"
                    record = DrainRecord(
                        host=host, mode=mode, owner=self._owner, started_at=self._clock.now()
                    )
                    self._repo.put_host_record("drain", host, record)
        consulted = self._drain(host, mode, action) if disk is None else ()
        with self._repo.store.data_lock(), self._repo.lock:
            with self._journal.refusals(action, target):
                cluster = self._repo.cluster()
                state = cluster.host(host).state if disk is None else cluster.disk(host, disk).state
                if state not in ("draining", "healthy"):  # it failed while being drained
                    self._untaint(host)
                    raise Conflict(f"{target!r} is {state} now; it cannot enter maintenance")
            affected = self._hardware.affected(host, disk)
            _, moves = self._impacts(self._repo.cluster(), host, mode, disk)
            with self._repo.mutation() as cluster:
                for moved in self._evacuate(cluster, host, disk, moves):
                    self._repo.put_volume(moved)
                if disk is None:
                    self._repo.delete_host_record("drain", host)
                    if mode is not MaintenanceMode.EVACUATE_ALL:
                        # What stays on the host is absent: vSAN's repair timer runs for it.
                        self._timers.start(host, "maintenance")
            self._journal.audit(action, target, "succeeded", mode.value)
            self._journal.event(
                "maintenance-entered", target, f"{target} entered maintenance ({mode.value})"
            )
            return MaintenanceResult(
                host=host,
                disk=disk,
                mode=mode,
                precheck=precheck,
                consulted=tuple(sorted({*affected, *consulted})),
                drained=consulted,
            )

    def _drain(self, host: str, mode: MaintenanceMode, action: str) -> tuple[str, ...]:
        """Ask each maintenance-aware instance with members (or, for ``evacuate-all``, data
        of its own) on the draining ``host`` to take them off; returns the instances asked.
        A veto, or anything left in the way, abandons the maintenance: the host is connected
        again and :class:`MaintenanceVetoed` or :class:`MaintenanceIncomplete` raised."""
        asked: list[str] = []
        vetoes: list[Veto] = []
        left: dict[str, list[str]] = {}
        for instance in sorted(self._hardware.affected(host)):
            request = self._drains.request(instance, host, mode)
            if not (request.members or request.local_volumes) or not self._drains.aware(instance):
                continue  # nothing the service must move, or it lets the platform stop it
            asked.append(instance)
            veto = self._drains.drain(instance, host, mode)
            if veto is not None:
                vetoes.append(veto)
                break  # a veto stops the maintenance at once
            remaining = self._drains.left_on(instance, host, mode)
            if remaining:
                left[instance] = remaining
        if vetoes or left:
            self._untaint(host)
            with self._journal.refusals(action, host):
                if vetoes:
                    raise MaintenanceVetoed(host, vetoes)
                raise MaintenanceIncomplete(host, mode, left)
        return tuple(asked)

    def _untaint(self, host: str) -> None:
        """Abandon ``host``'s drain: connected again, its stopped members run again, and
        their providers are told (``HOST_RECOVERED``)."""
        with self._repo.store.data_lock(), self._repo.lock:
            with self._repo.mutation() as cluster:
                if cluster.host(host).state == "draining":
                    cluster.host(host).state = "connected"
                self._repo.delete_host_record("drain", host)
                stopped = self._hardware.restart_stopped(host)
            self._journal.event(
                "maintenance-abandoned", host, f"{host} is connected again; its drain stopped"
            )
        told: dict[str, tuple[list[str], list[str]]] = {i: (m, []) for i, m in stopped.items()}
        self._repairs.notify_all(told, FailureKind.HOST_RECOVERED, host)

    def abandon_dead_drains(self) -> list[str]:
        """Abandon the drains whose process died; returns their hosts."""
        dead = [
            d.host
            for d in self._repo.host_records(DrainRecord, "drain")
            if not owner_alive(d.owner)
        ]
        for host in dead:
            self._untaint(host)
        return dead

    def exit(self, host: str, disk: str | None) -> None:
        """See :meth:`Platform.exit_maintenance`."""
        if disk is None:
            self._faults.reconnect(
                host,
                "maintenance",
                "host.maintenance.exit",
                "maintenance-exited",
                "left maintenance",
            )
            return
        with self._repo.store.data_lock(), self._repo.lock:
            with self._repo.mutation() as cluster:
                check_disk(cluster, host, disk)
                state = cluster.disk(host, disk).state
                if state != "maintenance":
                    raise Conflict(f"disk {host}/{disk} is not in maintenance (it is {state})")
                cluster.disk(host, disk).state = "healthy"
                for volume, _ in self._hardware.volumes_on(host, disk):
                    self._hardware.resync(cluster, volume)
            affected = self._hardware.affected(host, disk)
            self._journal.audit("disk.maintenance.exit", f"{host}/{disk}", "succeeded")
            self._journal.event(
                "maintenance-exited", f"{host}/{disk}", f"{host}/{disk} left maintenance"
            )
        self._repairs.notify_all(affected, FailureKind.DISK_RECOVERED, host, disk=disk)
