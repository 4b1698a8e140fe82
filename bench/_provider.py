"""The smallest useful provider, written as a partner would: one member, one volume.

Used by the benchmarks in this folder so that they measure the platform, not a provider: every
verb does the least the contract allows. Only public ``dpp_sdk`` names are used.
"""

from __future__ import annotations

import dpp_sdk as dpp

MEMBER = "node-0"
VOLUME = "data"

MANIFEST = dpp.Manifest(
    name="bench-minimal",
    display_name="Benchmark minimal service",
    version="1.0.0",
    vendor="dpp-sdk benchmarks",
    category=dpp.Category.DATABASE,
    description="One member with one volume on the platform's policy; does nothing else.",
    plans=(dpp.Plan(name="standard", min_capacity_gb=1, max_capacity_gb=1000),),
    parameters_schema={"type": "object", "properties": {}, "additionalProperties": False},
    supported_policies=("vsan-default",),
    default_policy="vsan-default",
    capabilities=dpp.Capabilities(capacity_scale_up=True),
    redundancy=dpp.Redundancy.PLATFORM,
)

_GREEN = dpp.HealthReport.from_checks(
    [dpp.HealthCheck(name="server", status=dpp.HealthStatus.GREEN, message=f"{MEMBER} up")]
)


class MinimalProvider(dpp.ServiceProvider):
    """One member, ``node-0``, with one volume, ``data``, sized to the instance's capacity."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return MANIFEST

    def provision(self, ctx: dpp.InstanceContext, request: dpp.ProvisionRequest) -> None:
        claim = dpp.VolumeClaim(name=VOLUME, size_gb=request.spec.capacity_gb)
        ctx.members.ensure(MEMBER, volumes=[claim])

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        """Nothing to push: the service has no parameters."""

    def monitor(self, ctx: dpp.InstanceContext) -> dpp.HealthReport:
        return _GREEN

    def scale(self, ctx: dpp.InstanceContext, request: dpp.ScaleRequest) -> None:
        ctx.volumes.expand(VOLUME, request.capacity_gb)

    def decommission(self, ctx: dpp.InstanceContext, request: dpp.DecommissionRequest) -> None:
        ctx.members.delete(MEMBER, delete_volumes=True)
        ctx.volumes.delete(VOLUME)  # in case a crashed run left the volume without its member
