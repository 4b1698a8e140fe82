"""Errors as RFC 9457 problem details (``application/problem+json``).

Every error the gateway answers is one JSON object with the RFC's members (``type``, ``title``,
``status``, ``detail``) and these extensions:

- ``error``: the name of the dpp-sdk exception class (``NotFound``, ``ClockNotAdjustable``),
  so a client can raise the same type;
- the exception's structured fields, by the attribute names the exception has: ``kind`` and
  ``name`` (not found), ``summary`` and ``problems`` (validation: each problem's ``path``,
  ``value`` and ``message``, the same JSON paths as in-process), ``reason`` (placement),
  ``limit``, ``used``, ``asked`` and ``left`` (quota), ``verb`` and ``seconds`` (a provider
  deadline), ``host`` with ``vetoes`` or ``left`` (a maintenance refused or left incomplete).

``detail`` is the exception's message, exactly as ``str()`` of the in-process exception; no
traceback ever reaches a client. How each exception maps to a status is decided in
:data:`STATUS_BY_ERROR` and documented in ``docs/gateway.md``.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from dpp_sdk.contract import (
    Conflict,
    DataUnavailable,
    DppError,
    ManifestError,
    NotFound,
    PlacementFailed,
    QuotaExceeded,
    ValidationError,
    unstructure,
)
from dpp_sdk.platform import PreconditionFailed, ProviderCrashed, ProviderTimeout

__all__ = [
    "PROBLEM_JSON",
    "Forbidden",
    "PreconditionFailed",
    "PROBLEM_TYPES",
    "Raised",
    "Problem",
    "internal_error",
    "problem_for",
    "problem_of",
]

PROBLEM_JSON = "application/problem+json"

log = logging.getLogger("dpp_sdk.gateway")

Problem = dict[str, Any]
"""A problem details object, ready for ``json.dumps``."""


class Forbidden(DppError):
    """The caller's token may not use this route, or act on an object it can see (a
    partner registering another vendor's provider); ``403``."""


class Raised(DppError):
    """What a provider, its data probe or a context raised in a sandbox action (a check's
    evidence, not a server fault); ``422``, naming the exception's class in ``error`` so
    the client raises that class again."""

    def __init__(self, exc: BaseException) -> None:
        self.raised = type(exc).__name__
        super().__init__(str(exc))


# (exception class, status, type slug, title); the first class the error is an instance of wins.
STATUS_BY_ERROR: tuple[tuple[type[DppError], int, str, str], ...] = (
    (ManifestError, 422, "manifest-error", "The provider's manifest is invalid"),
    (ValidationError, 422, "validation-error", "The request is invalid"),
    (NotFound, 404, "not-found", "Not found"),
    (Forbidden, 403, "forbidden", "Forbidden"),
    (PreconditionFailed, 412, "precondition-failed", "The instance changed meanwhile"),
    (Raised, 422, "provider-raised", "The provider raised an exception"),
    # A quota or a placement refusal depends on the cluster's state, not on the request alone:
    # the same request can succeed once capacity is freed or a host comes back, so 409.
    (QuotaExceeded, 409, "quota-exceeded", "A platform limit would be exceeded"),
    (PlacementFailed, 409, "placement-failed", "The cluster cannot place the request"),
    (Conflict, 409, "conflict", "The current state forbids the request"),
    (DataUnavailable, 503, "data-unavailable", "The data cannot be reached right now"),
    (ProviderTimeout, 502, "provider-timeout", "The provider did not answer in time"),
    (ProviderCrashed, 502, "provider-crashed", "The provider crashed"),
)

PROBLEM_TYPES = {slug: f"urn:dpp:problem:{slug}" for _, _, slug, _ in STATUS_BY_ERROR} | {
    slug: f"urn:dpp:problem:{slug}"
    for slug in ("unauthorized", "bad-request", "internal-error", "http")
}
"""Every problem ``type`` the gateway answers, by slug."""

_FIELDS = (
    *("kind", "name", "summary", "reason", "limit", "used", "asked", "left"),
    *("verb", "seconds", "host", "vetoes"),
)


def _jsonable(value: Any) -> Any:
    """``value`` as JSON data: models through the converter, anything else as its repr."""
    try:
        data = unstructure(value)
        json.dumps(data)
    except (TypeError, ValueError):
        return repr(value)
    return data


def problem_of(status: int, slug: str, title: str, detail: str, **extra: Any) -> Problem:
    """A problem details object of type ``urn:dpp:problem:<slug>``."""
    return {
        "type": PROBLEM_TYPES[slug],
        "title": title,
        "status": status,
        "detail": detail,
        **extra,
    }


def problem_for(exc: DppError) -> Problem | None:
    """The problem details for a dpp-sdk error, or None when it is not mapped (a server
    fault: answer with :func:`internal_error`)."""
    for cls, status, slug, title in STATUS_BY_ERROR:
        if isinstance(exc, cls):
            name = exc.raised if isinstance(exc, Raised) else type(exc).__name__
            extra: dict[str, Any] = {"error": name}
            for field in _FIELDS:
                if field in vars(exc):
                    extra[field] = _jsonable(vars(exc)[field])
            if isinstance(exc, ValidationError):
                extra["problems"] = [
                    {"path": p.path, "value": _jsonable(p.value), "message": p.message}
                    for p in exc.problems
                ]
            return problem_of(status, slug, title, str(exc), **extra)
    return None


def internal_error(exc: BaseException, where: str) -> Problem:
    """Log ``exc`` with its traceback under an incident id and return a 500 problem that
    names the id but none of the exception's text."""
    incident = uuid.uuid4().hex[:12]
    log.error("incident %s: %s failed", incident, where, exc_info=exc)
    return problem_of(
        500,
        "internal-error",
        "Internal server error",
        f"the server failed on this request; its log has the details (incident {incident})",
        incident=incident,
    )
