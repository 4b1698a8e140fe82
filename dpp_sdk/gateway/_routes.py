"""The routes of ``/v1``: one :class:`Endpoint` each, the single source of both the
application's routing (:mod:`dpp_sdk.gateway._app`) and the OpenAPI document
(:mod:`dpp_sdk.gateway._openapi`).

Each endpoint names the :class:`~dpp_sdk.platform.PlatformAPI` call it makes. The gateway
checks the body against the route's schema (:mod:`dpp_sdk.gateway._schemas`: known members
of the right JSON types) and turns query strings into numbers; the request is then handed to
the platform, which validates every value and names the field with the same JSON path as
in-process.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs

from dpp_sdk.contract import NotFound, Operation, OperationFailed, Problem, ValidationError
from dpp_sdk.platform import PlatformAPI

__all__ = ["ENDPOINTS", "Args", "Endpoint", "QueryParam", "not_a_platform_call"]

QueryType = Literal["string", "integer", "boolean", "limit"]


@attrs.frozen(kw_only=True)
class QueryParam:
    """A query parameter: its name, type (``limit``: an integer, or ``all``) and meaning."""

    name: str
    type: QueryType
    description: str


@attrs.frozen(kw_only=True)
class Args:
    """What one request carries, parsed: path parameters, query parameters (absent ones are
    left out), the JSON body (an object, ``{}`` when there is none) and the idempotency key."""

    path: Mapping[str, str]
    query: Mapping[str, Any]
    body: Mapping[str, Any]
    idempotency_key: str | None


Reply = Literal["json", "operation", "created", "empty"]
"""How a result is answered: ``json`` 200 with the document; ``operation`` 202 with the
operation and its ``Location``; ``created`` 201 with the document and ``Location``; ``empty``
204 with no body."""


@attrs.frozen(kw_only=True)
class Endpoint:
    """One route: ``method`` and ``path`` (``{name}`` for a path parameter), the
    ``operation_id`` and ``summary`` of the OpenAPI document, the query parameters and body
    members it accepts (body: name -> JSON type; ``required`` among them), how it answers,
    the document it answers with (a schema name of the OpenAPI document), and the call."""

    method: Literal["GET", "POST", "DELETE"]
    path: str
    operation_id: str
    summary: str
    call: Callable[[PlatformAPI, Args], Any]
    query: tuple[QueryParam, ...] = ()
    body: Mapping[str, str] | None = None
    required: tuple[str, ...] = ()
    reply: Reply = "json"
    schema: str = "Document"
    location: Callable[[Any], str] | None = None


_LIMIT = QueryParam(
    name="limit", type="limit", description="Page size, 1..10000 (default 100), or `all`."
)
_CURSOR = QueryParam(
    name="cursor", type="string", description="The `next_cursor` of the previous page."
)
_MODE = QueryParam(
    name="mode",
    type="string",
    description="ensure-accessibility, evacuate-all or no-action (required).",
)
_DISK = QueryParam(name="disk", type="string", description="One disk of the host.")


def not_a_platform_call(platform: PlatformAPI, args: Args) -> Any:
    """The ``call`` of a route the gateway answers itself (tokens, sandboxes): the application
    dispatches those by ``operation_id``, never to the platform."""
    raise RuntimeError("this route acts on the gateway's own state, not on the platform")


def _page(args: Args) -> dict[str, Any]:
    return {k: args.query[k] for k in ("limit", "cursor") if k in args.query}


def _create(p: PlatformAPI, a: Args) -> Any:
    return p.create_instance(**a.body, idempotency_key=a.idempotency_key)


def _configure(p: PlatformAPI, a: Args) -> Any:
    return p.configure_instance(
        a.path["name"], a.body["parameters"], idempotency_key=a.idempotency_key
    )


def _scale(p: PlatformAPI, a: Args) -> Any:
    return p.scale_instance(
        a.path["name"], a.body["capacity_gb"], idempotency_key=a.idempotency_key
    )


def _remove(p: PlatformAPI, a: Args) -> Any:
    return p.remove_instance(
        a.path["name"], force=a.query.get("force", False), idempotency_key=a.idempotency_key
    )


def _events(p: PlatformAPI, a: Args) -> Any:
    return p.events(since=a.query.get("since", 0), kind=a.query.get("kind"), limit=_limit(a))


def _limit(a: Args) -> Any:
    return a.query.get("limit")


def _change(p: PlatformAPI, a: Args) -> list[Operation]:
    """``change_instance``, answering with the operations as they ended: when one fails, it
    comes last, after those already done (the client raises ``OperationFailed`` from it and
    notes the others, as in-process)."""
    try:
        return p.change_instance(
            a.path["name"],
            parameters=a.body.get("parameters"),
            capacity_gb=a.body.get("capacity_gb"),
            idempotency_key=a.idempotency_key,
        )
    except OperationFailed as exc:
        notes = " ".join(getattr(exc, "__notes__", ()))
        done = [p.get_operation(op_id) for op_id in re.findall(r"\bop-[0-9a-f]+\b", notes)]
        return [*done, exc.operation]


def _recover(p: PlatformAPI, a: Args) -> list[Operation]:
    return p.recover(targets=a.body.get("targets"))


LOG_CHUNK = 1 << 20
"""At most this many bytes of the platform log in one answer of ``GET /v1/log``."""


def _log(p: PlatformAPI, a: Args) -> dict[str, Any]:
    """Part of the platform log: the complete lines written after byte ``offset`` (from the
    start again if the file shrank), or the last ``lines`` lines of its last
    :data:`LOG_CHUNK` bytes (all of them when ``lines`` is absent)."""
    path = p.log_path
    if path is None:
        raise NotFound("log", "platform log", "this platform keeps no log file (in-memory state)")
    offset = a.query.get("offset")
    try:
        with path.open("rb") as stream:
            size = stream.seek(0, 2)
            if offset is None:
                start = max(0, size - LOG_CHUNK)
            else:
                start = offset if 0 <= offset <= size else 0
            stream.seek(start)
            data = stream.read(LOG_CHUNK)
    except FileNotFoundError:
        start, data = 0, b""
    end = start + len(data)
    if offset is None:
        kept = data.splitlines(keepends=True)[1 if start else 0 :]  # a cut first line goes
        lines = a.query.get("lines")
        data = b"".join(kept if lines is None else kept[max(0, len(kept) - lines) :])
    else:
        cut = data.rfind(b"\n") + 1  # complete lines only, unless one fills the chunk
        if cut or len(data) < LOG_CHUNK:
            data, end = data[:cut], start + cut
    return {"text": data.decode("utf-8", errors="replace"), "offset": end}


ENDPOINTS: tuple[Endpoint, ...] = (
    # ---------------------------------------------------------------- services
    Endpoint(
        method="GET",
        path="/v1/services",
        operation_id="listServices",
        summary="Every registered service, by name.",
        call=lambda p, a: p.list_services(),
        schema="ServiceList",
    ),
    Endpoint(
        method="POST",
        path="/v1/services",
        operation_id="registerService",
        summary="Register (or refresh) the provider named by `ref` (`module:Class` or a "
        "provider directory, as the server sees it).",
        call=lambda p, a: p.register_service(a.body["ref"]),
        body={"ref": "string"},
        required=("ref",),
        reply="created",
        location=lambda service: f"/v1/services/{service.name}",
        schema="Service",
    ),
    Endpoint(
        method="GET",
        path="/v1/services/{name}",
        operation_id="getService",
        summary="The catalog entry of one service.",
        call=lambda p, a: p.get_service(a.path["name"]),
        schema="Service",
    ),
    Endpoint(
        method="POST",
        path="/v1/services/{name}/enable",
        operation_id="enableService",
        summary="Allow new instances of the service.",
        call=lambda p, a: p.enable_service(a.path["name"]),
        schema="Service",
    ),
    Endpoint(
        method="POST",
        path="/v1/services/{name}/disable",
        operation_id="disableService",
        summary="Refuse new instances of the service (existing ones keep running).",
        call=lambda p, a: p.disable_service(a.path["name"]),
        schema="Service",
    ),
    Endpoint(
        method="POST",
        path="/v1/services/{name}/versions/{version}/activate",
        operation_id="activateServiceVersion",
        summary="Make a registered version the one new instances use.",
        call=lambda p, a: p.activate_version(a.path["name"], a.path["version"]),
        schema="Service",
    ),
    # ---------------------------------------------------------------- instances
    Endpoint(
        method="GET",
        path="/v1/instances",
        operation_id="listInstances",
        summary="One page of instances by name.",
        call=lambda p, a: p.list_instances(service=a.query.get("service"), **_page(a)),
        query=(
            QueryParam(name="service", type="string", description="Only this service's."),
            _LIMIT,
            _CURSOR,
        ),
        schema="InstancePage",
    ),
    Endpoint(
        method="POST",
        path="/v1/instances",
        operation_id="createInstance",
        summary="Provision an instance; answers with its provision operation.",
        call=_create,
        body={
            "service": "string",
            "name": "string",
            "capacity_gb": "integer",
            "parameters": "object",
            "plan": "string",
            "policy": "string",
        },
        required=("service", "name"),
        reply="operation",
    ),
    Endpoint(
        method="GET",
        path="/v1/instances/{name}",
        operation_id="getInstance",
        summary="The instance document.",
        call=lambda p, a: p.get_instance(a.path["name"]),
        schema="Instance",
    ),
    Endpoint(
        method="DELETE",
        path="/v1/instances/{name}",
        operation_id="removeInstance",
        summary="Decommission the instance (`force`: reclaim without calling the provider).",
        call=_remove,
        query=(QueryParam(name="force", type="boolean", description="Skip the provider."),),
        reply="operation",
    ),
    Endpoint(
        method="POST",
        path="/v1/instances/{name}/configure",
        operation_id="configureInstance",
        summary="Merge `parameters` into the instance's through the provider's configure.",
        call=_configure,
        body={"parameters": "object"},
        required=("parameters",),
        reply="operation",
    ),
    Endpoint(
        method="POST",
        path="/v1/instances/{name}/scale",
        operation_id="scaleInstance",
        summary="Change the instance's capacity through the provider's scale.",
        call=_scale,
        body={"capacity_gb": "integer"},
        required=("capacity_gb",),
        reply="operation",
    ),
    Endpoint(
        method="GET",
        path="/v1/instances/{name}/health",
        operation_id="getInstanceHealth",
        summary="The instance's health: the provider's checks plus the platform's own.",
        call=lambda p, a: p.instance_health(a.path["name"]),
        schema="InstanceHealth",
    ),
    # ---------------------------------------------------------------- operations
    Endpoint(
        method="GET",
        path="/v1/operations",
        operation_id="listOperations",
        summary="One page of operations, oldest first.",
        call=lambda p, a: p.list_operations(target=a.query.get("target"), **_page(a)),
        query=(
            QueryParam(name="target", type="string", description="Only those on this target."),
            _LIMIT,
            _CURSOR,
        ),
        schema="OperationPage",
    ),
    Endpoint(
        method="GET",
        path="/v1/operations/{id}",
        operation_id="getOperation",
        summary="One operation.",
        call=lambda p, a: p.get_operation(a.path["id"]),
        schema="Operation",
    ),
    # ---------------------------------------------------------------- health and reports
    Endpoint(
        method="GET",
        path="/v1/health",
        operation_id="getClusterHealth",
        summary="Health of every instance plus the cluster's hosts, disks and capacity.",
        call=lambda p, a: p.cluster_health(),
        schema="ClusterHealth",
    ),
    Endpoint(
        method="GET",
        path="/v1/status",
        operation_id="getStatus",
        summary="Platform settings and a capacity summary.",
        call=lambda p, a: p.status(),
    ),
    Endpoint(
        method="GET",
        path="/v1/resources",
        operation_id="getResources",
        summary="Capacity accounting per disk, per pool and per instance.",
        call=lambda p, a: p.resources(),
    ),
    # ---------------------------------------------------------------- hosts and faults
    Endpoint(
        method="GET",
        path="/v1/hosts",
        operation_id="listHosts",
        summary="Hosts with their fault domain, state and disks.",
        call=lambda p, a: p.list_hosts(),
        schema="DocumentList",
    ),
    Endpoint(
        method="GET",
        path="/v1/hosts/{host}",
        operation_id="getHost",
        summary="One host with its fault domain, state and disks.",
        call=lambda p, a: p.get_host(a.path["host"]),
    ),
    Endpoint(
        method="GET",
        path="/v1/hosts/{host}/maintenance/precheck",
        operation_id="precheckMaintenance",
        summary="Predict, changing nothing, what entering maintenance with `mode` would do "
        "(on one `disk` of the host when given); providers' vetoes included.",
        call=lambda p, a: p.maintenance_precheck(
            a.path["host"], a.query.get("mode", ""), disk=a.query.get("disk")
        ),
        query=(_MODE, _DISK),
    ),
    Endpoint(
        method="POST",
        path="/v1/hosts/{host}/maintenance",
        operation_id="enterMaintenance",
        summary="Put the host (or one of its disks) into maintenance; any provider's veto "
        "refuses it (409).",
        call=lambda p, a: p.enter_maintenance(
            a.path["host"], a.body["mode"], disk=a.body.get("disk")
        ),
        body={"mode": "string", "disk": "string"},
        required=("mode",),
    ),
    Endpoint(
        method="DELETE",
        path="/v1/hosts/{host}/maintenance",
        operation_id="exitMaintenance",
        summary="Bring the host (or one of its disks) back from maintenance.",
        call=lambda p, a: p.exit_maintenance(a.path["host"], disk=a.query.get("disk")),
        query=(_DISK,),
        reply="empty",
    ),
    Endpoint(
        method="POST",
        path="/v1/hosts/{host}/failure",
        operation_id="injectHostFailure",
        summary="Fail the host: members unreachable, components absent, repair timer started.",
        call=lambda p, a: p.inject_host_failure(a.path["host"]),
        reply="empty",
    ),
    Endpoint(
        method="DELETE",
        path="/v1/hosts/{host}/failure",
        operation_id="clearHostFailure",
        summary="Recover the failed host: it reconnects and its components resync.",
        call=lambda p, a: p.clear_host_failure(a.path["host"]),
        reply="empty",
    ),
    Endpoint(
        method="POST",
        path="/v1/hosts/{host}/disks/{disk}/failure",
        operation_id="injectDiskFailure",
        summary="Fail one disk of the host: the components on it are destroyed.",
        call=lambda p, a: p.inject_disk_failure(a.path["host"], a.path["disk"]),
        reply="empty",
    ),
    Endpoint(
        method="DELETE",
        path="/v1/hosts/{host}/disks/{disk}/failure",
        operation_id="clearDiskFailure",
        summary="Replace the failed disk with a new, empty one.",
        call=lambda p, a: p.clear_disk_failure(a.path["host"], a.path["disk"]),
        reply="empty",
    ),
    Endpoint(
        method="DELETE",
        path="/v1/faults",
        operation_id="clearFaults",
        summary="Recover every failed host and replace every failed disk.",
        call=lambda p, a: p.clear_faults(),
        reply="empty",
    ),
    # ---------------------------------------------------------------- time
    Endpoint(
        method="GET",
        path="/v1/clock",
        operation_id="getClock",
        summary="The clock's time and kind, and the running repair timers.",
        call=lambda p, a: p.clock_status(),
    ),
    Endpoint(
        method="POST",
        path="/v1/clock/advance",
        operation_id="advanceClock",
        summary="Move the simulated clock forward and fire the timers that fall due.",
        call=lambda p, a: p.advance(a.body["seconds"]),
        body={"seconds": "number"},
        required=("seconds",),
    ),
    # ---------------------------------------------------------------- audit and events
    Endpoint(
        method="GET",
        path="/v1/audit",
        operation_id="listAudit",
        summary="The audit trail, oldest first: the last `limit` records, or those after `cursor`.",
        call=lambda p, a: p.audit(limit=_limit(a), cursor=a.query.get("cursor")),
        query=(
            QueryParam(name="limit", type="limit", description="At most this many (or `all`)."),
            _CURSOR,
        ),
        schema="Page",
    ),
    Endpoint(
        method="GET",
        path="/v1/events",
        operation_id="listEvents",
        summary="Platform events after sequence number `since`, oldest first.",
        call=_events,
        query=(
            QueryParam(name="since", type="integer", description="After this `seq` (0: all)."),
            QueryParam(name="kind", type="string", description="Only events of this kind."),
            QueryParam(name="limit", type="limit", description="At most this many (or `all`)."),
        ),
        schema="DocumentList",
    ),
    # ---------------------------------------------------------------- added: change, recovery, log
    Endpoint(
        method="POST",
        path="/v1/instances/{name}/change",
        operation_id="changeInstance",
        summary="Configure then scale the instance (`dpp instance set`), each an operation of "
        "its own; a scale that would be refused refuses the whole change first. Answers with "
        "the operations as they ended (a failed one last); with an Idempotency-Key K they use "
        "the keys `K:configure` and `K:scale`.",
        call=_change,
        body={"parameters": "object", "capacity_gb": "integer"},
        schema="OperationList",
    ),
    Endpoint(
        method="GET",
        path="/v1/recovery",
        operation_id="listInterruptedOperations",
        summary="Operations left pending or running by a process that is gone (changes nothing).",
        call=lambda p, a: p.interrupted_operations(),
        schema="OperationList",
    ),
    Endpoint(
        method="POST",
        path="/v1/recovery",
        operation_id="recoverOperations",
        summary="Resume or fail every interrupted operation (only those on `targets`, when "
        "given); answers with them as they ended.",
        call=_recover,
        body={"targets": "array"},
        schema="OperationList",
    ),
    Endpoint(
        method="GET",
        path="/v1/log",
        operation_id="getLog",
        summary="The platform log (`datapersistence.log`): the last `lines` lines, or what "
        "was written after byte `offset` (to follow it); `offset` in the answer is where to "
        "go on from.",
        call=_log,
        query=(
            QueryParam(name="lines", type="integer", description="Only the last N lines."),
            QueryParam(
                name="offset", type="integer", description="The `offset` of the last answer."
            ),
        ),
        schema="Document",
    ),
    # ---------------------------------------------------------------- added: self-checks
    Endpoint(
        method="GET",
        path="/v1/consistency",
        operation_id="checkConsistency",
        summary="Every way the stored state contradicts itself (an empty list: consistent).",
        call=lambda p, a: p.check_consistency(),
        schema="DocumentList",
    ),
    Endpoint(
        method="GET",
        path="/v1/ledger/{uid}",
        operation_id="getLedger",
        summary="Every volume, member, endpoint and secret the instance with this uid (the "
        "`instance_uid` of its provision operation) ever held; it outlives the instance.",
        call=lambda p, a: p.ledger(a.path["uid"]),
        schema="DocumentList",
    ),
)
"""Every route of ``/v1`` but the OpenAPI document itself, in the document's order."""


def parse_query(endpoint: Endpoint, raw: Mapping[str, str]) -> dict[str, Any]:
    """The endpoint's query parameters from their strings; every wrong one is reported at
    once (``$.query.NAME``), and unknown ones are refused."""
    known = {q.name: q for q in endpoint.query}
    parsed: dict[str, Any] = {}
    problems: list[tuple[str, Any, str]] = []
    for name, text in raw.items():
        param = known.get(name)
        if param is None:
            problems.append(
                (f"$.query.{name}", text, f"unknown query parameter of {_route(endpoint)}")
            )
        elif param.type == "string":
            parsed[name] = text
        elif param.type == "boolean":
            if text.lower() not in ("true", "false", "1", "0"):
                problems.append((f"$.query.{name}", text, "must be true or false"))
            parsed[name] = text.lower() in ("true", "1")
        elif param.type == "limit" and text == "all":
            parsed[name] = None
        else:
            try:
                parsed[name] = int(text)
            except ValueError:
                kind = "an integer, or all" if param.type == "limit" else "an integer"
                problems.append((f"$.query.{name}", text, f"must be {kind}"))
    if problems:
        raise _invalid(f"the query of {_route(endpoint)} is invalid", problems)
    return parsed


def _route(endpoint: Endpoint) -> str:
    return f"{endpoint.method} {endpoint.path}"


def _invalid(summary: str, problems: list[tuple[str, Any, str]]) -> ValidationError:
    count = len(problems)
    return ValidationError(
        f"{summary} ({count} problem{'' if count == 1 else 's'})",
        [Problem(path=path, value=value, message=message) for path, value, message in problems],
    )
