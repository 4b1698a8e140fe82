"""Storage policies of the mock platform (PRODUCT.md section 3, "Storage policies").

A policy says how a volume's bytes are laid out across the cluster: how many components it has,
what role each plays, how much raw capacity each reserves, and how many distinct fault domains
the components need. The figures are vSAN's published ones:

===============  ==============================================  ==========  =============  ===
policy           semantics                                       raw per GB  fault domains  FTT
===============  ==============================================  ==========  =============  ===
vsan-default     RAID-1 mirror: 2 replicas + 1 witness           2.0         3              1
vsan-raid1-ftt2  RAID-1 mirror: 3 replicas + 2 witnesses         3.0         5              2
vsan-raid1-ftt3  RAID-1 mirror: 4 replicas + 3 witnesses         4.0         7              3
vsan-raid5       erasure coding 3+1 (OSA; ESA: 2+1 or 4+1)       4/3         4              1
vsan-raid6       erasure coding 4+2                              1.5         6              2
vsan-sna         shared-nothing, on the host of the member       1.0         1              0
vsan-direct      a direct disk's storage pool, shared            1.0         1              0
===============  ==============================================  ==========  =============  ===

Under vSAN's Express Storage Architecture (``[cluster] architecture = esa``) RAID-5 is
*adaptive*: a new volume is 2+1 (1.5x, 3 fault domains) on a cluster of fewer than 6 fault
domains and 4+1 (1.25x, 5 fault domains) on 6 or more. :meth:`Policy.for_cluster` gives the
layout a new volume gets, and :meth:`Policy.with_data_components` the layout of a volume whose
``k`` was recorded when it was created.

Every vSAN policy is *thin* (object space reservation 0%, vSAN's default): its components
reserve on their disks only what has been written. Each has a *thick* twin, ``NAME-thick``
(object space reservation 100%), whose components reserve their full size at creation.
``vsan-direct`` volumes always count their full size against their pool (the real platform
places them by requested size), so it has no twin.

Placement itself lives in ``_placement``; this module only describes the layouts.
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping
from typing import Literal, TypeAlias

import attrs

__all__ = [
    "ARCHITECTURES",
    "DEFAULT_ARCHITECTURE",
    "DEFAULT_POLICY",
    "ESA_WIDE_RAID5_FAULT_DOMAINS",
    "POLICIES",
    "THICK_SUFFIX",
    "Architecture",
    "ComponentRole",
    "Policy",
    "PolicyKind",
    "UnknownPolicy",
    "get_policy",
]

PolicyKind: TypeAlias = Literal["mirror", "erasure", "host-local", "direct"]
"""How a policy lays out a volume: replicated, erasure coded, on one host, or on a direct disk."""

ComponentRole: TypeAlias = Literal["replica", "witness", "data", "parity", "local", "direct"]
"""What one component of a volume holds."""

THICK_SUFFIX = "-thick"
"""What a policy's thick twin (object space reservation 100%) adds to its name."""

DEFAULT_POLICY = "vsan-default"
"""The policy a volume gets when its request names none (and the config does not override it)."""

Architecture: TypeAlias = Literal["osa", "esa"]
"""vSAN's storage architecture: ``osa`` (Original, disk groups) or ``esa`` (Express)."""

ARCHITECTURES: tuple[Architecture, ...] = ("osa", "esa")
"""Every architecture, in the order the docs list them."""

DEFAULT_ARCHITECTURE: Architecture = "osa"
"""The architecture of a cluster whose configuration names none."""

ESA_WIDE_RAID5_FAULT_DOMAINS = 6
"""From this many fault domains on, ESA's adaptive RAID-5 is 4+1; below, 2+1."""


@attrs.frozen(kw_only=True)
class Policy:
    """A storage policy: the layout of a volume's components and what they reserve.

    ``raw_factor`` is the raw capacity reserved per GB of volume size; ``fault_domains_needed``
    is the number of components, each of which must live in its own fault domain.
    ``replicas``/``witnesses`` are set for ``mirror`` policies, ``k``/``m`` (data and parity
    components) for ``erasure`` policies; they are 0 otherwise. ``esa_adaptive`` marks RAID-5,
    whose ``k`` under ESA depends on the cluster's size (:meth:`for_cluster`).
    ``space_reservation`` is vSAN's object space reservation in percent: 0 (thin: components
    reserve what has been written) or 100 (thick: they reserve their full size when created).
    """

    name: str
    description: str
    kind: PolicyKind
    ftt: int
    raw_factor: float
    fault_domains_needed: int
    replicas: int = 0
    witnesses: int = 0
    k: int = 0
    m: int = 0
    esa_adaptive: bool = False
    space_reservation: int = 0

    @property
    def thin(self) -> bool:
        """Whether components reserve only what has been written (object space reservation 0%)."""
        return self.space_reservation == 0

    @property
    def distributed(self) -> bool:
        """Whether components are spread over distinct fault domains (mirror and erasure)."""
        return self.kind in ("mirror", "erasure")

    @property
    def component_count(self) -> int:
        """How many components a volume with this policy has."""
        return len(self.component_roles())

    def component_roles(self) -> list[ComponentRole]:
        """The role of each component, in layout order (the order of ``component_sizes_gb``)."""
        if self.kind == "mirror":
            replica: list[ComponentRole] = ["replica"]
            witness: list[ComponentRole] = ["witness"]
            return replica * self.replicas + witness * self.witnesses
        if self.kind == "erasure":
            data: list[ComponentRole] = ["data"]
            parity: list[ComponentRole] = ["parity"]
            return data * self.k + parity * self.m
        if self.kind == "host-local":
            return ["local"]
        return ["direct"]

    def component_sizes_gb(self, size_gb: float) -> list[float]:
        """Raw GB each component reserves for a volume of ``size_gb``, in layout order.

        Mirror: one full copy per replica and 0 for the witness; erasure: ``size_gb / k`` for each
        of the ``k + m`` components; host-local and direct: the size itself. The sum equals
        ``size_gb * raw_factor``. Raises ``ValueError`` for a negative or non-finite size.
        """
        if not math.isfinite(size_gb) or size_gb < 0:
            raise ValueError(f"volume size must be a finite number of GB >= 0, got {size_gb!r}")
        size_gb = float(size_gb)
        if self.kind == "mirror":
            return [size_gb] * self.replicas + [0.0] * self.witnesses
        if self.kind == "erasure":
            return [size_gb / self.k] * (self.k + self.m)
        return [size_gb]

    def reserved_sizes_gb(self, size_gb: float, written_gb: float = 0.0) -> list[float]:
        """Raw GB each component of a ``size_gb`` volume reserves once ``written_gb`` of it
        has been written: :meth:`component_sizes_gb` of the size for a thick policy, of the
        part written (at most the size) for a thin one."""
        if not math.isfinite(written_gb) or written_gb < 0:
            raise ValueError(f"written GB must be a finite number >= 0, got {written_gb!r}")
        return self.component_sizes_gb(size_gb if not self.thin else min(size_gb, written_gb))

    def raw_gb(self, size_gb: float) -> float:
        """Total raw GB a volume of ``size_gb`` reserves under this policy."""
        return math.fsum(self.component_sizes_gb(size_gb))

    def for_cluster(self, *, architecture: Architecture, fault_domains: int) -> Policy:
        """The layout a new volume of this policy gets on a cluster of ``fault_domains``.

        Only RAID-5 under ESA differs from the table: 2+1 below
        :data:`ESA_WIDE_RAID5_FAULT_DOMAINS` fault domains, 4+1 from there on (vSAN ESA's
        adaptive RAID-5). Every other policy, and RAID-5 under OSA, is returned as it is.
        """
        if architecture == "esa" and self.esa_adaptive:
            wide = fault_domains >= ESA_WIDE_RAID5_FAULT_DOMAINS
            return self.with_data_components(4 if wide else 2)
        return self

    def with_data_components(self, k: int | None) -> Policy:
        """This erasure policy laid out as ``k`` data + ``m`` parity components.

        A volume records the ``k`` it was created with, so that its layout never changes under
        it; ``None`` (a volume recorded before ``k`` was) or the table's own ``k`` returns this
        policy itself. Raises ``ValueError`` naming the value for a policy that is not erasure
        coded or a ``k`` below 1.
        """
        if k is None or k == self.k:
            return self
        if self.kind != "erasure":
            raise ValueError(
                f"k = {k!r}: policy {self.name} is {self.kind}, not erasure coded, so it has no "
                "data components to choose"
            )
        if k < 1:
            raise ValueError(f"k = {k!r}: an erasure layout needs at least 1 data component")
        note = "vSAN ESA adaptive RAID-5" if self.esa_adaptive else f"recorded k = {k}"
        layout = _erasure(self.name, k=k, m=self.m, esa_adaptive=self.esa_adaptive, note=note)
        return attrs.evolve(layout, space_reservation=self.space_reservation)


class UnknownPolicy(ValueError):
    """A storage policy name that the platform does not know.

    ``name`` is the offending name and ``valid`` the known names, which the message lists.
    """

    def __init__(self, name: str, valid: tuple[str, ...]) -> None:
        self.name = name
        self.valid = valid
        super().__init__(f"unknown storage policy {name!r}; valid policies: {', '.join(valid)}")

    def __reduce__(self) -> tuple[type[UnknownPolicy], tuple[str, tuple[str, ...]]]:
        return (type(self), (self.name, self.valid))


def _mirror(name: str, ftt: int) -> Policy:
    """RAID-1 tolerating ``ftt`` failures: ``ftt + 1`` full replicas and ``ftt`` witnesses, one
    per fault domain, so that losing any ``ftt`` components leaves a replica and a majority of
    the ``2 * ftt + 1`` votes."""
    replicas, witnesses = ftt + 1, ftt
    return Policy(
        name=name,
        description=(
            f"RAID-1 mirror, FTT={ftt}: {replicas} full replicas and "
            f"{witnesses} witness{'es' if witnesses != 1 else ''} on {replicas + witnesses} "
            "fault domains"
        ),
        kind="mirror",
        ftt=ftt,
        raw_factor=float(replicas),
        fault_domains_needed=replicas + witnesses,
        replicas=replicas,
        witnesses=witnesses,
    )


def _erasure(name: str, *, k: int, m: int, esa_adaptive: bool = False, note: str = "") -> Policy:
    """RAID-5 (``m = 1``) or RAID-6 (``m = 2``) with ``k`` data and ``m`` parity components,
    one per fault domain; tolerates ``m`` failures."""
    level = {1: "RAID-5", 2: "RAID-6"}.get(m, "erasure coding")
    suffix = f" ({note})" if note else ""
    return Policy(
        name=name,
        description=(
            f"{level} erasure coding {k}+{m}, FTT={m}: {k + m} components on {k + m} "
            f"fault domains{suffix}"
        ),
        kind="erasure",
        ftt=m,
        raw_factor=(k + m) / k,
        fault_domains_needed=k + m,
        k=k,
        m=m,
        esa_adaptive=esa_adaptive,
    )


_TABLE = (
    _mirror("vsan-default", 1),
    _mirror("vsan-raid1-ftt2", 2),
    _mirror("vsan-raid1-ftt3", 3),
    _erasure("vsan-raid5", k=3, m=1, esa_adaptive=True, note="under ESA: 2+1 or 4+1"),
    _erasure("vsan-raid6", k=4, m=2),
    Policy(
        name="vsan-sna",
        description=(
            "shared-nothing, FTT=0: one host-local component on the host of the member using it"
        ),
        kind="host-local",
        ftt=0,
        raw_factor=1.0,
        fault_domains_needed=1,
    ),
    Policy(
        name="vsan-direct",
        description="vSAN Direct, FTT=0: in a direct disk's storage pool, shared with others",
        kind="direct",
        ftt=0,
        raw_factor=1.0,
        fault_domains_needed=1,
        space_reservation=100,
    ),
)


def _thick(policy: Policy) -> Policy:
    """``policy``'s twin with object space reservation 100%."""
    return attrs.evolve(
        policy,
        name=policy.name + THICK_SUFFIX,
        description=f"{policy.description}; thick: reserves its full size when created",
        space_reservation=100,
    )


POLICIES: Mapping[str, Policy] = types.MappingProxyType(
    {p.name: p for p in _TABLE} | {_thick(p).name: _thick(p) for p in _TABLE if p.thin}
)
"""Every storage policy the platform knows, by name (read-only)."""


def get_policy(name: str) -> Policy:
    """Return the policy called ``name``; raise ``UnknownPolicy`` listing the valid names."""
    try:
        return POLICIES[name]
    except KeyError:
        raise UnknownPolicy(name, tuple(POLICIES)) from None
