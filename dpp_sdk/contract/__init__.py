"""The provider contract: what a provider implements and what it may touch.

This layer knows nothing of the platform's internals (PRODUCT.md section 2).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from dpp_sdk.contract._context import (
    Endpoints,
    InstanceContext,
    Members,
    ProviderState,
    Secret,
    Secrets,
    Volumes,
)
from dpp_sdk.contract._errors import (
    Conflict,
    DataUnavailable,
    DppError,
    ManifestError,
    NotFound,
    OperationFailed,
    OutOfSpace,
    PermanentError,
    PlacementFailed,
    PlacementReason,
    Problem,
    ProviderError,
    QuotaExceeded,
    ScopeViolation,
    TemporaryError,
    ValidationError,
)
from dpp_sdk.contract._models import (
    POLICY_NAMES,
    AntiAffinity,
    Capabilities,
    Category,
    ClusterView,
    ComponentInfo,
    ConfigureRequest,
    DecommissionRequest,
    DiskInfo,
    DrainRequest,
    EndpointInfo,
    FailureEvent,
    FailureKind,
    Footprint,
    HealthCheck,
    HealthReport,
    HealthStatus,
    HostInfo,
    InstanceInfo,
    InstanceSpec,
    InstanceStatus,
    MaintenanceDecision,
    MaintenanceMode,
    MaintenanceRequest,
    Manifest,
    MemberFootprint,
    MemberInfo,
    ObjectHealth,
    Operation,
    OperationError,
    OperationState,
    Plan,
    PoolAntiAffinity,
    PoolInfo,
    ProvisionRequest,
    Redundancy,
    ScaleRequest,
    SecretInfo,
    VetoReason,
    VolumeClaim,
    VolumeInfo,
)
from dpp_sdk.contract._provider import VERBS, DataProbe, IncompleteProvider, ServiceProvider

if TYPE_CHECKING:
    from dpp_sdk.contract._schemas import (
        SCHEMA_NAMES,
        load_schema,
        resolve_instance_spec,
        validate_document,
        validate_manifest,
        validate_model,
    )
    from dpp_sdk.contract._serde import from_json, structure, to_json, unstructure

# JSON conversion and schema validation load cattrs, jsonschema and the schema files: they are
# imported on first use, so `import dpp_sdk` stays light for a provider that never needs them.
LAZY: dict[str, str] = {
    "SCHEMA_NAMES": "dpp_sdk.contract._schemas",
    "load_schema": "dpp_sdk.contract._schemas",
    "resolve_instance_spec": "dpp_sdk.contract._schemas",
    "validate_document": "dpp_sdk.contract._schemas",
    "validate_manifest": "dpp_sdk.contract._schemas",
    "validate_model": "dpp_sdk.contract._schemas",
    "from_json": "dpp_sdk.contract._serde",
    "structure": "dpp_sdk.contract._serde",
    "to_json": "dpp_sdk.contract._serde",
    "unstructure": "dpp_sdk.contract._serde",
}


def __getattr__(name: str) -> Any:
    module = LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'dpp_sdk.contract' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


__all__ = [
    "POLICY_NAMES",
    "SCHEMA_NAMES",
    "VERBS",
    "AntiAffinity",
    "Capabilities",
    "Category",
    "ClusterView",
    "ComponentInfo",
    "ConfigureRequest",
    "Conflict",
    "DataProbe",
    "DataUnavailable",
    "OutOfSpace",
    "DecommissionRequest",
    "DrainRequest",
    "Footprint",
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
    "MemberFootprint",
    "MemberInfo",
    "ObjectHealth",
    "Members",
    "NotFound",
    "Operation",
    "OperationError",
    "OperationFailed",
    "OperationState",
    "PermanentError",
    "Plan",
    "PoolInfo",
    "PlacementFailed",
    "PlacementReason",
    "PoolAntiAffinity",
    "Problem",
    "ProviderError",
    "ProviderState",
    "ProvisionRequest",
    "QuotaExceeded",
    "Redundancy",
    "ScaleRequest",
    "ScopeViolation",
    "Secret",
    "SecretInfo",
    "Secrets",
    "ServiceProvider",
    "TemporaryError",
    "ValidationError",
    "VetoReason",
    "VolumeClaim",
    "VolumeInfo",
    "Volumes",
    "from_json",
    "load_schema",
    "resolve_instance_spec",
    "structure",
    "to_json",
    "unstructure",
    "validate_document",
    "validate_manifest",
    "validate_model",
]
