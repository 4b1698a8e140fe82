"""The platform's implementation of :class:`dpp_sdk.InstanceContext`.

Each context is bound to one instance and one call of a provider verb. It forwards every
request to the platform with the instance name fixed, so a provider cannot name anything
outside its instance; once the call returns the context is closed, and using it afterwards
raises :class:`~dpp_sdk.ScopeViolation`.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence

from dpp_sdk.contract import (
    AntiAffinity,
    ClusterView,
    DataProbe,
    EndpointInfo,
    Endpoints,
    InstanceContext,
    InstanceSpec,
    MemberInfo,
    Members,
    NotFound,
    PoolAntiAffinity,
    ProviderState,
    ScopeViolation,
    Secret,
    SecretInfo,
    Secrets,
    VolumeClaim,
    VolumeInfo,
    Volumes,
)
from dpp_sdk.platform._records import JSON
from dpp_sdk.platform._resources import InstanceResources

__all__ = ["Contexts", "GuardedProbe", "PlatformContext"]


class _Guard:
    """Shared open/closed and read-only state of one context, and the one instance (by its
    unique id, not only its name) it is bound to."""

    def __init__(
        self,
        instance: str,
        verb: str,
        *,
        read_only: bool,
        uid: str,
        uid_of: Callable[[str], str | None],
        on_call: Callable[[str], None] | None = None,
    ) -> None:
        self.instance = instance
        self.verb = verb
        self.read_only = read_only
        self.open = True
        self._uid = uid
        self._uid_of = uid_of
        self._on_call = on_call

    def check(self, *, mutating: bool) -> None:
        if self._on_call is not None:
            self._on_call(self.verb)  # a test's crash point (dpp_sdk.testing.crash_and_resume)
        if not self.open:
            raise ScopeViolation(
                f"the context of instance {self.instance!r} handed to {self.verb} was used after "
                "that call returned; keep no reference to a context beyond the call"
            )
        if self._uid_of(self.instance) != self._uid:
            raise ScopeViolation(
                f"instance {self.instance!r} (uid {self._uid}), which this context (or data "
                "probe) was made for, no longer exists; an instance created since under the "
                "same name is another one: a context and a probe die with their instance"
            )
        if mutating and self.read_only:
            raise ScopeViolation(
                f"{self.verb} of instance {self.instance!r} tried to change the instance; "
                f"{self.verb} must only observe"
            )


class _Volumes(Volumes):
    def __init__(self, resources: InstanceResources, guard: _Guard) -> None:
        self._p = resources
        self._g = guard

    def ensure(
        self,
        name: str,
        *,
        size_gb: float,
        policy: str | None = None,
        member: str | None = None,
        pool_anti_affinity: PoolAntiAffinity | None = None,
    ) -> VolumeInfo:
        self._g.check(mutating=True)
        return self._p.ensure_volume(
            self._g.instance,
            name,
            size_gb=size_gb,
            policy=policy,
            member=member,
            pool_anti_affinity=pool_anti_affinity,
        )

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
        self._g.check(mutating=False)
        instance = self._g.instance

        def attempt() -> VolumeInfo:
            if replacing:
                self._p.delete_volume(instance, name)
            return self._p.ensure_volume(
                instance,
                name,
                size_gb=size_gb,
                policy=policy,
                member=member,
                pool_anti_affinity=pool_anti_affinity,
            )

        return self._p.dry_run(attempt)

    def find(self, name: str) -> VolumeInfo | None:
        self._g.check(mutating=False)
        return self._p.find_volume(self._g.instance, name)

    def get(self, name: str) -> VolumeInfo:
        self._g.check(mutating=False)
        return self._p.get_volume(self._g.instance, name)

    def list(self) -> Sequence[VolumeInfo]:
        self._g.check(mutating=False)
        return self._p.list_volumes(self._g.instance)

    def expand(self, name: str, size_gb: float) -> VolumeInfo:
        self._g.check(mutating=True)
        return self._p.expand_volume(self._g.instance, name, size_gb)

    def delete(self, name: str) -> None:
        self._g.check(mutating=True)
        self._p.delete_volume(self._g.instance, name)

    def write(self, name: str, offset: int, data: bytes) -> None:
        # Writing data is what a service does while running; monitor may not do it.
        self._g.check(mutating=True)
        self._p.data.write(self._g.instance, name, offset, data)

    def read(self, name: str, offset: int, length: int) -> bytes:
        self._g.check(mutating=False)
        return self._p.data.read(self._g.instance, name, offset, length)


class _Members(Members):
    def __init__(self, resources: InstanceResources, guard: _Guard) -> None:
        self._p = resources
        self._g = guard

    def ensure(
        self,
        name: str,
        *,
        volumes: Sequence[VolumeClaim] = (),
        host: str | None = None,
        anti_affinity: AntiAffinity | Sequence[AntiAffinity] | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> MemberInfo:
        self._g.check(mutating=True)
        return self._p.ensure_member(
            self._g.instance,
            name,
            volumes=tuple(volumes),
            host=host,
            anti_affinity=anti_affinity,
            labels=dict(labels or {}),
        )

    def plan(
        self,
        name: str,
        *,
        volumes: Sequence[VolumeClaim] = (),
        host: str | None = None,
        anti_affinity: AntiAffinity | Sequence[AntiAffinity] | None = None,
        replacing: bool = False,
    ) -> MemberInfo:
        self._g.check(mutating=False)
        instance, claims = self._g.instance, tuple(volumes)

        def attempt() -> MemberInfo:
            if replacing:
                self._p.delete_member(instance, name, delete_volumes=True)
                for claim in claims:
                    self._p.delete_volume(instance, claim.name)
            return self._p.ensure_member(
                instance, name, volumes=claims, host=host, anti_affinity=anti_affinity, labels={}
            )

        return self._p.dry_run(attempt)

    def find(self, name: str) -> MemberInfo | None:
        self._g.check(mutating=False)
        return self._p.find_member(self._g.instance, name)

    def get(self, name: str) -> MemberInfo:
        self._g.check(mutating=False)
        return self._p.get_member(self._g.instance, name)

    def list(self) -> Sequence[MemberInfo]:
        self._g.check(mutating=False)
        return self._p.list_members(self._g.instance)

    def set_labels(self, name: str, labels: Mapping[str, str]) -> MemberInfo:
        self._g.check(mutating=True)
        return self._p.set_member_labels(self._g.instance, name, dict(labels))

    def delete(self, name: str, *, delete_volumes: bool = True) -> None:
        self._g.check(mutating=True)
        self._p.delete_member(self._g.instance, name, delete_volumes=delete_volumes)

    def stop(self, name: str) -> MemberInfo:
        self._g.check(mutating=True)
        return self._p.stop_member(self._g.instance, name)


class _Endpoints(Endpoints):
    def __init__(self, resources: InstanceResources, guard: _Guard) -> None:
        self._p = resources
        self._g = guard

    def ensure(
        self, name: str, *, port: int, protocol: str = "tcp", member: str | None = None
    ) -> EndpointInfo:
        self._g.check(mutating=True)
        return self._p.ensure_endpoint(
            self._g.instance, name, port=port, protocol=protocol, member=member
        )

    def find(self, name: str) -> EndpointInfo | None:
        self._g.check(mutating=False)
        return self._p.find_endpoint(self._g.instance, name)

    def list(self) -> Sequence[EndpointInfo]:
        self._g.check(mutating=False)
        return self._p.list_endpoints(self._g.instance)

    def delete(self, name: str) -> None:
        self._g.check(mutating=True)
        self._p.delete_named("endpoint", self._g.instance, name)


class _Secrets(Secrets):
    def __init__(self, resources: InstanceResources, guard: _Guard) -> None:
        self._p = resources
        self._g = guard

    def ensure(self, name: str, *, value: str | None = None, length: int = 32) -> Secret:
        self._g.check(mutating=True)
        return self._p.ensure_secret(self._g.instance, name, value=value, length=length)

    def find(self, name: str) -> Secret | None:
        self._g.check(mutating=False)
        return self._p.find_secret(self._g.instance, name)

    def list(self) -> Sequence[SecretInfo]:
        self._g.check(mutating=False)
        return self._p.list_secrets(self._g.instance)

    def delete(self, name: str) -> None:
        self._g.check(mutating=True)
        self._p.delete_named("secret", self._g.instance, name)


class _State(ProviderState):
    def __init__(self, resources: InstanceResources, guard: _Guard) -> None:
        self._p = resources
        self._g = guard

    def get(self, key: str, default: JSON = None) -> JSON:
        self._g.check(mutating=False)
        return self._p.provider_state(self._g.instance).get(key, default)

    def set(self, key: str, value: JSON) -> None:
        self._g.check(mutating=True)
        self._p.set_provider_state(self._g.instance, key, value)

    def delete(self, key: str) -> None:
        self._g.check(mutating=True)
        self._p.set_provider_state(self._g.instance, key, None, delete=True)

    def as_dict(self) -> dict[str, JSON]:
        self._g.check(mutating=False)
        return dict(self._p.provider_state(self._g.instance))


class PlatformContext(InstanceContext):
    """An :class:`~dpp_sdk.InstanceContext` bound to one instance for one provider call."""

    def __init__(
        self,
        resources: InstanceResources,
        instance: str,
        service: str,
        verb: str,
        *,
        logger: logging.LoggerAdapter[logging.Logger],
        cluster_view: Callable[[], ClusterView],
        read_only: bool = False,
        on_call: Callable[[str], None] | None = None,
    ) -> None:
        self._r = resources
        uid = resources.uid_of(instance)
        if uid is None:
            raise NotFound("instance", instance)
        self._guard = _Guard(
            instance, verb, read_only=read_only, uid=uid, uid_of=resources.uid_of, on_call=on_call
        )
        self._service = service
        self._cluster_view = cluster_view
        self._volumes = _Volumes(resources, self._guard)
        self._members = _Members(resources, self._guard)
        self._endpoints = _Endpoints(resources, self._guard)
        self._secrets = _Secrets(resources, self._guard)
        self._state = _State(resources, self._guard)
        self._log = logger

    def close(self) -> None:
        """End the context's validity; later use raises ScopeViolation."""
        self._guard.open = False

    @property
    def instance(self) -> str:
        return self._guard.instance

    @property
    def service(self) -> str:
        return self._service

    @property
    def spec(self) -> InstanceSpec:
        self._guard.check(mutating=False)
        return self._r.spec(self._guard.instance)

    @property
    def cluster(self) -> ClusterView:
        self._guard.check(mutating=False)
        return self._cluster_view()

    @property
    def volumes(self) -> Volumes:
        return self._volumes

    @property
    def members(self) -> Members:
        return self._members

    @property
    def endpoints(self) -> Endpoints:
        return self._endpoints

    @property
    def secrets(self) -> Secrets:
        return self._secrets

    @property
    def state(self) -> ProviderState:
        return self._state

    @property
    def log(self) -> logging.LoggerAdapter[logging.Logger]:
        return self._log


class Contexts:
    """Makes the contexts handed to providers, and closes them when the call returns."""

    def __init__(
        self,
        resources: InstanceResources,
        logger: Callable[[str], logging.LoggerAdapter[logging.Logger]],
        cluster_view: Callable[[], ClusterView],
    ) -> None:
        self._resources = resources
        self._logger = logger
        self._cluster_view = cluster_view
        #: Called with the verb before every context call of every provider (None: nothing).
        #: For tests that stop a verb at a chosen call (``dpp_sdk.testing.crash_and_resume``).
        self.on_call: Callable[[str], None] | None = None

    def new(
        self, instance: str, service: str, verb: str, *, read_only: bool = False
    ) -> PlatformContext:
        """A context that stays open until closed (a data probe's)."""
        return PlatformContext(
            self._resources,
            instance,
            service,
            verb,
            logger=self._logger(instance),
            cluster_view=self._cluster_view,
            read_only=read_only,
            on_call=self.on_call,
        )

    @contextlib.contextmanager
    def open(
        self, instance: str, service: str, verb: str, *, read_only: bool = False
    ) -> Iterator[PlatformContext]:
        """A context for one provider call, closed when the block ends, however it ends."""
        ctx = self.new(instance, service, verb, read_only=read_only)
        try:
            yield ctx
        finally:
            ctx.close()


class GuardedProbe(DataProbe):
    """A provider's data probe whose calls hold the instance's lock, so they never run while
    an operation (a repair, a scale) rearranges the instance, in this process or another."""

    def __init__(
        self, probe: DataProbe, lock: Callable[[], contextlib.AbstractContextManager[None]]
    ):
        self._probe = probe
        self._lock = lock

    def write(self, key: str, data: bytes) -> None:
        with self._lock():
            self._probe.write(key, data)

    def read(self, key: str) -> bytes:
        with self._lock():
            return self._probe.read(key)
