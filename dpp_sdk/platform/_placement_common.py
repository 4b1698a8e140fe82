"""What volume and member placement share: how a host's unavailability and a disk's state
read in messages, load fractions, plural words. Used by :mod:`._placement`,
:mod:`._member_placement` and :mod:`._pools` only."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeAlias

from dpp_sdk.platform._cluster import (
    Cluster,
    Disk,
    format_gb,
)

__all__ = ["DiskRef"]

DiskRef: TypeAlias = tuple[str, str]
"""A disk named by ``(host, disk)``, as in ``exclude_disks={("esx-01", "cap-0")}``."""

_NONE: frozenset[str] = frozenset()
_NO_DISKS: frozenset[DiskRef] = frozenset()


def _plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def _load(disks: Sequence[Disk]) -> float:
    """Fraction of the disks' size that is reserved (1.0 when they have no size)."""
    size = math.fsum(disk.size_gb for disk in disks)
    return math.fsum(disk.reserved_gb for disk in disks) / size if size > 0 else 1.0


def _unavailable(cluster: Cluster, host: str) -> str | None:
    """Why ``host`` takes nothing new, or None if it is connected."""
    state = cluster.hosts[host].state
    if state == "connected":
        return None
    return f"host {host} is {'in maintenance' if state == 'maintenance' else state}"


def _disk_status(cluster: Cluster, disk: Disk) -> str:
    """``cap-0 40.0 GB free``, ``direct-1 failed``: a disk as placement messages list it."""
    if disk.state != "healthy":
        return f"{disk.name} {'in maintenance' if disk.state == 'maintenance' else disk.state}"
    return f"{disk.name} {format_gb(cluster.free_on(disk))} free"
