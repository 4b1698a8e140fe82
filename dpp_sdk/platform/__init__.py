"""The mock Data Persistence Platform (PRODUCT.md section 3).

Use :class:`Platform` (also reachable as ``dpp_sdk.Platform``)::

    with dpp.Platform.open() as platform:          # in memory
        platform.register_service("my_pkg.provider:MyProvider")
        platform.create_instance(service="kv", name="kv1", capacity_gb=10)
"""

from dpp_sdk.platform._api import PlatformAPI, PreconditionFailed
from dpp_sdk.platform._calls import DEFAULT_DEADLINES, ProviderCrashed, ProviderTimeout
from dpp_sdk.platform._clock import (
    Clock,
    ClockNotAdjustable,
    ManualClock,
    SimulatedClock,
    SystemClock,
)
from dpp_sdk.platform._config import ClusterConfig, ConfigError
from dpp_sdk.platform._config_ini import load_config, parse_config
from dpp_sdk.platform._maintenance import MaintenanceIncomplete, MaintenanceVetoed
from dpp_sdk.platform._models import (
    AuditRecord,
    ClockStatus,
    ClusterHealth,
    DiskUsage,
    Event,
    InstanceHealth,
    InstanceImpact,
    InstanceUsage,
    MaintenancePrecheck,
    MaintenanceResult,
    Page,
    PlatformStatus,
    PoolUsage,
    RepairTimerInfo,
    ResourceReport,
    ServiceInfo,
    ServiceVersion,
    Veto,
)
from dpp_sdk.platform._platform import Platform
from dpp_sdk.platform._policies import POLICIES, Policy

__all__ = [
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
    "MaintenanceIncomplete",
    "MaintenancePrecheck",
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
]

for _name in __all__:
    _value = globals()[_name]
    if isinstance(_value, type) and issubclass(_value, BaseException):
        _value.__module__ = "dpp_sdk"  # tracebacks show dpp_sdk.MaintenanceVetoed, as imported
