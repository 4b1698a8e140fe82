"""Broken MongoDB providers: each overrides one method of the sample to seed one defect.

The first line of each docstring is the defect; ``caught_by`` names the check that must
fail on it and ``says`` words its failure message must contain.
"""

from __future__ import annotations

import base64
import itertools

import attrs

import dpp_sdk as dpp
from samples.mongodb.provider import (
    ADMIN_PASSWORD,
    MANIFEST,
    PORT,
    PROTOCOL,
    MongoDBProvider,
    ReplicaSetProbe,
    ReplicaSetView,
    _index,
    member_name,
    volume_name,
)
from tests.broken_providers._base import Broken

_DONE = "provisioned"

#: Calls counted across every provider object, as a process-wide counter would.
_REGISTER_CALLS = itertools.count(1)
_MONITOR_CALLS = itertools.count(1)


def _add_numbered_volume(ctx: dpp.InstanceContext, prefix: str) -> None:
    """Create one more 1 GB volume on the first member, numbered by how many exist: a
    create, not a get-or-create, so every call allocates again."""
    count = sum(1 for v in ctx.volumes.list() if v.name.startswith(prefix))
    ctx.volumes.ensure(f"{prefix}-{count}", size_gb=1, member=member_name(0))


def _plus_check(found: dpp.HealthReport, name: str, message: str) -> dpp.HealthReport:
    """``found`` with one more green check."""
    extra = dpp.HealthCheck(name=name, status=dpp.HealthStatus.GREEN, message=message)
    return dpp.HealthReport.from_checks([*found.checks, extra])


def _admin_password(ctx: dpp.InstanceContext) -> str:
    secret = ctx.secrets.find(ADMIN_PASSWORD)
    return secret.reveal() if secret is not None else ""


# --------------------------------------------------------------------------- registration


class RegisterCountsItsCalls(Broken, MongoDBProvider):
    """register numbers each call in the manifest's description, so no two calls agree.

    REG-002: register is repeatable, the same manifest every time."""

    caught_by = "REG-002"
    says = ("equal manifests from two calls of register",)

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        call = next(_REGISTER_CALLS)
        return attrs.evolve(MANIFEST, description=f"{MANIFEST.description} (call {call})")


# --------------------------------------------------------------------------- provisioning


class ProvisionAddsAVolumeEachCall(Broken, MongoDBProvider):
    """provision creates a numbered journal volume on every call, so a repeat allocates again.

    PROV-003: provision called again converges, nothing allocated twice."""

    caught_by = "PROV-003"
    says = ("repeated provision", "journal-1", "extra")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        super().provision(ctx, request)
        _add_numbered_volume(ctx, "journal")


class DoubleAllocatesAfterACrash(Broken, MongoDBProvider):
    """A provision resumed after a crash adds a second journal volume (numbered, not named).

    It marks itself done only at the end, so a repeat after success changes nothing
    (PROV-003 passes), but a run killed before the mark allocates the journal again.
    PROV-004: a provision killed after any context call and resumed converges."""

    caught_by = "PROV-004"
    says = ("after a crash at call 24", "journal-1", "extra")
    #: Only a crash between the journal's creation (call 24 of 30) and the mark finds the
    #: defect; crash points are sampled per seed, and seed 2's include call 24.
    seed = 2

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        if ctx.state.get(_DONE):
            return
        super().provision(ctx, request)
        _add_numbered_volume(ctx, "journal")
        ctx.state.set(_DONE, True)


class AcceptsAVersionItCannotServe(Broken, MongoDBProvider):
    """Provision fails half-way with PermanentError on version 6.0, which validate let through.

    PROV-006: parameter sets the schema allows are refused up front or provisioned."""

    caught_by = "PROV-006"
    says = ("'version': '6.0'", "provision started and failed", "PermanentError")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        ctx.secrets.ensure(ADMIN_PASSWORD, length=32)
        if request.spec.parameters["version"] == "6.0":
            raise dpp.PermanentError("this build ships MongoDB 7.0 binaries only")
        super().provision(ctx, request)


# --------------------------------------------------------------------------- configuration


class ConfigureAddsAVolumeEachCall(Broken, MongoDBProvider):
    """configure keeps a numbered snapshot volume per call, so a repeat allocates again.

    CONF-002: configure called again with the same request converges."""

    caught_by = "CONF-002"
    says = ("repeated configure", "config-snapshot-1", "extra")

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        super().configure(ctx, request)
        _add_numbered_volume(ctx, "config-snapshot")


# --------------------------------------------------------------------------- monitoring


class MonitorWritesItsState(Broken, MongoDBProvider):
    """monitor writes a call counter to the provider state: it changes what it observes.

    MON-002: monitor changes nothing (the platform refuses the write: health turns red)."""

    caught_by = "MON-002"
    says = ("monitor must only observe",)

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        ctx.state.set("health_checks", int(ctx.state.get("health_checks", 0)) + 1)
        return super().monitor(ctx)


class MonitorCountsItsCalls(Broken, MongoDBProvider):
    """monitor numbers its answers with a counter kept in the provider object: no two agree.

    MON-002: monitor gives the same answer when called again."""

    caught_by = "MON-002"
    says = ("the same report each time", "check #")

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        call = next(_MONITOR_CALLS)
        return _plus_check(super().monitor(ctx), "replica-set/checked", f"check #{call}")


class HealthNeverLeavesGreen(Broken, MongoDBProvider):
    """monitor reports every check green, whatever it found.

    MON-003: a failed host under a member turns health yellow or red."""

    caught_by = "MON-003"
    says = ("yellow or red with", "failed")

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        found = super().monitor(ctx)
        return dpp.HealthReport.from_checks(
            attrs.evolve(check, status=dpp.HealthStatus.GREEN) for check in found.checks
        )


class HealthNeverTurnsRed(Broken, MongoDBProvider):
    """monitor caps every check at yellow: a replica set with no member up is only yellow.

    MON-004: with every host of its members failed, health is red."""

    caught_by = "MON-004"
    says = ("red with", "yellow")

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        found = super().monitor(ctx)
        return dpp.HealthReport.from_checks(
            attrs.evolve(check, status=dpp.HealthStatus.YELLOW)
            if check.status is dpp.HealthStatus.RED
            else check
            for check in found.checks
        )


# --------------------------------------------------------------------------- scaling


class ScaleDoesNothing(Broken, MongoDBProvider):
    """scale returns at once: the new capacity is recorded but no data volume grows.

    SCALE-001: scaling capacity up grows the instance's volumes."""

    caught_by = "SCALE-001"
    says = ("volumes larger than",)

    def scale(self, ctx: dpp.InstanceContext, request: dpp.ScaleRequest) -> None:
        ctx.log.info("scale to %d GB: nothing to do", request.capacity_gb)


class ClaimsToShrink(Broken, MongoDBProvider):
    """The manifest declares capacity_scale_down, which scale then fails with PermanentError.

    SCALE-003: scale down is refused up front unless declared, and honoured if it is."""

    caught_by = "SCALE-003"
    says = ("PermanentError", "cannot shrink")

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return attrs.evolve(
            MANIFEST,
            capabilities=attrs.evolve(MANIFEST.capabilities, capacity_scale_down=True),
        )


# --------------------------------------------------------------------------- decommissioning


class LeaksAVolume(Broken, MongoDBProvider):
    """decommission deletes the members but keeps the first member's data volume.

    DECOM-001: decommission releases everything the instance held (the leak ledger)."""

    caught_by = "DECOM-001"
    says = ("the platform had to reclaim", volume_name(member_name(0)))

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        for member in ctx.members.list():
            ctx.members.delete(member.name, delete_volumes=member.name != member_name(0))
        for endpoint in ctx.endpoints.list():
            ctx.endpoints.delete(endpoint.name)
        for secret in ctx.secrets.list():
            ctx.secrets.delete(secret.name)


class DecommissionNeverFinishes(Broken, MongoDBProvider):
    """decommission raises TemporaryError on every call, so it never finishes.

    DECOM-001: decommission releases everything the instance held."""

    caught_by = "DECOM-001"
    says = ("still failing temporarily", "waiting for client connections to close")

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        raise dpp.TemporaryError("waiting for client connections to close")


# --------------------------------------------------------------------------- resilience


class ReplacesMembersBeforeTheRepairTimer(Broken, MongoDBProvider):
    """on_failure re-creates a member as soon as its host is unreachable, not once it is lost.

    RES-003: a member is not replaced before the repair timer."""

    caught_by = "RES-003"
    says = ("members where they were", "minutes into")

    def on_failure(self, ctx: dpp.InstanceContext, event: dpp.FailureEvent) -> None:
        view = ReplicaSetView.read(ctx)
        version = str(ctx.spec.parameters["version"])
        for name in view.voting:
            if not view.is_up(name) and self._room_for(ctx, name):
                self._remove_member(ctx, name, keep_endpoint=True)
                self._ensure_member(ctx, _index(name), version=version)
        self._replicate(ctx)
        self._record_election(ctx, ReplicaSetView.read(ctx))


class NeverReplacesALostMember(Broken, MongoDBProvider):
    """on_failure only re-elects a primary: a member lost with its host is never rebuilt.

    RES-004: after the repair timer, members on a failed host are replaced elsewhere."""

    caught_by = "RES-004"
    says = ("members off failed", "after the repair timer", "gave up")

    def on_failure(self, ctx: dpp.InstanceContext, event: dpp.FailureEvent) -> None:
        self._record_election(ctx, ReplicaSetView.read(ctx))


class NeverEvictsOnDrain(Broken, MongoDBProvider):
    """drain allows the maintenance and moves nothing: members stay on the evacuated host.

    RES-005: evacuate-all maintenance moves the provider's members off the host."""

    caught_by = "RES-005"
    says = ("to enter evacuate-all maintenance", "still on the host", "member mongodb-")

    def drain(self, ctx: dpp.InstanceContext, request: dpp.DrainRequest) -> dpp.MaintenanceDecision:
        return dpp.MaintenanceDecision.allow("nothing to move")


class VetoesNothing(Broken, MongoDBProvider):
    """on_maintenance allows everything, even maintenance that leaves no majority.

    RES-007: maintenance that would lose the service's quorum is vetoed."""

    caught_by = "RES-007"
    says = ("a veto of no-action maintenance", "red")

    def on_maintenance(
        self, ctx: dpp.InstanceContext, request: dpp.MaintenanceRequest
    ) -> dpp.MaintenanceDecision:
        return dpp.MaintenanceDecision.allow()


class PilesMembersOnOneHost(Broken, MongoDBProvider):
    """Members are pinned to the first host, without anti-affinity: one host holds every copy.

    RES-008: members holding the service's copies are on distinct hosts."""

    caught_by = "RES-008"
    says = ("on distinct hosts", "several on one host")

    @staticmethod
    def _ensure_member(ctx: dpp.InstanceContext, index: int, *, version: str) -> dpp.MemberInfo:
        name = member_name(index)
        claim = dpp.VolumeClaim(name=volume_name(name), size_gb=ctx.spec.capacity_gb)
        labels = {"role": "secondary", "version": version}
        first = ctx.cluster.hosts[0].name
        member = ctx.members.ensure(name, volumes=[claim], host=first, labels=labels)
        ctx.endpoints.ensure(name, port=PORT, protocol=PROTOCOL, member=name)
        return member


class ScaleRecreatesTheVolumes(Broken, MongoDBProvider):
    """scale deletes each member with its volume and re-creates it bigger: the data is gone.

    RES-011: a canary survives a capacity scale up."""

    caught_by = "RES-011"
    says = ("the canary written to", "after a scale to")

    def scale(self, ctx: dpp.InstanceContext, request: dpp.ScaleRequest) -> None:
        version = str(ctx.spec.parameters["version"])
        for member in ctx.members.list():
            ctx.members.delete(member.name, delete_volumes=True)
            self._ensure_member(ctx, _index(member.name), version=version)


# --------------------------------------------------------------------------- security


class LeaksTheAdminPasswordIntoHealth(Broken, MongoDBProvider):
    """monitor adds a check whose message shows the admin connection string with its password.

    SEC-001: secret values never appear in logs, health, audit, events or operations."""

    caught_by = "SEC-001"
    says = (f"secret {ADMIN_PASSWORD!r}'s value kept out of the provider's own health report",)

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        url = f"mongodb://admin:{_admin_password(ctx)}@{ctx.instance}:{PORT}"
        return _plus_check(super().monitor(ctx), "replica-set/login", f"{url} accepts logins")


class LeaksTheAdminPasswordEncoded(Broken, MongoDBProvider):
    """monitor shows the HTTP Basic authorization header it logs in with: the password, base64.

    SEC-001: secret values never appear in logs, health, audit, events or operations."""

    caught_by = "SEC-001"
    says = (f"secret {ADMIN_PASSWORD!r}'s value kept out of the provider's own health report",)

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        header = base64.b64encode(f"admin:{_admin_password(ctx)}".encode()).decode()
        message = f"logged in with Authorization: Basic {header}"
        return _plus_check(super().monitor(ctx), "replica-set/login", message)


class _ShelfProbe(dpp.DataProbe):
    """Keeps documents in one dict on the class, shared by every instance's probe."""

    shelf: dict[str, bytes] = {}  # noqa: RUF012 - the defect: one dict for every instance

    def write(self, key: str, data: bytes) -> None:
        self.shelf[key] = data

    def read(self, key: str) -> bytes:
        return self.shelf[key]


class ProbeSharedByEveryInstance(Broken, MongoDBProvider):
    """The data probe keeps documents in a class-level dict: every instance reads the others'.

    SEC-002: two instances of the service never see each other's data."""

    caught_by = "SEC-002"
    says = ("read back intact after b wrote the same key",)

    def data_probe(self, ctx: dpp.InstanceContext) -> dpp.DataProbe | None:
        return _ShelfProbe()


class _CachingProbe(ReplicaSetProbe):
    """Writes through to the replica set and keeps a copy; when the instance cannot be
    reached, serves and accepts documents from the copy alone."""

    def __init__(self, ctx: dpp.InstanceContext) -> None:
        super().__init__(ctx)
        self._cache: dict[str, bytes] = {}

    def write(self, key: str, data: bytes) -> None:
        self._cache[key] = data
        try:
            super().write(key, data)
        except (dpp.NotFound, dpp.ScopeViolation):
            return  # the defect: the cache accepts what the instance no longer can

    def read(self, key: str) -> bytes:
        try:
            return super().read(key)
        except (dpp.NotFound, dpp.ScopeViolation):
            return self._cache[key]


class ProbeOutlivesItsInstance(Broken, MongoDBProvider):
    """The probe falls back to a local cache when its instance is gone, so it keeps working.

    SEC-003: a probe of a removed instance refuses to act."""

    caught_by = "SEC-003"
    says = ("the old probe write to refuse",)

    def data_probe(self, ctx: dpp.InstanceContext) -> dpp.DataProbe | None:
        return _CachingProbe(ctx)
