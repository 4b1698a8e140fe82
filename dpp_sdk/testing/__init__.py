"""Helpers for a provider's own tests: open a platform on a described cluster, look things up,
assert nothing is left, read bytes, and crash a verb part-way to test that it resumes.

Everything here goes through the platform's public interface, except where a test needs a seam
the platform does not offer its users (reading a volume's bytes, the stored volume records,
killing a process at a chosen point, and the situations of :mod:`dpp_sdk.testing.faults`);
those live here so that tests never touch private platform attributes themselves::

    from dpp_sdk import testing

    def test_three_members_on_three_racks() -> None:
        with testing.open_platform("samples/mongodb", hosts=6, racks=3) as platform:
            platform.create_instance(service="mongodb", name="db1", capacity_gb=10)
            hosts = {testing.host_of(platform, "db1", m) for m in ("mongodb-0", "mongodb-1")}
            ...
            platform.remove_instance("db1")
            testing.assert_nothing_allocated(platform)

The module is not imported by ``import dpp_sdk``; pytest users may also use the fixtures of
:mod:`dpp_sdk.testing.plugin` (``-p dpp_sdk.testing.plugin``).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterable, Sequence
from typing import Any

import attrs

from dpp_sdk.contract import (
    DataProbe,
    DataUnavailable,
    InstanceContext,
    NotFound,
    ServiceProvider,
)
from dpp_sdk.platform import Clock, ClusterConfig, Platform
from dpp_sdk.platform._config import HostSpec, host_name
from dpp_sdk.platform._records import VolumeRecord
from dpp_sdk.platform._storage import DataUnavailable as _StoreUnavailable
from dpp_sdk.platform._views import available, scheme_for
from dpp_sdk.testing import faults
from dpp_sdk.testing._count import count_context_calls
from dpp_sdk.testing._crash import BYTE_WRITES, CrashPoint, crash_and_resume, dies_after, kill

__all__ = [
    "BYTE_WRITES",
    "CrashPoint",
    "StoredVolume",
    "assert_nothing_allocated",
    "cluster",
    "context",
    "count_context_calls",
    "crash_and_resume",
    "dies_after",
    "faults",
    "host_of",
    "kill",
    "open_platform",
    "probe",
    "read_components",
    "read_volume",
    "stored_volume",
    "stored_volumes",
    "write_volume",
]

ProviderRef = str | os.PathLike[str] | type[ServiceProvider]
"""A provider as ``register_service`` takes it: ``module:Class``, a directory, or a class."""


def cluster(
    *,
    hosts: int = 4,
    racks: int | None = None,
    capacity_disks: int = 2,
    capacity_disk_gb: float = 2000,
    direct_disks: int = 4,
    direct_disk_gb: float | Sequence[float] = 1000,
    **settings: Any,
) -> ClusterConfig:
    """A cluster of ``hosts`` identical hosts in one call. With ``racks``, hosts are spread
    over that many fault domains ``rack-1`` ... round robin (esx-01 in rack-1, esx-02 in
    rack-2, ...); without, each host is its own fault domain. ``settings`` are the other
    :class:`~dpp_sdk.platform.ClusterConfig` fields (``object_repair_timer=15``, ...).
    ``direct_disk_gb`` may list one size per direct disk (``[4000, 1000, 1000, 1000]``), for
    hosts whose vSAN Direct disks differ; ``direct_disks`` is then ignored."""
    if racks is not None and not (isinstance(racks, int) and 1 <= racks <= hosts):
        raise ValueError(f"racks: {racks!r} must be an integer from 1 to hosts ({hosts})")
    direct_sizes = (
        tuple(float(size) for size in direct_disk_gb)
        if isinstance(direct_disk_gb, Sequence)
        else (float(direct_disk_gb),) * direct_disks
    )
    specs = [
        HostSpec(
            name=host_name(number),
            fault_domain=host_name(number) if racks is None else f"rack-{(number - 1) % racks + 1}",
            capacity_disks=(float(capacity_disk_gb),) * capacity_disks,
            direct_disks=direct_sizes,
        )
        for number in range(1, hosts + 1)
    ]
    return ClusterConfig(hosts=specs, **settings)


def open_platform(
    *providers: ProviderRef,
    state_dir: str | os.PathLike[str] | None = None,
    clock: Clock | None = None,
    config: ClusterConfig | None = None,
    **cluster_shape: Any,
) -> Platform:
    """A platform (in memory unless ``state_dir``) with ``providers`` registered, on
    ``config`` or on ``cluster(**cluster_shape)``. Use it in a ``with`` block, which closes
    it."""
    if config is not None and cluster_shape:
        raise ValueError(
            f"give either config or the cluster's shape ({', '.join(sorted(cluster_shape))}), "
            "not both"
        )
    chosen = config if config is not None else cluster(**cluster_shape)
    platform = Platform.open(state_dir, config=chosen, clock=clock)
    try:
        for provider in providers:
            ref = os.fspath(provider) if isinstance(provider, os.PathLike) else provider
            platform.register_service(ref)
    except BaseException:
        platform.close()
        raise
    return platform


def host_of(platform: Platform, instance: str, member: str) -> str:
    """The host member ``member`` of ``instance`` is placed on (NotFound if none)."""
    for info in platform.get_instance(instance).members:
        if info.name == member:
            return info.host
    raise NotFound("member", member, f"instance {instance!r} has no such member")


def probe(platform: Platform, instance: str) -> DataProbe:
    """The data probe of ``instance``; AssertionError when its provider offers none."""
    found = platform.data_probe(instance)
    assert found is not None, (
        f"the provider of {instance!r} offers no data probe (data_probe returned None)"
    )
    return found


def read_volume(platform: Platform, instance: str, volume: str, offset: int, length: int) -> bytes:
    """``length`` bytes at ``offset`` of volume ``volume`` of ``instance``, read as the data
    path reads them (from the components available now); DataUnavailable when it cannot."""
    return platform._resources.data.read(instance, volume, offset, length)


def context(platform: Platform, instance: str, *, read_only: bool = False) -> InstanceContext:
    """An :class:`~dpp_sdk.InstanceContext` of ``instance``, as its provider gets one, that
    stays open (like a data probe's): for a test that acts as the provider would (delete a
    volume under a running service, try a claim the provider would make). It refuses once the
    instance is gone; with ``read_only``, any change raises ScopeViolation."""
    record = platform.get_instance(instance)
    return platform._contexts.new(instance, record.service, "test", read_only=read_only)


def write_volume(platform: Platform, instance: str, volume: str, offset: int, data: bytes) -> None:
    """Write ``data`` at ``offset`` of volume ``volume`` of ``instance`` as the data path
    writes (to every available component; those that miss it turn stale)."""
    platform._resources.data.write(instance, volume, offset, data)


@attrs.frozen(kw_only=True)
class StoredVolume:
    """A volume as the platform stores it, for tests that check what survives a crash.

    ``id`` names the volume's bytes; it is never reused, so a volume removed and created
    again under the same instance and volume names has a new one. ``components`` are the
    indices of its components; ``current`` those whose bytes are current now (active, a
    component still resyncing included; not absent, lost or stale)."""

    id: str
    instance: str
    name: str
    policy: str
    components: tuple[int, ...]
    current: frozenset[int]


def _stored(platform: Platform, record: VolumeRecord) -> StoredVolume:
    return StoredVolume(
        id=record.id,
        instance=record.instance,
        name=record.name,
        policy=record.policy,
        components=tuple(c.index for c in record.components),
        current=available(platform._repo.states(), record),
    )


def stored_volumes(platform: Platform) -> list[StoredVolume]:
    """Every volume ``platform`` stores, of every instance."""
    return [_stored(platform, record) for record in platform._repo.all_volumes()]


def stored_volume(platform: Platform, instance: str, volume: str) -> StoredVolume | None:
    """Volume ``volume`` of ``instance`` as stored, or None when there is none."""
    record = platform._repo.find_volume(instance, volume)
    return None if record is None else _stored(platform, record)


def read_components(
    platform: Platform,
    instance: str,
    volume: str,
    offset: int,
    length: int,
    *,
    components: Collection[int],
) -> bytes:
    """``length`` bytes at ``offset`` of volume ``volume`` of ``instance``, rebuilt from
    exactly ``components`` (indices) as the data path would if only those were available:
    to check that the volume's redundancy holds (any one component lost, the bytes still
    read back). DataUnavailable when those components do not suffice."""
    record = platform._repo.volume(instance, volume)
    try:
        return platform._resources.bytes.read(
            record.id, scheme_for(record.layout), offset, length, frozenset(components)
        )
    except _StoreUnavailable as exc:
        raise DataUnavailable(f"volume {volume!r} of {instance!r}: {exc}") from exc


def assert_nothing_allocated(platform: Platform, *, instances: Iterable[str] = ()) -> None:
    """No instance is left (or, with ``instances``, none of those), no capacity is reserved
    when none is left, and the platform's consistency check is clean. The message lists what
    is left."""
    wanted = set(instances)
    left = [i.name for i in platform.list_instances(limit=None) if not wanted or i.name in wanted]
    assert left == [], f"instances left: {', '.join(left)}"
    if not wanted:
        reserved = platform.resources().reserved_gb
        assert reserved == 0, f"{reserved} GB still reserved with no instance left"
    problems = platform.check_consistency()
    assert problems == [], "consistency problems: " + "; ".join(problems)
