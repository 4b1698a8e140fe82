"""Models round-trip through JSON and validate against the shipped schemas."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given

import dpp_sdk as dpp
from tests import strategies as st

CASES: list[tuple[str, Any, type]] = [
    ("manifest", st.manifests(), dpp.Manifest),
    ("health-report", st.health_reports, dpp.HealthReport),
    ("operation", st.operations(), dpp.Operation),
    ("instance", st.instances, dpp.InstanceInfo),
]


@pytest.mark.parametrize(("schema", "strategy", "cls"), CASES, ids=[c[0] for c in CASES])
def test_every_model_round_trips_through_json_and_matches_its_schema(
    schema: str, strategy: Any, cls: type
) -> None:
    """A generated model equals itself after to_json/from_json and its JSON fits its schema."""

    @given(strategy)
    def check(model: Any) -> None:
        text = dpp.to_json(model)
        assert dpp.from_json(text, cls) == model
        dpp.validate_document(schema, dpp.unstructure(model))

    check()


@given(st.manifests())
def test_generated_valid_manifests_pass_manifest_validation(manifest: dpp.Manifest) -> None:
    """Every manifest the strategy builds is accepted, so the refusals below are meaningful."""
    dpp.validate_manifest(manifest)


def test_health_report_status_is_the_worst_check() -> None:
    """from_checks takes the most severe status; an empty report is green."""
    checks = [
        dpp.HealthCheck(name="a", status=dpp.HealthStatus.GREEN),
        dpp.HealthCheck(name="b", status=dpp.HealthStatus.RED),
        dpp.HealthCheck(name="c", status=dpp.HealthStatus.YELLOW),
    ]
    assert dpp.HealthReport.from_checks(checks).status is dpp.HealthStatus.RED
    assert dpp.HealthReport.from_checks([]).status is dpp.HealthStatus.GREEN


def test_operation_states_only_move_forward() -> None:
    """pending -> running -> succeeded|failed; nothing leaves a terminal state."""
    s = dpp.OperationState
    assert s.PENDING.can_move_to(s.RUNNING)
    assert s.RUNNING.can_move_to(s.FAILED)
    assert s.PENDING.can_move_to(s.SUCCEEDED)
    assert not s.RUNNING.can_move_to(s.PENDING)
    assert not s.SUCCEEDED.can_move_to(s.FAILED)
    assert not s.FAILED.can_move_to(s.RUNNING)


def test_a_document_that_breaks_its_schema_is_refused_with_every_problem() -> None:
    """An operation missing two fields and with a bad state lists three problems by path."""
    document = dpp.unstructure(dpp.Operation(id="op-1", kind="provision", target="x"))
    del document["kind"], document["target"]
    document["state"] = "exploded"
    with pytest.raises(dpp.ValidationError) as info:
        dpp.validate_document("operation", document)
    paths = sorted(p.path for p in info.value.problems)
    assert paths == ["$.kind", "$.state", "$.target"]
    assert any(p.value == "exploded" for p in info.value.problems)


def test_secret_values_never_show_in_repr() -> None:
    """A Secret prints redacted; only reveal() returns the value."""
    secret = dpp.Secret("root-password", "hunter2")
    assert "hunter2" not in repr(secret)
    assert "hunter2" not in str(secret)
    assert secret.reveal() == "hunter2"


def test_schemas_load_from_the_installed_package() -> None:
    """Every shipped schema loads through importlib.resources and declares draft 2020-12."""
    for name in dpp.SCHEMA_NAMES:
        schema = dpp.load_schema(name)
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"


def test_validate_model_checks_models_and_lists_of_models_with_a_schema() -> None:
    """A broken operation inside a list is caught; models without a schema pass through."""
    good = dpp.Operation(id="op-1", kind="provision", target="x")
    dpp.validate_model([good, dpp.Plan(name="p")])
    broken = dpp.Operation(id="op-2", kind="provision", target="x", progress=7.0)
    with pytest.raises(dpp.ValidationError, match="progress"):
        dpp.validate_model((good, broken))
