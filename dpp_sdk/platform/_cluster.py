"""The mutable cluster model: hosts, disks, their states, and who reserved what where.

A :class:`Cluster` is built from a :class:`~dpp_sdk.platform._config.ClusterConfig` and then
changes as the platform runs: hosts enter maintenance or fail, disks fail, and volume
components reserve and release raw capacity. It is a ledger, not a decision maker: *where* a
component goes is decided by ``_placement`` and applied here with :meth:`Cluster.reserve`.

Capacity accounting
    Every component of a volume is a :class:`Reservation` on one disk, keyed by volume id and
    component index. ``Disk.reservations`` (kept sorted by volume and index) is the source of
    truth; every total is derived from it and equals ``math.fsum`` over the reservations it
    covers, bit for bit. A direct disk is a vSAN Direct storage pool: like a capacity disk it
    holds the components of any number of volumes, up to its size, and its free space is its
    size minus them. Raw capacity counts every installed disk, whatever its state; *free*
    space counts only what a NEW placement could use: a failed disk, or any disk of a host
    that is not ``connected``, offers none. The resource
    quota applies to each pool kind separately: ``resource_quota`` percent of the raw
    capacity of the capacity disks (the vSAN datastore) bounds the reservations on them, and
    the same percentage of the direct disks' raw capacity bounds the reservations in the vSAN
    Direct pools, so direct disks never widen the room of the vSAN datastore.

Reserves and warnings
    As vSAN 7U1+ shows them: the *operations reserve* (:data:`OPERATIONS_RESERVE_PERCENT` of
    the vSAN datastore's raw capacity) and the *host rebuild reserve* (the capacity disks of
    the largest host, what rebuilding a failed host's components needs). They are reported,
    not enforced. The capacity warning is raised per pool (the datastore, each direct pool)
    and per disk, at ``capacity_warning_percent`` reserved.

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
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from types import MappingProxyType
from typing import Any

import attrs
import cattrs

from dpp_sdk.platform._capacity import (
    _SHAPE,
    GB_TOLERANCE,
    STRIPE_GB,
    ComponentPlacement,
    Disk,
    DiskKind,
    DiskState,
    Host,
    HostState,
    PlacementError,
    PlacementReason,
    QuotaExceeded,
    Reservation,
    Stripe,
    _assign,
    _gb,
    _units,
    add_reservations,
    build_hosts,
    format_gb,
    gather,
    group_by_disk,
    grow_stripes,
    natural_key,
)
from dpp_sdk.platform._cluster_index import ChangeJournal, Derived, LoadRank, used_percent
from dpp_sdk.platform._config import ClusterConfig

__all__ = [
    "GB_TOLERANCE",
    "OPERATIONS_RESERVE_PERCENT",
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
    "STRIPE_GB",
    "Stripe",
    "format_gb",
    "grow_stripes",
    "natural_key",
]

_converter = cattrs.Converter()

OPERATIONS_RESERVE_PERCENT = 10
"""vSAN's operations reserve, in percent of the datastore's raw capacity (about 10% on
vSAN 7U1 and later; the real figure depends on the disks, see docs/platform.md)."""

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
    _derived: Derived = attrs.field(init=False, eq=False, repr=False)
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
        _assign(self, "_derived", Derived(self.hosts, self.capacity_warning_percent))
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
        hosts = build_hosts(config, host_states, disk_states)
        add_reservations(hosts, reservations)
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
        """GB of ``disk`` a NEW placement could use: its size minus its reservations, or 0 if
        it is unavailable (a direct disk is a storage pool that volumes share, like this)."""
        if not self.disk_available(disk):
            return 0.0
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

    def quota_gb(self, kind: DiskKind = "capacity") -> float:
        """Raw GB that service instances may reserve on disks of ``kind``:
        ``resource_quota`` % of their raw capacity (the vSAN datastore for ``capacity``, the
        vSAN Direct pools together for ``direct``)."""
        return self.raw_capacity_gb(kind) * self.resource_quota / 100

    def quota_left_gb(self, kind: DiskKind = "capacity") -> float:
        """Raw GB that may still be reserved on disks of ``kind`` under the quota (never
        negative)."""
        return max(0.0, self.quota_gb(kind) - self.reserved_gb(kind))

    def pool_used_percent(self, kind: DiskKind = "capacity") -> float:
        """Percentage of the disks of ``kind`` (every capacity disk: the vSAN datastore; every
        direct disk) that is reserved."""
        raw = self.raw_capacity_gb(kind)
        return 100 * self.reserved_gb(kind) / raw if raw else 0.0

    def capacity_warning(self) -> bool:
        """Whether the datastore's use, or any disk's, has reached ``capacity_warning_percent``."""
        limit, derived = self.capacity_warning_percent, self._derived
        past = derived.past_warning if limit == derived.warn_percent else self.disks_past_warning()
        return self.pool_used_percent() >= limit or bool(past)

    def disk_used_percent(self, disk: Disk) -> float:
        """Percentage of ``disk`` that is reserved (a direct disk: its storage pool)."""
        return used_percent(disk)

    def disks_past_warning(self) -> list[Disk]:
        """Every disk whose use has reached ``capacity_warning_percent``, in natural order
        (vSAN's per-disk "Disk capacity" check; a direct disk is a pool of its own)."""
        limit = self.capacity_warning_percent
        return [disk for disk in self.disks() if self.disk_used_percent(disk) >= limit]

    def operations_reserve_gb(self) -> float:
        """vSAN's operations reserve: :data:`OPERATIONS_RESERVE_PERCENT` of the datastore."""
        return self.raw_capacity_gb("capacity") * OPERATIONS_RESERVE_PERCENT / 100

    def host_rebuild_reserve_gb(self) -> float:
        """vSAN's host rebuild reserve: the capacity disks of the largest host (what must be
        free to rebuild a failed host's components elsewhere)."""
        units = self._derived.capacity_units
        return _gb(max(units.values(), default=0))

    # -- reservations --------------------------------------------------------------------------

    def reserve(self, volume: str, components: Iterable[ComponentPlacement]) -> None:
        """Reserve ``components`` of ``volume``, all or nothing.

        A component already reserved (same volume and index) is replaced: resized if on the
        same disk (volume expansion), moved if on another (rebuild elsewhere). Checks that each
        disk exists, that roles match disk kinds, and that the disk can hold the result: a
        disk's reservations (a direct disk's as a capacity disk's) never exceed its size.
        Host and disk *states* are not
        checked, so a snapshot can always be re-applied: choosing healthy homes is placement's
        job. Raises ``PlacementError`` (``NotEnoughResources``) when a disk cannot hold what is
        asked, ``ValueError`` for bad arguments and ``KeyError`` for unknown hosts or disks.
        Takes time proportional to the components given and the volume's reserved ones.
        """
        planned = list(components)
        indices = [c.index for c in planned]
        if len(set(indices)) != len(indices):
            raise ValueError(f"volume {volume!r}: component indices repeat: {indices}")
        before = self._derived.placed.get(volume, {})
        incoming = group_by_disk(volume, planned, self.disk)
        for (host, name), arriving in incoming.items():
            disk = self.disk(host, name)
            leaving = sum(
                _units(r.size_gb)
                for index in indices
                if (host, name) in before.get(index, {})
                and (r := disk._find(volume, index)[1]) is not None
            )
            staying = disk._reserved_units - leaving
            total = _gb(staying + sum(_units(r.size_gb) for r in arriving))
            if total > disk.size_gb + GB_TOLERANCE:
                raise PlacementError(
                    "NotEnoughResources",
                    f"volume {volume!r} asked for "
                    f"{format_gb(math.fsum(r.size_gb for r in arriving))} on "
                    f"{_where(disk)}, but only "
                    f"{format_gb(max(0.0, disk.size_gb - _gb(staying)))} of it is not reserved "
                    "by other components",
                )
        for component in planned:
            parts = component.reservations(volume)
            keep = {(component.host, name) for name, _ in parts}
            for key, old_home in list(before.get(component.index, {}).items()):
                if key not in keep:
                    self._put(old_home, volume, component.index, None)
            home = self.hosts[component.host]
            for name, reservation in parts:
                self._put(home.disks[name], volume, component.index, reservation)

    def release(self, volume: str, indices: Iterable[int] | None = None) -> float:
        """Release ``volume``'s components (only ``indices``, if given); return the GB freed.

        Releasing what is not reserved is a no-op, so a repeated release is safe. Takes time
        proportional to the volume's components.
        """
        placed = self._derived.placed.get(volume, {})
        wanted = sorted(placed if indices is None else placed.keys() & set(indices))
        freed = []
        for index in wanted:
            for disk in list(placed[index].values()):
                reservation = disk._find(volume, index)[1]
                assert reservation is not None
                freed.append(reservation.size_gb)
                self._put(disk, volume, index, None)
        return math.fsum(freed)

    def components(self, volume: str) -> list[ComponentPlacement]:
        """Where ``volume``'s components are reserved now, by index (empty if nowhere)."""
        placed = self._derived.placed.get(volume, {})
        return [gather(volume, index, placed[index].values()) for index in sorted(placed)]

    def volumes(self) -> list[str]:
        """Ids of every volume with a reservation, sorted."""
        return sorted(self._derived.placed)

    def volumes_on(self, host: str, disk: str | None = None) -> dict[str, list[ComponentPlacement]]:
        """Volume id -> its components on ``host`` (with a part on ``disk`` only, if given),
        by index."""
        found: dict[str, set[int]] = {}
        for item in self.host(host).disks.values():
            if disk is not None and item.name != disk:
                continue
            for r in item.reservations:
                found.setdefault(r.volume, set()).add(r.index)
        placed = self._derived.placed
        return {
            volume: [
                gather(volume, index, placed[volume][index].values()) for index in sorted(indices)
            ]
            for volume, indices in sorted(found.items())
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
        key = (disk.host, disk.name)
        if new is None:
            del items[at]
            del placed[volume][index][key]
            if not placed[volume][index]:
                del placed[volume][index]
                if not placed[volume]:
                    del placed[volume]
        else:
            if old is None:
                items.insert(at, new)
            else:
                items[at] = new
            placed.setdefault(volume, {}).setdefault(index, {})[key] = disk
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
