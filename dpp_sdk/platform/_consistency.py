"""Consistency of the stored state: a tuple of small checks, each returning its problems.

Used by tests and by the conformance suite as an oracle after crashes, faults and concurrent
use. Each check reads a :class:`Snapshot` taken under the platform lock.
"""

from __future__ import annotations

from collections.abc import Callable

import attrs

from dpp_sdk.contract import OperationState
from dpp_sdk.platform._cluster import Cluster
from dpp_sdk.platform._owners import owner_alive
from dpp_sdk.platform._records import InstanceRecord, MemberRecord, OperationRecord, VolumeRecord
from dpp_sdk.platform._repository import Repository

__all__ = ["CHECKS", "Snapshot", "check_consistency"]

_Slot = tuple[int, str, str, str, float]


@attrs.frozen(kw_only=True)
class Snapshot:
    """Everything the checks read, taken at one moment."""

    cluster: Cluster
    instances: list[InstanceRecord]
    volumes: dict[str, list[VolumeRecord]]
    members: dict[str, list[MemberRecord]]
    operations: dict[str, OperationRecord]
    live_operations: list[OperationRecord]


def reservations_match_components(snap: Snapshot) -> list[str]:
    """Disk reservations equal the components of live volumes (placement, sizes, roles)."""
    problems: list[str] = []
    expected: dict[str, list[_Slot]] = {}
    for volumes in snap.volumes.values():
        for volume in volumes:
            expected[volume.id] = sorted(
                (c.index, c.role, c.host, disk, round(r.size_gb, 6))
                for c in volume.components
                for disk, r in c.placement().reservations(volume.id)
            )
    actual: dict[str, list[_Slot]] = {}
    for disk in snap.cluster.disks():
        for r in disk.reservations:
            actual.setdefault(r.volume, []).append(
                (r.index, r.role, disk.host, disk.name, round(r.size_gb, 6))
            )
    for volume_id in sorted(set(expected) | set(actual)):
        want = expected.get(volume_id)
        got = sorted(actual.get(volume_id, []))
        if want is None:
            problems.append(f"disk reservations held by unknown volume {volume_id}: {got}")
        elif want != got:
            problems.append(f"volume {volume_id}: components {want} but reservations {got}")
    return problems


def components_match_policy(snap: Snapshot) -> list[str]:
    """Each component reserves what its volume's policy says for the volume's size; under a
    thin policy, at least its share of what was written and at most its size (volumes from
    state directories older than thin policies reserve their whole size)."""
    problems: list[str] = []
    for instance, volumes in snap.volumes.items():
        for volume in volumes:
            policy = volume.layout
            full = policy.component_sizes_gb(volume.size_gb)
            least = policy.reserved_sizes_gb(volume.size_gb, volume.written_gb)
            for c in volume.components:
                low, high = least[c.index], full[c.index]
                if not low - 1e-6 <= c.reserved_gb <= high + 1e-6:
                    says = f"{high}" if low == high else f"{low} to {high}"
                    problems.append(
                        f"volume {instance}/{volume.name} component {c.index} reserves "
                        f"{c.reserved_gb} GB, policy says {says}"
                    )
    return problems


def members_and_volumes_agree(snap: Snapshot) -> list[str]:
    """Members and volumes reference each other."""
    problems: list[str] = []
    for instance, members in snap.members.items():
        names = {m.name for m in members}
        volumes = {v.name for v in snap.volumes.get(instance, [])}
        for volume in snap.volumes.get(instance, []):
            if volume.member and volume.member not in names:
                problems.append(
                    f"volume {instance}/{volume.name} is attached to missing member {volume.member}"
                )
        for member in members:
            for v in member.volumes:
                if v not in volumes:
                    problems.append(f"member {instance}/{member.name} lists missing volume {v}")
    return problems


def volumes_belong_to_instances(snap: Snapshot) -> list[str]:
    """Every volume belongs to an instance that exists (or its capacity would leak)."""
    names = {r.name for r in snap.instances}
    return [
        f"volume {instance}/{v.name} ({v.id}) holds capacity for missing instance {instance}"
        for instance, volumes in sorted(snap.volumes.items())
        if instance not in names
        for v in volumes
    ]


def no_idle_busy_instance(snap: Snapshot) -> list[str]:
    """No instance claims to be busy without a running operation."""
    problems: list[str] = []
    for record in snap.instances:
        if not record.busy_status:
            continue
        op = snap.operations.get(record.operation or "")
        if op is None or op.state.terminal:
            problems.append(
                f"instance {record.name} is {record.status.value} with no running operation"
            )
    return problems


def no_orphan_operation(snap: Snapshot) -> list[str]:
    """No operation of a dead process is left pending or running."""
    return [
        f"operation {op.id} ({op.kind} {op.target}) is {op.state.value} but its process is gone"
        for op in snap.live_operations
        if not owner_alive(op.owner)
    ]


CHECKS: tuple[Callable[[Snapshot], list[str]], ...] = (
    reservations_match_components,
    components_match_policy,
    members_and_volumes_agree,
    volumes_belong_to_instances,
    no_idle_busy_instance,
    no_orphan_operation,
)


def check_consistency(repo: Repository) -> list[str]:
    """Every way the stored state contradicts itself; empty means consistent."""
    with repo.lock:
        instances = repo.instances()
        busy_ops = {r.operation for r in instances if r.busy_status and r.operation}
        operations = {}
        for op_id in busy_ops:
            found = repo.find_operation(op_id)
            if found is not None:
                operations[op_id] = found
        volumes: dict[str, list[VolumeRecord]] = {}
        for volume in repo.all_volumes():
            volumes.setdefault(volume.instance, []).append(volume)
        snap = Snapshot(
            cluster=repo.cluster(),
            instances=instances,
            volumes=volumes,
            members={r.name: repo.members(r.name) for r in instances},
            operations=operations,
            live_operations=[
                op
                for _, op in repo.operations(
                    states=(OperationState.PENDING, OperationState.RUNNING)
                )
            ],
        )
        return [problem for check in CHECKS for problem in check(snap)]
