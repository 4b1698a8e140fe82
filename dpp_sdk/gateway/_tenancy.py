"""What a partner token may see and do: one vendor's services, their instances, and the
operations, health, audit records and events about them.

Each route of :data:`~dpp_sdk.gateway._routes.ENDPOINTS` is answered for a partner by the
rule :data:`PARTNER_RULES` names for its ``operation_id``:

- a *guard* checks that the object the path (or body) names belongs to the partner's vendor
  before the platform is called, and answers ``404`` as the platform would for an object that
  does not exist when it does not (the partner cannot tell the two apart);
- a *filter* calls the platform and keeps only the partner's items, page by page with the
  platform's own cursors (a page never ends on someone else's item, so its cursor names
  nothing of theirs);
- a route with no rule is refused with ``403``: cluster-wide administration (faults,
  maintenance, the clock, tokens) and any route added later until a rule is written for it.

An instance belongs to a vendor when its service's manifest names that vendor. A record
(operation, audit record, event) belongs to it when its target is one of the vendor's
services, or one of its instances and the record is not older than the instance's current
incarnation (its latest ``provision``), so a name removed and reused by another vendor does
not show the former owner's history. See ``docs/security.md``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import attrs

from dpp_sdk.contract import (
    HealthStatus,
    InstanceInfo,
    NotFound,
    Operation,
)
from dpp_sdk.gateway._problems import Forbidden
from dpp_sdk.gateway._routes import Args, Endpoint
from dpp_sdk.platform import (
    AuditRecord,
    ClusterHealth,
    Event,
    Page,
    PlatformAPI,
    PlatformStatus,
    ResourceReport,
    ServiceInfo,
)

__all__ = ["PARTNER_RULES", "partner_call"]

T = TypeVar("T")
DEFAULT_PAGE = 100
MAX_PAGE = 10000


class Scope:
    """What one partner request may see: the vendor's services, and (looked up once per
    request) which instance names are the vendor's and since when."""

    def __init__(self, platform: PlatformAPI, vendor: str) -> None:
        self.platform = platform
        self.vendor = vendor
        self._services: dict[str, ServiceInfo] | None = None
        self._instances: dict[str, InstanceInfo | None] = {}
        self._since: dict[str, _dt.datetime | None] = {}

    @property
    def services(self) -> dict[str, ServiceInfo]:
        """The vendor's services by name."""
        if self._services is None:
            self._services = {
                s.name: s for s in self.platform.list_services() if s.vendor == self.vendor
            }
        return self._services

    def instance(self, name: str) -> InstanceInfo | None:
        """Instance ``name`` if it exists and is the vendor's."""
        if name not in self._instances:
            try:
                info: InstanceInfo | None = self.platform.get_instance(name)
            except NotFound:
                info = None
            if info is not None and info.service not in self.services:
                info = None
            self._instances[name] = info
        return self._instances[name]

    def require_service(self, name: Any) -> ServiceInfo:
        """The vendor's service ``name``; otherwise NotFound as the platform words it."""
        if isinstance(name, str) and name in self.services:
            return self.services[name]
        raise self.no_service(str(name))

    def no_service(self, name: str) -> NotFound:
        known = sorted(self.services)
        return NotFound("service", name, f"registered services: {known or 'none'}")

    def require_instance(self, name: str) -> InstanceInfo:
        """The vendor's instance ``name``; otherwise NotFound, as for a missing one."""
        info = self.instance(name)
        if info is None:
            raise NotFound("instance", name)
        return info

    def _incarnation(self, name: str) -> _dt.datetime | None:
        """When the vendor's instance ``name`` was last provisioned (None: not theirs)."""
        if name not in self._since:
            info = self.instance(name)
            start = None
            if info is not None:
                start = info.created_at
                for op in self.platform.list_operations(target=name, limit=None):
                    if op.kind == "provision" and op.created_at <= info.created_at:
                        start = op.created_at
            self._since[name] = start
        return self._since[name]

    def owns_record(self, target: str, time: _dt.datetime, principal: str = "") -> bool:
        """Whether a record about ``target`` made at ``time`` is the vendor's."""
        if target in self.services:
            return True
        start = self._incarnation(target)
        if start is not None:
            return time >= start
        # A refusal of the partner's own call about an object that does not exist (a create
        # refused as invalid, for instance) is theirs; nothing of another vendor is in it.
        return principal == f"partner:{self.vendor}" and self.instance(target) is None

    # ------------------------------------------------------------------ idempotency keys

    @property
    def _key_prefix(self) -> str:
        return f"partner:{self.vendor}:"

    def key(self, presented: str | None) -> str | None:
        """The partner's idempotency key in its own namespace: another vendor's key of the
        same text never answers with that vendor's operation."""
        return None if presented is None else self._key_prefix + presented

    def present(self, op: Operation) -> Operation:
        """``op`` as the partner sees it: its own idempotency key as it gave it."""
        key = op.idempotency_key
        if key is not None and key.startswith(self._key_prefix):
            return attrs.evolve(op, idempotency_key=key[len(self._key_prefix) :])
        return op


def filtered_page(
    fetch: Callable[[int | None, str | None], Page[T]],
    keep: Callable[[T], bool],
    limit: int | None,
    cursor: str | None,
) -> Page[T]:
    """Up to ``limit`` items that ``keep`` keeps, from pages of ``fetch(limit, cursor)``.

    Each request asks for no more than the items still wanted, so a page of the answer ends
    exactly where a page of the platform ended and its cursor is the platform's own."""
    if limit is None:
        page = fetch(None, cursor)
        return Page([item for item in page if keep(item)], None)
    found: list[T] = []
    while True:
        page = fetch(limit - len(found), cursor)
        found += [item for item in page if keep(item)]
        cursor = page.next_cursor
        if cursor is None or len(found) >= limit:
            return Page(found, cursor)


# ---------------------------------------------------------------------------- rules

Rule = Callable[[Scope, Endpoint, Args], Any]


def _guard_service(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    scope.require_service(args.path["name"])
    return endpoint.call(scope.platform, args)


def _guard_instance(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    scope.require_instance(args.path["name"])
    return _mutation(scope, endpoint, args)


def _mutation(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    """Call with the partner's idempotency key namespace; an operation shown as theirs."""
    args = attrs.evolve(args, idempotency_key=scope.key(args.idempotency_key))
    result = endpoint.call(scope.platform, args)
    if isinstance(result, list):  # changeInstance: the operations, each shown as theirs
        return [scope.present(r) if isinstance(r, Operation) else r for r in result]
    return scope.present(result) if isinstance(result, Operation) else result


def _list_services(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    return sorted(scope.services.values(), key=lambda s: s.name)


def _register(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    ref = args.body["ref"]
    if not isinstance(ref, str):
        return endpoint.call(scope.platform, args)  # the platform names the problem
    name, vendor = probe_manifest(scope.platform, ref)
    if vendor != scope.vendor:
        raise Forbidden(
            f"the provider {ref!r} is another vendor's; this token may register only "
            f"providers whose manifest names vendor {scope.vendor!r}"
        )
    if name not in scope.services and any(s.name == name for s in scope.platform.list_services()):
        raise Forbidden(f"the service name {name!r} is registered by another vendor")
    return endpoint.call(scope.platform, args)


def probe_manifest(platform: PlatformAPI, ref: str) -> tuple[str, str]:
    """The service name and vendor ``ref``'s provider registers, read by registering it on
    a throwaway in-memory platform of the same cluster shape (nothing changes on
    ``platform``). Errors are the platform's own (an invalid manifest, a bad reference)."""
    from dpp_sdk.platform import ClusterConfig, Platform

    config = getattr(platform, "config", None)
    with Platform.open(
        config=config if isinstance(config, ClusterConfig) else None, recover=False
    ) as scratch:
        service = scratch.register_service(ref)
    return service.name, service.vendor


def _list_instances(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    service = args.query.get("service")
    if service is not None:
        scope.require_service(service)
        return endpoint.call(scope.platform, args)
    return filtered_page(
        lambda limit, cursor: scope.platform.list_instances(limit=limit, cursor=cursor),
        lambda info: info.service in scope.services,
        args.query.get("limit", DEFAULT_PAGE),
        args.query.get("cursor"),
    )


def _create(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    if "service" in args.body and isinstance(args.body["service"], str):
        scope.require_service(args.body["service"])
    return _mutation(scope, endpoint, args)


def _list_operations(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    target = args.query.get("target")
    page = filtered_page(
        lambda limit, cursor: scope.platform.list_operations(
            target=target, limit=limit, cursor=cursor
        ),
        lambda op: scope.owns_record(op.target, op.created_at),
        args.query.get("limit", DEFAULT_PAGE),
        args.query.get("cursor"),
    )
    return Page([scope.present(op) for op in page], page.next_cursor)


def _get_operation(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    op: Operation = endpoint.call(scope.platform, args)
    if not scope.owns_record(op.target, op.created_at):
        raise NotFound("operation", args.path["id"])
    return scope.present(op)


def _cluster_health(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    health: ClusterHealth = endpoint.call(scope.platform, args)
    mine = tuple(i for i in health.instances if i.service in scope.services)
    status = HealthStatus.worst([*(c.status for c in health.checks), *(i.status for i in mine)])
    return attrs.evolve(health, instances=mine, status=status)


def _status(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    status: PlatformStatus = endpoint.call(scope.platform, args)
    instances = filtered_page(
        lambda limit, cursor: scope.platform.list_instances(limit=limit, cursor=cursor),
        lambda info: info.service in scope.services,
        None,
        None,
    )
    return attrs.evolve(
        status, services=len(scope.services), instances=len(instances), state_dir=None
    )


def _resources(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    report: ResourceReport = endpoint.call(scope.platform, args)
    mine = tuple(i for i in report.instances if i.service in scope.services)
    return attrs.evolve(report, instances=mine)


def _audit(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    limit, cursor = args.query.get("limit"), args.query.get("cursor")
    if limit is not None and not 1 <= limit <= MAX_PAGE:
        return endpoint.call(scope.platform, args)  # the platform refuses it, naming the field

    def keep(record: AuditRecord) -> bool:
        return scope.owns_record(record.target, record.time, record.principal)

    if cursor is None:  # the last ``limit`` of the partner's records
        everything = scope.platform.audit(limit=None)
        mine = [r for r in everything if keep(r)]
        return Page(mine if limit is None else mine[-limit:], everything.next_cursor)
    return filtered_page(
        lambda size, after: scope.platform.audit(limit=size, cursor=after), keep, limit, cursor
    )


def _events(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    limit = args.query.get("limit")
    if limit is not None and not 1 <= limit <= MAX_PAGE:
        return endpoint.call(scope.platform, args)  # the platform refuses it, naming the field
    everything: Iterable[Event] = scope.platform.events(
        since=args.query.get("since", 0), kind=args.query.get("kind"), limit=None
    )
    mine = [e for e in everything if scope.owns_record(e.target, e.time)]
    return mine if limit is None else mine[:limit]


def _interrupted(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    return [scope.present(op) for op in _interrupted_of(scope)]


def _interrupted_of(scope: Scope) -> list[Operation]:
    return [
        op
        for op in scope.platform.interrupted_operations()
        if scope.owns_record(op.target, op.created_at)
    ]


def _recover(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    """Only the partner's instances: the targets it names (each checked like a path's), or,
    with none, those of its interrupted operations; never a recovery of everything."""
    targets = args.body.get("targets")
    if targets is None:
        mine = sorted({op.target for op in _interrupted_of(scope)})
        args = attrs.evolve(args, body={**args.body, "targets": mine})
    elif isinstance(targets, list):
        for name in targets:
            if isinstance(name, str):
                scope.require_instance(name)
    ops: list[Operation] = endpoint.call(scope.platform, args)  # refuses a malformed body
    return [scope.present(op) for op in ops]


def _passthrough(scope: Scope, endpoint: Endpoint, args: Args) -> Any:
    return endpoint.call(scope.platform, args)


PARTNER_RULES: dict[str, Rule] = {
    "listServices": _list_services,
    "registerService": _register,
    "getService": _guard_service,
    "enableService": _guard_service,
    "disableService": _guard_service,
    "activateServiceVersion": _guard_service,
    "listInstances": _list_instances,
    "createInstance": _create,
    "getInstance": _guard_instance,
    "removeInstance": _guard_instance,
    "configureInstance": _guard_instance,
    "scaleInstance": _guard_instance,
    "changeInstance": _guard_instance,
    "getInstanceHealth": _guard_instance,
    "listOperations": _list_operations,
    "getOperation": _get_operation,
    "getClusterHealth": _cluster_health,
    "getStatus": _status,
    "getResources": _resources,
    "listHosts": _passthrough,
    "getHost": _passthrough,
    "getClock": _passthrough,
    "listAudit": _audit,
    "listEvents": _events,
    "listInterruptedOperations": _interrupted,
    "recoverOperations": _recover,
}
"""The routes a partner may use, by ``operation_id``, and how each is scoped. Every other
route (faults, maintenance, clock advance, tokens, and routes added later) is ``403``."""


def partner_call(endpoint: Endpoint, platform: PlatformAPI, vendor: str, args: Args) -> Any:
    """Answer ``endpoint`` for a partner of ``vendor`` (runs on a worker thread)."""
    rule = PARTNER_RULES.get(endpoint.operation_id)
    if rule is None:
        raise Forbidden(
            f"{endpoint.method} {endpoint.path} is for the admin only; partner tokens "
            f"(vendor {vendor!r}) cannot use it"
        )
    scope = Scope(platform, vendor)
    try:
        return rule(scope, endpoint, args)
    except NotFound as exc:
        if exc.kind == "service":  # the platform's hint lists every service: only theirs
            raise scope.no_service(exc.name) from None
        raise
