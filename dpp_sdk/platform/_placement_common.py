"""What volume and member placement share: how a host's unavailability and a disk's state
read in messages, load fractions, plural words. Used by :mod:`._placement` and
:mod:`._member_placement` only."""

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
    if disk.state != "healthy":
        return f"{disk.name} failed"
    if disk.exclusive_owner is not None:
        return f"{disk.name} owned by volume {disk.exclusive_owner!r}"
    if disk.kind == "direct":
        return f"{disk.name} free, {format_gb(disk.size_gb)}"
    return f"{disk.name} {format_gb(cluster.free_on(disk))} free"
