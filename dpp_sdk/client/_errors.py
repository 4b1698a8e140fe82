"""Problem details back into the exceptions the in-process platform raises.

The gateway names the exception class in the problem's ``error`` member and sends its
structured fields as members of their own (see :mod:`dpp_sdk.gateway._problems`). The client
rebuilds an exception of that class whose ``str()`` is the problem's ``detail`` (the
in-process message, verbatim) and whose fields are set from those members; ``problems``
becomes a tuple of :class:`~dpp_sdk.Problem`. A problem naming no known class raises
:class:`GatewayError`.
"""

from __future__ import annotations

import functools
from typing import Any

from dpp_sdk import contract
from dpp_sdk import platform as _platform
from dpp_sdk.contract import DppError, Problem, structure
from dpp_sdk.platform import Veto

__all__ = ["GatewayError", "error_from_problem"]

_STANDARD = frozenset({"type", "title", "status", "detail", "instance", "error"})


class GatewayError(DppError):
    """The gateway refused or failed a request in a way no platform exception describes: no
    or a wrong token (``status`` 401), a route it does not serve, a server fault (5xx).
    ``status`` is the HTTP status and ``problem`` the problem details the gateway answered
    (empty when the answer was not problem details)."""

    def __init__(self, status: int, problem: dict[str, Any], message: str) -> None:
        self.status = status
        self.problem = problem
        super().__init__(message)


@functools.cache
def _known() -> dict[str, type[DppError]]:
    classes: dict[str, type[DppError]] = {}
    for module in (contract, _platform):
        for name in module.__all__:
            value = getattr(module, name)
            if isinstance(value, type) and issubclass(value, DppError):
                classes[name] = value
    return classes


def error_from_problem(status: int, problem: dict[str, Any]) -> DppError:
    """The exception the problem details describe (see the module docstring)."""
    detail = str(problem.get("detail", ""))
    cls = _known().get(str(problem.get("error")))  # built once, on the first error
    if cls is None:
        title = problem.get("title", "error")
        return GatewayError(status, problem, f"gateway answered {status} {title}: {detail}")
    exc = cls.__new__(cls)
    Exception.__init__(exc, detail)
    for key, value in problem.items():
        if key in _STANDARD:
            continue
        setattr(exc, key, _field(key, value))
    return exc


def _field(key: str, value: Any) -> Any:
    """A structured field as the in-process exception holds it."""
    if key == "problems":
        return tuple(Problem(**p) for p in value)
    if key == "vetoes":
        return tuple(structure(v, Veto) for v in value)
    if key == "left" and isinstance(value, dict):
        return {instance: tuple(things) for instance, things in value.items()}
    return value
