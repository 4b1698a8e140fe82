"""The ASGI application: Starlette routes made from :data:`~dpp_sdk.gateway._routes.ENDPOINTS`.

Each request is authenticated, its query and body parsed, and the platform call run on a
worker thread (the platform is thread-safe and its calls block: an operation runs to
completion inside the call). The answer is the call's document as JSON, or a problem details
object (:mod:`dpp_sdk.gateway._problems`).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from dpp_sdk.contract import DppError, OperationFailed, unstructure
from dpp_sdk.gateway._auth import AdminToken
from dpp_sdk.gateway._openapi import OPENAPI_PATH, openapi_document
from dpp_sdk.gateway._problems import (
    PROBLEM_JSON,
    Problem,
    internal_error,
    problem_for,
    problem_of,
)
from dpp_sdk.gateway._routes import ENDPOINTS, Args, Endpoint, check_body, parse_query
from dpp_sdk.platform import Page, PlatformAPI

__all__ = ["create_app"]

JSON = "application/json"


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
    headers = {}
    status = 200
    if endpoint.reply == "operation":
        status, headers = 202, {"Location": f"/v1/operations/{result.id}"}
    elif endpoint.reply == "created" and endpoint.location is not None:
        status, headers = 201, {"Location": endpoint.location(result)}
    return Response(_json(_document(result)), status, headers, media_type=JSON)


def _unauthorized(detail: str) -> Response:
    problem = problem_of(401, "unauthorized", "Unauthorized", detail)
    return problem_response(problem, {"WWW-Authenticate": 'Bearer realm="dpp"'})


def _authenticate(request: Request, token: AdminToken) -> Response | None:
    """None when the request carries the admin token; otherwise the 401 to answer."""
    header = request.headers.get("authorization")
    if header is None:
        return _unauthorized("this route needs a bearer token (Authorization: Bearer TOKEN)")
    scheme, _, presented = header.partition(" ")
    if scheme.lower() != "bearer" or not token.matches(presented.strip()):
        return _unauthorized("the bearer token is not valid")
    return None


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
    endpoint: Endpoint, platform: PlatformAPI, token: AdminToken
) -> Callable[[Request], Awaitable[Response]]:
    where = f"{endpoint.method} {endpoint.path}"

    async def handle(request: Request) -> Response:
        refused = _authenticate(request, token)
        if refused is not None:
            return refused
        try:
            args = Args(
                path=dict(request.path_params),
                query=parse_query(endpoint, dict(request.query_params)),
                body=check_body(endpoint, await _body(request)),
                idempotency_key=request.headers.get("idempotency-key"),
            )
            result = await run_in_threadpool(endpoint.call, platform, args)
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
    headers = dict(exc.headers or {}) if isinstance(exc, HTTPException) else None
    return problem_response(problem_of(status, "http", phrase, detail), headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    return problem_response(internal_error(exc, f"{request.method} {request.url.path}"))


def create_app(platform: PlatformAPI, token: AdminToken) -> Starlette:
    """The gateway's ASGI application over ``platform``, accepting ``token`` on every route
    but the OpenAPI document. The caller owns the platform (and closes it)."""
    document = _json(openapi_document())

    async def openapi(request: Request) -> Response:
        return Response(document, media_type=JSON)

    routes = [Route(OPENAPI_PATH, openapi, methods=["GET"])]
    routes += [
        Route(e.path, _handler(e, platform, token), methods=[e.method], name=e.operation_id)
        for e in ENDPOINTS
    ]
    return Starlette(
        routes=routes,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
    )
