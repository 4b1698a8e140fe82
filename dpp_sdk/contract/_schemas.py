"""The JSON Schemas shipped with dpp-sdk, and validation that reports every problem at once."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import TYPE_CHECKING, Any

from dpp_sdk.contract._errors import ManifestError, Problem, ValidationError, count
from dpp_sdk.contract._models import (
    JSON,
    POLICY_NAMES,
    HealthReport,
    InstanceInfo,
    InstanceSpec,
    Manifest,
    Operation,
    Plan,
)
from dpp_sdk.contract._serde import unstructure

__all__ = [
    "SCHEMA_NAMES",
    "load_schema",
    "resolve_instance_spec",
    "schema_problems",
    "validate_document",
    "validate_manifest",
    "validate_model",
]

#: Names of the schemas shipped in ``dpp_sdk/schemas`` (``NAME.schema.json``).
SCHEMA_NAMES: tuple[str, ...] = (
    "conformance-report",
    "health-report",
    "instance",
    "manifest",
    "operation",
)

if TYPE_CHECKING:
    import jsonschema
    from jsonschema.protocols import Validator


def _draft() -> type[jsonschema.Draft202012Validator]:
    # jsonschema is imported on first validation, keeping ``import dpp_sdk`` light.
    import jsonschema

    return jsonschema.Draft202012Validator


@functools.cache
def load_schema(name: str) -> Mapping[str, Any]:
    """The schema ``name`` (one of :data:`SCHEMA_NAMES`), read from the installed package."""
    if name not in SCHEMA_NAMES:
        raise ValueError(f"unknown schema {name!r}; known: {', '.join(SCHEMA_NAMES)}")
    text = resources.files("dpp_sdk").joinpath("schemas", f"{name}.schema.json").read_text("utf-8")
    schema: Mapping[str, Any] = json.loads(text)
    return schema


@functools.cache
def _validator(name: str) -> Validator:
    schema = load_schema(name)
    draft = _draft()
    return draft(schema, format_checker=draft.FORMAT_CHECKER)


_PARAMETER_VALIDATORS: dict[int, tuple[Mapping[str, Any], Validator]] = {}
_PARAMETER_VALIDATORS_KEPT = 256


def _parameters_validator(schema: Mapping[str, Any]) -> Validator:
    """A validator of ``schema`` (a manifest's ``parameters_schema``), built once per schema
    object: building one resolves the schema's references, which costs more than validating
    a request. Keyed by identity (schemas are mappings, not hashable); an entry keeps its
    schema alive, so an identity is never reused while it is kept. At most
    ``_PARAMETER_VALIDATORS_KEPT`` are kept."""
    entry = _PARAMETER_VALIDATORS.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    if len(_PARAMETER_VALIDATORS) >= _PARAMETER_VALIDATORS_KEPT:
        _PARAMETER_VALIDATORS.clear()
    validator = _draft()(schema)
    _PARAMETER_VALIDATORS[id(schema)] = (schema, validator)
    return validator


def json_path(parts: Iterable[str | int], root: str = "$") -> str:
    """Render a path of keys and indices as ``$.plans[0].name``."""
    out = root
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _missing_value(error: jsonschema.ValidationError) -> Any:
    return None if error.validator == "required" else error.instance


def schema_problems(validator: Validator, document: Any, root: str = "$") -> list[Problem]:
    """Every problem ``validator`` finds in ``document``, sorted by path."""
    problems: list[Problem] = []
    for error in validator.iter_errors(document):
        path = list(error.absolute_path)
        required = error.validator_value
        if (
            error.validator == "required"
            and isinstance(error.instance, Mapping)
            and isinstance(required, list)
        ):
            # Point at the missing key itself rather than at its parent object.
            missing = [k for k in required if k not in error.instance]
            for key in missing:
                problems.append(
                    Problem(path=json_path([*path, key], root), value=None, message="is required")
                )
            continue
        schema = error.schema
        if (
            error.validator == "additionalProperties"
            and isinstance(error.instance, Mapping)
            and isinstance(schema, Mapping)
        ):
            allowed = set(schema.get("properties", {}))
            for key in sorted(set(error.instance) - allowed):
                problems.append(
                    Problem(
                        path=json_path([*path, key], root),
                        value=error.instance[key],
                        message="is not a known field",
                    )
                )
            continue
        problems.append(
            Problem(path=json_path(path, root), value=_missing_value(error), message=error.message)
        )
    unique = {(p.path, p.message): p for p in problems}
    return sorted(unique.values(), key=lambda p: p.path)


def validate_document(name: str, document: Any) -> None:
    """Raise :class:`ValidationError` listing every way ``document`` breaks schema ``name``."""
    problems = schema_problems(_validator(name), document)
    if problems:
        raise ValidationError(
            f"{name} document is invalid ({count(len(problems), 'problem')})", problems
        )


_SCHEMA_OF: dict[type, str] = {
    HealthReport: "health-report",
    InstanceInfo: "instance",
    Manifest: "manifest",
    Operation: "operation",
}


def validate_model(model: object) -> None:
    """Validate a model (or a list or tuple of them) against its shipped schema, if it has one.

    Used where documents leave the process (the CLI's JSON output); raises
    :class:`ValidationError` listing every problem.
    """
    items = model if isinstance(model, list | tuple) else (model,)
    for item in items:
        name = _SCHEMA_OF.get(type(item))
        if name is not None:
            validate_document(name, unstructure(item))


def _first_key(path: str) -> str:
    """``$.replicas.x`` -> ``replicas``; ``$`` -> ``""``."""
    return path[2:].split(".", 1)[0].split("[", 1)[0]


def _defaults_of(schema: Mapping[str, Any]) -> dict[str, JSON]:
    props = schema.get("properties", {})
    if not isinstance(props, Mapping):
        return {}
    return {
        key: sub["default"]
        for key, sub in props.items()
        if isinstance(sub, Mapping) and "default" in sub
    }


def _manifest_problems(manifest: Manifest) -> list[Problem]:
    try:
        document = unstructure(manifest)
    except Exception as exc:
        return [
            Problem(
                path="$",
                value=type(manifest).__name__,
                message=f"cannot be read as a manifest: {type(exc).__name__}: {exc}",
            )
        ]
    problems = schema_problems(_validator("manifest"), document)
    try:
        problems.extend(_semantic_problems(manifest, document))
    except (TypeError, AttributeError, ValueError):
        # Fields of the wrong type: the schema problems above already name them.
        if not problems:
            raise
    # Unique by (path, message): the schema and the semantic checks may agree on one thing.
    unique = {(p.path, p.message): p for p in problems}
    return sorted(unique.values(), key=lambda p: p.path)


def _semantic_problems(manifest: Manifest, document: Mapping[str, Any]) -> list[Problem]:
    problems: list[Problem] = []
    param_schema = document.get("parameters_schema")
    if isinstance(param_schema, Mapping):
        draft = _draft()
        meta = draft(draft.META_SCHEMA, format_checker=draft.FORMAT_CHECKER)
        meta_problems = schema_problems(meta, param_schema, root="$.parameters_schema")
        problems.extend(
            Problem(path=p.path, value=p.value, message=f"not a valid JSON Schema: {p.message}")
            for p in meta_problems
        )
        describes_object = param_schema.get("type", "object") == "object"
        if not describes_object:
            problems.append(
                Problem(
                    path="$.parameters_schema.type",
                    value=param_schema.get("type"),
                    message="the parameter schema must describe an object",
                )
            )
        if not meta_problems:
            problems.extend(_ref_problems(param_schema))
        if not meta_problems and describes_object:
            problems.extend(_usage_problems(manifest, param_schema))
    return problems + _plan_and_policy_problems(manifest)


def _ref_problems(schema: Mapping[str, Any]) -> list[Problem]:
    """Every ``$ref`` in ``schema`` that resolves nowhere (found now, not at the first request
    that happens to use it)."""
    import referencing
    import referencing.exceptions
    import referencing.jsonschema

    resource = referencing.jsonschema.DRAFT202012.create_resource(dict(schema))
    resolver = referencing.Registry().with_resource("", resource).resolver()
    problems: list[Problem] = []

    def walk(node: Any, path: list[str | int]) -> None:
        if isinstance(node, Mapping):
            ref = node.get("$ref")
            if isinstance(ref, str):
                try:
                    resolver.lookup(ref)
                except referencing.exceptions.Unresolvable:
                    problems.append(
                        Problem(
                            path=json_path([*path, "$ref"], "$.parameters_schema"),
                            value=ref,
                            message="resolves to nothing in this schema",
                        )
                    )
            for key, value in node.items():
                walk(value, [*path, key])
        elif isinstance(node, list):
            for index, value in enumerate(node):
                walk(value, [*path, index])

    walk(schema, [])
    return problems


def _usage_problems(manifest: Manifest, param_schema: Mapping[str, Any]) -> list[Problem]:
    """Problems found by using the parameter schema on its defaults and the plans' defaults."""
    problems: list[Problem] = []
    params_validator = _draft()(param_schema)
    defaults = _defaults_of(param_schema)
    try:
        for key, value in sorted(defaults.items()):
            for p in schema_problems(params_validator, {**defaults, key: value}):
                if p.path.startswith(f"$.{key}"):
                    problems.append(
                        Problem(
                            path=f"$.parameters_schema.properties.{key}.default",
                            value=value,
                            message=f"default does not satisfy the schema: {p.message}",
                        )
                    )
        for index, plan in enumerate(manifest.plans):
            # Only what the plan itself sets is its fault; a required parameter that neither
            # the schema nor the plan defaults is for each request to supply.
            merged = {**defaults, **plan.parameters}
            problems.extend(
                Problem(
                    path=f"$.plans[{index}].parameters{p.path[1:]}",
                    value=p.value,
                    message=f"plan default does not satisfy the parameter schema: {p.message}",
                )
                for p in schema_problems(params_validator, merged)
                if _first_key(p.path) in plan.parameters
            )
    except (TypeError, AttributeError):
        raise
    except Exception as exc:
        problems.append(
            Problem(
                path="$.parameters_schema",
                value=None,
                message=f"cannot be used to validate parameters: {type(exc).__name__}: {exc}",
            )
        )
    return problems


def _plan_and_policy_problems(manifest: Manifest) -> list[Problem]:
    problems: list[Problem] = []
    for index, plan in enumerate(manifest.plans):
        if plan.min_capacity_gb > plan.max_capacity_gb:
            problems.append(
                Problem(
                    path=f"$.plans[{index}].max_capacity_gb",
                    value=plan.max_capacity_gb,
                    message=f"is below min_capacity_gb ({plan.min_capacity_gb})",
                )
            )
    seen: set[str] = set()
    for index, plan in enumerate(manifest.plans):
        if plan.name in seen:
            problems.append(
                Problem(path=f"$.plans[{index}].name", value=plan.name, message="duplicate plan")
            )
        seen.add(plan.name)
    if manifest.default_policy not in manifest.supported_policies:
        problems.append(
            Problem(
                path="$.default_policy",
                value=manifest.default_policy,
                message=f"is not among supported_policies {list(manifest.supported_policies)}",
            )
        )
    return problems


def validate_manifest(manifest: Manifest) -> None:
    """Refuse an invalid manifest with :class:`ManifestError` listing every problem.

    Checks the manifest schema, that ``parameters_schema`` is itself a valid JSON Schema
    2020-12 describing an object, that its defaults and every plan's default parameters satisfy
    it, plan capacity bounds, unique plan names, and that the default policy is supported.
    """
    problems = _manifest_problems(manifest)
    if problems:
        raise ManifestError(
            f"manifest of {manifest.name!r} is invalid ({count(len(problems), 'problem')})",
            problems,
        )


def resolve_instance_spec(
    manifest: Manifest,
    *,
    plan: str | None,
    capacity_gb: int | None,
    parameters: Mapping[str, JSON],
    policy: str | None,
) -> InstanceSpec:
    """Apply defaults (schema defaults, then the plan's, then the request's) and validate.

    Raises :class:`ValidationError` listing every problem at once: unknown plan, capacity
    outside the plan's bounds, parameters that break the schema, an unsupported policy.
    """
    problems: list[Problem] = []
    chosen: Plan | None = manifest.plan(plan)
    if chosen is None:
        names = [p.name for p in manifest.plans]
        problems.append(Problem(path="$.plan", value=plan, message=f"unknown plan; one of {names}"))
    capacity = capacity_gb if capacity_gb is not None else (chosen.min_capacity_gb if chosen else 0)
    if chosen is not None and not (chosen.min_capacity_gb <= capacity <= chosen.max_capacity_gb):
        problems.append(
            Problem(
                path="$.capacity_gb",
                value=capacity,
                message=(
                    f"plan {chosen.name!r} allows {chosen.min_capacity_gb}.."
                    f"{chosen.max_capacity_gb} GB"
                ),
            )
        )
    if capacity < 1 and (chosen is not None or capacity_gb is not None):
        problems.append(Problem(path="$.capacity_gb", value=capacity, message="must be >= 1"))
    merged: dict[str, JSON] = {
        **_defaults_of(manifest.parameters_schema),
        **(dict(chosen.parameters) if chosen else {}),
        **dict(parameters),
    }
    problems.extend(
        Problem(path=f"$.parameters{p.path[1:]}", value=p.value, message=p.message)
        for p in schema_problems(_parameters_validator(manifest.parameters_schema), merged)
    )
    chosen_policy = policy if policy is not None else manifest.default_policy
    if not isinstance(chosen_policy, str) or not _supports_policy(
        manifest.supported_policies, chosen_policy
    ):
        known = "" if chosen_policy in POLICY_NAMES else " (not a platform policy)"
        problems.append(
            Problem(
                path="$.policy",
                value=chosen_policy,
                message=(f"{manifest.name} supports {list(manifest.supported_policies)}{known}"),
            )
        )
    if problems:
        unique = {(p.path, p.message): p for p in problems}
        raise ValidationError(
            f"request for a {manifest.name} instance is invalid ({count(len(unique), 'problem')})",
            sorted(unique.values(), key=lambda p: p.path),
        )
    assert chosen is not None
    return InstanceSpec(
        plan=chosen.name, capacity_gb=capacity, parameters=merged, policy=chosen_policy
    )


def _supports_policy(supported: Sequence[str], policy: str) -> bool:
    """Whether a manifest listing ``supported`` policies supports ``policy``: listed, or the
    ``-thick`` twin of a listed one (the space reservation does not change the layout)."""
    return policy in supported or (
        policy.endswith("-thick") and policy.removesuffix("-thick") in supported
    )
