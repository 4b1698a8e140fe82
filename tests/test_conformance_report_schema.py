"""The shipped JSON Schema of the conformance report: a real report validates, its fields are
exactly the report's, and a tampered report is refused naming what is wrong."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

import dpp_sdk as dpp
from dpp_sdk import conformance


@pytest.fixture(scope="module")
def report_document() -> dict[str, Any]:
    """A real report of the MinIO sample, with a waived failure and a skipped check."""
    report = conformance.run(
        "samples/minio",
        only=["REG-001", "REG-004", "SCALE-006"],
        waivers={"REG-004": "descriptions come later"},
        seed=5,
    )
    document: dict[str, Any] = json.loads(report.to_json())
    return document


def test_a_real_report_validates_against_the_shipped_schema(
    report_document: dict[str, Any],
) -> None:
    dpp.validate_document("conformance-report", report_document)
    assert "conformance-report" in dpp.SCHEMA_NAMES


def test_the_schema_names_exactly_the_fields_of_a_report_and_of_a_result(
    report_document: dict[str, Any],
) -> None:
    schema = dpp.load_schema("conformance-report")
    assert set(schema["properties"]) == set(report_document)
    # `platform` came later: reports written before it (all in-process) stay valid.
    assert set(schema["required"]) == set(report_document) - {"platform"}
    result_schema = schema["$defs"]["result"]
    for result in report_document["results"]:
        assert set(result_schema["properties"]) == set(result)
        assert set(result_schema["required"]) == set(result)
    assert set(schema["properties"]["counts"]["required"]) == {o.value for o in conformance.Outcome}


def test_a_report_read_back_from_its_json_is_the_same_report(
    report_document: dict[str, Any],
) -> None:
    report = conformance.Report.from_dict(report_document)
    assert json.loads(report.to_json()) == report_document


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("results", 0, "outcome"), "passed"),
        (("results", 0, "level"), "optional"),
        (("fingerprint",), "sha256:not-a-digest"),
        (("seed",), -1),
        (("counts", "pass"), "2"),
        (("results", 0, "certified"), True),
        (("approved_by",), "someone"),
    ],
)
def test_a_tampered_report_is_refused_naming_the_field(
    report_document: dict[str, Any], path: tuple[str | int, ...], value: object
) -> None:
    tampered = copy.deepcopy(report_document)
    target: Any = tampered
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(dpp.ValidationError) as refused:
        dpp.validate_document("conformance-report", tampered)
    named = "$" + "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in path)
    assert named in {problem.path for problem in refused.value.problems}
