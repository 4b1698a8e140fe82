"""Providers for the stress tests: one that misbehaves on demand in any verb or hook, one that
plants secrets everywhere a provider can, and a KV provider whose verbs take a little time.

They build on ``tests.providers.KVProvider`` (one member ``kv-0``, one volume ``data`` on the
instance's policy, an endpoint and a password).
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from typing import ClassVar

import attrs

import dpp_sdk as dpp
from tests.providers import KV_MANIFEST, KVProvider

MISBEHAVE_ENV = "DPP_STRESS_MISBEHAVE"
"""``VERB:MODE`` (``provision:hang``, ``monitor:kill``...): what :class:`MisbehavingProvider`
does, read on every call so that a child process (or a ``dpp`` command) inherits it."""

VERBS = (
    "provision",
    "configure",
    "scale",
    "decommission",
    "monitor",
    "validate",
    "on_maintenance",
    "on_failure",
)
"""Every verb and hook :class:`MisbehavingProvider` can hang or die in."""

BAD_CACHE_MB = 666
"""``validate`` has no instance name: it misbehaves for requests asking for this cache size."""

#: Set by a test when it ends: hanging calls then return (and find their context closed).
RELEASE = threading.Event()

#: Seconds a hanging call waits for RELEASE at most (well beyond any deadline in the tests).
HANG_SECONDS = 20.0


def _misbehaviour() -> tuple[str, str]:
    verb, _, mode = os.environ.get(MISBEHAVE_ENV, "").partition(":")
    return verb, mode


class MisbehavingProvider(KVProvider):
    """KV, except that for instances named ``bad...`` (for ``validate``: requests asking for
    ``cacheMb=666``) the verb named in ``DPP_STRESS_MISBEHAVE`` hangs or SIGKILLs its own
    process, after doing part of its work. A hung call that is released carries on, as an
    abandoned thread would."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return attrs.evolve(KV_MANIFEST, name="misbehaving", display_name="Misbehaving")

    @staticmethod
    def _maybe(verb: str, applies: bool) -> None:
        wanted, mode = _misbehaviour()
        if not applies or wanted != verb:
            return
        if mode == "kill":
            os.kill(os.getpid(), signal.SIGKILL)
            time.sleep(HANG_SECONDS)  # SIGKILL is asynchronous; never carry on meanwhile
        elif mode == "hang":
            RELEASE.wait(timeout=HANG_SECONDS)

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        claim = dpp.VolumeClaim(name="data", size_gb=request.spec.capacity_gb)
        ctx.members.ensure("kv-0", volumes=[claim])
        self._maybe("provision", ctx.instance.startswith("bad"))
        super().provision(ctx, request)

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        ctx.state.set("cacheMb", request.parameters["cacheMb"])
        self._maybe("configure", ctx.instance.startswith("bad"))
        ctx.state.set("configured", True)

    def scale(self, ctx: dpp.InstanceContext, request: dpp.ScaleRequest) -> None:
        self._maybe("scale", ctx.instance.startswith("bad"))
        super().scale(ctx, request)

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        ctx.endpoints.delete("client")
        self._maybe("decommission", ctx.instance.startswith("bad"))
        super().decommission(ctx, request)

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        self._maybe("monitor", ctx.instance.startswith("bad"))
        return super().monitor(ctx)

    def validate(
        self,
        spec: dpp.InstanceSpec,
        cluster: dpp.ClusterView,
        current: dpp.InstanceSpec | None = None,
    ) -> list[dpp.Problem]:
        self._maybe("validate", spec.parameters.get("cacheMb") == BAD_CACHE_MB)
        return []

    def on_maintenance(
        self, ctx: dpp.InstanceContext, request: dpp.MaintenanceRequest
    ) -> dpp.MaintenanceDecision:
        self._maybe("on_maintenance", ctx.instance.startswith("bad"))
        return dpp.MaintenanceDecision.allow()

    def on_failure(self, ctx: dpp.InstanceContext, event: dpp.FailureEvent) -> None:
        self._maybe("on_failure", ctx.instance.startswith("bad"))
        ctx.state.set("last_event", event.kind.value)


class SlowKVProvider(KVProvider):
    """KV whose provision, configure, scale and decommission each sleep ``DELAY`` seconds half
    way, so a SIGKILL lands inside a verb (and inside a resumed one) often."""

    DELAY: ClassVar[float] = 0.01

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return attrs.evolve(KV_MANIFEST, name="slowkv", display_name="Slow KV")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        claim = dpp.VolumeClaim(name="data", size_gb=request.spec.capacity_gb)
        ctx.members.ensure("kv-0", volumes=[claim])
        time.sleep(self.DELAY)
        super().provision(ctx, request)

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        time.sleep(self.DELAY)
        super().configure(ctx, request)

    def scale(self, ctx: dpp.InstanceContext, request: dpp.ScaleRequest) -> None:
        time.sleep(self.DELAY)
        super().scale(ctx, request)

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        ctx.endpoints.delete("client")
        time.sleep(self.DELAY)
        super().decommission(ctx, request)


# --------------------------------------------------------------------------- the secret sweep

SWEEP_SECRETS_ENV = "DPP_STRESS_SECRETS"
"""A JSON object naming the values :class:`SecretPlantingProvider` plants: ``stored`` (a
secret it stores) and ``state`` (a value it keeps in ``ctx.state`` and also stores as a
secret). The secret parameter's value comes with each request."""

PASSWORD_MAX_LENGTH = 80
"""A longer ``password`` is refused by the schema (whose problem must not quote it)."""

PLANTING_MANIFEST = attrs.evolve(
    KV_MANIFEST,
    name="planting",
    display_name="Planting",
    parameters_schema={
        "type": "object",
        "properties": {
            "cacheMb": {"type": "integer", "minimum": 16, "default": 64},
            "password": {
                "type": "string",
                "minLength": 6,
                "maxLength": PASSWORD_MAX_LENGTH,
                "writeOnly": True,
            },
        },
        "required": ["password"],
        "additionalProperties": False,
    },
)

#: cacheMb values that make SecretPlantingProvider fail in a given place, quoting secrets.
FAIL_PROVISION = 21
FAIL_CONFIGURE = 22
FAIL_VALIDATE = 23
FAIL_TEMPORARY = 24
FAIL_NESTED = 25


def planted_secrets() -> dict[str, str]:
    """The values :class:`SecretPlantingProvider` stores, from ``DPP_STRESS_SECRETS``."""
    values: dict[str, str] = json.loads(os.environ[SWEEP_SECRETS_ENV])
    return values


def quoted(value: str) -> str:
    """``value`` in every form a careless provider would put it in a message."""
    as_dict = {"password": value}
    return (
        f"plain {value} repr {value!r} json {json.dumps(value)} "
        f"json-utf8 {json.dumps(value, ensure_ascii=False)} dict {as_dict}"
    )


class SecretPlantingProvider(KVProvider):
    """Puts its secrets (a stored one, a generated one, the ``password`` parameter, which the
    schema marks ``writeOnly``) everywhere a provider can write text: member labels,
    ``ctx.state``, log lines (plain, ``%r``, JSON), exceptions, ``validate`` problems, health
    check names and messages, and maintenance vetoes."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return PLANTING_MANIFEST

    @staticmethod
    def _all(ctx: dpp.InstanceContext) -> list[str]:
        found = [s.reveal() for s in (ctx.secrets.find(n) for n in ("stored", "generated")) if s]
        return [*found, str(ctx.spec.parameters["password"])]

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        values = planted_secrets()
        password = str(request.spec.parameters["password"])
        stored = ctx.secrets.ensure("stored", value=values["stored"]).reveal()
        generated = ctx.secrets.ensure("generated").reveal()
        ctx.secrets.ensure("state", value=values["state"])
        ctx.state.set("token", values["state"])
        ctx.state.set("note", f"nothing secret here, {len(stored)} characters")
        claim = dpp.VolumeClaim(name="data", size_gb=request.spec.capacity_gb)
        labels = {"stored": stored, "password": password, "mixed": f"x={generated}!"}
        ctx.members.ensure("kv-0", volumes=[claim], labels=labels)
        ctx.endpoints.ensure("client", port=6379, member="kv-0")
        for value in (stored, generated, password):
            ctx.log.info("plain %s", value)
            ctx.log.info("repr %r", value)
            ctx.log.info("json %s", json.dumps({"password": value}))
            ctx.log.warning("json-utf8 %s", json.dumps(value, ensure_ascii=False))
            try:
                raise RuntimeError(quoted(value))
            except RuntimeError:
                ctx.log.exception("login failed")
        if request.spec.parameters["cacheMb"] == FAIL_PROVISION:
            raise dpp.PermanentError(quoted(stored) + quoted(password))

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        cache = request.parameters["cacheMb"]
        if cache == FAIL_CONFIGURE:
            raise ValueError({"secrets": self._all(ctx), "first": self._all(ctx)[0]})
        if cache == FAIL_NESTED:  # the message quotes the secret, and str() quotes the message
            raise ValueError({"detail": quoted(self._all(ctx)[0])})
        if cache == FAIL_TEMPORARY:
            raise dpp.TemporaryError(quoted(self._all(ctx)[-1]), retry_after=1)
        ctx.state.set("cacheMb", cache)
        ctx.log.info("configured with %r", self._all(ctx))

    def scale(self, ctx: dpp.InstanceContext, request: dpp.ScaleRequest) -> None:
        raise dpp.PermanentError("cannot grow: " + " ".join(map(quoted, self._all(ctx))))

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        values = self._all(ctx)
        checks = [
            dpp.HealthCheck(name=f"login {v}", status=dpp.HealthStatus.YELLOW, message=quoted(v))
            for v in values
        ]
        ctx.log.info("monitor: %s", json.dumps(values))
        return dpp.HealthReport.from_checks(checks)

    def validate(
        self,
        spec: dpp.InstanceSpec,
        cluster: dpp.ClusterView,
        current: dpp.InstanceSpec | None = None,
    ) -> list[dpp.Problem]:
        if spec.parameters.get("cacheMb") != FAIL_VALIDATE:
            return []
        values = [planted_secrets()["stored"], str(spec.parameters["password"])]
        return [
            dpp.Problem(path="$.parameters.cacheMb", value=v, message=quoted(v)) for v in values
        ]

    def on_maintenance(
        self, ctx: dpp.InstanceContext, request: dpp.MaintenanceRequest
    ) -> dpp.MaintenanceDecision:
        return dpp.MaintenanceDecision.veto(
            dpp.VetoReason.GENERIC_FAILURE, " ".join(map(quoted, self._all(ctx)))
        )

    def on_failure(self, ctx: dpp.InstanceContext, event: dpp.FailureEvent) -> None:
        raise RuntimeError(" ".join(map(quoted, self._all(ctx))))

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        ctx.log.info("goodbye %s", " ".join(map(quoted, self._all(ctx))))
        super().decommission(ctx, request)
        for name in ("stored", "generated", "state"):
            ctx.secrets.delete(name)


class RacingMonitorProvider(KVProvider):
    """KV whose ``monitor`` runs ``DURING_MONITOR`` (once, then forgets it): a test removes
    another instance there, through another Platform object, as another process would."""

    DURING_MONITOR: ClassVar[list[object]] = []

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return attrs.evolve(KV_MANIFEST, name="racing", display_name="Racing")

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        while self.DURING_MONITOR:
            action = self.DURING_MONITOR.pop()
            assert callable(action)
            action()
        return super().monitor(ctx)
