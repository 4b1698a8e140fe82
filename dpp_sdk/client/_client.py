""":class:`PlatformClient`: the :class:`~dpp_sdk.platform.PlatformAPI` over the gateway."""

from __future__ import annotations

import os
import time
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar
from urllib.parse import quote

import requests

from dpp_sdk.client._errors import GatewayError, error_from_problem
from dpp_sdk.contract import (
    HostInfo,
    InstanceInfo,
    MaintenanceMode,
    Operation,
    OperationFailed,
    OperationState,
    ServiceProvider,
    structure,
)
from dpp_sdk.platform import (
    AuditRecord,
    ClockStatus,
    ClusterHealth,
    Event,
    InstanceHealth,
    MaintenancePrecheck,
    MaintenanceResult,
    Page,
    PlatformAPI,
    PlatformStatus,
    ResourceReport,
    ServiceInfo,
)

__all__ = ["PlatformClient"]

T = TypeVar("T")

DEFAULT_PAGE = 100
_RETRIES = 3  # attempts of a call that may be retried
_RETRY_PAUSE = 0.2  # seconds before the second attempt; doubled before each later one


def _segment(value: str) -> str:
    return quote(value, safe="")


def ref_text(ref: str | type[ServiceProvider]) -> str:
    """A provider reference as the server takes it: a class as ``module:Class``."""
    return ref if isinstance(ref, str) else f"{ref.__module__}:{ref.__qualname__}"


def _session_for(url: str) -> requests.Session:
    """A session that reads the environment's proxy and CA settings for ``url`` once, not on
    every request as ``requests`` does by default (a scan of every environment variable,
    about a millisecond per call)."""
    session = requests.Session()
    session.proxies.update(requests.utils.get_environ_proxies(url))
    bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
    if bundle:
        session.verify = bundle
    session.trust_env = False
    return session


class PlatformClient:
    """The platform behind a gateway (``dpp platform serve``), with the interface of the
    in-process :class:`~dpp_sdk.Platform`: the same methods, the same model types back, and
    the same exception types with the same messages (rebuilt from problem details).

    ``url`` is the gateway's base URL (``http://127.0.0.1:8080``), ``token`` the bearer token.
    One :class:`requests.Session` keeps connections alive. ``timeout`` bounds the wait for
    an answer (an operation runs to completion inside its request, so leave it above the
    platform's operation timeout); ``connect_timeout`` the wait for a connection. Pass a
    ``session`` of your own for proxies, certificates or adapters (the client sets its
    ``Authorization`` header, and closes it on :meth:`close`). ``sandbox`` addresses one of
    the gateway's sandboxes instead of its platform (see :class:`RemoteLab`).

    A call is retried (3 attempts, with back-off) after a connection error or a timeout only
    when repeating it is safe: reads, and mutations given an ``idempotency_key``.

    The instance updates (configure, scale, change, remove) also take ``if_match``, the
    entity tag of the version of the instance they are meant for: ``etag_of(info)`` of an
    instance document read before. When the instance has changed since, the gateway refuses
    the update (``412``) and the client raises :class:`~dpp_sdk.PreconditionFailed` (a
    :class:`~dpp_sdk.Conflict`); nothing is done. The in-process platform takes no
    ``if_match``, so code meant for either passes it only to a client.

    The platform log is read with :meth:`read_log` (:attr:`log_path` is None: the file is on
    the server).
    """

    def __init__(
        self,
        url: str,
        token: str | None = None,
        *,
        timeout: float = 660.0,
        connect_timeout: float = 5.0,
        session: requests.Session | None = None,
        sandbox: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.timeout = (connect_timeout, timeout)
        #: The gateway sandbox this client addresses (``Dpp-Sandbox``), or None.
        self.sandbox = sandbox
        self._http = session if session is not None else _session_for(self.url)
        self._http.headers["Accept"] = "application/json, application/problem+json"
        if token is not None:
            self._http.headers["Authorization"] = f"Bearer {token}"
        if sandbox is not None:
            self._http.headers["Dpp-Sandbox"] = sandbox

    def __repr__(self) -> str:
        return f"PlatformClient({self.url!r})"

    # ------------------------------------------------------------------ plumbing

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Mapping[str, Any] | None = None,
        key: str | None = None,
        if_match: str | None = None,
    ) -> requests.Response:
        retry = method == "GET" or key is not None
        headers = {} if key is None else {"Idempotency-Key": key}
        if if_match is not None:
            headers["If-Match"] = if_match
        query = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            attempt += 1
            try:
                response = self._http.request(
                    method,
                    f"{self.url}{path}",
                    params=query,
                    json=body,
                    headers=headers,
                    timeout=self.timeout,
                )
            except (requests.ConnectionError, requests.Timeout):
                if not retry or attempt >= _RETRIES:
                    raise
                time.sleep(_RETRY_PAUSE * 2 ** (attempt - 1))
                continue
            if response.status_code >= 400:
                self._raise(response)
            return response

    def request_json(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """Call a route the client has no method for (``path`` from ``/v1``) and return its
        JSON answer (None for an empty one); errors raise as the other methods do. Only a
        GET is retried."""
        response = self._request(method, path, body=body)
        return response.json() if response.content else None

    @staticmethod
    def _raise(response: requests.Response) -> NoReturn:
        try:
            problem = response.json()
        except ValueError:
            problem = None
        if not isinstance(problem, dict):
            text = response.text[:200]
            raise GatewayError(
                response.status_code,
                {},
                f"gateway answered {response.status_code} {response.reason}: {text}",
            )
        raise error_from_problem(response.status_code, problem)

    def _get(self, path: str, cls: type[T], **params: Any) -> T:
        return structure(self._request("GET", path, params=params).json(), cls)

    def _list(self, path: str, cls: type[T], **params: Any) -> list[T]:
        data = self._request("GET", path, params=params).json()
        return [structure(item, cls) for item in data]

    def _page(self, path: str, cls: type[T], **params: Any) -> Page[T]:
        if "limit" in params and params["limit"] is None:
            params["limit"] = "all"
        data = self._request("GET", path, params=params).json()
        return Page([structure(item, cls) for item in data["items"]], data["next_cursor"])

    def _operation(
        self,
        method: str,
        path: str,
        *,
        key: str | None,
        if_match: str | None,
        body: Mapping[str, Any] | None = None,
        params: Mapping[str, Any] | None = None,
    ) -> Operation:
        response = self._request(method, path, body=body, params=params, key=key, if_match=if_match)
        operation = structure(response.json(), Operation)
        if operation.state is OperationState.FAILED:
            raise OperationFailed(operation)
        return operation

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Close the HTTP session's connections; idempotent."""
        self._http.close()

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def log_path(self) -> Path | None:
        """None: the platform log lives on the server."""
        return None

    def interrupted_operations(self) -> list[Operation]:
        """Operations left pending or running by a process that is gone (changes nothing).
        The gateway recovers them when it starts; a process killed later can leave more."""
        return self._list("/v1/recovery", Operation)

    def recover(self, *, targets: Collection[str] | None = None) -> list[Operation]:
        """Resume or fail every interrupted operation (on ``targets`` only, when given);
        returns them as they ended."""
        body = {} if targets is None else {"targets": sorted(targets)}
        data = self._request("POST", "/v1/recovery", body=body).json()
        return [structure(item, Operation) for item in data]

    def read_log(self, *, lines: int | None = None, offset: int | None = None) -> tuple[str, int]:
        """Part of the platform log on the server, and the offset to go on from: the last
        ``lines`` lines (all when None), or, with ``offset`` (the one a previous call
        returned), the complete lines written since. Not part of ``PlatformAPI``: the
        in-process platform has :attr:`log_path` instead."""
        data = self._request("GET", "/v1/log", params={"lines": lines, "offset": offset}).json()
        return str(data["text"]), int(data["offset"])

    # ------------------------------------------------------------------ catalog

    def register_service(self, ref: str | type[ServiceProvider]) -> ServiceInfo:
        """Register the provider ``ref`` names, as the server sees it (its path, its modules);
        a class is sent as ``module:Class``, for the server to import."""
        response = self._request("POST", "/v1/services", body={"ref": ref_text(ref)})
        return structure(response.json(), ServiceInfo)

    def get_service(self, name: str) -> ServiceInfo:
        """The catalog entry of service ``name``."""
        return self._get(f"/v1/services/{_segment(name)}", ServiceInfo)

    def list_services(self) -> list[ServiceInfo]:
        """Every registered service, by name."""
        return self._list("/v1/services", ServiceInfo)

    def activate_version(self, name: str, version: str) -> ServiceInfo:
        """Make registered ``version`` of service ``name`` the one new instances use."""
        path = f"/v1/services/{_segment(name)}/versions/{_segment(version)}/activate"
        return structure(self._request("POST", path).json(), ServiceInfo)

    def enable_service(self, name: str) -> ServiceInfo:
        """Allow new instances of service ``name``."""
        path = f"/v1/services/{_segment(name)}/enable"
        return structure(self._request("POST", path).json(), ServiceInfo)

    def disable_service(self, name: str) -> ServiceInfo:
        """Refuse new instances of service ``name`` (existing ones keep running)."""
        path = f"/v1/services/{_segment(name)}/disable"
        return structure(self._request("POST", path).json(), ServiceInfo)

    # ------------------------------------------------------------------ instances

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
        """Provision instance ``name`` of ``service``; returns the succeeded operation."""
        body = {
            "service": service,
            "name": name,
            "capacity_gb": capacity_gb,
            "parameters": parameters,
            "plan": plan,
            "policy": policy,
        }
        body = {k: v for k, v in body.items() if v is not None}
        return self._operation(
            "POST", "/v1/instances", body=body, key=idempotency_key, if_match=None
        )

    def get_instance(self, name: str) -> InstanceInfo:
        """The instance document of ``name``."""
        return self._get(f"/v1/instances/{_segment(name)}", InstanceInfo)

    def list_instances(
        self,
        *,
        service: str | None = None,
        limit: int | None = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> Page[InstanceInfo]:
        """One page of instances by name (of ``service``), after ``cursor``; ``limit=None``: all."""
        return self._page(
            "/v1/instances", InstanceInfo, service=service, limit=limit, cursor=cursor
        )

    def configure_instance(
        self,
        name: str,
        parameters: Mapping[str, Any],
        *,
        idempotency_key: str | None = None,
        if_match: str | None = None,
    ) -> Operation:
        """Merge ``parameters`` into instance ``name``'s through the provider's ``configure``.
        ``if_match``: only if the instance is still the version this tag names (see
        :func:`etag_of`), else :class:`~dpp_sdk.PreconditionFailed` and nothing is done."""
        return self._operation(
            "POST",
            f"/v1/instances/{_segment(name)}/configure",
            body={"parameters": parameters},
            key=idempotency_key,
            if_match=if_match,
        )

    def change_instance(
        self,
        name: str,
        *,
        parameters: Mapping[str, Any] | None = None,
        capacity_gb: int | None = None,
        idempotency_key: str | None = None,
        if_match: str | None = None,
    ) -> list[Operation]:
        """Configure then scale instance ``name`` (keys ``K:configure`` and ``K:scale``);
        returns the operations. When one fails, raises :class:`~dpp_sdk.OperationFailed`
        noting what was already done, as in-process. ``if_match``: only if the instance is
        still that version (checked once, before the configure)."""
        body: dict[str, Any] = {"parameters": parameters, "capacity_gb": capacity_gb}
        response = self._request(
            "POST",
            f"/v1/instances/{_segment(name)}/change",
            body={k: v for k, v in body.items() if v is not None},
            key=idempotency_key,
            if_match=if_match,
        )
        operations = [structure(item, Operation) for item in response.json()]
        if operations and operations[-1].state is OperationState.FAILED:
            failed = OperationFailed(operations[-1])
            if len(operations) > 1:
                failed.add_note(
                    "already done: "
                    + ", ".join(f"{o.kind} {o.id} {o.state.value}" for o in operations[:-1])
                )
            raise failed
        return operations

    def scale_instance(
        self,
        name: str,
        capacity_gb: int,
        *,
        idempotency_key: str | None = None,
        if_match: str | None = None,
    ) -> Operation:
        """Change instance ``name``'s capacity through the provider's ``scale``
        (``if_match``: only if the instance is still that version)."""
        return self._operation(
            "POST",
            f"/v1/instances/{_segment(name)}/scale",
            body={"capacity_gb": capacity_gb},
            key=idempotency_key,
            if_match=if_match,
        )

    def remove_instance(
        self,
        name: str,
        *,
        force: bool = False,
        idempotency_key: str | None = None,
        if_match: str | None = None,
    ) -> Operation:
        """Decommission instance ``name`` (``force``: reclaim without calling the provider;
        ``if_match``: only if the instance is still that version)."""
        return self._operation(
            "DELETE",
            f"/v1/instances/{_segment(name)}",
            params={"force": "true"} if force else None,
            key=idempotency_key,
            if_match=if_match,
        )

    # ------------------------------------------------------------------ operations

    def get_operation(self, op_id: str) -> Operation:
        """The operation ``op_id``."""
        return self._get(f"/v1/operations/{_segment(op_id)}", Operation)

    def list_operations(
        self,
        *,
        target: str | None = None,
        limit: int | None = DEFAULT_PAGE,
        cursor: str | None = None,
    ) -> Page[Operation]:
        """One page of operations, oldest first (on ``target``), after ``cursor``."""
        return self._page("/v1/operations", Operation, target=target, limit=limit, cursor=cursor)

    # ------------------------------------------------------------------ health, status

    def instance_health(self, name: str) -> InstanceHealth:
        """Health of instance ``name``: the provider's checks plus the platform's own."""
        return self._get(f"/v1/instances/{_segment(name)}/health", InstanceHealth)

    def cluster_health(self) -> ClusterHealth:
        """Health of every instance plus the cluster's hosts, disks and capacity."""
        return self._get("/v1/health", ClusterHealth)

    def status(self) -> PlatformStatus:
        """Platform settings and a capacity summary."""
        return self._get("/v1/status", PlatformStatus)

    def resources(self) -> ResourceReport:
        """Capacity accounting per disk and per instance."""
        return self._get("/v1/resources", ResourceReport)

    # ------------------------------------------------------------------ hosts, maintenance

    def list_hosts(self) -> list[HostInfo]:
        """Hosts with their fault domain, state and disks."""
        return self._list("/v1/hosts", HostInfo)

    def get_host(self, name: str) -> HostInfo:
        """Host ``name`` with its fault domain, state and disks."""
        return self._get(f"/v1/hosts/{_segment(name)}", HostInfo)

    def maintenance_precheck(
        self, host: str, mode: MaintenanceMode | str, *, disk: str | None = None
    ) -> MaintenancePrecheck:
        """Predict, changing nothing, what entering maintenance on ``host`` would do."""
        path = f"/v1/hosts/{_segment(host)}/maintenance/precheck"
        return self._get(path, MaintenancePrecheck, mode=str(mode), disk=disk)

    def enter_maintenance(
        self, host: str, mode: MaintenanceMode | str, *, disk: str | None = None
    ) -> MaintenanceResult:
        """Put ``host`` (or its ``disk``) into maintenance; any provider's veto refuses it."""
        body = {"mode": str(mode)} | ({} if disk is None else {"disk": disk})
        response = self._request("POST", f"/v1/hosts/{_segment(host)}/maintenance", body=body)
        return structure(response.json(), MaintenanceResult)

    def exit_maintenance(self, host: str, *, disk: str | None = None) -> None:
        """Bring ``host`` (or its ``disk``) back from maintenance."""
        path = f"/v1/hosts/{_segment(host)}/maintenance"
        self._request("DELETE", path, params={"disk": disk})

    # ------------------------------------------------------------------ faults

    def inject_host_failure(self, host: str) -> None:
        """Fail ``host``: members unreachable, components absent, its repair timer starts."""
        self._request("POST", f"/v1/hosts/{_segment(host)}/failure")

    def clear_host_failure(self, host: str) -> None:
        """Recover failed ``host``: it reconnects and its components resync."""
        self._request("DELETE", f"/v1/hosts/{_segment(host)}/failure")

    def inject_disk_failure(self, host: str, disk: str) -> None:
        """Fail disk ``disk`` of ``host``: the components on it are destroyed."""
        self._request("POST", f"/v1/hosts/{_segment(host)}/disks/{_segment(disk)}/failure")

    def clear_disk_failure(self, host: str, disk: str) -> None:
        """Replace failed disk ``disk`` of ``host`` with a new, empty one."""
        self._request("DELETE", f"/v1/hosts/{_segment(host)}/disks/{_segment(disk)}/failure")

    def clear_faults(self) -> None:
        """Recover every failed host and replace every failed disk."""
        self._request("DELETE", "/v1/faults")

    # ------------------------------------------------------------------ time

    def advance(self, seconds: float) -> ClockStatus:
        """Move the simulated clock forward and fire the timers that fall due."""
        response = self._request("POST", "/v1/clock/advance", body={"seconds": seconds})
        return structure(response.json(), ClockStatus)

    def clock_status(self) -> ClockStatus:
        """The clock's time and kind, and the running repair timers."""
        return self._get("/v1/clock", ClockStatus)

    # ------------------------------------------------------------------ audit, events

    def audit(self, *, limit: int | None = None, cursor: str | None = None) -> Page[AuditRecord]:
        """The audit trail, oldest first: the last ``limit`` records, or those after ``cursor``."""
        return self._page("/v1/audit", AuditRecord, limit=limit, cursor=cursor)

    def events(
        self, *, since: int = 0, kind: str | None = None, limit: int | None = None
    ) -> list[Event]:
        """Platform events after sequence number ``since`` (of ``kind``), at most ``limit``."""
        return self._list("/v1/events", Event, since=since, kind=kind, limit=limit)

    # ------------------------------------------------------------------ self-checks

    def check_consistency(self) -> list[str]:
        """Every way the stored state contradicts itself; empty when consistent (admin)."""
        return [str(problem) for problem in self._request("GET", "/v1/consistency").json()]

    def ledger(self, instance_uid: str) -> list[dict[str, Any]]:
        """Everything instance ``instance_uid`` ever held (admin)."""
        return list(self._request("GET", f"/v1/ledger/{_segment(instance_uid)}").json())


if TYPE_CHECKING:

    def _implements_the_protocol(client: PlatformClient) -> PlatformAPI:
        return client  # mypy checks here that PlatformClient satisfies PlatformAPI
