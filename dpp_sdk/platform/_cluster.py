"""The mutable cluster model: hosts, disks, their states, and who reserved what where.

A :class:`Cluster` is built from a :class:`~dpp_sdk.platform._config.ClusterConfig` and then
changes as the platform runs: hosts enter maintenance or fail, disks fail, and volume
components reserve and release raw capacity. It is a ledger, not a decision maker: *where* a
component goes is decided by ``_placement`` and applied here with :meth:`Cluster.reserve`.

Capacity accounting
    Every component of a volume is a :class:`Reservation` on one disk, keyed by volume id and
    component index. ``Disk.reservations`` (kept sorted by volume and index) is the source of
    truth; every total is derived from it and equals ``math.fsum`` over the reservations it
    covers, bit for bit. A direct disk holds at most one reservation; its volume is the disk's
    ``exclusive_owner``. Raw capacity counts every installed disk, whatever its state; *free*
    space counts only what a NEW placement could use: a failed disk, or any disk of a host
    that is not ``connected``, offers none, and an owned direct disk offers none. The resource
    quota is ``resource_quota`` percent of the raw capacity of all disks (capacity and
    direct), compared with the reservations on all disks.

Derived data
    The *shape* of a cluster (its hosts, disks, sizes and fault domains) never changes after
    construction; only host and disk states and reservations do. Natural orders of hosts,
    disks and fault domains are therefore computed once. Reserved totals are kept as exact
    integers in units of 2**-1074 GB (every finite float is a whole number of them), so they
    never drift: per disk, per disk kind, per host and per fault domain (the loads placement
    ranks by), plus an index from each volume to the disks holding its components. ``reserve``
    and ``release`` update them in time proportional to the components they touch, and plain
    assignment of a host's or disk's ``state`` updates what depends on states. None of this is
    compared (``==``) or serialised.

Undo journal
    ``with cluster.changes() as journal:`` records every change made inside the block (each
    reservation added, resized, moved or released, each host or disk ``state`` assigned) with
    its inverse. If the block raises, every change is undone, newest first, leaving a cluster
    equal to the one before; on success ``journal.hosts``, ``journal.disks`` and
    ``journal.volumes`` say what ended up different. A nested block joins the outer journal
    (and, if it raises itself, undoes its own changes first); :meth:`Cluster.trial` is a block
    that is always undone. Costs are proportional to the changes, never to the cluster.

Persistence
    Every class here is a plain attrs class that cattrs (un)structures to JSON-compatible data:
    :meth:`Cluster.to_dict` / :meth:`Cluster.from_dict`, or ``cattrs.unstructure`` /
    ``cattrs.structure`` directly. :meth:`Cluster.restore` rebuilds a cluster in one pass from
    its configuration, the host and disk states that are not the defaults, and the
    reservations.

Errors
    ``PlacementError`` (``reason``: ``NotEnoughResources``, ``AntiAffinityUnsatisfiable`` or
    ``PolicyUnsatisfiable``): something cannot be placed or reserved. ``QuotaExceeded``: the
    resource quota would be exceeded. Both carry structured fields besides their message.
"""

from __future__ import annotations

import contextlib
import functools
import itertools
import math
import operator
import re
from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Literal, NamedTuple, TypeAlias, get_args

import attrs
import cattrs

from dpp_sdk.platform._config import ClusterConfig, capacity_disk_name, direct_disk_name
from dpp_sdk.platform._policies import ComponentRole

__all__ = [
    "GB_TOLERANCE",
    "ChangeJournal",
    "Cluster",
    "ComponentPlacement",
    "Disk",
    "DiskKind",
    "DiskState",
    "Host",
    "HostState",
    "LoadRank",
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


_KEY = operator.attrgetter("volume", "index")
"""A reservation's key on its disk: ``(volume, index)``; a disk's list is sorted by it."""

_SHAPE = attrs.setters.frozen
"""``on_setattr`` of the fields that make up a cluster's shape: they never change."""

_assign = object.__setattr__
"""Sets a derived field, skipping the ``on_setattr`` dispatch that attrs adds to every
assignment once a class has a hook (hot paths and construction only)."""


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
    """A disk of a host. ``reserved_gb`` and ``exclusive_owner`` derive from ``reservations``.

    ``reservations`` is sorted by volume and component index; only :meth:`Cluster.reserve`
    and :meth:`Cluster.release` change it. Everything but ``state`` is fixed once built.
    """

    host: str = attrs.field(on_setattr=_SHAPE)
    name: str = attrs.field(on_setattr=_SHAPE)
    kind: DiskKind = attrs.field(on_setattr=_SHAPE)
    size_gb: float = attrs.field(on_setattr=_SHAPE)
    state: DiskState = attrs.field(default="healthy", on_setattr=_set_disk_state)
    reservations: list[Reservation] = attrs.field(factory=list, on_setattr=_SHAPE)
    # Derived, never compared or serialised: the exact reserved total, its float, the owner.
    # Set in __attrs_post_init__ (no attrs default, which would assign through the hooks).
    _reserved_units: int = attrs.field(init=False, eq=False, repr=False)
    _reserved_gb: float = attrs.field(init=False, eq=False, repr=False)
    _cluster: Cluster | None = attrs.field(init=False, eq=False, repr=False)

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
    def exclusive_owner(self) -> str | None:
        """The volume that owns this direct disk, or None (always None for capacity disks)."""
        if self.kind == "direct" and self.reservations:
            return self.reservations[0].volume
        return None

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
    _cluster: Cluster | None = attrs.field(init=False, default=None, eq=False, repr=False)

    @property
    def connected(self) -> bool:
        """Whether the host can take new components and members."""
        return self.state == "connected"


class LoadRank(NamedTuple):
    """How placement ranks a host or fault domain: least ``load`` first, then natural order.

    ``position`` is the name's place in natural name order, ``name`` the host or domain.
    """

    load: float
    position: int
    name: str


def _load(used_units: int, size_units: int) -> float:
    """Reserved fraction of a size, as ``fsum(reserved) / fsum(sizes)`` (1.0 for no size)."""
    return _gb(used_units) / _gb(size_units) if size_units > 0 else 1.0


class _Derived:
    """Everything a cluster derives from its hosts, kept up to date by the cluster.

    The shape part (orders, sizes, fault domains) is computed once; the rest (reserved totals,
    loads, the volume index) changes with every reservation and state change, through
    :meth:`reserved_changed` and :meth:`usable_changed`.
    """

    __slots__ = (
        "capacity_units",
        "disks",
        "domain_disks",
        "domain_ranks",
        "domain_size",
        "domain_used",
        "domains",
        "host_disks",
        "host_ranks",
        "host_used",
        "hosts",
        "names",
        "placed",
        "ranks",
        "raw_units",
        "reserved_units",
    )

    def __init__(self, hosts: Mapping[str, Host]) -> None:
        self.hosts = hosts
        order = sorted(hosts.values(), key=lambda host: natural_key(host.name))
        self.names = tuple(host.name for host in order)
        # host -> its disks in natural order, and by kind
        self.host_disks: dict[tuple[str, DiskKind | None], tuple[Disk, ...]] = {}
        for host in order:
            ordered = tuple(sorted(host.disks.values(), key=lambda disk: natural_key(disk.name)))
            self.host_disks[host.name, None] = ordered
            for kind in _KINDS:
                self.host_disks[host.name, kind] = tuple(d for d in ordered if d.kind == kind)
        every = [disk for host in order for disk in self.host_disks[host.name, None]]
        self.disks: dict[DiskKind | None, tuple[Disk, ...]] = {None: tuple(every)}
        for kind in _KINDS:
            self.disks[kind] = tuple(disk for disk in every if disk.kind == kind)
        members: dict[str, list[str]] = {}
        for host in order:
            members.setdefault(host.fault_domain, []).append(host.name)
        self.domains = {name: tuple(members[name]) for name in sorted(members, key=natural_key)}
        self.domain_disks = {
            domain: tuple(d for host in names for d in self.host_disks[host, "capacity"])
            for domain, names in self.domains.items()
        }
        self.raw_units = {kind: sum(_units(d.size_gb) for d in self.disks[kind]) for kind in _KINDS}
        self.capacity_units = {
            host.name: sum(_units(d.size_gb) for d in self.host_disks[host.name, "capacity"])
            for host in order
        }

        # volume -> component index -> the disk holding it
        self.placed: dict[str, dict[int, Disk]] = {}
        for disk in every:
            for r in disk.reservations:
                where = self.placed.setdefault(r.volume, {})
                other = where.setdefault(r.index, disk)
                if other is not disk:
                    raise ValueError(
                        f"component {r.index} of volume {r.volume!r} is reserved on both "
                        f"{other.host}/{other.name} and {disk.host}/{disk.name}"
                    )
        self.reserved_units = {
            kind: sum(d._reserved_units for d in self.disks[kind]) for kind in _KINDS
        }
        # Loads sum each capacity disk's float total, as placement's fsum over disks does.
        self.host_used = {
            host.name: sum(_units(d.reserved_gb) for d in self.host_disks[host.name, "capacity"])
            for host in order
        }
        self.domain_used = dict.fromkeys(self.domains, 0)
        self.domain_size = dict.fromkeys(self.domains, 0)
        for domain, disks in self.domain_disks.items():
            for disk in disks:
                if self.usable(disk):
                    self.domain_used[domain] += _units(disk.reserved_gb)
                    self.domain_size[domain] += _units(disk.size_gb)
        # (kind of rank, name) -> its rank; the sorted lists of host and domain ranks
        self.ranks: dict[tuple[str, str], LoadRank] = {}
        for position, host in enumerate(order):
            self.ranks["host", host.name] = LoadRank(self.host_load(host.name), position, host.name)
        for position, domain in enumerate(self.domains):
            self.ranks["domain", domain] = LoadRank(self.domain_load(domain), position, domain)
        self.host_ranks = sorted(self.ranks["host", host.name] for host in order)
        self.domain_ranks = sorted(
            self.ranks["domain", domain] for domain, disks in self.domain_disks.items() if disks
        )

    def usable(self, disk: Disk) -> bool:
        """Whether placement may put a new component on ``disk`` (its fault domain's load)."""
        return disk.state == "healthy" and self.hosts[disk.host].state == "connected"

    def host_load(self, host: str) -> float:
        """Reserved fraction of ``host``'s capacity disks, any state (0.0 without any)."""
        if not self.host_disks[host, "capacity"]:
            return 0.0
        return _load(self.host_used[host], self.capacity_units[host])

    def domain_load(self, domain: str) -> float:
        """Reserved fraction of ``domain``'s usable capacity disks (1.0 without any)."""
        return _load(self.domain_used[domain], self.domain_size[domain])

    def rerank(self, kind: Literal["host", "domain"], name: str) -> None:
        """Move ``name``'s entry in the sorted ranks after its load changed."""
        old = self.ranks[kind, name]
        load = self.host_load(name) if kind == "host" else self.domain_load(name)
        if load == old.load:
            return
        new = self.ranks[kind, name] = LoadRank(load, old.position, name)
        ranks = self.host_ranks if kind == "host" else self.domain_ranks
        at = bisect_left(ranks, old)
        if at < len(ranks) and ranks[at] == old:  # domains without capacity disks are unranked
            del ranks[at]
            insort(ranks, new)

    def reserved_changed(self, disk: Disk, delta: int) -> None:
        """``disk``'s reservations grew by ``delta`` units (negative: shrank)."""
        before = disk._reserved_gb
        units = disk._reserved_units + delta
        after = _gb(units)
        _assign(disk, "_reserved_units", units)
        _assign(disk, "_reserved_gb", after)
        self.reserved_units[disk.kind] += delta
        if disk.kind != "capacity" or after == before:
            return
        change = _units(after) - _units(before)
        self.host_used[disk.host] += change
        self.rerank("host", disk.host)
        if self.usable(disk):
            domain = self.hosts[disk.host].fault_domain
            self.domain_used[domain] += change
            self.rerank("domain", domain)

    def usable_changed(self, disks: Iterable[Disk], usable: bool) -> None:
        """Capacity ``disks`` (of one host) became usable (or stopped being usable)."""
        sign = 1 if usable else -1
        domains = set()
        for disk in disks:
            domain = self.hosts[disk.host].fault_domain
            self.domain_used[domain] += sign * _units(disk.reserved_gb)
            self.domain_size[domain] += sign * _units(disk.size_gb)
            domains.add(domain)
        for domain in domains:
            self.rerank("domain", domain)


_Undo: TypeAlias = Callable[[], object]


class ChangeJournal:
    """The changes made inside one :meth:`Cluster.changes` block, each with its inverse.

    While the block runs, and once it is over, ``hosts``, ``disks`` and ``volumes`` say what
    differs from the cluster before the block (as of the end of the block, once it is over).
    ``len(journal)`` is the number of changes recorded and not undone.
    """

    __slots__ = ("_cluster", "_disks", "_final", "_hosts", "_undo", "_volumes")

    def __init__(self, cluster: Cluster) -> None:
        self._cluster: Cluster | None = cluster
        self._undo: list[_Undo] = []
        # what each touched thing was before its first change in the block
        self._hosts: dict[str, HostState] = {}
        self._disks: dict[tuple[str, str], DiskState] = {}
        self._volumes: dict[str, list[ComponentPlacement]] = {}
        self._final: (
            tuple[Mapping[str, HostState], Mapping[tuple[str, str], DiskState], frozenset[str]]
            | None
        ) = None

    def __len__(self) -> int:
        return len(self._undo)

    @property
    def hosts(self) -> Mapping[str, HostState]:
        """Host name -> its state now, for every host whose state changed."""
        return self._report()[0]

    @property
    def disks(self) -> Mapping[tuple[str, str], DiskState]:
        """``(host, disk)`` -> its state now, for every disk whose state changed."""
        return self._report()[1]

    @property
    def volumes(self) -> frozenset[str]:
        """Ids of the volumes whose reservations changed (added, resized, moved, released)."""
        return self._report()[2]

    def _report(
        self,
    ) -> tuple[Mapping[str, HostState], Mapping[tuple[str, str], DiskState], frozenset[str]]:
        if self._final is not None:
            return self._final
        cluster = self._cluster
        assert cluster is not None
        hosts = {
            name: cluster.hosts[name].state
            for name, before in self._hosts.items()
            if cluster.hosts[name].state != before
        }
        disks = {
            (host, name): cluster.hosts[host].disks[name].state
            for (host, name), before in self._disks.items()
            if cluster.hosts[host].disks[name].state != before
        }
        volumes = frozenset(
            volume
            for volume, before in self._volumes.items()
            if cluster.components(volume) != before
        )
        return MappingProxyType(hosts), MappingProxyType(disks), volumes

    def _close(self) -> None:
        """The outermost block is over: fix the report."""
        self._final = self._report()
        self._cluster = None


_converter = cattrs.Converter()

_NO_HOST_STATES: Mapping[str, HostState] = MappingProxyType({})
_NO_DISK_STATES: Mapping[tuple[str, str], DiskState] = MappingProxyType({})


def _where(disk: Disk) -> str:
    """``disk esx-01/cap-0 (2,000.0 GB)``: a disk as messages name it."""
    return f"disk {disk.host}/{disk.name} ({format_gb(disk.size_gb)})"


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
    :meth:`reserve` and :meth:`release`. Make changes that must happen all together or not at
    all inside ``with cluster.changes():`` (see :meth:`changes`). The shape (which hosts and
    disks there are, their sizes and fault domains) is fixed once built: do not add to or
    remove from ``hosts`` or a host's ``disks``. A host belongs to one cluster. Not
    thread-safe: the platform serialises access.
    """

    hosts: dict[str, Host] = attrs.field(on_setattr=_SHAPE)
    resource_quota: int = 80
    capacity_warning_percent: int = 80
    _derived: _Derived = attrs.field(init=False, eq=False, repr=False)
    _journal: ChangeJournal | None = attrs.field(init=False, default=None, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        for key, host in self.hosts.items():
            if key != host.name:
                raise ValueError(f"host {host.name!r} is filed under the key {key!r}")
            if host._cluster is not None and host._cluster is not self:
                raise ValueError(f"host {host.name!r} already belongs to another cluster")
            for disk_key, disk in host.disks.items():
                if disk_key != disk.name or disk.host != host.name:
                    raise ValueError(
                        f"disk {disk.host}/{disk.name} is filed under {host.name}/{disk_key}"
                    )
        _assign(self, "_derived", _Derived(self.hosts))
        for host in self.hosts.values():
            _assign(host, "_cluster", self)
            for disk in host.disks.values():
                _assign(disk, "_cluster", self)

    # -- construction and persistence ----------------------------------------------------------

    @classmethod
    def from_config(cls, config: ClusterConfig) -> Cluster:
        """A fresh cluster: every host connected, every disk healthy, nothing reserved."""
        return cls.restore(config)

    @classmethod
    def restore(
        cls,
        config: ClusterConfig,
        host_states: Mapping[str, HostState] = _NO_HOST_STATES,
        disk_states: Mapping[tuple[str, str], DiskState] = _NO_DISK_STATES,
        reservations: Iterable[tuple[str, ComponentPlacement]] = (),
    ) -> Cluster:
        """The cluster of ``config`` with these states and reservations, built in one pass.

        ``host_states`` and ``disk_states`` (keyed by ``(host, disk)``) give the states that
        are not the defaults (``connected``, ``healthy``); ``reservations`` are ``(volume id,
        placement)`` pairs, in any order. Equal to the cluster that :meth:`from_config`, the
        same state assignments and :meth:`reserve` calls would build. The reservations are
        trusted, not re-checked against disk sizes or states; a host, disk or state that does
        not exist, a component on the wrong kind of disk or one reserved twice raises
        ``ValueError`` naming it.
        """
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
        for volume, c in reservations:
            host = hosts.get(c.host)
            disk = None if host is None else host.disks.get(c.disk)
            if disk is None:
                raise ValueError(
                    f"volume {volume!r} component {c.index} is reserved on {c.host}/{c.disk}, "
                    "which is not in the cluster"
                )
            if (c.role == "direct") != (disk.kind == "direct"):
                raise ValueError(
                    f"volume {volume!r} component {c.index}: a {c.role!r} component cannot "
                    f"live on {disk.kind} disk {disk.host}/{disk.name}"
                )
            disk.reservations.append(
                Reservation(volume=volume, index=c.index, role=c.role, size_gb=c.reserved_gb)
            )
        for host in hosts.values():
            for disk in host.disks.values():
                if disk.reservations:
                    disk._recount()
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

    def host_names(self) -> Sequence[str]:
        """The names of every host in natural order (``esx-2`` before ``esx-10``)."""
        return self._derived.names

    def disks(self, kind: DiskKind | None = None) -> Iterator[Disk]:
        """Every disk (of ``kind``, if given), host by host, in natural name order."""
        return iter(self._derived.disks[kind])

    def disks_of(self, host: str, kind: DiskKind | None = None) -> Sequence[Disk]:
        """The disks of ``host`` (of ``kind``, if given) in natural name order."""
        self.host(host)
        return self._derived.host_disks[host, kind]

    def fault_domains(self) -> dict[str, list[str]]:
        """Fault domain name -> names of its hosts, both in natural name order."""
        return {domain: list(hosts) for domain, hosts in self._derived.domains.items()}

    def fault_domain_of(self, host: str) -> str:
        """The fault domain of ``host``."""
        return self.host(host).fault_domain

    def domain_disks(self, domain: str) -> Sequence[Disk]:
        """The capacity disks of ``domain``'s hosts, any state, in natural order (host, disk).

        Empty for a fault domain without capacity disks or one that does not exist.
        """
        return self._derived.domain_disks.get(domain, ())

    # -- loads, as placement ranks them --------------------------------------------------------

    def host_rank(self, host: str) -> LoadRank:
        """``host``'s load (the reserved fraction of its capacity disks, whatever their state;
        0.0 without any) and natural position."""
        self.host(host)
        return self._derived.ranks["host", host]

    def domain_rank(self, domain: str) -> LoadRank:
        """``domain``'s load (the reserved fraction of its *usable* capacity disks: healthy, on
        a connected host; 1.0 without any) and natural position; ``KeyError`` if unknown."""
        try:
            return self._derived.ranks["domain", domain]
        except KeyError:
            known = ", ".join(self._derived.domains)
            raise KeyError(f"no fault domain {domain!r}; fault domains: {known}") from None

    def hosts_by_load(self) -> Sequence[LoadRank]:
        """Every host's :meth:`host_rank`, least loaded first (ties in natural name order).

        A live view: do not change the cluster while iterating over it.
        """
        return self._derived.host_ranks

    def domains_by_load(self) -> Sequence[LoadRank]:
        """The :meth:`domain_rank` of every fault domain with capacity disks, least loaded
        first (ties in natural name order). A live view, like :meth:`hosts_by_load`."""
        return self._derived.domain_ranks

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
        return math.fsum(self.free_on(disk) for disk in self.disks_of(host, kind))

    def raw_capacity_gb(self, kind: DiskKind | None = None) -> float:
        """Installed raw GB of every disk (of ``kind``), whatever its state."""
        raw = self._derived.raw_units
        return _gb(raw[kind] if kind is not None else raw["capacity"] + raw["direct"])

    def reserved_gb(self, kind: DiskKind | None = None) -> float:
        """Raw GB reserved by live components on every disk (of ``kind``)."""
        reserved = self._derived.reserved_units
        return _gb(
            reserved[kind] if kind is not None else reserved["capacity"] + reserved["direct"]
        )

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
        Takes time proportional to the components given and the volume's reserved ones.
        """
        planned = list(components)
        indices = [c.index for c in planned]
        if len(set(indices)) != len(indices):
            raise ValueError(f"volume {volume!r}: component indices repeat: {indices}")
        replaced = set(indices)
        before = dict(self._derived.placed.get(volume, {}))
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
            leaving = sum(
                _units(r.size_gb)
                for index in replaced
                if before.get(index) is disk and (r := disk._find(volume, index)[1]) is not None
            )
            staying = disk._reserved_units - leaving
            total = _gb(staying + sum(_units(c.reserved_gb) for c in arriving))
            if disk.kind == "direct":
                others = [
                    r for r in disk.reservations if not (r.volume == volume and r.index in replaced)
                ]
                if others or len(arriving) > 1:
                    owner = others[0].volume if others else volume
                    raise PlacementError(
                        "NotEnoughResources",
                        f"direct {_where(disk)} is exclusively owned by volume {owner!r}; it "
                        f"cannot also hold component {arriving[-1].index} of volume {volume!r}",
                    )
            if total > disk.size_gb + GB_TOLERANCE:
                raise PlacementError(
                    "NotEnoughResources",
                    f"volume {volume!r} asked for "
                    f"{format_gb(math.fsum(c.reserved_gb for c in arriving))} on "
                    f"{_where(disk)}, but only "
                    f"{format_gb(max(0.0, disk.size_gb - _gb(staying)))} of it is not reserved "
                    "by other components",
                )
        for component in planned:
            home = self.hosts[component.host].disks[component.disk]
            old_home = before.get(component.index)
            if old_home is not None and old_home is not home:
                self._put(old_home, volume, component.index, None)
            self._put(
                home,
                volume,
                component.index,
                Reservation(
                    volume=volume,
                    index=component.index,
                    role=component.role,
                    size_gb=component.reserved_gb,
                ),
            )

    def release(self, volume: str, indices: Iterable[int] | None = None) -> float:
        """Release ``volume``'s components (only ``indices``, if given); return the GB freed.

        Releasing what is not reserved is a no-op, so a repeated release is safe. Takes time
        proportional to the volume's components.
        """
        placed = dict(self._derived.placed.get(volume, {}))
        wanted = sorted(placed if indices is None else placed.keys() & set(indices))
        freed = []
        for index in wanted:
            disk = placed[index]
            reservation = disk._find(volume, index)[1]
            assert reservation is not None
            freed.append(reservation.size_gb)
            self._put(disk, volume, index, None)
        return math.fsum(freed)

    def components(self, volume: str) -> list[ComponentPlacement]:
        """Where ``volume``'s components are reserved now, by index (empty if nowhere)."""
        placed = self._derived.placed.get(volume, {})
        found = []
        for index in sorted(placed):
            disk = placed[index]
            r = disk._find(volume, index)[1]
            assert r is not None
            found.append(
                ComponentPlacement(
                    index=index, role=r.role, host=disk.host, disk=disk.name, reserved_gb=r.size_gb
                )
            )
        return found

    def volumes(self) -> list[str]:
        """Ids of every volume with a reservation, sorted."""
        return sorted(self._derived.placed)

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

    # -- the undo journal ----------------------------------------------------------------------

    @contextlib.contextmanager
    def changes(self) -> Iterator[ChangeJournal]:
        """A block whose changes to this cluster are undone, all of them, if it raises.

        Records every reservation added, resized, moved or released and every host or disk
        ``state`` assigned inside the block, in time proportional to the changes. If the block
        raises, they are undone newest first (the cluster is then equal to what it was, ``==``
        and :meth:`to_dict` alike) and the exception propagates. The journal yielded says what
        changed (:class:`ChangeJournal`). A nested block joins the outer one: it yields the
        outer journal, its changes are kept or undone with the outer block, and if it raises
        itself, its own changes are undone first (a savepoint).
        """
        with self._journaled(keep=True) as journal:
            yield journal

    @contextlib.contextmanager
    def trial(self) -> Iterator[ChangeJournal]:
        """Like :meth:`changes`, but the block's changes are always undone at its end.

        For what-if questions (would these moves find homes?) without copying the cluster.
        """
        with self._journaled(keep=False) as journal:
            yield journal

    @contextlib.contextmanager
    def _journaled(self, *, keep: bool) -> Iterator[ChangeJournal]:
        outer = self._journal
        journal = outer if outer is not None else ChangeJournal(self)
        mark = len(journal)
        self._journal = journal
        try:
            yield journal
            if not keep:
                self._undo(journal, mark)
        except BaseException:
            self._undo(journal, mark)
            raise
        finally:
            self._journal = outer
            if outer is None:
                journal._close()

    def _undo(self, journal: ChangeJournal, mark: int) -> None:
        """Undo ``journal``'s changes after the first ``mark``, newest first, unrecorded."""
        recording, self._journal = self._journal, None
        try:
            steps = journal._undo
            while len(steps) > mark:
                steps.pop()()
        finally:
            self._journal = recording

    # -- the only ways reservations and states change ------------------------------------------

    def _put(self, disk: Disk, volume: str, index: int, new: Reservation | None) -> None:
        """Make ``new`` component ``index`` of ``volume`` on ``disk`` (None: none there)."""
        at, old = disk._find(volume, index)
        if old is new:
            return
        journal = self._journal
        if journal is not None:
            if volume not in journal._volumes:
                journal._volumes[volume] = self.components(volume)
            journal._undo.append(functools.partial(self._put, disk, volume, index, old))
        items = disk.reservations
        placed = self._derived.placed
        if new is None:
            del items[at]
            del placed[volume][index]
            if not placed[volume]:
                del placed[volume]
        else:
            if old is None:
                items.insert(at, new)
            else:
                items[at] = new
            placed.setdefault(volume, {})[index] = disk
        delta = (0 if new is None else _units(new.size_gb)) - (
            0 if old is None else _units(old.size_gb)
        )
        if delta:
            self._derived.reserved_changed(disk, delta)

    def _host_state_changing(self, host: Host, state: HostState) -> None:
        """``host.state`` is about to become ``state``: update loads, record the change."""
        old = host.state
        journal = self._journal
        if journal is not None:
            journal._hosts.setdefault(host.name, old)
            journal._undo.append(functools.partial(setattr, host, "state", old))
        if (old == "connected") != (state == "connected"):
            healthy = [
                d for d in self._derived.host_disks[host.name, "capacity"] if d.state == "healthy"
            ]
            self._derived.usable_changed(healthy, usable=state == "connected")

    def _disk_state_changing(self, disk: Disk, state: DiskState) -> None:
        """``disk.state`` is about to become ``state``: update loads, record the change."""
        old = disk.state
        journal = self._journal
        if journal is not None:
            journal._disks.setdefault((disk.host, disk.name), old)
            journal._undo.append(functools.partial(setattr, disk, "state", old))
        if (
            disk.kind == "capacity"
            and self.hosts[disk.host].state == "connected"
            and (old == "healthy") != (state == "healthy")
        ):
            self._derived.usable_changed([disk], usable=state == "healthy")
