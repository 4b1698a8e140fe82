"""Injected faults: host and disk failures, and their recovery.

A failed host's members become unreachable, its components absent, and its object repair
timer starts (:mod:`._timers`; what happens when it expires is there); a host back before then
only resyncs. A failed disk's components lose their bytes (vSAN's ``degraded``) and are rebuilt
elsewhere at once where the cluster has room.
Every change is audited, reported as an event, and then told to the affected providers
through ``on_failure`` (:mod:`._repairs`).
"""

from __future__ import annotations

import attrs

from dpp_sdk.contract import Conflict, FailureKind, NotFound
from dpp_sdk.platform._cluster import Cluster
from dpp_sdk.platform._hardware import Hardware
from dpp_sdk.platform._journal import Journal
from dpp_sdk.platform._repairs import Repairs
from dpp_sdk.platform._repository import Repository
from dpp_sdk.platform._timers import Timers

__all__ = ["Faults", "check_disk", "check_host"]


def check_host(cluster: Cluster, host: str) -> None:
    """NotFound naming the hosts when ``host`` is not one of them."""
    if host not in cluster.hosts:
        raise NotFound("host", host, f"hosts: {', '.join(cluster.hosts)}")


def check_disk(cluster: Cluster, host: str, disk: str) -> None:
    """NotFound naming the host's disks when ``host``/``disk`` does not exist."""
    check_host(cluster, host)
    if not isinstance(disk, str) or disk not in cluster.host(host).disks:
        raise NotFound("disk", f"{host}/{disk}", f"disks: {', '.join(cluster.host(host).disks)}")


class Faults:
    """Inject and clear host and disk failures."""

    def __init__(
        self,
        repo: Repository,
        journal: Journal,
        hardware: Hardware,
        repairs: Repairs,
        timers: Timers,
    ) -> None:
        self._repo = repo
        self._journal = journal
        self._hardware = hardware
        self._repairs = repairs
        self._timers = timers

    def inject_host_failure(self, host: str) -> None:
        """See :meth:`Platform.inject_host_failure`."""
        with self._repo.store.data_lock(), self._repo.lock:
            with self._repo.mutation() as cluster:
                check_host(cluster, host)
                state = cluster.host(host).state
                if state == "failed":
                    raise Conflict(f"host {host!r} has already failed")
                cluster.host(host).state = "failed"
                if state != "maintenance":  # in maintenance, its timer already runs
                    self._timers.start(host, "host-failure")
            affected = self._hardware.affected(host)
            self._journal.audit("fault.inject.host-failure", host, "succeeded")
            self._journal.event(
                "host-failure", host, f"host {host} failed", instances=sorted(affected)
            )
        self._repairs.notify_all(affected, FailureKind.HOST_FAILURE, host)

    def clear_host_failure(self, host: str) -> None:
        """See :meth:`Platform.clear_host_failure`."""
        self.reconnect(host, "failed", "fault.clear.host-failure", "host-recovered", "recovered")

    def reconnect(self, host: str, leaving: str, action: str, event: str, verb: str) -> None:
        """Bring ``host`` back from state ``leaving`` (failed or maintenance): resync its stale
        components, then tell the providers of its members and volumes (HOST_RECOVERED)."""
        with self._repo.store.data_lock(), self._repo.lock:
            with self._repo.mutation() as cluster:
                check_host(cluster, host)
                state = cluster.host(host).state
                if state != leaving:
                    raise Conflict(f"host {host!r} is not {leaving} (it is {state})")
                cluster.host(host).state = "connected"
                self._timers.cancel(host)
                self._hardware.restart_stopped(host)
                for volume, _ in self._hardware.volumes_on(host):
                    self._hardware.resync(cluster, volume)
            affected = self._hardware.affected(host)
            self._journal.audit(action, host, "succeeded")
            self._journal.event(event, host, f"host {host} {verb}")
        # Members on the host run again: providers may need to resync them.
        self._repairs.notify_all(affected, FailureKind.HOST_RECOVERED, host)

    def inject_disk_failure(self, host: str, disk: str) -> None:
        """See :meth:`Platform.inject_disk_failure`."""
        lost_by_instance: dict[str, list[str]] = {}
        hardware = self._hardware
        with self._repo.store.data_lock(), self._repo.lock:
            # Who to tell is decided before any component is rebuilt elsewhere.
            affected = hardware.affected(host, disk)
            # 1. Record the failure first: the disk failed, its components are lost. A crash
            #    after this commit can only leave bytes that recovery destroys too.
            with self._repo.mutation() as cluster:
                check_disk(cluster, host, disk)
                if cluster.disk(host, disk).state == "failed":
                    raise Conflict(f"disk {host}/{disk} has already failed")
                cluster.disk(host, disk).state = "failed"
                victims = hardware.volumes_on(host, disk)
                for volume, here in victims:
                    lost = {c.index: attrs.evolve(c, state="lost") for c in here}
                    self._repo.put_volume(volume.with_components(lost))
            # 2. The bytes on the disk are gone.
            for volume, here in victims:
                for c in here:
                    hardware.destroy(volume.id, c.index)
            # 3. Rebuild elsewhere what can be rebuilt; the rest is lost for good.
            with self._repo.mutation() as cluster:
                for volume, _ in victims:
                    current = self._repo.find_volume(volume.instance, volume.name)
                    if current is not None and not hardware.heal(cluster, current):
                        lost_by_instance.setdefault(volume.instance, []).append(volume.name)
            self._journal.audit("fault.inject.disk-failure", f"{host}/{disk}", "succeeded")
            self._journal.event(
                "disk-failure",
                f"{host}/{disk}",
                f"disk {host}/{disk} failed",
                lost=dict(lost_by_instance),
            )
        self._repairs.notify_all(
            affected, FailureKind.DISK_FAILURE, host, disk=disk, lost=lost_by_instance
        )

    def clear_disk_failure(self, host: str, disk: str) -> None:
        """See :meth:`Platform.clear_disk_failure`."""
        with self._repo.store.data_lock(), self._repo.lock:
            with self._repo.mutation() as cluster:
                check_disk(cluster, host, disk)
                if cluster.disk(host, disk).state != "failed":
                    raise Conflict(f"disk {host}/{disk} has not failed")
                cluster.disk(host, disk).state = "healthy"
                for volume, _ in self._hardware.volumes_on(host, disk):
                    self._hardware.resync(cluster, volume)
            affected = self._hardware.affected(host, disk)
            self._journal.audit("fault.clear.disk-failure", f"{host}/{disk}", "succeeded")
            self._journal.event("disk-replaced", f"{host}/{disk}", f"disk {host}/{disk} replaced")
        self._repairs.notify_all(affected, FailureKind.DISK_REPLACED, host, disk=disk)

    def clear_all(self) -> None:
        """See :meth:`Platform.clear_faults`."""
        for h in list(self._repo.cluster().hosts.values()):
            if h.state == "failed":
                self.clear_host_failure(h.name)
        for d in list(self._repo.cluster().disks()):
            if d.state == "failed":
                self.clear_disk_failure(d.host, d.name)
