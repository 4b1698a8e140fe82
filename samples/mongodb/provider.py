"""A MongoDB replica set on the Data Persistence Platform: the sample database provider.

MongoDB keeps data safe by replicating it itself, so the rules that matter are MongoDB's:

* A replica set has an odd number of voting members (1, 3, 5 or 7 here). A **majority**
  (``n // 2 + 1``) must be up to elect a **primary**; only the primary accepts writes. An even
  count buys nothing: 4 members tolerate one failure, exactly like 3.
* Every member holds a full copy of the data, so members go on **distinct hosts** (required
  anti-affinity) and on single-copy storage (``vsan-sna`` by default): RAID-1 under a set that
  already keeps three copies would store six.
* A write with write concern ``majority`` is acknowledged only once a majority of members has
  it. Any majority overlaps any other, so an acknowledged write survives the loss of any
  minority, and a member that lost its data is rebuilt by copying from the others (initial
  sync).

The provider follows those rules through the instance context only. It keeps what MongoDB
itself would remember (which member is primary, the election term, where each probe document
sits and which members acknowledged it) in ``ctx.state``, so every verb can be re-run after a
crash and converge.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import attrs

import dpp_sdk as dpp
from dpp_sdk import kits
from dpp_sdk.kits import majority

__all__ = [
    "MANIFEST",
    "MongoDBProvider",
    "ReplicaSetProbe",
    "ReplicaSetView",
    "majority",
    "member_footprint",
    "member_name",
    "replica_count_problems",
    "replica_set_footprint",
    "volume_name",
]

PORT = 27017
PROTOCOL = "mongodb"
GROUP = "replicaset"
ADMIN_PASSWORD = "admin-password"
KEYFILE = "keyfile"
#: MongoDB's keyfile is 6..1024 base64 characters; 756 is the length its docs generate.
KEYFILE_LENGTH = 756
REPLICA_COUNTS = (1, 3, 5, 7)
VERSIONS = ("6.0", "7.0")
#: The BSON document size limit: a probe document larger than this is refused, as by MongoDB.
MAX_DOCUMENT_BYTES = 16 * 1024 * 1024
#: Probe documents start on 4 KiB boundaries of each member's data volume.
_ALIGN = 4096
_GIB = 1024**3

# ctx.state keys
_PRIMARY = "primary"
_TERM = "term"
_PROBE = "probe"
_PROBE_END = "probe_end"

#: Every member of one instance on its own host: losing a host then costs one copy.
ANTI_AFFINITY = dpp.AntiAffinity(group=GROUP, required=True, scope="host")

MANIFEST = dpp.Manifest(
    name="mongodb",
    display_name="MongoDB",
    version="1.0.0",
    vendor="dpp-sdk samples",
    category=dpp.Category.DATABASE,
    description=(
        "A MongoDB replica set: an odd number of members on distinct hosts, each with its own "
        "copy of the data on host-local storage; writes are acknowledged by a majority."
    ),
    plans=(
        dpp.Plan(
            name="standard",
            description="A replica set of 3, 5 or 7 members; capacity is per member.",
            min_capacity_gb=1,
            max_capacity_gb=16_000,
        ),
        dpp.Plan(
            name="development",
            description="A single member without redundancy, for development only.",
            min_capacity_gb=1,
            max_capacity_gb=100,
            parameters={"replicaCount": 1},
        ),
    ),
    parameters_schema={
        "type": "object",
        "properties": {
            "replicaCount": {
                "description": "Voting members of the replica set; odd, so a majority exists.",
                "type": "integer",
                "enum": list(REPLICA_COUNTS),
                "default": 3,
            },
            "version": {
                "description": "MongoDB server version; upgrades roll one member at a time.",
                "type": "string",
                "enum": list(VERSIONS),
                "default": "7.0",
            },
        },
        "additionalProperties": False,
    },
    supported_policies=("vsan-sna", "vsan-direct", "vsan-default"),
    default_policy="vsan-sna",
    capabilities=dpp.Capabilities(
        capacity_scale_up=True,
        capacity_scale_down=False,
        horizontal_scale=True,
        maintenance_aware=True,
        data_probe=True,
    ),
    redundancy=dpp.Redundancy.SERVICE,
)


def member_name(index: int) -> str:
    """``mongodb-0``, ``mongodb-1``, ...: stable names, so ``ensure`` finds them again."""
    return f"mongodb-{index}"


def volume_name(member: str) -> str:
    """The data volume of ``member`` (``data-mongodb-0``), named as a StatefulSet would."""
    return f"data-{member}"


def member_footprint(index: int, capacity_gb: float) -> dpp.MemberFootprint:
    """Member ``index`` as the provider creates it: its data volume of ``capacity_gb`` (every
    member holds a full copy) and the replica set's anti-affinity. ``provision``, re-creating
    a member and :meth:`MongoDBProvider.footprint` all build members from this."""
    name = member_name(index)
    return dpp.MemberFootprint(
        name=name,
        volumes=(dpp.VolumeClaim(name=volume_name(name), size_gb=capacity_gb),),
        anti_affinity=ANTI_AFFINITY,
    )


def replica_set_footprint(spec: dpp.InstanceSpec) -> dpp.Footprint:
    """The members (with their data volumes) a replica set of ``spec`` has: ``replicaCount``
    of them, each with a ``capacity_gb`` data volume."""
    return dpp.Footprint(
        members=tuple(
            member_footprint(index, spec.capacity_gb)
            for index in range(int(spec.parameters["replicaCount"]))
        )
    )


def replica_count_problems(spec: dpp.InstanceSpec, connected_hosts: int) -> list[dpp.Problem]:
    """The replica set needs a host per member (required anti-affinity): a problem when
    ``replicaCount`` exceeds the connected hosts."""
    count = spec.parameters.get("replicaCount")
    if not isinstance(count, int) or count <= connected_hosts:
        return []
    return [
        dpp.Problem(
            path="$.parameters.replicaCount",
            value=count,
            message=(
                f"every member of a replica set needs a host of its own (a host lost must cost "
                f"one copy only); the cluster has {connected_hosts} connected hosts"
            ),
        )
    ]


def _index(member: str) -> int:
    return int(member.rsplit("-", 1)[1])


@attrs.frozen(kw_only=True)
class ReplicaSetView:
    """The replica set as the context shows it now, read once for a consistent decision.

    ``size`` is ``replicaCount``: the members ``mongodb-0 .. mongodb-<size-1>`` vote. A voting
    member that does not exist counts as down.
    """

    size: int
    snapshot: kits.InstanceSnapshot
    recorded_primary: str | None
    term: int

    @property
    def members(self) -> Mapping[str, dpp.MemberInfo]:
        """The instance's members by name."""
        return self.snapshot.members

    @property
    def volumes(self) -> Mapping[str, dpp.VolumeInfo]:
        """The instance's volumes by name."""
        return self.snapshot.volumes

    @classmethod
    def read(cls, ctx: dpp.InstanceContext) -> ReplicaSetView:
        """Read members, volumes and the recorded election through ``ctx`` (changes nothing)."""
        primary = ctx.state.get(_PRIMARY)
        return cls(
            size=int(ctx.spec.parameters["replicaCount"]),
            snapshot=kits.InstanceSnapshot.take(ctx),
            recorded_primary=primary if isinstance(primary, str) else None,
            term=int(ctx.state.get(_TERM, 0)),
        )

    @property
    def majority(self) -> int:
        """Members that must be up for a primary and for majority writes."""
        return majority(self.size)

    @property
    def voting(self) -> tuple[str, ...]:
        """Names of the voting members, present or not, in index order."""
        return tuple(member_name(i) for i in range(self.size))

    @property
    def extra(self) -> tuple[str, ...]:
        """Members beyond ``replicaCount`` (left over by an interrupted shrink)."""
        return tuple(sorted(set(self.members) - set(self.voting), key=_index))

    def is_up(self, name: str) -> bool:
        """Whether ``name`` exists, runs, and can read and write its data volume."""
        return self.snapshot.is_up(name)

    @property
    def up(self) -> tuple[str, ...]:
        """Voting members that are up, in index order."""
        return tuple(name for name in self.voting if self.is_up(name))

    @property
    def has_majority(self) -> bool:
        """Whether enough voting members are up to elect a primary."""
        return len(self.up) >= self.majority

    def why_down(self, name: str) -> str:
        """A short reason ``name`` is not up, for health messages and vetoes."""
        return self.snapshot.why_down(name) or f"{name} is up"

    def needs_replacing(self, name: str) -> bool:
        """Missing, lost with its host, or running without its data: rebuild it elsewhere.

        A member on a failed host (``unreachable``) is not replaced until the platform's
        object repair timer declares it ``lost``: most outages are a reboot, and it comes
        back with its data and catches up. One stopped by maintenance comes back too."""
        return self.snapshot.needs_replacement(name)

    def elect(self, *, excluding: Iterable[str] = ()) -> str | None:
        """The primary MongoDB's election would settle on, or None without a majority.

        The current primary keeps its role while it is up (and not ``excluding``, which
        asks it to step down); otherwise the lowest-index member that is up wins.
        """
        if not self.has_majority:
            return None
        skip = set(excluding)
        candidates = [name for name in self.up if name not in skip]
        if self.recorded_primary in candidates:
            return self.recorded_primary
        return candidates[0] if candidates else None


# --------------------------------------------------------------------------- probe index


def _probe_index(ctx: dpp.InstanceContext) -> dict[str, dict[str, Any]]:
    raw = ctx.state.get(_PROBE, {})
    return {key: dict(entry) for key, entry in dict(raw).items()}


def _read_document(
    ctx: dpp.InstanceContext, view: ReplicaSetView, entry: Mapping[str, Any], readers: list[str]
) -> tuple[bytes | None, list[str]]:
    """Read a probe document from the first of ``readers`` that can serve it.

    Returns the bytes (or None) and, for an error message, why each reader could not."""
    problems: list[str] = []
    for name in readers:
        if not view.is_up(name):
            problems.append(view.why_down(name))
            continue
        try:
            data = ctx.volumes.read(volume_name(name), int(entry["offset"]), int(entry["length"]))
        except (dpp.DataUnavailable, dpp.NotFound) as exc:
            problems.append(f"{name}: {exc}")
            continue
        return data, problems
    return None, problems


class ReplicaSetProbe(dpp.DataProbe):
    """Writes canary documents with write concern ``majority`` and reads them back.

    Each document is written to every member that is up, at the same offset of each member's
    data volume (like an oplog entry replayed on every member). ``ctx.state`` records its
    offset, length and the members that acknowledged it; a rewrite goes to fresh space, so a
    refused write never damages the previous value.
    """

    def __init__(self, ctx: dpp.InstanceContext) -> None:
        self._ctx = ctx

    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key``; raises DataUnavailable unless a majority acknowledged."""
        if len(data) > MAX_DOCUMENT_BYTES:
            raise ValueError(
                f"document {key!r} is {len(data)} bytes; MongoDB documents are at most "
                f"{MAX_DOCUMENT_BYTES} bytes (16 MiB)"
            )
        ctx = self._ctx
        view = ReplicaSetView.read(ctx)
        primary = view.elect()
        if primary is None:
            raise dpp.DataUnavailable(
                f"write concern majority not satisfied: {len(view.up)}/{view.size} members "
                f"acknowledged; no primary without a majority of {view.majority}"
            )
        offset = int(ctx.state.get(_PROBE_END, 0))
        if offset + len(data) > ctx.spec.capacity_gb * _GIB:
            raise dpp.DataUnavailable(
                f"no room for document {key!r}: the probe area of {ctx.spec.capacity_gb} GB "
                "per member is full"
            )
        acknowledged: list[str] = []
        for name in sorted(view.up, key=lambda n: n != primary):  # the primary first
            try:
                ctx.volumes.write(volume_name(name), offset, data)
            except (dpp.DataUnavailable, dpp.NotFound):
                # A member being replaced has no data volume yet: it does not acknowledge.
                continue
            acknowledged.append(name)
        if len(acknowledged) < view.majority:
            raise dpp.DataUnavailable(
                f"write concern majority not satisfied: {len(acknowledged)}/{view.size} members "
                f"acknowledged (a majority is {view.majority})"
            )
        index = _probe_index(ctx)
        index[key] = {"offset": offset, "length": len(data), "acks": sorted(acknowledged)}
        ctx.state.set(_PROBE, index)
        ctx.state.set(_PROBE_END, -(-(offset + len(data)) // _ALIGN) * _ALIGN)

    def read(self, key: str) -> bytes:
        """The bytes of ``key`` from any member that acknowledged them and is readable."""
        ctx = self._ctx
        entry = _probe_index(ctx).get(key)
        if entry is None:
            raise KeyError(key)
        view = ReplicaSetView.read(ctx)
        primary = view.elect()
        readers = sorted(entry["acks"], key=lambda n: (n != primary, _index(n)))
        data, problems = _read_document(ctx, view, entry, readers)
        if data is None:
            raise dpp.DataUnavailable(
                f"document {key!r} cannot be read: no member that acknowledged it is readable "
                f"({'; '.join(problems) or 'none acknowledged it'})"
            )
        return data


# --------------------------------------------------------------------------- the provider


class MongoDBProvider(dpp.ServiceProvider):
    """A MongoDB replica set: one member per host, elections and majority writes."""

    # ---------------------------------------------------------------- the six verbs

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        """The manifest; a cluster of any size is accepted (placement checks each request)."""
        del cluster
        return MANIFEST

    def validate(
        self,
        spec: dpp.InstanceSpec,
        cluster: dpp.ClusterView,
        *,
        current: dpp.InstanceSpec | None = None,
    ) -> list[dpp.Problem]:
        """A host per member, checked when the replica set is created or its ``replicaCount``
        changes (a scale with a host down keeps the members it has)."""
        if current is not None and current.parameters.get("replicaCount") == (
            spec.parameters.get("replicaCount")
        ):
            return []
        return replica_count_problems(spec, len(cluster.connected_hosts))

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        """Secrets, one member per replica (each with its data volume), endpoints, a primary."""
        ctx.secrets.ensure(ADMIN_PASSWORD, length=32)
        ctx.secrets.ensure(KEYFILE, length=KEYFILE_LENGTH)
        version = str(request.spec.parameters["version"])
        for index in range(int(request.spec.parameters["replicaCount"])):
            self._ensure_member(ctx, index, version=version)
        ctx.endpoints.ensure(GROUP, port=PORT, protocol=PROTOCOL)
        self._replicate(ctx)
        self._record_election(ctx, ReplicaSetView.read(ctx))

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        """Add or remove members for a new ``replicaCount``; roll a new ``version`` out.

        Growing and shrinking need a primary (a reconfiguration is a write), so a majority
        of the current set must be up. Shrinking removes the highest indices first, hands
        the primary role over first if it would go, and is refused when the members that
        stay could not form a majority or, after replication, would not hold every
        acknowledged write.
        """
        new_size = int(request.parameters["replicaCount"])
        old_size = int(request.previous.get("replicaCount", new_size))
        new_version = str(request.parameters["version"])
        old_version = str(request.previous.get("version", new_version))
        if VERSIONS.index(new_version) < VERSIONS.index(old_version):
            raise dpp.PermanentError(
                f"version {old_version} -> {new_version} is a downgrade; lower the "
                "featureCompatibilityVersion and downgrade the binaries by hand, this sample "
                "only upgrades"
            )
        view = ReplicaSetView.read(ctx)
        if new_size > old_size:
            up_before = [n for n in view.up if _index(n) < old_size]
            if len(up_before) < majority(old_size):
                raise dpp.PermanentError(
                    f"cannot grow the replica set to {new_size}: only {len(up_before)}/{old_size} "
                    f"members are up, so there is no primary to apply the new configuration"
                )
            version = str(request.previous.get("version", new_version))
            for index in range(new_size):
                self._ensure_member(ctx, index, version=version)
        elif view.extra:
            # The reconfiguration is a write of the current set: it needs a primary, that is
            # a majority of the old set up (an interrupted shrink's leftovers still vote).
            old_count = max(old_size, new_size, *(_index(n) + 1 for n in view.extra))
            old_voting = [member_name(i) for i in range(old_count)]
            up_before = [n for n in old_voting if view.is_up(n)]
            if len(up_before) < majority(old_count):
                down = "; ".join(view.why_down(n) for n in old_voting if not view.is_up(n))
                raise dpp.PermanentError(
                    f"cannot shrink the replica set to {new_size}: only {len(up_before)}/"
                    f"{old_count} members are up, so there is no primary to apply the new "
                    f"configuration ({down}); bring members back first"
                )
            if not view.has_majority:
                raise dpp.PermanentError(
                    f"cannot shrink the replica set to {new_size}: of the members that would "
                    f"stay only {len(view.up)} are up and a majority of {view.majority} is needed"
                    f" ({'; '.join(view.why_down(n) for n in view.voting if not view.is_up(n))})"
                )
            self._replicate(ctx)  # the members that stay hold every acknowledged write
            stranded = sorted(
                key
                for key, entry in _probe_index(ctx).items()
                if not set(entry["acks"]) & set(view.voting)
            )
            if stranded:
                raise dpp.PermanentError(
                    f"cannot shrink the replica set to {new_size}: no member that stays holds "
                    f"acknowledged document(s) {', '.join(repr(k) for k in stranded)}, and "
                    f"removing {', '.join(view.extra)} would lose them; bring members back first"
                )
            self._record_election(ctx, view)  # the primary steps down first if it is leaving
            for name in sorted(view.extra, key=_index, reverse=True):
                self._remove_member(ctx, name)
        # A shrink interrupted between deleting a member and its endpoint leaves the endpoint
        # of a member that no longer exists: a resumed configure removes it here.
        for endpoint in ctx.endpoints.list():
            if endpoint.member is not None and ctx.members.find(endpoint.member) is None:
                ctx.endpoints.delete(endpoint.name)
        self._replicate(ctx)
        self._record_election(ctx, ReplicaSetView.read(ctx))
        if any(m.labels.get("version") != new_version for m in ctx.members.list()):
            self._rolling_upgrade(ctx, new_version)

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        """Members up, majority and primary, judged by MongoDB's rules (changes nothing)."""
        view = ReplicaSetView.read(ctx)
        down = [view.why_down(n) for n in view.voting if not view.is_up(n)]
        summary = f"{len(view.up)}/{view.size} members up"
        members = dpp.HealthCheck(
            name="replica-set/members",
            status=dpp.HealthStatus.YELLOW if down or view.extra else dpp.HealthStatus.GREEN,
            message="; ".join(
                [summary, *down, *(f"{n} beyond replicaCount, removal pending" for n in view.extra)]
            ),
        )
        if view.has_majority:
            quorum = dpp.HealthCheck(
                name="replica-set/majority",
                status=dpp.HealthStatus.GREEN,
                message=f"{summary}; a majority is {view.majority}",
            )
        else:
            quorum = dpp.HealthCheck(
                name="replica-set/majority",
                status=dpp.HealthStatus.RED,
                message=f"{summary}; a majority of {view.majority} is needed to elect a primary "
                "and acknowledge writes",
            )
        primary = view.elect()
        if primary is None:
            elected = dpp.HealthCheck(
                name="replica-set/primary",
                status=dpp.HealthStatus.RED,
                message="no primary: the replica set is read-only",
            )
        elif primary != view.recorded_primary:
            elected = dpp.HealthCheck(
                name="replica-set/primary",
                status=dpp.HealthStatus.GREEN,
                message=f"{primary} takes over as primary"
                + (f" from {view.recorded_primary}" if view.recorded_primary else ""),
            )
        else:
            elected = dpp.HealthCheck(
                name="replica-set/primary",
                status=dpp.HealthStatus.GREEN,
                message=f"{primary} is primary (term {view.term})",
            )
        return dpp.HealthReport.from_checks([members, quorum, elected])

    def scale(self, ctx: dpp.InstanceContext, request: dpp.ScaleRequest) -> None:
        """Expand every member's data volume; each member keeps a full copy of the data."""
        if request.capacity_gb < request.previous_capacity_gb:
            raise dpp.PermanentError(
                f"MongoDB data volumes cannot shrink ({request.previous_capacity_gb} GB -> "
                f"{request.capacity_gb} GB); dump and restore into a smaller instance instead"
            )
        for member in ctx.members.list():
            volume = ctx.volumes.find(volume_name(member.name))
            if volume is not None and volume.size_gb < request.capacity_gb:
                ctx.volumes.expand(volume.name, request.capacity_gb)

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        """Remove every member with its volume, then endpoints, secrets and state; any state
        of the replica set is fine (a half-decommissioned one finishes)."""
        kits.release_everything(ctx)

    # ---------------------------------------------------------------- optional hooks

    def on_maintenance(
        self, ctx: dpp.InstanceContext, request: dpp.MaintenanceRequest
    ) -> dpp.MaintenanceDecision:
        """Veto when the members that stay up would not form a majority."""
        view = ReplicaSetView.read(ctx)
        if request.disk is None:
            leaving = set(request.members)
        else:  # a disk: the members whose data volume has a component on it
            leaving = {n for n in view.members if volume_name(n) in request.volumes}
        stopping = [n for n in view.up if n in leaving]
        staying = [n for n in view.up if n not in leaving]
        if not stopping or len(staying) >= view.majority:
            return dpp.MaintenanceDecision.allow(
                f"{len(staying)}/{view.size} members stay up; the majority of {view.majority} holds"
            )
        already = [view.why_down(n) for n in view.voting if not view.is_up(n)]
        return dpp.MaintenanceDecision.veto(
            dpp.VetoReason.NOT_ENOUGH_RESOURCES,
            f"maintenance on {request.host} would stop {', '.join(stopping)}, leaving "
            f"{len(staying)}/{view.size} members up"
            + (f" (already down: {'; '.join(already)})" if already else "")
            + f"; the replica set needs a majority of {view.majority} to keep a primary",
        )

    def drain(self, ctx: dpp.InstanceContext, request: dpp.DrainRequest) -> dpp.MaintenanceDecision:
        """Take the members off a host entering maintenance.

        The primary there steps down first (a secondary that stays is elected). For planned
        downtime the members stop and keep their data, so they catch up when the host
        returns; the majority rule of :meth:`on_maintenance` decides a veto. For
        ``evacuate-all`` each member is re-created on another host and filled by initial
        sync, since its data goes with the host; with no host to go to, the maintenance is
        vetoed (NotEnoughResources), naming the member."""
        view = ReplicaSetView.read(ctx)
        leaving = [n for n in request.members if n in view.members]
        if request.taint == "planned-downtime":
            asked = dpp.MaintenanceRequest(
                instance=request.instance,
                host=request.host,
                mode=request.mode,
                members=tuple(leaving),
                volumes=request.volumes,
            )
            decision = self.on_maintenance(ctx, asked)
            if not decision.allowed:
                return decision
        self._record_election(ctx, view, excluding=leaving)
        if request.taint == "planned-downtime":
            for name in leaving:
                ctx.members.stop(name)
                ctx.log.info("%s stopped for maintenance of %s", name, request.host)
            return dpp.MaintenanceDecision.allow(f"stopped {', '.join(leaving) or 'nothing'}")
        version = str(ctx.spec.parameters["version"])
        for name in leaving:
            if not self._room_for(ctx, name):
                return dpp.MaintenanceDecision.veto(
                    dpp.VetoReason.NOT_ENOUGH_RESOURCES,
                    f"{name} must leave {request.host} with its data, but no other connected "
                    "host without a member has room for it",
                )
            self._remove_member(ctx, name, keep_endpoint=True)
            self._ensure_member(ctx, _index(name), version=version)
            ctx.log.info("%s re-created on %s", name, ctx.members.get(name).host)
        self._replicate(ctx)
        self._record_election(ctx, ReplicaSetView.read(ctx))
        return dpp.MaintenanceDecision.allow(f"moved {', '.join(leaving) or 'nothing'}")

    def on_failure(self, ctx: dpp.InstanceContext, event: dpp.FailureEvent) -> None:
        """Elect a primary among the members that are up, rebuild lost members, resync.

        Runs the same reconciliation for every kind of event, so a repeated or a recovery
        event converges: with a majority up, a member that is missing, unreachable or has
        lost its data is deleted with its volume and re-created on a host with room, then
        filled by initial sync; a recovered member catches up on what it missed.
        """
        view = ReplicaSetView.read(ctx)
        self._record_election(ctx, view)
        if not view.has_majority:
            ctx.log.warning(
                "%s on %s: %d/%d members up, no majority; waiting for members to return",
                event.kind.value,
                event.host,
                len(view.up),
                view.size,
            )
            return
        version = str(ctx.spec.parameters["version"])
        for name in view.voting:
            if not view.needs_replacing(name):
                continue
            if not self._room_for(ctx, name):
                ctx.log.warning("%s cannot be re-created: no spare host has room", name)
                continue
            self._remove_member(ctx, name, keep_endpoint=True)
            try:
                self._ensure_member(ctx, _index(name), version=version)
            except (dpp.PlacementFailed, dpp.QuotaExceeded) as exc:
                ctx.log.warning("%s cannot be re-created yet: %s", name, exc)
                continue
            ctx.log.info("re-created %s on %s", name, ctx.members.get(name).host)
        self._replicate(ctx)
        self._record_election(ctx, ReplicaSetView.read(ctx))

    def footprint(
        self,
        spec: dpp.InstanceSpec,
        cluster: dpp.ClusterView,
        *,
        current: dpp.Footprint | None = None,
    ) -> dpp.Footprint | None:
        """``replicaCount`` members on distinct hosts, each with a full-size data volume:
        the platform checks all the copies against the quota and places them as a dry run
        before anything starts. What a change adds is the same for any ``current``: members
        ensured by name, data volumes expanded in place by a scale."""
        del cluster, current
        return replica_set_footprint(spec)

    def data_probe(self, ctx: dpp.InstanceContext) -> dpp.DataProbe | None:
        """A probe that writes with write concern ``majority``."""
        return ReplicaSetProbe(ctx)

    # ---------------------------------------------------------------- helpers

    @staticmethod
    def _ensure_member(ctx: dpp.InstanceContext, index: int, *, version: str) -> dpp.MemberInfo:
        """Get or create member ``index`` with its data volume and its endpoint."""
        wanted = member_footprint(index, ctx.spec.capacity_gb)
        name = wanted.name
        member = ctx.members.ensure(
            name,
            volumes=wanted.volumes,
            anti_affinity=wanted.anti_affinity,
            labels={"role": "secondary", "version": version},
        )
        ctx.endpoints.ensure(name, port=PORT, protocol=PROTOCOL, member=name)
        return member

    @staticmethod
    def _remove_member(ctx: dpp.InstanceContext, name: str, *, keep_endpoint: bool = False) -> None:
        """Forget ``name``'s acknowledgements, then delete it with its data volume.

        The state changes first: if a crash falls in between, the member still holds the
        data and replication simply counts it again."""
        index = _probe_index(ctx)
        if any(name in entry["acks"] for entry in index.values()):
            for entry in index.values():
                entry["acks"] = [n for n in entry["acks"] if n != name]
            ctx.state.set(_PROBE, index)
        ctx.members.delete(name, delete_volumes=True)
        ctx.volumes.delete(volume_name(name))
        if not keep_endpoint:
            ctx.endpoints.delete(name)

    @staticmethod
    def _room_for(ctx: dpp.InstanceContext, name: str) -> bool:
        """Whether ``name`` could be re-created now, with its data volume, where the
        platform's own placement would put it (a dry run: nothing is allocated)."""
        wanted = member_footprint(_index(name), ctx.spec.capacity_gb)
        try:
            ctx.members.plan(
                name, volumes=wanted.volumes, anti_affinity=wanted.anti_affinity, replacing=True
            )
        except (dpp.PlacementFailed, dpp.QuotaExceeded):
            return False
        return True

    @staticmethod
    def _replicate(ctx: dpp.InstanceContext) -> None:
        """Copy every acknowledged probe document to the members that are up but lack it.

        This is initial sync for a new member and catching up for one that was down."""
        index = _probe_index(ctx)
        if not index:
            return
        view = ReplicaSetView.read(ctx)
        changed = False
        for entry in index.values():
            acks = [n for n in entry["acks"] if n in view.members]
            missing = [n for n in view.up if n not in acks]
            changed |= acks != entry["acks"]
            entry["acks"] = acks
            if not missing:
                continue
            data, _ = _read_document(ctx, view, entry, acks)
            if data is None:
                continue
            for name in missing:
                try:
                    ctx.volumes.write(volume_name(name), int(entry["offset"]), data)
                except dpp.DataUnavailable:
                    continue
                acks.append(name)
                changed = True
            entry["acks"] = sorted(acks, key=_index)
        if changed:
            ctx.state.set(_PROBE, index)

    @staticmethod
    def _record_election(
        ctx: dpp.InstanceContext, view: ReplicaSetView, *, excluding: Sequence[str] = ()
    ) -> str | None:
        """Record the primary the set elects now (a new term when it changes) and label
        every member ``role: primary`` or ``role: secondary``."""
        primary = view.elect(excluding=excluding)
        if primary != view.recorded_primary:
            ctx.state.set(_PRIMARY, primary)
            if primary is not None:
                ctx.state.set(_TERM, view.term + 1)
                ctx.log.info("%s elected primary in term %d", primary, view.term + 1)
            else:
                ctx.log.warning("no primary: %d/%d members up", len(view.up), view.size)
        for name, member in view.members.items():
            role = "primary" if name == primary else "secondary"
            if member.labels.get("role") != role:
                ctx.members.set_labels(name, {**member.labels, "role": role})
        return primary

    def _rolling_upgrade(self, ctx: dpp.InstanceContext, version: str) -> None:
        """Secondaries first, then the primary steps down and is upgraded last."""
        view = ReplicaSetView.read(ctx)
        primary = view.recorded_primary
        order = sorted(view.members, key=lambda n: (n == primary, _index(n)))
        for name in order:
            member = ctx.members.get(name)
            if name == primary and len(view.up) > 1:
                self._record_election(ctx, ReplicaSetView.read(ctx), excluding=[name])
                member = ctx.members.get(name)
            if member.labels.get("version") != version:
                ctx.members.set_labels(name, {**member.labels, "version": version})
