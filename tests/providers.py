"""Small providers used by the platform tests (correct ones and deliberately broken ones)."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from typing import Any, ClassVar

import attrs

import dpp_sdk as dpp

KV_MANIFEST = dpp.Manifest(
    name="kv",
    display_name="Tiny KV",
    version="1.0.0",
    vendor="dpp-sdk tests",
    category=dpp.Category.DATABASE,
    description="A single-member key-value store relying on the platform's policy.",
    plans=(dpp.Plan(name="standard", min_capacity_gb=1, max_capacity_gb=500),),
    parameters_schema={
        "type": "object",
        "properties": {"cacheMb": {"type": "integer", "minimum": 16, "default": 64}},
        "additionalProperties": False,
    },
    supported_policies=("vsan-default", "vsan-raid5", "vsan-raid6", "vsan-sna"),
    default_policy="vsan-default",
    capabilities=dpp.Capabilities(capacity_scale_up=True, data_probe=True),
    redundancy=dpp.Redundancy.PLATFORM,
)


class _Probe(dpp.DataProbe):
    def __init__(self, ctx: dpp.InstanceContext) -> None:
        self._ctx = ctx

    def write(self, key: str, data: bytes) -> None:
        # Key -> fixed 1 MiB slot, length-prefixed; enough for tests.
        slot = (sum(key.encode()) % 64) * (1 << 20)
        self._ctx.volumes.write("data", slot, len(data).to_bytes(4, "big") + data)

    def read(self, key: str) -> bytes:
        slot = (sum(key.encode()) % 64) * (1 << 20)
        size = int.from_bytes(self._ctx.volumes.read("data", slot, 4), "big")
        return self._ctx.volumes.read("data", slot + 4, size)


class KVProvider(dpp.ServiceProvider):
    """One member, one volume on the instance's policy, an endpoint and a password."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return KV_MANIFEST

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        policy = request.spec.policy
        claim = dpp.VolumeClaim(name="data", size_gb=request.spec.capacity_gb, policy=policy)
        ctx.members.ensure("kv-0", volumes=[claim])
        ctx.endpoints.ensure("client", port=6379, member="kv-0")
        ctx.secrets.ensure("password")

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        ctx.state.set("cacheMb", request.parameters["cacheMb"])

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        volume = ctx.volumes.find("data")
        if volume is None or not volume.accessible:
            return dpp.HealthReport.from_checks(
                [dpp.HealthCheck(name="data", status=dpp.HealthStatus.RED, message="no data")]
            )
        member = ctx.members.get("kv-0")
        status = dpp.HealthStatus.GREEN if member.state == "running" else dpp.HealthStatus.RED
        return dpp.HealthReport.from_checks(
            [dpp.HealthCheck(name="server", status=status, message=f"kv-0 {member.state}")]
        )

    def scale(self, ctx: dpp.InstanceContext, request: dpp.ScaleRequest) -> None:
        ctx.volumes.expand("data", request.capacity_gb)

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        ctx.members.delete("kv-0")
        ctx.endpoints.delete("client")
        ctx.secrets.delete("password")

    def data_probe(self, ctx: dpp.InstanceContext) -> dpp.DataProbe | None:
        return _Probe(ctx)


class KV2Provider(KVProvider):
    """Version 2.0.0 of the ``kv`` service (the same behaviour, registered as a newer one)."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return attrs.evolve(KV_MANIFEST, version="2.0.0")


class FailingProvider(KVProvider):
    """Allocates a member and a volume, then fails permanently during provision."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("failing")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        super().provision(ctx, request)
        raise dpp.PermanentError("the service refused to start: bad license")


class CrashingProvider(KVProvider):
    """Raises a bug (not a dpp error) half-way through provision."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("crashing")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        ctx.secrets.ensure("password")
        {}["missing"]


class FlakyProvider(KVProvider):
    """Fails temporarily ``FAILURES`` times per instance, then succeeds."""

    FAILURES = 2
    calls: dict[str, int] = {}  # noqa: RUF012 - shared counter, per test

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("flaky")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        super().provision(ctx, request)
        count = self.calls.get(ctx.instance, 0) + 1
        self.calls[ctx.instance] = count
        if count <= self.FAILURES:
            raise dpp.TemporaryError("replica still starting", retry_after=5)


class AlwaysBusyProvider(KVProvider):
    """Never gets past a temporary error."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("busy")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        raise dpp.TemporaryError("waiting for a license server", retry_after=10)


class LeakyProvider(KVProvider):
    """Forgets its endpoint and secret on decommission."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("leaky")

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        ctx.members.delete("kv-0")


class StashingProvider(KVProvider):
    """Keeps its context after provision returns and tries to use it later."""

    stashed: list[dpp.InstanceContext] = []  # noqa: RUF012 - shared on purpose

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("stashing")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        super().provision(ctx, request)
        self.stashed.append(ctx)


class MeddlingMonitorProvider(KVProvider):
    """Tries to change the instance from monitor, and puts its password in a message."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("meddling")

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        password = ctx.secrets.find("password")
        message = f"password is {password.reveal() if password else '?'}"
        ctx.log.info("monitor sees %s", message)
        ctx.volumes.ensure("extra", size_gb=1)
        return dpp.HealthReport.from_checks(
            [dpp.HealthCheck(name="x", status=dpp.HealthStatus.GREEN, message=message)]
        )


class VetoingProvider(KVProvider):
    """Vetoes every maintenance request."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("vetoing")

    def on_maintenance(
        self, ctx: dpp.InstanceContext, request: dpp.MaintenanceRequest
    ) -> dpp.MaintenanceDecision:
        return dpp.MaintenanceDecision.veto(
            dpp.VetoReason.TOO_MANY_EXISTING_FAILURES, f"{request.host} holds my only copy"
        )


class BadManifestProvider(KVProvider):
    """Returns a manifest with three problems."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        import attrs

        return attrs.evolve(
            KV_MANIFEST, name="Bad Name", version="v1", default_policy="vsan-direct"
        )


def _renamed(name: str) -> dpp.Manifest:
    import attrs

    return attrs.evolve(KV_MANIFEST, name=name, display_name=name.title())


class SuicidalProvider(KVProvider):
    """Kills its own process half-way through provision when DPP_TEST_CRASH is set.

    Re-run without the variable (crash recovery), it converges on what the first call made.
    """

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("suicidal")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        import os
        import signal

        claim = dpp.VolumeClaim(name="data", size_gb=request.spec.capacity_gb)
        ctx.members.ensure("kv-0", volumes=[claim])
        if os.environ.get("DPP_TEST_CRASH") == request.instance:
            os.kill(os.getpid(), signal.SIGKILL)
        ctx.endpoints.ensure("client", port=6379, member="kv-0")
        ctx.secrets.ensure("password")


class StallingProvider(KVProvider):
    """Stops half-way through the verb its instance is named after (``stall-provision-*``,
    ``stall-configure-*``, ``stall-decommission-*``) when ``DPP_TEST_STALL_DIR`` is set: it
    writes a file named after the instance there and waits for its process to be killed. Run
    again (the file exists: recovery), it carries on. Any other instance is a KVProvider's.
    """

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("stalling")

    @staticmethod
    def _stall(ctx: dpp.InstanceContext, verb: str) -> None:
        where = os.environ.get("DPP_TEST_STALL_DIR")
        if where is None or not ctx.instance.startswith(f"stall-{verb}-"):
            return
        marker = os.path.join(where, ctx.instance)
        if os.path.exists(marker):
            return
        with open(marker, "w") as out:
            out.write(f"{os.getpid()}\n")
        threading.Event().wait(60)  # the test kills this process meanwhile

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        claim = dpp.VolumeClaim(name="data", size_gb=request.spec.capacity_gb)
        ctx.members.ensure("kv-0", volumes=[claim])
        self._stall(ctx, "provision")
        super().provision(ctx, request)

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        super().configure(ctx, request)
        self._stall(ctx, "configure")

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        ctx.members.delete("kv-0")
        self._stall(ctx, "decommission")
        super().decommission(ctx, request)


class PickyProvider(KVProvider):
    """Refuses, through validate, a cache larger than a tenth of the capacity in MB."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("picky")

    def validate(
        self,
        spec: dpp.InstanceSpec,
        cluster: dpp.ClusterView,
        *,
        current: dpp.InstanceSpec | None = None,
    ) -> list[dpp.Problem]:
        problems = []
        limit = spec.capacity_gb * 100
        if spec.parameters["cacheMb"] > limit:
            problems.append(
                dpp.Problem(
                    path="$.parameters.cacheMb",
                    value=spec.parameters["cacheMb"],
                    message=f"at most {limit} MB for {spec.capacity_gb} GB",
                )
            )
        if current is not None and spec.policy != current.policy:
            problems.append(dpp.Problem(path="$.policy", value=spec.policy, message="fixed"))
        return problems


class RecordingProvider(KVProvider):
    """Remembers every failure event it is told about."""

    events: list[dpp.FailureEvent] = []  # noqa: RUF012 - shared on purpose

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("recording")

    def on_failure(self, ctx: dpp.InstanceContext, event: dpp.FailureEvent) -> None:
        self.events.append(event)


class ChangeRecordingProvider(KVProvider):
    """Remembers what each configure request said had changed."""

    changes: list[tuple[str, ...]] = []  # noqa: RUF012 - shared on purpose

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("changes")

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        self.changes.append(request.changed)


class ImpatientProvider(KVProvider):
    """Asks to be retried immediately (retry_after=0), three times."""

    calls = 0

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("impatient")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        type(self).calls += 1
        if type(self).calls <= 3:
            raise dpp.TemporaryError("again", retry_after=0)
        super().provision(ctx, request)


class NanRetryProvider(KVProvider):
    """Asks to be retried after nan seconds, which TemporaryError refuses."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("nanretry")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        raise dpp.TemporaryError("again", retry_after=float("nan"))


class TamperedRetryProvider(KVProvider):
    """Fails temporarily once with ``retry_after`` changed to ``DELAY`` (a test sets it) after
    the error was made, where the constructor cannot refuse it; then succeeds."""

    DELAY: ClassVar[float] = float("nan")
    calls = 0

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("tampered")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        type(self).calls += 1
        if type(self).calls == 1:
            error = dpp.TemporaryError("again")
            error.retry_after = self.DELAY
            raise error
        super().provision(ctx, request)


class BadSecretProvider(KVProvider):
    """Stores a PIN that is a number, not a string."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("badsecret")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        ctx.secrets.ensure("pin", value=1234)  # the bug under test: not a string


class ThreadedProvider(KVProvider):
    """Creates its member from a worker thread and logs from it, as real operators do."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("threaded")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        import threading

        def work() -> None:
            ctx.log.info("worker starting")
            super(ThreadedProvider, self).provision(ctx, request)

        worker = threading.Thread(target=work)
        worker.start()
        worker.join(timeout=10)
        if worker.is_alive():
            raise dpp.PermanentError("worker thread hung")


class InterruptedProvider(KVProvider):
    """The user presses Ctrl-C half-way through provision (SIGINT reaches the main thread)."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("interrupted")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        ctx.secrets.ensure("password")
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)


class ExitingProvider(KVProvider):
    """Calls sys.exit(0) in provision, as a buggy provider might."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("exiting")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        ctx.secrets.ensure("password")
        sys.exit(0)


#: Released by tests at their end, so hanging providers' threads finish.
RELEASE_HANGING = threading.Event()


class HangingProvider(KVProvider):
    """Hangs in every call of the verbs and hooks listed in ``HANGS`` (a test sets it), until
    RELEASE_HANGING is set."""

    HANGS: ClassVar[set[str]] = set()

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("hanging")

    def _maybe_hang(self, verb: str) -> None:
        if verb in self.HANGS:
            RELEASE_HANGING.wait(timeout=30)

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        super().provision(ctx, request)
        self._maybe_hang("provision")

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        self._maybe_hang("monitor")
        return super().monitor(ctx)

    def on_maintenance(
        self, ctx: dpp.InstanceContext, request: dpp.MaintenanceRequest
    ) -> dpp.MaintenanceDecision:
        self._maybe_hang("on_maintenance")
        return dpp.MaintenanceDecision.allow()

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        self._maybe_hang("decommission")
        super().decommission(ctx, request)

    def validate(
        self,
        spec: dpp.InstanceSpec,
        cluster: dpp.ClusterView,
        current: dpp.InstanceSpec | None = None,
    ) -> list[dpp.Problem]:
        self._maybe_hang("validate")
        return []


class SloppyVetoProvider(KVProvider):
    """on_maintenance returns something that is not a MaintenanceDecision."""

    ANSWER: ClassVar[object] = None

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("sloppy")

    def on_maintenance(self, ctx: dpp.InstanceContext, request: dpp.MaintenanceRequest) -> Any:
        return self.ANSWER


class LeakyLoggerProvider(KVProvider):
    """Logs a traceback containing its password, and vetoes maintenance quoting it."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("leakylog")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        super().provision(ctx, request)
        secret = ctx.secrets.ensure("password").reveal()
        try:
            raise RuntimeError(f"cannot log in with {secret}")
        except RuntimeError:
            ctx.log.exception("login failed")

    def on_maintenance(
        self, ctx: dpp.InstanceContext, request: dpp.MaintenanceRequest
    ) -> dpp.MaintenanceDecision:
        secret = ctx.secrets.find("password")
        return dpp.MaintenanceDecision.veto(
            dpp.VetoReason.GENERIC_FAILURE, f"admin password {secret.reveal() if secret else ''}"
        )


class RepairThenFailProvider(KVProvider):
    """On failure, re-creates its member keeping the data volume, then fails."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("repairfail")

    def on_failure(self, ctx: dpp.InstanceContext, event: dpp.FailureEvent) -> None:
        if event.kind is not dpp.FailureKind.HOST_FAILURE:
            return
        ctx.members.delete("kv-0", delete_volumes=False)
        ctx.members.ensure("kv-0", volumes=[dpp.VolumeClaim(name="data", size_gb=1)])
        ctx.endpoints.ensure("client-new", port=7000)
        raise dpp.PermanentError("repair gave up")


class OverallRedProvider(KVProvider):
    """Reports RED overall while every named check is green."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("overallred")

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        return dpp.HealthReport(
            status=dpp.HealthStatus.RED,
            checks=(dpp.HealthCheck(name="ping", status=dpp.HealthStatus.GREEN),),
        )


class Outer:
    """Holds a provider class, to test registration of nested classes."""

    class Inner(KVProvider):
        """The KV provider under another name, nested."""

        def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
            return _renamed("nested")


class DirectProvider(KVProvider):
    """Keeps its data in a direct disk's storage pool."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        import attrs

        return attrs.evolve(
            _renamed("direct"),
            supported_policies=("vsan-direct",),
            default_policy="vsan-direct",
            redundancy=dpp.Redundancy.SERVICE,
        )


class PoolSpreadProvider(KVProvider):
    """One member with ``drives`` direct volumes of ``capacity_gb`` each, all of storage-pool
    anti-affinity group ``disks`` (``spread``: required, preferred or none)."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        import attrs

        return attrs.evolve(
            DirectProvider().register(cluster),
            name="spread",
            display_name="Spread",
            capabilities=dpp.Capabilities(),
            parameters_schema={
                "type": "object",
                "properties": {
                    "drives": {"type": "integer", "minimum": 1, "default": 4},
                    "spread": {"enum": ["required", "preferred", "none"], "default": "required"},
                },
                "additionalProperties": False,
            },
        )

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        spread = request.spec.parameters["spread"]
        rule = None
        if spread != "none":
            rule = dpp.PoolAntiAffinity(group="disks", required=spread == "required")
        claims = [
            dpp.VolumeClaim(
                name=f"drive-{n}", size_gb=request.spec.capacity_gb, pool_anti_affinity=rule
            )
            for n in range(int(str(request.spec.parameters["drives"])))
        ]
        ctx.members.ensure("node-0", volumes=claims)

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        pass

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        return dpp.HealthReport.from_checks(
            [dpp.HealthCheck(name="node", status=dpp.HealthStatus.GREEN, message="up")]
        )

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        ctx.members.delete("node-0", delete_volumes=True)

    def data_probe(self, ctx: dpp.InstanceContext) -> dpp.DataProbe | None:
        return None


class IncompleteProvider(dpp.ServiceProvider):
    """Forgets every verb but register."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("incomplete")


TWO_KNOBS_MANIFEST = attrs.evolve(
    KV_MANIFEST,
    name="two-knobs",
    parameters_schema={
        "type": "object",
        "properties": {
            "cacheMb": {"type": "integer", "minimum": 16, "default": 64},
            "threads": {"type": "integer", "minimum": 1, "default": 1},
        },
        "additionalProperties": False,
    },
)

#: Set to make TwoKnobsProvider.validate wait (once) until ``RESUME`` is set, after setting
#: ``PAUSED``: a test then changes the instance through another platform in that window.
PAUSE_VALIDATE = threading.Event()
PAUSED = threading.Event()
RESUME = threading.Event()


class TwoKnobsProvider(KVProvider):
    """Two parameters, and a validate hook a test can hold open."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return TWO_KNOBS_MANIFEST

    def validate(
        self,
        spec: dpp.InstanceSpec,
        cluster: dpp.ClusterView,
        current: dpp.InstanceSpec | None = None,
    ) -> list[dpp.Problem]:
        if PAUSE_VALIDATE.is_set() and current is not None:
            PAUSE_VALIDATE.clear()
            PAUSED.set()
            RESUME.wait(timeout=30)
        return []

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        ctx.state.set("knobs", dict(request.parameters))


WEIRD_SECRET = "pa\"ss\\w'ord-é-ünïcode"
"""A secret with a double quote, a backslash, a single quote and non-ASCII characters."""


class BlabbingProvider(KVProvider):
    """Stores WEIRD_SECRET, then quotes it everywhere it can: a member label, exception
    messages (repr- and JSON-escaped), validate problems and the log."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("blabbing")

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        ctx.secrets.ensure("password", value=WEIRD_SECRET)
        claim = dpp.VolumeClaim(name="data", size_gb=request.spec.capacity_gb)
        ctx.members.ensure("kv-0", volumes=[claim], labels={"token": WEIRD_SECRET})
        ctx.log.info("connecting with %s", json.dumps({"password": WEIRD_SECRET}))

    def validate(
        self,
        spec: dpp.InstanceSpec,
        cluster: dpp.ClusterView,
        current: dpp.InstanceSpec | None = None,
    ) -> list[dpp.Problem]:
        if current is not None and spec.parameters.get("cacheMb") == 17:
            return [dpp.Problem(path="$.cacheMb", value=WEIRD_SECRET, message=f"{WEIRD_SECRET}!")]
        return []

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        raise ValueError({"password": WEIRD_SECRET})


PASSWORD_MANIFEST = attrs.evolve(
    KV_MANIFEST,
    name="guarded",
    parameters_schema={
        "type": "object",
        "properties": {
            "cacheMb": {"type": "integer", "minimum": 16, "default": 64},
            "password": {"type": "string", "minLength": 8, "writeOnly": True},
            "pin": {"type": "integer", "format": "password", "default": 123456},
        },
        "required": ["password"],
        "additionalProperties": False,
    },
)


class PasswordProvider(KVProvider):
    """Takes an admin password as a (writeOnly) parameter and keeps it as a secret; records
    what each configure was told; refuses a password starting with 'bad'."""

    SEEN: ClassVar[list[tuple[object, object, tuple[str, ...]]]] = []

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return PASSWORD_MANIFEST

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        super().provision(ctx, request)
        assert ctx.spec.parameters["password"] == request.spec.parameters["password"]
        ctx.secrets.ensure("admin", value=request.spec.parameters["password"])

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        self.SEEN.append(
            (request.parameters["password"], request.previous["password"], request.changed)
        )
        if str(request.parameters["password"]).startswith("bad"):
            raise dpp.PermanentError("that password is refused")


NOISY_TEXT = "line one\nline two \x1b[31mred\x1b[0m " + "x" * 200_000
"""200 kB of text (a hundred times what the platform keeps) with a newline and terminal escapes,
as a misbehaving provider might produce."""


class NoisyProvider(KVProvider):
    """Puts NOISY_TEXT in everything it reports: its health check's name and message, a veto,
    and the exception its configure raises."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("noisy")

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        raise RuntimeError(NOISY_TEXT)

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        check = dpp.HealthCheck(name=NOISY_TEXT, status=dpp.HealthStatus.GREEN, message=NOISY_TEXT)
        return dpp.HealthReport.from_checks([check])

    def on_maintenance(
        self, ctx: dpp.InstanceContext, request: dpp.MaintenanceRequest
    ) -> dpp.MaintenanceDecision:
        return dpp.MaintenanceDecision.veto(dpp.VetoReason.GENERIC_FAILURE, NOISY_TEXT)


class KillingMonitorProvider(KVProvider):
    """Its monitor kills its own process when DPP_TEST_CRASH names the instance."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("killing-monitor")

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        if os.environ.get("DPP_TEST_CRASH") == ctx.instance:
            os.kill(os.getpid(), signal.SIGKILL)
        return super().monitor(ctx)


PROBE_ENTERED = threading.Event()
PROBE_RELEASE = threading.Event()


class _HeldProbe(dpp.DataProbe):
    def __init__(self, ctx: dpp.InstanceContext) -> None:
        self._ctx = ctx

    def write(self, key: str, data: bytes) -> None:
        PROBE_ENTERED.set()
        PROBE_RELEASE.wait(timeout=30)
        self._ctx.volumes.write("data", 0, data)

    def read(self, key: str) -> bytes:
        return self._ctx.volumes.read("data", 0, 4)


class HeldProbeProvider(KVProvider):
    """A probe whose write waits for PROBE_RELEASE; records when configure runs."""

    CALLS: ClassVar[list[str]] = []

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("held-probe")

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        self.CALLS.append("configure")

    def data_probe(self, ctx: dpp.InstanceContext) -> dpp.DataProbe | None:
        return _HeldProbe(ctx)


def _aware(name: str) -> dpp.Manifest:
    return attrs.evolve(
        _renamed(name),
        capabilities=attrs.evolve(KV_MANIFEST.capabilities, maintenance_aware=True),
    )


class DrainingProvider(KVProvider):
    """Maintenance-aware: stops its member for planned downtime; for evacuate-all re-creates
    it (and its volume) on another host. Vetoes when ``DrainingProvider.veto`` names the
    instance."""

    veto: ClassVar[set[str]] = set()
    requests: ClassVar[list[dpp.DrainRequest]] = []

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _aware("draining")

    def drain(self, ctx: dpp.InstanceContext, request: dpp.DrainRequest) -> dpp.MaintenanceDecision:
        self.requests.append(request)
        if ctx.instance in self.veto:
            return dpp.MaintenanceDecision.veto(
                dpp.VetoReason.TOO_MANY_EXISTING_FAILURES, f"{ctx.instance} says no"
            )
        if request.taint == "planned-downtime":
            for name in request.members:
                ctx.members.stop(name)
        else:
            for name in request.members:
                ctx.members.delete(name)
                policy = ctx.spec.policy
                claim = dpp.VolumeClaim(name="data", size_gb=ctx.spec.capacity_gb, policy=policy)
                ctx.members.ensure(name, volumes=[claim])
        return dpp.MaintenanceDecision.allow()


class IdleAwareProvider(KVProvider):
    """Declares maintenance_aware but does not implement drain: its member stays put."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _aware("idle-aware")


class StoppingProvider(KVProvider):
    """Its configure tries to stop its member, which only a drain may do."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return _renamed("stopping")

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        ctx.members.stop("kv-0")


class WideKVProvider(KVProvider):
    """KVProvider offering every redundant policy, the RAID-1 FTT=2 and FTT=3 mirrors too."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return attrs.evolve(
            KV_MANIFEST,
            name="kv-wide",
            supported_policies=(
                "vsan-default",
                "vsan-raid1-ftt2",
                "vsan-raid1-ftt3",
                "vsan-raid5",
                "vsan-raid6",
            ),
        )


class RackAwareProvider(KVProvider):
    """``nodes`` members on distinct hosts (required), spread over racks (preferred)."""

    RULES = (
        dpp.AntiAffinity(group="nodes", required=True, scope="host"),
        dpp.AntiAffinity(group="nodes", required=False, scope="fault-domain"),
    )

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return attrs.evolve(
            _renamed("rack-aware"),
            parameters_schema={
                "type": "object",
                "properties": {"nodes": {"type": "integer", "minimum": 1, "default": 3}},
                "additionalProperties": False,
            },
        )

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        for n in range(int(str(request.spec.parameters["nodes"]))):
            ctx.members.ensure(
                f"node-{n}",
                volumes=[dpp.VolumeClaim(name=f"data-{n}", size_gb=1, policy="vsan-sna")],
                anti_affinity=self.RULES,
            )

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        for member in ctx.members.list():
            ctx.members.delete(member.name)


class ThreeCopiesProvider(KVProvider):
    """Three members on distinct hosts, each with a host-local copy of ``capacity_gb``; with
    ``DECLARE``, it declares that footprint so the platform can refuse up front."""

    DECLARE: ClassVar[bool] = True
    RULE = dpp.AntiAffinity(group="copies", required=True, scope="host")
    views: ClassVar[list[dpp.ClusterView]] = []

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return attrs.evolve(
            _renamed("three-copies"),
            plans=(dpp.Plan(name="big", min_capacity_gb=1, max_capacity_gb=20_000),),
            supported_policies=("vsan-sna",),
            default_policy="vsan-sna",
            redundancy=dpp.Redundancy.SERVICE,
        )

    @staticmethod
    def _claim(n: int, spec: dpp.InstanceSpec) -> dpp.VolumeClaim:
        return dpp.VolumeClaim(name=f"data-{n}", size_gb=spec.capacity_gb)

    def footprint(self, spec: dpp.InstanceSpec, cluster: dpp.ClusterView) -> dpp.Footprint | None:
        self.views.append(cluster)
        if not self.DECLARE:
            return None
        return dpp.Footprint(
            members=tuple(
                dpp.MemberFootprint(
                    name=f"copy-{n}", volumes=(self._claim(n, spec),), anti_affinity=self.RULE
                )
                for n in range(3)
            )
        )

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        for n in range(3):
            ctx.members.ensure(
                f"copy-{n}", volumes=[self._claim(n, request.spec)], anti_affinity=self.RULE
            )

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        for member in ctx.members.list():
            ctx.members.delete(member.name)
