"""The provider contract: :class:`ServiceProvider` and the optional :class:`DataProbe`."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

from dpp_sdk.contract._context import InstanceContext
from dpp_sdk.contract._errors import Problem
from dpp_sdk.contract._models import (
    ClusterView,
    ConfigureRequest,
    DecommissionRequest,
    DrainRequest,
    FailureEvent,
    Footprint,
    HealthReport,
    InstanceSpec,
    MaintenanceDecision,
    MaintenanceRequest,
    Manifest,
    ProvisionRequest,
    ScaleRequest,
)

__all__ = ["DataProbe", "IncompleteProvider", "ServiceProvider"]

VERBS: tuple[str, ...] = ("register", "provision", "configure", "monitor", "scale", "decommission")


class IncompleteProvider(TypeError):
    """A ``ServiceProvider`` subclass was instantiated without implementing every verb."""

    def __init__(self, cls: type, missing: list[str]) -> None:
        self.provider = cls
        self.missing = tuple(missing)
        super().__init__(
            f"{cls.__module__}.{cls.__qualname__} cannot be instantiated: it does not implement "
            f"the abstract verb(s) {', '.join(missing)} of dpp_sdk.ServiceProvider. "
            "Every provider implements register, provision, configure, monitor, scale and "
            "decommission; see each method's docstring for its contract."
        )


class DataProbe(abc.ABC):
    """Writes a canary through the service and reads it back, for durability checks.

    A provider that declares the ``data_probe`` capability returns one from
    :meth:`ServiceProvider.data_probe`. The probe stores data the way the service stores
    user data (through its own replication or erasure coding), so a check can tell whether
    data survived a fault.
    """

    @abc.abstractmethod
    def write(self, key: str, data: bytes) -> None:
        """Store ``data`` under ``key`` as the service would (e.g. majority write concern).
        Raises :class:`~dpp_sdk.DataUnavailable` when the service cannot accept writes."""

    @abc.abstractmethod
    def read(self, key: str) -> bytes:
        """Return exactly the bytes last written under ``key``. Raises
        :class:`~dpp_sdk.DataUnavailable` when they cannot be read, and ``KeyError`` when
        nothing was ever written under ``key``."""


class ServiceProvider(abc.ABC):
    """Base class of every provider. Subclass it and implement the six verbs.

    The platform calls the verbs; a provider never calls the platform except through the
    :class:`~dpp_sdk.InstanceContext` it is handed. Every verb may be called again with the
    same request (a retry, or a resumed operation after a crash, with partial effects in
    place), so each must be **idempotent and re-entrant**: use the context's ``ensure`` calls,
    which get-or-create by name, and make deletes tolerate what is already gone.

    Raising from a verb:

    * :class:`~dpp_sdk.PermanentError`: the operation fails; the platform releases what the
      failed attempt allocated.
    * :class:`~dpp_sdk.TemporaryError` ``(retry_after=s)``: the platform calls the verb again
      after ``s`` seconds (with back-off) until the operation's deadline.
    * anything else: the operation fails with the traceback kept in its error.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> ServiceProvider:
        missing = sorted(getattr(cls, "__abstractmethods__", ()))
        if missing:
            raise IncompleteProvider(cls, missing)
        return super().__new__(cls)

    # ------------------------------------------------------------------ the six verbs

    @abc.abstractmethod
    def register(self, cluster: ClusterView) -> Manifest:
        """Describe the service: return its :class:`~dpp_sdk.Manifest`.

        Called when the service is registered in the catalog (and again on re-registration
        or a platform restart). ``cluster`` is a read-only view of the cluster, for a provider
        that must refuse a cluster it cannot run on: raise :class:`~dpp_sdk.PermanentError`
        saying why.

        Must have no side effects; a second call returns an equal manifest. The platform
        validates the manifest and refuses it with every problem listed.
        """

    @abc.abstractmethod
    def provision(self, ctx: InstanceContext, request: ProvisionRequest) -> None:
        """Create instance ``request.instance`` to ``request.spec``.

        ``request.spec`` is already validated: the plan exists, capacity is within the plan
        and the quota, parameters satisfy the manifest's schema (with defaults filled in), and
        the policy is supported. Create volumes, members, endpoints and secrets through
        ``ctx``. Return when the instance is usable; the platform then marks it ``ready``.

        Called again (retry or crash recovery), it finds what the first call created through
        the ``ensure`` calls and completes the rest; it never allocates twice.
        """

    @abc.abstractmethod
    def configure(self, ctx: InstanceContext, request: ConfigureRequest) -> None:
        """Move the instance to ``request.parameters`` (complete and already validated).

        ``request.changed`` names what differs from ``request.previous``. A change that adds
        or removes members (horizontal scale) is done here. Raise
        :class:`~dpp_sdk.PermanentError` for a change the service cannot make (the platform
        keeps the previous parameters). Called again with the same request, it converges on
        the same result.
        """

    @abc.abstractmethod
    def monitor(self, ctx: InstanceContext) -> HealthReport:
        """Report the instance's health as named checks: green, yellow or red.

        Called often; must not change anything. Judge from what ``ctx`` shows (member states,
        volume states) by the service's own rules (e.g. quorum). The platform combines the
        report with its own view. Never put secret values in messages.
        """

    @abc.abstractmethod
    def scale(self, ctx: InstanceContext, request: ScaleRequest) -> None:
        """Change the instance's capacity to ``request.capacity_gb``.

        Already validated against the plan and the quota. A provider that cannot shrink
        raises :class:`~dpp_sdk.PermanentError` saying so (declare ``capacity_scale_down``
        only if it can). Called again with the same request, it converges (expanding a volume
        to its current size is a no-op).
        """

    @abc.abstractmethod
    def decommission(self, ctx: InstanceContext, request: DecommissionRequest) -> None:
        """Release everything the instance holds: members, volumes, endpoints, secrets.

        After it returns, the platform checks that nothing is left; leftovers are reclaimed
        by the platform and reported as leaks (the conformance suite fails on them). Called
        again, or on a half-decommissioned instance, it removes what remains and succeeds.
        """

    # ------------------------------------------------------------------ optional hooks

    def validate(
        self,
        spec: InstanceSpec,
        cluster: ClusterView,
        *,
        current: InstanceSpec | None = None,
    ) -> Sequence[Problem]:
        """Check what the manifest's JSON Schema cannot express, before any work starts.

        Called by the platform for every create (``current`` is None), configure and scale
        (``current`` is the instance's spec now), after the schema, plan bounds and quota
        checks and before an operation is created or anything allocated. Return every problem
        found (paths like ``$.parameters.parity``); the platform refuses the request with all
        of them plus its own. Must not change anything. The default finds no problems.
        """
        del spec, cluster, current
        return ()

    def on_maintenance(
        self, ctx: InstanceContext, request: MaintenanceRequest
    ) -> MaintenanceDecision:
        """Allow or veto a host (or disk) going into maintenance.

        Called for each instance with a member or volume component on ``request.host``,
        before anything changes. Veto with
        ``MaintenanceDecision.veto(VetoReason.NOT_ENOUGH_RESOURCES, "...")`` when the service
        would lose quorum or data. The default allows.
        """
        del ctx, request
        return MaintenanceDecision.allow()

    def footprint(
        self, spec: InstanceSpec, cluster: ClusterView, *, current: Footprint | None = None
    ) -> Footprint | None:
        """What an instance of ``spec`` will hold: its members with their volume claims and
        anti-affinity, as ``provision`` will ``ensure`` them (or None, the default, to let the
        platform estimate from ``capacity_gb`` and the policy alone).

        With a footprint, a create is checked before anything is allocated: its raw need per
        pool kind against the quota, and a placement dry run of its members on the cluster;
        what cannot fit is refused (``QuotaExceeded`` with used, asked and left, or
        ``PlacementFailed`` with the reason) and audited ``refused``, instead of failing
        half-way through ``provision``. A configure or scale is checked the same way with the
        new spec: ``current`` is then what the instance holds now (None for a create), and
        the footprint is everything it will hold after the change; only what it adds (new
        claims, held volumes growing) is asked of the quota and placed. Must not change
        anything: arithmetic on ``spec`` (and ``current``)."""
        del spec, cluster, current
        return None

    def drain(self, ctx: InstanceContext, request: DrainRequest) -> MaintenanceDecision:
        """Take this instance's members off ``request.host``, which is entering maintenance.

        Called (for a manifest declaring ``capabilities.maintenance_aware``) after the
        pre-check passed, while the host is ``draining``: nothing new is placed there. For a
        ``planned-downtime`` taint, stop the members there (``ctx.members.stop``: they keep
        their data and run again when the host returns) or move them, after handing over any
        role they hold (a primary steps down). For a ``drain`` taint (``evacuate-all``), the
        host's data goes away: re-create the members on other hosts and rebuild their data
        there (``request.local_volumes`` lists what must be rebuilt). Return
        ``MaintenanceDecision.allow()`` when done, or ``veto(reason, message)`` to stop the
        maintenance (what was already moved stays moved). The host enters maintenance only
        when no member of the instance still runs there and, for ``drain``, none of
        ``local_volumes`` is left; otherwise the maintenance fails naming what was left.
        May be called again after a failed attempt; must converge. The default does
        nothing and allows, so a maintenance-aware provider that does not implement it
        leaves its members in the way.
        """
        del ctx, request
        return MaintenanceDecision.allow()

    def on_failure(self, ctx: InstanceContext, event: FailureEvent) -> None:
        """React to a host or disk failure (or recovery) that touches this instance.

        Typically: re-create a lost member on a healthy host, re-elect a leader, resync data.
        May be called again for the same event; must converge. The default does nothing.
        """
        del ctx, event

    def data_probe(self, ctx: InstanceContext) -> DataProbe | None:
        """A :class:`DataProbe` bound to ``ctx``, or None (the default) when the provider
        offers none. Declare ``capabilities.data_probe`` when you return one."""
        del ctx
        return None
