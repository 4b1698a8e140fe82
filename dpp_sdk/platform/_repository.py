"""The only code that reads or writes the platform's stored records, and the cluster cache.

:class:`Repository` turns typed records (:mod:`._records`) into rows of the store and back,
one row per record, so every get, put and page is an index lookup whose cost does not grow
with the number of instances or hosts.

The cluster
    The cluster's shape comes from the configuration; what changes is stored apart: the host
    and disk states (a small document, rewritten only when a state changes) and the
    reservations, which are not stored at all: they follow from the volume records' components
    and are rebuilt from them when a process first needs them. :meth:`cluster` returns the
    cached :class:`~dpp_sdk.platform._cluster.Cluster`, shared and read-only;
    :meth:`mutation` is the one way to change it: it runs in a store transaction, and every
    mutation writes a new ``cluster_version`` token so other processes sharing the state
    directory reload their cache. If the block raises, the transaction rolls back and the
    cache is dropped (the next read rebuilds it from the rows), so memory never keeps a change
    the database did not.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from typing import Any, TypeVar

import attrs

from dpp_sdk.contract import (
    Conflict,
    InstanceSpec,
    NotFound,
    OperationState,
    structure,
    unstructure,
)
from dpp_sdk.platform._clock import Clock
from dpp_sdk.platform._cluster import ChangeJournal, Cluster, ComponentPlacement
from dpp_sdk.platform._config import ClusterConfig
from dpp_sdk.platform._config_ini import parse_config
from dpp_sdk.platform._journal import MASK, Journal
from dpp_sdk.platform._owners import CallMarks
from dpp_sdk.platform._records import (
    ClockPosition,
    EndpointRecord,
    InstanceRecord,
    LedgerEntry,
    MemberRecord,
    OperationRecord,
    SecretRecord,
    ServiceRecord,
    VolumeRecord,
)
from dpp_sdk.platform._rows import RowCache
from dpp_sdk.platform._store import SCHEMA_VERSION, Store

__all__ = ["Repository"]

R = TypeVar("R")  # a record class, as the generic reads of RowCache take it


def _token() -> str:
    """A fresh version token: 32 random hex digits (as many as a uuid4's hex, which costs more
    to make, and two are made per change of the cluster)."""
    return os.urandom(16).hex()


def _placements(volume: VolumeRecord) -> list[ComponentPlacement]:
    return [c.placement() for c in volume.components]


class Repository(RowCache):
    """Typed access to the store, and the cached cluster. Thread-safe (one re-entrant lock)."""

    def __init__(
        self, store: Store, journal: Journal, clock: Clock, config: ClusterConfig | None
    ) -> None:
        super().__init__(store)
        self.journal = journal
        self.clock = clock
        self._cache: tuple[tuple[int, int], str, Cluster] | None = None
        self._light: tuple[str, Cluster] | None = None  # (states_version, states-only cluster)
        self._warned: tuple[tuple[int, int], bool] | None = None  # what capacity_warned says
        #: In-flight marks of provider calls that no operation records (see CallMarks).
        self.calls = CallMarks(store.state_dir, store.lock_files)
        self.config = self._init_config(config)

    # ------------------------------------------------------------------ configuration

    def _init_config(self, config: ClusterConfig | None) -> ClusterConfig:
        schema = self.store.get_meta("schema")
        if schema is not None and schema != str(SCHEMA_VERSION):
            raise Conflict(
                f"state directory {self.store.state_dir} has storage schema {schema}; this "
                f"dpp-sdk reads schema {SCHEMA_VERSION}: upgrade dpp-sdk, or use a new state "
                "directory"
            )
        stored = self.store.get_meta("config")
        if stored is None:
            chosen = config or ClusterConfig.default()
            with self.store.transaction():
                self.store.set_meta("config", chosen.to_ini())
                self.store.set_meta("cluster_states", json.dumps({"hosts": {}, "disks": {}}))
                self.store.set_meta("cluster_version", _token())
            return chosen
        found = parse_config(stored, source="stored configuration")
        if config is not None and config != found:
            raise Conflict(
                f"state directory {self.store.state_dir} already holds a platform with a "
                "different cluster configuration; open it without a configuration, or use a "
                "new state directory"
            )
        return found

    # ------------------------------------------------------------------ the cluster

    def cluster(self) -> Cluster:
        """The current cluster, shared and READ-ONLY: change it only through :meth:`mutation`.

        Reloaded only when another process changed capacity or states, or a transaction of
        ours rolled back."""
        with self.lock:
            version = self._version()
            cached = self._cache
            if cached is not None and cached[0] == version:
                return cached[2]
            token = self.store.get_meta("cluster_version") or ""
            if cached is not None and cached[1] == token:
                self._cache = (version, token, cached[2])
                return cached[2]
            cluster = self._load_cluster()
            self._cache = (version, token, cluster)
            return cluster

    def states(self) -> Cluster:
        """The cluster for reading host and disk states only (views: what is up, what is
        absent): the full cluster when this process has it, else one built from the states
        alone, without reading every volume. Never use it for capacity or placement."""
        with self.lock:
            version = self._version()
            cached = self._cache
            if cached is not None and cached[0] == version:
                return cached[2]
            token = self.store.get_meta("states_version") or ""
            light = self._light
            if light is not None and light[0] == token:
                return light[1]
            if cached is not None and cached[1] == (self.store.get_meta("cluster_version") or ""):
                self._cache = (version, cached[1], cached[2])
                return cached[2]
            cluster = self._load_cluster(reservations=False)
            self._light = (token, cluster)
            return cluster

    def _load_cluster(self, *, reservations: bool = True) -> Cluster:
        states = json.loads(self.store.get_meta("cluster_states") or "{}")
        disk_states = {
            (host, disk): state
            for key, state in states.get("disks", {}).items()
            for host, _, disk in [key.partition("/")]
        }
        return Cluster.restore(
            self.config,
            host_states=states.get("hosts", {}),
            disk_states=disk_states,
            reservations=(
                (volume.id, placement)
                for volume in (self.all_volumes() if reservations else ())
                for placement in _placements(volume)
            ),
        )

    def _save_states(self, journal: ChangeJournal, cluster: Cluster) -> None:
        """Persist the host and disk states (only called when a mutation changed some)."""
        states = json.loads(self.store.get_meta("cluster_states") or "{}")
        hosts: dict[str, str] = states.setdefault("hosts", {})
        disks: dict[str, str] = states.setdefault("disks", {})
        for name, state in journal.hosts.items():
            hosts.pop(name, None)
            if state != "connected":
                hosts[name] = state
        for (host, name), disk_state in journal.disks.items():
            disks.pop(f"{host}/{name}", None)
            if disk_state != "healthy":
                disks[f"{host}/{name}"] = disk_state
        self.store.set_meta("cluster_states", json.dumps(states, sort_keys=True))

    @contextlib.contextmanager
    def mutation(self) -> Iterator[Cluster]:
        """One atomic change of the cluster and records; yields the cluster to change.

        The cluster records every change it undergoes (:meth:`Cluster.changes`): if the block
        (or the commit) raises, the transaction rolls back and the cluster is restored change
        by change, so memory never keeps what the database did not. Host and disk states that
        changed are saved; a new ``cluster_version`` tells other processes to reload."""
        with self.lock:
            cluster = self.cluster()
            with cluster.changes() as journal, self.store.transaction():
                yield cluster
                if journal.hosts or journal.disks:
                    self._save_states(journal, cluster)
                    self.store.set_meta("states_version", _token())
                    self._light = None
                token = _token()
                self.store.set_meta("cluster_version", token)
                self._cache = (self._version(), token, cluster)
                self._capacity_warning(cluster)
            # An outer transaction may still roll back; the store then bumps its rollback
            # count, the data version no longer matches and the token is read again.

    def _capacity_warning(self, cluster: Cluster) -> None:
        warning = cluster.capacity_warning()
        version = self._version()
        if self._warned is not None and self._warned[0] == version and self._warned[1] == warning:
            return  # nothing to change, as far as this transaction can see
        warned = self.store.get_meta("capacity_warned") == "1"
        self._warned = (version, warning)  # what capacity_warned says once this returns
        if warning and not warned:
            self.store.set_meta("capacity_warned", "1")
            self.journal.event(
                "capacity-warning",
                "cluster",
                f"pool use {cluster.pool_used_percent():.1f}% reached the warning threshold "
                f"of {cluster.capacity_warning_percent}%",
            )
        elif warned and not warning:
            self.store.set_meta("capacity_warned", "0")
            self.journal.event(
                "capacity-ok", "cluster", "pool use is back under the warning threshold"
            )

    # ------------------------------------------------------------------ services

    def find_service(self, name: str) -> ServiceRecord | None:
        """Service ``name``, or None."""
        return self._get(ServiceRecord, "service", "", name)

    def service(self, name: str) -> ServiceRecord:
        """Service ``name``; NotFound listing the registered ones."""
        found = self.find_service(name)
        if found is None:
            known = [s.name for s in self.services()]
            raise NotFound("service", name, f"registered services: {known or 'none'}")
        return found

    def services(self) -> list[ServiceRecord]:
        """Every service, by name."""
        return self._all(ServiceRecord, "service", "")

    def count_services(self) -> int:
        """How many services are registered."""
        return self.store.count("service")

    def put_service(self, record: ServiceRecord) -> None:
        """Save a service."""
        self._put("service", "", record.name, record)

    # ------------------------------------------------------------------ instances

    def find_instance(self, name: str) -> InstanceRecord | None:
        """Instance ``name``, or None."""
        return self._get(InstanceRecord, "instance", "", name)

    def instance(self, name: str) -> InstanceRecord:
        """Instance ``name``; NotFound if there is none."""
        found = self.find_instance(name)
        if found is None:
            raise NotFound("instance", name)
        return found

    def put_instance(self, record: InstanceRecord) -> None:
        """Save an instance."""
        self._put("instance", "", record.name, record, attr=record.service)

    def update_instance(self, name: str, **changes: Any) -> InstanceRecord:
        """Change fields of instance ``name`` (and its ``updated_at``) in one transaction."""
        with self.lock, self.store.transaction():
            record = attrs.evolve(self.instance(name), updated_at=self.clock.now(), **changes)
            self.put_instance(record)
            return record

    def delete_instance(self, name: str) -> None:
        """Delete an instance's record and its secret parameters (its resources are deleted
        separately)."""
        with self.lock, self.store.transaction():
            for secret in self._all(SecretRecord, "parameter", name):
                self._delete("parameter", name, secret.name)
            self.calls.finished_all(name)
            self._delete("instance", "", name)

    # -- secret parameters (``writeOnly`` / ``format: password`` in the parameter schema):
    #    records and operations hold MASK in their place; the values are rows of their own.

    def secret_parameters(self, instance: str) -> dict[str, Any]:
        """Values of the instance's secret parameters, by name (``name@previous``: the value
        before a change that is still running)."""
        return {s.name: json.loads(s.value) for s in self._all(SecretRecord, "parameter", instance)}

    def put_secret_parameters(self, instance: str, values: Mapping[str, Any]) -> None:
        """Store secret parameter values (redacted everywhere from now on)."""
        for name, value in values.items():
            self.journal.remember_secret(value if isinstance(value, str) else json.dumps(value))
            record = SecretRecord(name=name, value=json.dumps(value))
            self._put("parameter", instance, name, record)

    def delete_secret_parameter(self, instance: str, name: str) -> None:
        """Forget one stored secret parameter value."""
        self._delete("parameter", instance, name)

    def real_spec(self, record: InstanceRecord) -> InstanceSpec:
        """``record.spec`` with its masked secret parameters filled in (what providers get)."""
        masked = [k for k, v in record.spec.parameters.items() if v == MASK]
        if not masked:
            return record.spec
        values = self.secret_parameters(record.name)
        return attrs.evolve(
            record.spec,
            parameters={k: values.get(k, v) for k, v in record.spec.parameters.items()},
        )

    def instances_page(
        self, *, after: str | None, limit: int | None, service: str | None = None
    ) -> list[InstanceRecord]:
        """Instances named after ``after``, by name, at most ``limit`` (of ``service``)."""
        with self.lock:
            self._fresh()
            cached = self._rows
            names = self.store.page_names("instance", "", after=after, limit=limit, attr=service)
            keys = [("instance", "", name) for name in names]
            if any(cached.get(key) is None for key in keys):  # a row not read yet: read the page
                rows = self.store.page("instance", "", after=after, limit=limit, attr=service)
                for name, body in rows:
                    cached["instance", "", name] = structure(body, InstanceRecord)
                keys = [("instance", "", name) for name, _ in rows]
            return [cached[key] for key in keys]

    def instances(self) -> list[InstanceRecord]:
        """Every instance, by name."""
        return [structure(d, InstanceRecord) for d in self.store.select("instance", "")]

    def count_instances(self, service: str | None = None) -> int:
        """How many instances exist (of ``service``)."""
        return self.store.count("instance", attr=service)

    def is_busy(self, record: InstanceRecord) -> bool:
        """An instance is busy while a lifecycle operation or a repair of it is running."""
        if record.busy_status:
            return True
        if not record.operation:
            return False
        op = self.find_operation(record.operation)
        return op is not None and not op.state.terminal

    # ------------------------------------------------------------------ volumes

    def find_volume(self, instance: str, name: str) -> VolumeRecord | None:
        """Volume ``name`` of ``instance``, or None."""
        return self._get(VolumeRecord, "volume", instance, name)

    def volume(self, instance: str, name: str) -> VolumeRecord:
        """Volume ``name`` of ``instance``; NotFound naming the instance."""
        found = self.find_volume(instance, name)
        if found is None:
            raise NotFound("volume", name, f"instance {instance!r} has no such volume")
        return found

    def volumes(self, instance: str) -> list[VolumeRecord]:
        """The volumes of ``instance``, by name."""
        return self._all(VolumeRecord, "volume", instance)

    def all_volumes(self) -> list[VolumeRecord]:
        """Every volume of every instance."""
        return [structure(d, VolumeRecord) for d in self.store.select("volume")]

    def put_volume(self, record: VolumeRecord) -> None:
        """Save a volume."""
        self._put("volume", record.instance, record.name, record)

    def delete_volume(self, record: VolumeRecord) -> None:
        """Delete a volume's record."""
        self._delete("volume", record.instance, record.name)

    # ------------------------------------------------------------------ members

    def find_member(self, instance: str, name: str) -> MemberRecord | None:
        """Member ``name`` of ``instance``, or None."""
        return self._get(MemberRecord, "member", instance, name)

    def member(self, instance: str, name: str) -> MemberRecord:
        """Member ``name`` of ``instance``; NotFound naming the instance."""
        found = self.find_member(instance, name)
        if found is None:
            raise NotFound("member", name, f"instance {instance!r} has no such member")
        return found

    def members(self, instance: str) -> list[MemberRecord]:
        """The members of ``instance``, by name."""
        return self._all(MemberRecord, "member", instance)

    def put_member(self, instance: str, record: MemberRecord) -> None:
        """Save a member."""
        self._put("member", instance, record.name, record)

    def delete_member(self, instance: str, name: str) -> None:
        """Delete a member's record."""
        self._delete("member", instance, name)

    # ------------------------------------------------------------------ endpoints, secrets

    def find_endpoint(self, instance: str, name: str) -> EndpointRecord | None:
        """Endpoint ``name`` of ``instance``, or None."""
        return self._get(EndpointRecord, "endpoint", instance, name)

    def endpoints(self, instance: str) -> list[EndpointRecord]:
        """The endpoints of ``instance``, by name."""
        return self._all(EndpointRecord, "endpoint", instance)

    def put_endpoint(self, instance: str, record: EndpointRecord) -> None:
        """Save an endpoint."""
        self._put("endpoint", instance, record.name, record)

    def find_secret(self, instance: str, name: str) -> SecretRecord | None:
        """Secret ``name`` of ``instance``, or None."""
        return self._get(SecretRecord, "secret", instance, name)

    def secrets(self, instance: str) -> list[SecretRecord]:
        """The secrets of ``instance``, by name."""
        return self._all(SecretRecord, "secret", instance)

    def put_secret(self, instance: str, record: SecretRecord) -> None:
        """Save a secret; its value is redacted everywhere from now on."""
        self.journal.remember_secret(record.value)
        self._put("secret", instance, record.name, record)

    def delete_named(self, kind: str, instance: str, name: str) -> None:
        """Delete endpoint or secret ``name`` of ``instance`` (no-op if absent)."""
        if kind not in ("endpoint", "secret"):
            raise ValueError(f"not a named resource kind: {kind!r}")
        self._delete(kind, instance, name)

    # ------------------------------------------------------------------ ledger

    def add_ledger(self, uid: str, entry: LedgerEntry) -> None:
        """Note that instance ``uid`` came to hold ``entry.kind``/``entry.name``."""
        key = f"{entry.kind}/{entry.name}/{entry.operation}/{os.urandom(4).hex()}"
        self.store.put("ledger", uid, key, unstructure(entry))

    def ledger(self, uid: str) -> list[dict[str, Any]]:
        """The ledger entries of instance ``uid`` as plain data."""
        return list(self.store.select("ledger", uid))

    # ------------------------------------------------------------------ time

    def host_records(self, cls: type[R], kind: str) -> list[R]:
        """The records of ``kind`` kept one per host (``repair-timer``, ``drain``)."""
        return self._all(cls, kind, "")

    def put_host_record(self, kind: str, host: str, record: Any) -> None:
        """Save ``host``'s record of ``kind``."""
        self._put(kind, "", host, record)

    def delete_host_record(self, kind: str, host: str) -> None:
        """Delete ``host``'s record of ``kind`` (no-op if none)."""
        self._delete(kind, "", host)

    def clock_position(self) -> ClockPosition | None:
        """Where the simulated clock was last advanced to, or None if it never was."""
        return self._get(ClockPosition, "clock", "", "position")

    def put_clock_position(self, position: ClockPosition) -> None:
        """Save the simulated clock's position."""
        self._put("clock", "", "position", position)

    # ------------------------------------------------------------------ operations

    def find_operation(self, op_id: str) -> OperationRecord | None:
        """Operation ``op_id``, or None."""
        with self.lock:
            self._fresh()
            key = ("operation", "", op_id)
            if key in self._rows:
                found: OperationRecord | None = self._rows[key]
                return found
            data = self.store.get_operation(op_id)
            record = None if data is None else structure(data, OperationRecord)
            self._rows[key] = record
            return record

    def operation_by_key(self, key: str) -> OperationRecord | None:
        """The operation created with idempotency key ``key``, or None."""
        data = self.store.operation_by_key(key)
        return None if data is None else structure(data, OperationRecord)

    def put_operation(self, record: OperationRecord) -> None:
        """Save an operation."""
        with self.lock:
            self._fresh()
            self.store.put_operation(unstructure(record))
            self._rows[("operation", "", record.id)] = record

    def operations(
        self,
        *,
        target: str | None = None,
        states: tuple[OperationState, ...] = (),
        after: int = 0,
        limit: int | None = None,
    ) -> list[tuple[int, OperationRecord]]:
        """(position, record) of operations, oldest first, after position ``after``."""
        rows = self.store.operations(
            target=target, states=tuple(s.value for s in states), after=after, limit=limit
        )
        return [(pos, structure(body, OperationRecord)) for pos, body in rows]
