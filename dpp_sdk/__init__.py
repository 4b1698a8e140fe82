"""dpp-sdk: build, test and certify providers for a Data Persistence Platform.

One import reaches everything public::

    import dpp_sdk as dpp

    class MyProvider(dpp.ServiceProvider):
        ...

The contract (provider base class, models, errors, schemas) loads eagerly and is light. The
mock platform loads on first use of one of its names, and the CLI only when run.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dpp_sdk._version import __version__
from dpp_sdk.contract import (
    POLICY_NAMES,
    SCHEMA_NAMES,
    VERBS,
    AntiAffinity,
    Capabilities,
    Category,
    ClusterView,
    ComponentInfo,
    ConfigureRequest,
    Conflict,
    DataProbe,
    DataUnavailable,
    DecommissionRequest,
    DiskInfo,
    DppError,
    EndpointInfo,
    Endpoints,
    FailureEvent,
    FailureKind,
    HealthCheck,
    HealthReport,
    HealthStatus,
    HostInfo,
    IncompleteProvider,
    InstanceContext,
    InstanceInfo,
    InstanceSpec,
    InstanceStatus,
    MaintenanceDecision,
    MaintenanceMode,
    MaintenanceRequest,
    Manifest,
    ManifestError,
    MemberInfo,
    Members,
    NotFound,
    Operation,
    OperationError,
    OperationFailed,
    OperationState,
    PermanentError,
    PlacementFailed,
    PlacementReason,
    Plan,
    Problem,
    ProviderError,
    ProviderState,
    ProvisionRequest,
    QuotaExceeded,
    Redundancy,
    ScaleRequest,
    ScopeViolation,
    Secret,
    SecretInfo,
    Secrets,
    ServiceProvider,
    TemporaryError,
    ValidationError,
    VetoReason,
    VolumeClaim,
    VolumeInfo,
    Volumes,
    from_json,
    load_schema,
    resolve_instance_spec,
    structure,
    to_json,
    unstructure,
    validate_document,
    validate_manifest,
)

if TYPE_CHECKING:
    from dpp_sdk.platform import ClusterConfig, Platform

# Names that live in heavier layers, imported on first attribute access.
_LAZY: dict[str, str] = {
    "ClusterConfig": "dpp_sdk.platform",
    "Platform": "dpp_sdk.platform",
}

__all__ = [
    "AntiAffinity",
    "Capabilities",
    "Category",
    "ClusterConfig",
    "ClusterView",
    "ComponentInfo",
    "ConfigureRequest",
    "Conflict",
    "DataProbe",
    "DataUnavailable",
    "DecommissionRequest",
    "DiskInfo",
    "DppError",
    "EndpointInfo",
    "Endpoints",
    "FailureEvent",
    "FailureKind",
    "HealthCheck",
    "HealthReport",
    "HealthStatus",
    "HostInfo",
    "IncompleteProvider",
    "InstanceContext",
    "InstanceInfo",
    "InstanceSpec",
    "InstanceStatus",
    "MaintenanceDecision",
    "MaintenanceMode",
    "MaintenanceRequest",
    "Manifest",
    "ManifestError",
    "MemberInfo",
    "Members",
    "NotFound",
    "Operation",
    "OperationError",
    "OperationFailed",
    "OperationState",
    "POLICY_NAMES",
    "PermanentError",
    "PlacementFailed",
    "PlacementReason",
    "Plan",
    "Platform",
    "Problem",
    "ProviderError",
    "ProviderState",
    "ProvisionRequest",
    "QuotaExceeded",
    "Redundancy",
    "SCHEMA_NAMES",
    "ScaleRequest",
    "ScopeViolation",
    "Secret",
    "SecretInfo",
    "Secrets",
    "ServiceProvider",
    "TemporaryError",
    "VERBS",
    "ValidationError",
    "VetoReason",
    "VolumeClaim",
    "VolumeInfo",
    "Volumes",
    "__version__",
    "from_json",
    "load_schema",
    "resolve_instance_spec",
    "structure",
    "to_json",
    "unstructure",
    "validate_document",
    "validate_manifest",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dpp_sdk' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
