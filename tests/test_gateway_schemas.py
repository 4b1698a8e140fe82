"""Bodies against schemas: request bodies validated against each route's schema (the same
one the OpenAPI document gives), real answers of a whole lifecycle validated against the
document's response schemas (the package's shipped schemas among them), and the
``Idempotency-Key`` header declared on exactly the routes that honour it."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from unittest import mock
from urllib.parse import urlsplit

import attrs
import jsonschema
import pytest
import requests

import dpp_sdk as dpp
from dpp_sdk.client import PlatformClient
from dpp_sdk.gateway import AdminToken, create_app, openapi_document
from dpp_sdk.gateway._routes import ENDPOINTS, Args
from dpp_sdk.gateway._sandboxes import SANDBOX_ENDPOINTS
from dpp_sdk.gateway._schemas import check_body, request_schema
from dpp_sdk.gateway._token_routes import TOKEN_ENDPOINTS
from tests.gateways import KV, TOKEN, running

DOCUMENT = openapi_document()


class Responses:
    """A ``requests`` response hook validating every answer against the OpenAPI document:
    the response object declared for its route and status (or ``default``), its media
    type, and its body against that media type's schema. ``seen`` collects the
    ``(operationId, status)`` pairs checked."""

    def __init__(self, document: dict[str, Any]) -> None:
        self.components = document["components"]
        self.routes = [
            (method.upper(), re.compile("^" + re.sub(r"{\w+}", "[^/]+", path) + "$"), op)
            for path, item in document["paths"].items()
            for method, op in item.items()
        ]
        self.seen: set[tuple[str, int]] = set()

    def operation(self, method: str, path: str) -> dict[str, Any]:
        [op] = [op for m, pattern, op in self.routes if m == method and pattern.match(path)]
        return op

    def __call__(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        request = response.request
        op = self.operation(str(request.method), urlsplit(str(request.url)).path)
        declared = op["responses"].get(str(response.status_code)) or op["responses"]["default"]
        media = response.headers.get("content-type", "").split(";")[0]
        if "content" not in declared:
            assert response.content == b"", (op["operationId"], response.status_code)
        else:
            assert media in declared["content"], (op["operationId"], media)
            schema = {**declared["content"][media]["schema"], "components": self.components}
            validator = jsonschema.Draft202012Validator(
                schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
            )
            errors = [
                f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in validator.iter_errors(response.json())
            ]
            assert errors == [], (op["operationId"], response.status_code, errors[:5])
        self.seen.add((op["operationId"], response.status_code))


@attrs.frozen
class Checked:
    """A client and a plain session on one gateway, every answer validated by ``responses``."""

    client: PlatformClient
    session: requests.Session
    responses: Responses


@pytest.fixture
def checked(dpp_platform_factory: Callable[..., dpp.Platform], tmp_path: Path) -> Iterator[Checked]:
    """A gateway over a platform on a state directory (so it has a log), with a client and
    a session whose every answer is validated against the OpenAPI document."""
    platform = dpp_platform_factory(state_dir=tmp_path / "state")
    responses = Responses(DOCUMENT)
    session = requests.Session()
    session.hooks["response"].append(responses)
    with running(create_app(platform, AdminToken(TOKEN, "test"))) as url:
        client = PlatformClient(url, TOKEN, session=session)
        yield Checked(client, session, responses)
        client.close()


def test_every_answer_of_a_whole_lifecycle_matches_the_documents_response_schema(
    checked: Checked,
) -> None:
    """Every route, driven through the client (and tokens and errors by plain requests),
    answers documents the OpenAPI document's schemas accept: instances, operations (a failed
    one too) and health by the package's shipped schemas, problems by the Problem schema."""
    client, session, responses = checked.client, checked.session, checked.responses
    client.register_service(KV)
    client.register_service("tests.providers:FailingProvider")
    client.register_service("tests.providers:VetoingProvider")
    client.list_services()
    client.get_service("kv")
    client.disable_service("kv")
    client.enable_service("kv")
    client.activate_version("kv", "1.0.0")

    provision = client.create_instance(service="kv", name="kv1", capacity_gb=2, idempotency_key="k")
    client.create_instance(service="kv", name="kv2", capacity_gb=1, parameters={"cacheMb": 32})
    with pytest.raises(dpp.OperationFailed):
        client.create_instance(service="failing", name="f1", capacity_gb=1)
    client.get_instance("kv1")
    client.list_instances(limit=1)
    client.configure_instance("kv1", {"cacheMb": 128})
    client.scale_instance("kv1", 3)
    client.change_instance("kv1", parameters={"cacheMb": 256}, capacity_gb=4)
    client.instance_health("kv1")
    client.list_operations(limit=2)
    client.get_operation(client.list_operations(target="kv1")[0].id)

    client.cluster_health()
    client.status()
    client.resources()
    host = client.list_hosts()[0].name
    client.get_host(host)
    client.maintenance_precheck(host, "ensure-accessibility")
    client.enter_maintenance(host, "ensure-accessibility")
    client.exit_maintenance(host)
    client.inject_host_failure(host)
    client.clear_host_failure(host)
    disk = client.get_host(host).disks[0].name
    client.inject_disk_failure(host, disk)
    client.clear_disk_failure(host, disk)
    client.clear_faults()
    client.clock_status()
    client.advance(30)
    client.audit(limit=3)
    client.events(limit=3)
    client.interrupted_operations()
    client.recover()
    client.read_log(lines=5)
    client.check_consistency()
    client.ledger(provision.result["instance_uid"])
    client.create_instance(service="vetoing", name="v1", capacity_gb=1)
    vetoed = client.get_instance("v1").members[0].host
    assert vetoed is not None
    with pytest.raises(dpp.MaintenanceVetoed):
        client.enter_maintenance(vetoed, "no-action")
    client.remove_instance("kv2")

    url = client.url
    created = session.post(f"{url}/v1/tokens", json={"vendor": "Acme Data"})
    session.get(f"{url}/v1/tokens")
    session.delete(f"{url}/v1/tokens/{created.json()['id']}")
    session.get(f"{url}/v1/openapi.json")
    sandbox = session.post(f"{url}/v1/sandboxes", json={"provider": KV}).json()["id"]
    session.get(f"{url}/v1/sandboxes")
    session.post(f"{url}/v1/sandboxes/{sandbox}/actions", json={"action": "log"})
    session.get(f"{url}/v1/instances", headers={"Dpp-Sandbox": sandbox})
    session.delete(f"{url}/v1/sandboxes/{sandbox}")
    for answer in (
        session.post(f"{url}/v1/instances", json={"service": "kv", "capacity_gb": "x"}),
        session.get(f"{url}/v1/instances/missing"),
        session.get(f"{url}/v1/instances", headers={"Authorization": "Bearer wrong"}),
        session.post(f"{url}/v1/instances/kv1/scale", json={"capacity_gb": 9999}),
    ):
        assert answer.status_code >= 400

    answered = {op for op, status in responses.seen if status < 400}
    every = {op["operationId"] for _, _, op in responses.routes}
    assert every - answered == set()
    assert {status for _, status in responses.seen if status >= 400} == {401, 404, 409, 422}


def test_the_documents_of_instances_operations_and_health_are_the_shipped_schemas() -> None:
    """The answers that are an instance, an operation or health reference the package's
    schemas (embedded, their references rewritten), not a loose document."""
    schemas = DOCUMENT["components"]["schemas"]
    shipped = dpp.contract.load_schema("instance")
    assert schemas["Instance"]["properties"] == shipped["properties"]
    assert "$id" not in schemas["Instance"]
    assert schemas["HealthReport"]["properties"]["status"] == {
        "$ref": "#/components/schemas/HealthReport/$defs/status"
    }

    def answer(op_id: str, status: str) -> Any:
        [op] = [
            op
            for item in DOCUMENT["paths"].values()
            for op in item.values()
            if op["operationId"] == op_id
        ]
        return op["responses"][status]["content"]["application/json"]["schema"]["$ref"]

    assert answer("getInstance", "200").endswith("/Instance")
    assert answer("createInstance", "202").endswith("/Operation")
    assert answer("getOperation", "200").endswith("/Operation")
    assert answer("getInstanceHealth", "200").endswith("/InstanceHealth")
    assert answer("getClusterHealth", "200").endswith("/ClusterHealth")
    assert answer("listInstances", "200").endswith("/InstancePage")


VALID = {
    "string": "s",
    "integer": 1,
    "number": 1.5,
    "boolean": True,
    "object": {},
    "array": ["a"],
}
WRONG = {"string": 5, "integer": "x", "number": "x", "boolean": 1, "object": [1], "array": "a"}
"""A value of each JSON type a body member has, and one of another type."""

ROUTES = (*ENDPOINTS, *TOKEN_ENDPOINTS, *SANDBOX_ENDPOINTS)
BODY_ROUTES = [e for e in ROUTES if e.body is not None]


@pytest.mark.parametrize("endpoint", BODY_ROUTES, ids=lambda e: e.operation_id)
def test_the_documented_request_body_is_what_the_gateway_accepts(endpoint: Any) -> None:
    """The OpenAPI document's request body is the route's schema; a body built from it is
    accepted, and a member of the wrong type, an unknown member or a missing required one
    is refused naming that member."""
    documented = DOCUMENT["paths"][endpoint.path][endpoint.method.lower()]["requestBody"]
    schema = documented["content"]["application/json"]["schema"]
    assert schema == request_schema(endpoint)
    members = schema["properties"]
    valid = {name: VALID[member["type"]] for name, member in members.items()}
    assert check_body(endpoint, valid) == valid
    for name, member in members.items():
        with pytest.raises(dpp.ValidationError) as wrong:
            check_body(endpoint, {**valid, name: WRONG[member["type"]]})
        assert [p.path for p in wrong.value.problems] == [f"$.{name}"]
    with pytest.raises(dpp.ValidationError) as unknown:
        check_body(endpoint, {**valid, "colour": "red"})
    assert [(p.path, p.value) for p in unknown.value.problems] == [("$.colour", "red")]
    assert f"its members are {', '.join(members)}" in str(unknown.value)
    for name in schema["required"]:
        with pytest.raises(dpp.ValidationError) as missing:
            check_body(endpoint, {k: v for k, v in valid.items() if k != name})
        assert [(p.path, p.message) for p in missing.value.problems] == [
            (f"$.{name}", "is required")
        ]


def test_a_bad_body_gets_one_problem_json_naming_every_member_and_value(
    checked: Checked,
) -> None:
    """Wrong types, an unknown member and a missing required one: one 422 listing each by
    JSON path with its value; a body on a route that takes none, and an array of names
    holding a number, are refused the same way."""
    client, session = checked.client, checked.session
    answer = session.post(
        f"{client.url}/v1/instances", json={"name": 5, "capacity_gb": "x", "colour": 1}
    )
    assert answer.status_code == 422
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert [(p["path"], p["value"]) for p in problem["problems"]] == [
        ("$.capacity_gb", "x"),
        ("$.colour", 1),
        ("$.name", 5),
        ("$.service", None),
    ]
    assert problem["summary"].startswith("the body of POST /v1/instances is invalid (4 problems)")
    targets = session.post(f"{client.url}/v1/recovery", json={"targets": ["kv1", 5]})
    assert [(p["path"], p["value"]) for p in targets.json()["problems"]] == [("$.targets[1]", 5)]
    no_body = session.post(f"{client.url}/v1/services/kv/enable", json={"force": True})
    assert no_body.status_code == 422
    assert [p["path"] for p in no_body.json()["problems"]] == ["$"]


def _honours_idempotency_key(endpoint: Any) -> bool:
    """Whether the endpoint's call hands the request's idempotency key to the platform: its
    call, run against a mock platform with the key ``K``, passes ``K`` to some method."""
    platform = mock.MagicMock()
    args = Args(path=mock.MagicMock(), query={}, body=mock.MagicMock(), idempotency_key="K-probe")
    with contextlib.suppress(Exception):  # the mock's answers need not make sense; its calls do
        endpoint.call(platform, args)
    return any(call.kwargs.get("idempotency_key") == "K-probe" for call in platform.mock_calls)


@pytest.mark.parametrize("endpoint", ROUTES, ids=lambda e: e.operation_id)
def test_idempotency_key_is_declared_exactly_where_it_is_honoured(endpoint: Any) -> None:
    """The OpenAPI document declares the Idempotency-Key header on a route if and only if the
    route passes the request's key to the platform."""
    operation = DOCUMENT["paths"][endpoint.path][endpoint.method.lower()]
    declared = {"$ref": "#/components/parameters/IdempotencyKey"} in operation["parameters"]
    assert declared == _honours_idempotency_key(endpoint)


def test_idempotency_key_is_declared_on_the_change_route() -> None:
    """POST /v1/instances/{name}/change honours the key (as K:configure, K:scale) and says so."""
    change = DOCUMENT["paths"]["/v1/instances/{name}/change"]["post"]
    assert {"$ref": "#/components/parameters/IdempotencyKey"} in change["parameters"]
