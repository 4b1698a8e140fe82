"""The OpenAPI document: valid OpenAPI 3.1, and the same set of routes as the application."""

from __future__ import annotations

import re

from openapi_spec_validator import validate
from starlette.routing import Route

import dpp_sdk as dpp
from dpp_sdk.gateway import AdminToken, create_app, openapi_document


def test_the_openapi_document_is_valid_openapi_3_1() -> None:
    """openapi-spec-validator accepts the document, and it says 3.1."""
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_route_is_in_the_document_and_every_documented_route_is_served(
    dpp_platform: dpp.Platform,
) -> None:
    """(method, path) pairs of the application's routes equal those of the document (HEAD,
    which Starlette adds to every GET, aside)."""
    app = create_app(dpp_platform, AdminToken("t", "test"))
    served = {
        (method.lower(), route.path)
        for route in app.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {
        (method, path) for path, item in openapi_document()["paths"].items() for method in item
    }
    assert served == documented


def test_every_documented_path_parameter_is_declared_and_every_operation_has_an_id() -> None:
    """Each ``{name}`` in a path is a declared path parameter; operationIds are unique."""
    ids = []
    for path, item in openapi_document()["paths"].items():
        for operation in item.values():
            ids.append(operation["operationId"])
            declared = {p["name"] for p in operation.get("parameters", ()) if p.get("in") == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), path
    assert len(ids) == len(set(ids))
