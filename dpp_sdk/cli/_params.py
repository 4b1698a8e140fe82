"""Parsing of ``--param KEY=VALUE`` options, independent of click so it can be tested alone."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["ParamError", "parse_param_value", "parse_params", "split_params", "typed_params"]


class ParamError(ValueError):
    """One or more ``--param`` values are malformed; ``problems`` names each one."""

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(self.problems))


def parse_param_value(text: str) -> Any:
    """The value of a ``--param``: JSON when it parses as JSON, else the text itself.

    ``3`` is the integer 3, ``true`` a boolean, ``null`` None, ``["a"]`` a list, ``"x"`` the
    string ``x``; ``hello`` (not JSON) stays the string ``hello``, and so does an empty value.
    """
    try:
        return json.loads(text)
    except ValueError:
        return text


def parse_params(values: Iterable[str], *, flag: str = "--param") -> dict[str, Any]:
    """Parse ``KEY=VALUE`` strings into a dict; see :func:`parse_param_value` for values."""
    return {key: parse_param_value(text) for key, text in split_params(values, flag=flag).items()}


def typed_params(raw: Mapping[str, str], schema: Mapping[str, Any] | None) -> dict[str, Any]:
    """Values for ``raw`` ``KEY=TEXT`` pairs, read the way the service's schema types them.

    A property the schema types as a string keeps its text as written (``version=7.0`` is the
    string ``"7.0"``, not the number 7.0; a quoted JSON string is unquoted); an integer
    property written as a whole float (``3.0``) becomes the integer 3. Everything else, and
    every key the schema does not describe, is read by :func:`parse_param_value`.
    """
    props = (schema or {}).get("properties", {})
    out: dict[str, Any] = {}
    for key, text in raw.items():
        value = parse_param_value(text)
        prop = props.get(key) if isinstance(props, Mapping) else None
        if isinstance(prop, Mapping):
            if _is_string_property(prop) and not isinstance(value, str):
                value = text
            elif prop.get("type") == "integer" and isinstance(value, float) and value.is_integer():
                value = int(value)
        out[key] = value
    return out


def _is_string_property(prop: Mapping[str, Any]) -> bool:
    if prop.get("type") == "string":
        return True
    choices = prop.get("enum", [prop["const"]] if "const" in prop else None)
    return bool(choices) and all(isinstance(c, str) for c in choices)


def split_params(values: Iterable[str], *, flag: str = "--param") -> dict[str, str]:
    """Split ``KEY=VALUE`` strings into a dict of raw text values.

    The text is split at the first ``=``, so a value may itself contain ``=``. A string without
    ``=``, with an empty key, or a key given twice is a problem; all problems are collected and
    raised together as one :class:`ParamError`, each naming ``flag`` and the offending value.
    """
    params: dict[str, str] = {}
    problems: list[str] = []
    for raw in values:
        key, sep, value = raw.partition("=")
        key = key.strip()
        if not sep:
            problems.append(f"{flag} {raw!r} is not KEY=VALUE (e.g. {flag} replicaCount=3)")
        elif not key:
            problems.append(f"{flag} {raw!r} has an empty KEY (expected KEY=VALUE)")
        elif key in params:
            problems.append(f"{flag} {raw!r} sets {key!r} again (each KEY may be given once)")
        else:
            params[key] = value
    if problems:
        raise ParamError(problems)
    return params
