"""Manifest validation reports every problem at once, each with its path and value."""

from __future__ import annotations

from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as hst

import dpp_sdk as dpp

GOOD = dpp.Manifest(
    name="kvstore",
    display_name="KV Store",
    version="1.2.3",
    vendor="Example Corp",
    category=dpp.Category.DATABASE,
    description="A replicated key-value store.",
    plans=(
        dpp.Plan(name="small", min_capacity_gb=10, max_capacity_gb=100, parameters={"replicas": 3}),
    ),
    parameters_schema={
        "type": "object",
        "properties": {
            "replicas": {"type": "integer", "enum": [1, 3, 5], "default": 1},
            "engine": {"type": "string", "default": "lsm"},
        },
        "additionalProperties": False,
    },
    supported_policies=("vsan-sna", "vsan-default"),
    default_policy="vsan-sna",
)

# Independent defects, each (change, expected path). Any subset must report exactly that subset.
DEFECTS: dict[str, tuple[dict[str, Any], str]] = {
    "name": ({"name": "Bad Name!"}, "$.name"),
    "version": ({"version": "one.two"}, "$.version"),
    "vendor": ({"vendor": ""}, "$.vendor"),
    "default_policy": ({"default_policy": "vsan-raid6"}, "$.default_policy"),
    "description": ({"description": ""}, "$.description"),
    "display_name": ({"display_name": ""}, "$.display_name"),
}


def _with(changes: dict[str, Any]) -> dpp.Manifest:
    return attrs.evolve(GOOD, **changes)


def test_the_reference_manifest_is_valid() -> None:
    """The baseline used by the defect tests passes validation."""
    dpp.validate_manifest(GOOD)


@given(hst.sets(hst.sampled_from(sorted(DEFECTS)), min_size=1))
def test_a_manifest_with_n_independent_problems_reports_n_problems(chosen: set[str]) -> None:
    """Every injected defect is reported, with its JSON path, and nothing else is."""
    changes: dict[str, Any] = {}
    for key in chosen:
        changes.update(DEFECTS[key][0])
    with pytest.raises(dpp.ManifestError) as info:
        dpp.validate_manifest(_with(changes))
    paths = sorted(p.path for p in info.value.problems)
    assert paths == sorted(DEFECTS[key][1] for key in chosen)


def test_problems_carry_the_offending_value() -> None:
    """The version problem shows the bad version string."""
    with pytest.raises(dpp.ManifestError) as info:
        dpp.validate_manifest(_with({"version": "one.two"}))
    (problem,) = info.value.problems
    assert problem.value == "one.two"
    assert "one.two" in str(info.value)


def test_a_parameter_schema_that_is_not_a_json_schema_is_refused() -> None:
    """A 'type' that names no JSON type makes the parameter schema invalid."""
    bad = _with({"parameters_schema": {"type": "object", "properties": {"x": {"type": "banana"}}}})
    with pytest.raises(dpp.ManifestError) as info:
        dpp.validate_manifest(bad)
    assert any(
        p.path.startswith("$.parameters_schema.properties.x") and "valid JSON Schema" in p.message
        for p in info.value.problems
    )


def test_a_default_that_does_not_satisfy_the_parameter_schema_is_refused() -> None:
    """A default of 2 for an enum of odd counts is reported at the default's path."""
    schema = {
        "type": "object",
        "properties": {"replicas": {"type": "integer", "enum": [1, 3], "default": 2}},
    }
    with pytest.raises(dpp.ManifestError) as info:
        dpp.validate_manifest(_with({"parameters_schema": schema, "plans": (dpp.Plan(name="p"),)}))
    assert [p.path for p in info.value.problems] == [
        "$.parameters_schema.properties.replicas.default"
    ]
    assert info.value.problems[0].value == 2


def test_plan_defaults_and_bounds_are_checked() -> None:
    """A plan whose defaults break the schema and whose bounds are inverted: two problems."""
    plan = dpp.Plan(
        name="big", min_capacity_gb=500, max_capacity_gb=100, parameters={"replicas": 4}
    )
    with pytest.raises(dpp.ManifestError) as info:
        dpp.validate_manifest(_with({"plans": (plan,)}))
    paths = sorted(p.path for p in info.value.problems)
    assert paths == ["$.plans[0].max_capacity_gb", "$.plans[0].parameters.replicas"]


def test_a_parameter_schema_must_describe_an_object() -> None:
    """A parameter schema of type array is refused at $.parameters_schema.type."""
    with pytest.raises(dpp.ManifestError) as info:
        dpp.validate_manifest(
            _with({"parameters_schema": {"type": "array"}, "plans": (dpp.Plan(name="p"),)})
        )
    assert [p.path for p in info.value.problems] == ["$.parameters_schema.type"]


def test_instance_spec_resolution_applies_defaults_in_order() -> None:
    """Schema defaults, then plan defaults, then the request's own values."""
    spec = dpp.resolve_instance_spec(
        GOOD, plan=None, capacity_gb=None, parameters={"engine": "btree"}, policy=None
    )
    assert spec == dpp.InstanceSpec(
        plan="small",
        capacity_gb=10,
        parameters={"replicas": 3, "engine": "btree"},
        policy="vsan-sna",
    )


def test_instance_spec_resolution_reports_every_problem() -> None:
    """Bad capacity, a bad parameter, an unknown key and an unsupported policy: four problems."""
    with pytest.raises(dpp.ValidationError) as info:
        dpp.resolve_instance_spec(
            GOOD,
            plan="small",
            capacity_gb=5000,
            parameters={"replicas": 2, "colour": "red"},
            policy="vsan-raid6",
        )
    paths = sorted(p.path for p in info.value.problems)
    assert paths == [
        "$.capacity_gb",
        "$.parameters.colour",
        "$.parameters.replicas",
        "$.policy",
    ]
    by_path = {p.path: p for p in info.value.problems}
    assert by_path["$.capacity_gb"].value == 5000
    assert by_path["$.parameters.replicas"].value == 2


@given(hst.lists(hst.sampled_from([1, 3, 5, 7]), min_size=1, max_size=6))
def test_spec_resolution_checks_each_manifest_against_its_own_parameter_schema(
    allowed: list[int],
) -> None:
    """Validators are kept per schema object: manifests built one after another (so a freed
    schema's identity may be reused) each validate with their own schema."""
    for choices in (allowed, [9]):
        schema = {
            "type": "object",
            "properties": {"replicas": {"type": "integer", "enum": list(choices)}},
        }
        manifest = attrs.evolve(GOOD, parameters_schema=schema, plans=(dpp.Plan(name="small"),))
        spec = dpp.resolve_instance_spec(
            manifest, plan=None, capacity_gb=10, parameters={"replicas": choices[0]}, policy=None
        )
        assert spec.parameters == {"replicas": choices[0]}
        with pytest.raises(dpp.ValidationError) as info:
            dpp.resolve_instance_spec(
                manifest, plan=None, capacity_gb=10, parameters={"replicas": 8}, policy=None
            )
        assert [p.path for p in info.value.problems] == ["$.parameters.replicas"]
