"""The pieces of the cluster model: hosts and disks (with their states), components and
reservations, sizes, and the errors placement and accounting raise.

:mod:`._cluster` assembles them into the :class:`~dpp_sdk.platform._cluster.Cluster` (and
re-exports every name here); see its docstring for capacity accounting.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
import re
from bisect import bisect_left
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal, Protocol, TypeAlias, get_args

import attrs

from dpp_sdk.platform._config import ClusterConfig, capacity_disk_name, direct_disk_name
from dpp_sdk.platform._policies import ComponentRole

__all__ = [
    "add_reservations",
    "build_hosts",
    "group_by_disk",
    "GB_TOLERANCE",
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
    "STRIPE_GB",
    "StateListener",
    "Stripe",
    "format_gb",
    "grow_stripes",
    "natural_key",
]

DiskKind: TypeAlias = Literal["capacity", "direct"]
"""A capacity disk feeds the shared vSAN datastore; a direct disk is a vSAN Direct storage pool
of its own, which the ``vsan-direct`` volumes placed on it share."""

DiskState: TypeAlias = Literal["healthy", "maintenance", "failed"]
"""Disk states; only ``healthy`` disks take new components."""

HostState: TypeAlias = Literal["connected", "draining", "maintenance", "failed"]
"""Host states; only ``connected`` hosts take new components and members."""

PlacementReason: TypeAlias = Literal[
    "NotEnoughResources", "AntiAffinityUnsatisfiable", "PolicyUnsatisfiable"
]
"""Why a placement failed (the reasons the real platform reports)."""

_DISK_STATES: tuple[DiskState, ...] = get_args(DiskState)
_HOST_STATES: tuple[HostState, ...] = get_args(HostState)
_KINDS: tuple[DiskKind, ...] = get_args(DiskKind)

_DIGITS = re.compile(r"(\d+)")

GB_TOLERANCE = 1e-6
"""Slack, in GB, when comparing sizes, so that float rounding never refuses an exact fit."""

_UNIT_BITS = 1074
_UNITS_PER_GB = 1 << _UNIT_BITS


@functools.lru_cache(maxsize=1 << 12)  # disk and component sizes repeat
def _units(gb: float) -> int:
    """``gb`` as an exact whole number of 2**-1074 GB units (every finite float is one)."""
    numerator, denominator = gb.as_integer_ratio()
    return numerator << (_UNIT_BITS + 1 - denominator.bit_length())


def _gb(units: int) -> float:
    """The float nearest to ``units`` (so the sum of parts' units gives their ``math.fsum``)."""
    return units / _UNITS_PER_GB


@functools.lru_cache(maxsize=1 << 14)  # host and disk names repeat, across disks and calls
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


_POOL_WORDS = {"capacity": "the vSAN datastore", "direct": "the vSAN Direct pools"}


class QuotaExceeded(Exception):
    """Reserving ``asked_gb`` more raw GB on disks of kind ``pool`` would pass that pool
    kind's resource quota; nothing was changed.

    ``used_gb`` is reserved there now, ``quota_gb`` the quota, ``left_gb`` what may still be
    reserved.
    """

    def __init__(
        self, *, used_gb: float, asked_gb: float, quota_gb: float, pool: DiskKind = "capacity"
    ) -> None:
        self.used_gb = used_gb
        self.asked_gb = asked_gb
        self.quota_gb = quota_gb
        self.pool: DiskKind = pool
        self.left_gb = max(0.0, quota_gb - used_gb)
        self.message = (
            f"resource quota of {_POOL_WORDS[pool]} exceeded: asked for "
            f"{format_gb(asked_gb)} of raw capacity, {format_gb(used_gb)} is used of a "
            f"{format_gb(quota_gb)} quota, only {format_gb(self.left_gb)} is left"
        )
        super().__init__(self.message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_quota_exceeded, (self.used_gb, self.asked_gb, self.quota_gb, self.pool))


def _quota_exceeded(
    used_gb: float, asked_gb: float, quota_gb: float, pool: DiskKind = "capacity"
) -> QuotaExceeded:
    return QuotaExceeded(used_gb=used_gb, asked_gb=asked_gb, quota_gb=quota_gb, pool=pool)


STRIPE_GB = 255.0
"""vSAN's largest component, in GB: a bigger one is split into pieces of at most this size,
which vSAN may put on different capacity disks of the same host."""


@attrs.frozen(kw_only=True)
class Stripe:
    """Part of a striped component: ``size_gb`` of its address space lives on ``disk`` (a
    capacity disk of the component's host)."""

    disk: str
    size_gb: float


@attrs.frozen(kw_only=True)
class ComponentPlacement:
    """Where one component of a volume goes (or is): host, disk, and the raw GB it reserves.

    ``index`` is the component's position in its policy's layout and ``role`` what it holds.
    A component too big for one disk is *striped*: ``stripes`` lists the disks of ``host``
    holding its address space, in order (``disk`` is the first), and what it reserves fills
    them in that order (all of each but the last, for a thick component; as far as it was
    written, for a thin one). Without ``stripes`` it lives on ``disk`` alone.
    """

    index: int
    role: ComponentRole
    host: str
    disk: str
    reserved_gb: float
    stripes: tuple[Stripe, ...] = ()

    @property
    def disks(self) -> tuple[str, ...]:
        """Every disk holding part of the component, in stripe order."""
        return tuple(s.disk for s in self.stripes) if self.stripes else (self.disk,)

    def reservations(self, volume: str) -> list[tuple[str, Reservation]]:
        """``(disk, reservation)`` for each disk the component reserves on, in stripe order."""
        if not self.stripes:
            return [
                (
                    self.disk,
                    Reservation(
                        volume=volume, index=self.index, role=self.role, size_gb=self.reserved_gb
                    ),
                )
            ]
        found = []
        left = self.reserved_gb
        last = len(self.stripes) - 1
        for position, stripe in enumerate(self.stripes):
            take = left if position == last else max(0.0, min(stripe.size_gb, left))
            left -= take
            found.append(
                (
                    stripe.disk,
                    Reservation(
                        volume=volume,
                        index=self.index,
                        role=self.role,
                        size_gb=take,
                        stripe=position,
                        stripe_gb=stripe.size_gb,
                    ),
                )
            )
        return found


@attrs.frozen(kw_only=True)
class Reservation:
    """Raw capacity reserved on a disk by component ``index`` of ``volume``.

    For a striped component, ``stripe`` is this disk's position among its stripes and
    ``stripe_gb`` the address space the component has on it (None when not striped).
    """

    volume: str
    index: int
    role: ComponentRole
    size_gb: float
    stripe: int = 0
    stripe_gb: float | None = None


def grow_stripes(stripes: tuple[Stripe, ...], size_gb: float) -> tuple[Stripe, ...]:
    """``stripes`` of a component grown to ``size_gb``: the last stripe takes the growth
    (an unstriped component stays unstriped)."""
    if not stripes:
        return stripes
    head = stripes[:-1]
    last = stripes[-1]
    rest = size_gb - math.fsum(s.size_gb for s in head)
    return (*head, attrs.evolve(last, size_gb=max(last.size_gb, rest)))


def gather(volume: str, index: int, disks: Iterable[Disk]) -> ComponentPlacement:
    """Component ``index`` of ``volume`` from its reservations on ``disks`` (one or more, of
    one host)."""
    found = []
    for disk in disks:
        reservation = disk._find(volume, index)[1]
        assert reservation is not None
        found.append((disk, reservation))
    ordered = sorted(found, key=lambda part: part[1].stripe)
    first = ordered[0][1]
    host = ordered[0][0].host
    if len(ordered) == 1 and first.stripe_gb is None:
        return ComponentPlacement(
            index=first.index,
            role=first.role,
            host=host,
            disk=ordered[0][0].name,
            reserved_gb=first.size_gb,
        )
    return ComponentPlacement(
        index=first.index,
        role=first.role,
        host=host,
        disk=ordered[0][0].name,
        reserved_gb=math.fsum(r.size_gb for _, r in ordered),
        stripes=tuple(
            Stripe(disk=disk.name, size_gb=r.size_gb if r.stripe_gb is None else r.stripe_gb)
            for disk, r in ordered
        ),
    )


_KEY = operator.attrgetter("volume", "index")
"""A reservation's key on its disk: ``(volume, index)``; a disk's list is sorted by it."""

_SHAPE = attrs.setters.frozen
"""``on_setattr`` of the fields that make up a cluster's shape: they never change."""

_assign = object.__setattr__
"""Sets a derived field, skipping the ``on_setattr`` dispatch that attrs adds to every
assignment once a class has a hook (hot paths and construction only)."""


class StateListener(Protocol):
    """What a host or disk tells when its state changes (the cluster it belongs to)."""

    def _disk_state_changing(self, disk: Disk, state: DiskState) -> None: ...

    def _host_state_changing(self, host: Host, state: HostState) -> None: ...


def _set_disk_state(disk: Disk, _: attrs.Attribute[DiskState], state: DiskState) -> DiskState:
    """``on_setattr`` of ``Disk.state``: check the value, tell the cluster (caches, journal)."""
    if state not in _DISK_STATES:
        raise ValueError(
            f"disk {disk.host}/{disk.name}: state must be one of {', '.join(_DISK_STATES)}, "
            f"got {state!r}"
        )
    if disk._cluster is not None and state != disk.state:
        disk._cluster._disk_state_changing(disk, state)
    return state


def _set_host_state(host: Host, _: attrs.Attribute[HostState], state: HostState) -> HostState:
    """``on_setattr`` of ``Host.state``: check the value, tell the cluster (caches, journal)."""
    if state not in _HOST_STATES:
        raise ValueError(
            f"host {host.name}: state must be one of {', '.join(_HOST_STATES)}, got {state!r}"
        )
    if host._cluster is not None and state != host.state:
        host._cluster._host_state_changing(host, state)
    return state


@attrs.define(kw_only=True)
class Disk:
    """A disk of a host. ``reserved_gb`` derives from ``reservations``.

    ``reservations`` is sorted by volume and component index; only :meth:`Cluster.reserve`
    and :meth:`Cluster.release` change it. Everything but ``state`` is fixed once built.
    """

    host: str = attrs.field(on_setattr=_SHAPE)
    name: str = attrs.field(on_setattr=_SHAPE)
    kind: DiskKind = attrs.field(on_setattr=_SHAPE)
    size_gb: float = attrs.field(on_setattr=_SHAPE)
    state: DiskState = attrs.field(default="healthy", on_setattr=_set_disk_state)
    reservations: list[Reservation] = attrs.field(factory=list, on_setattr=_SHAPE)
    # Derived, never compared or serialised: the exact reserved total and its float.
    # Set in __attrs_post_init__ (no attrs default, which would assign through the hooks).
    _reserved_units: int = attrs.field(init=False, eq=False, repr=False)
    _reserved_gb: float = attrs.field(init=False, eq=False, repr=False)
    _cluster: StateListener | None = attrs.field(init=False, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        _assign(self, "_cluster", None)
        if self.reservations:
            self._recount()
        else:
            _assign(self, "_reserved_units", 0)
            _assign(self, "_reserved_gb", 0.0)

    def _recount(self) -> None:
        """Sort ``reservations`` and derive the totals from them (construction only)."""
        self.reservations.sort(key=_KEY)
        for before, after in itertools.pairwise(self.reservations):
            if _KEY(before) == _KEY(after):
                raise ValueError(
                    f"disk {self.host}/{self.name} holds component {after.index} of volume "
                    f"{after.volume!r} twice"
                )
        try:
            units = sum(_units(r.size_gb) for r in self.reservations)
        except (ValueError, OverflowError):
            sizes = [r.size_gb for r in self.reservations]
            raise ValueError(
                f"disk {self.host}/{self.name}: reservation sizes must be finite, got {sizes}"
            ) from None
        _assign(self, "_reserved_units", units)
        _assign(self, "_reserved_gb", _gb(units))

    @property
    def reserved_gb(self) -> float:
        """Raw GB reserved on this disk by live components (``math.fsum`` of their sizes)."""
        return self._reserved_gb

    @property
    def unreserved_gb(self) -> float:
        """Size minus reservations, whatever the disk's or its host's state."""
        return max(0.0, self.size_gb - self._reserved_gb)

    def _find(self, volume: str, index: int) -> tuple[int, Reservation | None]:
        """Where component ``index`` of ``volume`` is (or would go) in ``reservations``."""
        items = self.reservations
        at = bisect_left(items, (volume, index), key=_KEY)
        if at < len(items) and _KEY(items[at]) == (volume, index):
            return at, items[at]
        return at, None


@attrs.define(kw_only=True)
class Host:
    """A host of the cluster, its fault domain, state and disks (by disk name).

    Everything but ``state`` is fixed once built.
    """

    name: str = attrs.field(on_setattr=_SHAPE)
    fault_domain: str = attrs.field(on_setattr=_SHAPE)
    state: HostState = attrs.field(default="connected", on_setattr=_set_host_state)
    disks: dict[str, Disk] = attrs.field(factory=dict, on_setattr=_SHAPE)
    _cluster: StateListener | None = attrs.field(init=False, default=None, eq=False, repr=False)

    @property
    def connected(self) -> bool:
        """Whether the host can take new components and members."""
        return self.state == "connected"


def build_hosts(
    config: ClusterConfig,
    host_states: Mapping[str, HostState],
    disk_states: Mapping[tuple[str, str], DiskState],
) -> dict[str, Host]:
    """The hosts and disks of ``config``, with the states given (others are the defaults)."""
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
    for name, host_state in host_states.items():
        if name not in hosts:
            raise ValueError(f"host_states names host {name!r}, which is not in the cluster")
        hosts[name].state = host_state
    for (host_name, name), disk_state in disk_states.items():
        owner = hosts.get(host_name)
        if owner is None or name not in owner.disks:
            raise ValueError(
                f"disk_states names disk {host_name}/{name}, which is not in the cluster"
            )
        owner.disks[name].state = disk_state
    return hosts


def add_reservations(
    hosts: Mapping[str, Host], reservations: Iterable[tuple[str, ComponentPlacement]]
) -> None:
    """Put trusted reservations on the disks of ``hosts`` (building a cluster), in one pass."""
    for volume, c in reservations:
        host = hosts.get(c.host)
        for name, reservation in c.reservations(volume):
            disk = None if host is None else host.disks.get(name)
            if disk is None:
                raise ValueError(
                    f"volume {volume!r} component {c.index} is reserved on {c.host}/{name}, "
                    "which is not in the cluster"
                )
            _check_role(volume, c, disk)
            disk.reservations.append(reservation)
    for host in hosts.values():
        for disk in host.disks.values():
            if disk.reservations:
                disk._recount()


def _check_role(volume: str, component: ComponentPlacement, disk: Disk) -> None:
    if (component.role == "direct") != (disk.kind == "direct"):
        raise ValueError(
            f"volume {volume!r} component {component.index}: a {component.role!r} "
            f"component cannot live on {disk.kind} disk {disk.host}/{disk.name}"
        )


def group_by_disk(
    volume: str, planned: Iterable[ComponentPlacement], disk_of: Callable[[str, str], Disk]
) -> dict[tuple[str, str], list[Reservation]]:
    """Reservations of ``volume`` to make, by (host, disk), after checking each component's
    size and stripes and that its role suits the disks (``ValueError``; ``KeyError`` for an
    unknown disk)."""
    incoming: dict[tuple[str, str], list[Reservation]] = {}
    for component in planned:
        size = component.reserved_gb
        if not math.isfinite(size) or size < 0:
            raise ValueError(
                f"volume {volume!r} component {component.index}: reserved_gb must be a "
                f"finite number >= 0, got {size!r}"
            )
        _check_stripes(volume, component)
        for name, reservation in component.reservations(volume):
            disk = disk_of(component.host, name)
            _check_role(volume, component, disk)
            incoming.setdefault((disk.host, disk.name), []).append(reservation)
    return incoming


def _check_stripes(volume: str, component: ComponentPlacement) -> None:
    """A striped component names each disk once, the first as ``disk``, with sizes > 0."""
    stripes = component.stripes
    if not stripes:
        return
    names = [s.disk for s in stripes]
    problem = None
    if len(set(names)) != len(names):
        problem = f"names a disk twice: {names}"
    elif names[0] != component.disk:
        problem = f"starts on {names[0]}, not on its disk {component.disk}"
    elif any(not (math.isfinite(s.size_gb) and s.size_gb > 0) for s in stripes):
        problem = f"has stripe sizes that are not positive numbers: {[s.size_gb for s in stripes]}"
    if problem is not None:
        raise ValueError(f"volume {volume!r} component {component.index}: its striping {problem}")
