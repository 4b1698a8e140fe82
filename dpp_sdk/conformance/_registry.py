"""The check registry: every conformance check, with its stable ID, category, level and rule.

A check is a plain function taking a :class:`~dpp_sdk.conformance.Trial` (the harness's
per-check workspace: a fresh platform with the provider registered). It returns when the rule
holds and raises :class:`CheckFailed` (through ``trial.fail``/``trial.expect``) when it does not.
It needs no pytest. Check modules register their functions with :func:`check` when imported;
:func:`all_checks` imports them all and returns the registry in ID order.
"""

from __future__ import annotations

import enum
import importlib
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import attrs

if TYPE_CHECKING:
    from dpp_sdk.conformance._trial import Trial

__all__ = [
    "CAPABILITIES",
    "REGISTRY_VERSION",
    "Category",
    "CheckFailed",
    "CheckSpec",
    "Level",
    "Skip",
    "all_checks",
    "check",
]

#: The version of the check registry. It changes whenever a check is added, removed or its
#: rule changes, so a report names exactly which set of rules a provider was held to.
REGISTRY_VERSION = "1.0.0"

#: The capabilities (``dpp.Capabilities`` fields) a check may need.
CAPABILITIES = (
    "capacity_scale_up",
    "capacity_scale_down",
    "horizontal_scale",
    "maintenance_aware",
    "data_probe",
)

_CHECK_MODULES = (
    "dpp_sdk.conformance._checks_registration",
    "dpp_sdk.conformance._checks_provisioning",
    "dpp_sdk.conformance._checks_configuration",
    "dpp_sdk.conformance._checks_monitoring",
    "dpp_sdk.conformance._checks_scaling",
    "dpp_sdk.conformance._checks_decommissioning",
    "dpp_sdk.conformance._checks_resilience",
    "dpp_sdk.conformance._checks_security",
    "dpp_sdk.conformance._machine",
)

_ID = re.compile(r"^[A-Z]{3,5}-\d{3}$")


class Category(enum.StrEnum):
    """What part of a provider's life a check is about."""

    REGISTRATION = "registration"
    PROVISIONING = "provisioning"
    CONFIGURATION = "configuration"
    MONITORING = "monitoring"
    SCALING = "scaling"
    DECOMMISSIONING = "decommissioning"
    RESILIENCE = "resilience"
    SECURITY = "security"


class Level(enum.StrEnum):
    """A required check's failure fails certification; a recommended one's is reported."""

    REQUIRED = "required"
    RECOMMENDED = "recommended"


class CheckFailed(AssertionError):
    """The provider broke the check's rule: ``expected`` is what the rule asks for,
    ``actual`` what happened."""

    def __init__(self, expected: str, actual: str) -> None:
        super().__init__(f"expected {expected}; {actual}")
        self.expected = expected
        self.actual = actual


class Skip(Exception):
    """The check does not apply to this provider (``reason`` says why)."""


@attrs.frozen(kw_only=True)
class CheckSpec:
    """One registered check.

    ``needs`` names the manifest capabilities the check exercises; without them it is skipped.
    ``quick`` puts it in the quick profile (the full profile runs every check)."""

    id: str
    category: Category
    level: Level
    rule: str
    function: Callable[[Trial], None] = attrs.field(eq=False, repr=False)
    needs: tuple[str, ...] = ()
    quick: bool = False

    @property
    def required(self) -> bool:
        return self.level is Level.REQUIRED


_REGISTRY: dict[str, CheckSpec] = {}


def check(
    id: str,
    category: Category,
    rule: str,
    *,
    level: Level = Level.REQUIRED,
    needs: tuple[str, ...] = (),
    quick: bool = False,
) -> Callable[[Callable[[Trial], None]], Callable[[Trial], None]]:
    """Register the decorated function as check ``id``. IDs are unique and stable: a check is
    never renumbered, and a retired ID is not reused."""
    if not _ID.match(id):
        raise ValueError(f"check id: {id!r} must look like PROV-003")
    unknown = [need for need in needs if need not in CAPABILITIES]
    if unknown:
        raise ValueError(f"check {id}: needs: unknown capabilities {unknown}")

    def register(function: Callable[[Trial], None]) -> Callable[[Trial], None]:
        known = _REGISTRY.get(id)
        if known is not None and _origin(known.function) != _origin(function):
            raise ValueError(f"check id {id} is registered twice")
        _REGISTRY[id] = CheckSpec(
            id=id,
            category=category,
            level=level,
            rule=rule,
            function=function,
            needs=needs,
            quick=quick,
        )
        return function

    return register


def _origin(function: Callable[..., object]) -> tuple[str, str]:
    """Where a check function is defined: the same check re-imported (a module reloaded) is
    registered again, not twice."""
    return (function.__module__, function.__qualname__)


def all_checks() -> tuple[CheckSpec, ...]:
    """Every registered check, in ID order (importing the check modules on first use)."""
    for module in _CHECK_MODULES:
        importlib.import_module(module)
    return tuple(sorted(_REGISTRY.values(), key=lambda spec: spec.id))
