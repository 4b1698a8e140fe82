"""Generated requests against the gateway: schemathesis reads the OpenAPI document the gateway
serves (``/v1/openapi.json``), makes valid and invalid requests for every operation from it,
and sends them to the ASGI application in this process. No request, however malformed, gets a
5xx, and every error is RFC 9457 problem details.

The run is bounded (a few examples per operation, on the project's Hypothesis profile, whose
deadline is off) so it takes seconds; the requests it once found answering 500 are kept below
as plain regression tests.
"""

from __future__ import annotations

import atexit
import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

import dpp_sdk as dpp
from dpp_sdk.gateway import AdminToken, create_app
from tests.gateways import running

TOKEN = "schemathesis-admin-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
# Generated examples per operation (about 45 of them) and generation mode; the cases of
# schemathesis's coverage phase (about 900 in all: boundaries, wrong types, missing members)
# come on top, and take most of the run's 10-20 s.
EXAMPLES = 5
PROBLEM_MEMBERS = ("type", "title", "status", "detail")


def _platform(state_dir: Path | None = None) -> dpp.Platform:
    """A platform with a service and an instance, so some generated requests reach existing
    objects."""
    platform = dpp.Platform.open(state_dir)
    platform.register_service("tests.providers:KVProvider")
    platform.create_instance(service="kv", name="kv1", capacity_gb=1)
    return platform


# The schema is loaded when the module is (schemathesis parametrizes the test from it; its
# fixture-based loader does not run on pytest 9), so the platform behind it is in memory.
PLATFORM = _platform()
APP = create_app(PLATFORM, AdminToken(TOKEN, "test"))
schema = schemathesis.openapi.from_asgi("/v1/openapi.json", APP)


def _close_the_platform() -> None:
    APP.state.sandboxes.close()  # any a generated POST /v1/sandboxes opened
    PLATFORM.close()


# At exit, not in a module fixture: under xdist's work stealing a worker may tear a module's
# fixtures down and later run more of its tests, which need the module-level app still open.
atexit.register(_close_the_platform)


def problem_details(ctx: Any, response: schemathesis.Response, case: schemathesis.Case) -> None:
    """An error answer (4xx, 5xx) is ``application/problem+json`` with the RFC 9457 members,
    its ``status`` the response's."""
    del ctx
    if response.status_code < 400:
        return
    media = response.headers.get("content-type", [""])[0].split(";")[0].strip()
    assert media == "application/problem+json", (case.operation.label, response.status_code)
    body = response.json()
    missing = [m for m in PROBLEM_MEMBERS if m not in body]
    assert not missing, (case.operation.label, body)
    assert body["status"] == response.status_code, body


# Every built-in check runs (not_a_server_error and negative_data_rejection among them), plus
# problem_details, except positive_data_acceptance: the document types parameters and members
# (a string, an integer), and the platform then validates their values (instance names,
# cursors it issued, modes, seconds > 0, a provider it can load), so a request valid by the
# document's types alone ('{"seconds": 0.0}', 'cursor=') is rightly answered 422.
EXCLUDED = [positive_data_acceptance]


@schema.parametrize()
@settings(max_examples=EXAMPLES)
def test_no_generated_request_gets_a_server_error_and_every_error_is_problem_details(
    case: schemathesis.Case,
) -> None:
    case.call_and_validate(
        headers=AUTH, additional_checks=[problem_details], excluded_checks=EXCLUDED
    )


# Requests that got a 500 (found by the generated run, but for the crafted cursor: the same
# overflow found by reading the code), each now a 4xx problem: (method, path, JSON body, query,
# status). Those of the wrong JSON type now stop at the gateway's body schemas; the platform's
# own refusals are tested in-process (tests/test_platform_robustness.py). The 405 whose Allow
# header left out methods is the last test.
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
