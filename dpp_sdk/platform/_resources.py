"""The instance-scoped backend: volumes (with their bytes), members, endpoints, secrets and
provider state of one instance at a time, and the leak ledger.

This is what a provider's :class:`~dpp_sdk.InstanceContext` calls (through
:mod:`._context`, which fixes the instance), and what the platform itself uses to release
what a failed attempt allocated. Every get-or-create is keyed by the provider's own names, so
a verb re-run after a crash converges instead of allocating twice. Everything an instance
comes to hold is noted in the ledger with the operation that made it (``created_by``).
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar, cast

import attrs

from dpp_sdk.contract import (
    AntiAffinity,
    Conflict,
    MemberInfo,
    NotFound,
    PoolAntiAffinity,
    ValidationError,
    VolumeClaim,
    VolumeInfo,
)
from dpp_sdk.platform import _placement
from dpp_sdk.platform._checks import (
    anti_affinity_rules,
    check_member_request,
    check_pool_anti_affinity,
    check_resource_name,
    check_size,
    placement_errors,
)
from dpp_sdk.platform._clock import Clock
from dpp_sdk.platform._cluster import Cluster, grow_stripes
from dpp_sdk.platform._data import VolumeData
from dpp_sdk.platform._journal import Journal
from dpp_sdk.platform._named import MIN_SECRET_LENGTH, NamedResources
from dpp_sdk.platform._policies import POLICIES, Policy
from dpp_sdk.platform._records import ComponentRecord, MemberRecord, VolumeRecord
from dpp_sdk.platform._repository import Repository
from dpp_sdk.platform._storage import VolumeStore
from dpp_sdk.platform._views import (
    lost_hosts,
    member_info,
    placements,
    pool_spread,
    repair_due,
    volume_info,
)

__all__ = ["MIN_SECRET_LENGTH", "InstanceResources", "Rules"]

T = TypeVar("T")

Rules = AntiAffinity | Sequence[AntiAffinity] | None
"""``members.ensure``'s ``anti_affinity``: no rule, one, or several."""


class _Undone(Exception):
    """Rolls back a dry run (:meth:`InstanceResources.dry_run`), carrying its answer."""

    def __init__(self, value: object) -> None:
        super().__init__("dry run undone")
        self.value = value


class InstanceResources(NamedResources):
    """Volumes, members, endpoints, secrets and provider state of instances."""

    def __init__(
        self, repo: Repository, volumes: VolumeStore, clock: Clock, journal: Journal
    ) -> None:
        super().__init__(repo, clock, journal)
        self.bytes = volumes
        #: The data path (reads and writes of volume bytes).
        self.data = VolumeData(repo, volumes)

    def _policy(self, instance: str, policy: str | None, field: str) -> Policy:
        """The layout a new volume of ``policy`` (default: the instance's) gets here."""
        name = policy or self.spec(instance).policy
        if name not in POLICIES:
            raise ValidationError.single(field, name, f"unknown policy; one of {sorted(POLICIES)}")
        return self._repo.config.layout(name)

    # ------------------------------------------------------------------ volumes

    def uid_of(self, instance: str) -> str | None:
        """The unique id of the instance now called ``instance``, or None if there is none."""
        record = self._repo.find_instance(instance)
        return None if record is None else record.uid

    def _info(self, record: VolumeRecord, cluster: Cluster | None = None) -> VolumeInfo:
        """The public view of ``record`` now (``cluster``: the states, when already read)."""
        return volume_info(
            cluster or self._repo.states(), record, repair_due(self._repo), self._clock.now()
        )

    def _pool_rules(self, instance: str) -> list[tuple[str, PoolAntiAffinity]]:
        """``(volume name, storage-pool anti-affinity)`` of the instance's volumes with one."""
        return [
            (volume.name, volume.pool_anti_affinity)
            for volume in self._repo.volumes(instance)
            if volume.pool_anti_affinity is not None
        ]

    def _pool_spread(
        self, instance: str, rule: PoolAntiAffinity | None
    ) -> _placement.PoolSpread | None:
        """``rule`` with the direct disks that the instance's volumes of its group are on."""
        return pool_spread(self._repo.volumes(instance), rule)

    def place_volume_in(
        self,
        cluster: Cluster,
        instance: str,
        name: str,
        *,
        size_gb: float,
        policy: Policy,
        member: MemberRecord | None,
        pool_anti_affinity: PoolAntiAffinity | None = None,
    ) -> VolumeRecord:
        """Place and reserve a new volume inside an open mutation; returns its record."""
        check_size("$.volume.size_gb", size_gb)
        if policy.kind in ("host-local", "direct") and member is None:
            raise ValidationError.single(
                "$.volume.member",
                None,
                f"policy {policy.name} keeps a volume on one host, so it needs the member that "
                "uses it (pass member=..., or claim it in members.ensure(volumes=...))",
            )
        volume_id = f"v-{uuid.uuid4().hex[:16]}"
        op_id = self._current_op(instance)
        with placement_errors(f"volume {name!r} of {instance!r}"):
            _placement.check_quota(
                cluster, math.fsum(policy.reserved_sizes_gb(size_gb)), _placement.pool_kind(policy)
            )
            comps = _placement.place_volume(
                cluster,
                policy,
                size_gb,
                host=None if member is None else member.host,
                pool_spread=self._pool_spread(instance, pool_anti_affinity),
            )
            cluster.reserve(volume_id, comps)
        record = VolumeRecord(
            id=volume_id,
            instance=instance,
            name=name,
            size_gb=float(size_gb),
            policy=policy.name,
            member=None if member is None else member.name,
            created_by=op_id,
            pool_anti_affinity=pool_anti_affinity,
            k=policy.k if policy.kind == "erasure" else None,
            components=tuple(
                ComponentRecord(
                    index=c.index,
                    role=c.role,
                    host=c.host,
                    disk=c.disk,
                    reserved_gb=c.reserved_gb,
                    stripes=c.stripes,
                )
                for c in comps
            ),
        )
        self._repo.put_volume(record)
        self._note(instance, "volume", name, op_id)
        return record

    def ensure_volume(
        self,
        instance: str,
        name: str,
        *,
        size_gb: float,
        policy: str | None,
        member: str | None,
        pool_anti_affinity: PoolAntiAffinity | None = None,
    ) -> VolumeInfo:
        """Get or create volume ``name``."""
        check_resource_name("volume", name)
        with self._lock:
            existing = self.find_volume(instance, name)
            if existing is not None:
                return existing
            pol = self._policy(instance, policy, "$.volume.policy")
            claim = VolumeClaim(name=name, size_gb=size_gb, pool_anti_affinity=pool_anti_affinity)
            check_pool_anti_affinity(
                [("$.volume.pool_anti_affinity", claim, pol)], self._pool_rules(instance)
            )
            owner = None if member is None else self._repo.member(instance, member)
            with self._repo.mutation() as cluster:
                raced = self._repo.find_volume(instance, name)
                if raced is not None:  # created meanwhile by another process
                    return self._info(raced, cluster)
                record = self.place_volume_in(
                    cluster,
                    instance,
                    name,
                    size_gb=size_gb,
                    policy=pol,
                    member=owner,
                    pool_anti_affinity=pool_anti_affinity,
                )
                if owner is not None:
                    self._repo.put_member(
                        instance,
                        attrs.evolve(owner, volumes=tuple(sorted({*owner.volumes, name}))),
                    )
            return self._info(record)

    def find_volume(self, instance: str, name: str) -> VolumeInfo | None:
        """Volume ``name``, or None."""
        with self._lock:
            record = self._repo.find_volume(instance, name)
            return None if record is None else self._info(record)

    def get_volume(self, instance: str, name: str) -> VolumeInfo:
        """Volume ``name``; NotFound if there is none."""
        with self._lock:
            return self._info(self._repo.volume(instance, name))

    def list_volumes(self, instance: str) -> list[VolumeInfo]:
        """The instance's volumes."""
        with self._lock:
            cluster = self._repo.states()
            return [self._info(v, cluster) for v in self._repo.volumes(instance)]

    def expand_volume(self, instance: str, name: str, size_gb: float) -> VolumeInfo:
        """Grow volume ``name`` to ``size_gb`` (volumes never shrink)."""
        with self._lock:
            record = self._repo.volume(instance, name)
            check_size("$.volume.size_gb", size_gb)
            if size_gb < record.size_gb:
                raise ValidationError.single(
                    "$.volume.size_gb",
                    size_gb,
                    f"volume {name!r} is {record.size_gb} GB; volumes expand, they never shrink",
                )
            if size_gb == record.size_gb:
                return self._info(record)
            policy = record.layout
            with self._repo.mutation() as cluster:
                # Read again inside the transaction: another process may have changed the
                # record meanwhile (a degraded write marking components stale).
                record = self._repo.volume(instance, name)
                if size_gb <= record.size_gb:
                    return self._info(record)
                # A thin volume's reservations follow what was written, not its size.
                sizes = [
                    max(c.reserved_gb, size)
                    for c, size in zip(
                        record.components,
                        policy.reserved_sizes_gb(size_gb, record.written_gb),
                        strict=True,
                    )
                ]
                extra = max(
                    0.0, math.fsum(sizes) - math.fsum(c.reserved_gb for c in record.components)
                )
                # A striped component grows on its last stripe's disk.
                declared = policy.component_sizes_gb(size_gb)
                grown = record.with_components(
                    {
                        c.index: attrs.evolve(
                            c,
                            reserved_gb=sizes[c.index],
                            stripes=grow_stripes(c.stripes, declared[c.index]),
                        )
                        for c in record.components
                    }
                )
                with placement_errors(f"expanding volume {name!r} to {size_gb} GB"):
                    _placement.check_quota(cluster, extra, _placement.pool_kind(policy))
                    cluster.reserve(record.id, placements(grown))
                record = attrs.evolve(grown, size_gb=float(size_gb))
                self._repo.put_volume(record)
            return self._info(record)

    def delete_volume_in(
        self, cluster: Cluster, record: VolumeRecord, *, detach: bool = True
    ) -> None:
        """Release and forget a volume inside an open mutation (its bytes are deleted after).
        ``detach=False`` when its member is deleted in the same mutation: the member is then
        not rewritten without the volume first."""
        cluster.release(record.id)
        self._repo.delete_volume(record)
        if detach and record.member:
            owner = self._repo.find_member(record.instance, record.member)
            if owner is not None:
                self._repo.put_member(
                    record.instance,
                    attrs.evolve(
                        owner, volumes=tuple(v for v in owner.volumes if v != record.name)
                    ),
                )

    def delete_volume(self, instance: str, name: str) -> None:
        """Delete volume ``name`` and its bytes (no-op if absent)."""
        with self._lock:
            record = self._repo.find_volume(instance, name)
            if record is None:
                return
            with self._repo.mutation() as cluster:
                self.delete_volume_in(cluster, record)
                self.data.drop(record.id)

    # ------------------------------------------------------------------ members

    def find_member(self, instance: str, name: str) -> MemberInfo | None:
        """Member ``name``, or None."""
        with self._lock:
            record = self._repo.find_member(instance, name)
            return (
                None
                if record is None
                else member_info(self._repo.states(), record, lost_hosts(self._repo))
            )

    def get_member(self, instance: str, name: str) -> MemberInfo:
        """Member ``name``; NotFound if there is none."""
        with self._lock:
            return member_info(
                self._repo.states(), self._repo.member(instance, name), lost_hosts(self._repo)
            )

    def list_members(self, instance: str) -> list[MemberInfo]:
        """The instance's members."""
        with self._lock:
            cluster, lost = self._repo.states(), lost_hosts(self._repo)
            return [member_info(cluster, m, lost) for m in self._repo.members(instance)]

    def ensure_member(
        self,
        instance: str,
        name: str,
        *,
        volumes: tuple[VolumeClaim, ...],
        host: str | None,
        anti_affinity: Rules,
        labels: dict[str, str],
    ) -> MemberInfo:
        """Get or create member ``name`` with its claimed volumes."""
        check_resource_name("member", name)
        check_member_request(volumes, anti_affinity, labels)
        labels = self._clean_labels(instance, labels)
        for claim in volumes:
            check_resource_name("volume", claim.name)
        with self._lock:
            policies = {
                c.name: self._policy(instance, c.policy, "$.volumes.policy") for c in volumes
            }
            check_pool_anti_affinity(
                [
                    (f"$.volumes[{i}].pool_anti_affinity", claim, policies[claim.name])
                    for i, claim in enumerate(volumes)
                ],
                self._pool_rules(instance),
                checked=True,
            )
            if self._repo.find_member(instance, name) is None:
                self._create_member(instance, name, volumes, policies, host, anti_affinity, labels)
            else:
                for claim in volumes:
                    if self._repo.find_volume(instance, claim.name) is None:
                        self.ensure_volume(
                            instance,
                            claim.name,
                            size_gb=claim.size_gb,
                            policy=claim.policy,
                            member=name,
                            pool_anti_affinity=claim.pool_anti_affinity,
                        )
            return self.get_member(instance, name)

    def dry_run(self, attempt: Callable[[], T]) -> T:
        """What ``attempt`` (changes through this object) returns, with every change it made
        undone: it runs in one transaction and one cluster journal, both rolled back. For
        ``ctx.members.plan`` and ``ctx.volumes.plan``: the platform's own placement, tried."""
        with self._lock:
            cluster = self._repo.cluster()
            try:
                with cluster.changes(), self._repo.store.transaction():
                    raise _Undone(attempt())
            except _Undone as undone:
                return cast(T, undone.value)

    def _kept_volumes(
        self, instance: str, name: str, volumes: Sequence[VolumeClaim], host: str | None
    ) -> tuple[dict[str, VolumeRecord], str | None]:
        """Claimed volumes that exist already (kept when a member was deleted with
        ``delete_volumes=False``): re-attached, never placed again. Also the host they pin."""
        kept: dict[str, VolumeRecord] = {}
        for claim in volumes:
            volume = self._repo.find_volume(instance, claim.name)
            if volume is None:
                continue
            owner = volume.member
            if owner and self._repo.find_member(instance, owner) is not None:
                raise Conflict(
                    f"volume {claim.name!r} of {instance!r} is attached to member "
                    f"{owner!r}; it cannot also be claimed by {name!r}"
                )
            if POLICIES[volume.policy].kind in ("host-local", "direct"):
                volume_host = volume.components[0].host
                if host is not None and host != volume_host:
                    raise Conflict(
                        f"volume {claim.name!r} of {instance!r} lives on {volume_host} "
                        f"({volume.policy}); member {name!r} cannot be pinned to {host}"
                    )
                host = volume_host
            kept[claim.name] = volume
        return kept, host

    def _create_member(  # noqa: PLR0917 - private; one caller passes the whole request
        self,
        instance: str,
        name: str,
        volumes: tuple[VolumeClaim, ...],
        policies: Mapping[str, Policy],
        host: str | None,
        anti_affinity: Rules,
        labels: dict[str, str],
    ) -> None:
        cluster = self._repo.cluster()
        if host is not None and host not in cluster.hosts:
            raise NotFound("host", host, f"hosts: {', '.join(cluster.hosts)}")
        rules = anti_affinity_rules(anti_affinity)
        existing = {
            m.name: _placement.MemberPlacementInfo(
                host=m.host,
                group=None if m.anti_affinity is None else m.anti_affinity.group,
                groups=frozenset(r.group for r in m.more_anti_affinity),
            )
            for m in self._repo.members(instance)
        }
        kept, host = self._kept_volumes(instance, name, volumes, host)
        fresh = [c for c in volumes if c.name not in kept]
        with placement_errors(f"member {name!r} of {instance!r}"):
            chosen = _placement.place_member(
                cluster,
                existing=existing,
                host=host,
                anti_affinity=rules,
                local_volume_gb=[c.size_gb for c in fresh if policies[c.name].kind == "host-local"],
                direct_volumes=[
                    _placement.DirectVolume(
                        name=c.name,
                        size_gb=c.size_gb,
                        spread=self._pool_spread(instance, c.pool_anti_affinity),
                    )
                    for c in fresh
                    if policies[c.name].kind == "direct"
                ],
            )
        member = MemberRecord(
            name=name,
            host=chosen,
            labels=labels,
            anti_affinity=rules[0] if rules else None,
            more_anti_affinity=rules[1:],
            created_by=self._current_op(instance),
            volumes=tuple(sorted(c.name for c in volumes)),
        )
        with self._repo.mutation() as cluster:  # the member is stored once its volumes are
            self._note(instance, "member", name, member.created_by)
            for claim in fresh:
                self.place_volume_in(
                    cluster,
                    instance,
                    claim.name,
                    size_gb=claim.size_gb,
                    policy=policies[claim.name],
                    member=member,
                    pool_anti_affinity=claim.pool_anti_affinity,
                )
            for volume in kept.values():
                now = self._repo.find_volume(instance, volume.name) or volume
                self._repo.put_volume(attrs.evolve(now, member=name))
            self._repo.put_member(instance, member)

    def _clean_labels(self, instance: str, labels: dict[str, str]) -> dict[str, str]:
        """Labels are shown to everyone: a secret value in one is stored redacted (and
        reported as a ``secret-leak`` event)."""
        detect = self._journal.scrub_detecting
        return {key: detect(value, instance, "member labels") for key, value in labels.items()}

    def set_member_labels(self, instance: str, name: str, labels: dict[str, str]) -> MemberInfo:
        """Replace member ``name``'s labels."""
        check_member_request((), None, labels)
        return self._update_member(instance, name, labels=self._clean_labels(instance, labels))

    def stop_member(self, instance: str, name: str) -> MemberInfo:
        """Evict member ``name`` from its draining host, keeping its volumes."""
        with self._lock:
            record = self._repo.member(instance, name)
            state = self._repo.states().host(record.host).state
            if state != "draining":
                raise Conflict(
                    f"member {name!r} is on host {record.host}, which is {state}; "
                    "members.stop evicts members from a host being drained for maintenance"
                )
            return self._update_member(instance, name, stopped=True)

    def _update_member(self, instance: str, name: str, **changes: Any) -> MemberInfo:
        with self._lock:
            record = attrs.evolve(self._repo.member(instance, name), **changes)
            self._repo.put_member(instance, record)
            return member_info(self._repo.states(), record, lost_hosts(self._repo))

    def delete_member(self, instance: str, name: str, *, delete_volumes: bool) -> None:
        """Delete member ``name``, with or without its volumes (no-op if absent)."""
        with self._lock:
            record = self._repo.find_member(instance, name)
            if record is None:
                return
            with self._repo.mutation() as cluster:
                for volume_name in record.volumes:
                    volume = self._repo.find_volume(instance, volume_name)
                    if volume is None:
                        continue
                    if delete_volumes:
                        # Its member is this one, deleted below: not rewritten first.
                        self.delete_volume_in(cluster, volume, detach=volume.member != name)
                        self.data.drop(volume.id)
                    else:
                        self._repo.put_volume(attrs.evolve(volume, member=None))
                self._repo.delete_member(instance, name)

    # ------------------------------------------------------------------ release

    def release_created_by(self, instance: str, op_id: str) -> list[str]:
        """Release everything operation ``op_id`` allocated for ``instance``."""
        released: list[str] = []
        with self._lock:
            for member in self._repo.members(instance):
                if member.created_by == op_id:
                    # Volumes it re-attached from before the attempt keep their data; the
                    # ones the attempt created go with the loop below.
                    self.delete_member(instance, member.name, delete_volumes=False)
                    released.append(f"member/{member.name}")
            for volume in self._repo.volumes(instance):
                if volume.created_by == op_id:
                    self.delete_volume(instance, volume.name)
                    released.append(f"volume/{volume.name}")
            for endpoint in self._repo.endpoints(instance):
                if endpoint.created_by == op_id:
                    self._repo.delete_named("endpoint", instance, endpoint.name)
                    released.append(f"endpoint/{endpoint.name}")
            for secret in self._repo.secrets(instance):
                if secret.created_by == op_id:
                    self._repo.delete_named("secret", instance, secret.name)
                    released.append(f"secret/{secret.name}")
        return released

    def held(self, instance: str) -> list[str]:
        """``kind/name`` of everything the instance holds now."""
        return [
            *(f"member/{m.name}" for m in self._repo.members(instance)),
            *(f"volume/{v.name}" for v in self._repo.volumes(instance)),
            *(f"endpoint/{e.name}" for e in self._repo.endpoints(instance)),
            *(f"secret/{s.name}" for s in self._repo.secrets(instance)),
        ]

    def reclaim_all(self, instance: str) -> list[str]:
        """Release everything the instance holds; returns what that was."""
        with self._lock:
            leftovers = self.held(instance)
            for member in self._repo.members(instance):
                self.delete_member(instance, member.name, delete_volumes=True)
            for volume in self._repo.volumes(instance):
                self.delete_volume(instance, volume.name)
            for endpoint in self._repo.endpoints(instance):
                self._repo.delete_named("endpoint", instance, endpoint.name)
            for secret in self._repo.secrets(instance):
                self._repo.delete_named("secret", instance, secret.name)
        return leftovers
