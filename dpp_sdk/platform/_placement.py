"""Placement decisions: where volume components and members go. Pure functions, no side effects.

Each function reads a :class:`~dpp_sdk.platform._cluster.Cluster` and returns a decision; the
caller applies it (``cluster.reserve(volume_id, placements)``, recording a member's host). A
request that cannot be met raises :class:`~dpp_sdk.platform._cluster.PlacementError` with a
``reason`` and a message saying what was needed and what exists; nothing ever silently degrades
(a mirror is never placed with fewer fault domains than its policy needs).

Rules, all deterministic (least loaded first, ties broken by natural name order):

* ``mirror`` / ``erasure`` volumes: one component per fault domain, on a healthy capacity disk
  of a connected host with room for the component. Fault domains are ranked by the fraction of
  their usable capacity that is reserved, disks likewise. A witness needs its own fault domain
  but reserves 0 GB.
* ``host-local`` (``vsan-sna``): on the given host, on the capacity disk with the most free space.
* ``direct`` (``vsan-direct``): on the given host, the direct disk (a storage pool that volumes
  share) with the most free space, honouring storage-pool anti-affinity (see :mod:`._pools`).
* members: on a connected host that can hold their host-local and direct volumes, honouring
  host pinning and anti-affinity.

Cost: no call walks the reservations. Candidates are ranked by the loads the cluster keeps
up to date (:meth:`~dpp_sdk.platform._cluster.Cluster.domains_by_load`,
:meth:`~dpp_sdk.platform._cluster.Cluster.hosts_by_load`), and whether a request fits is checked
candidate by candidate in rank order until one does; only the fault domains a call narrows (by
excluded disks or avoided hosts) have their load recomputed. A request that fails looks at
every candidate, to say why each one cannot take it.

Reasons: ``PolicyUnsatisfiable`` when the cluster's shape (as far as the caller lets it be
used) cannot meet the policy (too few fault domains with capacity disks, no direct disk on the
host); ``NotEnoughResources`` when the shape is there but free space, healthy disks or connected
hosts are lacking; ``AntiAffinityUnsatisfiable`` when a required anti-affinity rule rules out
every connected host, or the pinned one, or a required storage-pool anti-affinity rule every
direct disk with room.
"""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Mapping, Sequence
from collections.abc import Set as AbstractSet

import attrs

from dpp_sdk.platform._cluster import (
    GB_TOLERANCE,
    STRIPE_GB,
    Cluster,
    ComponentPlacement,
    Disk,
    DiskKind,
    LoadRank,
    PlacementError,
    QuotaExceeded,
    Stripe,
    format_gb,
    natural_key,
)
from dpp_sdk.platform._member_placement import (
    AntiAffinity,
    AntiAffinityRule,
    AntiAffinityScope,
    MemberPlacementInfo,
    place_member,
)
from dpp_sdk.platform._placement_common import (
    _NO_DISKS,
    _NONE,
    DiskRef,
    _disk_status,
    _load,
    _plural,
    _unavailable,
)
from dpp_sdk.platform._policies import ComponentRole, Policy
from dpp_sdk.platform._pools import DirectVolume, HostPools, PoolSpread

__all__ = [
    "AntiAffinity",
    "AntiAffinityRule",
    "AntiAffinityScope",
    "ComponentPlacement",
    "DirectVolume",
    "DiskRef",
    "MemberPlacementInfo",
    "PoolSpread",
    "check_quota",
    "pool_kind",
    "place_member",
    "place_volume",
    "replace_component",
]

# -- volumes ---------------------------------------------------------------------------------


@attrs.frozen
class _Wanted:
    """A component to place: ``size_gb`` is what it reserves now (all of it when thick, what
    has been written when thin), ``declared_gb`` its full size."""

    index: int
    role: ComponentRole
    size_gb: float
    declared_gb: float


def place_volume(
    cluster: Cluster,
    policy: Policy,
    size_gb: float,
    *,
    host: str | None = None,
    exclude_disks: AbstractSet[DiskRef] = _NO_DISKS,
    avoid_fault_domains: AbstractSet[str] = _NONE,
    avoid_hosts: AbstractSet[str] = _NONE,
    pool_spread: PoolSpread | None = None,
) -> list[ComponentPlacement]:
    """Choose a home for every component of a new ``size_gb`` volume under ``policy``.

    Returns the placements in layout order (``index`` 0, 1, ...). ``host`` is required for
    ``vsan-sna`` and ``vsan-direct`` (the host of the member using the volume) and ignored for
    distributed policies. ``exclude_disks``, ``avoid_fault_domains`` and ``avoid_hosts`` take
    parts of the cluster out of consideration (for instance a host about to enter maintenance).
    ``pool_spread`` is the storage-pool anti-affinity of a ``vsan-direct`` volume.
    Raises ``PlacementError``, or ``ValueError`` if ``size_gb`` is not a positive number or
    ``pool_spread`` is given for another policy.
    """
    if not (math.isfinite(size_gb) and size_gb > 0):
        raise ValueError(f"volume size must be a positive number of GB, got {size_gb!r}")
    _check_spread(policy, pool_spread)
    wanted = [
        _Wanted(index, role, size, declared)
        for index, (role, size, declared) in enumerate(
            zip(
                policy.component_roles(),
                policy.reserved_sizes_gb(size_gb),
                policy.component_sizes_gb(size_gb),
                strict=True,
            )
        )
    ]
    if policy.distributed:
        return _place_distributed(
            cluster,
            policy,
            wanted,
            taken=_NONE,
            exclude_disks=exclude_disks,
            avoid_fault_domains=avoid_fault_domains,
            avoid_hosts=avoid_hosts,
            what=f"a {format_gb(size_gb)} {policy.name} volume",
        )
    return [
        _place_on_host(
            cluster,
            policy,
            wanted[0],
            host,
            exclude_disks=exclude_disks,
            avoid_fault_domains=avoid_fault_domains,
            avoid_hosts=avoid_hosts,
            pool_spread=pool_spread,
        )
    ]


def _check_spread(policy: Policy, pool_spread: PoolSpread | None) -> None:
    if pool_spread is not None and policy.kind != "direct":
        raise ValueError(
            f"storage-pool anti-affinity ({pool_spread.label}) applies to vsan-direct volumes "
            f"only, not to {policy.name}"
        )


def replace_component(
    cluster: Cluster,
    policy: Policy,
    existing: Sequence[ComponentPlacement],
    index: int,
    *,
    host: str | None = None,
    exclude_disks: AbstractSet[DiskRef] = _NO_DISKS,
    avoid_fault_domains: AbstractSet[str] = _NONE,
    avoid_hosts: AbstractSet[str] = _NONE,
    pool_spread: PoolSpread | None = None,
) -> ComponentPlacement:
    """Choose a new home for component ``index`` of a volume laid out as ``existing``.

    For a rebuild after a disk failure or an evacuation: the new home reserves as much as the
    lost component did (``reserved_gb``), is never the disk it was on, and, for distributed
    policies, lies in a fault domain that none of the other components use (the lost
    component's own fault domain is fine if another disk there qualifies). For ``vsan-sna`` and
    ``vsan-direct`` it stays on ``host`` (default: the host the component was on), honouring
    ``pool_spread`` for a direct volume (whose ``neighbours`` should leave the volume itself
    out). The caller applies it with ``cluster.reserve(volume_id, [placement])``, which moves
    the reservation.
    """
    _check_spread(policy, pool_spread)
    lost = next((c for c in existing if c.index == index), None)
    if lost is None:
        raise ValueError(
            f"no component {index} among the existing ones: {sorted(c.index for c in existing)}"
        )
    exclude = frozenset(exclude_disks) | {(lost.host, lost.disk)}
    wanted = _Wanted(lost.index, lost.role, lost.reserved_gb, lost.reserved_gb)
    if policy.distributed:
        taken = {
            cluster.fault_domain_of(c.host)
            for c in existing
            if c.index != index and c.host in cluster.hosts
        }
        return _place_distributed(
            cluster,
            policy,
            [wanted],
            taken=frozenset(taken),
            exclude_disks=exclude,
            avoid_fault_domains=avoid_fault_domains,
            avoid_hosts=avoid_hosts,
            what=(
                f"component {index} ({lost.role}) of a {policy.name} volume (the others are in "
                f"{', '.join(sorted(taken, key=natural_key)) or 'no fault domain'})"
            ),
        )[0]
    return _place_on_host(
        cluster,
        policy,
        wanted,
        lost.host if host is None else host,
        exclude_disks=exclude,
        avoid_fault_domains=avoid_fault_domains,
        avoid_hosts=avoid_hosts,
        pool_spread=pool_spread,
    )


def check_quota(cluster: Cluster, extra_gb: float, kind: DiskKind = "capacity") -> None:
    """Raise ``QuotaExceeded`` if reserving ``extra_gb`` more raw GB on disks of ``kind``
    would pass that pool kind's quota (the vSAN datastore's, or the vSAN Direct pools').

    ``extra_gb`` is raw capacity: ``policy.raw_gb(size)`` for a new thick volume, the growth
    of the reservations for an expansion or a thin volume's write. ``ValueError`` if it is
    negative or not a number.
    """
    if not (math.isfinite(extra_gb) and extra_gb >= 0):
        raise ValueError(f"extra_gb must be a finite number >= 0, got {extra_gb!r}")
    used = cluster.reserved_gb(kind)
    quota = cluster.quota_gb(kind)
    if used + extra_gb > quota + GB_TOLERANCE:
        raise QuotaExceeded(used_gb=used, asked_gb=extra_gb, quota_gb=quota, pool=kind)


def pool_kind(policy: Policy) -> DiskKind:
    """The kind of disk ``policy``'s components live on: ``direct`` for ``vsan-direct``,
    ``capacity`` (the vSAN datastore) for every other policy."""
    return "direct" if policy.kind == "direct" else "capacity"


def _place_distributed(
    cluster: Cluster,
    policy: Policy,
    wanted: Sequence[_Wanted],
    *,
    taken: AbstractSet[str],
    exclude_disks: AbstractSet[DiskRef],
    avoid_fault_domains: AbstractSet[str],
    avoid_hosts: AbstractSet[str],
    what: str,
) -> list[ComponentPlacement]:
    """Put each of ``wanted`` in its own fault domain, none of them in ``taken``.

    Fault domains come in rank order from the cluster's cached loads; only those the call
    narrows (by excluded disks or avoided hosts) have their load recomputed, and only as many
    domains are looked at as it takes to find homes.
    """
    skip = avoid_fault_domains | taken
    # Domains with capacity disks that the caller narrows -> the ones (any state) left there.
    narrowed = {
        domain: _allowed_disks(cluster, domain, exclude_disks, avoid_hosts)
        for domain in {
            cluster.hosts[host].fault_domain
            for host in itertools.chain((host for host, _ in exclude_disks), avoid_hosts)
            if host in cluster.hosts
        }
        - skip
        if cluster.domain_disks(domain)
    }
    usable_domains = (
        len(cluster.domains_by_load())
        - sum(1 for domain in skip if cluster.domain_disks(domain))
        - sum(1 for disks in narrowed.values() if not disks)
    )
    needed = len(wanted)
    if usable_domains < needed:
        shape, _ = _shape(cluster, skip, exclude_disks, avoid_hosts)
        not_counting = []
        if taken:
            not_counting.append(f"{', '.join(sorted(taken, key=natural_key))} (other components)")
        if avoid_fault_domains:
            avoided = ", ".join(sorted(avoid_fault_domains, key=natural_key))
            not_counting.append(f"{avoided} (avoided)")
        found = ", ".join(shape) if shape else "none"
        qualifier = f", not counting {'; '.join(not_counting)}" if not_counting else ""
        raise PlacementError(
            "PolicyUnsatisfiable",
            f"{what} needs {_plural(needed, 'fault domain')} with capacity disks, one per "
            f"component ({policy.name} tolerates {_plural(policy.ftt, 'failure')}); the cluster "
            f"has {len(shape)}{qualifier}: {found}",
        )

    def disks_of(domain: str) -> Sequence[Disk]:
        return narrowed[domain] if domain in narrowed else cluster.domain_disks(domain)

    recomputed = skip | narrowed.keys()
    ranked = heapq.merge(
        (rank for rank in cluster.domains_by_load() if rank.name not in recomputed),
        sorted(
            LoadRank(
                _load([disk for disk in disks if cluster.disk_available(disk)]),
                cluster.domain_rank(domain).position,
                domain,
            )
            for domain, disks in narrowed.items()
            if disks
        ),
    )
    seen: list[str] = []  # domains taken from ``ranked`` so far, in rank order
    chosen: dict[int, ComponentPlacement] = {}
    used: set[str] = set()
    # Largest first: data components take fault domains with room, witnesses any usable one.
    for item in sorted(wanted, key=lambda w: (-w.size_gb, -w.declared_gb, w.index)):
        home = None
        for position in itertools.count():
            if position == len(seen):
                rank = next(ranked, None)
                if rank is None:
                    shape, usable = _shape(cluster, skip, exclude_disks, avoid_hosts)
                    raise PlacementError(
                        "NotEnoughResources", _shortage(cluster, wanted, shape, usable, what)
                    )
                seen.append(rank.name)
            domain = seen[position]
            if domain not in used:
                home = _roomiest(cluster, disks_of(domain), item)
                if home is not None:
                    break
        assert home is not None
        used.add(domain)
        disk, stripes = home
        chosen[item.index] = ComponentPlacement(
            index=item.index,
            role=item.role,
            host=disk.host,
            disk=disk.name,
            reserved_gb=item.size_gb,
            stripes=stripes,
        )
    return [chosen[item.index] for item in wanted]


def _allowed_disks(
    cluster: Cluster,
    domain: str,
    exclude_disks: AbstractSet[DiskRef],
    avoid_hosts: AbstractSet[str],
) -> list[Disk]:
    """The capacity disks of ``domain`` (any state) that the caller lets placement use."""
    return [
        disk
        for disk in cluster.domain_disks(domain)
        if disk.host not in avoid_hosts and (disk.host, disk.name) not in exclude_disks
    ]


def _shape(
    cluster: Cluster,
    skip: AbstractSet[str],
    exclude_disks: AbstractSet[DiskRef],
    avoid_hosts: AbstractSet[str],
) -> tuple[dict[str, list[Disk]], dict[str, list[Disk]]]:
    """The whole shape the caller lets us use: fault domains (not in ``skip``) -> their
    capacity disks in any state, and -> those of them usable now. For error messages."""
    shape: dict[str, list[Disk]] = {}
    for domain in cluster.fault_domains():
        if domain not in skip:
            disks = _allowed_disks(cluster, domain, exclude_disks, avoid_hosts)
            if disks:
                shape[domain] = disks
    usable = {
        domain: [disk for disk in disks if cluster.disk_available(disk)]
        for domain, disks in shape.items()
    }
    return shape, usable


def _roomiest(
    cluster: Cluster, disks: Sequence[Disk], item: _Wanted
) -> tuple[Disk, tuple[Stripe, ...]] | None:
    """Where ``item`` goes among ``disks`` (capacity disks of one or more hosts): its first
    disk and, when striped, its stripes; None if nowhere.

    In order of preference: the least loaded usable disk where the whole declared size fits
    (ties: the first); a component over :data:`STRIPE_GB` striped across the usable disks of
    one host where it fits that way; for a thin component that fits nowhere whole, the least
    loaded disk with room for what it reserves now (over-commit).
    """
    whole = _least_loaded(cluster, disks, max(item.size_gb, item.declared_gb))
    if whole is not None:
        return whole, ()
    if item.declared_gb > STRIPE_GB + GB_TOLERANCE:
        striped = _stripe(cluster, disks, item)
        if striped is not None:
            return striped
    if item.size_gb + GB_TOLERANCE < item.declared_gb:
        thin = _least_loaded(cluster, disks, item.size_gb)
        if thin is not None:
            return thin, ()
    return None


def _least_loaded(cluster: Cluster, disks: Sequence[Disk], size_gb: float) -> Disk | None:
    """The least loaded usable disk of ``disks`` with ``size_gb`` free (ties: the first)."""
    best: Disk | None = None
    best_load = math.inf
    for disk in disks:
        if cluster.disk_available(disk) and cluster.free_on(disk) + GB_TOLERANCE >= size_gb:
            load = _load([disk])
            if load < best_load:
                best, best_load = disk, load
    return best


def _stripe(
    cluster: Cluster, disks: Sequence[Disk], item: _Wanted
) -> tuple[Disk, tuple[Stripe, ...]] | None:
    """``item`` cut into pieces of at most :data:`STRIPE_GB` over the usable disks of one
    host of ``disks``, each piece on the disk with the most room left (ties: natural order)
    and no bigger than that room, so that no disk holds more than it has free; the host with
    the most free space that can take it all. None if no host can."""
    by_host: dict[str, list[Disk]] = {}
    for disk in disks:
        if cluster.disk_available(disk):
            by_host.setdefault(disk.host, []).append(disk)
    best: tuple[float, tuple[Disk, tuple[Stripe, ...]]] | None = None
    for host_disks in by_host.values():
        room = {disk.name: cluster.free_on(disk) for disk in host_disks}
        total = math.fsum(room.values())
        if total + GB_TOLERANCE < item.declared_gb or (best is not None and total <= best[0]):
            continue
        order = {disk.name: disk for disk in host_disks}
        taken: dict[str, float] = {}  # disk -> address space given, in order of first use
        left = item.declared_gb
        while left > GB_TOLERANCE:
            name = max(room, key=lambda n: (room[n], -host_disks.index(order[n])))
            piece = min(STRIPE_GB, left, room[name])
            if piece <= GB_TOLERANCE:
                break
            room[name] -= piece
            taken[name] = taken.get(name, 0.0) + piece
            left -= piece
        else:
            stripes = tuple(Stripe(disk=name, size_gb=size) for name, size in taken.items())
            if len(stripes) == 1:  # every piece on one disk: not striped after all
                stripes = ()
            best = (total, (order[next(iter(taken))], stripes))
    return None if best is None else best[1]


def _shortage(
    cluster: Cluster,
    wanted: Sequence[_Wanted],
    shape: Mapping[str, list[Disk]],
    usable: Mapping[str, list[Disk]],
    what: str,
) -> str:
    """The message of a distributed placement that lacks space, disks or hosts."""
    biggest = max(item.size_gb for item in wanted)
    with_data = sum(1 for item in wanted if item.size_gb > 0)
    need = f"{what} needs {_plural(len(wanted), 'fault domain')} with a connected host and"
    if with_data == len(wanted):
        need += f" {format_gb(biggest)} free on a healthy capacity disk"
    else:
        need += (
            f" a healthy capacity disk, {with_data} of them with {format_gb(biggest)} free on "
            "that disk"
        )
    roomy = []
    notes = []
    for domain, disks in shape.items():
        free = max((cluster.free_on(disk) for disk in usable[domain]), default=0.0)
        if usable[domain] and free + GB_TOLERANCE >= biggest:
            roomy.append(domain)
        elif usable[domain]:
            notes.append(f"{domain}: at most {format_gb(free)} free on a disk")
        else:
            why = sorted(
                {
                    _unavailable(cluster, disk.host) or f"{disk.host}/{disk.name} failed"
                    for disk in disks
                },
                key=natural_key,
            )
            notes.append(f"{domain}: {', '.join(why)}")
    message = (
        f"{need}; only {len(roomy)} qualify: {', '.join(roomy)}"
        if roomy
        else f"{need}; none qualify"
    )
    if notes:
        message += f" (others: {'; '.join(notes)})"
    return message


def _place_on_host(
    cluster: Cluster,
    policy: Policy,
    item: _Wanted,
    host: str | None,
    *,
    exclude_disks: AbstractSet[DiskRef],
    avoid_fault_domains: AbstractSet[str],
    avoid_hosts: AbstractSet[str],
    pool_spread: PoolSpread | None,
) -> ComponentPlacement:
    """Place the one component of a ``host-local`` or ``direct`` volume on ``host``."""
    kind: DiskKind = "direct" if policy.kind == "direct" else "capacity"
    what = f"a {format_gb(item.size_gb)} {policy.name} volume"
    if host is None:
        raise PlacementError(
            "PolicyUnsatisfiable",
            f"{what} goes on the host of the member using it, and no host was given",
        )
    if host not in cluster.hosts:
        raise PlacementError(
            "NotEnoughResources",
            f"{what} was asked for on host {host!r}, which is not in the cluster; hosts: "
            f"{', '.join(cluster.host_names())}",
        )
    domain = cluster.fault_domain_of(host)
    if host in avoid_hosts or domain in avoid_fault_domains:
        raise PlacementError(
            "NotEnoughResources",
            f"{what} must go on host {host}, which is to be avoided"
            + (f" (fault domain {domain})" if domain in avoid_fault_domains else ""),
        )
    disks = [
        disk for disk in cluster.disks_of(host, kind) if (host, disk.name) not in exclude_disks
    ]
    if not disks:
        raise PlacementError(
            "PolicyUnsatisfiable", f"{what} needs a {kind} disk on host {host}, which has none"
        )
    down = _unavailable(cluster, host)
    if down:
        raise PlacementError("NotEnoughResources", f"{what} needs host {host}, but {down}")
    if kind == "direct":
        pools = HostPools(cluster, host, disks)
        best = pools.choose(item.size_gb, pool_spread)
        if best is None:
            raise pools.refuse(item.size_gb, pool_spread, what)
        stripes: tuple[Stripe, ...] = ()
    else:
        home = _local_home(cluster, disks, item)
        if home is None:
            states = "; ".join(_disk_status(cluster, disk) for disk in disks)
            raise PlacementError(
                "NotEnoughResources",
                f"{what} needs {format_gb(item.size_gb)} free on one healthy capacity disk of "
                f"host {host} (or, over {format_gb(STRIPE_GB)}, across them); it has {states}",
            )
        best, stripes = home
    return ComponentPlacement(
        index=item.index,
        role=item.role,
        host=host,
        disk=best.name,
        reserved_gb=item.size_gb,
        stripes=stripes,
    )


def _local_home(
    cluster: Cluster, disks: Sequence[Disk], item: _Wanted
) -> tuple[Disk, tuple[Stripe, ...]] | None:
    """Where a host-local component goes among its host's ``disks``: the disk with the most
    free space if the whole component fits there (ties: natural order), else as
    :func:`_roomiest` would put it."""
    best = min(disks, key=lambda disk: (-cluster.free_on(disk), natural_key(disk.name)))
    if cluster.free_on(best) + GB_TOLERANCE >= max(item.size_gb, item.declared_gb):
        return best, ()
    return _roomiest(cluster, disks, item)
