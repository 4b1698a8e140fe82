"""Unit tests of the problem details mapping (dpp_sdk.gateway._problems) and of rebuilding
exceptions from them (dpp_sdk.client._errors)."""

from __future__ import annotations

import json

import pytest

import dpp_sdk as dpp
from dpp_sdk.client import GatewayError
from dpp_sdk.client._errors import error_from_problem
from dpp_sdk.gateway._problems import problem_for

ERRORS = [
    (dpp.NotFound("instance", "kv9", "see dpp instance list"), 404, ("kind", "name")),
    (dpp.ValidationError.single("$.capacity_gb", "x", "must be a number"), 422, ("summary",)),
    (dpp.ManifestError("bad manifest", []), 422, ("summary",)),
    (dpp.Conflict("instance 'kv1' is busy"), 409, ()),
    (
        dpp.QuotaExceeded("quota hit", limit="resource_quota", used=1.0, asked=2.0, left=0.5),
        409,
        ("limit", "used", "asked", "left"),
    ),
    (dpp.PlacementFailed("NotEnoughResources", "no room"), 409, ("reason",)),
    (dpp.ClockNotAdjustable("the system clock follows real time"), 409, ()),
    (dpp.ProviderTimeout("provision", 3.0), 502, ("verb", "seconds")),
    (dpp.DataUnavailable("volume v is unreachable"), 503, ()),
]


@pytest.mark.parametrize(("error", "status", "fields"), ERRORS, ids=lambda e: type(e).__name__)
def test_each_error_maps_to_its_status_and_comes_back_as_the_same_exception(
    error: dpp.DppError, status: int, fields: tuple[str, ...]
) -> None:
    """Through JSON and back: the same class, message and structured fields."""
    problem = problem_for(error)
    assert problem is not None
    assert problem["status"] == status
    assert problem["detail"] == str(error)
    rebuilt = error_from_problem(status, json.loads(json.dumps(problem)))
    assert type(rebuilt) is type(error)
    assert str(rebuilt) == str(error)
    for field in fields:
        assert getattr(rebuilt, field) == getattr(error, field), field
    if isinstance(error, dpp.ValidationError):
        assert isinstance(rebuilt, dpp.ValidationError)
        assert rebuilt.problems == error.problems


def test_an_error_the_gateway_does_not_map_is_left_to_the_server_fault_path() -> None:
    """A DppError of no mapped kind is not described (the gateway answers 500 instead)."""
    assert problem_for(dpp.DppError("odd")) is None


def test_a_problem_naming_no_known_class_becomes_a_gateway_error() -> None:
    """401s, unknown routes and 5xx raise GatewayError carrying the status and problem."""
    problem = {"type": "urn:dpp:problem:unauthorized", "title": "Unauthorized", "status": 401}
    error = error_from_problem(401, {**problem, "detail": "no token"})
    assert isinstance(error, GatewayError)
    assert error.status == 401
    assert "no token" in str(error)
