"""Data movement when hardware changes: what lives on a host or disk, moving components to
new homes, rebuilding stale or lost components from their peers.

Shared by faults, maintenance and recovery. Nothing here audits or notifies providers; the
callers do. Functions that change placement take the cluster of an open
:meth:`~dpp_sdk.platform._repository.Repository.mutation` and return the changed volume
record, which the caller (or the function, where it says so) saves in the same transaction.
"""

from __future__ import annotations

import datetime as dt

import attrs

from dpp_sdk.contract import OperationState
from dpp_sdk.platform import _placement
from dpp_sdk.platform._cluster import Cluster, PlacementError
from dpp_sdk.platform._journal import Journal
from dpp_sdk.platform._records import ComponentRecord, VolumeRecord
from dpp_sdk.platform._repository import Repository
from dpp_sdk.platform._storage import VolumeStore
from dpp_sdk.platform._views import (
    available,
    component_bytes,
    disks_state,
    placements,
    pool_spread,
    scheme_for,
)

__all__ = ["Affected", "Hardware", "Located"]

Located = tuple[VolumeRecord, list[ComponentRecord]]
"""A volume and its components on the host (or disk) asked about."""

Affected = dict[str, tuple[list[str], list[str]]]
"""instance -> (its members on the host, its volumes with a component there)."""


class Hardware:
    """Finds what lives where, and moves or rebuilds components."""

    def __init__(self, repo: Repository, journal: Journal, volumes: VolumeStore) -> None:
        self._repo = repo
        self._journal = journal
        self._bytes = volumes

    def volumes_on(self, host: str, disk: str | None = None) -> list[Located]:
        """Every volume with a component on ``host`` (on ``disk`` only, when given)."""
        out: list[Located] = []
        for volume in self._repo.all_volumes():
            here = [
                c for c in volume.components if c.host == host and (disk is None or disk in c.disks)
            ]
            if here:
                out.append((volume, here))
        return out

    def members_on(self, host: str) -> dict[str, list[str]]:
        """instance -> names of its members on ``host``."""
        out: dict[str, list[str]] = {}
        for instance in self._repo.instances():
            for member in self._repo.members(instance.name):
                if member.host == host:
                    out.setdefault(instance.name, []).append(member.name)
        return out

    def restart_stopped(self, host: str) -> dict[str, list[str]]:
        """Run again the members on ``host`` that a drain stopped (in the caller's
        transaction); returns instance -> the members restarted."""
        restarted: dict[str, list[str]] = {}
        for instance, names in self.members_on(host).items():
            for name in names:
                member = self._repo.member(instance, name)
                if member.stopped:
                    self._repo.put_member(instance, attrs.evolve(member, stopped=False))
                    restarted.setdefault(instance, []).append(name)
        return restarted

    def affected(self, host: str, disk: str | None = None) -> Affected:
        """instance -> (members on host, volumes with a component on host/disk). A disk's
        trouble affects no member."""
        out: Affected = {}
        if disk is None:
            for instance, members in self.members_on(host).items():
                out.setdefault(instance, ([], []))[0].extend(members)
        for volume, _ in self.volumes_on(host, disk):
            out.setdefault(volume.instance, ([], []))[1].append(volume.name)
        return out

    def destroy(self, volume_id: str, index: int) -> None:
        """The bytes of component ``index`` of volume ``volume_id`` are gone."""
        self._bytes.destroy_component(volume_id, index)

    def rehome(
        self,
        cluster: Cluster,
        volume: VolumeRecord,
        indices: list[int],
        *,
        copy: bool,
        unplaced: list[str] | None = None,
    ) -> tuple[VolumeRecord, int]:
        """Move components ``indices`` of a volume to new disks (a ``vsan-sna`` or
        ``vsan-direct`` one to another disk of its host, keeping its storage-pool
        anti-affinity); returns the new record and the bytes moved.

        With ``copy`` the component's bytes are still readable (evacuation) and travel with
        it; otherwise (a destroyed component) it arrives stale and must be rebuilt from its
        peers. Components that find no new home stay where they are: each is reported in
        ``unplaced`` when given (a trial run), else as a ``rebuild-deferred`` event."""
        policy = volume.layout
        spread = pool_spread(
            self._repo.volumes(volume.instance), volume.pool_anti_affinity, leaving_out=volume.name
        )
        moved = 0
        for index in indices:
            try:
                new = _placement.replace_component(
                    cluster, policy, placements(volume), index, pool_spread=spread
                )
                cluster.reserve(volume.id, [new])
            except PlacementError as exc:
                message = (
                    f"component {index} of volume {volume.name!r} has no new home: {exc.message}"
                )
                if unplaced is not None:
                    unplaced.append(message)
                else:
                    self._journal.event("rebuild-deferred", volume.instance, message)
                continue
            comp = volume.component(index)
            size = component_bytes(policy, comp.role, volume.extent)
            moved += size
            state = comp.state if copy and comp.state == "active" else "stale"
            comp = attrs.evolve(
                comp, host=new.host, disk=new.disk, stripes=new.stripes, state=state
            )
            if state == "active":  # a copy that takes time; the object is in data-move
                comp = self.copying(comp, size, moving=True)
            volume = volume.with_components({index: comp})
        return volume, moved

    def copying(self, comp: ComponentRecord, size: int, *, moving: bool) -> ComponentRecord:
        """``comp`` (its bytes current) copying ``size`` bytes from now at ``resync_mbps``."""
        if size <= 0:
            return attrs.evolve(comp, resync_from=None, resync_until=None, resync_bytes=0)
        now = self._repo.clock.now()
        seconds = size / (self._repo.config.resync_mbps * 1_000_000)
        return attrs.evolve(
            comp,
            resync_from=now,
            resync_until=now + dt.timedelta(seconds=seconds),
            resync_bytes=size,
            moving=moving,
        )

    def resync(self, cluster: Cluster, volume: VolumeRecord) -> VolumeRecord:
        """Rebuild stale (or lost, re-homed) components from the others; saves the volume
        when any changed and returns it."""
        scheme = scheme_for(volume.layout)
        changed = False
        for c in volume.components:
            if c.state not in ("stale", "lost"):
                continue
            host = cluster.host(c.host)
            if host.state not in ("connected", "draining") or disks_state(cluster, c) != "healthy":
                continue
            others = available(cluster, volume) - {c.index}
            if not scheme.can_reconstruct(others):
                continue
            self._bytes.rebuild_component(volume.id, scheme, c.index, others, volume.extent)
            size = component_bytes(volume.layout, c.role, volume.extent)
            rebuilt = self.copying(attrs.evolve(c, state="active"), size, moving=False)
            volume = volume.with_components({c.index: rebuilt})
            changed = True
        if changed:
            self._repo.put_volume(volume)
        return volume

    def heal(self, cluster: Cluster, volume: VolumeRecord) -> bool:
        """Re-home lost components of a redundant volume and resync what is stale or lost;
        saves the volume. Returns False when its data cannot be reconstructed (it is lost)."""
        policy = volume.layout
        scheme = scheme_for(policy)
        lost = {c.index for c in volume.components if c.state == "lost"}
        if not scheme.can_reconstruct(available(cluster, volume)):
            return False
        if lost and policy.distributed:
            on_failed_disks = [
                c.index
                for c in volume.components
                if c.index in lost and disks_state(cluster, c) == "failed"
            ]
            volume, _ = self.rehome(cluster, volume, on_failed_disks, copy=False)
        volume = self.resync(cluster, volume)
        self._repo.put_volume(volume)
        return True

    def remove_orphaned_bytes(self) -> None:
        """Finish what a crash interrupted in the byte store: delete bytes of volumes no record
        knows, destroy bytes of components recorded lost, and heal what can be healed."""
        with self._repo.store.data_lock(), self._repo.lock:
            # Under the data lock no stripe write is under way: a journal left is a crash's.
            self._bytes.replay_journals()
            if self._repo.operations(
                states=(OperationState.PENDING, OperationState.RUNNING), limit=1
            ):
                return  # another process is mid-operation; leave its volumes alone
            volumes = self._repo.all_volumes()
            known = {v.id for v in volumes}
            for volume_id in self._bytes.volume_ids() - known:
                self._bytes.delete_volume(volume_id)
            damaged = [
                v for v in volumes if any(c.state in ("lost", "stale") for c in v.components)
            ]
            if not damaged:
                return
            for volume in damaged:
                for c in volume.components:
                    if c.state == "lost":
                        self._bytes.destroy_component(volume.id, c.index)
            with self._repo.mutation() as cluster:
                for volume in damaged:
                    # Read again inside the transaction: a concurrent change (a scale) must
                    # not be undone by healing an older copy of the record.
                    fresh = self._repo.find_volume(volume.instance, volume.name)
                    if fresh is not None:
                        self.heal(cluster, fresh)
