"""The mutable cluster model: hosts, disks, their states, and who reserved what where.

A :class:`Cluster` is built from a :class:`~dpp_sdk.platform._config.ClusterConfig` and then
changes as the platform runs: hosts enter maintenance or fail, disks fail, and volume
components reserve and release raw capacity. It is a ledger, not a decision maker: *where* a
component goes is decided by ``_placement`` and applied here with :meth:`Cluster.reserve`.

Capacity accounting
    Every component of a volume is a :class:`Reservation` on one disk, keyed by volume id and
    component index. ``Disk.reserved_gb`` and ``Cluster.reserved_gb()`` are sums over the live
    reservations, so they cannot drift from them. A direct disk holds at most one reservation;
    its volume is the disk's ``exclusive_owner``. Raw capacity counts every installed disk,
    whatever its state; *free* space counts only what a NEW placement could use: a failed disk,
    or any disk of a host that is not ``connected``, offers none, and an owned direct disk
    offers none. The resource quota is ``resource_quota`` percent of the raw capacity of all
    disks (capacity and direct), compared with the reservations on all disks.

Persistence
    Every class here is a plain attrs class that cattrs (un)structures to JSON-compatible data:
    :meth:`Cluster.to_dict` / :meth:`Cluster.from_dict`, or ``cattrs.unstructure`` /
    ``cattrs.structure`` directly.

Errors
    ``PlacementError`` (``reason``: ``NotEnoughResources``, ``AntiAffinityUnsatisfiable`` or
    ``PolicyUnsatisfiable``): something cannot be placed or reserved. ``QuotaExceeded``: the
    resource quota would be exceeded. Both carry structured fields besides their message.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator
from typing import Any, Literal, TypeAlias

import attrs
import cattrs

from dpp_sdk.platform._config import ClusterConfig, capacity_disk_name, direct_disk_name
from dpp_sdk.platform._policies import ComponentRole

__all__ = [
    "GB_TOLERANCE",
    "Cluster",
    "ComponentPlacement",
    "Disk",
    "DiskKind",
    "DiskState",
    "Host",
    "HostState",
    "PlacementError",
    "PlacementReason",
    "QuotaExceeded",
    "Reservation",
    "format_gb",
    "natural_key",
]

DiskKind: TypeAlias = Literal["capacity", "direct"]
"""A capacity disk feeds the shared datastore; a direct disk is given whole to one volume."""

DiskState: TypeAlias = Literal["healthy", "maintenance", "failed"]
"""Disk states; only ``healthy`` disks take new components."""

HostState: TypeAlias = Literal["connected", "maintenance", "failed"]
"""Host states; only ``connected`` hosts take new components and members."""

PlacementReason: TypeAlias = Literal[
    "NotEnoughResources", "AntiAffinityUnsatisfiable", "PolicyUnsatisfiable"
]
"""Why a placement failed (the reasons the real platform reports)."""

_DIGITS = re.compile(r"(\d+)")

GB_TOLERANCE = 1e-6
"""Slack, in GB, when comparing sizes, so that float rounding never refuses an exact fit."""


def natural_key(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that orders ``esx-2`` before ``esx-10`` and ``cap-2`` before ``cap-10``."""
    return tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in _DIGITS.split(name) if part
    )


def format_gb(value: float) -> str:
    """``150.0 GB``, ``33.33 GB``, ``12,800.0 GB``: how sizes appear in messages."""
    if abs(value - round(value, 1)) < 0.005:
        return f"{value:,.1f} GB"
    return f"{value:,.2f} GB"


class PlacementError(Exception):
    """Something cannot be placed on the cluster as asked; nothing was changed.

    ``reason`` is ``PolicyUnsatisfiable`` when the cluster's shape cannot meet the request (too
    few fault domains, no direct disk at all), ``NotEnoughResources`` when the shape is right
    but free space, a healthy disk or a connected host is lacking, and
    ``AntiAffinityUnsatisfiable`` when only anti-affinity stands in the way. ``message`` says
    what was needed and what exists.
    """

    def __init__(self, reason: PlacementReason, message: str) -> None:
        self.reason: PlacementReason = reason
        self.message = message
        super().__init__(f"{reason}: {message}")

    def __reduce__(self) -> tuple[type[PlacementError], tuple[PlacementReason, str]]:
        return (type(self), (self.reason, self.message))


class QuotaExceeded(Exception):
    """Reserving ``asked_gb`` more raw GB would pass the resource quota; nothing was changed.

    ``used_gb`` is reserved now, ``quota_gb`` the quota, ``left_gb`` what may still be reserved.
    """

    def __init__(self, *, used_gb: float, asked_gb: float, quota_gb: float) -> None:
        self.used_gb = used_gb
        self.asked_gb = asked_gb
        self.quota_gb = quota_gb
        self.left_gb = max(0.0, quota_gb - used_gb)
        self.message = (
            f"resource quota exceeded: asked for {format_gb(asked_gb)} of raw capacity, "
            f"{format_gb(used_gb)} is used of a {format_gb(quota_gb)} quota, "
            f"only {format_gb(self.left_gb)} is left"
        )
        super().__init__(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_quota_exceeded, (self.used_gb, self.asked_gb, self.quota_gb))


def _quota_exceeded(used_gb: float, asked_gb: float, quota_gb: float) -> QuotaExceeded:
    return QuotaExceeded(used_gb=used_gb, asked_gb=asked_gb, quota_gb=quota_gb)


@attrs.frozen(kw_only=True)
class ComponentPlacement:
    """Where one component of a volume goes (or is): host, disk, and the raw GB it reserves.

    ``index`` is the component's position in its policy's layout and ``role`` what it holds.
    """

    index: int
    role: ComponentRole
    host: str
    disk: str
    reserved_gb: float


@attrs.frozen(kw_only=True)
class Reservation:
    """Raw capacity reserved on a disk by component ``index`` of ``volume``."""

    volume: str
    index: int
    role: ComponentRole
    size_gb: float


@attrs.define(kw_only=True)
class Disk:
    """A disk of a host. ``reserved_gb`` and ``exclusive_owner`` derive from ``reservations``."""

    host: str
    name: str
    kind: DiskKind
    size_gb: float
    state: DiskState = "healthy"
    reservations: list[Reservation] = attrs.Factory(list)

    @property
    def reserved_gb(self) -> float:
        """Raw GB reserved on this disk by live components."""
        return math.fsum(r.size_gb for r in self.reservations)

    @property
    def exclusive_owner(self) -> str | None:
        """The volume that owns this direct disk, or None (always None for capacity disks)."""
        if self.kind == "direct" and self.reservations:
            return self.reservations[0].volume
        return None

    @property
    def unreserved_gb(self) -> float:
        """Size minus reservations, whatever the disk's or its host's state."""
        return max(0.0, self.size_gb - self.reserved_gb)


@attrs.define(kw_only=True)
class Host:
    """A host of the cluster, its fault domain, state and disks (by disk name)."""

    name: str
    fault_domain: str
    state: HostState = "connected"
    disks: dict[str, Disk] = attrs.Factory(dict)

    @property
    def connected(self) -> bool:
        """Whether the host can take new components and members."""
        return self.state == "connected"


_converter = cattrs.Converter()


def _describe(error: BaseException, type_: type | None) -> str:
    """How one structuring problem reads in ``Cluster.from_dict``'s error."""
    if isinstance(error, KeyError) or not str(error):
        return cattrs.v.format_exception(error, type_)
    return str(error)


@attrs.define(kw_only=True)
class Cluster:
    """The whole mutable cluster: hosts by name, plus the settings capacity accounting needs.

    Mutate states directly (``cluster.hosts["esx-01"].state = "maintenance"``,
    ``cluster.disk("esx-01", "cap-0").state = "failed"``); change reservations only with
    :meth:`reserve` and :meth:`release`. Not thread-safe: the platform serialises access.
    """

    hosts: dict[str, Host]
    resource_quota: int = 80
    capacity_warning_percent: int = 80

    def __attrs_post_init__(self) -> None:
        for key, host in self.hosts.items():
            if key != host.name:
                raise ValueError(f"host {host.name!r} is filed under the key {key!r}")
            for disk_key, disk in host.disks.items():
                if disk_key != disk.name or disk.host != host.name:
                    raise ValueError(
                        f"disk {disk.host}/{disk.name} is filed under {host.name}/{disk_key}"
                    )

    # -- construction and persistence ----------------------------------------------------------

    @classmethod
    def from_config(cls, config: ClusterConfig) -> Cluster:
        """A fresh cluster: every host connected, every disk healthy, nothing reserved."""
        hosts: dict[str, Host] = {}
        for spec in config.hosts:
            disks = [
                Disk(host=spec.name, name=capacity_disk_name(i), kind="capacity", size_gb=size)
                for i, size in enumerate(spec.capacity_disks)
            ] + [
                Disk(host=spec.name, name=direct_disk_name(i), kind="direct", size_gb=size)
                for i, size in enumerate(spec.direct_disks)
            ]
            hosts[spec.name] = Host(
                name=spec.name,
                fault_domain=spec.fault_domain,
                disks={disk.name: disk for disk in disks},
            )
        return cls(
            hosts=hosts,
            resource_quota=config.resource_quota,
            capacity_warning_percent=config.capacity_warning_percent,
        )

    def to_dict(self) -> dict[str, Any]:
        """The whole mutable state as JSON-compatible data (``json.dumps`` takes it as is)."""
        data: dict[str, Any] = _converter.unstructure(self)
        return data

    @classmethod
    def from_dict(cls, data: Any) -> Cluster:
        """Rebuild a cluster from :meth:`to_dict` output.

        Invalid data raises ``ValueError`` listing every problem with its JSON path.
        """
        try:
            return _converter.structure(data, cls)
        except cattrs.BaseValidationError as error:
            problems = cattrs.transform_error(error, format_exception=_describe)
            raise ValueError(f"invalid cluster snapshot: {'; '.join(problems)}") from error

    # -- lookups -------------------------------------------------------------------------------

    def host(self, name: str) -> Host:
        """The host called ``name``; ``KeyError`` naming the known hosts if there is none."""
        try:
            return self.hosts[name]
        except KeyError:
            raise KeyError(
                f"no host {name!r} in the cluster; hosts: {', '.join(sorted(self.hosts))}"
            ) from None

    def disk(self, host: str, name: str) -> Disk:
        """Disk ``name`` of ``host``; ``KeyError`` naming the host's disks if there is none."""
        disks = self.host(host).disks
        try:
            return disks[name]
        except KeyError:
            raise KeyError(
                f"no disk {name!r} on host {host!r}; its disks: {', '.join(disks) or 'none'}"
            ) from None

    def disks(self, kind: DiskKind | None = None) -> Iterator[Disk]:
        """Every disk (of ``kind``, if given), host by host, in natural name order."""
        for host_name in sorted(self.hosts, key=natural_key):
            host = self.hosts[host_name]
            for disk_name in sorted(host.disks, key=natural_key):
                disk = host.disks[disk_name]
                if kind is None or disk.kind == kind:
                    yield disk

    def fault_domains(self) -> dict[str, list[str]]:
        """Fault domain name -> names of its hosts, both in natural name order."""
        domains: dict[str, list[str]] = {}
        for name in sorted(self.hosts, key=natural_key):
            domains.setdefault(self.hosts[name].fault_domain, []).append(name)
        return {name: domains[name] for name in sorted(domains, key=natural_key)}

    def fault_domain_of(self, host: str) -> str:
        """The fault domain of ``host``."""
        return self.host(host).fault_domain

    # -- capacity ------------------------------------------------------------------------------

    def disk_available(self, disk: Disk) -> bool:
        """Whether ``disk`` can take new components: healthy, on a connected host."""
        return disk.state == "healthy" and self.host(disk.host).connected

    def free_on(self, disk: Disk) -> float:
        """GB of ``disk`` a NEW placement could use (0 if unavailable or an owned direct disk)."""
        if not self.disk_available(disk):
            return 0.0
        if disk.kind == "direct":
            return 0.0 if disk.reservations else disk.size_gb
        return disk.unreserved_gb

    def disk_free_gb(self, host: str, disk: str) -> float:
        """GB of disk ``disk`` on ``host`` that a new placement could use."""
        return self.free_on(self.disk(host, disk))

    def host_free_gb(self, host: str, kind: DiskKind = "capacity") -> float:
        """GB on ``host``'s disks of ``kind`` that new placements could use."""
        return math.fsum(
            self.free_on(disk) for disk in self.host(host).disks.values() if disk.kind == kind
        )

    def raw_capacity_gb(self, kind: DiskKind | None = None) -> float:
        """Installed raw GB of every disk (of ``kind``), whatever its state."""
        return math.fsum(disk.size_gb for disk in self.disks(kind))

    def reserved_gb(self, kind: DiskKind | None = None) -> float:
        """Raw GB reserved by live components on every disk (of ``kind``)."""
        return math.fsum(r.size_gb for disk in self.disks(kind) for r in disk.reservations)

    def free_gb(self, kind: DiskKind | None = None) -> float:
        """GB that new placements could use on every disk (of ``kind``)."""
        return math.fsum(self.free_on(disk) for disk in self.disks(kind))

    def quota_gb(self) -> float:
        """Raw GB that service instances may reserve: ``resource_quota`` % of raw capacity."""
        return self.raw_capacity_gb() * self.resource_quota / 100

    def quota_left_gb(self) -> float:
        """Raw GB that may still be reserved under the quota (never negative)."""
        return max(0.0, self.quota_gb() - self.reserved_gb())

    def pool_used_percent(self) -> float:
        """Percentage of the capacity pool (all capacity disks) that is reserved."""
        raw = self.raw_capacity_gb("capacity")
        return 100 * self.reserved_gb("capacity") / raw if raw else 0.0

    def capacity_warning(self) -> bool:
        """Whether the pool's use has reached ``capacity_warning_percent``."""
        return self.pool_used_percent() >= self.capacity_warning_percent

    # -- reservations --------------------------------------------------------------------------

    def reserve(self, volume: str, components: Iterable[ComponentPlacement]) -> None:
        """Reserve ``components`` of ``volume``, all or nothing.

        A component already reserved (same volume and index) is replaced: resized if on the
        same disk (volume expansion), moved if on another (rebuild elsewhere). Checks that each
        disk exists, that roles match disk kinds, and that the disk can hold the result: a
        capacity disk's reservations never exceed its size, and a direct disk holds one
        component of one volume, no larger than the disk. Host and disk *states* are not
        checked, so a snapshot can always be re-applied: choosing healthy homes is placement's
        job. Raises ``PlacementError`` (``NotEnoughResources``) when a disk cannot hold what is
        asked, ``ValueError`` for bad arguments and ``KeyError`` for unknown hosts or disks.
        """
        planned = list(components)
        indices = [c.index for c in planned]
        if len(set(indices)) != len(indices):
            raise ValueError(f"volume {volume!r}: component indices repeat: {indices}")
        replaced = set(indices)
        incoming: dict[tuple[str, str], list[ComponentPlacement]] = {}
        for component in planned:
            disk = self.disk(component.host, component.disk)
            size = component.reserved_gb
            if not math.isfinite(size) or size < 0:
                raise ValueError(
                    f"volume {volume!r} component {component.index}: reserved_gb must be a "
                    f"finite number >= 0, got {size!r}"
                )
            if (component.role == "direct") != (disk.kind == "direct"):
                raise ValueError(
                    f"volume {volume!r} component {component.index}: a {component.role!r} "
                    f"component cannot live on {disk.kind} disk {disk.host}/{disk.name}"
                )
            incoming.setdefault((disk.host, disk.name), []).append(component)
        for (host, name), arriving in incoming.items():
            disk = self.disk(host, name)
            staying = [
                r for r in disk.reservations if not (r.volume == volume and r.index in replaced)
            ]
            total = math.fsum([*(r.size_gb for r in staying), *(c.reserved_gb for c in arriving)])
            where = f"disk {host}/{name} ({format_gb(disk.size_gb)})"
            if disk.kind == "direct" and (staying or len(arriving) > 1):
                owner = staying[0].volume if staying else volume
                raise PlacementError(
                    "NotEnoughResources",
                    f"direct {where} is exclusively owned by volume {owner!r}; it cannot also "
                    f"hold component {arriving[-1].index} of volume {volume!r}",
                )
            if total > disk.size_gb + GB_TOLERANCE:
                others = math.fsum(r.size_gb for r in staying)
                raise PlacementError(
                    "NotEnoughResources",
                    f"volume {volume!r} asked for "
                    f"{format_gb(math.fsum(c.reserved_gb for c in arriving))} on {where}, but "
                    f"only {format_gb(max(0.0, disk.size_gb - others))} of it is not reserved "
                    "by other components",
                )
        self.release(volume, replaced)
        for (host, name), arriving in incoming.items():
            disk = self.disk(host, name)
            disk.reservations.extend(
                Reservation(volume=volume, index=c.index, role=c.role, size_gb=c.reserved_gb)
                for c in arriving
            )

    def release(self, volume: str, indices: Iterable[int] | None = None) -> float:
        """Release ``volume``'s components (only ``indices``, if given); return the GB freed.

        Releasing what is not reserved is a no-op, so a repeated release is safe.
        """
        wanted = None if indices is None else set(indices)
        freed = 0.0
        for disk in self.disks():
            keep: list[Reservation] = []
            for r in disk.reservations:
                if r.volume == volume and (wanted is None or r.index in wanted):
                    freed += r.size_gb
                else:
                    keep.append(r)
            if len(keep) != len(disk.reservations):
                disk.reservations = keep
        return freed

    def components(self, volume: str) -> list[ComponentPlacement]:
        """Where ``volume``'s components are reserved now, by index (empty if nowhere)."""
        found = [
            ComponentPlacement(
                index=r.index, role=r.role, host=disk.host, disk=disk.name, reserved_gb=r.size_gb
            )
            for disk in self.disks()
            for r in disk.reservations
            if r.volume == volume
        ]
        return sorted(found, key=lambda c: c.index)

    def volumes(self) -> list[str]:
        """Ids of every volume with a reservation, sorted."""
        return sorted({r.volume for disk in self.disks() for r in disk.reservations})

    def volumes_on(self, host: str, disk: str | None = None) -> dict[str, list[ComponentPlacement]]:
        """Volume id -> its components on ``host`` (on ``disk`` only, if given), by index."""
        found: dict[str, list[ComponentPlacement]] = {}
        for item in self.host(host).disks.values():
            if disk is not None and item.name != disk:
                continue
            for r in item.reservations:
                found.setdefault(r.volume, []).append(
                    ComponentPlacement(
                        index=r.index, role=r.role, host=host, disk=item.name, reserved_gb=r.size_gb
                    )
                )
        return {
            volume: sorted(components, key=lambda c: c.index)
            for volume, components in sorted(found.items())
        }
