"""What the cluster derives from its hosts and disks and keeps up to date as they change
(orders, exact reserved totals, load rankings, where each volume's components are), and the
journal of the changes made inside one :meth:`~dpp_sdk.platform._cluster.Cluster.changes`
block. Used only by :mod:`._cluster`.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Literal, NamedTuple, Protocol, TypeAlias

from dpp_sdk.platform._capacity import (
    _KINDS,
    ComponentPlacement,
    Disk,
    DiskKind,
    DiskState,
    Host,
    HostState,
    _assign,
    _gb,
    _units,
    natural_key,
)

__all__ = ["ChangeJournal", "Derived", "LoadRank", "used_percent"]


class _Journaled(Protocol):
    """The cluster as its journal reads it."""

    @property
    def hosts(self) -> Mapping[str, Host]: ...

    def components(self, volume: str) -> list[ComponentPlacement]: ...


class LoadRank(NamedTuple):
    """How placement ranks a host or fault domain: least ``load`` first, then natural order.

    ``position`` is the name's place in natural name order, ``name`` the host or domain.
    """

    load: float
    position: int
    name: str


def used_percent(disk: Disk) -> float:
    """Percentage of ``disk`` that is reserved (a direct disk: its storage pool)."""
    return 100 * disk.reserved_gb / disk.size_gb if disk.size_gb > 0 else 0.0


def _load(used_units: int, size_units: int) -> float:
    """Reserved fraction of a size, as ``fsum(reserved) / fsum(sizes)`` (1.0 for no size)."""
    return _gb(used_units) / _gb(size_units) if size_units > 0 else 1.0


class Derived:
    """Everything a cluster derives from its hosts, kept up to date by the cluster.

    The shape part (orders, sizes, fault domains) is computed once; the rest (reserved totals,
    loads, the volume index, the disks past the capacity warning threshold ``warn_percent``)
    changes with every reservation and state change, through :meth:`reserved_changed` and
    :meth:`usable_changed`.
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
        "past_warning",
        "placed",
        "ranks",
        "raw_units",
        "reserved_units",
        "warn_percent",
    )

    def __init__(self, hosts: Mapping[str, Host], warn_percent: float) -> None:
        self.hosts = hosts
        self.warn_percent = warn_percent
        order = sorted(hosts.values(), key=lambda host: natural_key(host.name))
        self._orders(order)
        self._placements()
        self._loads(order)

    def _orders(self, order: list[Host]) -> None:
        """Hosts, disks and fault domains in natural order (the shape never changes)."""
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

    def _placements(self) -> None:
        """Where each volume's components are."""
        every = self.disks[None]
        # volume -> component index -> the disks holding it, by (host, disk): one, or (for
        # a striped component) several disks of one host
        self.placed: dict[str, dict[int, dict[tuple[str, str], Disk]]] = {}
        for disk in every:
            for r in disk.reservations:
                where = self.placed.setdefault(r.volume, {}).setdefault(r.index, {})
                other = next(iter(where.values()), disk)
                if other.host != disk.host or (where and r.stripe_gb is None and other is not disk):
                    raise ValueError(
                        f"component {r.index} of volume {r.volume!r} is reserved on both "
                        f"{other.host}/{other.name} and {disk.host}/{disk.name}"
                    )
                where[disk.host, disk.name] = disk

    def _loads(self, order: list[Host]) -> None:
        """Exact reserved totals and the load rankings placement reads."""
        self.reserved_units = {
            kind: sum(d._reserved_units for d in self.disks[kind]) for kind in _KINDS
        }
        # The disks whose use reached warn_percent, so the check after a change is O(1).
        self.past_warning = {
            (d.host, d.name) for d in self.disks[None] if used_percent(d) >= self.warn_percent
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
        if used_percent(disk) >= self.warn_percent:
            self.past_warning.add((disk.host, disk.name))
        else:
            self.past_warning.discard((disk.host, disk.name))
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

    def __init__(self, cluster: _Journaled) -> None:
        self._cluster: _Journaled | None = cluster
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
        return self._final[0] if self._final is not None else self._states()[0]

    @property
    def disks(self) -> Mapping[tuple[str, str], DiskState]:
        """``(host, disk)`` -> its state now, for every disk whose state changed."""
        return self._final[1] if self._final is not None else self._states()[1]

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
        hosts, disks = self._states()
        volumes = frozenset(
            volume
            for volume, before in self._volumes.items()
            if cluster.components(volume) != before
        )
        return hosts, disks, volumes

    def _states(self) -> tuple[Mapping[str, HostState], Mapping[tuple[str, str], DiskState]]:
        """The host and disk parts of the report, while the block runs (without comparing
        the volumes' placements, which the volumes part does)."""
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
        return MappingProxyType(hosts), MappingProxyType(disks)

    def _close(self) -> None:
        """The outermost block is over: fix the report."""
        self._final = self._report()
        self._cluster = None
