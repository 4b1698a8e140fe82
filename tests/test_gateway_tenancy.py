"""Auth and tenancy over HTTP: partner tokens scoped to one vendor, the principal of every
call in the audit trail, and ``ETag`` / ``If-Match`` on instance updates."""

from __future__ import annotations

import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest
import requests

import dpp_sdk as dpp
from dpp_sdk.gateway import PARTNER_TOKENS_FILE, AdminToken, PartnerTokens, create_app
from tests.gateways import running
from tests.providers import KV_MANIFEST, KVProvider

ADMIN = "tenancy-admin-token"
ACME, BETA = "Acme Data", "Beta Stores"


class AcmeKV(KVProvider):
    """Vendor A's service."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return attrs.evolve(KV_MANIFEST, name="acme-kv", display_name="Acme KV", vendor=ACME)


class BetaKV(KVProvider):
    """Vendor B's service."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return attrs.evolve(KV_MANIFEST, name="beta-kv", display_name="Beta KV", vendor=BETA)


class AcmeSquatter(KVProvider):
    """Vendor A's provider that claims the name of vendor B's service."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return attrs.evolve(KV_MANIFEST, name="beta-kv", vendor=ACME)


HERE = "tests.test_gateway_tenancy"


class Tenants:
    """A gateway with two vendors' services, instances and partner tokens."""

    def __init__(self, url: str, platform: dpp.Platform, tokens: dict[str, str]) -> None:
        self.url = url
        self.platform = platform
        self.tokens = tokens

    def call(
        self, method: str, path: str, token: str | None = ADMIN, **kwargs: Any
    ) -> requests.Response:
        headers = kwargs.pop("headers", {})
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def acme(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        return self.call(method, path, self.tokens[ACME], **kwargs)


@pytest.fixture
def tenants(dpp_platform_factory: Callable[..., dpp.Platform]) -> Iterator[Tenants]:
    platform = dpp_platform_factory()
    app = create_app(platform, AdminToken(ADMIN, "test"))
    with running(app) as url:
        t = Tenants(url, platform, {})
        for vendor in (ACME, BETA):
            answer = t.call("POST", "/v1/tokens", json={"vendor": vendor})
            assert answer.status_code == 201, answer.text
            t.tokens[vendor] = answer.json()["token"]
        t.call("POST", "/v1/services", json={"ref": f"{HERE}:AcmeKV"}).raise_for_status()
        t.call("POST", "/v1/services", json={"ref": f"{HERE}:BetaKV"}).raise_for_status()
        for service, name in (("acme-kv", "acme1"), ("acme-kv", "acme2"), ("beta-kv", "beta1")):
            body = {"service": service, "name": name, "capacity_gb": 1}
            assert t.call("POST", "/v1/instances", json=body).status_code == 202
        yield t


# Strings that only vendor B's objects contain: none may reach vendor A.
B_MARKS = ("beta1", "beta-kv", BETA, "Beta KV")


def _clean(answer: requests.Response) -> None:
    """No 5xx, and nothing of vendor B's in the answer but a name the request itself gave
    (a 404 names what was asked for, as for any object that does not exist)."""
    assert answer.status_code < 500, answer.text
    asked = f"{answer.request.url} {answer.request.body!r}"
    for mark in B_MARKS:
        if mark in asked:
            assert answer.status_code in (403, 404), (answer.request.url, answer.text)
            continue
        assert mark not in answer.text, (answer.request.method, answer.request.url, answer.text)


def test_a_partner_sees_only_its_vendors_services_and_instances_on_every_list_route(
    tenants: Tenants,
) -> None:
    services = tenants.acme("GET", "/v1/services").json()
    assert [s["name"] for s in services] == ["acme-kv"]
    page = tenants.acme("GET", "/v1/instances?limit=1").json()
    assert [i["name"] for i in page["items"]] == ["acme1"]
    rest = tenants.acme("GET", f"/v1/instances?limit=5&cursor={page['next_cursor']}").json()
    assert [i["name"] for i in rest["items"]] == ["acme2"]
    assert rest["next_cursor"] is None
    targets = {op["target"] for op in tenants.acme("GET", "/v1/operations").json()["items"]}
    assert targets == {"acme1", "acme2"}
    health = tenants.acme("GET", "/v1/health").json()
    assert {i["instance"] for i in health["instances"]} == {"acme1", "acme2"}
    usage = tenants.acme("GET", "/v1/resources").json()
    assert {i["instance"] for i in usage["instances"]} == {"acme1", "acme2"}
    status = tenants.acme("GET", "/v1/status").json()
    assert (status["services"], status["instances"]) == (1, 2)
    audit = tenants.acme("GET", "/v1/audit").json()["items"]
    assert {r["target"] for r in audit} == {"acme1", "acme2", "acme-kv"}
    for path in ("/v1/services", "/v1/instances", "/v1/operations", "/v1/audit", "/v1/events"):
        _clean(tenants.acme("GET", path))
    # The admin still sees everything.
    names = [i["name"] for i in tenants.call("GET", "/v1/instances").json()["items"]]
    assert names == ["acme1", "acme2", "beta1"]


def _example(name: str, b_objects: dict[str, str]) -> str:
    return b_objects.get(name, "x")


def test_walking_every_route_of_the_openapi_document_with_vendor_a_shows_nothing_of_vendor_b(
    tenants: Tenants,
) -> None:
    """Every route, with vendor B's object names in the path and body: 404 or 403 where it
    names B's objects, never 5xx, never a body with anything of B's."""
    document = tenants.call("GET", "/v1/openapi.json", token=None).json()
    b_op = tenants.call("GET", "/v1/operations?target=beta1").json()["items"][0]["id"]
    host = tenants.platform.list_hosts()[0]
    b_objects = {
        "name": "beta1",
        "id": b_op,
        "version": "1.0.0",
        "host": host.name,
        "disk": host.disks[0].name,
    }
    bodies = {
        "registerService": {"ref": f"{HERE}:BetaKV"},
        "createInstance": {"service": "beta-kv", "name": "acme-in-beta", "capacity_gb": 1},
        "configureInstance": {"parameters": {"cacheMb": 96}},
        "scaleInstance": {"capacity_gb": 2},
        "changeInstance": {"parameters": {"cacheMb": 96}},
        "enterMaintenance": {"mode": "no-action"},
        "advanceClock": {"seconds": 1},
        "createPartnerToken": {"vendor": ACME},
    }
    walked = 0
    for path, methods in document["paths"].items():
        for method, operation in methods.items():
            op_id = operation["operationId"]
            names = re.findall(r"{(\w+)}", path)
            if "services/{name}" in path:
                concrete = path.replace("{name}", "beta-kv")
            else:
                concrete = re.sub(r"{(\w+)}", lambda m: _example(m.group(1), b_objects), path)
            query = "?mode=no-action" if op_id == "precheckMaintenance" else ""
            answer = tenants.acme(method.upper(), concrete + query, json=bodies.get(op_id))
            walked += 1
            _clean(answer)
            if set(names) & {"name", "id", "version"}:
                assert answer.status_code in (403, 404), (op_id, answer.text)
            if op_id in ("registerService", "createInstance"):
                assert answer.status_code in (403, 404), (op_id, answer.text)
    assert walked >= 30
    # Nothing of A's walk changed B's objects.
    assert tenants.platform.get_instance("beta1").spec.capacity_gb == 1
    names = [i.name for i in tenants.platform.list_instances(limit=None)]
    assert names == ["acme1", "acme2", "beta1"]


def test_an_anonymous_or_unknown_token_gets_401_with_a_problem(tenants: Tenants) -> None:
    for token in (None, "not-a-token"):
        answer = tenants.call("GET", "/v1/instances", token=token)
        assert answer.status_code == 401
        assert answer.headers["content-type"] == "application/problem+json"


def test_a_partner_gets_403_registering_another_vendors_provider_and_on_admin_routes(
    tenants: Tenants,
) -> None:
    refused = tenants.acme("POST", "/v1/services", json={"ref": f"{HERE}:BetaKV"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "Forbidden"
    squat = tenants.acme("POST", "/v1/services", json={"ref": f"{HERE}:AcmeSquatter"})
    assert squat.status_code == 403
    assert tenants.platform.get_service("beta-kv").vendor == BETA
    host = tenants.platform.list_hosts()[0].name
    for method, path, body in (
        ("POST", f"/v1/hosts/{host}/failure", None),
        ("DELETE", "/v1/faults", None),
        ("POST", f"/v1/hosts/{host}/maintenance", {"mode": "no-action"}),
        ("POST", "/v1/clock/advance", {"seconds": 5}),
        ("GET", "/v1/tokens", None),
        ("POST", "/v1/tokens", {"vendor": ACME}),
    ):
        answer = tenants.acme(method, path, json=body)
        assert answer.status_code == 403, (path, answer.text)
    assert tenants.platform.get_host(host).state == "connected"
    # Its own provider registers, and its own instances are its to change.
    again = tenants.acme("POST", "/v1/services", json={"ref": f"{HERE}:AcmeKV"})
    assert again.status_code == 201
    assert tenants.acme("POST", "/v1/instances/acme1/scale", json={"capacity_gb": 2}).ok


def test_the_audit_trail_records_each_calls_principal(tenants: Tenants) -> None:
    body = {"service": "acme-kv", "name": "acme3", "capacity_gb": 1}
    assert tenants.acme("POST", "/v1/instances", json=body).status_code == 202
    records = tenants.platform.audit(limit=None)
    by_target = {(r.target, r.action): r.principal for r in records}
    assert by_target[("acme3", "instance.provision")] == f"partner:{ACME}"
    assert by_target[("beta1", "instance.provision")] == "admin"
    seen = tenants.acme("GET", "/v1/audit?limit=all").json()["items"]
    assert {r["principal"] for r in seen} == {"admin", f"partner:{ACME}"}


def test_partner_tokens_are_listed_without_the_token_and_revoked_ones_get_401(
    tenants: Tenants,
) -> None:
    listed = tenants.call("GET", "/v1/tokens").json()
    assert sorted(t["vendor"] for t in listed) == [ACME, BETA]
    assert all(set(t) == {"id", "vendor", "created_at"} for t in listed)
    acme = next(t for t in listed if t["vendor"] == ACME)
    assert tenants.call("DELETE", f"/v1/tokens/{acme['id']}").status_code == 204
    assert tenants.acme("GET", "/v1/services").status_code == 401
    assert tenants.call("DELETE", f"/v1/tokens/{acme['id']}").status_code == 404


def test_partner_tokens_are_stored_only_as_digests_in_a_private_file(tmp_path: Path) -> None:
    tokens = PartnerTokens(tmp_path)
    listed, token = tokens.create(ACME)
    path = tmp_path / PARTNER_TOKENS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert token not in path.read_text()
    again = PartnerTokens(tmp_path)  # another process on the same directory
    found = again.match(token)
    assert found is not None
    assert (found.vendor, found.name) == (ACME, f"partner:{ACME}")
    assert again.match(token + "x") is None
    assert [t.id for t in again.list()] == [listed.id]


def test_a_stale_if_match_gets_412_and_a_current_one_or_none_proceeds(tenants: Tenants) -> None:
    first = tenants.acme("GET", "/v1/instances/acme1")
    etag = first.headers["ETag"]
    assert etag == tenants.acme("GET", "/v1/instances/acme1").headers["ETag"]
    ok = tenants.acme(
        "POST", "/v1/instances/acme1/scale", json={"capacity_gb": 2}, headers={"If-Match": etag}
    )
    assert ok.status_code == 202
    stale = tenants.acme(
        "POST",
        "/v1/instances/acme1/configure",
        json={"parameters": {"cacheMb": 96}},
        headers={"If-Match": etag},
    )
    assert stale.status_code == 412
    assert stale.headers["content-type"] == "application/problem+json"
    assert tenants.platform.get_instance("acme1").spec.capacity_gb == 2
    assert tenants.platform.get_instance("acme1").spec.parameters.get("cacheMb") != 96
    fresh = tenants.acme("GET", "/v1/instances/acme1").headers["ETag"]
    assert fresh != etag
    body = {"parameters": {"cacheMb": 96}}
    assert tenants.acme("POST", "/v1/instances/acme1/configure", json=body).status_code == 202
    # A hidden instance answers 404 whatever If-Match says: it is not revealed by a 412.
    hidden = tenants.acme(
        "POST", "/v1/instances/beta1/scale", json={"capacity_gb": 2}, headers={"If-Match": '"x"'}
    )
    assert hidden.status_code == 404


def test_another_vendors_idempotency_key_never_answers_with_its_operation(
    tenants: Tenants,
) -> None:
    key = {"Idempotency-Key": "grow-1"}
    b_scale = tenants.call(
        "POST",
        "/v1/instances/beta1/scale",
        token=tenants.tokens[BETA],
        json={"capacity_gb": 2},
        headers=dict(key),
    )
    assert b_scale.status_code == 202
    a_scale = tenants.acme(
        "POST", "/v1/instances/acme1/scale", json={"capacity_gb": 2}, headers=dict(key)
    )
    assert a_scale.status_code == 202
    assert a_scale.json()["target"] == "acme1"
    assert a_scale.json()["idempotency_key"] == "grow-1"
    _clean(a_scale)
