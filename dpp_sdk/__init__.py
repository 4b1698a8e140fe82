"""dpp-sdk: build, test and certify providers for a Data Persistence Platform.

One import reaches everything public::

    import dpp_sdk as dpp

    class MyProvider(dpp.ServiceProvider):
        ...

Every name loads on first use: the contract (provider base class, models, errors) with the
first of its names, JSON conversion and schema validation, the mock platform and the CLI with
theirs. ``import dpp_sdk`` itself costs next to nothing, so a process that only needs the
version, or the CLI's ``--help``, does not build the contract's classes.
"""

from __future__ import annotations

import importlib

from dpp_sdk._version import __version__ as __version__

# Not typing.TYPE_CHECKING: importing typing alone would double what `import dpp_sdk` costs.
# Type checkers take any constant named TYPE_CHECKING as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from dpp_sdk.contract import *  # noqa: F403 - the contract's curated __all__, re-exported whole
    from dpp_sdk.platform import *  # noqa: F403 - the platform's curated __all__, loaded lazily

# The platform's names, imported on first attribute access; every other public name is the
# contract's (its own __all__, read when the contract is first loaded).
_PLATFORM: dict[str, str] = {
    **dict.fromkeys(
        (
            "AuditRecord",
            "Clock",
            "ClockNotAdjustable",
            "ClockStatus",
            "ClusterConfig",
            "ClusterHealth",
            "ConfigError",
            "DEFAULT_DEADLINES",
            "DiskUsage",
            "Event",
            "InstanceHealth",
            "InstanceImpact",
            "InstanceUsage",
            "MaintenancePrecheck",
            "MaintenanceIncomplete",
            "MaintenanceResult",
            "MaintenanceVetoed",
            "ManualClock",
            "POLICIES",
            "Page",
            "Platform",
            "PlatformAPI",
            "PlatformStatus",
            "Policy",
            "PoolUsage",
            "PreconditionFailed",
            "ProviderCrashed",
            "ProviderTimeout",
            "RepairTimerInfo",
            "ResourceReport",
            "ServiceInfo",
            "ServiceVersion",
            "SimulatedClock",
            "SystemClock",
            "Veto",
            "load_config",
            "parse_config",
        ),
        "dpp_sdk.platform",
    ),
}


def _load_contract() -> None:
    """Import the contract and bind its names here (its own lazy names stay lazy there)."""
    contract = importlib.import_module("dpp_sdk.contract")
    names = globals()
    names["contract"] = contract
    lazy = contract.LAZY
    for name in contract.__all__:
        if name not in lazy:
            names.setdefault(name, getattr(contract, name))
    names["_CONTRACT"] = frozenset(contract.__all__)


_CONTRACT: frozenset[str] | None = None
"""The contract's public names, once it is loaded."""


def _public() -> list[str]:
    if _CONTRACT is None:
        _load_contract()
    assert _CONTRACT is not None
    return sorted([*_CONTRACT, *_PLATFORM, "__version__"])


def __getattr__(name: str) -> Any:
    if name == "__all__":
        value: Any = _public()
    elif name in _PLATFORM:
        value = getattr(importlib.import_module(_PLATFORM[name]), name)
    else:
        if _CONTRACT is None and not name.startswith("__"):
            _load_contract()
            if name in globals():  # "contract", or a name just bound
                return globals()[name]
        if _CONTRACT is None or name not in _CONTRACT:
            raise AttributeError(f"module 'dpp_sdk' has no attribute {name!r}")
        value = getattr(importlib.import_module("dpp_sdk.contract"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_public()})
