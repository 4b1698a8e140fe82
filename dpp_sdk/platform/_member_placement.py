"""Where a new member goes: host pinning, anti-affinity (required or preferred, by host or by
fault domain), and room for its host-local and direct volumes. See :mod:`._placement` for
the rules of both halves of placement.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Literal, Protocol, TypeAlias

import attrs

from dpp_sdk.platform._cluster import (
    GB_TOLERANCE,
    Cluster,
    PlacementError,
    PlacementReason,
    format_gb,
    natural_key,
)
from dpp_sdk.platform._placement_common import (
    _NONE,
    _disk_status,
    _unavailable,
)
from dpp_sdk.platform._pools import DirectVolume, HostPools

__all__ = [
    "AntiAffinity",
    "AntiAffinityRule",
    "AntiAffinityScope",
    "MemberPlacementInfo",
    "place_member",
]

AntiAffinityScope: TypeAlias = Literal["host", "fault-domain"]
"""What members of an anti-affinity group must not share: a host, or a whole fault domain."""


@attrs.frozen(kw_only=True)
class AntiAffinity:
    """Keep members of ``group`` apart across hosts or fault domains (``scope``).

    ``required=True`` fails placement rather than co-locate; ``required=False`` prefers to
    spread and falls back to the host with the fewest members of the group.
    """

    group: str
    required: bool = True
    scope: AntiAffinityScope = "host"


class AntiAffinityRule(Protocol):
    """What :func:`place_member` reads from an anti-affinity rule (any object with these)."""

    @property
    def group(self) -> str: ...

    @property
    def required(self) -> bool: ...

    @property
    def scope(self) -> AntiAffinityScope: ...


@attrs.frozen(kw_only=True)
class MemberPlacementInfo:
    """Another member of the same instance: its host and its anti-affinity group(s): ``group``
    for a member with one rule, ``groups`` for every group of a member with several."""

    host: str
    group: str | None = None
    groups: frozenset[str] = frozenset()

    def belongs_to(self, group: str) -> bool:
        """Whether the member is in anti-affinity group ``group``."""
        return group == self.group or group in self.groups


# -- members ---------------------------------------------------------------------------------


def place_member(
    cluster: Cluster,
    *,
    existing: Mapping[str, MemberPlacementInfo],
    host: str | None = None,
    anti_affinity: AntiAffinityRule | Sequence[AntiAffinityRule] | None = None,
    local_volume_gb: float | Sequence[float] = 0.0,
    direct_volumes: Sequence[float | DirectVolume] = (),
    avoid_hosts: AbstractSet[str] = _NONE,
) -> str:
    """Choose the host of a new member; return its name.

    ``existing`` maps the instance's other members to their host and anti-affinity group.
    ``local_volume_gb`` is the size of the member's host-local (``vsan-sna``) volume, or a
    sequence of sizes when it has several: each must fit on some healthy capacity disk of the
    host, as :func:`place_volume` would put them, in order. ``direct_volumes`` are its
    ``vsan-direct`` volumes (a bare size is a volume without storage-pool anti-affinity): they
    must all find a direct disk of the host, as :func:`place_volume` would put them, in order,
    each on the pool with the most free space that its anti-affinity allows.

    ``anti_affinity`` is one rule or several (say, distinct hosts required and distinct fault
    domains preferred). A member is *nearby* a host under a rule when it is on that host (scope
    ``host``) or in that host's fault domain (scope ``fault-domain``). A pinned ``host`` is
    honoured or the call fails; otherwise, among the connected hosts with no nearby member under
    any required rule, the one with the fewest nearby members of the groups of fault-domain
    rules, then of host rules (so members spread evenly over fault domains, then hosts), then
    the fewest members of the instance, then the least reserved capacity, wins; ties go to the
    lowest name. Raises ``PlacementError``: ``AntiAffinityUnsatisfiable`` when
    required anti-affinity excludes every connected host (or the pinned one), or when required
    storage-pool anti-affinity is all that keeps the volumes off every host that is left,
    ``NotEnoughResources`` otherwise.
    """
    local = (
        [float(local_volume_gb)]
        if isinstance(local_volume_gb, int | float)
        else [float(size) for size in local_volume_gb]
    )
    direct = [
        volume
        if isinstance(volume, DirectVolume)
        else DirectVolume(name=f"direct volume {number}", size_gb=float(volume))
        for number, volume in enumerate(direct_volumes)
    ]
    for size in [*local, *(volume.size_gb for volume in direct)]:
        if not math.isfinite(size) or size < 0:
            raise ValueError(f"volume sizes must be finite numbers of GB >= 0, got {size!r}")
    rules: tuple[AntiAffinityRule, ...] = (
        ()
        if anti_affinity is None
        else tuple(anti_affinity)
        if isinstance(anti_affinity, Sequence)
        else (anti_affinity,)
    )
    request = _MemberRequest(
        cluster=cluster,
        existing=existing,
        rules=rules,
        local=[size for size in local if size > 0],
        direct=direct,
    )
    if host is not None:
        return request.pinned(host, avoided=host in avoid_hosts)
    return request.choose(avoid_hosts)


@attrs.frozen(kw_only=True)
class _MemberRequest:
    """One ``place_member`` call: the rules, and how each host measures up to them."""

    cluster: Cluster
    existing: Mapping[str, MemberPlacementInfo]
    rules: tuple[AntiAffinityRule, ...]
    local: list[float]
    direct: list[DirectVolume]
    # Counted once: members of the instance per host, and for each rule the members of its
    # group per host (or per fault domain, for that scope) among the cluster's hosts.
    on_host: Counter[str] = attrs.field(init=False)
    group_near: tuple[Counter[str], ...] = attrs.field(init=False)

    @on_host.default
    def _count_on_host(self) -> Counter[str]:
        return Counter(member.host for member in self.existing.values())

    @group_near.default
    def _count_group_near(self) -> tuple[Counter[str], ...]:
        hosts = self.cluster.hosts
        return tuple(
            Counter(
                member.host if rule.scope == "host" else hosts[member.host].fault_domain
                for member in self.existing.values()
                if member.belongs_to(rule.group) and member.host in hosts
            )
            for rule in self.rules
        )

    @property
    def required(self) -> bool:
        return any(rule.required for rule in self.rules)

    @property
    def what(self) -> str:
        return _member_what(self.local, self.direct)

    def _near(self, rule: AntiAffinityRule, candidate: str) -> str:
        return candidate if rule.scope == "host" else self.cluster.fault_domain_of(candidate)

    def conflicts(self, candidate: str) -> list[tuple[AntiAffinityRule, list[str]]]:
        """Each required rule with members of its group nearby ``candidate``, and those."""
        found = []
        for rule in self.rules:
            if not rule.required:
                continue
            near = self._near(rule, candidate)
            names = [
                name
                for name, member in self.existing.items()
                if member.belongs_to(rule.group)
                and member.host in self.cluster.hosts
                and self._near(rule, member.host) == near
            ]
            if names:
                found.append((rule, sorted(names, key=natural_key)))
        return found

    def conflict_note(
        self, candidate: str, blocking: list[tuple[AntiAffinityRule, list[str]]]
    ) -> str:
        notes = []
        for rule, members in blocking:
            where = (
                f"host {candidate}"
                if rule.scope == "host"
                else f"fault domain {self.cluster.fault_domain_of(candidate)}"
            )
            names = ", ".join(repr(m) for m in members)
            notes.append(
                f"{where} already has member{'s' if len(members) > 1 else ''} {names} of "
                f"anti-affinity group {rule.group!r}"
            )
        return "; ".join(notes)

    def crowding(self, candidate: str) -> tuple[int, int, int]:
        """Members nearby ``candidate`` under the fault-domain rules, under the host rules,
        then members of the instance on it: what ranks a host before its load does."""
        by_domain = by_host = 0
        for rule, counts in zip(self.rules, self.group_near, strict=True):
            count = counts[self._near(rule, candidate)]
            if rule.scope == "host":
                by_host += count
            else:
                by_domain += count
        return by_domain, by_host, self.on_host[candidate]

    def candidates(self) -> Iterator[str]:
        """Every host in rank order: group members nearby, instance members on the host,
        load, name (fewest, least, lowest first). Lazy, so the first fit ends the walk."""
        crowded = []
        for rank in self.cluster.hosts_by_load():
            crowding = self.crowding(rank.name)
            if crowding == (0, 0, 0):
                yield rank.name
            else:
                crowded.append((crowding, rank))
        yield from (rank.name for _, rank in sorted(crowded))

    def pinned(self, host: str, *, avoided: bool) -> str:
        """Honour the pinned ``host`` or fail saying why."""
        what = self.what
        if host not in self.cluster.hosts:
            raise PlacementError(
                "NotEnoughResources",
                f"{what} is pinned to host {host!r}, which is not in the cluster; hosts: "
                f"{', '.join(self.cluster.host_names())}",
            )
        down = _unavailable(self.cluster, host) or (
            f"host {host} is to be avoided" if avoided else None
        )
        if down:
            raise PlacementError(
                "NotEnoughResources", f"{what} is pinned to host {host}, but {down}"
            )
        blocking = self.conflicts(host)
        if blocking:
            raise PlacementError(
                "AntiAffinityUnsatisfiable",
                f"{what} is pinned to host {host}, but {self.conflict_note(host, blocking)} and "
                "the anti-affinity is required",
            )
        lacking = _member_shortage(self.cluster, host, self.local, self.direct)
        if lacking:
            reason, why = lacking
            raise PlacementError(reason, f"{what} is pinned to host {host}, but {why}")
        return host

    def choose(self, avoid_hosts: AbstractSet[str]) -> str:
        """The best host for the member, or ``PlacementError`` listing why each host fails."""
        for name in self.candidates():
            if name in avoid_hosts or not self.cluster.hosts[name].connected:
                continue
            if self.conflicts(name):
                continue
            if _member_shortage(self.cluster, name, self.local, self.direct) is None:
                return name
        raise self.failure(avoid_hosts)

    def failure(self, avoid_hosts: AbstractSet[str]) -> PlacementError:
        """Why no host can take the member: the first rule that rules out every host, with
        what rules out each."""
        what = self.what
        notes: list[str] = []
        connected = []
        for name in self.cluster.host_names():
            if name in avoid_hosts:
                continue
            down = _unavailable(self.cluster, name)
            if down:
                notes.append(f"{name}: {down.removeprefix(f'host {name} ')}")
            else:
                connected.append(name)
        if not connected:
            return PlacementError(
                "NotEnoughResources",
                f"{what} needs a connected host; there is none"
                + (f" ({'; '.join(notes)})" if notes else ""),
            )
        allowed = connected
        if self.required:
            allowed = []
            for name in connected:
                blocking = self.conflicts(name)
                if blocking:
                    notes.append(f"{name}: {self.conflict_note(name, blocking)}")
                else:
                    allowed.append(name)
            if not allowed:
                rules = " or ".join(
                    f"a {'host' if r.scope == 'host' else 'fault domain'} with another member "
                    f"of anti-affinity group {r.group!r}"
                    for r in self.rules
                    if r.required
                )
                return PlacementError(
                    "AntiAffinityUnsatisfiable",
                    f"{what} must not share {rules}, and no connected host is free of them: "
                    f"{_by_host(notes)}",
                )
        reasons = set()
        for name in allowed:
            lacking = _member_shortage(self.cluster, name, self.local, self.direct)
            assert lacking, f"{name} takes {what}, yet no host was chosen"
            reasons.add(lacking[0])
            notes.append(f"{name}: {lacking[1]}")
        reason: PlacementReason = (
            "AntiAffinityUnsatisfiable"
            if reasons == {"AntiAffinityUnsatisfiable"}
            else "NotEnoughResources"
        )
        return PlacementError(reason, f"no host can take {what}: {_by_host(notes)}")


def _by_host(notes: list[str]) -> str:
    """``host: why`` notes, joined in host order."""
    return "; ".join(sorted(notes, key=lambda note: natural_key(note.split(":")[0])))


def _member_what(local: Sequence[float], direct: Sequence[DirectVolume]) -> str:
    needs = [f"{format_gb(size)} host-local" for size in local]
    needs += [f"{format_gb(volume.size_gb)} direct" for volume in direct]
    if not needs:
        return "the member"
    return f"the member (with {', '.join(needs)} volume{'s' if len(needs) > 1 else ''})"


def _member_shortage(
    cluster: Cluster, host: str, local: Sequence[float], direct: Sequence[DirectVolume]
) -> tuple[PlacementReason, str] | None:
    """Why ``host`` cannot hold a member's volumes (simulating their placement), as a reason
    and a message, or None."""
    if not local and not direct:
        return None
    capacity = cluster.disks_of(host, "capacity")
    free = {disk.name: cluster.free_on(disk) for disk in capacity}
    for size in local:
        best = min(free, key=lambda name: (-free[name], natural_key(name)), default=None)
        if best is None or free[best] + GB_TOLERANCE < size:
            have = ", ".join(_disk_status(cluster, disk) for disk in capacity) or "none"
            return (
                "NotEnoughResources",
                f"its host-local volumes ({_sizes(local)}) do not fit on its capacity disks "
                f"({have})",
            )
        free[best] -= size
    if not direct:
        return None
    pools = HostPools(cluster, host)
    for volume in direct:
        pick = pools.choose(volume.size_gb, volume.spread)
        if pick is None:
            what = f"its direct volume {volume.name!r} ({format_gb(volume.size_gb)})"
            return pools.refusal(volume.size_gb, volume.spread, what)
        pools.take(pick, volume.size_gb, volume.name, volume.spread)
    return None


def _sizes(sizes: Sequence[float]) -> str:
    return ", ".join(format_gb(size) for size in sizes)
