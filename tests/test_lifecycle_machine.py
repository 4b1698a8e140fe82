"""The instance lifecycle as a Hypothesis state machine, checked against a reference model.

Rules create, scale, configure and remove instances (of a correct provider, and of one that
vetoes every maintenance), fail and recover hosts and disks, put hosts into maintenance and
back, and write bytes. The model says which instances exist (with their service, policy and
capacity), what state each host and disk is in, and which bytes each volume holds; for every
request it says whether the platform must refuse it (and with what), may refuse it, or must
carry it out. After every step the invariants hold: the stored state is consistent, the
capacity reserved is exactly what the model's instances need and within the quota, the
platform lists the model's instances and hosts, and every acknowledged byte reads back.

A failure prints the steps that led to it (Hypothesis' stateful output): a replayable script.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import attrs
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)

import dpp_sdk as dpp
from dpp_sdk import testing
from dpp_sdk.platform import POLICIES, ClusterConfig, MaintenanceVetoed, ManualClock, Platform

HOSTS = 6
DISK_GB = 500
# A 20 % quota (1200 of 6000 GB raw), which two or three large instances reach.
CONFIG = attrs.evolve(
    ClusterConfig.uniform(hosts=HOSTS, capacity_disk_gb=DISK_GB, direct_disks_per_host=0),
    resource_quota=20,
)
PLAN_MAX_GB = 500  # the kv plan's max_capacity_gb (tests/providers.py)
MIN_CACHE_MB = 16  # the kv schema's minimum for cacheMb
SERVICES = {"kv": "tests.providers:KVProvider", "vetoing": "tests.providers:VetoingProvider"}
TOLERANCE = 1e-6

Refusal = type[dpp.DppError] | tuple[type[dpp.DppError], ...]
"""The error a request must be refused with, or the errors one of which it must be."""

names = st.sampled_from(["i0", "i1", "i2"])  # few, so requests often meet an instance
hosts = st.sampled_from([f"esx-0{n}" for n in range(1, HOSTS + 1)])
disks = st.sampled_from(["cap-0", "cap-1"])
policies = st.sampled_from(
    ["vsan-default", "vsan-raid5", "vsan-raid6", "vsan-sna", "vsan-default-thick", "vsan-sna-thick"]
)
modes = st.sampled_from(dpp.MaintenanceMode)


@attrs.define
class Instance:
    """What the model knows of an instance, and the bytes acknowledged on its volume."""

    service: str
    policy: str
    capacity_gb: int
    writes: list[tuple[int, bytes]] | None = attrs.Factory(list)
    """Acknowledged writes in order; None once a disk failure may have destroyed them."""
    extent: int = 0
    """How far its volume was written (what a thin policy reserves)."""

    @property
    def raw_gb(self) -> float:
        """Raw capacity its one volume reserves: all of it when thick, what was written
        when thin."""
        policy = POLICIES[self.policy]
        return math.fsum(policy.reserved_sizes_gb(self.capacity_gb, self.extent / 1024**3))


class LifecycleMachine(RuleBasedStateMachine):
    """A platform with the kv and vetoing services, and the model it must agree with.

    Bundles hold what earlier steps made (instances created, hosts failed or in maintenance,
    disks failed), so that later steps often act on them; every rule also takes arbitrary
    names, for the refusals."""

    created = Bundle("created")
    failed_hosts = Bundle("failed_hosts")
    hosts_in_maintenance = Bundle("hosts_in_maintenance")
    failed_disks_made = Bundle("failed_disks_made")

    def __init__(self) -> None:
        super().__init__()
        self.platform = Platform.open(config=CONFIG, clock=ManualClock())
        for ref in SERVICES.values():
            self.platform.register_service(ref)
        self.quota_gb = self.platform.resources().quota_gb
        self.instances: dict[str, Instance] = {}
        self.hosts = {f"esx-0{n}": "connected" for n in range(1, HOSTS + 1)}
        self.failed_disks: set[tuple[str, str]] = set()

    def teardown(self) -> None:
        self.platform.close()

    # ------------------------------------------------------------------ model helpers

    @property
    def used_gb(self) -> float:
        """Raw capacity the model's instances reserve."""
        return sum(i.raw_gb for i in self.instances.values())

    @property
    def degraded(self) -> bool:
        """Whether some host or disk is out of service (placements and I/O may fail)."""
        return bool(self.failed_disks) or any(s != "connected" for s in self.hosts.values())

    def placement_may_fail(self, policy: str, capacity_gb: int) -> bool:
        """Whether placing a volume of ``policy`` and ``capacity_gb`` may fail: the cluster
        is degraded, or one component needs more than half a disk (disks fill unevenly; a
        quota of a fifth of the raw capacity leaves room for anything smaller)."""
        largest = max(POLICIES[policy].component_sizes_gb(capacity_gb))
        return self.degraded or largest > DISK_GB / 2

    def outcome(
        self,
        call: Callable[[], object],
        *,
        must: Refusal | None = None,
        may: tuple[type[dpp.DppError], ...] = (),
    ) -> bool:
        """Run ``call``; True if it succeeded. When ``must`` is given it must be refused
        with exactly that error (or one of them); otherwise it may be refused only with one
        of ``may``."""
        refusal: dpp.DppError | None = None
        try:
            call()
        except dpp.DppError as exc:
            refusal = exc
        if must is not None:
            expected = must if isinstance(must, tuple) else (must,)
            assert type(refusal) in expected, f"expected {must}, got {refusal!r}"
        elif refusal is not None:
            assert type(refusal) in may, f"the model did not expect {refusal!r}"
        return refusal is None

    # ------------------------------------------------------------------ instances

    @initialize(target=created, policy=policies, capacity_gb=st.integers(1, 200))
    def start_with_an_instance(self, policy: str, capacity_gb: int) -> object:
        """Begin with a kv instance ``i0``, so that the other rules have one to act on."""
        return self.create("i0", "kv", policy, capacity_gb)

    @rule(
        target=created,
        name=names,
        service=st.sampled_from(sorted(SERVICES)),
        policy=policies,
        capacity_gb=st.integers(1, 600),
    )
    def create(self, name: str, service: str, policy: str, capacity_gb: int) -> object:
        """Create an instance: refused if the name exists, the size passes the plan or the
        quota; placement may fail only as :meth:`placement_may_fail` says."""
        raw = POLICIES[policy].raw_gb(capacity_gb)
        over_quota = self.used_gb + raw > self.quota_gb + TOLERANCE
        must: Refusal | None = None
        if name in self.instances or capacity_gb > PLAN_MAX_GB:
            must = dpp.ValidationError
        elif over_quota:
            must = dpp.QuotaExceeded
        may = (dpp.OperationFailed,) if self.placement_may_fail(policy, capacity_gb) else ()
        ok = self.outcome(
            lambda: self.platform.create_instance(
                service=service, name=name, capacity_gb=capacity_gb, policy=policy
            ),
            must=must,
            may=may,
        )
        if not ok:
            return multiple()
        self.instances[name] = Instance(service, policy, capacity_gb)
        return name

    @rule(name=created | names, grow_gb=st.integers(1, 200))
    def scale(self, name: str, grow_gb: int) -> None:
        """Grow an instance: refused if it does not exist, passes the plan or the quota."""
        model = self.instances.get(name)
        if model is None:
            self.outcome(lambda: self.platform.scale_instance(name, 1), must=dpp.NotFound)
            return
        target = model.capacity_gb + grow_gb
        extra = POLICIES[model.policy].raw_gb(target) - POLICIES[model.policy].raw_gb(
            model.capacity_gb
        )
        must: Refusal | None = None
        if target > PLAN_MAX_GB:
            must = dpp.ValidationError
        elif self.used_gb + extra > self.quota_gb + TOLERANCE:
            must = dpp.QuotaExceeded
        may = (dpp.OperationFailed,) if self.placement_may_fail(model.policy, target) else ()
        if self.outcome(lambda: self.platform.scale_instance(name, target), must=must, may=may):
            model.capacity_gb = target

    @rule(name=created | names, cache_mb=st.integers(8, 256))
    def configure(self, name: str, cache_mb: int) -> None:
        """Configure an instance: refused if it does not exist or the value is invalid."""
        must: Refusal | None = None
        if name not in self.instances:
            must = dpp.NotFound
        elif cache_mb < MIN_CACHE_MB:
            must = dpp.ValidationError
        self.outcome(
            lambda: self.platform.configure_instance(name, {"cacheMb": cache_mb}), must=must
        )

    @rule(name=consumes(created) | names, force=st.booleans())
    def remove(self, name: str, force: bool) -> None:
        """Remove an instance (with ``--force`` or through its provider): refused only if it
        does not exist."""
        must = None if name in self.instances else dpp.NotFound
        if self.outcome(lambda: self.platform.remove_instance(name, force=force), must=must):
            del self.instances[name]

    # ------------------------------------------------------------------ bytes

    @rule(
        name=created | names,
        offset=st.integers(0, 100_000),
        length=st.integers(1, 20_000),
        seed=st.integers(0, 250),
    )
    def write_and_read(self, name: str, offset: int, length: int, seed: int) -> None:
        """Write bytes to an instance's volume and read them back: refused if it does not
        exist; may be unavailable only while hardware is out of service."""
        data = bytes((seed + i) % 251 for i in range(length))
        model = self.instances.get(name)
        must = None if model is not None else dpp.NotFound
        may: tuple[type[dpp.DppError], ...] = (dpp.DataUnavailable,) if self.degraded else ()
        if model is not None and POLICIES[model.policy].thin:
            grown = attrs.evolve(model, extent=max(model.extent, offset + length))
            if self.used_gb + grown.raw_gb - model.raw_gb > self.quota_gb - TOLERANCE:
                may = (*may, dpp.OutOfSpace)  # a thin volume grows only within the quota
        platform = self.platform
        if self.outcome(
            lambda: testing.write_volume(platform, name, "data", offset, data), must=must, may=may
        ):
            assert model is not None
            model.extent = max(model.extent, offset + length)
            if model.writes is not None:
                model.writes.append((offset, data))
            assert testing.read_volume(platform, name, "data", offset, length) == data

    # ------------------------------------------------------------------ hosts and disks

    @rule(target=failed_hosts, host=hosts)
    def inject_host_failure(self, host: str) -> object:
        """Fail a host: refused if it has already failed."""
        must = dpp.Conflict if self.hosts[host] == "failed" else None
        if not self.outcome(lambda: self.platform.inject_host_failure(host), must=must):
            return multiple()
        self.hosts[host] = "failed"
        return host

    @rule(host=consumes(failed_hosts) | hosts)
    def clear_host_failure(self, host: str) -> None:
        """Recover a host: refused unless it has failed."""
        must = dpp.Conflict if self.hosts[host] != "failed" else None
        if self.outcome(lambda: self.platform.clear_host_failure(host), must=must):
            self.hosts[host] = "connected"

    @rule(target=failed_disks_made, host=hosts, disk=disks)
    def inject_disk_failure(self, host: str, disk: str) -> object:
        """Fail a disk: refused if it has already failed. Bytes with no other intact copy
        may be lost."""
        must = dpp.Conflict if (host, disk) in self.failed_disks else None
        doomed = self._doomed_by_disk_failure(host, disk)
        if not self.outcome(lambda: self.platform.inject_disk_failure(host, disk), must=must):
            return multiple()
        self.failed_disks.add((host, disk))
        for name in doomed:
            self.instances[name].writes = None
        return (host, disk)

    def _doomed_by_disk_failure(self, host: str, disk: str) -> list[str]:
        """Instances whose bytes a failure of ``host``/``disk`` may destroy: a component
        there, and no redundancy or no other intact copy."""
        doomed = []
        for name in self.instances:
            for volume in self.platform.get_instance(name).volumes:
                here = [c for c in volume.components if (c.host, c.disk) == (host, disk)]
                others = [c for c in volume.components if c not in here]
                fragile = POLICIES[volume.policy].ftt == 0 or any(
                    c.state != "active" for c in others
                )
                if here and fragile:
                    doomed.append(name)
        return doomed

    @rule(failed=consumes(failed_disks_made) | st.tuples(hosts, disks))
    def clear_disk_failure(self, failed: tuple[str, str]) -> None:
        """Replace a disk: refused unless it has failed."""
        host, disk = failed
        must = dpp.Conflict if (host, disk) not in self.failed_disks else None
        if self.outcome(lambda: self.platform.clear_disk_failure(host, disk), must=must):
            self.failed_disks.discard((host, disk))

    @rule(target=hosts_in_maintenance, host=hosts, mode=modes)
    def enter_maintenance(self, host: str, mode: dpp.MaintenanceMode) -> object:
        """Put a host into maintenance: refused unless it is connected, vetoed exactly when
        a vetoing instance has a member or component there; unless nothing moves
        (no-action), a component may find no new home."""
        moves = mode is not dpp.MaintenanceMode.NO_ACTION
        must: Refusal | None = None
        if self.hosts[host] != "connected":
            must = dpp.Conflict
        elif self._vetoers_on(host):
            must = (MaintenanceVetoed, dpp.Conflict) if moves else MaintenanceVetoed
        may = (dpp.Conflict,) if moves else ()
        if not self.outcome(
            lambda: self.platform.enter_maintenance(host, mode), must=must, may=may
        ):
            return multiple()
        self.hosts[host] = "maintenance"
        return host

    def _vetoers_on(self, host: str) -> list[str]:
        """Instances of the vetoing service with a member or a component on ``host``."""
        found = []
        for name, model in self.instances.items():
            info = self.platform.get_instance(name)
            held = {m.host for m in info.members}
            held.update(c.host for v in info.volumes for c in v.components)
            if model.service == "vetoing" and host in held:
                found.append(name)
        return found

    @rule(host=consumes(hosts_in_maintenance) | hosts)
    def exit_maintenance(self, host: str) -> None:
        """Bring a host back from maintenance: refused unless it is in maintenance."""
        must = dpp.Conflict if self.hosts[host] != "maintenance" else None
        if self.outcome(lambda: self.platform.exit_maintenance(host), must=must):
            self.hosts[host] = "connected"

    # ------------------------------------------------------------------ invariants

    @invariant()
    def stored_state_is_consistent(self) -> None:
        """``check_consistency()`` finds nothing."""
        assert self.platform.check_consistency() == []

    @invariant()
    def reserved_is_the_sum_of_live_volumes_within_the_quota(self) -> None:
        """Reserved == sum over live volumes == what the model's instances need <= quota."""
        report = self.platform.resources()
        live = sum(
            math.fsum(POLICIES[v.policy].reserved_sizes_gb(v.size_gb, v.written_gb))
            for info in self.platform.list_instances(limit=None)
            for v in info.volumes
        )
        assert report.reserved_gb == pytest.approx(live, abs=TOLERANCE)
        assert report.reserved_gb == pytest.approx(self.used_gb, abs=TOLERANCE)
        assert report.reserved_gb <= report.quota_gb + TOLERANCE

    @invariant()
    def the_platform_lists_the_model_instances_and_hosts(self) -> None:
        """Same instances (service, policy, capacity), none busy; same host states."""
        listed = {
            info.name: (info.service, info.spec.policy, info.spec.capacity_gb)
            for info in self.platform.list_instances(limit=None)
        }
        assert listed == {
            name: (i.service, i.policy, i.capacity_gb) for name, i in self.instances.items()
        }
        settled = {dpp.InstanceStatus.READY, dpp.InstanceStatus.DEGRADED}
        statuses = {i.name: i.status for i in self.platform.list_instances(limit=None)}
        assert {n: s for n, s in statuses.items() if s not in settled} == {}
        assert {h.name: h.state for h in self.platform.list_hosts()} == self.hosts

    @invariant()
    def acknowledged_bytes_read_back(self) -> None:
        """Every acknowledged write of an accessible volume reads back, byte for byte."""
        platform = self.platform
        for name, model in self.instances.items():
            if not model.writes:
                continue
            (volume,) = (v for v in platform.get_instance(name).volumes if v.name == "data")
            if not volume.accessible:
                continue
            start = min(offset for offset, _ in model.writes)
            end = max(offset + len(data) for offset, data in model.writes)
            want = bytearray(end - start)
            for offset, data in model.writes:
                want[offset - start : offset - start + len(data)] = data
            assert testing.read_volume(platform, name, "data", start, end - start) == want


def test_any_sequence_of_lifecycle_steps_agrees_with_the_reference_model() -> None:
    """After every create, scale, configure, remove, fault, maintenance and write step, the
    platform is consistent and agrees with the reference model."""
    run_state_machine_as_test(
        LifecycleMachine,
        settings=settings(max_examples=30, stateful_step_count=30, deadline=None, print_blob=True),
    )
