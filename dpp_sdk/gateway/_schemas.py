"""The JSON Schemas of the gateway's bodies, for validation and for the OpenAPI document.

- **Requests.** Each route's body schema is made from its row of the endpoint table
  (``body``: member -> JSON type, ``required``): an object with only those members, of those
  types. :func:`check_body` validates a request's body against it and raises
  :class:`~dpp_sdk.ValidationError` naming every wrong member by its JSON path
  (``$.capacity_gb``); each route's validator is built once, on its first request. The
  OpenAPI document's ``requestBody`` is the same schema. What the values mean (a plan that
  exists, a capacity the plan allows) is the platform's to check, so those problems read
  exactly as in-process.
- **Responses.** :func:`document_schemas` embeds the schemas shipped in the package
  (``dpp_sdk/schemas``: instance, operation, health report, manifest) as OpenAPI components,
  with their ``$ref`` rewritten to point inside the OpenAPI document, and composes the
  platform's health documents from the health report's parts. The gateway does not validate
  its answers at runtime (see ``docs/design.md``, "Bodies are validated against schemas");
  a test validates a whole lifecycle's answers against the document instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from dpp_sdk.contract import Problem, ValidationError, load_schema
from dpp_sdk.contract._errors import count
from dpp_sdk.contract._schemas import schema_problems

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

    from dpp_sdk.gateway._routes import Endpoint

__all__ = ["COMPONENTS", "check_body", "document_schemas", "request_schema"]

COMPONENTS = "#/components/schemas/"

MEMBER_SCHEMAS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "integer": {"type": "integer"},
    "number": {"type": "number"},
    "boolean": {"type": "boolean"},
    "object": {"type": "object"},
    # The only arrays a body takes are lists of names (the instances to recover).
    "array": {"type": "array", "items": {"type": "string"}},
}
"""The schema of a body member by the JSON type the endpoint table gives it."""


def request_schema(endpoint: Endpoint) -> dict[str, Any] | None:
    """The JSON Schema of ``endpoint``'s request body, or None when it takes none."""
    if endpoint.body is None:
        return None
    return {
        "type": "object",
        "additionalProperties": False,
        "required": list(endpoint.required),
        "properties": {name: MEMBER_SCHEMAS[kind] for name, kind in endpoint.body.items()},
    }


_VALIDATORS: dict[str, Validator] = {}
"""By ``operation_id``: the route body's jsonschema validator, compiled on the route's first
request."""


def _validator(endpoint: Endpoint) -> Validator:
    compiled = _VALIDATORS.get(endpoint.operation_id)
    if compiled is None:
        from jsonschema import Draft202012Validator

        schema = request_schema(endpoint) or {}
        compiled = _VALIDATORS[endpoint.operation_id] = Draft202012Validator(schema)
    return compiled


def check_body(endpoint: Endpoint, body: Any) -> Mapping[str, Any]:
    """``endpoint``'s request body, validated against :func:`request_schema` (absent, None,
    is an empty object): every problem is reported at once, each by its JSON path, and an
    unknown member gets the list of the known ones."""
    route = f"{endpoint.method} {endpoint.path}"
    if endpoint.body is None:
        if body is None or body == {}:
            return {}
        problem = Problem(path="$", value=body, message="must be empty (no body)")
        raise ValidationError(f"{route} takes no body (1 problem)", [problem])
    if body is None:
        body = {}
    problems = schema_problems(_validator(endpoint), body)
    if problems:
        summary = f"the body of {route} is invalid ({count(len(problems), 'problem')})"
        if isinstance(body, dict) and not body.keys() <= endpoint.body.keys():
            summary += f"; its members are {', '.join(endpoint.body)}"
        raise ValidationError(summary, problems)
    accepted: Mapping[str, Any] = body
    return accepted


def _pointing_into(node: Any, base: str) -> Any:
    """``node`` with every local ``$ref`` (``#/...``) made relative to ``base``, the
    schema's place in the OpenAPI document."""
    if isinstance(node, Mapping):
        return {
            key: base + value[1:]
            if key == "$ref" and isinstance(value, str) and value.startswith("#")
            else _pointing_into(value, base)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_pointing_into(item, base) for item in node]
    return node


def _shipped(name: str, component: str) -> dict[str, Any]:
    """Shipped schema ``name`` as the OpenAPI component ``component``: without ``$id`` (which
    would make its references resolve against the schema's URN, not the document) and
    ``$schema`` (OpenAPI 3.1's dialect is the same 2020-12), references rewritten."""
    schema = {k: v for k, v in load_schema(name).items() if k not in ("$id", "$schema")}
    result: dict[str, Any] = _pointing_into(schema, f"{COMPONENTS}{component}")
    return result


def _ref(component: str, *pointer: str) -> dict[str, str]:
    return {"$ref": "/".join((f"{COMPONENTS}{component}", *pointer))}


def document_schemas() -> dict[str, Any]:
    """OpenAPI components for the platform documents that have a shipped schema: ``Instance``,
    ``Operation``, ``HealthReport`` and ``Manifest`` as shipped; ``InstanceHealth`` (a
    health report about one instance), ``ClusterHealth`` and ``Service`` (a catalog entry,
    each version with its manifest) made of their parts."""
    checks = _ref("HealthReport", "properties", "checks")
    status = _ref("HealthReport", "$defs", "status")
    return {
        "Instance": _shipped("instance", "Instance"),
        "Operation": _shipped("operation", "Operation"),
        "HealthReport": _shipped("health-report", "HealthReport"),
        "Manifest": _shipped("manifest", "Manifest"),
        "InstanceHealth": {
            "type": "object",
            "description": "Health of one instance: the provider's checks and the platform's.",
            "additionalProperties": False,
            "required": ["instance", "service", "status", "checks"],
            "properties": {
                "instance": {"type": "string"},
                "service": {"type": "string"},
                "status": status,
                "checks": checks,
            },
        },
        "ClusterHealth": {
            "type": "object",
            "description": "The cluster's own checks and the health of every instance.",
            "additionalProperties": False,
            "required": ["status", "checks", "instances"],
            "properties": {
                "status": status,
                "checks": checks,
                "instances": {"type": "array", "items": _ref("InstanceHealth")},
            },
        },
        "Service": {
            "type": "object",
            "description": "A catalog entry: the service, its versions and their manifests.",
            "required": ["name", "vendor", "enabled", "active_version", "versions"],
            "properties": {
                "name": {"type": "string"},
                "vendor": {"type": "string"},
                "enabled": {"type": "boolean"},
                "active_version": {"type": "string"},
                "versions": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["version", "manifest"],
                        "properties": {
                            "version": {"type": "string"},
                            "manifest": _ref("Manifest"),
                        },
                    },
                },
            },
        },
    }
