"""Malformed requests the gateway once answered with 500 (or a 405 whose Allow header left
out methods): each now gets the right 4xx problem."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

import dpp_sdk as dpp
from dpp_sdk.gateway import AdminToken, create_app
from tests.gateways import running

TOKEN = "schemathesis-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def _platform(state_dir: Path | None = None) -> dpp.Platform:
    """A platform with a service and an instance, so some generated requests reach existing
    objects."""
    platform = dpp.Platform.open(state_dir)
    platform.register_service("tests.providers:KVProvider")
    platform.create_instance(service="kv", name="kv1", capacity_gb=1)
    return platform


# Requests that got a 500 (the platform raised TypeError or OverflowError on a value of the
# wrong type or out of range), each now a 4xx problem: (method, path, JSON body, query, status).
AUDIT_CURSOR_PAST_SQLITE = base64.urlsafe_b64encode(json.dumps(["audit", 2**70]).encode()).decode()
FOUND: list[tuple[str, str, object, dict[str, str], int]] = [
    ("POST", "/v1/services", {"ref": {}}, {}, 422),
    ("POST", "/v1/services", {"ref": None}, {}, 422),
    ("POST", "/v1/instances", {"service": [], "name": "x"}, {}, 422),
    ("POST", "/v1/instances", {"service": 2**70, "name": "x"}, {}, 422),
    ("POST", "/v1/instances", {"service": "kv", "name": "x", "policy": 0}, {}, 422),
    ("POST", "/v1/instances", {"service": "kv", "name": "x", "policy": [1]}, {}, 422),
    ("POST", "/v1/instances", {"service": "kv", "name": "x", "capacity_gb": -1}, {}, 422),
    ("POST", "/v1/instances/kv1/configure", {"parameters": None}, {}, 422),
    ("POST", "/v1/hosts/esx-01/maintenance", {"mode": "no-action", "disk": []}, {}, 422),
    ("POST", "/v1/clock/advance", {"seconds": 2.8e16}, {}, 422),
    ("POST", "/v1/clock/advance", {"seconds": 2**70}, {}, 422),
    ("GET", "/v1/events", None, {"since": str(2**70)}, 422),
    ("GET", "/v1/audit", None, {"cursor": AUDIT_CURSOR_PAST_SQLITE}, 422),
]


@pytest.fixture(scope="module")
def gateway_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    platform = _platform(tmp_path_factory.mktemp("found"))
    try:
        with running(create_app(platform, AdminToken(TOKEN, "test"))) as url:
            yield url
    finally:
        platform.close()


@pytest.mark.parametrize(
    "found", FOUND, ids=[f"{m} {p} {json.dumps(b) if b else q}" for m, p, b, q, _ in FOUND]
)
def test_a_request_that_once_got_a_500_gets_a_problem_naming_what_is_wrong(
    gateway_url: str, found: tuple[str, str, object, dict[str, str], int]
) -> None:
    method, path, body, query, status = found
    answer = requests.request(
        method, gateway_url + path, json=body, params=query, headers=AUTH, timeout=30
    )
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["status"] == status
    if status == 422:
        assert problem["problems"][0]["path"].startswith("$."), problem


def test_an_advance_refused_for_being_too_far_leaves_the_clock_working(gateway_url: str) -> None:
    """The clock used to take the refused offset in memory and fail every later call."""
    refused = requests.post(
        f"{gateway_url}/v1/clock/advance", json={"seconds": 1e300}, headers=AUTH, timeout=30
    )
    assert refused.status_code == 422
    assert "past 3000-01-01" in refused.json()["detail"]
    before = requests.get(f"{gateway_url}/v1/clock", headers=AUTH, timeout=30).json()
    moved = requests.post(
        f"{gateway_url}/v1/clock/advance", json={"seconds": 60}, headers=AUTH, timeout=30
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["ahead_seconds"] >= before["ahead_seconds"] + 60


def test_a_method_not_allowed_lists_every_method_of_the_path_in_allow(gateway_url: str) -> None:
    """``/v1/services`` serves GET and POST; a PUT is told both (RFC 9110 section 15.5.6)."""
    answer = requests.put(f"{gateway_url}/v1/services", headers=AUTH, timeout=30)
    assert answer.status_code == 405
    assert answer.headers["content-type"] == "application/problem+json"
    assert {m.strip() for m in answer.headers["allow"].split(",")} == {"GET", "HEAD", "POST"}
