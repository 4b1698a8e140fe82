"""Hypothesis strategies for dpp-sdk's models, shared by the test modules."""

from __future__ import annotations

import datetime as dt
import string

import attrs
from hypothesis import strategies as st

import dpp_sdk as dpp

names = st.from_regex(r"\A[a-z][a-z0-9-]{0,20}\Z")
instance_names = st.from_regex(r"\A[A-Za-z][A-Za-z0-9_.-]{0,20}\Z")
text = st.text(string.ascii_letters + string.digits + " .,-", min_size=1, max_size=30)
policies = st.sampled_from(dpp.POLICY_NAMES)
json_scalars = st.none() | st.booleans() | st.integers(-(10**6), 10**6) | text
json_objects = st.dictionaries(names, json_scalars, max_size=4)
datetimes = st.datetimes(
    min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1), timezones=st.just(dt.UTC)
)
semvers = st.builds("{}.{}.{}".format, st.integers(0, 99), st.integers(0, 99), st.integers(0, 99))


@st.composite
def plans(draw: st.DrawFn) -> dpp.Plan:
    low = draw(st.integers(1, 1000))
    return dpp.Plan(
        name=draw(names),
        description=draw(text),
        min_capacity_gb=low,
        max_capacity_gb=draw(st.integers(low, 100_000)),
        parameters={},
    )


@st.composite
def manifests(draw: st.DrawFn) -> dpp.Manifest:
    """Valid manifests: unique plans, default policy among the supported ones."""
    supported = draw(st.lists(policies, min_size=1, max_size=5, unique=True))
    plan_list = draw(st.lists(plans(), min_size=1, max_size=3, unique_by=lambda p: p.name))
    props = draw(
        st.dictionaries(names, st.sampled_from(["integer", "string", "boolean"]), max_size=4)
    )
    schema = {
        "type": "object",
        "properties": {key: {"type": kind} for key, kind in props.items()},
    }
    return dpp.Manifest(
        name=draw(names),
        display_name=draw(text),
        version=draw(semvers),
        vendor=draw(text),
        category=draw(st.sampled_from(dpp.Category)),
        description=draw(text),
        plans=tuple(plan_list),
        parameters_schema=schema,
        supported_policies=tuple(supported),
        default_policy=draw(st.sampled_from(supported)),
        capabilities=draw(st.builds(dpp.Capabilities)),
        redundancy=draw(st.sampled_from(dpp.Redundancy)),
    )


health_checks = st.builds(
    dpp.HealthCheck, name=names, status=st.sampled_from(dpp.HealthStatus), message=text
)
health_reports = st.lists(health_checks, max_size=5).map(dpp.HealthReport.from_checks)


@st.composite
def operations(draw: st.DrawFn) -> dpp.Operation:
    """Operations whose error is set exactly when they failed."""
    state = draw(st.sampled_from(dpp.OperationState))
    created = draw(datetimes)
    error = None
    if state is dpp.OperationState.FAILED:
        error = dpp.OperationError(
            type=draw(names),
            message=draw(text),
            problems=tuple(draw(st.lists(text, max_size=3))),
            traceback=draw(st.none() | text),
        )
    return dpp.Operation(
        id=draw(names),
        kind=draw(st.sampled_from(["provision", "configure", "scale", "decommission"])),
        target=draw(instance_names),
        state=state,
        progress=draw(st.floats(0, 1)),
        error=error,
        idempotency_key=draw(st.none() | names),
        attempts=draw(st.integers(0, 10)),
        result=draw(json_objects),
        created_at=created,
        started_at=draw(st.none() | st.just(created)),
        finished_at=draw(st.none() | st.just(created)) if state.terminal else None,
    )


components = st.builds(
    dpp.ComponentInfo,
    index=st.integers(0, 5),
    role=st.sampled_from(["replica", "witness", "data", "parity", "local", "direct"]),
    host=names,
    disk=names,
    state=st.sampled_from(["active", "absent", "degraded", "active-stale"]),
)
pool_anti_affinities = st.builds(dpp.PoolAntiAffinity, group=names, required=st.booleans())
volumes = st.builds(
    dpp.VolumeInfo,
    name=names,
    size_gb=st.floats(0.001, 1e6),
    policy=policies,
    member=st.none() | names,
    state=st.sampled_from(["healthy", "reduced-availability", "inaccessible"]),
    health=st.sampled_from(dpp.ObjectHealth),
    rebuild_at=st.none() | st.datetimes(timezones=st.just(dt.UTC)),
    components=st.lists(components, max_size=6).map(tuple),
    pool_anti_affinity=st.none() | pool_anti_affinities,
)
anti_affinities = st.builds(
    dpp.AntiAffinity,
    group=names,
    required=st.booleans(),
    scope=st.sampled_from(["host", "fault-domain"]),
)
members = st.builds(
    dpp.MemberInfo,
    name=names,
    host=names,
    state=st.sampled_from(["running", "unreachable", "stopped"]),
    volumes=st.lists(names, max_size=3).map(tuple),
    labels=st.dictionaries(names, text, max_size=3),
    anti_affinity=st.none() | anti_affinities,
)
endpoints = st.builds(
    dpp.EndpointInfo,
    name=names,
    protocol=st.sampled_from(["tcp", "http", "https", "mongodb"]),
    address=names,
    port=st.integers(1, 65535),
    member=st.none() | names,
)
instances = st.builds(
    dpp.InstanceInfo,
    name=instance_names,
    service=names,
    service_version=semvers,
    spec=st.builds(
        dpp.InstanceSpec,
        plan=names,
        capacity_gb=st.integers(1, 10**6),
        parameters=json_objects,
        policy=policies,
    ),
    status=st.sampled_from(dpp.InstanceStatus),
    health=st.sampled_from(dpp.HealthStatus),
    volumes=st.lists(volumes, max_size=3).map(tuple),
    members=st.lists(members, max_size=3).map(tuple),
    endpoints=st.lists(endpoints, max_size=2).map(tuple),
    secrets=st.lists(st.builds(dpp.SecretInfo, name=names), max_size=2).map(tuple),
    created_at=datetimes,
    updated_at=datetimes,
)


# ------------------------------------------------------------------ platform scenarios
#
# Steps of a scenario run against a platform (tests/test_crash_points.py). Each is a small
# frozen value whose repr reads as what the step does, so a failing example printed by
# Hypothesis is the script that replays it. Instances are named by slot: ``i0``, ``i1``, ...

SCENARIO_HOSTS = 5
"""Hosts of the cluster scenarios run on (``esx-01``...); each has capacity disks cap-0/1."""

SCENARIO_POLICIES = ("vsan-default", "vsan-raid5", "vsan-sna")

SCENARIO_PROVIDERS = (
    "tests.providers:KVProvider",
    "tests.providers:FailingProvider",
    "tests.providers:FlakyProvider",
    "tests.providers:LeakyProvider",
    "tests.providers:RepairThenFailProvider",
)
"""Providers a scenario may run: correct, failing provision, retrying, leaking on
decommission, and a repair that re-creates its member then fails."""


@attrs.frozen
class Create:
    """Create instance ``i<slot>`` with ``policy`` and ``capacity_gb``."""

    slot: int
    policy: str
    capacity_gb: int


@attrs.frozen
class Write:
    """Write ``length`` bytes of pattern ``seed`` at ``offset`` of the instance's ``data``."""

    slot: int
    offset: int
    length: int
    seed: int

    @property
    def data(self) -> bytes:
        """The bytes written: a ramp starting at ``seed``."""
        return bytes((self.seed + i) % 251 for i in range(self.length))


@attrs.frozen
class Configure:
    """Set the instance's ``cacheMb`` parameter (below 16 is refused)."""

    slot: int
    cache_mb: int


@attrs.frozen
class Scale:
    """Grow the instance by ``grow_gb``."""

    slot: int
    grow_gb: int


@attrs.frozen
class Remove:
    """Remove the instance, with ``force`` or through its provider."""

    slot: int
    force: bool


@attrs.frozen
class FailHost:
    """Inject a failure of host ``esx-0<host>``."""

    host: int


@attrs.frozen
class ClearHost:
    """Recover host ``esx-0<host>``."""

    host: int


@attrs.frozen
class FailDisk:
    """Inject a failure of disk ``cap-<disk>`` of host ``esx-0<host>``."""

    host: int
    disk: int


@attrs.frozen
class ClearDisk:
    """Replace failed disk ``cap-<disk>`` of host ``esx-0<host>``."""

    host: int
    disk: int


@attrs.frozen
class Advance:
    """Move the platform's clock forward ``minutes`` (repair timers may fire)."""

    minutes: int


Step = (
    Create
    | Write
    | Configure
    | Scale
    | Remove
    | FailHost
    | ClearHost
    | FailDisk
    | ClearDisk
    | Advance
)

slots = st.integers(0, 2)
scenario_hosts = st.integers(1, SCENARIO_HOSTS)
scenario_disks = st.integers(0, 1)


def scenarios(policies: tuple[str, ...] = SCENARIO_POLICIES) -> st.SearchStrategy[list[Step]]:
    """Short scenarios (at most ten steps) that begin by creating an instance; every
    instance is created with one of ``policies``."""
    creates = st.builds(
        Create,
        slot=slots,
        policy=st.sampled_from(policies),
        capacity_gb=st.integers(1, 40),
    )
    steps: st.SearchStrategy[Step] = st.one_of(
        creates,
        st.builds(
            Write,
            slot=slots,
            offset=st.integers(0, 100_000),
            length=st.integers(1, 20_000),
            seed=st.integers(0, 250),
        ),
        st.builds(Configure, slot=slots, cache_mb=st.integers(8, 256)),
        st.builds(Scale, slot=slots, grow_gb=st.integers(1, 30)),
        st.builds(Remove, slot=slots, force=st.booleans()),
        st.builds(FailHost, host=scenario_hosts),
        st.builds(ClearHost, host=scenario_hosts),
        st.builds(FailDisk, host=scenario_hosts, disk=scenario_disks),
        st.builds(ClearDisk, host=scenario_hosts, disk=scenario_disks),
        st.builds(Advance, minutes=st.integers(1, 90)),
    )
    return st.tuples(creates, st.lists(steps, max_size=9)).map(
        lambda first_and_rest: [first_and_rest[0], *first_and_rest[1]]
    )
