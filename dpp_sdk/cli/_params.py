"""Parsing of ``--param KEY=VALUE`` options, independent of click so it can be tested alone."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

__all__ = ["ParamError", "parse_param_value", "parse_params"]


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
    """Parse ``KEY=VALUE`` strings into a dict; see :func:`parse_param_value` for values.

    The text is split at the first ``=``, so a value may itself contain ``=``. A string without
    ``=``, with an empty key, or a key given twice is a problem; all problems are collected and
    raised together as one :class:`ParamError`, each naming ``flag`` and the offending value.
    """
    params: dict[str, Any] = {}
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
            params[key] = parse_param_value(value)
    if problems:
        raise ParamError(problems)
    return params
