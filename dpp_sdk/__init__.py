"""dpp-sdk: build, test and certify providers for a Data Persistence Platform.

One import reaches everything public::

    import dpp_sdk as dpp

    class MyProvider(dpp.ServiceProvider):
        ...

The contract (provider base class, models, errors) loads eagerly and is light; JSON conversion
and schema validation, the mock platform and the CLI load on first use of one of their names.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dpp_sdk import contract as _contract
from dpp_sdk._version import __version__ as __version__

if TYPE_CHECKING:
    from dpp_sdk.contract import *  # noqa: F403 - the contract's curated __all__, re-exported whole
    from dpp_sdk.platform import *  # noqa: F403 - the platform's curated __all__, loaded lazily

globals().update(
    {name: getattr(_contract, name) for name in _contract.__all__ if name not in _contract.LAZY}
)

# Names that live in heavier modules, imported on first attribute access.
_LAZY: dict[str, str] = {
    **dict.fromkeys(_contract.LAZY, "dpp_sdk.contract"),
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

__all__ = sorted([*_contract.__all__, *_LAZY, "__version__"])  # noqa: PLE0605 - kept sorted


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dpp_sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
