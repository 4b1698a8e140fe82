"""Broken MinIO providers: each overrides one method of the sample to seed one defect."""

from __future__ import annotations

import attrs

import dpp_sdk as dpp
from samples.minio.provider import MinioProvider, Pool, _server_anti_affinity, _server_claims
from tests.broken_providers._base import Broken


class NoStoragePoolAntiAffinity(Broken, MinioProvider):
    """Drives are claimed without storage-pool anti-affinity: one direct disk may hold two
    shards of an erasure set.

    RES-012: vsan-direct volumes of one member sit on distinct direct disks."""

    caught_by = "RES-012"
    says = ("direct volumes on distinct disks", "shared")

    def _ensure_server(self, ctx: dpp.InstanceContext, pool: Pool, server: int) -> None:
        claims = [
            attrs.evolve(claim, pool_anti_affinity=None)
            for claim in _server_claims(pool, server, ctx.spec.policy)
        ]
        ctx.members.ensure(
            pool.server_name(server),
            volumes=claims,
            anti_affinity=_server_anti_affinity(pool),
            labels={"pool": str(pool.index), "server": str(server)},
        )
