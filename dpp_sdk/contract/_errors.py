"""The one exception tree of dpp-sdk, grouped by what the caller should do about it.

::

    DppError                          root of everything dpp-sdk raises on purpose
    ├── ValidationError (ValueError)  the input is wrong: fix it and ask again
    │   └── ManifestError             a provider's manifest is invalid (every problem listed)
    ├── NotFound (LookupError)        the named service, instance, host, volume... does not exist
    ├── Conflict                      the request is valid but the current state forbids it
    ├── ScopeViolation (PermissionError)
    │                                 a provider reached outside the instance it was handed
    ├── PlacementFailed               the cluster cannot place what was asked (``reason`` says why)
    ├── QuotaExceeded                 the platform's ``resource_quota`` or ``max_services`` is hit
    ├── DataUnavailable (OSError)     a volume cannot be read or written right now
    │   └── OutOfSpace                a thin volume's write needs room its disks or quota lack
    ├── OperationFailed               an operation ended ``failed`` (its record is attached)
    └── ProviderError                 raised BY providers, to tell the platform what to do
        ├── PermanentError            give up: fail the operation and clean up what it allocated
        └── TemporaryError            try again after ``retry_after`` seconds, up to a deadline

Every error carries structured fields besides its message, so scripts need not parse text.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import attrs

if TYPE_CHECKING:
    from dpp_sdk.contract._models import Operation

__all__ = [
    "Conflict",
    "DataUnavailable",
    "OutOfSpace",
    "DppError",
    "ManifestError",
    "NotFound",
    "OperationFailed",
    "PermanentError",
    "PlacementFailed",
    "PlacementReason",
    "Problem",
    "ProviderError",
    "QuotaExceeded",
    "ScopeViolation",
    "TemporaryError",
    "ValidationError",
]

PlacementReason = Literal["NotEnoughResources", "AntiAffinityUnsatisfiable", "PolicyUnsatisfiable"]


@attrs.frozen(kw_only=True)
class Problem:
    """One thing wrong with an input document.

    ``path`` is a JSON-path-like location (``$.plans[0].max_capacity_gb``), ``value`` the
    offending value as found (``None`` when the value is missing), ``message`` what is wrong.
    """

    path: str
    value: Any
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message} (got {self.value!r})"


class DppError(Exception):
    """Root of every error dpp-sdk raises on purpose."""


class ValidationError(DppError, ValueError):
    """The input is wrong. ``problems`` lists every problem found, not just the first."""

    def __init__(self, summary: str, problems: Iterable[Problem] = ()) -> None:
        self.summary = summary
        self.problems: tuple[Problem, ...] = tuple(problems)
        lines = [summary, *(f"  - {p}" for p in self.problems)]
        super().__init__("\n".join(lines))

    @classmethod
    def single(cls, path: str, value: Any, message: str) -> ValidationError:
        """A validation error with exactly one problem; the summary repeats it."""
        problem = Problem(path=path, value=value, message=message)
        return cls(str(problem), [problem])


class ManifestError(ValidationError):
    """A provider's manifest is invalid; ``problems`` names each field and value."""


class NotFound(DppError, LookupError):
    """The named object does not exist. ``kind`` and ``name`` say which."""

    def __init__(self, kind: str, name: str, hint: str = "") -> None:
        self.kind = kind
        self.name = name
        message = f"{kind} {name!r} not found"
        super().__init__(f"{message}; {hint}" if hint else message)

    def __str__(self) -> str:
        # LookupError would repr the argument; keep the readable message.
        return str(self.args[0])


class Conflict(DppError):
    """The request is well-formed, but the current state forbids it (e.g. already exists)."""


class ScopeViolation(DppError, PermissionError):
    """A provider tried to reach something outside the instance its context is scoped to."""


class PlacementFailed(DppError):
    """The cluster cannot place the request. ``reason`` is one of :data:`PlacementReason`."""

    def __init__(self, reason: PlacementReason, message: str) -> None:
        self.reason: PlacementReason = reason
        super().__init__(f"{reason}: {message}")


class QuotaExceeded(DppError):
    """A platform limit (``resource_quota`` or ``max_services``) would be exceeded."""

    def __init__(self, message: str, *, limit: str, used: float, asked: float, left: float) -> None:
        self.limit = limit
        self.used = used
        self.asked = asked
        self.left = left
        super().__init__(message)


class DataUnavailable(DppError, OSError):
    """A volume's data cannot be read or written with the components reachable now."""


class OutOfSpace(DataUnavailable):
    """A write to a thin volume would grow it past the room its disks, or its pool's resource
    quota, have left (``ENOSPC``); nothing was written and nothing changed.

    ``volume`` names the volume, ``needed_gb`` is the raw GB the write would have added to
    its reservations, and the message says which disk or quota lacks the room.
    """

    def __init__(self, message: str, *, volume: str, needed_gb: float) -> None:
        self.volume = volume
        self.needed_gb = needed_gb
        super().__init__(message)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_out_of_space, (str(self), self.volume, self.needed_gb))


def _out_of_space(message: str, volume: str, needed_gb: float) -> OutOfSpace:
    return OutOfSpace(message, volume=volume, needed_gb=needed_gb)


class OperationFailed(DppError):
    """An operation ended ``failed``. ``operation`` is its final record."""

    def __init__(self, operation: Operation) -> None:
        self.operation = operation
        error = operation.error
        detail = f"{error.type}: {error.message}" if error else "no error recorded"
        super().__init__(
            f"operation {operation.id} ({operation.kind} {operation.target}) failed: {detail}"
        )


class ProviderError(DppError):
    """Base of the errors a provider raises to steer the platform."""


class PermanentError(ProviderError):
    """Raised by a provider: retrying cannot help.

    The operation fails with this message, and the platform releases everything the failed
    attempt allocated (volumes, members, endpoints, secrets created during the attempt).
    """


class TemporaryError(ProviderError):
    """Raised by a provider: the platform should call the verb again after ``retry_after``
    seconds (with back-off), until the operation's deadline passes.

    ``TemporaryError("replica set still electing", retry_after=5)``

    ``retry_after`` must be a finite number of seconds >= 0; anything else (``nan``, ``inf``,
    a negative number) raises ``ValueError`` naming ``retry_after`` and the value, so a
    provider raising it fails its call with that ``ValueError`` instead.
    """

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        if not math.isfinite(retry_after) or retry_after < 0:
            raise ValueError(
                f"retry_after must be a finite number of seconds >= 0, got {retry_after!r}"
            )
        self.retry_after = float(retry_after)
        super().__init__(message)


def count(n: int, noun: str) -> str:
    """``count(1, "problem")`` -> ``"1 problem"``; ``count(3, "problem")`` -> ``"3 problems"``."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def problems_text(problems: Sequence[Problem]) -> str:
    """Render problems one per line, for CLI output and logs."""
    return "\n".join(str(p) for p in problems)


def _publish(names: Sequence[str], namespace: dict[str, object]) -> None:
    """Show the exception classes ``names`` under their public path (``dpp_sdk.NotFound``,
    not ``dpp_sdk.contract._errors.NotFound``) in tracebacks and reprs."""
    for name in names:
        cls = namespace[name]
        if isinstance(cls, type) and issubclass(cls, BaseException):
            cls.__module__ = "dpp_sdk"


_publish(__all__, globals())
