"""vSAN Direct placement: which direct disk (storage pool) of a host takes a new volume.

Every direct disk is a storage pool of its own that any number of ``vsan-direct`` volumes
share, up to its size. A new volume goes to the pool of its host with the most free space
(ties: natural name order). Storage-pool anti-affinity (:class:`PoolSpread`) keeps volumes of
one group apart: a *required* rule rules out every pool holding a volume of the group, and
fails placement (``AntiAffinityUnsatisfiable``) when only the rule stands in the way; a
*preferred* rule ranks pools by how many volumes of the group they hold, fewest first, before
free space.

:class:`HostPools` is one host's pools as a placement sees them; it can also play through
several placements in a row (:meth:`HostPools.take`), which is how :mod:`._member_placement`
checks that a candidate host can hold all of a new member's direct volumes. Used by
:mod:`._placement` and :mod:`._member_placement` only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType

import attrs

from dpp_sdk.platform._cluster import (
    GB_TOLERANCE,
    Cluster,
    Disk,
    PlacementError,
    PlacementReason,
    format_gb,
    natural_key,
)
from dpp_sdk.platform._placement_common import DiskRef, _disk_status

__all__ = ["DirectVolume", "HostPools", "PoolSpread"]

_NO_NEIGHBOURS: Mapping[DiskRef, Sequence[str]] = MappingProxyType({})


@attrs.frozen(kw_only=True)
class PoolSpread:
    """The storage-pool anti-affinity of a direct volume being placed.

    ``group`` and ``required`` are the rule (see ``dpp_sdk.PoolAntiAffinity``);
    ``neighbours`` maps a direct disk ``(host, disk)`` to the names of the volumes of the
    group already on it (the instance's volumes that name the same group), the pools to avoid.
    """

    group: str
    required: bool = True
    neighbours: Mapping[DiskRef, Sequence[str]] = _NO_NEIGHBOURS

    @property
    def label(self) -> str:
        """``storage-pool anti-affinity group 'set-0' (required)``: the rule in messages."""
        strength = "required" if self.required else "preferred"
        return f"storage-pool anti-affinity group {self.group!r} ({strength})"


@attrs.frozen(kw_only=True)
class DirectVolume:
    """A direct volume of a new member: its name (for messages), size and anti-affinity."""

    name: str
    size_gb: float
    spread: PoolSpread | None = None


class HostPools:
    """The direct disks of ``host`` (those given, in natural order) as placement sees them:
    the GB each can still take, and the volumes of each anti-affinity group on each.

    :meth:`take` books a choice, so that a series of placements can be played through
    without touching the cluster.
    """

    def __init__(self, cluster: Cluster, host: str, disks: Sequence[Disk] | None = None) -> None:
        self.cluster = cluster
        self.host = host
        self.disks = list(cluster.disks_of(host, "direct") if disks is None else disks)
        self._free = {disk.name: cluster.free_on(disk) for disk in self.disks}
        self._taken: dict[tuple[str, str], list[str]] = {}  # (group, disk) -> volumes booked

    def group_on(self, spread: PoolSpread | None, disk: Disk) -> list[str]:
        """Volumes of ``spread``'s group on ``disk``, booked ones included (none without)."""
        if spread is None:
            return []
        return [
            *spread.neighbours.get((self.host, disk.name), ()),
            *self._taken.get((spread.group, disk.name), ()),
        ]

    def _fits(self, disk: Disk, size_gb: float) -> bool:
        return self.cluster.disk_available(disk) and self._free[disk.name] + GB_TOLERANCE >= size_gb

    def choose(self, size_gb: float, spread: PoolSpread | None = None) -> Disk | None:
        """The pool a ``size_gb`` volume goes to, or None if none can take it (then
        :meth:`refusal` says why)."""
        best: Disk | None = None
        best_key: tuple[int, float, tuple[tuple[int, int | str], ...]] | None = None
        for disk in self.disks:
            if not self._fits(disk, size_gb):
                continue
            crowd = len(self.group_on(spread, disk))
            if crowd and spread is not None and spread.required:
                continue
            key = (crowd, -self._free[disk.name], natural_key(disk.name))
            if best_key is None or key < best_key:
                best, best_key = disk, key
        return best

    def take(self, disk: Disk, size_gb: float, name: str, spread: PoolSpread | None) -> None:
        """Book ``size_gb`` of ``disk`` for volume ``name`` (of ``spread``'s group, if any)."""
        self._free[disk.name] -= size_gb
        if spread is not None:
            self._taken.setdefault((spread.group, disk.name), []).append(name)

    def refusal(
        self, size_gb: float, spread: PoolSpread | None, what: str
    ) -> tuple[PlacementReason, str]:
        """Why no pool takes ``what`` (a ``size_gb`` volume), as a placement error's reason
        and message: ``AntiAffinityUnsatisfiable`` when some pool has room but holds a volume
        of the required group, ``NotEnoughResources`` otherwise. Every pool is described."""
        need = f"{format_gb(size_gb)} free on one healthy direct disk of host {self.host}"
        states = []
        blocked = False
        for disk in self.disks:
            state = _disk_status(self.cluster, disk)
            if disk.state == "healthy":
                state = f"{disk.name} {format_gb(max(0.0, self._free[disk.name]))} free"
            group = self.group_on(spread, disk)
            if group:
                names = ", ".join(repr(name) for name in sorted(group, key=natural_key))
                state += f", holds {names} of the group"
                blocked = blocked or self._fits(disk, size_gb)
            states.append(state)
        have = "; ".join(states) or "no direct disk"
        if blocked and spread is not None:
            return (
                "AntiAffinityUnsatisfiable",
                f"{what} must not share a direct disk with another volume of {spread.label}, "
                f"and no direct disk of host {self.host} with {format_gb(size_gb)} free is "
                f"free of the group: {have}",
            )
        return "NotEnoughResources", f"{what} needs {need}; it has {have}"

    def refuse(self, size_gb: float, spread: PoolSpread | None, what: str) -> PlacementError:
        """:meth:`refusal` as the ``PlacementError`` to raise."""
        return PlacementError(*self.refusal(size_gb, spread, what))
