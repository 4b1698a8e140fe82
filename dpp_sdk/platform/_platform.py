"""The mock Data Persistence Platform: catalog, instances, operations, faults, maintenance.

:class:`Platform` is the public interface. The conformance suite, the CLI and the HTTP gateway
all drive it through the same methods. Providers reach it only through the
:class:`~dpp_sdk.InstanceContext` it hands them.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import math
import os
import re
import secrets as _secrets
import threading
import traceback
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

import attrs

from dpp_sdk.contract import (
    AntiAffinity,
    ClusterView,
    ComponentInfo,
    ConfigureRequest,
    Conflict,
    DataProbe,
    DataUnavailable,
    DecommissionRequest,
    DiskInfo,
    DppError,
    EndpointInfo,
    FailureEvent,
    FailureKind,
    HealthCheck,
    HealthReport,
    HealthStatus,
    HostInfo,
    IncompleteProvider,
    InstanceInfo,
    InstanceSpec,
    InstanceStatus,
    MaintenanceMode,
    MaintenanceRequest,
    Manifest,
    MemberInfo,
    NotFound,
    Operation,
    OperationError,
    OperationFailed,
    OperationState,
    PermanentError,
    PlacementFailed,
    Problem,
    ProvisionRequest,
    QuotaExceeded,
    Redundancy,
    ScaleRequest,
    Secret,
    SecretInfo,
    ServiceProvider,
    TemporaryError,
    ValidationError,
    VetoReason,
    VolumeClaim,
    VolumeInfo,
    resolve_instance_spec,
    structure,
    unstructure,
    validate_document,
    validate_manifest,
)
from dpp_sdk.contract._errors import count
from dpp_sdk.platform import _placement
from dpp_sdk.platform._catalog import load_provider_class, normalise_ref
from dpp_sdk.platform._clock import Clock, SystemClock
from dpp_sdk.platform._cluster import Cluster, PlacementError
from dpp_sdk.platform._cluster import QuotaExceeded as _ClusterQuotaExceeded
from dpp_sdk.platform._config import ClusterConfig, parse_config
from dpp_sdk.platform._context import PlatformContext
from dpp_sdk.platform._models import (
    AuditRecord,
    ClusterHealth,
    DiskUsage,
    Event,
    InstanceHealth,
    InstanceImpact,
    InstanceUsage,
    MaintenancePrecheck,
    MaintenanceResult,
    PlatformStatus,
    ResourceReport,
    ServiceInfo,
    ServiceVersion,
    Veto,
)
from dpp_sdk.platform._policies import POLICIES, Policy
from dpp_sdk.platform._storage import CHUNK, Scheme, VolumeStore
from dpp_sdk.platform._storage import DataUnavailable as _StoreUnavailable
from dpp_sdk.platform._store import Store

__all__ = ["MaintenanceVetoed", "Platform"]

T = TypeVar("T")
JSON = Any

LOG_NAME = "datapersistence.log"
_RESOURCE_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_INSTANCE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,62}$")
_BUSY = {
    InstanceStatus.PROVISIONING,
    InstanceStatus.CONFIGURING,
    InstanceStatus.SCALING,
    InstanceStatus.DECOMMISSIONING,
}
_GIB = 1024**3
MIN_RETRY_DELAY = 0.1  # seconds; the shortest wait between two attempts of a verb
MIN_SECRET_LENGTH = 6  # characters; shorter values could not be redacted reliably
_RESUMABLE = frozenset({"provision", "configure", "scale", "decommission"})

# Platforms alive in this process, so recovery never steals an operation a sibling runs.
_LIVE_OWNERS: weakref.WeakValueDictionary[str, Platform] = weakref.WeakValueDictionary()


class MaintenanceVetoed(Conflict):
    """Entering maintenance was refused by one or more providers. ``vetoes`` says who and why."""

    def __init__(self, host: str, vetoes: Sequence[Veto]) -> None:
        self.host = host
        self.vetoes = tuple(vetoes)
        listed = "; ".join(f"{v.instance}: {v.reason.value} ({v.message})" for v in self.vetoes)
        super().__init__(f"maintenance of {host!r} vetoed: {listed}")


def _process_start(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot, from /proc), or "" if unknown.

    With the pid it names a process uniquely: a pid reused by a later process has another
    start time, so an operation of the dead one is not mistaken for a live one."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
            # Field 22 (starttime); the command name in field 2 may contain spaces.
            return stat.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _owner_tag() -> str:
    """``pid:start:token`` naming this platform object in this process."""
    pid = os.getpid()
    return f"{pid}:{_process_start(pid)}:{uuid.uuid4().hex}"


def _owner_alive(owner: str) -> bool:
    """Whether the platform object that owns an operation may still be running it."""
    if owner in _LIVE_OWNERS:
        return True
    pid_text, _, rest = owner.partition(":")
    start, _, _token = rest.partition(":")
    try:
        pid = int(pid_text)
    except ValueError:
        return False
    if pid == os.getpid():
        return False  # same process, and not a live platform: its owner is gone
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    # Alive, unless the pid now belongs to a process that started later.
    now = _process_start(pid)
    return not (start and now and now != start)


def _scheme_for(policy: Policy) -> Scheme:
    if policy.kind == "mirror":
        return Scheme(kind="mirror", replicas=policy.replicas, witnesses=policy.witnesses)
    if policy.kind == "erasure":
        return Scheme(kind="erasure", k=policy.k, m=policy.m)
    return Scheme(kind="single")


def _component_bytes(policy: Policy, role: str, extent: int) -> int:
    """Bytes one component holds for a volume written up to ``extent``."""
    if role == "witness":
        return 0
    if policy.kind == "erasure":
        stripes = -(-extent // (policy.k * CHUNK))
        return stripes * CHUNK
    return extent


def _placements(
    vol: Mapping[str, Any], sizes: Sequence[float] | None = None
) -> list[_placement.ComponentPlacement]:
    """A volume document's components as placements (with new ``sizes`` when given)."""
    return [
        _placement.ComponentPlacement(
            index=c["index"],
            role=c["role"],
            host=c["host"],
            disk=c["disk"],
            reserved_gb=c["reserved_gb"] if sizes is None else sizes[c["index"]],
        )
        for c in vol["components"]
    ]


def _parse_time(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text)


def _first_line(exc: BaseException) -> str:
    """The first line of an error's message, or its type when the message is empty."""
    lines = str(exc).splitlines()
    return lines[0] if lines else type(exc).__name__


def _check_size(path: str, size_gb: object) -> None:
    if (
        isinstance(size_gb, bool)
        or not isinstance(size_gb, int | float)
        or not math.isfinite(size_gb)
        or size_gb <= 0
    ):
        raise ValidationError.single(path, size_gb, "must be a finite number of GB > 0")


def _check_member_request(volumes: Sequence[object], anti_affinity: object, labels: object) -> None:
    """Every problem with a members.ensure request, before anything is stored."""
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, claim in enumerate(volumes):
        if not isinstance(claim, VolumeClaim):
            problems.append(
                Problem(path=f"$.volumes[{i}]", value=repr(claim), message="must be a VolumeClaim")
            )
            continue
        if claim.name in seen:
            problems.append(
                Problem(path=f"$.volumes[{i}].name", value=claim.name, message="claimed twice")
            )
        seen.add(claim.name)
        try:
            _check_size(f"$.volumes[{i}].size_gb", claim.size_gb)
        except ValidationError as exc:
            problems.extend(exc.problems)
    if anti_affinity is not None:
        if not isinstance(anti_affinity, AntiAffinity):
            problems.append(
                Problem(
                    path="$.anti_affinity",
                    value=repr(anti_affinity),
                    message="must be a dpp_sdk.AntiAffinity",
                )
            )
        else:
            if anti_affinity.scope not in ("host", "fault-domain"):
                problems.append(
                    Problem(
                        path="$.anti_affinity.scope",
                        value=anti_affinity.scope,
                        message="must be 'host' or 'fault-domain'",
                    )
                )
            required: object = anti_affinity.required  # partners' code may not be typed
            if not isinstance(required, bool):
                problems.append(
                    Problem(
                        path="$.anti_affinity.required",
                        value=required,
                        message="must be true or false",
                    )
                )
            if not (isinstance(anti_affinity.group, str) and anti_affinity.group):
                problems.append(
                    Problem(
                        path="$.anti_affinity.group",
                        value=anti_affinity.group,
                        message="must be a non-empty string",
                    )
                )
    if not isinstance(labels, Mapping):
        problems.append(Problem(path="$.labels", value=repr(labels), message="must be a mapping"))
    else:
        for key, value in labels.items():
            if not (isinstance(key, str) and key and isinstance(value, str)):
                problems.append(
                    Problem(
                        path=f"$.labels.{key}",
                        value=value,
                        message="labels map non-empty strings to strings",
                    )
                )
    if problems:
        raise ValidationError(
            f"member request is invalid ({count(len(problems), 'problem')})", problems
        )


def _check_request_types(*, capacity_gb: object, parameters: object) -> None:
    """Refuse arguments of the wrong type with a ValidationError naming them."""
    problems = []
    if capacity_gb is not None and (
        isinstance(capacity_gb, bool) or not isinstance(capacity_gb, int)
    ):
        problems.append(
            Problem(path="$.capacity_gb", value=capacity_gb, message="must be a whole number of GB")
        )
    if parameters is not None and not isinstance(parameters, Mapping):
        problems.append(
            Problem(
                path="$.parameters",
                value=repr(parameters),
                message="must be a mapping of parameter names to values",
            )
        )
    if problems:
        raise ValidationError(f"request is invalid ({count(len(problems), 'problem')})", problems)


def _maintenance_mode(mode: MaintenanceMode | str) -> MaintenanceMode:
    try:
        return MaintenanceMode(mode)
    except ValueError:
        raise ValidationError.single(
            "$.mode", mode, f"must be one of {[m.value for m in MaintenanceMode]}"
        ) from None


def _check_resource_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not _RESOURCE_NAME.fullmatch(name):
        raise ValidationError.single(
            f"$.{kind}.name",
            name,
            "must be 1-63 lower-case letters, digits or dashes, starting and ending with a "
            "letter or digit",
        )


class _ScrubSecrets(logging.Filter):
    """Redacts secret values from every log record; a provider's leak becomes an event."""

    def __init__(self, platform: Platform) -> None:
        super().__init__()
        self._platform = weakref.ref(platform)

    def filter(self, record: logging.LogRecord) -> bool:
        platform = self._platform()
        if platform is None:
            return True
        text = record.getMessage()
        scrubbed = platform._scrub(text)
        if scrubbed != text:
            record.msg, record.args = scrubbed, None
            if getattr(record, "provider", False):
                target = str(getattr(record, "target", "platform"))
                platform._event(
                    "secret-leak",
                    target,
                    f"a secret value appeared in the provider log of instance {target!r}; "
                    "it was redacted",
                    where="the provider log",
                )
        return True


class _ScrubbingFormatter(logging.Formatter):
    """Formats a record, then redacts secrets from all of it (tracebacks and stacks too)."""

    def __init__(self, platform: Platform) -> None:
        super().__init__(
            "%(asctime)s %(levelname)s [%(target)s] %(message)s", defaults={"target": "platform"}
        )
        self._platform = weakref.ref(platform)

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        platform = self._platform()
        return text if platform is None else platform._scrub(text)


class Platform:
    """A local, faithful simulation of a Data Persistence Platform.

    Open one with :meth:`open`: on a state directory (SQLite plus volume bytes; survives
    restarts and crashes) or in memory (``state_dir=None``; fast, for tests). Thread-safe.

    Mutating methods run an :class:`~dpp_sdk.Operation` to completion and return it; when it
    ends ``failed`` they raise :class:`~dpp_sdk.OperationFailed` carrying it. Invalid requests
    raise :class:`~dpp_sdk.ValidationError` listing every problem, before anything is
    allocated.
    """

    def __init__(
        self,
        *,
        state_dir: Path | None,
        config: ClusterConfig | None,
        clock: Clock | None = None,
        principal: str = "admin",
        operation_timeout: float = 600.0,
        max_backoff: float = 60.0,
        recover: bool = True,
    ) -> None:
        self.state_dir = state_dir
        self.clock = clock or SystemClock()
        self.principal = principal
        self.operation_timeout = operation_timeout
        self.max_backoff = max_backoff
        self._store = Store(state_dir)
        self._lock = self._store.lock
        self._bytes = VolumeStore(None if state_dir is None else state_dir / "volumes")
        self._providers: dict[str, ServiceProvider] = {}
        self._owner = _owner_tag()
        _LIVE_OWNERS[self._owner] = self
        self._log = logging.Logger("dpp.platform", logging.INFO)
        self._log_handler: logging.Handler | None = None
        if state_dir is not None:
            handler = logging.FileHandler(state_dir / LOG_NAME, encoding="utf-8")
            handler.setFormatter(_ScrubbingFormatter(self))
            self._log.addHandler(handler)
            self._log_handler = handler
        else:
            self._log.addHandler(logging.NullHandler())
        self._secret_values: set[str] = set()
        self._secrets_version: tuple[int, int] | None = None
        self._secrets_guard = threading.Lock()
        self._log.addFilter(_ScrubSecrets(self))
        self._init_config(config)
        self._cluster_cache: tuple[tuple[int, int], Cluster] | None = None
        if recover:
            self.recover()

    # ================================================================== lifecycle

    @classmethod
    def open(
        cls,
        state_dir: str | os.PathLike[str] | None = None,
        *,
        config: ClusterConfig | None = None,
        clock: Clock | None = None,
        principal: str = "admin",
        operation_timeout: float = 600.0,
        recover: bool = True,
    ) -> Platform:
        """Open (creating if needed) a platform on ``state_dir``, or in memory when None.

        ``config`` shapes a new platform (default: 4 hosts); on an existing state directory it
        must match the stored configuration or be None. With ``recover`` (the default),
        operations a dead process left in flight are resumed or failed before this returns
        (see :meth:`recover`); a read-only tool may pass False and leave that to the next
        writer.
        """
        path = None if state_dir is None else Path(state_dir)
        return cls(
            state_dir=path,
            config=config,
            clock=clock,
            principal=principal,
            operation_timeout=operation_timeout,
            recover=recover,
        )

    def close(self) -> None:
        """Release the database and the log file."""
        _LIVE_OWNERS.pop(self._owner, None)
        if self._log_handler is not None:
            self._log.removeHandler(self._log_handler)
            self._log_handler.close()
            self._log_handler = None
        self._store.close()

    def __enter__(self) -> Platform:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def log_path(self) -> Path | None:
        """The platform log file (``datapersistence.log``), or None in memory."""
        return None if self.state_dir is None else self.state_dir / LOG_NAME

    @property
    def config(self) -> ClusterConfig:
        """The cluster configuration this platform was created with."""
        return self._config

    def _init_config(self, config: ClusterConfig | None) -> None:
        stored = self._store.get_meta("config")
        if stored is None:
            self._config = config or ClusterConfig.default()
            with self._store.transaction():
                self._store.set_meta("config", self._config.to_ini())
                self._store.set_meta(
                    "cluster", json.dumps(Cluster.from_config(self._config).to_dict())
                )
            return
        self._config = parse_config(stored, source="stored configuration")
        if config is not None and config != self._config:
            raise Conflict(
                f"state directory {self.state_dir} already holds a platform with a different "
                "cluster configuration; use a new --state-dir or omit --config"
            )

    # ================================================================== cluster state

    def _cluster(self) -> Cluster:
        """The current cluster, shared and READ-ONLY: change it only through :meth:`_mutation`.

        Cached until another process commits or a transaction of ours rolls back."""
        with self._lock:
            version = self._store.data_version()
            if self._cluster_cache is None or self._cluster_cache[0] != version:
                raw = self._store.get_meta("cluster")
                assert raw is not None
                self._cluster_cache = (version, Cluster.from_dict(json.loads(raw)))
            return self._cluster_cache[1]

    @contextlib.contextmanager
    def _mutation(self) -> Iterator[Cluster]:
        """One atomic change of cluster and documents; yields a private copy of the cluster
        to change, saved (and made the cached one) on success."""
        with self._lock, self._store.transaction():
            cluster = Cluster.from_dict(self._cluster().to_dict())
            yield cluster
            self._store.set_meta("cluster", json.dumps(cluster.to_dict()))
            self._cluster_cache = (self._store.data_version(), cluster)
            self._capacity_warning(cluster)

    def _capacity_warning(self, cluster: Cluster) -> None:
        warned = self._store.get_meta("capacity_warned") == "1"
        if cluster.capacity_warning() and not warned:
            self._store.set_meta("capacity_warned", "1")
            self._event(
                "capacity-warning",
                "cluster",
                f"pool use {cluster.pool_used_percent():.1f}% reached the warning threshold "
                f"of {cluster.capacity_warning_percent}%",
            )
        elif warned and not cluster.capacity_warning():
            self._store.set_meta("capacity_warned", "0")
            self._event("capacity-ok", "cluster", "pool use is back under the warning threshold")

    def _cluster_view(self) -> ClusterView:
        cluster = self._cluster()
        return ClusterView(hosts=tuple(self._host_info(cluster, h) for h in cluster.hosts))

    def _host_info(self, cluster: Cluster, name: str) -> HostInfo:
        host = cluster.host(name)
        disks = tuple(
            DiskInfo(
                name=d.name,
                kind=d.kind,
                size_gb=d.size_gb,
                free_gb=round(cluster.free_on(d), 6),
                state=d.state,
            )
            for d in host.disks.values()
        )
        return HostInfo(
            name=host.name, fault_domain=host.fault_domain, state=host.state, disks=disks
        )

    # ================================================================== audit, events, log

    def _audit(
        self,
        action: str,
        target: str,
        outcome: Literal["succeeded", "failed", "refused"],
        detail: str = "",
    ) -> None:
        self._store.append(
            "audit",
            {
                "time": self.clock.now().isoformat(),
                "principal": self.principal,
                "action": action,
                "target": target,
                "outcome": outcome,
                "detail": self._scrub(detail),
            },
        )
        self._log.info(
            "audit %s %s by %s: %s%s",
            action,
            target,
            self.principal,
            outcome,
            f" ({self._scrub(detail)})" if detail else "",
            extra={"target": target},
        )

    def _event(self, kind: str, target: str, message: str, **data: JSON) -> None:
        self._store.append(
            "events",
            {
                "time": self.clock.now().isoformat(),
                "kind": kind,
                "target": target,
                "message": self._scrub(message),
                "data": data,
            },
        )
        self._log.warning("%s: %s", kind, self._scrub(message), extra={"target": target})

    def audit(self, *, limit: int | None = None) -> list[AuditRecord]:
        """The audit trail, oldest first (the last ``limit`` records when given)."""
        return [structure(r, AuditRecord) for r in self._store.tail("audit", limit=limit)]

    def events(self, *, since: int = 0, kind: str | None = None) -> list[Event]:
        """Platform events after sequence number ``since`` (failures, warnings, leaks...)."""
        records = [structure(r, Event) for r in self._store.tail("events", since=since)]
        return [e for e in records if kind is None or e.kind == kind]

    def _known_secrets(self) -> frozenset[str]:
        """Every secret value this platform has seen, deleted ones included.

        Refreshed from the store when another process may have added some, but only if the
        platform lock is free right now: scrubbing (e.g. a provider's worker thread logging)
        must never wait for, or deadlock on, the lock held by a running verb."""
        if self._lock.acquire(blocking=False):
            try:
                version = self._store.data_version()
                if version != self._secrets_version:
                    values = {
                        d["value"]
                        for d in self._store.select("secret")
                        if isinstance(d.get("value"), str)
                    }
                    with self._secrets_guard:
                        self._secret_values |= values
                    self._secrets_version = version
            finally:
                self._lock.release()
        with self._secrets_guard:
            return frozenset(self._secret_values)

    def _scrub(self, text: str) -> str:
        """Replace any secret value in ``text`` with asterisks."""
        if not text:
            return text
        for value in sorted(self._known_secrets(), key=len, reverse=True):
            if value in text:
                text = text.replace(value, "********")
        return text

    def _scrub_detecting(self, text: str, instance: str, where: str) -> str:
        scrubbed = self._scrub(text)
        if scrubbed != text:
            self._event(
                "secret-leak",
                instance,
                f"a secret value appeared in {where} of instance {instance!r}; it was redacted",
                where=where,
            )
        return scrubbed

    def _instance_logger(self, instance: str) -> logging.LoggerAdapter[logging.Logger]:
        class _Adapter(logging.LoggerAdapter[logging.Logger]):
            def process(self, msg: Any, kwargs: Any) -> tuple[Any, Any]:
                kwargs.setdefault("extra", {}).update(target=instance, provider=True)
                return msg, kwargs

        return _Adapter(self._log, {"target": instance})

    # ================================================================== catalog

    def _provider(self, ref: str) -> ServiceProvider:
        with self._lock:
            provider = self._providers.get(ref)
            if provider is None:
                provider = load_provider_class(ref)()
                self._providers[ref] = provider
            return provider

    def register_service(self, ref: str | type[ServiceProvider]) -> ServiceInfo:
        """Register (or re-register) the provider named by ``ref`` in the catalog.

        ``ref`` is ``module:Class``, a provider directory (with ``dpp-provider.toml``), or a
        provider class. The provider's manifest is validated; every problem is reported at
        once. A new version becomes the active one; registering the same version again
        refreshes it.
        """
        if isinstance(ref, type):
            ref_text = f"{ref.__module__}:{ref.__qualname__}"
        else:
            ref_text = normalise_ref(ref)
        try:
            provider_cls = load_provider_class(ref_text)
            try:
                provider = provider_cls()
            except Exception as exc:  # IncompleteProvider (names the verbs), or a failing __init__
                message = (
                    str(exc)
                    if isinstance(exc, IncompleteProvider)
                    else f"cannot be instantiated: {type(exc).__name__}: {exc}"
                )
                raise ValidationError.single("$.provider", ref_text, message) from exc
            try:
                manifest = provider.register(self._cluster_view())
            except DppError:
                raise
            except Exception as exc:  # a bug in register(): reported, not a traceback
                raise ValidationError.single(
                    "$.provider",
                    ref_text,
                    f"register() raised {type(exc).__name__}: {exc}",
                ) from exc
            if not isinstance(manifest, Manifest):
                raise ValidationError.single(
                    "$.register()",
                    type(manifest).__name__,
                    f"{provider_cls.__qualname__}.register must return a dpp_sdk.Manifest",
                )
            validate_manifest(manifest)
        except Exception as exc:  # every refusal is audited, whatever raised it
            self._audit("service.register", ref_text, "refused", _first_line(exc))
            raise
        with self._lock:
            known = self._store.get("service", "", manifest.name)
            if known is None and self._store.count("service") >= self._config.max_services:
                self._audit("service.register", manifest.name, "refused", "max_services")
                raise QuotaExceeded(
                    f"max_services is {self._config.max_services} and that many services are "
                    f"registered; {manifest.name!r} cannot be added",
                    limit="max_services",
                    used=self._config.max_services,
                    asked=1,
                    left=0,
                )
        with self._lock, self._store.transaction():
            doc = self._store.get("service", "", manifest.name)
            if doc is None and self._store.count("service") >= self._config.max_services:
                raise Conflict(
                    f"max_services ({self._config.max_services}) was reached by another "
                    f"process while {manifest.name!r} was being registered"
                )
            versions = (
                []
                if doc is None
                else [v for v in doc["versions"] if v["version"] != manifest.version]
            )
            versions.append(
                unstructure(
                    ServiceVersion(
                        version=manifest.version,
                        provider=ref_text,
                        manifest=manifest,
                        registered_at=self.clock.now(),
                    )
                )
            )
            new = {
                "name": manifest.name,
                "enabled": True if doc is None else doc["enabled"],
                "active_version": manifest.version,
                "versions": versions,
            }
            self._store.put("service", "", manifest.name, new)
            self._providers[ref_text] = provider
            self._audit(
                "service.register", manifest.name, "succeeded", f"version {manifest.version}"
            )
        return self.get_service(manifest.name)

    def _service_doc(self, name: str) -> dict[str, Any]:
        doc = self._store.get("service", "", name)
        if doc is None:
            known = [d["name"] for d in self._store.select("service")]
            raise NotFound("service", name, f"registered services: {known or 'none'}")
        return dict(doc)

    def _service_info(self, doc: Mapping[str, Any]) -> ServiceInfo:
        versions = tuple(structure(v, ServiceVersion) for v in doc["versions"])
        active = next(v for v in versions if v.version == doc["active_version"])
        count = sum(1 for i in self._store.select("instance") if i["service"] == doc["name"])
        return ServiceInfo(
            name=doc["name"],
            display_name=active.manifest.display_name,
            vendor=active.manifest.vendor,
            category=active.manifest.category.value,
            enabled=doc["enabled"],
            active_version=doc["active_version"],
            versions=versions,
            instances=count,
        )

    def get_service(self, name: str) -> ServiceInfo:
        """The catalog entry of service ``name``."""
        return self._service_info(self._service_doc(name))

    def list_services(self) -> list[ServiceInfo]:
        """Every registered service, by name."""
        return [self._service_info(d) for d in self._store.select("service")]

    def _set_enabled(self, name: str, enabled: bool) -> ServiceInfo:
        with self._lock, self._store.transaction():
            doc = self._service_doc(name)
            doc["enabled"] = enabled
            self._store.put("service", "", name, doc)
            self._audit("service.enable" if enabled else "service.disable", name, "succeeded")
        return self.get_service(name)

    def activate_version(self, name: str, version: str) -> ServiceInfo:
        """Make registered ``version`` of service ``name`` the active one (e.g. a rollback).

        New instances use the active version; existing instances keep the version they were
        created with."""
        with self._lock, self._store.transaction():
            doc = self._service_doc(name)
            known = [v["version"] for v in doc["versions"]]
            if version not in known:
                self._audit("service.activate", name, "refused", f"unknown version {version}")
                raise ValidationError.single(
                    "$.version", version, f"not a registered version of {name}; one of {known}"
                )
            doc["active_version"] = version
            self._store.put("service", "", name, doc)
            self._audit("service.activate", name, "succeeded", f"version {version}")
        return self.get_service(name)

    def enable_service(self, name: str) -> ServiceInfo:
        """Allow new instances of service ``name``."""
        return self._set_enabled(name, True)

    def disable_service(self, name: str) -> ServiceInfo:
        """Refuse new instances of service ``name`` (existing ones keep running)."""
        return self._set_enabled(name, False)

    def _active(self, service: str) -> tuple[ServiceVersion, ServiceProvider]:
        info = self.get_service(service)
        version = info.active
        return version, self._provider(version.provider)

    def provider_for(self, instance: str) -> ServiceProvider:
        """The provider object serving ``instance`` (for the conformance suite)."""
        doc = self._instance_doc(instance)
        return self._provider(self._version_of(doc).provider)

    def _version_of(self, doc: Mapping[str, Any]) -> ServiceVersion:
        service = self._service_doc(doc["service"])
        for v in service["versions"]:
            if v["version"] == doc["service_version"]:
                return structure(v, ServiceVersion)
        raise NotFound("service version", f"{doc['service']} {doc['service_version']}")

    # ================================================================== instance documents

    def _instance_doc(self, name: str) -> dict[str, Any]:
        doc = self._store.get("instance", "", name)
        if doc is None:
            raise NotFound("instance", name)
        return dict(doc)

    def _instance_spec(self, name: str) -> InstanceSpec:
        return structure(self._instance_doc(name)["spec"], InstanceSpec)

    def _effective_component_state(
        self, cluster: Cluster, comp: Mapping[str, Any]
    ) -> Literal["active", "absent", "stale", "lost"]:
        state: Literal["active", "absent", "stale", "lost"] = comp["state"]
        if state == "lost":
            return "lost"
        host = cluster.host(comp["host"])
        disk_state = host.disks[comp["disk"]].state
        if disk_state == "failed":
            return "lost"
        if host.state != "connected" or disk_state == "maintenance":
            return "absent"
        return state

    def _available(self, cluster: Cluster, vol: Mapping[str, Any]) -> frozenset[int]:
        return frozenset(
            c["index"]
            for c in vol["components"]
            if self._effective_component_state(cluster, c) == "active"
        )

    def _volume_info(self, cluster: Cluster, vol: Mapping[str, Any]) -> VolumeInfo:
        policy = POLICIES[vol["policy"]]
        scheme = _scheme_for(policy)
        comps = tuple(
            ComponentInfo(
                index=c["index"],
                role=c["role"],
                host=c["host"],
                disk=c["disk"],
                state=self._effective_component_state(cluster, c),
            )
            for c in vol["components"]
        )
        available = frozenset(c.index for c in comps if c.state == "active")
        state: Literal["healthy", "degraded", "inaccessible"]
        if not scheme.is_accessible(available):
            state = "inaccessible"
        elif len(available) < len(comps):
            state = "degraded"
        else:
            state = "healthy"
        return VolumeInfo(
            name=vol["name"],
            size_gb=vol["size_gb"],
            policy=vol["policy"],
            member=vol.get("member"),
            state=state,
            components=comps,
        )

    def _member_info(self, cluster: Cluster, doc: Mapping[str, Any]) -> MemberInfo:
        host_state = cluster.host(doc["host"]).state
        state: Literal["running", "unreachable", "stopped"] = (
            "running"
            if host_state == "connected"
            else "unreachable"
            if host_state == "failed"
            else "stopped"
        )
        return MemberInfo(
            name=doc["name"],
            host=doc["host"],
            state=state,
            volumes=tuple(doc["volumes"]),
            labels=dict(doc["labels"]),
            anti_affinity=None
            if doc.get("anti_affinity") is None
            else structure(doc["anti_affinity"], AntiAffinity),
        )

    def _instance_info(
        self, doc: Mapping[str, Any], cluster: Cluster | None = None
    ) -> InstanceInfo:
        cluster = cluster or self._cluster()
        name = doc["name"]
        status = InstanceStatus(doc["status"])
        health = HealthStatus(doc.get("health", "green"))
        if status is InstanceStatus.READY and health is not HealthStatus.GREEN:
            status = InstanceStatus.DEGRADED
        return InstanceInfo(
            name=name,
            service=doc["service"],
            service_version=doc["service_version"],
            spec=structure(doc["spec"], InstanceSpec),
            status=status,
            health=health,
            volumes=tuple(
                self._volume_info(cluster, v) for v in self._store.select("volume", name)
            ),
            members=tuple(
                self._member_info(cluster, m) for m in self._store.select("member", name)
            ),
            endpoints=tuple(structure(e, EndpointInfo) for e in self._endpoints_docs(name)),
            secrets=tuple(SecretInfo(name=s["name"]) for s in self._store.select("secret", name)),
            created_at=_parse_time(doc["created_at"]),
            updated_at=_parse_time(doc["updated_at"]),
        )

    def _endpoints_docs(self, instance: str) -> list[dict[str, Any]]:
        return [
            {k: v for k, v in d.items() if k not in ("created_by",)}
            for d in self._store.select("endpoint", instance)
        ]

    def get_instance(self, name: str) -> InstanceInfo:
        """The instance document of ``name``."""
        with self._lock:
            return self._instance_info(self._instance_doc(name))

    def list_instances(self, *, service: str | None = None) -> list[InstanceInfo]:
        """Every instance (of ``service`` when given), by name."""
        with self._lock:
            cluster = self._cluster()
            return [
                self._instance_info(d, cluster)
                for d in self._store.select("instance")
                if service is None or d["service"] == service
            ]

    # ================================================================== resources (context side)

    def _record(self, instance: str, kind: str, name: str, op_id: str) -> None:
        """Note in the leak ledger that ``instance`` came to hold ``kind/name``."""
        uid = self._instance_doc(instance)["uid"]
        self._store.put(
            "ledger",
            uid,
            f"{kind}/{name}/{op_id}/{uuid.uuid4().hex[:8]}",
            {"kind": kind, "name": name, "operation": op_id, "time": self.clock.now().isoformat()},
        )

    def ledger(self, instance_uid: str) -> list[dict[str, Any]]:
        """Every volume, member, endpoint and secret an instance ever held.

        ``instance_uid`` is in the provision operation's ``result["instance_uid"]``; the
        ledger outlives the instance, so a check can compare it with what is left."""
        return list(self._store.select("ledger", instance_uid))

    def _current_op(self, instance: str) -> str:
        return str(self._instance_doc(instance).get("operation") or "")

    def _find_volume_doc(self, instance: str, name: str) -> dict[str, Any] | None:
        doc = self._store.get("volume", instance, name)
        return None if doc is None else dict(doc)

    def _volume_doc(self, instance: str, name: str) -> dict[str, Any]:
        """The volume's document; NotFound naming the instance when it has no such volume."""
        doc = self._find_volume_doc(instance, name)
        if doc is None:
            raise NotFound("volume", name, f"instance {instance!r} has no such volume")
        return doc

    def _find_volume(self, instance: str, name: str) -> VolumeInfo | None:
        with self._lock:
            doc = self._find_volume_doc(instance, name)
            return None if doc is None else self._volume_info(self._cluster(), doc)

    def _get_volume(self, instance: str, name: str) -> VolumeInfo:
        with self._lock:
            return self._volume_info(self._cluster(), self._volume_doc(instance, name))

    def _list_volumes(self, instance: str) -> list[VolumeInfo]:
        with self._lock:
            cluster = self._cluster()
            return [self._volume_info(cluster, v) for v in self._store.select("volume", instance)]

    def _policy(self, instance: str, policy: str | None, field: str) -> Policy:
        name = policy or self._instance_spec(instance).policy
        found = POLICIES.get(name)
        if found is None:
            raise ValidationError.single(field, name, f"unknown policy; one of {sorted(POLICIES)}")
        return found

    def _place_volume_in(
        self,
        cluster: Cluster,
        instance: str,
        name: str,
        *,
        size_gb: float,
        policy: Policy,
        member: Mapping[str, Any] | None,
    ) -> dict[str, Any]:
        """Place and reserve a new volume inside an open mutation; returns its document."""
        _check_size("$.volume.size_gb", size_gb)
        if policy.kind in ("host-local", "direct") and member is None:
            raise ValidationError.single(
                "$.volume.member",
                None,
                f"policy {policy.name} keeps a volume on one host, so it needs the member that "
                "uses it (pass member=..., or claim it in members.ensure(volumes=...))",
            )
        volume_id = f"v-{uuid.uuid4().hex[:16]}"
        op_id = self._current_op(instance)
        try:
            _placement.check_quota(cluster, policy.raw_gb(size_gb))
            comps = _placement.place_volume(
                cluster, policy, size_gb, host=None if member is None else member["host"]
            )
            cluster.reserve(volume_id, comps)
        except PlacementError as exc:
            raise PlacementFailed(
                exc.reason, f"volume {name!r} of {instance!r}: {exc.message}"
            ) from exc
        except _ClusterQuotaExceeded as exc:
            raise QuotaExceeded(
                f"volume {name!r} of {instance!r}: {exc}",
                limit="resource_quota",
                used=exc.used_gb,
                asked=exc.asked_gb,
                left=max(0.0, exc.quota_gb - exc.used_gb),
            ) from exc
        doc = {
            "name": name,
            "instance": instance,
            "id": volume_id,
            "size_gb": float(size_gb),
            "policy": policy.name,
            "member": None if member is None else member["name"],
            "extent": 0,
            "created_by": op_id,
            "components": [
                {
                    "index": c.index,
                    "role": c.role,
                    "host": c.host,
                    "disk": c.disk,
                    "reserved_gb": c.reserved_gb,
                    "state": "active",
                }
                for c in comps
            ],
        }
        self._store.put("volume", instance, name, doc)
        self._record(instance, "volume", name, op_id)
        return doc

    def _ensure_volume(
        self,
        instance: str,
        name: str,
        *,
        size_gb: float,
        policy: str | None,
        member: str | None,
    ) -> VolumeInfo:
        _check_resource_name("volume", name)
        with self._lock:
            existing = self._find_volume(instance, name)
            if existing is not None:
                return existing
            pol = self._policy(instance, policy, "$.volume.policy")
            member_doc = None
            if member is not None:
                member_doc = self._store.get("member", instance, member)
                if member_doc is None:
                    raise NotFound("member", member, f"instance {instance!r} has no such member")
            with self._mutation() as cluster:
                raced = self._find_volume_doc(instance, name)
                if raced is not None:  # created meanwhile by another process
                    return self._volume_info(cluster, raced)
                doc = self._place_volume_in(
                    cluster, instance, name, size_gb=size_gb, policy=pol, member=member_doc
                )
                if member_doc is not None:
                    member_doc["volumes"] = sorted({*member_doc["volumes"], name})
                    self._store.put("member", instance, member_doc["name"], member_doc)
            return self._volume_info(self._cluster(), doc)

    def _expand_volume(self, instance: str, name: str, size_gb: float) -> VolumeInfo:
        with self._lock:
            doc = self._volume_doc(instance, name)
            _check_size("$.volume.size_gb", size_gb)
            if size_gb < doc["size_gb"]:
                raise ValidationError.single(
                    "$.volume.size_gb",
                    size_gb,
                    f"volume {name!r} is {doc['size_gb']} GB; volumes expand, they never shrink",
                )
            if size_gb == doc["size_gb"]:
                return self._volume_info(self._cluster(), doc)
            policy = POLICIES[doc["policy"]]
            sizes = policy.component_sizes_gb(size_gb)
            with self._mutation() as cluster:
                extra = policy.raw_gb(size_gb) - policy.raw_gb(doc["size_gb"])
                try:
                    _placement.check_quota(cluster, extra)
                    cluster.reserve(doc["id"], _placements(doc, sizes))
                except PlacementError as exc:
                    raise PlacementFailed(
                        exc.reason, f"expanding volume {name!r} to {size_gb} GB: {exc.message}"
                    ) from exc
                except _ClusterQuotaExceeded as exc:
                    raise QuotaExceeded(
                        f"expanding volume {name!r}: {exc}",
                        limit="resource_quota",
                        used=exc.used_gb,
                        asked=exc.asked_gb,
                        left=max(0.0, exc.quota_gb - exc.used_gb),
                    ) from exc
                doc["size_gb"] = float(size_gb)
                for c in doc["components"]:
                    c["reserved_gb"] = sizes[c["index"]]
                self._store.put("volume", instance, name, doc)
            return self._volume_info(self._cluster(), doc)

    def _delete_volume_in(self, cluster: Cluster, instance: str, doc: Mapping[str, Any]) -> None:
        cluster.release(doc["id"])
        self._store.delete("volume", instance, doc["name"])
        if doc.get("member"):
            member = self._store.get("member", instance, doc["member"])
            if member is not None:
                member["volumes"] = [v for v in member["volumes"] if v != doc["name"]]
                self._store.put("member", instance, doc["member"], member)

    def _delete_volume(self, instance: str, name: str) -> None:
        with self._lock:
            doc = self._find_volume_doc(instance, name)
            if doc is None:
                return
            with self._mutation() as cluster:
                self._delete_volume_in(cluster, instance, doc)
            self._bytes.delete_volume(doc["id"])

    def _write_volume(self, instance: str, name: str, offset: int, data: bytes) -> None:
        with self._lock:
            doc = self._volume_doc(instance, name)
            if not isinstance(data, bytes | bytearray | memoryview):
                raise ValidationError.single(
                    "$.data", type(data).__name__, "must be bytes (encode text first)"
                )
            self._check_range(doc, offset, len(data))
            scheme = _scheme_for(POLICIES[doc["policy"]])
            available = self._available(self._cluster(), doc)
            if not scheme.is_accessible(available):
                raise DataUnavailable(
                    f"volume {name!r} of {instance!r} is inaccessible: "
                    f"{scheme.why_inaccessible(available)}"
                )
            # Record first what the write will miss and how far it reaches, then write: a
            # crash in between leaves a component marked stale that is not, never the reverse.
            missing = scheme.data_components - available
            changed = False
            for c in doc["components"]:
                if c["index"] in missing and c["state"] == "active":
                    c["state"] = "stale"
                    changed = True
            end = offset + len(data)
            if end > doc["extent"]:
                doc["extent"] = end
                changed = True
            if changed:
                self._store.put("volume", instance, name, doc)
            try:
                self._bytes.write(doc["id"], scheme, offset, bytes(data), available)
            except _StoreUnavailable as exc:
                raise DataUnavailable(f"volume {name!r} of {instance!r}: {exc}") from exc

    def _read_volume(self, instance: str, name: str, offset: int, length: int) -> bytes:
        with self._lock:
            doc = self._volume_doc(instance, name)
            self._check_range(doc, offset, length)
            scheme = _scheme_for(POLICIES[doc["policy"]])
            try:
                return self._bytes.read(
                    doc["id"], scheme, offset, length, self._available(self._cluster(), doc)
                )
            except _StoreUnavailable as exc:
                raise DataUnavailable(f"volume {name!r} of {instance!r}: {exc}") from exc

    @staticmethod
    def _check_range(doc: Mapping[str, Any], offset: int, length: int) -> None:
        for path, value in (("$.offset", offset), ("$.length", length)):
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValidationError.single(path, value, "must be an integer")
        size = int(doc["size_gb"] * _GIB)
        if offset < 0 or length < 0 or offset + length > size:
            raise ValidationError.single(
                "$.offset",
                offset,
                f"range [{offset}, {offset + length}) is outside volume {doc['name']!r} "
                f"({doc['size_gb']} GB = {size} bytes)",
            )

    # -- members

    def _find_member(self, instance: str, name: str) -> MemberInfo | None:
        with self._lock:
            doc = self._store.get("member", instance, name)
            return None if doc is None else self._member_info(self._cluster(), doc)

    def _get_member(self, instance: str, name: str) -> MemberInfo:
        found = self._find_member(instance, name)
        if found is None:
            raise NotFound("member", name, f"instance {instance!r} has no such member")
        return found

    def _list_members(self, instance: str) -> list[MemberInfo]:
        with self._lock:
            cluster = self._cluster()
            return [self._member_info(cluster, m) for m in self._store.select("member", instance)]

    def _ensure_member(
        self,
        instance: str,
        name: str,
        *,
        volumes: tuple[VolumeClaim, ...],
        host: str | None,
        anti_affinity: AntiAffinity | None,
        labels: dict[str, str],
    ) -> MemberInfo:
        _check_resource_name("member", name)
        _check_member_request(volumes, anti_affinity, labels)
        for claim in volumes:
            _check_resource_name("volume", claim.name)
        with self._lock:
            doc = self._store.get("member", instance, name)
            policies = {
                c.name: self._policy(instance, c.policy, "$.volumes.policy") for c in volumes
            }
            if doc is None:
                cluster = self._cluster()
                if host is not None and host not in cluster.hosts:
                    raise NotFound("host", host, f"hosts: {', '.join(cluster.hosts)}")
                existing = {
                    m["name"]: _placement.MemberPlacementInfo(
                        host=m["host"],
                        group=None
                        if m.get("anti_affinity") is None
                        else m["anti_affinity"]["group"],
                    )
                    for m in self._store.select("member", instance)
                }
                # Claimed volumes that already exist (kept when a member was deleted with
                # delete_volumes=False) are re-attached, never placed a second time.
                kept: dict[str, dict[str, Any]] = {}
                for claim in volumes:
                    vol = self._find_volume_doc(instance, claim.name)
                    if vol is None:
                        continue
                    owner = vol.get("member")
                    if owner and self._store.get("member", instance, owner) is not None:
                        raise Conflict(
                            f"volume {claim.name!r} of {instance!r} is attached to member "
                            f"{owner!r}; it cannot also be claimed by {name!r}"
                        )
                    if POLICIES[vol["policy"]].kind in ("host-local", "direct"):
                        volume_host = vol["components"][0]["host"]
                        if host is not None and host != volume_host:
                            raise Conflict(
                                f"volume {claim.name!r} of {instance!r} lives on {volume_host} "
                                f"({vol['policy']}); member {name!r} cannot be pinned to {host}"
                            )
                        host = volume_host
                    kept[claim.name] = vol
                fresh = [c for c in volumes if c.name not in kept]
                local = [c.size_gb for c in fresh if policies[c.name].kind == "host-local"]
                direct = [c.size_gb for c in fresh if policies[c.name].kind == "direct"]
                try:
                    chosen = _placement.place_member(
                        cluster,
                        existing=existing,
                        host=host,
                        anti_affinity=None
                        if anti_affinity is None
                        else _placement.AntiAffinity(
                            group=anti_affinity.group,
                            required=anti_affinity.required,
                            scope=anti_affinity.scope,
                        ),
                        local_volume_gb=local,
                        direct_volumes_gb=direct,
                    )
                except PlacementError as exc:
                    raise PlacementFailed(
                        exc.reason, f"member {name!r} of {instance!r}: {exc.message}"
                    ) from exc
                doc = {
                    "name": name,
                    "host": chosen,
                    "volumes": [],
                    "labels": labels,
                    "anti_affinity": None if anti_affinity is None else unstructure(anti_affinity),
                    "created_by": self._current_op(instance),
                }
                with self._mutation() as cluster:
                    self._store.put("member", instance, name, doc)
                    self._record(instance, "member", name, doc["created_by"])
                    for claim in fresh:
                        self._place_volume_in(
                            cluster,
                            instance,
                            claim.name,
                            size_gb=claim.size_gb,
                            policy=policies[claim.name],
                            member=doc,
                        )
                    for vol in kept.values():
                        vol["member"] = name
                        self._store.put("volume", instance, vol["name"], vol)
                    doc["volumes"] = sorted(c.name for c in volumes)
                    self._store.put("member", instance, name, doc)
            else:
                for claim in volumes:
                    if self._store.get("volume", instance, claim.name) is None:
                        self._ensure_volume(
                            instance,
                            claim.name,
                            size_gb=claim.size_gb,
                            policy=claim.policy,
                            member=name,
                        )
            return self._get_member(instance, name)

    def _set_member_labels(self, instance: str, name: str, labels: dict[str, str]) -> MemberInfo:
        with self._lock:
            doc = self._store.get("member", instance, name)
            if doc is None:
                raise NotFound("member", name, f"instance {instance!r} has no such member")
            _check_member_request((), None, labels)
            doc["labels"] = dict(labels)
            self._store.put("member", instance, name, doc)
            return self._member_info(self._cluster(), doc)

    def _delete_member(self, instance: str, name: str, *, delete_volumes: bool) -> None:
        with self._lock:
            doc = self._store.get("member", instance, name)
            if doc is None:
                return
            removed: list[str] = []
            with self._mutation() as cluster:
                for vol_name in doc["volumes"]:
                    vol = self._find_volume_doc(instance, vol_name)
                    if vol is None:
                        continue
                    if delete_volumes:
                        self._delete_volume_in(cluster, instance, vol)
                        removed.append(vol["id"])
                    else:
                        vol["member"] = None
                        self._store.put("volume", instance, vol_name, vol)
                self._store.delete("member", instance, name)
            for volume_id in removed:
                self._bytes.delete_volume(volume_id)

    # -- endpoints, secrets, provider state

    def _find_endpoint(self, instance: str, name: str) -> EndpointInfo | None:
        doc = self._store.get("endpoint", instance, name)
        if doc is None:
            return None
        return structure({k: v for k, v in doc.items() if k != "created_by"}, EndpointInfo)

    def _list_endpoints(self, instance: str) -> list[EndpointInfo]:
        return [structure(d, EndpointInfo) for d in self._endpoints_docs(instance)]

    def _ensure_endpoint(
        self, instance: str, name: str, *, port: int, protocol: str, member: str | None
    ) -> EndpointInfo:
        _check_resource_name("endpoint", name)
        if not (isinstance(port, int) and 1 <= port <= 65535):
            raise ValidationError.single("$.endpoint.port", port, "must be an integer 1..65535")
        if not re.fullmatch(r"[a-z][a-z0-9+.-]{0,31}", protocol or ""):
            raise ValidationError.single("$.endpoint.protocol", protocol, "must be a URL scheme")
        with self._lock:
            found = self._find_endpoint(instance, name)
            if found is not None:
                return found
            if member is not None and self._store.get("member", instance, member) is None:
                raise NotFound("member", member, f"instance {instance!r} has no such member")
            op_id = self._current_op(instance)
            address = (
                f"{member}.{instance}.svc.dpp.local"
                if member is not None
                else f"{instance}.svc.dpp.local"
            ).lower()
            doc = {
                "name": name,
                "protocol": protocol,
                "address": address,
                "port": port,
                "member": member,
                "created_by": op_id,
            }
            with self._store.transaction():
                self._store.put("endpoint", instance, name, doc)
                self._record(instance, "endpoint", name, op_id)
            return structure({k: v for k, v in doc.items() if k != "created_by"}, EndpointInfo)

    def _find_secret(self, instance: str, name: str) -> Secret | None:
        doc = self._store.get("secret", instance, name)
        return None if doc is None else Secret(doc["name"], doc["value"])

    def _list_secrets(self, instance: str) -> list[SecretInfo]:
        return [SecretInfo(name=d["name"]) for d in self._store.select("secret", instance)]

    def _ensure_secret(self, instance: str, name: str, *, value: str | None, length: int) -> Secret:
        _check_resource_name("secret", name)
        if value is None and not (isinstance(length, int) and 8 <= length <= 4096):
            raise ValidationError.single("$.secret.length", length, "must be 8..4096")
        if value is not None and not (
            isinstance(value, str) and MIN_SECRET_LENGTH <= len(value) <= 65536
        ):
            raise ValidationError.single(
                "$.secret.value",
                "********" if isinstance(value, str) else type(value).__name__,
                f"must be a string of {MIN_SECRET_LENGTH} to 65536 characters (shorter values "
                "cannot be told apart from ordinary text when logs are redacted)",
            )
        with self._lock:
            found = self._find_secret(instance, name)
            if found is not None:
                return found
            secret_value = value if value is not None else _secrets.token_urlsafe(length)[:length]
            doc = {"name": name, "value": secret_value, "created_by": self._current_op(instance)}
            with self._secrets_guard:
                self._secret_values.add(secret_value)
            with self._store.transaction():
                self._store.put("secret", instance, name, doc)
                self._record(instance, "secret", name, doc["created_by"])
            return Secret(name, secret_value)

    def _delete_doc(self, kind: str, instance: str, name: str) -> None:
        self._store.delete(kind, instance, name)

    def _provider_state(self, instance: str) -> dict[str, JSON]:
        return dict(self._instance_doc(instance).get("provider_state", {}))

    def _set_provider_state(
        self, instance: str, key: str, value: JSON, *, delete: bool = False
    ) -> None:
        if not isinstance(key, str) or not key:
            raise ValidationError.single("$.state.key", key, "must be a non-empty string")
        try:
            json.dumps(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError.single("$.state.value", repr(value), f"not JSON: {exc}") from exc
        with self._lock, self._store.transaction():
            doc = self._instance_doc(instance)
            state = dict(doc.get("provider_state", {}))
            if delete:
                state.pop(key, None)
            else:
                state[key] = value
            doc["provider_state"] = state
            self._store.put("instance", "", instance, doc)

    # ================================================================== operations

    def _new_operation(
        self,
        kind: str,
        target: str,
        request: Mapping[str, Any],
        idempotency_key: str | None,
        extra: Mapping[str, Any] | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Create an operation record, or return the one with the same idempotency key.

        Returns (record, created). Same key with a different request raises Conflict.
        """
        fingerprint = hashlib.sha256(
            json.dumps({"kind": kind, "target": target, **request}, sort_keys=True).encode()
        ).hexdigest()
        if idempotency_key is not None:
            existing = self._store.operation_by_key(idempotency_key)
            if existing is not None:
                if existing.get("fingerprint") != fingerprint:
                    raise Conflict(
                        f"idempotency key {idempotency_key!r} was used for a different request "
                        f"(operation {existing['id']}: {existing['kind']} {existing['target']})"
                    )
                return existing, False
        op = Operation(
            id=f"op-{uuid.uuid4().hex[:12]}",
            kind=kind,
            target=target,
            idempotency_key=idempotency_key,
            created_at=self.clock.now(),
        )
        record = dict(unstructure(op))
        record.update(
            {
                "fingerprint": fingerprint,
                "request": {**request, **(extra or {})},
                "owner": self._owner,
            }
        )
        self._store.put_operation(record)
        return record, True

    def _save_op(self, record: dict[str, Any], **changes: Any) -> None:
        new_state = changes.get("state")
        if (
            new_state is not None
            and new_state != record["state"]
            and not OperationState(record["state"]).can_move_to(OperationState(new_state))
        ):
            raise AssertionError(
                f"operation {record['id']}: illegal move {record['state']} -> {new_state}"
            )
        record.update(changes)
        self._store.put_operation(record)

    @staticmethod
    def _operation(record: Mapping[str, Any]) -> Operation:
        fields = {a.name for a in attrs.fields(Operation)}
        return structure({k: v for k, v in record.items() if k in fields}, Operation)

    def get_operation(self, op_id: str) -> Operation:
        """The operation ``op_id``."""
        record = self._store.get_operation(op_id)
        if record is None:
            raise NotFound("operation", op_id)
        return self._operation(record)

    def list_operations(self, *, target: str | None = None) -> list[Operation]:
        """Operations, oldest first (those on ``target`` when given)."""
        return [self._operation(r) for r in self._store.operations(target=target)]

    def _finish(self, record: dict[str, Any]) -> Operation:
        op = self._operation(record)
        validate_document("operation", unstructure(op))
        if op.state is OperationState.FAILED:
            raise OperationFailed(op)
        return op

    def _call_verb(
        self,
        record: dict[str, Any],
        instance: str,
        call: Callable[[ServiceProvider, PlatformContext], None],
    ) -> OperationError | None:
        """Run a provider call with retries; returns None on success or the final error.

        The platform lock is held only for the bookkeeping around each attempt, never while
        provider code runs or while waiting to retry: a provider may use its context from
        worker threads, and other instances' requests proceed meanwhile (the instance's busy
        status keeps other operations off this instance)."""
        deadline = self.clock.monotonic() + self.operation_timeout
        attempt = 0
        while True:
            attempt += 1
            with self._lock:
                doc = self._instance_doc(instance)
                self._save_op(record, attempts=record["attempts"] + 1)
                try:
                    provider = self._provider(self._version_of(doc).provider)
                except Exception as exc:
                    return OperationError(
                        type="ProviderUnavailable",
                        message=f"the provider of {doc['service']!r} cannot be loaded: {exc}",
                    )
            ctx = PlatformContext(
                self, instance, doc["service"], record["kind"], self._instance_logger(instance)
            )
            try:
                call(provider, ctx)
                return None
            except TemporaryError as exc:
                # A floor keeps retry_after=0 from spinning; the exponent is capped so the
                # delay never overflows before the deadline stops the retries.
                base = max(exc.retry_after, MIN_RETRY_DELAY)
                delay = min(base * 2 ** min(attempt - 1, 32), self.max_backoff)
                if self.clock.monotonic() + delay > deadline:
                    return OperationError(
                        type="DeadlineExceeded",
                        message=(
                            f"{record['kind']} still failing temporarily after {attempt} "
                            f"attempts and {self.operation_timeout:.0f}s: "
                            f"{self._scrub(str(exc))}"
                        ),
                    )
                self._log.info(
                    "%s attempt %d: temporary error, retrying in %.1fs: %s",
                    record["kind"],
                    attempt,
                    delay,
                    self._scrub(str(exc)),
                    extra={"target": instance},
                )
            except ValidationError as exc:
                return OperationError(
                    type=type(exc).__name__,
                    message=self._scrub(exc.summary),
                    problems=tuple(self._scrub(str(p)) for p in exc.problems),
                )
            except (PermanentError, DppError) as exc:
                return OperationError(type=type(exc).__name__, message=self._scrub(str(exc)))
            except Exception as exc:
                return OperationError(
                    type=type(exc).__name__,
                    message=self._scrub(f"provider raised {type(exc).__name__}: {exc}"),
                    traceback=self._scrub(traceback.format_exc()),
                )
            finally:
                ctx.close()
            self.clock.sleep(delay)

    def _release_created_by(self, instance: str, op_id: str) -> list[str]:
        """Release everything operation ``op_id`` allocated for ``instance``."""
        released: list[str] = []
        with self._lock:
            for member in self._store.select("member", instance):
                if member.get("created_by") == op_id:
                    # Volumes it re-attached from before the attempt keep their data; the
                    # ones the attempt created go with the loop below.
                    self._delete_member(instance, member["name"], delete_volumes=False)
                    released.append(f"member/{member['name']}")
            for vol in self._store.select("volume", instance):
                if vol.get("created_by") == op_id:
                    self._delete_volume(instance, vol["name"])
                    released.append(f"volume/{vol['name']}")
            for kind in ("endpoint", "secret"):
                for doc in self._store.select(kind, instance):
                    if doc.get("created_by") == op_id:
                        self._store.delete(kind, instance, doc["name"])
                        released.append(f"{kind}/{doc['name']}")
        return released

    def _held(self, instance: str) -> list[str]:
        return [
            f"{kind}/{d['name']}"
            for kind in ("member", "volume", "endpoint", "secret")
            for d in self._store.select(kind, instance)
        ]

    def _reclaim_all(self, instance: str) -> list[str]:
        leftovers = self._held(instance)
        with self._lock:
            for member in self._store.select("member", instance):
                self._delete_member(instance, member["name"], delete_volumes=True)
            for vol in self._store.select("volume", instance):
                self._delete_volume(instance, vol["name"])
            for kind in ("endpoint", "secret"):
                for doc in self._store.select(kind, instance):
                    self._store.delete(kind, instance, doc["name"])
        return leftovers

    def _set_instance(self, name: str, **changes: Any) -> None:
        with self._lock, self._store.transaction():
            doc = self._instance_doc(name)
            doc.update(changes)
            doc["updated_at"] = self.clock.now().isoformat()
            self._store.put("instance", "", name, doc)

    def _execute(self, record: dict[str, Any]) -> dict[str, Any]:
        """Drive operation ``record`` to a terminal state, whatever happens on the way.

        An exception that escapes the verb's own handling (a ``BaseException`` such as
        ``KeyboardInterrupt``, or a bug here) fails the operation, releases the instance and
        is re-raised: an operation is never left running by a live process."""
        try:
            done = self._execute_verb(record)
        except BaseException as exc:
            if not OperationState(record["state"]).terminal:
                self._abandon(record, exc)
            raise
        self._deliver_pending(record["target"])
        return done

    def _abandon(self, record: dict[str, Any], exc: BaseException) -> None:
        """Fail ``record`` after an unexpected exception and free its instance."""
        with self._lock:
            doc = self._store.get("instance", "", record["target"])
            if doc is not None and doc.get("operation") == record["id"]:
                if record["kind"] == "provision":
                    self._reclaim_all(record["target"])
                    self._delete_instance_doc(record["target"])
                elif record["kind"] == "repair":
                    self._set_instance(record["target"], operation=None)
                else:
                    self._set_instance(
                        record["target"],
                        operation=None,
                        status=InstanceStatus.FAILED.value
                        if record["kind"] == "decommission"
                        else InstanceStatus.READY.value,
                    )
            self._save_op(
                record,
                state="failed",
                finished_at=self.clock.now().isoformat(),
                error=unstructure(
                    OperationError(
                        type=type(exc).__name__,
                        message=self._scrub(f"operation abandoned: {type(exc).__name__}: {exc}"),
                        traceback=self._scrub(traceback.format_exc()),
                    )
                ),
            )
            self._audit(
                f"instance.{record['kind']}", record["target"], "failed", type(exc).__name__
            )

    def _execute_verb(self, record: dict[str, Any]) -> dict[str, Any]:  # noqa: PLR0915 - one branch per verb
        """Drive operation ``record`` (pending or interrupted) to a terminal state."""
        kind = record["kind"]
        instance = record["target"]
        request = record["request"]
        self._save_op(
            record,
            state=OperationState.RUNNING.value if record["state"] == "pending" else record["state"],
            started_at=record.get("started_at") or self.clock.now().isoformat(),
            owner=self._owner,
        )
        self._set_instance(instance, operation=record["id"])
        doc = self._instance_doc(instance)
        spec = structure(doc["spec"], InstanceSpec)
        error: OperationError | None
        result: dict[str, Any] = {}
        if kind == "provision":
            result["instance_uid"] = doc["uid"]
            req = ProvisionRequest(
                instance=instance, service=doc["service"], spec=spec, operation_id=record["id"]
            )
            error = self._call_verb(record, instance, lambda p, c: p.provision(c, req))
            if error is None:
                self._set_instance(instance, status=InstanceStatus.READY.value, operation=None)
                self._refresh_health(instance)
            else:
                result["released"] = self._reclaim_all(instance)
                self._delete_instance_doc(instance)
        elif kind == "configure":
            new_spec = structure(request["spec"], InstanceSpec)
            previous = structure(request["previous"], InstanceSpec)
            changed = tuple(
                sorted(
                    k
                    for k in {*previous.parameters, *new_spec.parameters}
                    if previous.parameters.get(k) != new_spec.parameters.get(k)
                )
            )
            creq = ConfigureRequest(
                instance=instance,
                parameters=new_spec.parameters,
                previous=previous.parameters,
                changed=changed,
                operation_id=record["id"],
            )
            error = self._settle_change(
                record, instance, request, result, lambda p, c: p.configure(c, creq)
            )
        elif kind == "scale":
            previous = structure(request["previous"], InstanceSpec)
            new_spec = structure(request["spec"], InstanceSpec)
            sreq = ScaleRequest(
                instance=instance,
                capacity_gb=new_spec.capacity_gb,
                previous_capacity_gb=previous.capacity_gb,
                operation_id=record["id"],
            )
            error = self._settle_change(
                record, instance, request, result, lambda p, c: p.scale(c, sreq)
            )
        elif kind == "decommission" and request.get("force"):
            error = None
            result.update(forced=True, reclaimed=self._reclaim_all(instance))
            self._delete_instance_doc(instance)
        elif kind == "decommission":
            dreq = DecommissionRequest(instance=instance, operation_id=record["id"])
            error = self._call_verb(record, instance, lambda p, c: p.decommission(c, dreq))
            if error is None:
                leaked = self._reclaim_all(instance)
                result["leaked"] = leaked
                if leaked:
                    self._event(
                        "leak",
                        instance,
                        f"decommission of {instance!r} left {', '.join(leaked)} behind; the "
                        "platform reclaimed them",
                        leaked=leaked,
                    )
                self._delete_instance_doc(instance)
            else:
                self._set_instance(instance, status=InstanceStatus.FAILED.value, operation=None)
        else:
            error = OperationError(type="UnknownOperation", message=f"unknown kind {kind!r}")
        now = self.clock.now().isoformat()
        if error is None:
            self._save_op(record, state="succeeded", progress=1.0, finished_at=now, result=result)
            self._audit(f"instance.{kind}", instance, "succeeded", record["id"])
        else:
            self._save_op(
                record,
                state="failed",
                finished_at=now,
                error=unstructure(error),
                result=result,
            )
            self._audit(f"instance.{kind}", instance, "failed", f"{error.type}: {error.message}")
        return record

    def _settle_change(
        self,
        record: dict[str, Any],
        instance: str,
        request: Mapping[str, Any],
        result: dict[str, Any],
        call: Callable[[ServiceProvider, PlatformContext], None],
    ) -> OperationError | None:
        """Run configure or scale; on failure release what the attempt made and restore the
        previous spec. Either way the instance is ready again and its health refreshed."""
        error = self._call_verb(record, instance, call)
        if error is not None:
            result["released"] = self._release_created_by(instance, record["id"])
            self._set_instance(
                instance,
                spec=request["previous"],
                status=InstanceStatus.READY.value,
                operation=None,
            )
        else:
            self._set_instance(instance, status=InstanceStatus.READY.value, operation=None)
        self._refresh_health(instance)
        return error

    def _delete_instance_doc(self, name: str) -> None:
        with self._lock, self._store.transaction():
            self._store.delete("instance", "", name)

    def _remove_orphaned_bytes(self) -> None:
        """Finish what a crash interrupted in the byte store: delete bytes of volumes no record
        knows, destroy bytes of components recorded lost, and heal what can be healed."""
        with self._lock:
            live_ops = self._store.operations(states=("pending", "running"))
            if live_ops:
                return  # another process is mid-operation; leave its volumes alone
            known = {v["id"] for v in self._store.select("volume")}
            for volume_id in self._bytes.volume_ids() - known:
                self._bytes.delete_volume(volume_id)
            damaged = [
                (inst["name"], vol)
                for inst in self._store.select("instance")
                for vol in self._store.select("volume", inst["name"])
                if any(c["state"] in ("lost", "stale") for c in vol["components"])
            ]
            if not damaged:
                return
            for _instance, vol in damaged:
                for c in vol["components"]:
                    if c["state"] == "lost":
                        self._bytes.destroy_component(vol["id"], c["index"])
            with self._mutation() as cluster:
                for instance, vol in damaged:
                    self._heal_volume(cluster, instance, vol)

    def _heal_volume(self, cluster: Cluster, instance: str, vol: dict[str, Any]) -> bool:
        """Re-home lost components of a redundant volume and resync what is stale or lost.

        Returns False when the volume's data cannot be reconstructed (it is lost)."""
        policy = POLICIES[vol["policy"]]
        scheme = _scheme_for(policy)
        lost = [c["index"] for c in vol["components"] if c["state"] == "lost"]
        if not scheme.can_reconstruct(self._available(cluster, vol)):
            return False
        if lost and policy.distributed:
            on_failed_disks = [
                c["index"]
                for c in vol["components"]
                if c["index"] in lost and cluster.host(c["host"]).disks[c["disk"]].state == "failed"
            ]
            self._rehome(cluster, vol, on_failed_disks, copy=False)
        self._resync(cluster, instance, vol)
        self._store.put("volume", instance, vol["name"], vol)
        return True

    def interrupted_operations(self) -> list[Operation]:
        """Operations left pending or running by a process that is gone."""
        return [
            self._operation(r)
            for r in self._store.operations(states=("pending", "running"))
            if not _owner_alive(r.get("owner", ""))
        ]

    def recover(self) -> list[Operation]:
        """Resume, or fail, every operation a dead process left pending or running, then
        finish what the crash interrupted in the byte store. Returns the operations as they
        ended. Called by :meth:`open` unless ``recover=False``."""
        interrupted = [o.id for o in self.interrupted_operations()]
        self._recover()
        self._remove_orphaned_bytes()
        return [self.get_operation(op_id) for op_id in interrupted]

    def _recover(self) -> None:
        """Resume, or fail, every operation a dead process left pending or running."""
        for record in self._store.operations(states=("pending", "running")):
            if _owner_alive(record.get("owner", "")):
                continue
            self._log.warning(
                "resuming operation %s (%s %s) interrupted by a crash",
                record["id"],
                record["kind"],
                record["target"],
                extra={"target": record["target"]},
            )
            if (
                record["kind"] == "decommission"
                and self._store.get("instance", "", record["target"]) is None
            ):
                # The crash came after the instance was deleted: the work was done.
                self._save_op(
                    record,
                    state="succeeded",
                    progress=1.0,
                    finished_at=self.clock.now().isoformat(),
                    result={"leaked": [], "recovered": True},
                )
                continue
            try:
                if self._store.get("instance", "", record["target"]) is None:
                    raise NotFound("instance", record["target"])
                if record["kind"] not in _RESUMABLE:
                    raise Conflict(
                        f"a {record['kind']} operation is not resumed; the next failure or "
                        "recovery event triggers a new one"
                    )
                record["owner"] = self._owner
                self._execute(record)
            except Exception as exc:
                doc = self._store.get("instance", "", record["target"])
                if doc is not None and doc.get("operation") == record["id"]:
                    status = InstanceStatus(doc["status"])
                    self._set_instance(
                        record["target"],
                        operation=None,
                        status=InstanceStatus.FAILED.value if status in _BUSY else status.value,
                    )
                self._save_op(
                    record,
                    state="failed",
                    finished_at=self.clock.now().isoformat(),
                    error=unstructure(
                        OperationError(
                            type="Interrupted",
                            message=f"interrupted by a crash and could not resume: {exc}",
                        )
                    ),
                )
                self._event("operation-failed", record["target"], f"{record['id']}: {exc}")

    # ================================================================== instance requests

    def _provider_problems(
        self, provider: ServiceProvider, spec: InstanceSpec, current: InstanceSpec | None
    ) -> list[Problem]:
        """The provider's own ``validate`` findings; a broken hook is itself a problem."""
        try:
            found = list(provider.validate(spec, self._cluster_view(), current=current))
        except Exception as exc:
            return [
                Problem(
                    path="$",
                    value=None,
                    message=f"the provider's validate raised {type(exc).__name__}: {exc}",
                )
            ]
        bad = [p for p in found if not isinstance(p, Problem)]
        if bad:
            return [
                Problem(
                    path="$",
                    value=repr(bad[0]),
                    message="the provider's validate must return dpp_sdk.Problem objects",
                )
            ]
        return found

    def _check_enabled(self, action: str, target: str) -> None:
        if not self._config.enabled:
            self._audit(action, target, "refused", "platform disabled")
            raise Conflict(
                "the data persistence platform is disabled ([vsan-datapersistence] enabled = "
                "false); existing instances can only be removed"
            )

    def _is_busy(self, doc: Mapping[str, Any]) -> bool:
        """An instance is busy while a lifecycle operation or a repair of it is running."""
        if InstanceStatus(doc["status"]) in _BUSY:
            return True
        op_id = doc.get("operation")
        if not op_id:
            return False
        record = self._store.get_operation(op_id)
        return record is not None and not OperationState(record["state"]).terminal

    def _check_busy(self, doc: Mapping[str, Any]) -> None:
        if self._is_busy(doc):
            raise Conflict(
                f"instance {doc['name']!r} is {doc['status']} (operation {doc.get('operation')}); "
                "wait for it to finish"
            )

    def _quota_problems(self, capacity_gb: int | None, policy: str) -> list[Problem]:
        """The quota problem of a request refused for other reasons, so all are listed."""
        if capacity_gb is None or policy not in POLICIES:
            return []
        try:
            self._check_quota_for(InstanceSpec(plan="", capacity_gb=capacity_gb, policy=policy))
        except QuotaExceeded as exc:
            return [Problem(path="$.capacity_gb", value=capacity_gb, message=str(exc))]
        return []

    def _check_quota_for(self, spec: InstanceSpec, previous_gb: int = 0) -> None:
        policy = POLICIES[spec.policy]
        extra = policy.raw_gb(spec.capacity_gb) - policy.raw_gb(previous_gb)
        cluster = self._cluster()
        try:
            _placement.check_quota(cluster, max(0.0, extra))
        except _ClusterQuotaExceeded as exc:
            raise QuotaExceeded(
                f"capacity_gb {spec.capacity_gb} with policy {spec.policy} needs "
                f"{extra:.1f} GB of raw capacity: {exc}",
                limit="resource_quota",
                used=exc.used_gb,
                asked=exc.asked_gb,
                left=max(0.0, exc.quota_gb - exc.used_gb),
            ) from exc

    def create_instance(
        self,
        *,
        service: str,
        name: str,
        capacity_gb: int | None = None,
        parameters: Mapping[str, Any] | None = None,
        plan: str | None = None,
        policy: str | None = None,
        idempotency_key: str | None = None,
    ) -> Operation:
        """Provision a new instance of ``service`` called ``name``.

        The request is validated (name, plan, capacity within the plan and the quota,
        parameters against the manifest's schema, policy) before anything is allocated; every
        problem is reported at once. Returns the succeeded operation, or raises
        :class:`~dpp_sdk.OperationFailed` (everything the attempt allocated is released).
        """
        _check_request_types(capacity_gb=capacity_gb, parameters=parameters)
        request = {
            "service": service,
            "capacity_gb": capacity_gb,
            "parameters": dict(parameters or {}),
            "plan": plan,
            "policy": policy,
        }
        with self._lock:
            if idempotency_key is not None:
                prior = self._store.operation_by_key(idempotency_key)
                if prior is not None:
                    record, _ = self._new_operation("provision", name, request, idempotency_key)
                    return self._finish(record)
            self._check_enabled("instance.provision", str(name))
            problems: list[Problem] = []
            if not isinstance(name, str) or not _INSTANCE_NAME.fullmatch(name):
                problems.append(
                    Problem(
                        path="$.name",
                        value=name,
                        message="must start with a letter; letters, digits, '_', '.', '-'; "
                        "at most 63 characters",
                    )
                )
            try:
                version, _provider = self._active(service)
            except NotFound as exc:
                problems.append(Problem(path="$.service", value=service, message=str(exc)))
                self._audit("instance.provision", str(name), "refused", str(exc))
                raise ValidationError(
                    f"request for instance {name!r} is invalid ({count(len(problems), 'problem')})",
                    problems,
                ) from None
            if not self._service_doc(service)["enabled"]:
                problems.append(
                    Problem(path="$.service", value=service, message="service is disabled")
                )
            spec: InstanceSpec | None = None
            manifest = version.manifest
            if (
                policy is None
                and manifest.redundancy is Redundancy.PLATFORM
                and self._config.default_policy in manifest.supported_policies
            ):
                # A service that relies on the platform's redundancy takes the admin's
                # default policy when it supports it; self-replicating services keep theirs.
                policy = self._config.default_policy
            try:
                spec = resolve_instance_spec(
                    manifest,
                    plan=plan,
                    capacity_gb=capacity_gb,
                    parameters=dict(parameters or {}),
                    policy=policy,
                )
            except ValidationError as exc:
                problems.extend(exc.problems)
            if isinstance(name, str) and self._store.get("instance", "", name) is not None:
                problems.append(Problem(path="$.name", value=name, message="already exists"))
            if spec is not None:
                problems.extend(self._provider_problems(_provider, spec, None))
            if problems:
                problems.extend(
                    self._quota_problems(capacity_gb, policy or manifest.default_policy)
                )
                self._audit("instance.provision", str(name), "refused", problems[0].message)
                raise ValidationError(
                    f"request for a {service} instance {name!r} is invalid "
                    f"({count(len(problems), 'problem')})",
                    problems,
                )
            assert spec is not None
            try:
                self._check_quota_for(spec)
            except QuotaExceeded as exc:
                self._audit("instance.provision", name, "refused", str(exc))
                raise
            with self._store.transaction():
                if self._store.get("instance", "", name) is not None:
                    raise Conflict(f"instance {name!r} was created meanwhile by another process")
                record, _ = self._new_operation("provision", name, request, idempotency_key)
                now = self.clock.now().isoformat()
                self._store.put(
                    "instance",
                    "",
                    name,
                    {
                        "name": name,
                        "uid": uuid.uuid4().hex,
                        "service": service,
                        "service_version": version.version,
                        "spec": unstructure(spec),
                        "status": InstanceStatus.PROVISIONING.value,
                        "health": HealthStatus.GREEN.value,
                        "operation": record["id"],
                        "provider_state": {},
                        "created_at": now,
                        "updated_at": now,
                    },
                )
        self._execute(record)
        return self._finish(record)

    def _begin_change(  # noqa: PLR0917 - private; every caller passes all six
        self,
        kind: str,
        name: str,
        request: Mapping[str, Any],
        idempotency_key: str | None,
        build: Callable[[dict[str, Any], InstanceSpec, Manifest], InstanceSpec],
        status: InstanceStatus,
    ) -> Operation:
        with self._lock:
            if idempotency_key is not None and self._store.operation_by_key(idempotency_key):
                record, _ = self._new_operation(kind, name, request, idempotency_key)
                return self._finish(record)
            doc = self._instance_doc(name)
            self._check_busy(doc)
            if kind != "decommission":
                self._check_enabled(f"instance.{kind}", name)
                if InstanceStatus(doc["status"]) is InstanceStatus.FAILED:
                    self._audit(f"instance.{kind}", name, "refused", "instance failed")
                    raise Conflict(
                        f"instance {name!r} is failed (its last decommission did not finish); "
                        "it can only be removed"
                    )
            current = structure(doc["spec"], InstanceSpec)
            manifest = self._version_of(doc).manifest
            try:
                new_spec = build(doc, current, manifest)
                if kind != "decommission":
                    provider = self._provider(self._version_of(doc).provider)
                    problems = self._provider_problems(provider, new_spec, current)
                    if problems:
                        raise ValidationError(
                            f"{kind} of {name!r} is invalid ({count(len(problems), 'problem')})",
                            problems,
                        )
            except DppError as exc:
                self._audit(f"instance.{kind}", name, "refused", _first_line(exc))
                raise
            with self._store.transaction():
                self._check_busy(self._instance_doc(name))  # another process may have begun
                record, _ = self._new_operation(
                    kind,
                    name,
                    request,
                    idempotency_key,
                    extra={"spec": unstructure(new_spec), "previous": unstructure(current)},
                )
                self._set_instance(
                    name, spec=unstructure(new_spec), status=status.value, operation=record["id"]
                )
        self._execute(record)
        return self._finish(record)

    def configure_instance(
        self,
        name: str,
        parameters: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
    ) -> Operation:
        """Change parameters of instance ``name`` (merged into the current ones) via
        the provider's ``configure``. Invalid parameters are refused before anything runs."""
        _check_request_types(capacity_gb=None, parameters=parameters)

        def build(doc: dict[str, Any], current: InstanceSpec, manifest: Manifest) -> InstanceSpec:
            return resolve_instance_spec(
                manifest,
                plan=current.plan,
                capacity_gb=current.capacity_gb,
                parameters={**current.parameters, **parameters},
                policy=current.policy,
            )

        return self._begin_change(
            "configure",
            name,
            {"parameters": dict(parameters)},
            idempotency_key,
            build,
            InstanceStatus.CONFIGURING,
        )

    def scale_instance(
        self, name: str, capacity_gb: int, *, idempotency_key: str | None = None
    ) -> Operation:
        """Change the capacity of instance ``name`` via the provider's ``scale``.

        Checked against the plan's bounds, the quota, and the manifest's
        ``capacity_scale_down`` capability before anything runs.
        """

        def build(doc: dict[str, Any], current: InstanceSpec, manifest: Manifest) -> InstanceSpec:
            problems: list[Problem] = []
            if not isinstance(capacity_gb, int) or isinstance(capacity_gb, bool):
                raise ValidationError.single("$.capacity_gb", capacity_gb, "must be an integer")
            if capacity_gb < current.capacity_gb and not manifest.capabilities.capacity_scale_down:
                problems.append(
                    Problem(
                        path="$.capacity_gb",
                        value=capacity_gb,
                        message=f"{manifest.name} cannot shrink (capacity_scale_down is not "
                        f"declared); the instance has {current.capacity_gb} GB",
                    )
                )
            if capacity_gb > current.capacity_gb and not manifest.capabilities.capacity_scale_up:
                problems.append(
                    Problem(
                        path="$.capacity_gb",
                        value=capacity_gb,
                        message=f"{manifest.name} cannot grow (capacity_scale_up is not declared)",
                    )
                )
            try:
                spec = resolve_instance_spec(
                    manifest,
                    plan=current.plan,
                    capacity_gb=capacity_gb,
                    parameters=current.parameters,
                    policy=current.policy,
                )
            except ValidationError as exc:
                problems.extend(exc.problems)
            if problems:
                raise ValidationError(
                    f"scaling {name!r} to {capacity_gb} GB is invalid "
                    f"({count(len(problems), 'problem')})",
                    problems,
                )
            self._check_quota_for(spec, previous_gb=current.capacity_gb)
            return spec

        return self._begin_change(
            "scale",
            name,
            {"capacity_gb": capacity_gb},
            idempotency_key,
            build,
            InstanceStatus.SCALING,
        )

    def remove_instance(
        self, name: str, *, force: bool = False, idempotency_key: str | None = None
    ) -> Operation:
        """Decommission instance ``name``: the provider releases everything, then the
        platform reclaims (and reports as leaked) whatever is left.

        With ``force`` the provider is not called at all (for an instance whose provider can
        no longer be loaded, or whose decommission keeps failing): the platform reclaims
        everything and lists it in ``result["reclaimed"]``."""

        def build(doc: dict[str, Any], current: InstanceSpec, manifest: Manifest) -> InstanceSpec:
            return current

        request = {"force": True} if force else {}
        return self._begin_change(
            "decommission", name, request, idempotency_key, build, InstanceStatus.DECOMMISSIONING
        )

    # ================================================================== health

    def _platform_checks(self, info: InstanceInfo, redundancy: Redundancy) -> list[HealthCheck]:
        bad = [v.name for v in info.volumes if v.state == "inaccessible"]
        degraded = [v.name for v in info.volumes if v.state == "degraded"]
        status, message = HealthStatus.GREEN, f"{len(info.volumes)} volumes accessible"
        if bad and redundancy is Redundancy.SERVICE:
            # The service keeps its own copies across members: an unreachable member volume
            # is an expected loss of one copy; the provider's checks judge the quorum.
            status = HealthStatus.YELLOW
            message = f"inaccessible (service-level redundancy): {', '.join(bad)}"
        elif bad:
            status, message = HealthStatus.RED, f"inaccessible: {', '.join(bad)}"
        elif degraded:
            status, message = HealthStatus.YELLOW, f"reduced redundancy: {', '.join(degraded)}"
        checks = [HealthCheck(name="platform/volumes", status=status, message=message)]
        down = [f"{m.name} ({m.state} on {m.host})" for m in info.members if m.state != "running"]
        checks.append(
            HealthCheck(
                name="platform/members",
                status=HealthStatus.YELLOW if down else HealthStatus.GREEN,
                message=f"not running: {', '.join(down)}"
                if down
                else f"{len(info.members)} members running",
            )
        )
        return checks

    def _refresh_health(self, name: str) -> InstanceHealth:
        with self._lock:
            doc = self._instance_doc(name)
            info = self._instance_info(doc)
            try:
                version = self._version_of(doc)
                provider: ServiceProvider | None = self._provider(version.provider)
                redundancy = version.manifest.redundancy
            except Exception as exc:
                provider, redundancy, load_error = None, Redundancy.PLATFORM, exc
        provider_checks: list[HealthCheck]
        if provider is None:
            provider_checks = [
                HealthCheck(
                    name="provider/unavailable",
                    status=HealthStatus.RED,
                    message=self._scrub(f"the provider cannot be loaded: {load_error}"),
                )
            ]
        else:
            ctx = PlatformContext(
                self, name, doc["service"], "monitor", self._instance_logger(name), read_only=True
            )
            try:
                report = provider.monitor(ctx)
                if not isinstance(report, HealthReport):
                    raise TypeError(
                        f"monitor returned {type(report).__name__}, not a dpp_sdk.HealthReport"
                    )
                validate_document("health-report", unstructure(report))
                provider_checks = [
                    attrs.evolve(
                        c,
                        name=self._scrub_detecting(c.name, name, "health check names"),
                        message=self._scrub_detecting(c.message, name, "health messages"),
                    )
                    for c in report.checks
                ]
                worst = HealthStatus.worst(c.status for c in provider_checks)
                if not provider_checks or report.status.severity > worst.severity:
                    provider_checks.append(
                        HealthCheck(
                            name="provider",
                            status=report.status,
                            message="overall status reported by the provider",
                        )
                    )
            except Exception as exc:
                provider_checks = [
                    HealthCheck(
                        name="provider/monitor",
                        status=HealthStatus.RED,
                        message=self._scrub(f"monitor failed: {type(exc).__name__}: {exc}"),
                    )
                ]
            finally:
                ctx.close()
        checks = (*provider_checks, *self._platform_checks(info, redundancy))
        status = HealthStatus.worst(c.status for c in checks)
        with self._lock:
            current = self._store.get("instance", "", name)
            if current is not None and current.get("health") != status.value:
                self._set_instance(name, health=status.value)
                self._event(
                    "health-changed",
                    name,
                    f"health of {name!r} changed from {current.get('health')} to {status.value}",
                )
        return InstanceHealth(
            instance=name, service=doc["service"], status=status, checks=tuple(checks)
        )

    def instance_health(self, name: str) -> InstanceHealth:
        """Health of instance ``name``: the provider's ``monitor`` plus the platform's view."""
        return self._refresh_health(name)

    def cluster_health(self) -> ClusterHealth:
        """Health of every instance plus the cluster's hosts, disks and capacity."""
        with self._lock:
            instances = tuple(
                self._refresh_health(d["name"])
                for d in self._store.select("instance")
                if InstanceStatus(d["status"]) not in _BUSY
            )
            cluster = self._cluster()
            checks: list[HealthCheck] = []
            failed_hosts = [h.name for h in cluster.hosts.values() if h.state == "failed"]
            maint = [h.name for h in cluster.hosts.values() if h.state == "maintenance"]
            checks.append(
                HealthCheck(
                    name="cluster/hosts",
                    status=HealthStatus.RED
                    if failed_hosts
                    else HealthStatus.YELLOW
                    if maint
                    else HealthStatus.GREEN,
                    message=", ".join(
                        [
                            *(f"{h} failed" for h in failed_hosts),
                            *(f"{h} in maintenance" for h in maint),
                        ]
                    )
                    or f"{len(cluster.hosts)} hosts connected",
                )
            )
            failed_disks = [f"{d.host}/{d.name}" for d in cluster.disks() if d.state == "failed"]
            resting = [f"{d.host}/{d.name}" for d in cluster.disks() if d.state == "maintenance"]
            checks.append(
                HealthCheck(
                    name="cluster/disks",
                    status=HealthStatus.RED
                    if failed_disks
                    else HealthStatus.YELLOW
                    if resting
                    else HealthStatus.GREEN,
                    message="; ".join(
                        [
                            *([f"failed: {', '.join(failed_disks)}"] if failed_disks else []),
                            *([f"in maintenance: {', '.join(resting)}"] if resting else []),
                        ]
                    )
                    or "all disks healthy",
                )
            )
            checks.append(
                HealthCheck(
                    name="cluster/capacity",
                    status=HealthStatus.YELLOW
                    if cluster.capacity_warning()
                    else HealthStatus.GREEN,
                    message=f"pool {cluster.pool_used_percent():.1f}% reserved "
                    f"(warning at {cluster.capacity_warning_percent}%)",
                )
            )
            status = HealthStatus.worst(
                [*(c.status for c in checks), *(i.status for i in instances)]
            )
            return ClusterHealth(status=status, checks=tuple(checks), instances=instances)

    def data_probe(self, instance: str) -> DataProbe | None:
        """The provider's data probe for ``instance`` bound to a fresh context, or None.

        Unlike a verb's context, this one stays valid for as long as the probe is used, so a
        durability check can write a canary, inject a fault, and read the canary back."""
        doc = self._instance_doc(instance)
        provider = self._provider(self._version_of(doc).provider)
        ctx = PlatformContext(
            self, instance, doc["service"], "data_probe", self._instance_logger(instance)
        )
        return provider.data_probe(ctx)

    # ================================================================== status, resources

    def status(self) -> PlatformStatus:
        """Platform settings and a capacity summary (``esxcli vsan datapersistence list``)."""
        cluster = self._cluster()
        warnings = []
        if cluster.capacity_warning():
            warnings.append(
                f"pool use {cluster.pool_used_percent():.1f}% is past the warning threshold"
            )
        for h in cluster.hosts.values():
            if h.state != "connected":
                warnings.append(f"host {h.name} is {h.state}")
        return PlatformStatus(
            enabled=self._config.enabled,
            default_policy=self._config.default_policy,
            max_services=self._config.max_services,
            resource_quota=self._config.resource_quota,
            hosts=len(cluster.hosts),
            hosts_connected=sum(1 for h in cluster.hosts.values() if h.state == "connected"),
            fault_domains=len(cluster.fault_domains()),
            services=self._store.count("service"),
            instances=self._store.count("instance"),
            raw_capacity_gb=cluster.raw_capacity_gb(),
            reserved_gb=round(cluster.reserved_gb(), 6),
            quota_gb=cluster.quota_gb(),
            state_dir=None if self.state_dir is None else str(self.state_dir),
            warnings=tuple(warnings),
        )

    def resources(self) -> ResourceReport:
        """Per-disk and per-instance capacity accounting (``dpp resource list``)."""
        with self._lock:
            cluster = self._cluster()
            disks = tuple(
                DiskUsage(
                    host=d.host,
                    disk=d.name,
                    kind=d.kind,
                    state=d.state,
                    size_gb=d.size_gb,
                    reserved_gb=round(d.reserved_gb, 6),
                    free_gb=0.0
                    if d.exclusive_owner is not None
                    else round(max(0.0, d.size_gb - d.reserved_gb), 6),
                )
                for d in cluster.disks()
            )
            usage = []
            for doc in self._store.select("instance"):
                vols = self._store.select("volume", doc["name"])
                usage.append(
                    InstanceUsage(
                        instance=doc["name"],
                        service=doc["service"],
                        volumes=len(vols),
                        members=len(self._store.select("member", doc["name"])),
                        logical_gb=round(sum(v["size_gb"] for v in vols), 6),
                        reserved_gb=round(
                            sum(c["reserved_gb"] for v in vols for c in v["components"]), 6
                        ),
                    )
                )
            return ResourceReport(
                raw_capacity_gb=cluster.raw_capacity_gb(),
                reserved_gb=round(cluster.reserved_gb(), 6),
                quota_gb=cluster.quota_gb(),
                disks=disks,
                instances=tuple(usage),
            )

    def list_hosts(self) -> list[HostInfo]:
        """Hosts with their fault domain, state and disks."""
        return list(self._cluster_view().hosts)

    def _check_host(self, cluster: Cluster, host: str) -> None:
        if host not in cluster.hosts:
            raise NotFound("host", host, f"hosts: {', '.join(cluster.hosts)}")

    def _check_disk(self, cluster: Cluster, host: str, disk: str) -> None:
        self._check_host(cluster, host)
        if disk not in cluster.host(host).disks:
            raise NotFound(
                "disk", f"{host}/{disk}", f"disks: {', '.join(cluster.host(host).disks)}"
            )

    # ================================================================== touching hardware

    def _volumes_on(
        self, host: str, disk: str | None = None
    ) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
        """(instance, volume doc, its components on host[/disk]) for every affected volume."""
        out = []
        for doc in self._store.select("instance"):
            for vol in self._store.select("volume", doc["name"]):
                here = [
                    c
                    for c in vol["components"]
                    if c["host"] == host and (disk is None or c["disk"] == disk)
                ]
                if here:
                    out.append((doc["name"], dict(vol), here))
        return out

    def _members_on(self, host: str) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for doc in self._store.select("instance"):
            for m in self._store.select("member", doc["name"]):
                if m["host"] == host:
                    out.setdefault(doc["name"], []).append(m["name"])
        return out

    def _notify_failure(self, instance: str, event: FailureEvent) -> None:
        """Call on_failure as a 'repair' operation; its failure is recorded, not raised.

        An instance busy with another operation gets the event queued and delivered when
        that operation ends, so no failure goes unreported."""
        with self._lock:
            doc = self._store.get("instance", "", instance)
            if doc is None:
                return
            if self._is_busy(doc):
                queued = [*doc.get("pending_events", []), unstructure(event)]
                self._set_instance(instance, pending_events=queued)
                return
            record, _ = self._new_operation("repair", instance, {"event": unstructure(event)}, None)
            self._save_op(record, state="running", started_at=self.clock.now().isoformat())
            self._set_instance(instance, operation=record["id"])
        try:
            error = self._call_verb(record, instance, lambda p, c: p.on_failure(c, event))
        except BaseException as exc:
            self._abandon(record, exc)
            raise
        with self._lock:
            self._set_instance(instance, operation=None)
            now = self.clock.now().isoformat()
            if error is None:
                self._save_op(record, state="succeeded", progress=1.0, finished_at=now)
            else:
                released = self._release_created_by(instance, record["id"])
                self._save_op(
                    record,
                    state="failed",
                    finished_at=now,
                    error=unstructure(error),
                    result={"released": released},
                )
                self._event(
                    "repair-failed", instance, f"on_failure for {event.kind.value}: {error.message}"
                )
        self._refresh_health(instance)
        self._deliver_pending(instance)

    def _deliver_pending(self, instance: str) -> None:
        """Deliver failure events queued while ``instance`` was busy, oldest first."""
        with self._lock:
            doc = self._store.get("instance", "", instance)
            if doc is None or self._is_busy(doc) or not doc.get("pending_events"):
                return
            queued = [structure(e, FailureEvent) for e in doc["pending_events"]]
            self._set_instance(instance, pending_events=[])
        for event in queued:
            self._notify_failure(instance, event)

    def _notify_all(
        self,
        affected: Mapping[str, tuple[list[str], list[str]]],
        kind: FailureKind,
        host: str,
        *,
        disk: str | None = None,
        lost: Mapping[str, list[str]] | None = None,
    ) -> None:
        """Tell every affected instance's provider about ``kind`` on ``host`` (``disk``).

        One instance's trouble (an unloadable provider, a broken health check) never keeps
        the others from hearing of the event; it becomes a ``repair-failed`` event."""
        for instance, (members, volumes) in sorted(affected.items()):
            event = FailureEvent(
                instance=instance,
                kind=kind,
                host=host,
                disk=disk,
                members=tuple(members),
                volumes=tuple(volumes),
                lost_volumes=tuple((lost or {}).get(instance, ())),
            )
            try:
                self._notify_failure(instance, event)
            except Exception as exc:
                self._event(
                    "repair-failed",
                    instance,
                    self._scrub(f"on_failure for {kind.value} could not run: {exc}"),
                )

    def _affected(
        self, host: str, disk: str | None = None
    ) -> dict[str, tuple[list[str], list[str]]]:
        """instance -> (members on host, volumes with a component on host/disk)."""
        out: dict[str, tuple[list[str], list[str]]] = {}
        if disk is None:
            for inst, members in self._members_on(host).items():
                out.setdefault(inst, ([], []))[0].extend(members)
        for inst, vol, _ in self._volumes_on(host, disk):
            out.setdefault(inst, ([], []))[1].append(vol["name"])
        return out

    def _resync(self, cluster: Cluster, instance: str, vol: dict[str, Any]) -> bool:
        """Rebuild stale (or lost, re-homed) components from the others; True if any changed."""
        policy = POLICIES[vol["policy"]]
        scheme = _scheme_for(policy)
        changed = False
        for c in vol["components"]:
            if c["state"] not in ("stale", "lost"):
                continue
            host = cluster.host(c["host"])
            if host.state != "connected" or host.disks[c["disk"]].state != "healthy":
                continue
            others = self._available(cluster, vol) - {c["index"]}
            if not scheme.can_reconstruct(others):
                continue
            self._bytes.rebuild_component(vol["id"], scheme, c["index"], others, vol["extent"])
            c["state"] = "active"
            changed = True
        if changed:
            self._store.put("volume", instance, vol["name"], vol)
        return changed

    def inject_host_failure(self, host: str) -> None:
        """Fail ``host``: its members become unreachable and its components absent. Affected
        providers are told through ``on_failure``."""
        with self._lock:
            with self._mutation() as cluster:
                self._check_host(cluster, host)
                if cluster.host(host).state == "failed":
                    raise Conflict(f"host {host!r} has already failed")
                cluster.host(host).state = "failed"
            affected = self._affected(host)
            self._audit("fault.inject.host-failure", host, "succeeded")
            self._event("host-failure", host, f"host {host} failed", instances=sorted(affected))
        self._notify_all(affected, FailureKind.HOST_FAILURE, host)

    def clear_host_failure(self, host: str) -> None:
        """Recover ``host``: it reconnects and stale components resync from their peers."""
        self._reconnect(host, "failed", "fault.clear.host-failure", "host-recovered", "recovered")

    def _reconnect(self, host: str, leaving: str, action: str, event: str, verb: str) -> None:
        """Bring ``host`` back from state ``leaving`` (failed or maintenance): resync its stale
        components, then tell the providers of its members and volumes (HOST_RECOVERED)."""
        with self._lock:
            with self._mutation() as cluster:
                self._check_host(cluster, host)
                state = cluster.host(host).state
                if state != leaving:
                    raise Conflict(f"host {host!r} is not {leaving} (it is {state})")
                cluster.host(host).state = "connected"
                for instance, vol, _ in self._volumes_on(host):
                    self._resync(cluster, instance, vol)
            affected = self._affected(host)
            self._audit(action, host, "succeeded")
            self._event(event, host, f"host {host} {verb}")
        # Members on the host run again: providers may need to resync them.
        self._notify_all(affected, FailureKind.HOST_RECOVERED, host)

    def inject_disk_failure(self, host: str, disk: str) -> None:
        """Fail disk ``host``/``disk``: its components' bytes are destroyed. Volumes that can
        still be reconstructed are rebuilt elsewhere when the cluster has room; the others
        are reported lost to their providers."""
        lost_by_instance: dict[str, list[str]] = {}
        with self._lock:
            # Who to tell is decided before any component is rebuilt elsewhere.
            affected = self._affected(host, disk)
            # 1. Record the failure first: the disk failed, its components are lost. A crash
            #    after this commit can only leave bytes that recovery destroys too.
            with self._mutation() as cluster:
                self._check_disk(cluster, host, disk)
                if cluster.disk(host, disk).state == "failed":
                    raise Conflict(f"disk {host}/{disk} has already failed")
                cluster.disk(host, disk).state = "failed"
                victims = self._volumes_on(host, disk)
                for instance, vol, here in victims:
                    for c in here:
                        c["state"] = "lost"
                    self._store.put("volume", instance, vol["name"], vol)
            # 2. The bytes on the disk are gone.
            for _instance, vol, here in victims:
                for c in here:
                    self._bytes.destroy_component(vol["id"], c["index"])
            # 3. Rebuild elsewhere what can be rebuilt; the rest is lost for good.
            with self._mutation() as cluster:
                for instance, vol, _ in victims:
                    current = self._find_volume_doc(instance, vol["name"])
                    if current is not None and not self._heal_volume(cluster, instance, current):
                        lost_by_instance.setdefault(instance, []).append(vol["name"])
            self._audit("fault.inject.disk-failure", f"{host}/{disk}", "succeeded")
            self._event(
                "disk-failure",
                f"{host}/{disk}",
                f"disk {host}/{disk} failed",
                lost=dict(lost_by_instance),
            )
        self._notify_all(affected, FailureKind.DISK_FAILURE, host, disk=disk, lost=lost_by_instance)

    def _rehome(
        self,
        cluster: Cluster,
        vol: dict[str, Any],
        indices: list[int],
        *,
        copy: bool,
        unplaced: list[str] | None = None,
    ) -> int:
        """Move components ``indices`` of a distributed volume to new disks; returns bytes moved.

        With ``copy`` the component's bytes are still readable (evacuation) and travel with
        it; otherwise (a destroyed component) it arrives stale and must be rebuilt from its
        peers. Components that find no new home stay where they are: each is reported in
        ``unplaced`` when given (a trial run), else as a ``rebuild-deferred`` event."""
        policy = POLICIES[vol["policy"]]
        moved = 0
        for index in indices:
            try:
                new = _placement.replace_component(cluster, policy, _placements(vol), index)
                cluster.reserve(vol["id"], [new])
            except PlacementError as exc:
                message = (
                    f"component {index} of volume {vol['name']!r} has no new home: {exc.message}"
                )
                if unplaced is not None:
                    unplaced.append(message)
                else:
                    self._event("rebuild-deferred", vol.get("instance", vol["name"]), message)
                continue
            comp = next(c for c in vol["components"] if c["index"] == index)
            moved += _component_bytes(policy, comp["role"], vol["extent"])
            comp.update(
                host=new.host,
                disk=new.disk,
                state=comp["state"] if copy and comp["state"] == "active" else "stale",
            )
        return moved

    def clear_disk_failure(self, host: str, disk: str) -> None:
        """Replace failed disk ``host``/``disk`` with a new empty one; components still homed
        there are rebuilt from their peers where possible (data of FTT=0 volumes stays lost)."""
        with self._lock:
            with self._mutation() as cluster:
                self._check_disk(cluster, host, disk)
                if cluster.disk(host, disk).state != "failed":
                    raise Conflict(f"disk {host}/{disk} has not failed")
                cluster.disk(host, disk).state = "healthy"
                for instance, vol, _ in self._volumes_on(host, disk):
                    self._resync(cluster, instance, vol)
            affected = self._affected(host, disk)
            self._audit("fault.clear.disk-failure", f"{host}/{disk}", "succeeded")
            self._event("disk-replaced", f"{host}/{disk}", f"disk {host}/{disk} replaced")
        self._notify_all(affected, FailureKind.DISK_REPLACED, host, disk=disk)

    def clear_faults(self) -> None:
        """Recover every failed host and replace every failed disk."""
        cluster = self._cluster()
        for h in list(cluster.hosts.values()):
            if h.state == "failed":
                self.clear_host_failure(h.name)
        for d in list(self._cluster().disks()):
            if d.state == "failed":
                self.clear_disk_failure(d.host, d.name)

    # ================================================================== maintenance

    def _impacts(
        self, cluster: Cluster, host: str, mode: MaintenanceMode, disk: str | None = None
    ) -> tuple[list[InstanceImpact], dict[str, list[int]]]:
        """Predict maintenance effects; also returns volume id -> component indices to move."""
        impacts: dict[str, dict[str, Any]] = {}
        moves: dict[str, list[int]] = {}
        names = {d["name"]: d["service"] for d in self._store.select("instance")}

        def entry(instance: str) -> dict[str, Any]:
            return impacts.setdefault(
                instance,
                {"inacc": [], "reduced": [], "rebuilt": [], "stopped": [], "bytes": 0},
            )

        if disk is None:  # a disk's maintenance stops no member
            for instance, members in self._members_on(host).items():
                entry(instance)["stopped"].extend(members)
        for instance, vol, here in self._volumes_on(host, disk):
            policy = POLICIES[vol["policy"]]
            scheme = _scheme_for(policy)
            available = self._available(cluster, vol)
            indices = [c["index"] for c in here]
            after = available - set(indices)
            move = policy.distributed and (
                mode is MaintenanceMode.EVACUATE_ALL
                or (
                    mode is MaintenanceMode.ENSURE_ACCESSIBILITY and not scheme.is_accessible(after)
                )
            )
            e = entry(instance)
            if move and scheme.can_reconstruct(available):
                moves[vol["id"]] = indices
                e["rebuilt"].append(vol["name"])
                e["bytes"] += sum(_component_bytes(policy, c["role"], vol["extent"]) for c in here)
            elif not scheme.is_accessible(after):
                e["inacc"].append(vol["name"])
            elif after != available:
                e["reduced"].append(vol["name"])
        out = []
        for name, e in sorted(impacts.items()):
            doc = self._instance_doc(name)
            if self._version_of(doc).manifest.redundancy is Redundancy.SERVICE:
                running = {m.name for m in self._list_members(name) if m.state == "running"} - set(
                    e["stopped"]
                )
                whole = not running
            else:
                whole = bool(e["inacc"])
            out.append(
                InstanceImpact(
                    instance=name,
                    service=names.get(name, ""),
                    inaccessible_volumes=tuple(e["inacc"]),
                    reduced_availability_volumes=tuple(e["reduced"]),
                    rebuilt_volumes=tuple(e["rebuilt"]),
                    stopped_members=tuple(e["stopped"]),
                    bytes_to_rebuild=e["bytes"],
                    instance_inaccessible=whole,
                )
            )
        return out, moves

    def _consult(self, host: str, mode: MaintenanceMode, disk: str | None = None) -> list[Veto]:
        """Ask every affected provider's ``on_maintenance`` (read-only); collect vetoes."""
        affected = self._affected(host, disk)
        vetoes: list[Veto] = []
        for instance, (members, volumes) in sorted(affected.items()):
            doc = self._instance_doc(instance)
            try:
                provider = self._provider(self._version_of(doc).provider)
            except Exception as exc:
                vetoes.append(
                    Veto(
                        instance=instance,
                        reason=VetoReason.GENERIC_FAILURE,
                        message=self._scrub(f"the provider cannot be loaded: {exc}"),
                    )
                )
                continue
            ctx = PlatformContext(
                self,
                instance,
                doc["service"],
                "on_maintenance",
                self._instance_logger(instance),
                read_only=True,
            )
            request = MaintenanceRequest(
                instance=instance,
                host=host,
                disk=disk,
                mode=mode,
                members=tuple(members),
                volumes=tuple(volumes),
            )
            try:
                decision = provider.on_maintenance(ctx, request)
            except Exception as exc:
                vetoes.append(
                    Veto(
                        instance=instance,
                        reason=VetoReason.GENERIC_FAILURE,
                        message=self._scrub(f"on_maintenance raised {type(exc).__name__}: {exc}"),
                    )
                )
                continue
            finally:
                ctx.close()
            if not decision.allowed:
                assert decision.reason is not None
                vetoes.append(
                    Veto(
                        instance=instance,
                        reason=decision.reason,
                        message=self._scrub_detecting(
                            decision.message, instance, "a maintenance veto"
                        ),
                    )
                )
        return vetoes

    def maintenance_precheck(
        self, host: str, mode: MaintenanceMode | str, *, disk: str | None = None
    ) -> MaintenancePrecheck:
        """Predict, changing nothing, what entering maintenance on ``host`` with ``mode`` does:
        instances that would become inaccessible, run with reduced availability, or have data
        rebuilt elsewhere, how many bytes would be rebuilt, and which providers would veto
        (their ``on_maintenance`` is asked with a read-only context).

        With ``disk``, the prediction is for that one disk of the host: its components go (or
        move, per the mode) and no member stops."""
        mode = _maintenance_mode(mode)
        with self._lock:
            cluster = self._cluster()
            self._check_host(cluster, host)
            problems: list[str] = []
            if cluster.host(host).state != "connected":
                problems.append(f"host {host} is {cluster.host(host).state}, not connected")
            if disk is not None:
                self._check_disk(cluster, host, disk)
                state = cluster.disk(host, disk).state
                if state != "healthy":
                    problems.append(f"disk {host}/{disk} is {state}, not healthy")
            impacts, moves = self._impacts(cluster, host, mode, disk)
            # Check that every planned move has a home, on a copy of the cluster.
            trial = Cluster.from_dict(cluster.to_dict())
            if disk is None:
                trial.host(host).state = "maintenance"
            else:
                trial.disk(host, disk).state = "maintenance"
            for _instance, vol, _ in self._volumes_on(host, disk):
                if vol["id"] in moves:
                    copy = json.loads(json.dumps(vol))
                    self._rehome(trial, copy, moves[vol["id"]], copy=True, unplaced=problems)
            return MaintenancePrecheck.summarise(
                host=host,
                disk=disk,
                mode=mode,
                instances=tuple(impacts),
                problems=tuple(problems),
                vetoes=tuple(self._consult(host, mode, disk)),
            )

    def enter_maintenance(
        self, host: str, mode: MaintenanceMode | str, *, disk: str | None = None
    ) -> MaintenanceResult:
        """Put ``host`` (or just its ``disk``) into maintenance with ``mode``.

        Every instance with a member or component there is consulted through
        ``on_maintenance`` (``request.disk`` names the disk); any veto refuses the whole
        request (:class:`MaintenanceVetoed`) and nothing changes. Otherwise components are
        moved per the mode, and for a host its members stop."""
        mode = _maintenance_mode(mode)
        target = host if disk is None else f"{host}/{disk}"
        action = "host.maintenance.enter" if disk is None else "disk.maintenance.enter"
        with self._lock:
            precheck = self.maintenance_precheck(host, mode, disk=disk)
            if precheck.problems:
                self._audit(action, target, "refused", "; ".join(precheck.problems))
                raise Conflict(
                    f"{target!r} cannot enter maintenance ({mode.value}): "
                    + "; ".join(precheck.problems)
                )
            affected = self._affected(host, disk)
            vetoes = list(precheck.vetoes)
            if vetoes:
                error = MaintenanceVetoed(target, vetoes)
                self._audit(action, target, "refused", str(error))
                raise error
            _, moves = self._impacts(self._cluster(), host, mode, disk)
            with self._mutation() as cluster:
                # Marked first so placement looks elsewhere; the components still leave
                # while their bytes are readable, so the bytes travel with them (copy).
                if disk is None:
                    cluster.host(host).state = "maintenance"
                else:
                    cluster.disk(host, disk).state = "maintenance"
                for instance, vol, _ in self._volumes_on(host, disk):
                    if vol["id"] in moves:
                        self._rehome(cluster, vol, moves[vol["id"]], copy=True)
                        self._store.put("volume", instance, vol["name"], vol)
            self._audit(action, target, "succeeded", mode.value)
            self._event(
                "maintenance-entered", target, f"{target} entered maintenance ({mode.value})"
            )
            return MaintenanceResult(
                host=host,
                disk=disk,
                mode=mode,
                precheck=precheck,
                consulted=tuple(sorted(affected)),
            )

    def exit_maintenance(self, host: str, *, disk: str | None = None) -> None:
        """Bring ``host`` (or just its ``disk``) back from maintenance; stale components
        resync and the providers of its members and volumes are told (``HOST_RECOVERED``,
        or ``DISK_RECOVERED`` for a disk)."""
        if disk is None:
            self._reconnect(
                host,
                "maintenance",
                "host.maintenance.exit",
                "maintenance-exited",
                "left maintenance",
            )
            return
        with self._lock:
            with self._mutation() as cluster:
                self._check_disk(cluster, host, disk)
                state = cluster.disk(host, disk).state
                if state != "maintenance":
                    raise Conflict(f"disk {host}/{disk} is not in maintenance (it is {state})")
                cluster.disk(host, disk).state = "healthy"
                for instance, vol, _ in self._volumes_on(host, disk):
                    self._resync(cluster, instance, vol)
            affected = self._affected(host, disk)
            self._audit("disk.maintenance.exit", f"{host}/{disk}", "succeeded")
            self._event("maintenance-exited", f"{host}/{disk}", f"{host}/{disk} left maintenance")
        self._notify_all(affected, FailureKind.DISK_RECOVERED, host, disk=disk)

    # ================================================================== consistency

    def check_consistency(self) -> list[str]:
        """Every way the stored state contradicts itself; an empty list means consistent.

        Checks that disk reservations equal the components of live volumes (placement,
        sizes, roles), that members and volumes reference each other, that no operation of a
        dead process is left pending or running, and that no idle instance claims to be busy.
        """
        problems: list[str] = []
        with self._lock:
            cluster = self._cluster()
            expected: dict[str, list[tuple[int, str, str, str, float]]] = {}
            for inst in self._store.select("instance"):
                name = inst["name"]
                members = {m["name"]: m for m in self._store.select("member", name)}
                for vol in self._store.select("volume", name):
                    expected[vol["id"]] = sorted(
                        (c["index"], c["role"], c["host"], c["disk"], round(c["reserved_gb"], 6))
                        for c in vol["components"]
                    )
                    policy = POLICIES[vol["policy"]]
                    sizes = policy.component_sizes_gb(vol["size_gb"])
                    for c in vol["components"]:
                        if abs(c["reserved_gb"] - sizes[c["index"]]) > 1e-6:
                            problems.append(
                                f"volume {name}/{vol['name']} component {c['index']} reserves "
                                f"{c['reserved_gb']} GB, policy says {sizes[c['index']]}"
                            )
                    if vol.get("member") and vol["member"] not in members:
                        problems.append(
                            f"volume {name}/{vol['name']} is attached to missing member "
                            f"{vol['member']}"
                        )
                for m in members.values():
                    for v in m["volumes"]:
                        if self._store.get("volume", name, v) is None:
                            problems.append(f"member {name}/{m['name']} lists missing volume {v}")
                status = InstanceStatus(inst["status"])
                op = inst.get("operation")
                if status in _BUSY:
                    record = self._store.get_operation(op) if op else None
                    if record is None or OperationState(record["state"]).terminal:
                        problems.append(
                            f"instance {name} is {status.value} with no running operation"
                        )
            actual: dict[str, list[tuple[int, str, str, str, float]]] = {}
            for disk in cluster.disks():
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
            for record in self._store.operations(states=("pending", "running")):
                if not _owner_alive(record.get("owner", "")):
                    problems.append(
                        f"operation {record['id']} ({record['kind']} {record['target']}) is "
                        f"{record['state']} but its process is gone"
                    )
        return problems
