"""Stored records seen as the public models users and providers get.

A component's *effective* state combines its stored state with the hardware's: a component
on a failed disk is ``lost``, one on a host that is not connected (or a disk in maintenance)
is ``absent``; users see these in vSAN's words (``lost`` is ``degraded``, ``stale`` is
``active-stale``). A volume is ``healthy`` with every component active,
``reduced-availability`` while still accessible without some, ``inaccessible`` once its
policy's quorum is gone; its ``health`` gives vSAN's object health category.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from typing import Literal, NamedTuple

from dpp_sdk.contract import (
    ClusterView,
    ComponentInfo,
    DiskInfo,
    EndpointInfo,
    HealthStatus,
    HostInfo,
    InstanceInfo,
    InstanceStatus,
    MemberInfo,
    ObjectHealth,
    PoolAntiAffinity,
    PoolInfo,
    SecretInfo,
    VolumeInfo,
)
from dpp_sdk.platform._cluster import Cluster, ComponentPlacement, DiskState
from dpp_sdk.platform._placement import PoolSpread
from dpp_sdk.platform._policies import Policy
from dpp_sdk.platform._records import (
    ComponentRecord,
    EndpointRecord,
    InstanceRecord,
    MemberRecord,
    RepairTimer,
    SecretRecord,
    VolumeRecord,
)
from dpp_sdk.platform._repository import Repository
from dpp_sdk.platform._storage import CHUNK, Scheme

__all__ = [
    "EffectiveState",
    "InstanceViews",
    "ViewMoment",
    "available",
    "cluster_view",
    "component_bytes",
    "effective_state",
    "endpoint_info",
    "host_info",
    "instance_info",
    "member_info",
    "lost_hosts",
    "placements",
    "view_moment",
    "pool_spread",
    "repair_due",
    "scheme_for",
    "volume_info",
]

EffectiveState = Literal["active", "absent", "stale", "lost"]
"""A component's state as stored and as the hardware makes it (``lost``: its bytes are gone;
``stale``: it missed writes). Shown to users in vSAN's words (``_COMPONENT_WORDS``)."""

ComponentWord = Literal["active", "absent", "degraded", "active-stale"]


def pool_spread(
    volumes: Iterable[VolumeRecord], rule: PoolAntiAffinity | None, leaving_out: str = ""
) -> PoolSpread | None:
    """``rule`` (a storage-pool anti-affinity) with the direct disks the instance's
    ``volumes`` of its group are on, the volume ``leaving_out`` left out (when it moves)."""
    if rule is None:
        return None
    neighbours: dict[tuple[str, str], list[str]] = {}
    for volume in volumes:
        if volume.name == leaving_out or volume.pool_anti_affinity is None:
            continue
        if volume.pool_anti_affinity.group == rule.group:
            for c in volume.components:
                for disk in c.disks:
                    neighbours.setdefault((c.host, disk), []).append(volume.name)
    return PoolSpread(group=rule.group, required=rule.required, neighbours=neighbours)


def repair_due(repo: Repository) -> dict[str, dt.datetime]:
    """host -> when its object repair timer expires, for the hosts with one running."""
    timers = repo.host_records(RepairTimer, "repair-timer")
    return {t.host: t.due_at for t in timers if not t.expired}


def lost_hosts(repo: Repository) -> frozenset[str]:
    """Failed hosts whose repair timer expired: the data only on them is declared lost."""
    timers = repo.host_records(RepairTimer, "repair-timer")
    return frozenset(t.host for t in timers if t.expired)


def scheme_for(policy: Policy) -> Scheme:
    """How a policy stores bytes (one frozen :class:`Scheme` per layout, made once)."""
    key = (policy.kind, policy.replicas, policy.witnesses, policy.k, policy.m)
    scheme = _SCHEMES.get(key)
    if scheme is None:
        if policy.kind == "mirror":
            scheme = Scheme(kind="mirror", replicas=policy.replicas, witnesses=policy.witnesses)
        elif policy.kind == "erasure":
            scheme = Scheme(kind="erasure", k=policy.k, m=policy.m)
        else:
            scheme = Scheme(kind="single")
        _SCHEMES[key] = scheme
    return scheme


_SCHEMES: dict[tuple[str, int, int, int, int], Scheme] = {}


def component_bytes(policy: Policy, role: str, extent: int) -> int:
    """Bytes one component holds for a volume written up to ``extent``."""
    if role == "witness":
        return 0
    if policy.kind == "erasure":
        stripes = -(-extent // (policy.k * CHUNK))
        return stripes * CHUNK
    return extent


def placements(
    volume: VolumeRecord, sizes: Sequence[float] | None = None
) -> list[ComponentPlacement]:
    """A volume's components as placements (with new ``sizes`` when given)."""
    return [c.placement(None if sizes is None else sizes[c.index]) for c in volume.components]


def disks_state(cluster: Cluster, comp: ComponentRecord) -> DiskState:
    """The state of the disks holding ``comp``: ``failed`` if any failed (a striped
    component loses its data with any of its disks), else ``maintenance`` if any is, else
    ``healthy``."""
    disks = cluster.host(comp.host).disks
    if len(comp.disks) == 1:
        return disks[comp.disk].state
    states = {disks[name].state for name in comp.disks}
    return (
        "failed" if "failed" in states else "maintenance" if "maintenance" in states else "healthy"
    )


def effective_state(
    cluster: Cluster, comp: ComponentRecord, now: dt.datetime | None = None
) -> EffectiveState:
    """A component's state as the hardware makes it; with ``now``, a component whose resync
    (not a move) is still under way is ``stale``."""
    if comp.state == "lost":
        return "lost"
    host = cluster.host(comp.host)
    disk_state = disks_state(cluster, comp)
    if disk_state == "failed":
        return "lost"
    if host.state not in ("connected", "draining") or disk_state == "maintenance":
        return "absent"
    if comp.state == "active" and not comp.moving and comp.syncing(now):
        return "stale"
    return comp.state


def available(
    cluster: Cluster, volume: VolumeRecord, now: dt.datetime | None = None
) -> frozenset[int]:
    """Indices of the volume's components that are active now: their bytes are current.
    With ``now``, only those whose resync has also finished (what counts for reads and for
    the volume's accessibility and health)."""
    return frozenset(
        c.index for c in volume.components if effective_state(cluster, c, now) == "active"
    )


_COMPONENT_WORDS: dict[EffectiveState, ComponentWord] = {
    "active": "active",
    "absent": "absent",
    "lost": "degraded",
    "stale": "active-stale",
}
"""The platform's effective component states in vSAN's words."""


def volume_info(
    cluster: Cluster,
    volume: VolumeRecord,
    repair_due: Mapping[str, dt.datetime] | None = None,
    now: dt.datetime | None = None,
) -> VolumeInfo:
    """The public view of a volume at ``now``. ``repair_due`` maps hosts to when their object
    repair timer expires (:meth:`Repository.repair_due`)."""
    scheme = scheme_for(volume.layout)
    states = [effective_state(cluster, c, now) for c in volume.components]
    syncing = [c for c in volume.components if c.syncing(now)]
    comps = tuple(
        ComponentInfo(
            index=c.index, role=c.role, host=c.host, disk=c.disk, state=_COMPONENT_WORDS[state]
        )
        for c, state in zip(volume.components, states, strict=True)
    )
    up = frozenset(c.index for c, state in zip(comps, states, strict=True) if state == "active")
    summary: Literal["healthy", "reduced-availability", "inaccessible"]
    rebuild_at = None
    if not scheme.is_accessible(up):
        summary, health = "inaccessible", ObjectHealth.INACCESSIBLE
    elif len(up) == len(comps):
        summary, health = "healthy", ObjectHealth.DATA_MOVE if syncing else ObjectHealth.HEALTHY
    elif any(not c.moving for c in syncing):
        summary, health = "reduced-availability", ObjectHealth.REDUCED_AVAILABILITY_ACTIVE_REBUILD
    else:
        summary = "reduced-availability"
        due = [
            (repair_due or {})[c.host]
            for c, state in zip(volume.components, states, strict=True)
            if state == "absent" and c.host in (repair_due or {})
        ]
        if due:
            health, rebuild_at = ObjectHealth.REDUCED_AVAILABILITY_DELAY_TIMER, min(due)
        else:
            health = ObjectHealth.REDUCED_AVAILABILITY_NO_REBUILD
    return VolumeInfo(
        name=volume.name,
        size_gb=volume.size_gb,
        policy=volume.policy,
        member=volume.member,
        state=summary,
        health=health,
        rebuild_at=rebuild_at,
        resync_done_at=max((c.resync_until for c in syncing if c.resync_until), default=None),
        resync_bytes_left=sum(_bytes_left(c, now) for c in syncing if now is not None),
        components=comps,
        pool_anti_affinity=volume.pool_anti_affinity,
        written_gb=volume.written_gb,
        reserved_gb=math.fsum(c.reserved_gb for c in volume.components),
    )


def _bytes_left(comp: ComponentRecord, now: dt.datetime) -> int:
    """Bytes a syncing component still has to copy at ``now`` (it copies at an even rate)."""
    if comp.resync_from is None or comp.resync_until is None:
        return 0
    total = (comp.resync_until - comp.resync_from).total_seconds()
    left = (comp.resync_until - now).total_seconds()
    return round(comp.resync_bytes * min(1.0, max(0.0, left / total))) if total > 0 else 0


def member_info(
    cluster: Cluster, member: MemberRecord, lost_hosts: AbstractSet[str] = frozenset()
) -> MemberInfo:
    """The public view of a member: running on a connected (or draining) host, unreachable
    on a failed one (``lost`` once its repair timer expired: ``lost_hosts``, from
    :meth:`Repository.lost_hosts`), stopped on one in maintenance or when its provider
    evicted it from a draining host."""
    host_state = cluster.host(member.host).state
    state: Literal["running", "unreachable", "lost", "stopped"]
    if member.stopped and host_state != "failed":
        state = "stopped"
    elif host_state in ("connected", "draining"):
        state = "running"
    elif host_state == "failed":
        state = "lost" if member.host in lost_hosts else "unreachable"
    else:
        state = "stopped"
    return MemberInfo(
        name=member.name,
        host=member.host,
        state=state,
        volumes=member.volumes,
        labels=dict(member.labels),
        anti_affinity=member.anti_affinity,
        anti_affinities=(() if member.anti_affinity is None else (member.anti_affinity,))
        + member.more_anti_affinity,
    )


def endpoint_info(endpoint: EndpointRecord) -> EndpointInfo:
    """The public view of an endpoint."""
    return EndpointInfo(
        name=endpoint.name,
        protocol=endpoint.protocol,
        address=endpoint.address,
        port=endpoint.port,
        member=endpoint.member,
    )


def instance_info(
    repo: Repository, record: InstanceRecord, cluster: Cluster, at: ViewMoment | None = None
) -> InstanceInfo:
    """The public view of an instance, with its resources. ``at`` (:func:`view_moment`) is
    what every instance of one listing shares: the time and the repair timers."""
    moment = view_moment(repo) if at is None else at
    return _instance_info(record, _Resources(*repo.held(record.name)), cluster, moment)


class _Resources(NamedTuple):
    """An instance's resource records, as the repository has them."""

    volumes: list[VolumeRecord]
    members: list[MemberRecord]
    endpoints: list[EndpointRecord]
    secrets: list[SecretRecord]


def _instance_info(
    record: InstanceRecord, held: _Resources, cluster: Cluster, moment: ViewMoment
) -> InstanceInfo:
    status = record.status
    if status is InstanceStatus.READY and record.health is not HealthStatus.GREEN:
        status = InstanceStatus.DEGRADED
    return InstanceInfo(
        name=record.name,
        service=record.service,
        service_version=record.service_version,
        spec=record.spec,
        status=status,
        health=record.health,
        volumes=tuple(volume_info(cluster, v, moment.repair_due, moment.now) for v in held.volumes),
        members=tuple(member_info(cluster, m, moment.lost_hosts) for m in held.members),
        endpoints=tuple(endpoint_info(e) for e in held.endpoints),
        secrets=tuple(SecretInfo(name=s.name) for s in held.secrets),
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


class InstanceViews:
    """:func:`instance_info`, remembering each instance's last view and what it was made of.

    A listing builds a hundred views, most of them the same as at the previous listing; a
    view is kept with its inputs (the stored records, which are immutable and replaced
    whenever they change, the effective states of its components and its members' hosts, the
    repair timers) and given again while they are the same. A view that depends on the time
    (a component with a resync recorded) is never kept. At most ``limit`` views are kept;
    beyond, it starts afresh."""

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._kept: dict[str, tuple[tuple[object, ...], InstanceInfo]] = {}

    def info(
        self, repo: Repository, record: InstanceRecord, cluster: Cluster, moment: ViewMoment
    ) -> InstanceInfo:
        """What :func:`instance_info` returns, from the last view when its inputs are equal."""
        name = record.name
        held = _Resources(*repo.held(name))
        states: list[str] = []
        for volume in held.volumes:
            for comp in volume.components:
                if comp.resync_until is not None:  # the view changes with the time
                    return _instance_info(record, held, cluster, moment)
                states.append(effective_state(cluster, comp))
        states.extend(cluster.host(m.host).state for m in held.members)
        key = (record, held, tuple(states), moment.repair_due, moment.lost_hosts)
        kept = self._kept.get(name)
        if kept is not None and kept[0] == key:
            return kept[1]
        info = _instance_info(record, held, cluster, moment)
        if len(self._kept) >= self._limit:
            self._kept.clear()
        self._kept[name] = (key, info)
        return info

    def page(
        self, repo: Repository, *, after: str | None, size: int | None, service: str | None
    ) -> tuple[list[InstanceInfo], str | None]:
        """The views of at most ``size`` instances (``None``: all) named after ``after``, by
        name (of ``service`` when given), and the last name when more follow."""
        with repo.lock:
            records = repo.instances_page(
                after=after, limit=None if size is None else size + 1, service=service
            )
            more = size is not None and len(records) > size
            records = records[:size] if size is not None else records
            cluster = repo.states()
            moment = view_moment(repo)
            items = [self.info(repo, r, cluster, moment) for r in records]
        return items, records[-1].name if more else None


class ViewMoment(NamedTuple):
    """What the views of several instances at one moment share (:func:`view_moment`)."""

    now: dt.datetime
    repair_due: Mapping[str, dt.datetime]
    lost_hosts: frozenset[str]


def view_moment(repo: Repository) -> ViewMoment:
    """The time, and the repair timers running and expired, read once for a listing."""
    return ViewMoment(
        now=repo.clock.now(), repair_due=repair_due(repo), lost_hosts=lost_hosts(repo)
    )


def host_info(cluster: Cluster, name: str) -> HostInfo:
    """The public view of a host and its disks."""
    host = cluster.host(name)
    disks = tuple(
        DiskInfo(
            name=d.name,
            kind=d.kind,
            size_gb=d.size_gb,
            free_gb=round(cluster.free_on(d), 6),
            state=d.state,
            reserved_gb=round(d.reserved_gb, 6),
        )
        for d in host.disks.values()
    )
    return HostInfo(name=host.name, fault_domain=host.fault_domain, state=host.state, disks=disks)


def cluster_view(cluster: Cluster) -> ClusterView:
    """What providers see of the cluster: hosts, and each pool kind's capacity and quota."""
    return ClusterView(
        hosts=tuple(host_info(cluster, h) for h in cluster.hosts),
        pools=(
            PoolInfo(
                kind="vsan",
                raw_gb=cluster.raw_capacity_gb("capacity"),
                reserved_gb=round(cluster.reserved_gb("capacity"), 6),
                quota_gb=cluster.quota_gb("capacity"),
            ),
            PoolInfo(
                kind="direct",
                raw_gb=cluster.raw_capacity_gb("direct"),
                reserved_gb=round(cluster.reserved_gb("direct"), 6),
                quota_gb=cluster.quota_gb("direct"),
            ),
        ),
    )
