"""The gateway over real HTTP: a uvicorn server on an ephemeral loopback port, driven through
``dpp_sdk.client.PlatformClient`` and plain ``requests``."""

from __future__ import annotations

import logging
from collections.abc import Callable

import pytest
import requests

import dpp_sdk as dpp
from dpp_sdk.client import GatewayError, PlatformClient
from dpp_sdk.gateway import AdminToken, create_app
from dpp_sdk.platform import PlatformAPI
from tests.gateways import KV, TOKEN, Gateway, running


def test_the_client_is_a_platform_api() -> None:
    """PlatformClient has every member of the PlatformAPI protocol (mypy checks signatures)."""
    client: PlatformAPI = PlatformClient("http://127.0.0.1:9")
    members = {n for n in vars(PlatformAPI) if not n.startswith("_")}
    assert members <= set(dir(client))


def test_a_whole_lifecycle_runs_over_http_and_returns_the_platforms_types(
    gateway: Gateway,
) -> None:
    """Register, create, get, list in pages, configure, scale, fail and recover a host,
    check health, and remove: every call through the client, every result a model."""
    client = gateway.client
    service = client.register_service(KV)
    assert isinstance(service, dpp.ServiceInfo)
    assert service.name == "kv"
    assert [s.name for s in client.list_services()] == ["kv"]
    assert client.get_service("kv").active_version == "1.0.0"

    for i in range(3):
        op = client.create_instance(service="kv", name=f"kv{i}", capacity_gb=2)
        assert isinstance(op, dpp.Operation)
        assert op.state is dpp.OperationState.SUCCEEDED
    assert client.get_operation(op.id) == op

    info = client.get_instance("kv0")
    assert info == gateway.platform.get_instance("kv0")
    first = client.list_instances(limit=2)
    assert [i.name for i in first] == ["kv0", "kv1"]
    assert first.next_cursor is not None
    rest = client.list_instances(limit=2, cursor=first.next_cursor)
    assert [i.name for i in rest] == ["kv2"]
    assert rest.next_cursor is None
    assert len(client.list_instances(limit=None)) == 3

    assert client.configure_instance("kv0", {"cacheMb": 128}).kind == "configure"
    assert client.get_instance("kv0").spec.parameters["cacheMb"] == 128
    assert client.scale_instance("kv0", 4).kind == "scale"
    assert client.get_instance("kv0").spec.capacity_gb == 4

    host = client.list_hosts()[0].name
    client.inject_host_failure(host)
    assert client.get_host(host).state == "failed"
    assert isinstance(client.cluster_health(), dpp.ClusterHealth)
    client.clear_host_failure(host)
    disk = client.get_host(host).disks[0].name
    client.inject_disk_failure(host, disk)
    client.clear_disk_failure(host, disk)
    client.clear_faults()
    assert client.instance_health("kv0").instance == "kv0"
    assert client.resources().instances
    assert client.status().instances == 3
    assert client.clock_status().kind == "simulated"
    assert client.advance(60).ahead_seconds == pytest.approx(60, abs=1)

    removed = client.remove_instance("kv0")
    assert removed.kind == "decommission"
    assert [i.name for i in client.list_instances()] == ["kv1", "kv2"]
    assert client.list_operations(target="kv0", limit=None)[-1] == removed
    audit = client.audit(limit=5)
    assert len(audit) == 5
    assert all(isinstance(r, dpp.AuditRecord) for r in audit)
    assert all(isinstance(e, dpp.Event) for e in client.events())
    assert gateway.platform.check_consistency() == []


def test_errors_are_the_in_process_types_with_the_same_messages(gateway: Gateway) -> None:
    """NotFound and ValidationError (with its problems' paths) raised by the client match
    what the platform raises in-process, message for message, for every request of the right
    JSON types (a wrong type is the gateway's schema's to refuse: see the next test)."""
    client, platform = gateway.client, gateway.platform
    client.register_service(KV)
    client.create_instance(service="kv", name="kv1", capacity_gb=1)
    for call in (
        lambda p: p.get_instance("missing"),
        lambda p: p.create_instance(service="kv", name="9bad", capacity_gb=1),
        lambda p: p.create_instance(service="kv", name="big", capacity_gb=100000),
        lambda p: p.create_instance(service="kv", name="p", parameters={"cacheMb": 1}),
        lambda p: p.create_instance(service="nope", name="a"),
        lambda p: p.list_instances(limit=0),
        lambda p: p.create_instance(service="kv", name="kv1", capacity_gb=1),
        lambda p: p.scale_instance("kv1", 9999),
        lambda p: p.list_operations(cursor="nope"),
    ):
        with pytest.raises(dpp.DppError) as remote:
            call(client)
        with pytest.raises(dpp.DppError) as local:
            call(platform)
        assert type(remote.value) is type(local.value)
        assert str(remote.value) == str(local.value)
        if isinstance(local.value, dpp.ValidationError):
            assert isinstance(remote.value, dpp.ValidationError)
            assert [p.path for p in remote.value.problems] == [p.path for p in local.value.problems]


def test_a_member_of_the_wrong_json_type_is_a_validation_error_on_the_same_path(
    gateway: Gateway,
) -> None:
    """A value of the wrong JSON type never reaches the platform: the gateway's body schema
    refuses it with a ValidationError on the path the platform would name, in the schema's
    words."""
    gateway.client.register_service(KV)
    with pytest.raises(dpp.ValidationError) as remote:
        gateway.client.create_instance(service="kv", name="kv1", capacity_gb="x")  # type: ignore[arg-type]
    with pytest.raises(dpp.ValidationError) as local:
        gateway.platform.create_instance(service="kv", name="kv1", capacity_gb="x")  # type: ignore[arg-type]
    assert [p.path for p in remote.value.problems] == [p.path for p in local.value.problems]
    assert [p.value for p in remote.value.problems] == ["x"]
    assert "the body of POST /v1/instances is invalid" in str(remote.value)


def test_bad_input_gets_problem_json_naming_every_field(gateway: Gateway) -> None:
    """A body with a wrong type and an unknown member answers 422 application/problem+json
    with each problem's JSON path, and no traceback."""
    gateway.client.register_service(KV)
    response = gateway.post(
        "/v1/instances", {"service": "kv", "name": "a", "capacity_gb": "x", "colour": 1}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"] == "urn:dpp:problem:validation-error"
    assert problem["status"] == 422
    assert [p["path"] for p in problem["problems"]] == ["$.capacity_gb", "$.colour"]
    response = gateway.post("/v1/instances", {"service": "kv", "name": "a", "capacity_gb": "x"})
    assert [p["path"] for p in response.json()["problems"]] == ["$.capacity_gb"]
    bad_query = gateway.get("/v1/instances?limit=many&colour=red")
    assert bad_query.status_code == 422
    assert [p["path"] for p in bad_query.json()["problems"]] == ["$.query.limit", "$.query.colour"]
    not_json = requests.post(
        f"{gateway.url}/v1/instances",
        data=b"{nope",
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert not_json.status_code == 400
    assert "Traceback" not in not_json.text
    missing = gateway.get("/v1/instances/nope")
    assert missing.status_code == 404
    assert missing.json()["kind"] == "instance"
    no_route = gateway.get("/v1/nowhere")
    assert no_route.status_code == 404
    assert no_route.headers["content-type"] == "application/problem+json"


def test_anonymous_and_wrong_token_calls_get_401_problem_json(gateway: Gateway) -> None:
    """Without a token or with a wrong one every route answers 401 problem+json; the OpenAPI
    document needs none."""
    for token in (None, "wrong"):
        response = gateway.get("/v1/instances", token=token)
        assert response.status_code == 401
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert response.json()["type"] == "urn:dpp:problem:unauthorized"
    with pytest.raises(GatewayError) as refused:
        PlatformClient(gateway.url, "wrong").list_services()
    assert refused.value.status == 401
    assert gateway.get("/v1/openapi.json", token=None).status_code == 200


def test_an_idempotency_key_returns_the_same_operation(gateway: Gateway) -> None:
    """Two creates with one Idempotency-Key answer 202 with the same operation and Location;
    the client's idempotency_key goes through the same header."""
    gateway.client.register_service(KV)
    body = {"service": "kv", "name": "once", "capacity_gb": 1}
    first = gateway.post("/v1/instances", body, **{"Idempotency-Key": "k-1"})
    second = gateway.post("/v1/instances", body, **{"Idempotency-Key": "k-1"})
    assert first.status_code == second.status_code == 202
    assert first.json() == second.json()
    assert first.headers["location"] == f"/v1/operations/{first.json()['id']}"
    assert gateway.get(first.headers["location"]).json() == first.json()
    op = gateway.client.scale_instance("once", 3, idempotency_key="k-2")
    assert gateway.client.scale_instance("once", 3, idempotency_key="k-2") == op
    assert op.idempotency_key == "k-2"


def test_a_failed_operation_answers_202_and_the_client_raises_operation_failed(
    gateway: Gateway,
) -> None:
    """An operation that ends failed is still the answer (202, state failed); the client
    raises OperationFailed carrying it, as in-process."""
    gateway.client.register_service("tests.providers:FailingProvider")
    with pytest.raises(dpp.OperationFailed) as failed:
        gateway.client.create_instance(service="failing", name="f1", capacity_gb=1)
    assert failed.value.operation.state is dpp.OperationState.FAILED
    assert gateway.client.get_operation(failed.value.operation.id) == failed.value.operation


class _BrokenPlatform:
    """A platform whose listing fails with a bug (not a dpp error)."""

    def list_services(self) -> list[dpp.ServiceInfo]:
        raise RuntimeError("secret internal detail")


def test_a_server_fault_is_a_500_problem_with_an_incident_id_and_a_logged_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An unexpected exception answers 500 problem+json naming an incident, never the
    exception's text; the log has the traceback under that incident."""
    app = create_app(_BrokenPlatform(), AdminToken(TOKEN, "test"))  # type: ignore[arg-type]
    with caplog.at_level(logging.ERROR, logger="dpp_sdk.gateway"), running(app) as url:
        response = requests.get(
            f"{url}/v1/services", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10
        )
    assert response.status_code == 500
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert "secret internal detail" not in response.text
    assert "Traceback" not in response.text
    [record] = [r for r in caplog.records if problem["incident"] in r.getMessage()]
    assert record.exc_info is not None


def test_maintenance_over_http_prechecks_enters_exits_and_refuses_a_veto(
    gateway: Gateway,
) -> None:
    """Pre-check and enter answer the platform's documents; a provider's veto raises
    MaintenanceVetoed with the same message and vetoes as in-process; exit brings it back."""
    client, platform = gateway.client, gateway.platform
    client.register_service(KV)
    client.register_service("tests.providers:VetoingProvider")
    client.create_instance(service="vetoing", name="v1", capacity_gb=1)
    host = client.get_instance("v1").members[0].host
    assert host is not None
    precheck = client.maintenance_precheck(host, "no-action")
    assert precheck == platform.maintenance_precheck(host, "no-action")
    assert [v.instance for v in precheck.vetoes] == ["v1"]
    with pytest.raises(dpp.MaintenanceVetoed) as remote:
        client.enter_maintenance(host, "no-action")
    with pytest.raises(dpp.MaintenanceVetoed) as local:
        platform.enter_maintenance(host, "no-action")
    assert str(remote.value) == str(local.value)
    assert remote.value.vetoes == local.value.vetoes
    client.remove_instance("v1")
    entered = client.enter_maintenance(host, dpp.MaintenanceMode.NO_ACTION)
    assert isinstance(entered, dpp.MaintenanceResult)
    assert client.get_host(host).state == "maintenance"
    client.exit_maintenance(host)
    assert client.get_host(host).state == "connected"
    with pytest.raises(dpp.ValidationError) as bad_mode:
        client.maintenance_precheck(host, "sideways")
    assert [p.path for p in bad_mode.value.problems] == ["$.mode"]


class _Unreachable(requests.Session):
    """A session whose every request fails to connect, counting the attempts."""

    def __init__(self) -> None:
        super().__init__()
        self.attempts: list[tuple[str, str | None]] = []

    def request(self, method: str, url: str, *args: object, **kwargs: object) -> requests.Response:  # type: ignore[override]
        headers = kwargs.get("headers") or {}
        assert isinstance(headers, dict)
        self.attempts.append((method, headers.get("Idempotency-Key")))
        raise requests.ConnectionError("connection refused")


@pytest.mark.parametrize(
    ("call", "attempts"),
    [
        (lambda c: c.list_services(), 3),
        (lambda c: c.scale_instance("kv1", 3, idempotency_key="k"), 3),
        (lambda c: c.scale_instance("kv1", 3), 1),
        (lambda c: c.remove_instance("kv1"), 1),
        (lambda c: c.inject_host_failure("esx-01"), 1),
    ],
    ids=["read", "keyed-mutation", "mutation", "remove", "fault"],
)
def test_only_reads_and_mutations_with_an_idempotency_key_are_retried(
    call: Callable[[PlatformClient], object], attempts: int
) -> None:
    """A connection error is retried (3 attempts in all) only where repeating is safe."""
    session = _Unreachable()
    client = PlatformClient("http://127.0.0.1:9", TOKEN, session=session)
    with pytest.raises(requests.ConnectionError):
        call(client)
    assert len(session.attempts) == attempts
