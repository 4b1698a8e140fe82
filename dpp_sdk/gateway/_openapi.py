"""The OpenAPI 3.1 document of ``/v1``, built from the same endpoint table as the routes."""

from __future__ import annotations

import re
from typing import Any

from dpp_sdk._version import __version__
from dpp_sdk.gateway._preconditions import CONDITIONAL
from dpp_sdk.gateway._problems import PROBLEM_JSON
from dpp_sdk.gateway._routes import ENDPOINTS, Endpoint, QueryParam
from dpp_sdk.gateway._sandboxes import SANDBOX_ENDPOINTS, SANDBOX_HEADER
from dpp_sdk.gateway._schemas import COMPONENTS, document_schemas, request_schema
from dpp_sdk.gateway._token_routes import TOKEN_ENDPOINTS

__all__ = ["OPENAPI_PATH", "openapi_document"]

OPENAPI_PATH = "/v1/openapi.json"

_IDEMPOTENCY_KEY = {"$ref": "#/components/parameters/IdempotencyKey"}
_SANDBOX_PARAMETER = {"$ref": "#/components/parameters/Sandbox"}

_KEYED_LISTS = frozenset({"changeInstance"})
"""Routes that honour ``Idempotency-Key`` but answer with a list of operations, not 202 with
one (every route answering with an operation honours it)."""

_QUERY_SCHEMAS: dict[str, Any] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "boolean": {"type": "boolean"},
    "limit": {"oneOf": [{"type": "integer", "minimum": 1}, {"const": "all"}]},
}


def _page_of(item: str) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["items", "next_cursor"],
        "properties": {
            "items": {"type": "array", "items": {"$ref": f"{COMPONENTS}{item}"}},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass back as `cursor` for the next page; null on the last.",
            },
        },
    }


def _list_of(item: str) -> dict[str, Any]:
    return {"type": "array", "items": {"$ref": f"{COMPONENTS}{item}"}}


_SCHEMAS: dict[str, Any] = {
    "Document": {
        "type": "object",
        "description": "A platform document, as `dpp ... -o json` prints it.",
    },
    "DocumentList": _list_of("Document"),
    "Page": _page_of("Document"),
    **document_schemas(),
    "InstancePage": _page_of("Instance"),
    "OperationPage": _page_of("Operation"),
    "OperationList": _list_of("Operation"),
    "ServiceList": _list_of("Service"),
    "Problem": {
        "type": "object",
        "description": "RFC 9457 problem details, with the dpp-sdk error's structured fields.",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri-reference"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "error": {"type": "string", "description": "The dpp-sdk exception class."},
            "problems": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["path", "message"],
                    "properties": {
                        "path": {"type": "string"},
                        "value": {},
                        "message": {"type": "string"},
                    },
                },
            },
        },
    },
}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": f"{COMPONENTS}Problem"}}},
    }


def _content(schema: str) -> dict[str, Any]:
    return {"application/json": {"schema": {"$ref": f"{COMPONENTS}{schema}"}}}


def _query(param: QueryParam) -> dict[str, Any]:
    return {
        "name": param.name,
        "in": "query",
        "required": False,
        "description": param.description,
        "schema": _QUERY_SCHEMAS[param.type],
    }


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    parameters: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"{(\w+)}", endpoint.path)
    ]
    parameters += [_query(q) for q in endpoint.query]
    responses: dict[str, Any]
    if endpoint.reply == "operation" or endpoint.operation_id in _KEYED_LISTS:
        parameters.append(_IDEMPOTENCY_KEY)
    if endpoint.reply == "operation":
        responses = {
            "202": {
                "description": "The operation, ended (a failed one too); poll `Location`.",
                "headers": {"Location": {"schema": {"type": "string"}}},
                "content": _content("Operation"),
            }
        }
    elif endpoint.reply == "created":
        responses = {
            "201": {
                "description": "Created.",
                "headers": {"Location": {"schema": {"type": "string"}}},
                "content": _content(endpoint.schema),
            }
        }
    elif endpoint.reply == "empty":
        responses = {"204": {"description": "Done."}}
    else:
        responses = {"200": {"description": "OK.", "content": _content(endpoint.schema)}}
    if endpoint.operation_id == "getInstance":
        responses["200"]["headers"] = {
            "ETag": {
                "description": "The document's version, for `If-Match` on updates.",
                "schema": {"type": "string"},
            }
        }
    if endpoint.operation_id in CONDITIONAL:
        parameters.append(
            {
                "name": "If-Match",
                "in": "header",
                "required": False,
                "description": "Proceed only if the instance's current `ETag` is one of these "
                "(`*`: any); otherwise 412.",
                "schema": {"type": "string"},
            }
        )
        responses["412"] = _problem("The instance changed since the `If-Match` version.")
    responses["401"] = _problem("No bearer token, or not a valid one.")
    responses["403"] = _problem("The token may not use this route (a partner's, on an admin one).")
    responses["default"] = _problem("The request was refused or failed (problem details).")
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "parameters": parameters,
        "responses": responses,
    }
    body = request_schema(endpoint)
    if body is not None:
        operation["requestBody"] = {
            "required": bool(endpoint.required),
            "content": {"application/json": {"schema": body}},
        }
    return operation


def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document of every route (``GET /v1/openapi.json`` serves it)."""
    paths: dict[str, dict[str, Any]] = {
        OPENAPI_PATH: {
            "get": {
                "operationId": "getOpenAPI",
                "summary": "This document (no token needed).",
                "security": [],
                "responses": {"200": {"description": "OK.", "content": _content("Document")}},
            }
        }
    }
    for endpoint in ENDPOINTS:
        operation = _operation(endpoint)
        operation["parameters"].append(_SANDBOX_PARAMETER)
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    for endpoint in (*TOKEN_ENDPOINTS, *SANDBOX_ENDPOINTS):
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "dpp-sdk Data Persistence Platform gateway",
            "version": __version__,
            "description": "The mock platform's interface over HTTP; see docs/gateway.md.",
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": paths,
        "components": {
            "schemas": _SCHEMAS,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "parameters": {
                "IdempotencyKey": {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "description": "A repeated request with the same key answers with the "
                    "same operation instead of starting another.",
                    "schema": {"type": "string"},
                },
                "Sandbox": {
                    "name": SANDBOX_HEADER,
                    "in": "header",
                    "required": False,
                    "description": "Address this sandbox's platform instead of the gateway's "
                    "(admin only; see POST /v1/sandboxes).",
                    "schema": {"type": "string"},
                },
            },
        },
    }
