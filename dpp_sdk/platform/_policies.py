"""Storage policies of the mock platform (PRODUCT.md section 3, "Storage policies").

A policy says how a volume's bytes are laid out across the cluster: how many components it has,
what role each plays, how much raw capacity each reserves, and how many distinct fault domains
the components need. The figures are vSAN's published ones:

============  ==============================================  ==========  =============  ===
policy        semantics                                       raw per GB  fault domains  FTT
============  ==============================================  ==========  =============  ===
vsan-default  RAID-1 mirror: 2 replicas + 1 witness           2.0         3              1
vsan-raid5    erasure coding 3+1                              4/3         4              1
vsan-raid6    erasure coding 4+2                              1.5         6              2
vsan-sna      shared-nothing, on the host of the member       1.0         1              0
vsan-direct   a direct disk's storage pool, shared            1.0         1              0
============  ==============================================  ==========  =============  ===

Placement itself lives in ``_placement``; this module only describes the layouts.
"""

from __future__ import annotations

import math
import types
from collections.abc import Mapping
from typing import Literal, TypeAlias

import attrs

__all__ = [
    "DEFAULT_POLICY",
    "POLICIES",
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

DEFAULT_POLICY = "vsan-default"
"""The policy a volume gets when its request names none (and the config does not override it)."""


@attrs.frozen(kw_only=True)
class Policy:
    """A storage policy: the layout of a volume's components and what they reserve.

    ``raw_factor`` is the raw capacity reserved per GB of volume size; ``fault_domains_needed``
    is the number of components, each of which must live in its own fault domain.
    ``replicas``/``witnesses`` are set for ``mirror`` policies, ``k``/``m`` (data and parity
    components) for ``erasure`` policies; they are 0 otherwise.
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

    def raw_gb(self, size_gb: float) -> float:
        """Total raw GB a volume of ``size_gb`` reserves under this policy."""
        return math.fsum(self.component_sizes_gb(size_gb))


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


_TABLE = (
    Policy(
        name="vsan-default",
        description="RAID-1 mirror, FTT=1: 2 full replicas and a witness on 3 fault domains",
        kind="mirror",
        ftt=1,
        raw_factor=2.0,
        fault_domains_needed=3,
        replicas=2,
        witnesses=1,
    ),
    Policy(
        name="vsan-raid5",
        description="RAID-5 erasure coding 3+1, FTT=1: 4 components on 4 fault domains",
        kind="erasure",
        ftt=1,
        raw_factor=4 / 3,
        fault_domains_needed=4,
        k=3,
        m=1,
    ),
    Policy(
        name="vsan-raid6",
        description="RAID-6 erasure coding 4+2, FTT=2: 6 components on 6 fault domains",
        kind="erasure",
        ftt=2,
        raw_factor=1.5,
        fault_domains_needed=6,
        k=4,
        m=2,
    ),
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
    ),
)

POLICIES: Mapping[str, Policy] = types.MappingProxyType({p.name: p for p in _TABLE})
"""Every storage policy the platform knows, by name (read-only)."""


def get_policy(name: str) -> Policy:
    """Return the policy called ``name``; raise ``UnknownPolicy`` listing the valid names."""
    try:
        return POLICIES[name]
    except KeyError:
        raise UnknownPolicy(name, tuple(POLICIES)) from None
