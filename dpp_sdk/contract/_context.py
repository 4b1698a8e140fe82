"""The instance context: a provider's only door to the platform.

The platform hands a provider an :class:`InstanceContext` on every call. It is scoped to one
instance: it sees and changes only that instance's volumes, members, endpoints, secrets and
provider state. Anything outside (another instance's volume, a host's disks) is refused with
:class:`~dpp_sdk.ScopeViolation`.

Every ``ensure`` call is get-or-create keyed by a name the provider chooses, so a verb that
runs again after a crash converges on what exists instead of allocating twice. ``delete``
calls succeed when the object is already gone.
"""

from __future__ import annotations

import abc
from collections.abc import ItemsView, Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import logging

from dpp_sdk.contract._models import (
    JSON,
    AntiAffinity,
    ClusterView,
    EndpointInfo,
    InstanceSpec,
    MemberInfo,
    PoolAntiAffinity,
    SecretInfo,
    VolumeClaim,
    VolumeInfo,
)

__all__ = [
    "Endpoints",
    "InstanceContext",
    "Members",
    "ProviderState",
    "Secret",
    "Secrets",
    "Volumes",
]


class Secret:
    """A secret value that does not leak: ``repr`` and ``str`` are redacted.

    Call :meth:`reveal` where the value is really needed (e.g. to configure the service).
    """

    __slots__ = ("_value", "name")

    def __init__(self, name: str, value: str) -> None:
        self.name = name
        self._value = value

    def reveal(self) -> str:
        """The secret's value."""
        return self._value

    def info(self) -> SecretInfo:
        """The secret's public description (its name)."""
        return SecretInfo(name=self.name)

    def __repr__(self) -> str:
        return f"Secret(name={self.name!r}, value='********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and (self.name, self._value) == (other.name, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", self.name))


class Volumes(abc.ABC):
    """The instance's volumes. Sizes are in GB; bytes written are really stored."""

    @abc.abstractmethod
    def ensure(
        self,
        name: str,
        *,
        size_gb: float,
        policy: str | None = None,
        member: str | None = None,
        pool_anti_affinity: PoolAntiAffinity | None = None,
    ) -> VolumeInfo:
        """Get the volume ``name``, creating it if absent.

        ``policy`` defaults to the instance's policy. ``vsan-sna`` and ``vsan-direct`` volumes
        live on one host, so they need ``member`` (an existing member of this instance): the
        volume is placed on that member's host and attached to it. Placement follows the
        policy (components on distinct fault domains, raw capacity reserved per policy; a
        ``vsan-direct`` volume goes to the direct disk of the host with the most free space,
        a storage pool it may share with other volumes). ``pool_anti_affinity`` (only for
        ``vsan-direct``) keeps it off the direct disks holding this instance's other volumes
        of the same group, see :class:`~dpp_sdk.PoolAntiAffinity`.

        If the volume exists it is returned as is, even if ``size_gb`` differs (use
        :meth:`expand`). Raises :class:`~dpp_sdk.PlacementFailed` or
        :class:`~dpp_sdk.QuotaExceeded` when it cannot be placed; nothing is allocated then.
        """

    @abc.abstractmethod
    def plan(
        self,
        name: str,
        *,
        size_gb: float,
        policy: str | None = None,
        member: str | None = None,
        pool_anti_affinity: PoolAntiAffinity | None = None,
        replacing: bool = False,
    ) -> VolumeInfo:
        """Where :meth:`ensure` would place volume ``name`` now, without creating anything
        (the platform's own placement, run and undone); with ``replacing``, as if the volume
        were deleted first. Raises what ``ensure`` would. Allowed in read-only contexts."""

    @abc.abstractmethod
    def find(self, name: str) -> VolumeInfo | None:
        """The volume ``name``, or None."""

    @abc.abstractmethod
    def get(self, name: str) -> VolumeInfo:
        """The volume ``name``; raises :class:`~dpp_sdk.NotFound` if absent."""

    @abc.abstractmethod
    def list(self) -> Sequence[VolumeInfo]:
        """All of the instance's volumes, sorted by name."""

    @abc.abstractmethod
    def expand(self, name: str, size_gb: float) -> VolumeInfo:
        """Grow volume ``name`` to ``size_gb``. Volumes never shrink: a smaller size raises
        :class:`~dpp_sdk.ValidationError`; the same size is a no-op (so a re-run converges)."""

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Delete volume ``name`` and its bytes, releasing its capacity. No-op if absent."""

    @abc.abstractmethod
    def write(self, name: str, offset: int, data: bytes) -> None:
        """Write ``data`` at byte ``offset``. Raises :class:`~dpp_sdk.DataUnavailable` when the
        volume is inaccessible, and :class:`~dpp_sdk.ValidationError` past its size."""

    @abc.abstractmethod
    def read(self, name: str, offset: int, length: int) -> bytes:
        """Read ``length`` bytes at ``offset``, reconstructing from surviving components.
        Raises :class:`~dpp_sdk.DataUnavailable` when too many components are lost or absent."""


class Members(abc.ABC):
    """The instance's members: the service's processes, each placed on a host."""

    @abc.abstractmethod
    def ensure(
        self,
        name: str,
        *,
        volumes: Sequence[VolumeClaim] = (),
        host: str | None = None,
        anti_affinity: AntiAffinity | Sequence[AntiAffinity] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> MemberInfo:
        """Get the member ``name``, creating and placing it if absent.

        The platform picks a connected host that satisfies ``host`` (a pin),
        ``anti_affinity`` (one rule or several, each against this instance's other members of
        its group: say distinct hosts required and distinct fault domains preferred) and has
        room for the ``volumes`` claims, which are created with the member. If the member
        exists it is returned where it is; claimed volumes it lacks are created.
        Raises :class:`~dpp_sdk.PlacementFailed` with ``reason`` ``NotEnoughResources``,
        ``AntiAffinityUnsatisfiable`` or ``PolicyUnsatisfiable``; nothing is allocated then.
        """

    @abc.abstractmethod
    def plan(
        self,
        name: str,
        *,
        volumes: Sequence[VolumeClaim] = (),
        host: str | None = None,
        anti_affinity: AntiAffinity | Sequence[AntiAffinity] | None = None,
        replacing: bool = False,
    ) -> MemberInfo:
        """Where :meth:`ensure` would place member ``name`` now, without creating anything:
        the platform's own placement, run and undone. With ``replacing``, as if the member
        (and its volumes) were deleted first, for "could it be re-created elsewhere?". Raises
        what ``ensure`` would (:class:`~dpp_sdk.PlacementFailed` with its reason,
        :class:`~dpp_sdk.QuotaExceeded`). Allowed in read-only contexts; changes nothing."""

    @abc.abstractmethod
    def find(self, name: str) -> MemberInfo | None:
        """The member ``name``, or None."""

    @abc.abstractmethod
    def get(self, name: str) -> MemberInfo:
        """The member ``name``; raises :class:`~dpp_sdk.NotFound` if absent."""

    @abc.abstractmethod
    def list(self) -> Sequence[MemberInfo]:
        """All of the instance's members, sorted by name."""

    @abc.abstractmethod
    def set_labels(self, name: str, labels: Mapping[str, str]) -> MemberInfo:
        """Replace member ``name``'s labels (e.g. ``{"role": "primary"}``)."""

    @abc.abstractmethod
    def delete(self, name: str, *, delete_volumes: bool = True) -> None:
        """Stop and remove member ``name``; with ``delete_volumes`` also the volumes attached
        to it. No-op if absent."""

    @abc.abstractmethod
    def stop(self, name: str) -> MemberInfo:
        """Evict member ``name`` from a host being drained for maintenance, keeping its
        volumes: it shows as ``stopped`` and runs again when the host leaves maintenance (or
        the maintenance is abandoned). Only for a member on a ``draining`` host; raises
        :class:`~dpp_sdk.Conflict` otherwise. Stopping a stopped member is a no-op."""


class Endpoints(abc.ABC):
    """Network endpoints the instance exposes to its users."""

    @abc.abstractmethod
    def ensure(
        self, name: str, *, port: int, protocol: str = "tcp", member: str | None = None
    ) -> EndpointInfo:
        """Get endpoint ``name``, creating it if absent. With ``member`` the address is that
        member's; without, a service address for the whole instance."""

    @abc.abstractmethod
    def find(self, name: str) -> EndpointInfo | None:
        """The endpoint ``name``, or None."""

    @abc.abstractmethod
    def list(self) -> Sequence[EndpointInfo]:
        """All endpoints, sorted by name."""

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Remove endpoint ``name``. No-op if absent."""


class Secrets(abc.ABC):
    """Secrets of the instance (credentials, keys). Values never reach logs, audit or health."""

    @abc.abstractmethod
    def ensure(self, name: str, *, value: str | None = None, length: int = 32) -> Secret:
        """Get secret ``name``, creating it if absent with ``value`` or, when None, a random
        URL-safe value of ``length`` characters. An existing secret keeps its value."""

    @abc.abstractmethod
    def find(self, name: str) -> Secret | None:
        """The secret ``name``, or None."""

    @abc.abstractmethod
    def list(self) -> Sequence[SecretInfo]:
        """Names of all secrets, sorted."""

    @abc.abstractmethod
    def delete(self, name: str) -> None:
        """Remove secret ``name``. No-op if absent."""


class ProviderState(abc.ABC):
    """Small JSON values the provider keeps per instance (e.g. which member is primary).

    Stored durably with the instance and deleted with it.
    """

    @abc.abstractmethod
    def get(self, key: str, default: JSON = None) -> JSON:
        """The value stored under ``key``, or ``default``."""

    @abc.abstractmethod
    def set(self, key: str, value: JSON) -> None:
        """Store ``value`` (any JSON value) under ``key``."""

    @abc.abstractmethod
    def delete(self, key: str) -> None:
        """Forget ``key``. No-op if absent."""

    @abc.abstractmethod
    def as_dict(self) -> dict[str, JSON]:
        """A copy of everything stored, as a dict."""

    def items(self) -> ItemsView[str, JSON]:
        """``(key, value)`` pairs of everything stored, as ``dict.items()`` gives them (of a
        copy: changing the state meanwhile does not change them)."""
        return self.as_dict().items()


class InstanceContext(abc.ABC):
    """Everything a provider may touch for one instance, and nothing more."""

    @property
    @abc.abstractmethod
    def instance(self) -> str:
        """The instance's name."""

    @property
    @abc.abstractmethod
    def service(self) -> str:
        """The service's name."""

    @property
    @abc.abstractmethod
    def spec(self) -> InstanceSpec:
        """The instance's current spec (plan, capacity, parameters, policy)."""

    @property
    @abc.abstractmethod
    def cluster(self) -> ClusterView:
        """A fresh read-only snapshot of the cluster's hosts and disks."""

    @property
    @abc.abstractmethod
    def volumes(self) -> Volumes:
        """The instance's volumes."""

    @property
    @abc.abstractmethod
    def members(self) -> Members:
        """The instance's members."""

    @property
    @abc.abstractmethod
    def endpoints(self) -> Endpoints:
        """The instance's endpoints."""

    @property
    @abc.abstractmethod
    def secrets(self) -> Secrets:
        """The instance's secrets."""

    @property
    @abc.abstractmethod
    def state(self) -> ProviderState:
        """The provider's durable per-instance key-value state."""

    @property
    @abc.abstractmethod
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        """A logger whose records go to the platform log, tagged with the instance."""
