"""A provider's declared footprint, checked before anything is allocated.

A provider may declare, through :meth:`ServiceProvider.footprint`, what an instance of a spec
will hold: its members with their volume claims and anti-affinity. The platform then checks a
create before it starts: the raw need of every claim, per pool kind (the vSAN datastore, the
vSAN Direct disks), against that pool's quota, and a placement dry run of the members in order
on the cluster as it is (in a trial of the cluster, undone). A request that cannot fit is
refused with the platform's own errors (``QuotaExceeded`` with used, asked and left,
``PlacementFailed`` with the reason), before any operation starts: audited ``refused``, not a
provision that fails half-way.

A configure or a scale is checked the same way, with the footprint of the new spec (the
provider is told what the instance holds now, ``current``). Only the growth counts: the
change's operation gets or creates members and volumes by name, so what the instance holds stays
where it is. The quota is asked for the raw GB of the claims the instance does not hold yet
plus what held volumes grow by; the dry run gets or creates every declared member and volume for
the instance (and expands the held volumes that grow) through the platform's own resource
code, on the cluster as it is, and undoes it all. Held members the footprint no longer lists
are not counted as freed: an operation may add before it removes.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence

from dpp_sdk.contract import (
    Footprint,
    InstanceSpec,
    MemberFootprint,
    PlacementFailed,
    QuotaExceeded,
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
from dpp_sdk.platform._resources import InstanceResources
from dpp_sdk.platform._views import cluster_view

__all__ = ["Footprints"]


class Footprints:
    """Asks providers for their footprint and checks it against quota and placement."""

    def __init__(self, repo: Repository, catalog: Catalog, resources: InstanceResources) -> None:
        self._repo = repo
        self._catalog = catalog
        self._resources = resources

    def check(self, provider: ServiceProvider, spec: InstanceSpec, instance: str) -> None:
        """Refuse ``spec`` for ``instance`` when its declared footprint cannot fit now; a
        provider that declares none is not asked (the platform's own estimate applies)."""
        declared = self._declared(provider, spec, None)
        if declared is None:
            return
        policies = self._policies(declared, spec)
        with self._repo.lock:
            cluster = self._repo.cluster()
            self._check_quota(cluster, declared, policies, {}, f"instance {instance!r} declares")
            with cluster.trial(), placement_errors(f"instance {instance!r} (declared footprint)"):
                self._place(cluster, declared, policies)

    def check_change(self, provider: ServiceProvider, spec: InstanceSpec, instance: str) -> None:
        """Refuse a configure or scale of ``instance`` to ``spec`` when what its declared
        footprint adds to what the instance holds cannot fit now (see the module doc)."""
        if not _declares(provider):
            return
        with self._repo.lock:
            current = self._holdings(instance)
        declared = self._declared(provider, spec, current)
        if declared is None:
            return
        policies = self._policies(declared, spec)
        held = {c.name: c.size_gb for c in _claims(current)}
        what = f"instance {instance!r} (declared footprint)"
        with self._repo.lock:
            cluster = self._repo.cluster()
            self._check_quota(cluster, declared, policies, held, f"instance {instance!r} declares")
            try:
                self._resources.dry_run(lambda: self._ensure(instance, declared, held))
            except PlacementFailed as exc:
                raise PlacementFailed(exc.reason, f"{what}: {_message(exc)}") from exc
            except QuotaExceeded as exc:
                raise QuotaExceeded(
                    f"{what}: {exc}", limit=exc.limit, used=exc.used, asked=exc.asked, left=exc.left
                ) from exc

    def _declared(
        self, provider: ServiceProvider, spec: InstanceSpec, current: Footprint | None
    ) -> Footprint | None:
        """The provider's footprint of ``spec`` (told ``current`` when its hook takes it)."""
        if not _declares(provider):
            return None
        with self._repo.lock:
            view = cluster_view(self._repo.cluster())
        hook = provider.footprint
        takes_current = current is not None and _takes_current(hook)
        declared = call_provider(
            "footprint",
            self._catalog.deadlines["footprint"],
            lambda: hook(spec, view, current=current) if takes_current else hook(spec, view),
        )
        if declared is not None and not isinstance(declared, Footprint):
            raise ValidationError.single(
                "$.footprint",
                repr(declared),
                "the provider's footprint must return a dpp_sdk.Footprint or None",
            )
        return declared

    def _holdings(self, instance: str) -> Footprint:
        """What ``instance`` holds now, as a footprint (each member with its volumes)."""
        volumes = self._resources.list_volumes(instance)

        def claims(member: str | None) -> tuple[VolumeClaim, ...]:
            return tuple(
                VolumeClaim(
                    name=v.name,
                    size_gb=v.size_gb,
                    policy=v.policy,
                    pool_anti_affinity=v.pool_anti_affinity,
                )
                for v in volumes
                if v.member == member
            )

        return Footprint(
            members=tuple(
                MemberFootprint(
                    name=m.name, volumes=claims(m.name), anti_affinity=m.anti_affinities or None
                )
                for m in self._resources.list_members(instance)
            ),
            volumes=claims(None),
        )

    def _ensure(self, instance: str, declared: Footprint, held: Mapping[str, float]) -> None:
        """What the change's operation will do, for the dry run: get or create every declared
        member and volume by name, and expand the held volumes that grow."""
        for member in declared.members:
            self._resources.ensure_member(
                instance,
                member.name,
                volumes=member.volumes,
                host=None,
                anti_affinity=member.anti_affinity,
                labels={},
            )
        for claim in declared.volumes:
            self._resources.ensure_volume(
                instance,
                claim.name,
                size_gb=claim.size_gb,
                policy=claim.policy,
                member=None,
                pool_anti_affinity=claim.pool_anti_affinity,
            )
        for claim in _claims(declared):
            if claim.name in held and held[claim.name] < claim.size_gb:
                self._resources.expand_volume(instance, claim.name, claim.size_gb)

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
        cluster: Cluster,
        declared: Footprint,
        policies: Mapping[str, Policy],
        held: Mapping[str, float],
        what: str,
    ) -> None:
        """Each pool kind's quota against the raw GB the claims add to what is ``held``
        (volume sizes by name): all of a new claim, the growth of a held one."""
        need: dict[DiskKind, list[float]] = {}
        for claim in _claims(declared):
            policy = policies[claim.name]
            extra = policy.raw_gb(claim.size_gb) - policy.raw_gb(held.get(claim.name, 0.0))
            need.setdefault(_placement.pool_kind(policy), []).append(max(0.0, extra))
        more = " more" if held else ""
        for kind, sizes in sorted(need.items()):
            total = math.fsum(sizes)
            if held and total <= 0:
                continue
            with placement_errors(f"{what} {total:.1f} GB{more} of raw capacity"):
                _placement.check_quota(cluster, total, kind)

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


def _declares(provider: ServiceProvider) -> bool:
    return type(provider).footprint is not ServiceProvider.footprint


def _takes_current(hook: Callable[..., object]) -> bool:
    """Whether a provider's ``footprint`` accepts ``current=`` (older ones take two
    arguments; they describe the whole instance from the spec alone)."""
    try:
        parameters = inspect.signature(hook).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == "current" or p.kind is p.VAR_KEYWORD for p in parameters)


def _claims(footprint: Footprint) -> Sequence[VolumeClaim]:
    """Every volume claim of ``footprint``: its members' first, then its own."""
    return [*(c for m in footprint.members for c in m.volumes), *footprint.volumes]


def _message(exc: PlacementFailed) -> str:
    """A PlacementFailed's message without the reason it starts with."""
    return str(exc).removeprefix(f"{exc.reason}: ")
