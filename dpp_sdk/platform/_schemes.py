"""How a storage policy lays a volume's bytes out in components (:class:`Scheme`), and the
error raised when too few of them are available (:class:`DataUnavailable`).

See :mod:`._storage` for the byte layout of each scheme.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any, Literal

import attrs

from dpp_sdk.contract._errors import DataUnavailable as _ContractDataUnavailable

__all__ = ["CHUNK", "DataUnavailable", "Operation", "Scheme"]

CHUNK = 4096
"""Erasure stripe unit per shard: a stripe covers ``k * CHUNK`` bytes of volume address space."""

_ZFEC_MAX_SHARES = 256

Operation = Literal["read", "write", "rebuild"]


# --------------------------------------------------------------------------------------------
# Scheme
# --------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class Scheme:
    """How a volume's bytes are spread over components (see the module docstring).

    ``Scheme(kind="mirror", replicas=2, witnesses=1)`` is ``vsan-default``;
    ``Scheme(kind="erasure", k=3, m=1)`` is RAID-5, ``k=4, m=2`` RAID-6;
    ``Scheme(kind="single")`` is ``vsan-sna`` and ``vsan-direct``.
    Fields that do not belong to ``kind`` must keep their defaults.
    """

    kind: Literal["mirror", "erasure", "single"]
    replicas: int = 1
    witnesses: int = 0
    k: int = 1
    m: int = 0

    def __attrs_post_init__(self) -> None:
        problems: list[str] = []
        if self.kind == "mirror":
            if self.replicas < 1:
                problems.append(f"replicas must be >= 1, got {self.replicas}")
            if self.witnesses < 0:
                problems.append(f"witnesses must be >= 0, got {self.witnesses}")
        elif self.replicas != 1 or self.witnesses != 0:
            problems.append("replicas/witnesses apply to kind='mirror' only")
        if self.kind == "erasure":
            if self.k < 1:
                problems.append(f"k must be >= 1, got {self.k}")
            if self.m < 0:
                problems.append(f"m must be >= 0, got {self.m}")
            if self.k + self.m > _ZFEC_MAX_SHARES:
                problems.append(f"k + m must be <= {_ZFEC_MAX_SHARES}, got {self.k + self.m}")
        elif self.k != 1 or self.m != 0:
            problems.append("k/m apply to kind='erasure' only")
        if self.kind not in ("mirror", "erasure", "single"):
            problems.append(f"kind must be 'mirror', 'erasure' or 'single', got {self.kind!r}")
        if problems:
            raise ValueError(f"invalid storage scheme {self!r}: " + "; ".join(problems))

    @property
    def component_count(self) -> int:
        """Number of components, each with one vote (witnesses included)."""
        if self.kind == "mirror":
            return self.replicas + self.witnesses
        if self.kind == "erasure":
            return self.k + self.m
        return 1

    @property
    def data_components(self) -> frozenset[int]:
        """Indices of the components that hold bytes (every one except witnesses)."""
        if self.kind == "mirror":
            return frozenset(range(self.replicas))
        return frozenset(range(self.component_count))

    @property
    def raw_factor(self) -> float:
        """Raw bytes stored per volume byte: 2.0 for RAID-1 2+1, 1.33 for 3+1, 1.5 for 4+2."""
        if self.kind == "mirror":
            return float(self.replicas)
        if self.kind == "erasure":
            return (self.k + self.m) / self.k
        return 1.0

    @property
    def label(self) -> str:
        """Human-readable name, e.g. ``RAID-1 mirror (2 replicas + 1 witness)``."""
        if self.kind == "mirror":
            witnesses = "witness" if self.witnesses == 1 else "witnesses"
            return f"RAID-1 mirror ({self.replicas} replicas + {self.witnesses} {witnesses})"
        if self.kind == "erasure":
            return f"erasure coding {self.k}+{self.m}"
        return "single component (no redundancy)"

    def can_reconstruct(self, available: Collection[int]) -> bool:
        """Whether the available components hold enough to rebuild the data (votes ignored)."""
        present = frozenset(available) & self.data_components
        if self.kind == "erasure":
            return len(present) >= self.k
        return bool(present)

    def has_quorum(self, available: Collection[int]) -> bool:
        """Whether more than half of all component votes are available (one vote each)."""
        votes = len(frozenset(available) & frozenset(range(self.component_count)))
        return 2 * votes > self.component_count

    def is_accessible(self, available: Collection[int]) -> bool:
        """vSAN's rule: a vote majority is available *and* the data can be reconstructed.

        So RAID-1 with 2 replicas + 1 witness survives losing any one component but not two,
        even when the component left is a replica that holds all the data.
        """
        return self.has_quorum(available) and self.can_reconstruct(available)

    def tolerates(self) -> int:
        """Failures tolerated (FTT): any this many components may be lost, one more may not.

        Mirror: ``replicas - 1`` when there are enough witnesses to keep a majority; erasure:
        ``m`` (likewise capped by the majority rule); single: 0.
        """
        majority_cap = (self.component_count - 1) // 2
        if self.kind == "mirror":
            return min(self.replicas - 1, majority_cap)
        if self.kind == "erasure":
            return min(self.m, majority_cap)
        return 0

    def why_inaccessible(
        self, available: Collection[int], *, check_votes: bool = True
    ) -> str | None:
        """Why the scheme is inaccessible with these components, or ``None`` if it is not.

        With ``check_votes=False`` only the data is considered (see :meth:`can_reconstruct`).
        """
        present = frozenset(available) & frozenset(range(self.component_count))
        reasons: list[str] = []
        if check_votes and not self.has_quorum(present):
            needed = self.component_count // 2 + 1
            reasons.append(
                f"only {len(present)} of {self.component_count} component votes are available "
                f"and more than half ({needed}) are needed"
            )
        if not self.can_reconstruct(present):
            held = sorted(present & self.data_components)
            if self.kind == "mirror":
                reasons.append(
                    f"none of the {self.replicas} replicas (components "
                    f"{_ranges(range(self.replicas))}) is available"
                )
            elif self.kind == "erasure":
                reasons.append(
                    f"only {len(held)} of the {self.k} shards needed to reconstruct the data "
                    f"are available"
                )
            else:
                reasons.append("its only component (0) is unavailable and it has no copy")
        return "; ".join(reasons) or None


def _ranges(indices: Collection[int]) -> str:
    """``[0, 1, 2]`` -> ``"0-2"``; ``[0, 2]`` -> ``"0, 2"``."""
    ordered = sorted(indices)
    if len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ", ".join(str(i) for i in ordered) or "none"


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class DataUnavailable(_ContractDataUnavailable):
    """A volume range cannot be read, written or rebuilt with the available components.

    Subclass of :class:`dpp_sdk.contract.DataUnavailable` (so a ``DppError`` and an
    ``OSError``), with structured fields: ``volume_id``, ``operation`` (``read``, ``write``,
    ``rebuild``), ``offset``, ``length``, ``available`` (sorted component indices), ``scheme``,
    ``reason`` (why, in words) and, for ``rebuild``, ``component``.
    """

    def __init__(
        self,
        *,
        volume_id: str,
        operation: Operation,
        offset: int,
        length: int,
        available: Collection[int],
        scheme: Scheme,
        reason: str,
        component: int | None = None,
    ) -> None:
        self.volume_id = volume_id
        self.operation: Operation = operation
        self.offset = offset
        self.length = length
        self.available: tuple[int, ...] = tuple(sorted(available))
        self.scheme = scheme
        self.reason = reason
        self.component = component
        missing = sorted(frozenset(range(scheme.component_count)) - frozenset(available))
        what = (
            f"rebuild component {component} of volume {volume_id!r}"
            if operation == "rebuild"
            else f"{operation} bytes [{offset}, {offset + length}) of volume {volume_id!r}"
        )
        super().__init__(
            f"cannot {what}: {reason}. Scheme: {scheme.label}, "
            f"{scheme.component_count} components; available: [{_ranges(self.available)}]; "
            f"unavailable: [{_ranges(missing)}]. Bring back the hosts or disks holding the "
            f"unavailable components (exit maintenance, repair the host); if their disks "
            f"failed, those bytes are gone and the data must be restored from a backup."
        )

    def __reduce__(self) -> tuple[Any, ...]:
        fields = {
            "volume_id": self.volume_id,
            "operation": self.operation,
            "offset": self.offset,
            "length": self.length,
            "available": self.available,
            "scheme": self.scheme,
            "reason": self.reason,
            "component": self.component,
        }
        return (_unpickle_error, (fields,))


def _unpickle_error(fields: dict[str, Any]) -> DataUnavailable:
    """Unpickle a :class:`DataUnavailable` (its constructor is keyword-only)."""
    return DataUnavailable(**fields)


# --------------------------------------------------------------------------------------------
# Backends: where component bytes live
# --------------------------------------------------------------------------------------------
