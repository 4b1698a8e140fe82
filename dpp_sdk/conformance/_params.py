"""Parameter sets made from a manifest's JSON Schema: values the schema refuses (each naming
the key it breaks) and values it allows, for the validation and configuration checks."""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from typing import Any

import attrs

__all__ = ["BadParameters", "allowed_values", "bad_parameters", "random_parameters"]


@attrs.frozen(kw_only=True)
class BadParameters:
    """A parameter set the schema refuses: ``key`` is what is wrong, ``why`` in words."""

    key: str
    value: Any
    why: str


def _properties(schema: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found = schema.get("properties", {})
    return dict(found) if isinstance(found, Mapping) else {}


def _types(prop: Mapping[str, Any]) -> set[str]:
    kind = prop.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {str(k) for k in kind}
    if "enum" in prop:
        return {_json_type(v) for v in prop["enum"]}
    return set()


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def _wrong_type(types: set[str]) -> Any:
    """A value of none of ``types`` (None when any value would do)."""
    if not types or "null" in types:
        return None
    for candidate in ("not-a-number", 12345, ["not", "a", "scalar"]):
        if _json_type(candidate) not in types and not (
            _json_type(candidate) == "integer" and "number" in types
        ):
            return candidate
    return None


def bad_parameters(schema: Mapping[str, Any]) -> Iterator[BadParameters]:
    """Each way of breaking ``schema`` one key at a time: a wrong type, a value outside an
    enum, below a minimum, above a maximum, and an unknown key when unknown keys are refused."""
    for key, prop in sorted(_properties(schema).items()):
        wrong = _wrong_type(_types(prop))
        if wrong is not None:
            yield BadParameters(key=key, value=wrong, why="wrong type")
        if "enum" in prop and isinstance(prop["enum"], list) and prop["enum"]:
            sample = prop["enum"][0]
            if isinstance(sample, str):
                yield BadParameters(key=key, value=f"{sample}-not-allowed", why="not in enum")
            elif isinstance(sample, int) and not isinstance(sample, bool):
                outside = max(v for v in prop["enum"] if isinstance(v, int)) + 1
                yield BadParameters(key=key, value=outside, why="not in enum")
        for bound, step, why in (("minimum", -1, "below minimum"), ("maximum", 1, "above maximum")):
            limit = prop.get(bound)
            if isinstance(limit, int | float) and not isinstance(limit, bool):
                yield BadParameters(key=key, value=limit + step, why=why)
    if schema.get("additionalProperties") is False:
        yield BadParameters(key="conformanceUnknownKey", value=1, why="unknown key")


def allowed_values(prop: Mapping[str, Any]) -> list[Any]:
    """Values ``prop`` allows, a few of each kind (empty when it cannot tell)."""
    if isinstance(prop.get("enum"), list):
        return list(prop["enum"])
    types = _types(prop)
    if "boolean" in types:
        return [True, False]
    if types & {"integer", "number"}:
        low = prop.get("minimum", 0)
        high = prop.get("maximum", low + 8)
        if not (isinstance(low, int | float) and isinstance(high, int | float)):
            return []
        low, high = int(low), int(high)
        picks = {low, high, (low + high) // 2, min(high, low + 1)}
        default = prop.get("default")
        if isinstance(default, int):
            picks |= {min(high, default + 1), max(low, default - 1)}
        return sorted(picks)
    return []


def random_parameters(
    schema: Mapping[str, Any], rng: random.Random, *, base: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """``base`` with each key the schema describes set, at random, to one of its allowed
    values or left out (so its default applies)."""
    chosen = dict(base or {})
    for key, prop in sorted(_properties(schema).items()):
        values = allowed_values(prop)
        if values and rng.random() < 0.7:
            chosen[key] = rng.choice(values)
    return chosen
