"""MinIO on the Data Persistence Platform: a sample provider for erasure-coded object storage.

MinIO keeps data safe by itself, so this provider asks the platform for *unprotected* storage
(``vsan-sna`` or ``vsan-direct``, FTT=0) and adds MinIO's own redundancy on top. The rules it
encodes are MinIO's (see README.md for the walk-through):

* A **server pool** is ``servers`` x ``drivesPerServer`` drives. Every server runs on its own
  host (required anti-affinity), with its drives on that host. On ``vsan-direct`` each direct
  disk is a storage pool that volumes share, so the drives of one erasure set also ask for
  required *storage-pool* anti-affinity: no two of them on one disk, whose loss would
  otherwise take out two shards of every object of the set.
* The pool's drives are cut into **erasure sets** of equal size ``N``, 4 to 16 drives. MinIO
  picks the largest ``N`` that divides the pool's drive count and is *symmetric* (a multiple or
  a divisor of the server count), so every set spans the servers evenly.
* Each object is split into ``N - K`` data and ``K`` parity shards (``parity`` = EC:K), one per
  drive of one set. ``1 <= K <= N/2``.
* **Read quorum** is ``N - K`` drives; **write quorum** is ``N - K``, or ``N - K + 1`` when
  ``K == N/2`` (so two halves can never accept conflicting writes).
* Capacity grows by **adding a pool**; a pool never shrinks.

Everything the provider allocates is get-or-create by name (``pool0-server-1``,
``pool0-server-1-drive-3``), and it remembers its layout and its probe objects in ``ctx.state``,
so any verb can run again after a crash and converge.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

import attrs
import zfec

import dpp_sdk as dpp
from dpp_sdk import kits

__all__ = [
    "MANIFEST",
    "Layout",
    "MinioProbe",
    "MinioProvider",
    "Pool",
    "StoredObject",
    "default_parity",
    "erasure_set_size",
    "held_layout",
    "layout_footprint",
    "parameter_problems",
    "planned_layout",
    "read_quorum",
    "write_quorum",
]

MIN_SET_SIZE: Final = 4
MAX_SET_SIZE: Final = 16
S3_PORT: Final = 9000
CONSOLE_PORT: Final = 9001
ROOT_USER: Final = "root-user"
ROOT_PASSWORD: Final = "root-password"
SLOT_BYTES: Final = 1 << 20
"""Room for one shard of one probe object on a drive; a drive holds ``drive size / SLOT_BYTES``."""

_LAYOUT_KEY: Final = "layout"
_OBJECTS_KEY: Final = "objects"
_GIB: Final = 1 << 30
_EPSILON_GB: Final = 1e-6

MANIFEST = dpp.Manifest(
    name="minio",
    display_name="MinIO Object Storage",
    version="1.0.0",
    vendor="dpp-sdk samples",
    category=dpp.Category.OBJECT_STORAGE,
    description=(
        "S3-compatible object storage. Servers on distinct hosts, drives grouped into erasure "
        "sets with EC:K parity; capacity grows by adding server pools."
    ),
    plans=(
        dpp.Plan(
            name="standard",
            description="4 servers x 4 drives: one 16-drive erasure set, EC:4",
            min_capacity_gb=10,
            max_capacity_gb=1_000_000,
        ),
        dpp.Plan(
            name="small",
            description="4 servers x 1 drive: one 4-drive erasure set, EC:2",
            min_capacity_gb=10,
            max_capacity_gb=10_000,
            parameters={"servers": 4, "drivesPerServer": 1, "parity": 2},
        ),
    ),
    parameters_schema={
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "servers": {
                "type": "integer",
                "minimum": 1,
                "maximum": 32,
                "default": 4,
                "description": "MinIO servers per pool, each on its own host.",
            },
            "drivesPerServer": {
                "type": "integer",
                "minimum": 1,
                "maximum": 16,
                "default": 4,
                "description": "Drives (volumes) per server, on the server's host.",
            },
            "parity": {
                "type": "integer",
                "minimum": 1,
                "maximum": MAX_SET_SIZE // 2,
                "default": 4,
                "description": "EC:K parity shards per object; at most half the erasure set.",
            },
        },
    },
    supported_policies=("vsan-sna", "vsan-direct"),
    default_policy="vsan-sna",
    capabilities=dpp.Capabilities(
        capacity_scale_up=True,
        capacity_scale_down=False,
        horizontal_scale=False,
        maintenance_aware=True,
        data_probe=True,
    ),
    redundancy=dpp.Redundancy.SERVICE,
)


# --------------------------------------------------------------------------- MinIO's rules


def erasure_set_size(servers: int, drives_per_server: int) -> int | None:
    """The drives per erasure set MinIO chooses for a pool, or None when no size works.

    The sizes MinIO allows are 4..16. Of those that divide the pool's drive count, it keeps the
    symmetric ones (a multiple or a divisor of ``servers``, so each set takes the same number of
    drives from each server it spans) and picks the largest: ``erasure_set_size(4, 4) == 16``,
    ``erasure_set_size(6, 3) == 6``, ``erasure_set_size(3, 7) is None``.
    """
    total = servers * drives_per_server
    sizes = [
        size
        for size in range(MIN_SET_SIZE, MAX_SET_SIZE + 1)
        if total % size == 0 and (size % servers == 0 or servers % size == 0)
    ]
    return max(sizes, default=None)


def read_quorum(set_size: int, parity: int) -> int:
    """Drives of a set that must be online to read: the ``N - K`` data shards."""
    return set_size - parity


def write_quorum(set_size: int, parity: int) -> int:
    """Drives of a set that must be online to write: ``N - K``, plus one when ``K == N/2``
    (so the two halves of a split set can never both accept a write)."""
    return set_size - parity + (1 if 2 * parity == set_size else 0)


def default_parity(set_size: int) -> int:
    """MinIO's default EC:K for a set of ``set_size`` drives (used in hints)."""
    if set_size >= 8:
        return 4
    return max(1, set_size // 2)


def _positive_int(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value >= 1:
        return value
    return None


def parameter_problems(
    parameters: Mapping[str, Any], *, connected_hosts: int | None = None
) -> list[dpp.Problem]:
    """Every way ``parameters`` break MinIO's erasure rules, each with its path and value.

    Checks what a JSON Schema cannot: the pool splits into valid erasure sets, the parity fits
    the set, and (when ``connected_hosts`` is given) each server can have a host of its own.
    An empty list means the layout is valid.
    """
    problems: list[dpp.Problem] = []
    for name in ("servers", "drivesPerServer", "parity"):
        if _positive_int(parameters.get(name)) is None:
            problems.append(
                dpp.Problem(
                    path=f"$.parameters.{name}",
                    value=parameters.get(name),
                    message="must be an integer >= 1",
                )
            )
    if problems:
        return problems
    servers, drives, parity = (
        int(parameters["servers"]),
        int(parameters["drivesPerServer"]),
        int(parameters["parity"]),
    )
    total = servers * drives
    size = erasure_set_size(servers, drives)
    if size is None:
        problems.append(
            dpp.Problem(
                path="$.parameters.drivesPerServer",
                value=drives,
                message=(
                    f"{servers} servers x {drives} drives = {total} drives cannot form MinIO "
                    f"erasure sets: sets are {MIN_SET_SIZE} to {MAX_SET_SIZE} drives, all the "
                    f"same size, dividing {total}, and a multiple or divisor of the {servers} "
                    "servers so that each set spans them evenly"
                ),
            )
        )
    elif 2 * parity > size:
        problems.append(
            dpp.Problem(
                path="$.parameters.parity",
                value=parity,
                message=(
                    f"EC:{parity} is more than half of the {size}-drive erasure set "
                    f"({servers} servers x {drives} drives); at most EC:{size // 2} "
                    f"(MinIO's default for {size} drives is EC:{default_parity(size)})"
                ),
            )
        )
    if connected_hosts is not None and servers > connected_hosts:
        problems.append(
            dpp.Problem(
                path="$.parameters.servers",
                value=servers,
                message=(
                    f"every server of a pool needs a host of its own (required anti-affinity); "
                    f"the cluster has {connected_hosts} connected hosts"
                ),
            )
        )
    return problems


def _validate(parameters: Mapping[str, Any], *, connected_hosts: int | None = None) -> None:
    problems = parameter_problems(parameters, connected_hosts=connected_hosts)
    if problems:
        raise dpp.ValidationError(
            f"MinIO cannot run with these parameters ({len(problems)} "
            f"problem{'s' if len(problems) > 1 else ''})",
            problems,
        )


# --------------------------------------------------------------------------- the layout


@attrs.frozen(kw_only=True)
class Pool:
    """One server pool: ``servers`` x ``drives_per_server`` drives of ``drive_gb`` each,
    split into erasure sets of ``set_size`` drives.

    Drive ``d`` of server ``s`` is the pool's drive number ``d * servers + s`` (servers vary
    fastest, as in MinIO's ``http://server{1...4}/disk{1...4}`` expansion), and erasure set
    ``j`` holds drive numbers ``j * set_size`` up to ``(j + 1) * set_size - 1``. So a set
    takes its drives from as many servers as possible, the same number from each.
    """

    index: int
    servers: int
    drives_per_server: int
    set_size: int
    drive_gb: float

    @property
    def drives(self) -> int:
        """Drives in the pool."""
        return self.servers * self.drives_per_server

    @property
    def sets(self) -> int:
        """Erasure sets in the pool."""
        return self.drives // self.set_size

    @property
    def group(self) -> str:
        """The anti-affinity group keeping this pool's servers on distinct hosts."""
        return f"pool{self.index}"

    def server_name(self, server: int) -> str:
        """Member name of server ``server``: ``pool0-server-1``."""
        return f"pool{self.index}-server-{server}"

    def drive_name(self, server: int, drive: int) -> str:
        """Volume name of drive ``drive`` of server ``server``: ``pool0-server-1-drive-3``."""
        return f"pool{self.index}-server-{server}-drive-{drive}"

    def erasure_set_of(self, server: int, drive: int) -> int:
        """The erasure set that drive ``drive`` of server ``server`` belongs to."""
        return (drive * self.servers + server) // self.set_size

    def set_group(self, erasure_set: int) -> str:
        """The storage-pool anti-affinity group of erasure set ``erasure_set``: on vsan-direct
        its drives never share a direct disk."""
        return f"pool{self.index}-set-{erasure_set}"

    def drive_claim(self, server: int, drive: int, policy: str) -> dpp.VolumeClaim:
        """The volume claim of drive ``drive`` of server ``server`` under ``policy``: on
        vsan-direct with required storage-pool anti-affinity within its erasure set."""
        spread = None
        if policy == "vsan-direct":
            group = self.set_group(self.erasure_set_of(server, drive))
            spread = dpp.PoolAntiAffinity(group=group, required=True)
        return dpp.VolumeClaim(
            name=self.drive_name(server, drive), size_gb=self.drive_gb, pool_anti_affinity=spread
        )

    def set_drives(self, erasure_set: int) -> list[tuple[str, str]]:
        """``(server, drive)`` names of erasure set ``erasure_set``, in shard order."""
        out = []
        for number in range(erasure_set * self.set_size, (erasure_set + 1) * self.set_size):
            server, drive = number % self.servers, number // self.servers
            out.append((self.server_name(server), self.drive_name(server, drive)))
        return out

    def usable_gb(self, parity: int) -> float:
        """Object capacity: every drive's size times the data fraction ``(N - K) / N``."""
        return self.drives * self.drive_gb * (self.set_size - parity) / self.set_size

    @property
    def probe_slots(self) -> int:
        """How many probe shards fit on one drive."""
        return int(self.drive_gb * _GIB) // SLOT_BYTES


@attrs.frozen(kw_only=True)
class Layout:
    """The whole tenant: its parity (fixed at creation) and its pools, oldest first."""

    parity: int
    pools: tuple[Pool, ...]

    def usable_gb(self) -> float:
        """Object capacity of all pools together."""
        return math.fsum(pool.usable_gb(self.parity) for pool in self.pools)

    def read_quorum(self, pool: Pool) -> int:
        """Read quorum of each erasure set of ``pool``."""
        return read_quorum(pool.set_size, self.parity)

    def write_quorum(self, pool: Pool) -> int:
        """Write quorum of each erasure set of ``pool``."""
        return write_quorum(pool.set_size, self.parity)


def _new_pool(index: int, parameters: Mapping[str, Any], parity: int, usable_gb: float) -> Pool:
    """A pool of the shape ``parameters`` give, with drives big enough for ``usable_gb``."""
    servers = int(parameters["servers"])
    drives = int(parameters["drivesPerServer"])
    size = erasure_set_size(servers, drives)
    assert size is not None, "parameters are validated before a pool is planned"
    raw_gb = usable_gb * size / (size - parity)
    # Round each drive up to a whole MiB, so the pool holds at least what was asked.
    drive_gb = math.ceil(raw_gb / (servers * drives) * 1024) / 1024
    return Pool(
        index=index, servers=servers, drives_per_server=drives, set_size=size, drive_gb=drive_gb
    )


def planned_layout(spec: dpp.InstanceSpec, layout: Layout | None = None) -> Layout:
    """The layout a tenant of ``spec`` has once provisioned or scaled: from ``layout`` (what
    it has now; None before provision), one more pool of the spec's shape sized for the
    capacity the existing pools lack, if they lack any. ``provision``, ``scale`` and
    ``footprint`` all plan with this one function."""
    if layout is None:
        parity = int(spec.parameters["parity"])
        return Layout(
            parity=parity,
            pools=(_new_pool(0, spec.parameters, parity, float(spec.capacity_gb)),),
        )
    missing_gb = spec.capacity_gb - layout.usable_gb()
    if missing_gb <= _EPSILON_GB:
        return layout
    pool = _new_pool(len(layout.pools), spec.parameters, layout.parity, missing_gb)
    return attrs.evolve(layout, pools=(*layout.pools, pool))


def layout_footprint(layout: Layout, policy: str) -> dpp.Footprint:
    """Every server of ``layout`` with its drives and anti-affinity, as
    :meth:`MinioProvider._ensure_server` creates them."""
    return dpp.Footprint(
        members=tuple(
            dpp.MemberFootprint(
                name=pool.server_name(server),
                volumes=tuple(_server_claims(pool, server, policy)),
                anti_affinity=_server_anti_affinity(pool),
            )
            for pool in layout.pools
            for server in range(pool.servers)
        )
    )


_SERVER_NAME: Final = re.compile(r"pool(\d+)-server-(\d+)")


def held_layout(held: dpp.Footprint, parity: int) -> Layout | None:
    """The layout a tenant holding ``held`` (its servers with their drives, as the platform
    lists them) has: pools by their servers' names, each drive's size, the erasure set size
    MinIO derives. None when it holds no server."""
    shapes: dict[int, tuple[int, int, float]] = {}
    for member in held.members:
        found = _SERVER_NAME.fullmatch(member.name)
        if found is None or not member.volumes:
            continue
        index, server = int(found[1]), int(found[2])
        servers, drives, drive_gb = shapes.get(index, (0, 0, 0.0))
        shapes[index] = (
            max(servers, server + 1),
            max(drives, len(member.volumes)),
            max(drive_gb, *(v.size_gb for v in member.volumes)),
        )
    if not shapes or sorted(shapes) != list(range(len(shapes))):
        return None
    pools = []
    for index, (servers, drives, drive_gb) in sorted(shapes.items()):
        size = erasure_set_size(servers, drives)
        if size is None:
            return None
        pools.append(
            Pool(
                index=index,
                servers=servers,
                drives_per_server=drives,
                set_size=size,
                drive_gb=drive_gb,
            )
        )
    return Layout(parity=parity, pools=tuple(pools))


def _load_layout(ctx: dpp.InstanceContext) -> Layout | None:
    raw = ctx.state.get(_LAYOUT_KEY)
    return None if raw is None else dpp.structure(raw, Layout)


def _require_layout(ctx: dpp.InstanceContext) -> Layout:
    layout = _load_layout(ctx)
    if layout is None:
        raise dpp.PermanentError(
            f"instance {ctx.instance!r} has no MinIO layout recorded; it was never provisioned"
        )
    return layout


def _save_layout(ctx: dpp.InstanceContext, layout: Layout) -> None:
    ctx.state.set(_LAYOUT_KEY, dpp.unstructure(layout))


# --------------------------------------------------------------------------- what is online


@attrs.frozen
class _Snapshot:
    """Members and volumes as seen once, to judge drives consistently within one call."""

    members: Mapping[str, dpp.MemberInfo]
    volumes: Mapping[str, dpp.VolumeInfo]

    @classmethod
    def take(cls, ctx: dpp.InstanceContext) -> _Snapshot:
        return cls({m.name: m for m in ctx.members.list()}, {v.name: v for v in ctx.volumes.list()})

    def offline_reason(self, server: str, drive: str) -> str | None:
        """Why ``drive`` is offline, or None when it is online: its volume is accessible
        and the server serving it is running."""
        member = self.members.get(server)
        if member is None:
            return f"{server} missing"
        if member.state != "running":
            return f"{server} {member.state} on {member.host}"
        volume = self.volumes.get(drive)
        if volume is None:
            return f"{drive} missing"
        if not volume.accessible:
            return f"{drive} inaccessible"
        return None

    def online(self, server: str, drive: str) -> bool:
        return self.offline_reason(server, drive) is None


def _offline_summary(reasons: Sequence[str]) -> str:
    counts: dict[str, int] = {}
    for reason in reasons:
        counts[reason] = counts.get(reason, 0) + 1
    return ", ".join(
        f"{reason} ({count} drives)" if count > 1 else reason for reason, count in counts.items()
    )


def _replacement_blocker(
    ctx: dpp.InstanceContext, layout: Layout, pool: Pool, server: int, replaced: set[str]
) -> str | None:
    """Why server ``server`` of ``pool`` must not be replaced now, or None when it may be.

    Replacing a server deletes its drives, and its fresh drives can only be healed from the
    rest of each erasure set it serves. So every such set needs at least its read quorum of
    intact online drives without this server's (drives replaced in this repair are still
    empty and do not count), and every probe object of the set needs ``N - K`` shards on
    them. Otherwise the server's drives may hold shards that are only unreachable, and
    deleting them would destroy data; the server waits for its host instead.
    """
    name = pool.server_name(server)
    snap = _Snapshot.take(ctx)
    objects = _load_objects(ctx)
    rq = layout.read_quorum(pool)
    problems: list[str] = []
    for erasure_set in range(pool.sets):
        drives = pool.set_drives(erasure_set)
        if all(s != name for s, _ in drives):
            continue
        intact = {
            position
            for position, (s, d) in enumerate(drives)
            if s != name and d not in replaced and snap.online(s, d)
        }
        where = f"pool {pool.index} set {erasure_set}"
        if len(intact) < rq:
            problems.append(
                f"{where} would keep {len(intact)}/{pool.set_size} intact drives online, "
                f"below read quorum {rq}"
            )
            continue
        short = sorted(
            key
            for key, obj in objects.items()
            if obj.pool == pool.index
            and obj.erasure_set == erasure_set
            and len(intact.intersection(obj.holders)) < rq
        )
        if short:
            problems.append(
                f"{where}: {len(short)} object(s) would keep fewer than {rq} shards "
                f"({', '.join(repr(k) for k in short[:3])}{', ...' if len(short) > 3 else ''})"
            )
    return "; ".join(problems) or None


# --------------------------------------------------------------------------- room on hosts


def _server_claims(pool: Pool, server: int, policy: str) -> list[dpp.VolumeClaim]:
    """The drives server ``server`` of ``pool`` claims with it (they land on its host)."""
    return [pool.drive_claim(server, d, policy) for d in range(pool.drives_per_server)]


def _server_anti_affinity(pool: Pool) -> dpp.AntiAffinity:
    """The servers of one pool never share a host."""
    return dpp.AntiAffinity(group=pool.group, required=True, scope="host")


def _server_fits(ctx: dpp.InstanceContext, pool: Pool, server: int, host: str) -> bool:
    """Whether server ``server`` of ``pool`` could be (re-)created on ``host`` now, with all
    its drives: the platform's own placement, as a dry run (``ctx.members.plan``)."""
    try:
        ctx.members.plan(
            pool.server_name(server),
            volumes=_server_claims(pool, server, ctx.spec.policy),
            host=host,
            anti_affinity=_server_anti_affinity(pool),
            replacing=True,
        )
    except (dpp.PlacementFailed, dpp.QuotaExceeded):
        return False
    return True


def _drive_fits(ctx: dpp.InstanceContext, claim: dpp.VolumeClaim, server: str) -> bool:
    """Whether a fresh ``claim`` drive for ``server`` (its host, its storage-pool
    anti-affinity) could replace the lost one now: the platform's own placement, as a dry run
    (``ctx.volumes.plan``)."""
    try:
        ctx.volumes.plan(
            claim.name,
            size_gb=claim.size_gb,
            member=server,
            pool_anti_affinity=claim.pool_anti_affinity,
            replacing=True,
        )
    except (dpp.PlacementFailed, dpp.QuotaExceeded):
        return False
    return True


def _check_room(ctx: dpp.InstanceContext, pool: Pool) -> None:
    """Refuse a pool the cluster cannot hold, before allocating any of it."""
    members = {m.name: m for m in ctx.members.list()}
    placed = [pool.server_name(s) for s in range(pool.servers) if pool.server_name(s) in members]
    missing = pool.servers - len(placed)
    if missing == 0:
        return
    taken = {members[name].host for name in placed}
    free_hosts = [h for h in ctx.cluster.connected_hosts if h.name not in taken]
    if len(free_hosts) < missing:
        raise dpp.PlacementFailed(
            "AntiAffinityUnsatisfiable",
            f"server pool {pool.index} needs {pool.servers} servers on distinct hosts; only "
            f"{len(free_hosts) + len(placed)} connected hosts can take one",
        )
    policy = ctx.spec.policy
    first_missing = next(s for s in range(pool.servers) if pool.server_name(s) not in members)
    fitting = [h.name for h in free_hosts if _server_fits(ctx, pool, first_missing, h.name)]
    if len(fitting) < missing:
        raise dpp.PlacementFailed(
            "NotEnoughResources",
            f"server pool {pool.index} needs {missing} more hosts with room for "
            f"{pool.drives_per_server} x {pool.drive_gb:g} GB {policy} drives; only "
            f"{len(fitting)} have it ({', '.join(fitting) or 'none'})",
        )


# --------------------------------------------------------------------------- the data probe


@attrs.frozen(kw_only=True)
class StoredObject:
    """Where a probe object lives: erasure set ``erasure_set`` of pool ``pool``, at shard slot
    ``slot`` of each drive. ``holders`` are the set positions holding a current shard and
    ``checksums`` each shard's digest (MinIO's bitrot protection)."""

    pool: int
    erasure_set: int
    slot: int
    length: int
    shard_bytes: int
    holders: tuple[int, ...]
    checksums: tuple[str, ...]


def _checksum(shard: bytes) -> str:
    return hashlib.blake2b(shard, digest_size=8).hexdigest()


def _hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


def _encode(data: bytes, data_shards: int, total: int) -> list[bytes]:
    """Split ``data`` into ``data_shards`` equal shards and add ``total - data_shards`` parity."""
    size = max(1, -(-len(data) // data_shards))
    padded = data.ljust(size * data_shards, b"\0")
    blocks = [padded[i * size : (i + 1) * size] for i in range(data_shards)]
    return [bytes(b) for b in zfec.Encoder(data_shards, total).encode(blocks)]


def _decode(shards: Mapping[int, bytes], data_shards: int, total: int, length: int) -> bytes:
    """The object from any ``data_shards`` of its shards (by set position)."""
    numbers = sorted(shards)[:data_shards]
    blocks = zfec.Decoder(data_shards, total).decode([shards[i] for i in numbers], numbers)
    return b"".join(bytes(b) for b in blocks)[:length]


def _load_objects(ctx: dpp.InstanceContext) -> dict[str, StoredObject]:
    raw = ctx.state.get(_OBJECTS_KEY) or {}
    return {key: dpp.structure(value, StoredObject) for key, value in raw.items()}


def _save_objects(ctx: dpp.InstanceContext, objects: Mapping[str, StoredObject]) -> None:
    ctx.state.set(_OBJECTS_KEY, {key: dpp.unstructure(obj) for key, obj in objects.items()})


def _read_shards(
    ctx: dpp.InstanceContext, snap: _Snapshot, pool: Pool, obj: StoredObject, *, want: int
) -> dict[int, bytes]:
    """Up to ``want`` intact shards of ``obj`` (checksum verified), by set position."""
    drives = pool.set_drives(obj.erasure_set)
    shards: dict[int, bytes] = {}
    for position in obj.holders:
        if len(shards) >= want:
            break
        server, drive = drives[position]
        if not snap.online(server, drive):
            continue
        try:
            shard = ctx.volumes.read(drive, obj.slot * SLOT_BYTES, obj.shard_bytes)
        except dpp.DataUnavailable:
            continue
        if _checksum(shard) == obj.checksums[position]:
            shards[position] = shard
    return shards


class MinioProbe(dpp.DataProbe):
    """Writes objects the way MinIO does: erasure-coded across the drives of one set.

    ``write`` needs the set's write quorum and writes each new version to a fresh slot, so a
    failed write never damages the version before it; ``read`` decodes from any ``N - K``
    intact shards.
    """

    def __init__(self, ctx: dpp.InstanceContext) -> None:
        self._ctx = ctx

    def write(self, key: str, data: bytes) -> None:
        ctx = self._ctx
        layout = _load_layout(ctx)
        if layout is None:
            raise dpp.DataUnavailable(f"instance {ctx.instance!r} has no MinIO layout")
        objects = _load_objects(ctx)
        previous = objects.get(key)
        if previous is not None:  # a new version goes where the object already lives
            pool, erasure_set = layout.pools[previous.pool], previous.erasure_set
        else:  # new objects go to the pool with the most room, then a set by hash
            pool = max(layout.pools, key=lambda p: (_free_slots(p, objects), -p.index))
            erasure_set = _hash(key) % pool.sets
        data_shards = pool.set_size - layout.parity
        shard_bytes = max(1, -(-len(data) // data_shards))
        if shard_bytes > SLOT_BYTES:
            raise dpp.ValidationError.single(
                "$.data",
                len(data),
                f"the MinIO probe stores objects of at most {data_shards * SLOT_BYTES} bytes "
                f"in pool {pool.index}",
            )
        drives = pool.set_drives(erasure_set)
        snap = _Snapshot.take(ctx)
        online = [i for i, (server, drive) in enumerate(drives) if snap.online(server, drive)]
        quorum = layout.write_quorum(pool)
        where = f"pool {pool.index} set {erasure_set}"
        if len(online) < quorum:
            raise dpp.DataUnavailable(
                f"{where}: {len(online)}/{pool.set_size} drives online, below write quorum "
                f"{quorum}; MinIO refuses the write"
            )
        slot = _free_slot(pool, erasure_set, key, objects)
        shards = _encode(data, data_shards, pool.set_size)
        written = []
        for position in online:
            try:
                ctx.volumes.write(drives[position][1], slot * SLOT_BYTES, shards[position])
            except dpp.DataUnavailable:
                continue
            written.append(position)
        if len(written) < quorum:
            raise dpp.DataUnavailable(
                f"{where}: only {len(written)} shards written, below write quorum {quorum}; "
                "the previous version (if any) is unchanged"
            )
        objects[key] = StoredObject(
            pool=pool.index,
            erasure_set=erasure_set,
            slot=slot,
            length=len(data),
            shard_bytes=shard_bytes,
            holders=tuple(written),
            checksums=tuple(_checksum(s) for s in shards),
        )
        _save_objects(ctx, objects)

    def read(self, key: str) -> bytes:
        ctx = self._ctx
        obj = _load_objects(ctx).get(key)
        if obj is None:
            raise KeyError(key)
        layout = _require_layout(ctx)
        pool = layout.pools[obj.pool]
        data_shards = pool.set_size - layout.parity
        shards = _read_shards(ctx, _Snapshot.take(ctx), pool, obj, want=data_shards)
        if len(shards) < data_shards:
            raise dpp.DataUnavailable(
                f"object {key!r} in pool {pool.index} set {obj.erasure_set}: {len(shards)} of "
                f"{pool.set_size} shards readable, {data_shards} needed (read quorum)"
            )
        return _decode(shards, data_shards, pool.set_size, obj.length)


def _free_slots(pool: Pool, objects: Mapping[str, StoredObject]) -> int:
    used = sum(1 for obj in objects.values() if obj.pool == pool.index)
    return pool.probe_slots * pool.sets - used


def _free_slot(pool: Pool, erasure_set: int, key: str, objects: Mapping[str, StoredObject]) -> int:
    """A slot of the set no object (not even ``key``'s current version) uses, found from a
    position given by the key's hash, so the choice is deterministic."""
    slots = pool.probe_slots
    used = {
        obj.slot
        for obj in objects.values()
        if obj.pool == pool.index and obj.erasure_set == erasure_set
    }
    start = _hash(key) % slots if slots else 0
    for step in range(slots):
        slot = (start + step) % slots
        if slot not in used:
            return slot
    raise dpp.DataUnavailable(
        f"pool {pool.index} set {erasure_set} has no free probe slot ({slots} per drive)"
    )


# --------------------------------------------------------------------------- the provider


class MinioProvider(dpp.ServiceProvider):
    """MinIO tenants: server pools of erasure-coded drives on FTT=0 volumes."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        """The same manifest on every call; any cluster will do (placement says the rest)."""
        del cluster
        return MANIFEST

    # -- validation, provision, configure, scale

    def validate(
        self,
        spec: dpp.InstanceSpec,
        cluster: dpp.ClusterView,
        *,
        current: dpp.InstanceSpec | None = None,
    ) -> list[dpp.Problem]:
        """MinIO's erasure rules, checked by the platform before any operation starts.

        The JSON Schema holds the simple bounds; here go the rules across fields (the pool
        splits into valid erasure sets, parity fits the set, a host per server) and, for a
        running tenant, that parity never changes.
        """
        checks_hosts = current is None or (
            spec.parameters.get("servers") != current.parameters.get("servers")
        )
        problems = parameter_problems(
            spec.parameters,
            connected_hosts=len(cluster.connected_hosts) if checks_hosts else None,
        )
        if current is not None and spec.parameters.get("parity") != current.parameters.get(
            "parity"
        ):
            problems.append(
                dpp.Problem(
                    path="$.parameters.parity",
                    value=spec.parameters.get("parity"),
                    message=(
                        f"parity is fixed at EC:{current.parameters.get('parity')} for the life "
                        "of a MinIO tenant: existing objects keep the parity they were written "
                        "with"
                    ),
                )
            )
        return problems

    def footprint(
        self,
        spec: dpp.InstanceSpec,
        cluster: dpp.ClusterView,
        *,
        current: dpp.Footprint | None = None,
    ) -> dpp.Footprint | None:
        """Every server with its drives once ``spec`` is provisioned (``current`` None) or
        applied to a tenant holding ``current``: its pools, plus the pool a scale adds.

        The platform checks it against the quota (every drive of every server: the parity
        shards count) and places it as a dry run before it starts anything, so a tenant or a
        new pool that cannot fit is refused up front. None when the parameters break MinIO's
        rules (:meth:`validate` has said why)."""
        del cluster
        if parameter_problems(spec.parameters):
            return None
        held = None if current is None else held_layout(current, int(spec.parameters["parity"]))
        return layout_footprint(planned_layout(spec, held), spec.policy)

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        """Plan pool 0 for ``capacity_gb``, then create it.

        The platform has already run :meth:`validate`; the rules are checked again here
        (cheaply) so a provision resumed after a crash on a changed cluster still refuses
        rather than half-building. Nothing is allocated until the parameters and the
        cluster's room are checked. A second call finds the layout in ``ctx.state`` and the
        members by name.
        """
        spec = request.spec
        _validate(spec.parameters, connected_hosts=len(ctx.cluster.connected_hosts))
        layout = _load_layout(ctx)
        if layout is None:
            layout = planned_layout(spec)
            _check_room(ctx, layout.pools[0])
            _save_layout(ctx, layout)
        for pool in layout.pools:
            self._ensure_pool(ctx, pool)
        self._ensure_access(ctx)

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        """Accept a new pool shape for the *next* pool; refuse a parity change.

        Existing pools never change shape: MinIO cannot re-stripe the objects they hold. A
        changed ``servers`` or ``drivesPerServer`` is validated and used by the next
        :meth:`scale`. Parity is fixed when the tenant is created.
        """
        connected = len(ctx.cluster.connected_hosts) if "servers" in request.changed else None
        _validate(request.parameters, connected_hosts=connected)
        layout = _require_layout(ctx)
        if request.parameters["parity"] != layout.parity:
            raise dpp.PermanentError(
                f"parity is fixed at EC:{layout.parity} for the life of a MinIO tenant (asked "
                f"EC:{request.parameters['parity']}): existing objects keep the parity they "
                "were written with"
            )
        if {"servers", "drivesPerServer"} & set(request.changed):
            ctx.log.info(
                "new pool shape %s servers x %s drives applies to the next server pool; "
                "existing pools keep their shape",
                request.parameters["servers"],
                request.parameters["drivesPerServer"],
            )
        for pool in layout.pools:
            self._ensure_pool(ctx, pool)
        self._ensure_access(ctx)

    def scale(self, ctx: dpp.InstanceContext, request: dpp.ScaleRequest) -> None:
        """Grow by adding one server pool sized for the difference; never shrink.

        The new pool has the current ``servers`` x ``drivesPerServer`` shape and its own
        anti-affinity group, so its servers may share hosts with other pools' servers but
        not with each other. Called again, the pool is found by name and recorded once.
        """
        if request.capacity_gb < request.previous_capacity_gb:
            raise dpp.PermanentError(
                f"MinIO capacity never shrinks: a server pool cannot give drives back (asked "
                f"{request.capacity_gb} GB, the tenant has {request.previous_capacity_gb} GB); "
                "grow it by adding pools, or copy the data to a smaller tenant"
            )
        layout = _require_layout(ctx)
        _validate(ctx.spec.parameters)
        grown = planned_layout(ctx.spec, layout)
        if grown == layout:
            return
        pool = grown.pools[-1]
        _check_room(ctx, pool)
        try:
            self._ensure_pool(ctx, pool)
        except (dpp.PlacementFailed, dpp.QuotaExceeded) as exc:
            for server in range(pool.servers):
                ctx.members.delete(pool.server_name(server))
            raise dpp.PermanentError(
                f"server pool {pool.index} could not be placed, nothing of it was kept: {exc}"
            ) from exc
        _save_layout(ctx, grown)

    def _ensure_pool(self, ctx: dpp.InstanceContext, pool: Pool) -> None:
        """Get or create every server of ``pool`` with its drives. A server whose host is down
        is left to :meth:`on_failure`."""
        for server in range(pool.servers):
            found = ctx.members.find(pool.server_name(server))
            if found is None or found.state == "running":
                self._ensure_server(ctx, pool, server)

    def _ensure_server(self, ctx: dpp.InstanceContext, pool: Pool, server: int) -> None:
        """Get or create server ``server`` of ``pool``: its drives are claimed with it, so they
        land on its host, and the pool's anti-affinity group keeps it off the hosts of the
        pool's other servers."""
        ctx.members.ensure(
            pool.server_name(server),
            volumes=_server_claims(pool, server, ctx.spec.policy),
            anti_affinity=_server_anti_affinity(pool),
            labels={"pool": str(pool.index), "server": str(server)},
        )

    def _ensure_access(self, ctx: dpp.InstanceContext) -> None:
        ctx.endpoints.ensure("s3", port=S3_PORT, protocol="http")
        ctx.endpoints.ensure("console", port=CONSOLE_PORT, protocol="http")
        ctx.secrets.ensure(ROOT_USER, length=20)
        ctx.secrets.ensure(ROOT_PASSWORD, length=40)

    # -- monitor and maintenance

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        """One check per erasure set: green when every drive is online, yellow while the set
        keeps its write quorum, red below it."""
        layout = _load_layout(ctx)
        if layout is None:
            return dpp.HealthReport.from_checks(
                [
                    dpp.HealthCheck(
                        name="layout",
                        status=dpp.HealthStatus.RED,
                        message="no MinIO layout recorded; the tenant was never provisioned",
                    )
                ]
            )
        snap = _Snapshot.take(ctx)
        checks = []
        for pool in layout.pools:
            rq, wq = layout.read_quorum(pool), layout.write_quorum(pool)
            for erasure_set in range(pool.sets):
                reasons = [
                    reason
                    for server, drive in pool.set_drives(erasure_set)
                    if (reason := snap.offline_reason(server, drive)) is not None
                ]
                online = pool.set_size - len(reasons)
                message = (
                    f"pool {pool.index} set {erasure_set}: {online}/{pool.set_size} drives "
                    f"online, write quorum {wq}, read quorum {rq}"
                )
                if online == pool.set_size:
                    status = dpp.HealthStatus.GREEN
                elif online >= wq:
                    status = dpp.HealthStatus.YELLOW
                    message += "; degraded but writable"
                else:
                    status = dpp.HealthStatus.RED
                    message += (
                        "; below write quorum, writes refused"
                        if online >= rq
                        else "; below read quorum, objects unreadable"
                    )
                if reasons:
                    message += f"; offline: {_offline_summary(reasons)}"
                checks.append(
                    dpp.HealthCheck(
                        name=f"pool{pool.index}-set{erasure_set}", status=status, message=message
                    )
                )
        return dpp.HealthReport.from_checks(checks)

    def on_maintenance(
        self, ctx: dpp.InstanceContext, request: dpp.MaintenanceRequest
    ) -> dpp.MaintenanceDecision:
        """Veto when the drives going offline, with those already offline, would drop any
        erasure set below its write quorum."""
        layout = _load_layout(ctx)
        if layout is None:
            return dpp.MaintenanceDecision.allow()
        snap = _Snapshot.take(ctx)
        leaving_servers = set(request.members) if request.disk is None else set()
        leaving_drives = set(request.volumes)
        target = request.host if request.disk is None else f"{request.host}/{request.disk}"
        broken: list[str] = []
        kept: list[str] = []
        for pool in layout.pools:
            wq = layout.write_quorum(pool)
            for erasure_set in range(pool.sets):
                drives = pool.set_drives(erasure_set)
                online = [(s, d) for s, d in drives if snap.online(s, d)]
                after = [
                    (s, d)
                    for s, d in online
                    if s not in leaving_servers and d not in leaving_drives
                ]
                if len(after) == len(online):
                    continue
                already = pool.set_size - len(online)
                line = (
                    f"pool {pool.index} set {erasure_set} would keep {len(after)}/"
                    f"{pool.set_size} drives online ({already} already offline), write "
                    f"quorum {wq}"
                )
                (broken if len(after) < wq else kept).append(line)
        if broken:
            return dpp.MaintenanceDecision.veto(
                dpp.VetoReason.NOT_ENOUGH_RESOURCES,
                f"taking {target} offline would stop MinIO writes: " + "; ".join(broken),
            )
        return dpp.MaintenanceDecision.allow("; ".join(kept))

    def drain(self, ctx: dpp.InstanceContext, request: dpp.DrainRequest) -> dpp.MaintenanceDecision:
        """Take the servers off a host entering maintenance.

        For planned downtime the servers stop and keep their drives (they are healed of what
        they missed when the host returns); :meth:`on_maintenance` decides a veto by the
        write quorum. For ``evacuate-all`` each server is re-created on another host with
        fresh drives and its shards are healed from the rest of its erasure sets; with no
        host to go to, or sets that could not heal it, the maintenance is vetoed."""
        layout = _load_layout(ctx)
        if layout is None:
            return dpp.MaintenanceDecision.allow()
        if request.taint == "planned-downtime":
            asked = dpp.MaintenanceRequest(
                instance=request.instance,
                host=request.host,
                mode=request.mode,
                members=request.members,
                volumes=request.volumes,
            )
            decision = self.on_maintenance(ctx, asked)
            if decision.allowed:
                for name in request.members:
                    ctx.members.stop(name)
            return decision
        replaced: set[str] = set()
        for pool in layout.pools:
            for server in range(pool.servers):
                name = pool.server_name(server)
                if name not in request.members:
                    continue
                why = self._move_server(
                    ctx, layout, pool, server, replaced=replaced, where=f"on {request.host}"
                )
                if why is not None:
                    self._heal(ctx, layout, replaced)  # what moved already is made whole
                    return dpp.MaintenanceDecision.veto(
                        dpp.VetoReason.NOT_ENOUGH_RESOURCES,
                        f"{name} cannot leave {request.host} with its drives: {why[1]}",
                    )
                self._heal(ctx, layout, replaced)
        return dpp.MaintenanceDecision.allow(f"moved {', '.join(request.members) or 'nothing'}")

    # -- failures and healing

    def on_failure(self, ctx: dpp.InstanceContext, event: dpp.FailureEvent) -> None:
        """Replace what is gone, then heal: re-create servers lost with their host (the
        platform's repair timer expired; a server only unreachable is waited for) on healthy
        hosts with fresh drives, replace drives whose data was destroyed, and rebuild the
        missing shards of every object from the surviving drives. What cannot be placed, or could
        not be healed because its sets are below read quorum without it, stays degraded, and
        the log says so."""
        layout = _load_layout(ctx)
        if layout is None:
            return
        ctx.log.info("repairing after %s on %s", event.kind.value, event.host)
        replaced = self._replace_servers(ctx, layout) | self._replace_drives(ctx, layout)
        self._heal(ctx, layout, replaced)

    def _replace_servers(self, ctx: dpp.InstanceContext, layout: Layout) -> set[str]:
        """Re-create lost (or missing) servers on healthy hosts; their new drives.

        A server is only replaced while the rest of each erasure set it serves can heal its
        fresh drives (see :func:`_replacement_blocker`); otherwise it waits for its host."""
        replaced: set[str] = set()
        for pool in layout.pools:
            for server in range(pool.servers):
                name = pool.server_name(server)
                member = {m.name: m for m in ctx.members.list()}.get(name)
                # A server on a failed host waits for it (most outages are reboots) until the
                # platform's repair timer declares it lost.
                if member is not None and member.state != "lost":
                    continue
                where = f"on failed host {member.host}" if member else "missing"
                why = self._move_server(ctx, layout, pool, server, replaced=replaced, where=where)
                if why is None:
                    continue
                kind, message = why
                if kind == "room":
                    ctx.log.warning(
                        "%s is %s and %s; pool %d stays degraded", name, where, message, pool.index
                    )
                elif kind == "blocked":
                    ctx.log.warning(
                        "%s is %s but is not replaced, so its drives are kept: %s; waiting for "
                        "its host to return",
                        name,
                        where,
                        message,
                    )
                else:
                    ctx.log.warning("%s could not be re-created: %s", name, message)
        return replaced

    def _move_server(
        self,
        ctx: dpp.InstanceContext,
        layout: Layout,
        pool: Pool,
        server: int,
        *,
        replaced: set[str],
        where: str,
    ) -> tuple[str, str] | None:
        """Re-create server ``server`` of ``pool`` on another healthy host with fresh drives
        (named in ``replaced``, for :meth:`_heal`). None when done, else why not: ``room``
        (no host can take it), ``blocked`` (its sets could not heal fresh drives) or
        ``placement`` (the platform refused), with a message."""
        name = pool.server_name(server)
        members = ctx.members.list()
        taken = {
            m.host for m in members if m.name != name and m.labels.get("pool") == str(pool.index)
        }
        hosts = [
            h.name
            for h in ctx.cluster.connected_hosts
            if h.name not in taken and _server_fits(ctx, pool, server, h.name)
        ]
        if not hosts:
            return "room", (
                f"no healthy host without a pool {pool.index} server has room for "
                f"{pool.drives_per_server} drives"
            )
        blocker = _replacement_blocker(ctx, layout, pool, server, replaced)
        if blocker is not None:
            return "blocked", blocker
        ctx.members.delete(name)  # and its drives: MinIO heals onto fresh ones
        try:
            self._ensure_server(ctx, pool, server)
        except (dpp.PlacementFailed, dpp.QuotaExceeded) as exc:
            return "placement", str(exc)
        ctx.log.info("re-created %s (was %s) on %s", name, where, ctx.members.get(name).host)
        replaced.update(pool.drive_name(server, d) for d in range(pool.drives_per_server))
        return None

    def _replace_drives(self, ctx: dpp.InstanceContext, layout: Layout) -> set[str]:
        """Replace drives of running servers whose data was destroyed (or that are missing)."""
        replaced: set[str] = set()
        policy = ctx.spec.policy
        snap = _Snapshot.take(ctx)
        for pool in layout.pools:
            for server in range(pool.servers):
                member = snap.members.get(pool.server_name(server))
                if member is None or member.state != "running":
                    continue
                for d in range(pool.drives_per_server):
                    drive = pool.drive_name(server, d)
                    volume = snap.volumes.get(drive)
                    lost = [c for c in volume.components if c.state == "degraded"] if volume else []
                    if volume is not None and not lost:
                        continue
                    claim = pool.drive_claim(server, d, policy)
                    if not _drive_fits(ctx, claim, member.name):
                        ctx.log.warning(
                            "%s lost its data and host %s has no room for a new %g GB %s "
                            "drive; the set stays degraded",
                            drive,
                            member.host,
                            pool.drive_gb,
                            policy,
                        )
                        continue
                    ctx.volumes.delete(drive)
                    try:
                        ctx.volumes.ensure(
                            drive,
                            size_gb=pool.drive_gb,
                            member=member.name,
                            pool_anti_affinity=claim.pool_anti_affinity,
                        )
                    except (dpp.PlacementFailed, dpp.QuotaExceeded) as exc:
                        ctx.log.warning("%s could not be replaced: %s", drive, exc)
                        continue
                    ctx.log.info("replaced drive %s on %s", drive, member.host)
                    replaced.add(drive)
        return replaced

    def _heal(self, ctx: dpp.InstanceContext, layout: Layout, replaced: set[str]) -> None:
        """Rebuild missing or damaged shards of every object onto online drives."""
        objects = _load_objects(ctx)
        if not objects:
            return
        snap = _Snapshot.take(ctx)
        healed = 0
        for key, obj in sorted(objects.items()):
            pool = layout.pools[obj.pool]
            drives = pool.set_drives(obj.erasure_set)
            holders = [p for p in obj.holders if drives[p][1] not in replaced]
            current = attrs.evolve(obj, holders=tuple(holders))
            data_shards = pool.set_size - layout.parity
            shards = _read_shards(ctx, snap, pool, current, want=pool.set_size)
            todo = [p for p in range(pool.set_size) if p not in shards and snap.online(*drives[p])]
            if not todo and len(holders) == len(obj.holders):
                continue
            if len(shards) < data_shards:
                ctx.log.warning(
                    "object %r: %d of %d shards readable, %d needed; cannot heal",
                    key,
                    len(shards),
                    pool.set_size,
                    data_shards,
                )
                objects[key] = current
                continue
            full = _encode(
                _decode(shards, data_shards, pool.set_size, obj.length), data_shards, pool.set_size
            )
            # Holders we cannot reach now (a host in maintenance) still hold their shard.
            good = set(shards) | {p for p in holders if not snap.online(*drives[p])}
            for position in todo:
                try:
                    ctx.volumes.write(drives[position][1], obj.slot * SLOT_BYTES, full[position])
                except dpp.DataUnavailable:
                    continue
                good.add(position)
                healed += 1
            objects[key] = attrs.evolve(obj, holders=tuple(sorted(good)))
        _save_objects(ctx, objects)
        if healed:
            ctx.log.info("healed %d shards", healed)

    # -- decommission and the probe

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        """Delete every server with its drives, any stray volume, the endpoints and the
        secrets. Each delete tolerates absence, so a half-decommissioned tenant finishes."""
        kits.release_everything(ctx)

    def data_probe(self, ctx: dpp.InstanceContext) -> dpp.DataProbe | None:
        """A :class:`MinioProbe` writing erasure-coded objects through ``ctx``."""
        return MinioProbe(ctx)
