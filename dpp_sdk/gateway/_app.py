"""The ASGI application: Starlette routes made from :data:`~dpp_sdk.gateway._routes.ENDPOINTS`
(and the partner token routes of :mod:`~dpp_sdk.gateway._token_routes`).

Each request is authenticated (the admin, or a partner scoped to a vendor), its query and
body parsed, and the platform call run on a worker thread (the platform is thread-safe and its
calls block: an operation runs to completion inside the call) as the request's principal, so
the audit trail names it. A partner's call goes through its vendor's scope
(:mod:`~dpp_sdk.gateway._tenancy`). The answer is the call's document as JSON, or a problem
details object (:mod:`dpp_sdk.gateway._problems`).
"""

from __future__ import annotations

import contextlib
import json
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from dpp_sdk.contract import DppError, InstanceInfo, OperationFailed, unstructure
from dpp_sdk.gateway._auth import AdminToken, Authenticator, PartnerTokens, Principal
from dpp_sdk.gateway._openapi import OPENAPI_PATH, openapi_document
from dpp_sdk.gateway._preconditions import (
    CONDITIONAL,
    etag_of,
    etag_of_document,
    if_match_admits,
)
from dpp_sdk.gateway._problems import (
    PROBLEM_JSON,
    Forbidden,
    PreconditionFailed,
    Problem,
    internal_error,
    problem_for,
    problem_of,
)
from dpp_sdk.gateway._routes import ENDPOINTS, Args, Endpoint, parse_query
from dpp_sdk.gateway._sandboxes import SANDBOX_CALLS, SANDBOX_ENDPOINTS, SANDBOX_HEADER, Sandboxes
from dpp_sdk.gateway._schemas import check_body
from dpp_sdk.gateway._tenancy import Scope, partner_call
from dpp_sdk.gateway._token_routes import TOKEN_CALLS, TOKEN_ENDPOINTS
from dpp_sdk.platform import Page, PlatformAPI

__all__ = ["create_app"]

JSON = "application/json"

log = logging.getLogger("dpp_sdk.gateway")


def _json(data: Any) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode("utf-8")


def problem_response(problem: Problem, headers: dict[str, str] | None = None) -> Response:
    """A problem details object as an ``application/problem+json`` response."""
    return Response(_json(problem), int(problem["status"]), headers, media_type=PROBLEM_JSON)


def _document(result: Any) -> Any:
    if isinstance(result, Page):
        return {"items": [unstructure(item) for item in result], "next_cursor": result.next_cursor}
    return unstructure(result)


def _reply(endpoint: Endpoint, result: Any) -> Response:
    if endpoint.reply == "empty":
        return Response(status_code=204)
    document = _document(result)
    headers = {}
    if isinstance(result, InstanceInfo):
        headers["ETag"] = etag_of_document(document)  # the document made once serves both
    status = 200
    if endpoint.reply == "operation":
        status, headers = 202, {"Location": f"/v1/operations/{result.id}"}
    elif endpoint.reply == "created" and endpoint.location is not None:
        status, headers = 201, {"Location": endpoint.location(result)}
    return Response(_json(document), status, headers, media_type=JSON)


def _unauthorized(detail: str) -> Response:
    problem = problem_of(401, "unauthorized", "Unauthorized", detail)
    return problem_response(problem, {"WWW-Authenticate": 'Bearer realm="dpp"'})


def _authenticate(request: Request, auth: Authenticator) -> Principal | Response:
    """The principal of the request's bearer token; otherwise the 401 to answer."""
    header = request.headers.get("authorization")
    if header is None:
        return _unauthorized("this route needs a bearer token (Authorization: Bearer TOKEN)")
    scheme, _, presented = header.partition(" ")
    principal = auth.principal(presented.strip()) if scheme.lower() == "bearer" else None
    if principal is None:
        return _unauthorized("the bearer token is not valid")
    return principal


class _InstanceLocks:
    """A lock per instance name, kept while someone holds or waits for it: an ``If-Match``
    check and the update it guards run with no other update of that instance through this
    gateway between. One lock per name, not a fixed set shared by hash, so an update of one
    instance never waits for a slow operation on another."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._locks: dict[str, tuple[threading.Lock, int]] = {}  # name -> (lock, users)

    @contextlib.contextmanager
    def holding(self, name: str) -> Iterator[None]:
        with self._guard:
            lock, users = self._locks.get(name, (None, 0))
            lock = lock or threading.Lock()
            self._locks[name] = (lock, users + 1)
        try:
            with lock:
                yield
        finally:
            with self._guard:
                users = self._locks[name][1] - 1
                if users:
                    self._locks[name] = (lock, users)
                else:
                    del self._locks[name]


def _acting(platform: PlatformAPI, principal: Principal) -> contextlib.AbstractContextManager[Any]:
    """The platform's ``acting_as`` for the principal when it has one (an in-process
    :class:`~dpp_sdk.Platform`); otherwise nothing (the platform's own principal is
    recorded)."""
    acting_as = getattr(platform, "acting_as", None)
    return contextlib.nullcontext() if acting_as is None else acting_as(principal.name)


class _Gateway:
    """What every handler shares: the platform, the tokens, the sandboxes, the update
    locks."""

    def __init__(self, platform: PlatformAPI, auth: Authenticator) -> None:
        self.platform = platform
        self.auth = auth
        self.sandboxes = Sandboxes()
        self.locks = _InstanceLocks()

    def platform_for(self, principal: Principal, sandbox: str | None) -> PlatformAPI:
        """The platform a request addresses: the gateway's, or the sandbox its
        ``Dpp-Sandbox`` header names (the admin's only)."""
        if sandbox is None:
            return self.platform
        if principal.vendor is not None:
            raise Forbidden(f"the {SANDBOX_HEADER} header is for the admin only")
        return self.sandboxes.platform(sandbox)

    def call(
        self,
        endpoint: Endpoint,
        principal: Principal,
        args: Args,
        if_match: str | None,
        sandbox: str | None = None,
    ) -> Any:
        """Run ``endpoint`` as ``principal`` (on a worker thread)."""
        platform = self.platform_for(principal, sandbox)
        with _acting(platform, principal):
            if endpoint.operation_id not in CONDITIONAL:
                return _scoped(platform, endpoint, principal, args)
            name = args.path["name"]
            with self.locks.holding(name):
                if if_match is not None:
                    if principal.vendor is None:
                        current = platform.get_instance(name)
                    else:
                        current = Scope(platform, principal.vendor).require_instance(name)
                    if not if_match_admits(if_match, etag_of(current)):
                        raise PreconditionFailed(
                            f"instance {name!r} changed since the version If-Match names "
                            f"(now {etag_of(current)}); get it again and retry"
                        )
                return _scoped(platform, endpoint, principal, args)

    def admin(self, endpoint: Endpoint, principal: Principal, args: Args) -> Any:
        """A route of the gateway's own (tokens, sandboxes): the admin's only (the handler
        has refused partners)."""
        if endpoint.operation_id in SANDBOX_CALLS:
            return SANDBOX_CALLS[endpoint.operation_id](self.sandboxes, args)
        result = TOKEN_CALLS[endpoint.operation_id](self.auth.partners, args)
        if endpoint.method != "GET":
            log.info("%s by %s: %s", endpoint.operation_id, principal.name, _token_note(result))
        return result


def _scoped(platform: PlatformAPI, endpoint: Endpoint, principal: Principal, args: Args) -> Any:
    if principal.vendor is None:
        return endpoint.call(platform, args)
    return partner_call(endpoint, platform, principal.vendor, args)


def _token_note(result: Any) -> str:
    if isinstance(result, dict):
        return f"token {result['id']} for vendor {result['vendor']!r}"
    return f"token {result.id} of vendor {result.vendor!r}"


async def _body(request: Request) -> Any:
    raw = await request.body()
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise _BadRequest(f"the body is not valid JSON: {exc}") from None


class _BadRequest(Exception):
    pass


def _handler(
    endpoint: Endpoint, gateway: _Gateway, *, admin: bool = False
) -> Callable[[Request], Awaitable[Response]]:
    where = f"{endpoint.method} {endpoint.path}"

    async def handle(request: Request) -> Response:
        principal = _authenticate(request, gateway.auth)
        if isinstance(principal, Response):
            return principal
        try:
            if admin and principal.vendor is not None:
                # Before the request is read: a partner learns nothing from an admin route.
                raise Forbidden(f"{where} is for the admin only")
            args = Args(
                path=dict(request.path_params),
                query=parse_query(endpoint, dict(request.query_params)),
                body=check_body(endpoint, await _body(request)),
                idempotency_key=request.headers.get("idempotency-key"),
            )
            if admin:
                result = await run_in_threadpool(gateway.admin, endpoint, principal, args)
            else:
                headers = request.headers
                result = await run_in_threadpool(
                    gateway.call,
                    endpoint,
                    principal,
                    args,
                    headers.get("if-match"),
                    headers.get(SANDBOX_HEADER),
                )
        except _BadRequest as exc:
            return problem_response(problem_of(400, "bad-request", "Bad request", str(exc)))
        except OperationFailed as exc:
            # The operation is the resource a mutation answers with; a failed one is still
            # that resource (its state and error say how it ended). See docs/gateway.md.
            result = exc.operation
        except DppError as exc:
            return problem_response(problem_for(exc) or internal_error(exc, where))
        except Exception as exc:
            return problem_response(internal_error(exc, where))
        return _reply(endpoint, result)

    return handle


async def _http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own refusals (no such route, method not allowed) as problem details."""
    status = exc.status_code if isinstance(exc, HTTPException) else 500
    phrase = HTTPStatus(status).phrase
    detail = f"{request.method} {request.url.path}: {phrase.lower()}"
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else {}
    if status == 405:
        # Starlette's Allow names the methods of the first route on the path only; RFC 9110
        # asks for every method the resource supports (each method is a route of its own).
        headers["Allow"] = _allowed(request)
    return problem_response(problem_of(status, "http", phrase, detail), headers)


def _allowed(request: Request) -> str:
    """Every method some route serves on the request's path (``HEAD`` with ``GET``)."""
    methods: set[str] = set()
    for route in request.app.router.routes:
        if isinstance(route, Route) and route.matches(request.scope)[0] is not Match.NONE:
            methods |= route.methods or set()
    return ", ".join(sorted(methods))


async def _server_error(request: Request, exc: Exception) -> Response:
    return problem_response(internal_error(exc, f"{request.method} {request.url.path}"))


def create_app(
    platform: PlatformAPI, token: AdminToken, partners: PartnerTokens | None = None
) -> Starlette:
    """The gateway's ASGI application over ``platform``: ``token`` is the admin's, and
    ``partners`` the partner tokens (default: kept in memory only, none yet). Every route
    but the OpenAPI document needs one of them. The caller owns the platform (and closes
    it)."""
    document = _json(openapi_document())
    gateway = _Gateway(platform, Authenticator(token, partners or PartnerTokens(None)))

    async def openapi(request: Request) -> Response:
        return Response(document, media_type=JSON)

    routes = [Route(OPENAPI_PATH, openapi, methods=["GET"])]
    routes += [
        Route(e.path, _handler(e, gateway), methods=[e.method], name=e.operation_id)
        for e in ENDPOINTS
    ]
    routes += [
        Route(e.path, _handler(e, gateway, admin=True), methods=[e.method], name=e.operation_id)
        for e in (*TOKEN_ENDPOINTS, *SANDBOX_ENDPOINTS)
    ]
    app = Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
    app.state.sandboxes = gateway.sandboxes  # closed by whoever serves the app
    return app
