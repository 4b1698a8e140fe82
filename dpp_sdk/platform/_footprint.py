"""A provider's declared footprint, checked before anything is allocated.

A provider may declare, through :meth:`ServiceProvider.footprint`, what an instance of a spec
will hold: its members with their volume claims and anti-affinity. The platform then checks a
create before it starts: the raw need of every claim, per pool kind (the vSAN datastore, the
vSAN Direct disks), against that pool's quota, and a placement dry run of the members in order
on the cluster as it is (in a trial of the cluster, undone). A request that cannot fit is
refused with the platform's own errors (``QuotaExceeded`` with used, asked and left,
``PlacementFailed`` with the reason), before any operation starts: audited ``refused``, not a
provision that fails half-way.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from dpp_sdk.contract import (
    Footprint,
    InstanceSpec,
    ServiceProvider,
    ValidationError,
    VolumeClaim,
)
from dpp_sdk.platform import _placement
from dpp_sdk.platform._calls import call_provider
from dpp_sdk.platform._capacity import DiskKind
from dpp_sdk.platform._catalog import Catalog
from dpp_sdk.platform._checks import anti_affinity_rules, check_member_request, placement_errors
from dpp_sdk.platform._cluster import Cluster
from dpp_sdk.platform._policies import POLICIES, Policy
from dpp_sdk.platform._repository import Repository
from dpp_sdk.platform._views import cluster_view

__all__ = ["Footprints"]


class Footprints:
    """Asks providers for their footprint and checks it against quota and placement."""

    def __init__(self, repo: Repository, catalog: Catalog) -> None:
        self._repo = repo
        self._catalog = catalog

    def check(self, provider: ServiceProvider, spec: InstanceSpec, instance: str) -> None:
        """Refuse ``spec`` for ``instance`` when its declared footprint cannot fit now; a
        provider that declares none is not asked (the platform's own estimate applies)."""
        if type(provider).footprint is ServiceProvider.footprint:
            return
        with self._repo.lock:
            view = cluster_view(self._repo.cluster())
        declared = call_provider(
            "footprint",
            self._catalog.deadlines["footprint"],
            lambda: provider.footprint(spec, view),
        )
        if declared is None:
            return
        if not isinstance(declared, Footprint):
            raise ValidationError.single(
                "$.footprint",
                repr(declared),
                "the provider's footprint must return a dpp_sdk.Footprint or None",
            )
        policies = self._policies(declared, spec)
        with self._repo.lock:
            cluster = self._repo.cluster()
            self._check_quota(cluster, declared, policies, instance)
            with cluster.trial(), placement_errors(f"instance {instance!r} (declared footprint)"):
                self._place(cluster, declared, policies)

    def _policies(self, declared: Footprint, spec: InstanceSpec) -> Mapping[str, Policy]:
        """The policy of each claim (the spec's when it names none), by claim name; an
        unknown policy or a bad claim is a ValidationError naming it."""
        found: dict[str, Policy] = {}
        for m, member in enumerate(declared.members):
            check_member_request(member.volumes, member.anti_affinity, {})
            for c, claim in enumerate(member.volumes):
                found[claim.name] = self._policy(claim, spec, f"$.footprint.members[{m}]", c)
        for c, claim in enumerate(declared.volumes):
            found[claim.name] = self._policy(claim, spec, "$.footprint", c)
        return found

    def _policy(self, claim: VolumeClaim, spec: InstanceSpec, path: str, index: int) -> Policy:
        name = claim.policy or spec.policy
        if name not in POLICIES:
            raise ValidationError.single(
                f"{path}.volumes[{index}].policy",
                name,
                f"unknown policy; one of {sorted(POLICIES)}",
            )
        return self._repo.config.layout(name)

    @staticmethod
    def _check_quota(
        cluster: Cluster, declared: Footprint, policies: Mapping[str, Policy], instance: str
    ) -> None:
        need: dict[DiskKind, list[float]] = {}
        claims = [*(c for m in declared.members for c in m.volumes), *declared.volumes]
        for claim in claims:
            policy = policies[claim.name]
            need.setdefault(_placement.pool_kind(policy), []).append(policy.raw_gb(claim.size_gb))
        for kind, sizes in sorted(need.items()):
            with placement_errors(
                f"instance {instance!r} declares {math.fsum(sizes):.1f} GB of raw capacity"
            ):
                _placement.check_quota(cluster, math.fsum(sizes), kind)

    @staticmethod
    def _place(cluster: Cluster, declared: Footprint, policies: Mapping[str, Policy]) -> None:
        """Place every member, then every volume of no member, as provision would: each one
        reserved before the next, so they compete for room as the real ones will."""
        existing: dict[str, _placement.MemberPlacementInfo] = {}
        for member in declared.members:
            rules = anti_affinity_rules(member.anti_affinity)
            groups = [rule.group for rule in rules]
            local = [c.size_gb for c in member.volumes if policies[c.name].kind == "host-local"]
            direct = [
                _placement.DirectVolume(name=c.name, size_gb=c.size_gb)
                for c in member.volumes
                if policies[c.name].kind == "direct"
            ]
            host = _placement.place_member(
                cluster,
                existing=existing,
                anti_affinity=rules,
                local_volume_gb=local,
                direct_volumes=direct,
            )
            for claim in member.volumes:
                placed = _placement.place_volume(
                    cluster, policies[claim.name], claim.size_gb, host=host
                )
                cluster.reserve(f"footprint/{member.name}/{claim.name}", placed)
            existing[member.name] = _placement.MemberPlacementInfo(
                host=host, group=groups[0] if groups else None, groups=frozenset(groups)
            )
        for claim in declared.volumes:
            placed = _placement.place_volume(cluster, policies[claim.name], claim.size_gb)
            cluster.reserve(f"footprint/{claim.name}", placed)
