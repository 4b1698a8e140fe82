"""One plan per kind of lifecycle operation: what running it does, and what success, failure
and abandonment leave behind (see the table in :mod:`._lifecycle`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from dpp_sdk.contract import (
    ConfigureRequest,
    DecommissionRequest,
    InstanceSpec,
    InstanceStatus,
    OperationError,
    ProvisionRequest,
    ScaleRequest,
    ServiceProvider,
    structure,
)
from dpp_sdk.platform._context import PlatformContext
from dpp_sdk.platform._health import Health
from dpp_sdk.platform._journal import Journal
from dpp_sdk.platform._operations import OperationEngine, Plan, Run
from dpp_sdk.platform._repository import Repository
from dpp_sdk.platform._resources import InstanceResources
from dpp_sdk.platform._secret_params import SecretParameters, filled

__all__ = ["Change", "Decommission", "Provision", "Tools"]


class Tools(Protocol):
    """What the plans use of the lifecycle."""

    repo: Repository
    journal: Journal
    engine: OperationEngine
    resources: InstanceResources
    health: Health
    secrets: SecretParameters


class Provision(Plan):
    kind = "provision"
    resumable = True

    def __init__(self, life: Tools) -> None:
        self._l = life

    def run(self, run: Run) -> OperationError | None:
        life = self._l
        record = life.repo.instance(run.target)
        run.result["instance_uid"] = record.uid
        request = ProvisionRequest(
            instance=run.target,
            service=record.service,
            spec=life.repo.real_spec(record),
            operation_id=run.id,
        )
        error = life.engine.call_verb(run, lambda p, c: p.provision(c, request))
        if error is None:
            run.carry["health"] = life.health.evaluate(run.target)
        return error

    def settle(self, run: Run, error: OperationError | None) -> None:
        if error is not None:
            self.abandoned(run)
            return
        self._l.repo.update_instance(run.target, status=InstanceStatus.READY, operation=None)
        self._l.health.record(run.carry["health"])

    def abandoned(self, run: Run) -> None:
        run.result["released"] = self._l.resources.reclaim_all(run.target)
        self._l.repo.delete_instance(run.target)


class Change(Plan):
    """Configure or scale: on failure, release what the attempt made and restore the previous
    spec. Either way the instance is ready again and its health refreshed."""

    resumable = True

    def __init__(self, life: Tools, kind: str) -> None:
        self._l = life
        self.kind = kind

    def _call(self, run: Run) -> Callable[[ServiceProvider, PlatformContext], object]:
        life = self._l
        current = life.repo.secret_parameters(run.target)
        before = {**current, **life.secrets.previous(run.target)}
        spec = filled(structure(run.request["spec"], InstanceSpec), current)
        previous = filled(structure(run.request["previous"], InstanceSpec), before)
        if self.kind == "scale":
            scale = ScaleRequest(
                instance=run.target,
                capacity_gb=spec.capacity_gb,
                previous_capacity_gb=previous.capacity_gb,
                operation_id=run.id,
            )
            return lambda p, c: p.scale(c, scale)
        changed = tuple(
            sorted(
                k
                for k in {*previous.parameters, *spec.parameters}
                if previous.parameters.get(k) != spec.parameters.get(k)
            )
        )
        configure = ConfigureRequest(
            instance=run.target,
            parameters=spec.parameters,
            previous=previous.parameters,
            changed=changed,
            operation_id=run.id,
        )
        return lambda p, c: p.configure(c, configure)

    def run(self, run: Run) -> OperationError | None:
        life = self._l
        error = life.engine.call_verb(run, self._call(run))
        if error is not None:
            run.result["released"] = life.resources.release_created_by(run.target, run.id)
            previous = structure(run.request["previous"], InstanceSpec)
            life.repo.update_instance(run.target, spec=previous)
            life.secrets.settle(run.target, failed=True)
        run.carry["health"] = life.health.evaluate(run.target)
        return error

    def settle(self, run: Run, error: OperationError | None) -> None:
        self._l.secrets.settle(run.target, failed=False)
        self._l.repo.update_instance(run.target, status=InstanceStatus.READY, operation=None)
        self._l.health.record(run.carry["health"])

    def abandoned(self, run: Run) -> None:
        self._l.repo.update_instance(run.target, operation=None, status=InstanceStatus.READY)


class Decommission(Plan):
    kind = "decommission"
    resumable = True

    def __init__(self, life: Tools) -> None:
        self._l = life

    def run(self, run: Run) -> OperationError | None:
        life, instance = self._l, run.target
        if run.request.get("force"):
            run.result.update(forced=True, reclaimed=life.resources.reclaim_all(instance))
            return None
        request = DecommissionRequest(instance=instance, operation_id=run.id)
        error = life.engine.call_verb(run, lambda p, c: p.decommission(c, request))
        if error is not None:
            return error
        leaked = life.resources.reclaim_all(instance)
        run.result["leaked"] = leaked
        if leaked:
            life.journal.event(
                "leak",
                instance,
                f"decommission of {instance!r} left {', '.join(leaked)} behind; the "
                "platform reclaimed them",
                leaked=leaked,
            )
        return None

    def settle(self, run: Run, error: OperationError | None) -> None:
        if error is None:
            self._l.repo.delete_instance(run.target)
        else:
            self.abandoned(run)

    def abandoned(self, run: Run) -> None:
        self._l.repo.update_instance(run.target, operation=None, status=InstanceStatus.FAILED)
