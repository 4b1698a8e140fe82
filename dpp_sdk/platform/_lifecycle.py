"""Instance lifecycle: create, configure, scale and remove, each checked before anything is
allocated, then run as an operation through its plan.

One plan per kind of operation says what running it does and what success, failure and
abandonment leave behind:

================== ========================== ========================== =====================
plan               success                    failure                    abandoned
================== ========================== ========================== =====================
provision          ready, health refreshed    everything reclaimed,      same as failure
                                              instance deleted
configure / scale  ready, health refreshed    what the attempt made      ready
                                              released, previous spec
decommission       leftovers reclaimed (and   instance ``failed``        instance ``failed``
                   reported as leaked),
                   instance deleted
forced decommission everything reclaimed,     (cannot fail)              instance ``failed``
                   instance deleted
================== ========================== ========================== =====================

All four are resumed after a crash (the verbs are idempotent); see :mod:`._recovery`.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Mapping
from typing import Any

import attrs

from dpp_sdk.contract import (
    Conflict,
    DppError,
    HealthStatus,
    InstanceSpec,
    InstanceStatus,
    Manifest,
    Operation,
    OperationError,
    OperationState,
    Problem,
    QuotaExceeded,
    Redundancy,
    ValidationError,
    resolve_instance_spec,
    unstructure,
)
from dpp_sdk.contract._errors import count
from dpp_sdk.platform import _placement
from dpp_sdk.platform._catalog import Catalog
from dpp_sdk.platform._checks import (
    INSTANCE_NAME,
    check_request_types,
    check_text,
    mask_parameters,
    placement_errors,
)
from dpp_sdk.platform._footprint import Footprints
from dpp_sdk.platform._health import Health
from dpp_sdk.platform._journal import Journal
from dpp_sdk.platform._operations import OperationEngine, Plan, Run
from dpp_sdk.platform._owners import owner_alive
from dpp_sdk.platform._plans import Change, Decommission, Provision
from dpp_sdk.platform._policies import POLICIES
from dpp_sdk.platform._records import InstanceRecord
from dpp_sdk.platform._repairs import Repairs
from dpp_sdk.platform._repository import Repository
from dpp_sdk.platform._resources import InstanceResources
from dpp_sdk.platform._secret_params import SecretParameters, hiding

__all__ = ["Lifecycle"]

Build = Callable[[InstanceRecord, Manifest], InstanceSpec]
_CHANGE_TRIES = 20  # checks of a change redone because another process changed the instance


class Lifecycle:
    """Instance requests, validated up front and run as operations."""

    def __init__(
        self,
        *,
        repo: Repository,
        journal: Journal,
        catalog: Catalog,
        engine: OperationEngine,
        resources: InstanceResources,
        health: Health,
        repairs: Repairs,
    ) -> None:
        self.repo = repo
        self.journal = journal
        self.catalog = catalog
        self.engine = engine
        self.resources = resources
        self.health = health
        self.repairs = repairs
        self.secrets = SecretParameters(repo, catalog)
        self.footprints = Footprints(repo, catalog, resources)
        self.plans: dict[str, Plan] = {
            "provision": Provision(self),
            "configure": Change(self, "configure"),
            "scale": Change(self, "scale"),
            "decommission": Decommission(self),
        }

    # ------------------------------------------------------------------ running

    def run(self, run: Run) -> None:
        """Drive ``run`` through its kind's plan, then deliver queued failure events."""
        self.engine.drive(run, self.plans[run.record.kind])
        self.repairs.deliver_pending(run.target)

    def execute(self, run: Run) -> Operation:
        """:meth:`run`, then the operation as callers get it (OperationFailed if it failed)."""
        self.run(run)
        return self.engine.finish(run)

    # ------------------------------------------------------------------ checks

    def _check_enabled(self) -> None:
        if not self.repo.config.enabled:
            raise Conflict(
                "the data persistence platform is disabled ([vsan-datapersistence] enabled = "
                "false); existing instances can only be removed"
            )

    def _check_busy(self, record: InstanceRecord) -> None:
        if self.repo.is_busy(record):
            raise Conflict(
                f"instance {record.name!r} is {record.status.value} (operation "
                f"{record.operation}); wait for it to finish"
            )

    def check_quota_for(self, spec: InstanceSpec, previous_gb: int = 0) -> None:
        """QuotaExceeded if ``spec`` (grown from ``previous_gb``) passes the resource quota."""
        policy = self.repo.config.layout(spec.policy)
        extra = policy.raw_gb(spec.capacity_gb) - policy.raw_gb(previous_gb)
        with self.repo.lock:
            what = (
                f"capacity_gb {spec.capacity_gb} with policy {spec.policy} needs "
                f"{extra:.1f} GB of raw capacity"
            )
            with placement_errors(what):
                _placement.check_quota(
                    self.repo.cluster(), max(0.0, extra), _placement.pool_kind(policy)
                )

    def _quota_problems(self, capacity_gb: int | None, policy: str) -> list[Problem]:
        """The quota problem of a request refused for other reasons, so all are listed."""
        if (
            capacity_gb is None
            or capacity_gb < 1  # refused already; no quota to compute for it
            or not isinstance(policy, str)
            or policy not in POLICIES
        ):
            return []
        try:
            self.check_quota_for(InstanceSpec(plan="", capacity_gb=capacity_gb, policy=policy))
        except QuotaExceeded as exc:
            return [Problem(path="$.capacity_gb", value=capacity_gb, message=str(exc))]
        return []

    # ------------------------------------------------------------------ create

    def _resolve_create(
        self,
        *,
        service: str,
        name: str,
        capacity_gb: int | None,
        parameters: Mapping[str, Any] | None,
        plan: str | None,
        policy: str | None,
    ) -> tuple[InstanceSpec, str]:
        """The new instance's spec and service version; every problem at once."""
        problems: list[Problem] = []
        if not isinstance(name, str) or not INSTANCE_NAME.fullmatch(name):
            problems.append(
                Problem(
                    path="$.name",
                    value=name,
                    message="must start with a letter; letters, digits, '_', '.', '-'; "
                    "at most 63 characters",
                )
            )
        try:
            record, version, provider = self.catalog.active(service)
        except DppError as exc:
            problems.append(Problem(path="$.service", value=service, message=str(exc)))
            raise ValidationError(
                f"request for instance {name!r} is invalid ({count(len(problems), 'problem')})",
                problems,
            ) from None
        if not record.enabled:
            problems.append(Problem(path="$.service", value=service, message="service is disabled"))
        manifest = version.manifest
        if (
            policy is None
            and manifest.redundancy is Redundancy.PLATFORM
            and self.repo.config.default_policy in manifest.supported_policies
        ):
            # A service that relies on the platform's redundancy takes the admin's
            # default policy when it supports it; self-replicating services keep theirs.
            policy = self.repo.config.default_policy
        spec: InstanceSpec | None = None
        try:
            spec = resolve_instance_spec(
                manifest,
                plan=plan,
                capacity_gb=capacity_gb,
                parameters=dict(parameters or {}),
                policy=policy,
            )
        except ValidationError as exc:
            problems.extend(exc.problems)
        if isinstance(name, str) and self.repo.find_instance(name) is not None:
            problems.append(Problem(path="$.name", value=name, message="already exists"))
        if spec is not None:
            problems.extend(self.catalog.validate(provider, spec, None))
        if problems:
            problems.extend(self._quota_problems(capacity_gb, policy or manifest.default_policy))
            raise ValidationError(
                f"request for a {service} instance {name!r} is invalid "
                f"({count(len(problems), 'problem')})",
                problems,
            )
        assert spec is not None
        self.check_quota_for(spec)
        self.footprints.check(provider, spec, name)
        return spec, version.version

    def create(
        self,
        *,
        service: str,
        name: str,
        capacity_gb: int | None,
        parameters: Mapping[str, Any] | None,
        plan: str | None,
        policy: str | None,
        idempotency_key: str | None,
    ) -> Operation:
        """See :meth:`Platform.create_instance`."""
        check_request_types(capacity_gb=capacity_gb, parameters=parameters)
        check_text("$.service", service, "the name of a registered service")
        with self.repo.lock:  # one hold for the checks: one look at the data version
            secret_names = self.secrets.names_of_service(service)
            shown, _ = mask_parameters(dict(parameters or {}), secret_names)
            request = {
                "service": service,
                "capacity_gb": capacity_gb,
                "parameters": shown,
                "plan": plan,
                "policy": policy,
            }
            if self.engine.prior(idempotency_key) is not None:
                run, _ = self.engine.new("provision", name, request, idempotency_key)
                return self.engine.finish(run)
            _, submitted = mask_parameters(dict(parameters or {}), secret_names)
            with (
                self.journal.refusals("instance.provision", str(name)),
                hiding(submitted.values()),
            ):
                self._check_enabled()
                spec, version = self._resolve_create(
                    service=service,
                    name=name,
                    capacity_gb=capacity_gb,
                    parameters=parameters,
                    plan=plan,
                    policy=policy,
                )
            with self.repo.store.transaction():
                if self.repo.find_instance(name) is not None:
                    raise Conflict(f"instance {name!r} was created meanwhile by another process")
                run, created = self.engine.new(
                    "provision", name, request, idempotency_key, started=True
                )
                now = self.repo.clock.now()
                masked, secrets = mask_parameters(spec.parameters, secret_names)
                self.repo.put_instance(
                    InstanceRecord(
                        name=name,
                        uid=uuid.uuid4().hex,
                        service=service,
                        service_version=version,
                        spec=attrs.evolve(spec, parameters=masked),
                        status=InstanceStatus.PROVISIONING,
                        health=HealthStatus.GREEN,
                        operation=run.id,
                        created_at=now,
                        updated_at=now,
                    )
                )
                self.repo.put_secret_parameters(name, secrets)
                if not created:  # another process's, with this key: started here
                    self.engine.start(run)
        return self.execute(run)

    # ------------------------------------------------------------------ changes

    def begin_change(
        self,
        kind: str,
        name: str,
        request: Mapping[str, Any],
        *,
        idempotency_key: str | None,
        build: Build,
        status: InstanceStatus,
    ) -> Operation:
        """Check and start a change of an existing instance (configure, scale, decommission).

        The new spec is built from the instance as read before the transaction (the
        provider's ``validate`` runs outside it); inside, the instance is read again, and if
        another process changed it meanwhile the whole check runs again on what it is now, so
        no change is built on a stale spec."""
        for _ in range(_CHANGE_TRIES):
            started = self._try_change(
                kind, name, request, idempotency_key=idempotency_key, build=build, status=status
            )
            if isinstance(started, Operation):
                return started
            if started is not None:
                return self.execute(started)
        raise Conflict(
            f"instance {name!r} kept changing in other processes while this {kind} was being "
            f"checked ({_CHANGE_TRIES} tries); ask again"
        )

    def _try_change(
        self,
        kind: str,
        name: str,
        request: Mapping[str, Any],
        *,
        idempotency_key: str | None,
        build: Build,
        status: InstanceStatus,
    ) -> Operation | Run | None:
        """The started run; the finished operation of a repeated key; or None when the
        instance changed under the check (try again)."""
        with self.repo.lock:
            found = self.repo.find_instance(name)
            names = frozenset() if found is None else self.secrets.names_of(found)
            submitted: dict[str, object] = {}
            if "parameters" in request:
                shown, submitted = mask_parameters(request["parameters"], names)
                request = {**request, "parameters": shown}
            if self.engine.prior(idempotency_key) is not None:
                run, _ = self.engine.new(kind, name, request, idempotency_key)
                return self.engine.finish(run)
            record = self.repo.instance(name)
            self._check_busy(record)
            real = attrs.evolve(record, spec=self.repo.real_spec(record))
            hidden = [
                *submitted.values(),
                *mask_parameters(real.spec.parameters, names)[1].values(),
            ]
            with self.journal.refusals(f"instance.{kind}", name), hiding(hidden):
                new_spec = self._checked_spec(kind, real, build)
            masked, secrets = mask_parameters(new_spec.parameters, names)
            new_spec = attrs.evolve(new_spec, parameters=masked)
            with self.repo.store.transaction():
                now = self.repo.instance(name)
                self._check_busy(now)  # another process may have begun
                if now != record:
                    return None
                run, created = self.engine.new(
                    kind,
                    name,
                    request,
                    idempotency_key,
                    extra={"spec": unstructure(new_spec), "previous": unstructure(record.spec)},
                    started=True,
                )
                self.repo.update_instance(name, spec=new_spec, status=status, operation=run.id)
                self.secrets.stash_and_store(name, secrets)
                if not created:  # another process's, with this key: started here
                    self.engine.start(run)
        return run

    def _checked_spec(self, kind: str, record: InstanceRecord, build: Build) -> InstanceSpec:
        """The spec the change asks for, refused with every problem if it may not happen."""
        name = record.name
        if kind != "decommission":
            self._check_enabled()
            if record.status is InstanceStatus.FAILED:
                raise Conflict(
                    f"instance {name!r} is failed (an operation on it did not finish: see "
                    f"'dpp operation list --target {name}'); it can only be removed"
                )
        new_spec = build(record, self.catalog.version_of(record).manifest)
        if kind != "decommission":
            provider = self.catalog.provider_of(record)
            problems = self.catalog.validate(provider, new_spec, record.spec)
            if problems:
                raise ValidationError(
                    f"{kind} of {name!r} is invalid ({count(len(problems), 'problem')})", problems
                )
            self.footprints.check_change(provider, new_spec, name)
        return new_spec

    def configure(
        self, name: str, parameters: Mapping[str, Any], idempotency_key: str | None
    ) -> Operation:
        """See :meth:`Platform.configure_instance`."""
        check_request_types(capacity_gb=None, parameters=parameters, need_parameters=True)

        def build(record: InstanceRecord, manifest: Manifest) -> InstanceSpec:
            current = record.spec
            return resolve_instance_spec(
                manifest,
                plan=current.plan,
                capacity_gb=current.capacity_gb,
                parameters={**current.parameters, **parameters},
                policy=current.policy,
            )

        return self.begin_change(
            "configure",
            name,
            {"parameters": dict(parameters)},
            idempotency_key=idempotency_key,
            build=build,
            status=InstanceStatus.CONFIGURING,
        )

    def _scaled_spec(
        self, record: InstanceRecord, manifest: Manifest, capacity_gb: int
    ) -> InstanceSpec:
        """The spec of ``record`` scaled to ``capacity_gb``, if the manifest, the plan and
        the quota allow it."""
        current = record.spec
        if not isinstance(capacity_gb, int) or isinstance(capacity_gb, bool):
            raise ValidationError.single("$.capacity_gb", capacity_gb, "must be an integer")
        problems = _capability_problems(manifest, current.capacity_gb, capacity_gb)
        spec: InstanceSpec | None = None
        try:
            spec = resolve_instance_spec(
                manifest,
                plan=current.plan,
                capacity_gb=capacity_gb,
                parameters=current.parameters,
                policy=current.policy,
            )
        except ValidationError as exc:
            problems.extend(exc.problems)
        if problems:
            raise ValidationError(
                f"scaling {record.name!r} to {capacity_gb} GB is invalid "
                f"({count(len(problems), 'problem')})",
                problems,
            )
        assert spec is not None
        self.check_quota_for(spec, previous_gb=current.capacity_gb)
        return spec

    def scale(self, name: str, capacity_gb: int, idempotency_key: str | None) -> Operation:
        """See :meth:`Platform.scale_instance`."""

        def build(record: InstanceRecord, manifest: Manifest) -> InstanceSpec:
            return self._scaled_spec(record, manifest, capacity_gb)

        return self.begin_change(
            "scale",
            name,
            {"capacity_gb": capacity_gb},
            idempotency_key=idempotency_key,
            build=build,
            status=InstanceStatus.SCALING,
        )

    def remove(self, name: str, force: bool, idempotency_key: str | None) -> Operation:
        """See :meth:`Platform.remove_instance`."""

        def build(record: InstanceRecord, manifest: Manifest) -> InstanceSpec:
            return record.spec

        if force and self.engine.prior(idempotency_key) is None:
            self._take_over(name)
        return self.begin_change(
            "decommission",
            name,
            {"force": True} if force else {},
            idempotency_key=idempotency_key,
            build=build,
            status=InstanceStatus.DECOMMISSIONING,
        )

    def _take_over(self, name: str) -> None:
        """For a forced removal: fail the operation that holds the instance, unless it runs
        in this very process (it ends by its deadlines), and leave the instance ``failed``."""
        with self.repo.lock, self.repo.store.transaction():
            record = self.repo.find_instance(name)
            if record is None or not record.operation:
                return
            op = self.repo.find_operation(record.operation)
            if op is not None and not op.state.terminal:
                if owner_alive(op.owner) and op.owner.startswith(f"{os.getpid()}:"):
                    raise Conflict(
                        f"instance {name!r} is {record.status.value} by operation {op.id} in "
                        "this process; wait for it to finish (its provider calls have deadlines)"
                    )
                run = Run(op)
                self.engine.save(
                    run,
                    state=OperationState.FAILED,
                    finished_at=self.repo.clock.now(),
                    error=OperationError(
                        type="Superseded",
                        message=f"failed by a forced removal of {name!r}",
                    ),
                )
                self.journal.event(
                    "operation-failed", name, f"{op.id} ({op.kind}) failed by a forced removal"
                )
            self.repo.update_instance(
                name,
                operation=None,
                status=InstanceStatus.FAILED if record.busy_status else record.status,
            )

    def change(
        self,
        name: str,
        *,
        parameters: Mapping[str, Any] | None,
        capacity_gb: int | None,
        idempotency_key: str | None,
    ) -> list[Operation]:
        """See :meth:`Platform.change_instance`."""
        if not parameters and capacity_gb is None:
            raise ValidationError.single(
                "$", None, "nothing to change: give parameters, capacity_gb, or both"
            )
        both = bool(parameters) and capacity_gb is not None
        if (
            both
            and capacity_gb is not None
            and self.engine.prior(None if idempotency_key is None else f"{idempotency_key}:scale")
            is None
        ):
            # Refuse the whole change before configuring when the scale would be refused.
            with self.repo.lock, self.journal.refusals("instance.scale", name):
                record = self.repo.instance(name)
                self._scaled_spec(record, self.catalog.version_of(record).manifest, capacity_gb)
        done: list[Operation] = []
        if parameters:
            key = f"{idempotency_key}:configure" if both and idempotency_key else idempotency_key
            done.append(self.configure(name, parameters, key))
        if capacity_gb is not None:
            key = f"{idempotency_key}:scale" if both and idempotency_key else idempotency_key
            try:
                done.append(self.scale(name, capacity_gb, key))
            except DppError as exc:
                if done:
                    exc.add_note(
                        "already done: "
                        + ", ".join(f"{o.kind} {o.id} {o.state.value}" for o in done)
                    )
                raise
        return done


def _capability_problems(manifest: Manifest, current_gb: int, asked_gb: int) -> list[Problem]:
    """Scaling the manifest does not allow."""
    problems: list[Problem] = []
    if asked_gb < current_gb and not manifest.capabilities.capacity_scale_down:
        problems.append(
            Problem(
                path="$.capacity_gb",
                value=asked_gb,
                message=f"{manifest.name} cannot shrink (capacity_scale_down is not declared); "
                f"the instance has {current_gb} GB",
            )
        )
    if asked_gb > current_gb and not manifest.capabilities.capacity_scale_up:
        problems.append(
            Problem(
                path="$.capacity_gb",
                value=asked_gb,
                message=f"{manifest.name} cannot grow (capacity_scale_up is not declared)",
            )
        )
    return problems


def _done(operations: list[Operation]) -> str:
    return "already done: " + ", ".join(f"{o.kind} {o.id} {o.state.value}" for o in operations)
