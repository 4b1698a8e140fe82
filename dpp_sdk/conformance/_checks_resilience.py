"""Resilience: a data canary survives what the redundancy model promises; members are replaced
after the repair timer and not before; maintenance is handled (evict, rebuild, veto); the
volumes the redundancy relies on are spread."""

from __future__ import annotations

from collections import Counter

from dpp_sdk.conformance._registry import Category, Level, Skip, check
from dpp_sdk.conformance._steps import apply_change, member_hosts
from dpp_sdk.conformance._trial import Trial, said
from dpp_sdk.contract import DppError, HealthStatus, Redundancy
from dpp_sdk.platform import MaintenanceVetoed
from dpp_sdk.testing import cluster

X = Category.RESILIENCE


def _promises_one_host(t: Trial) -> None:
    """Skip unless the default instance is promised to survive one host: redundancy by the
    service (its members copy the data), or by a platform policy with failures to tolerate."""
    manifest = t.subject.manifest
    if manifest.redundancy is Redundancy.PLATFORM and manifest.default_policy in (
        "vsan-sna",
        "vsan-direct",
    ):
        raise Skip(
            f"redundancy is the platform's and the default policy {manifest.default_policy} "
            "keeps one copy"
        )


def _a_member_host(t: Trial, name: str) -> str:
    hosts = sorted(set(member_hosts(t.platform.get_instance(name)).values()))
    if not hosts:
        raise Skip("the instance has no members")
    return t.random.choice(hosts)


@check(
    "RES-001",
    X,
    "A canary written before a host failure reads back intact during and after it",
    needs=("data_probe",),
    quick=True,
)
def canary_survives_a_host_failure(t: Trial) -> None:
    _promises_one_host(t)
    t.create("c1")
    data = t.write_canary("c1")
    host = _a_member_host(t, "c1")
    t.platform.inject_host_failure(host)
    t.read_canary("c1", data, after=f"{host} failed")
    t.platform.clear_host_failure(host)
    t.settle("c1")
    t.read_canary("c1", data, after=f"{host} came back")


@check(
    "RES-002",
    X,
    "A canary survives the failure of a disk under the instance",
    needs=("data_probe",),
)
def canary_survives_a_disk_failure(t: Trial) -> None:
    _promises_one_host(t)
    info = t.create("c1")
    data = t.write_canary("c1")
    disks = sorted({(c.host, c.disk) for v in info.volumes for c in v.components})
    if not disks:
        raise Skip("the instance has no volumes")
    host, disk = t.random.choice(disks)
    t.platform.inject_disk_failure(host, disk)
    t.read_canary("c1", data, after=f"disk {host}/{disk} failed")
    t.platform.clear_disk_failure(host, disk)
    t.settle("c1")
    t.read_canary("c1", data, after=f"disk {host}/{disk} was replaced")


@check(
    "RES-003",
    X,
    "A member is not replaced while its failed host may still come back (before the repair timer)",
    quick=True,
)
def no_replacement_before_the_repair_timer(t: Trial) -> None:
    t.create("c1")
    before = member_hosts(t.platform.get_instance("c1"))
    host = _a_member_host(t, "c1")
    t.platform.inject_host_failure(host)
    timer = t.config.object_repair_timer * 60
    t.platform.advance(max(0, timer - 120))
    during = member_hosts(t.platform.get_instance("c1"))
    t.expect(
        during == before,
        f"members where they were ({before}) {timer / 60 - 2:g} minutes into {host}'s failure",
        f"they are {during}",
    )
    t.platform.clear_host_failure(host)
    t.settle("c1")
    after = member_hosts(t.platform.get_instance("c1"))
    t.expect(after == before, f"members back where they were ({before})", f"they are {after}")


@check(
    "RES-004",
    X,
    "After the repair timer, members on a failed host are replaced elsewhere and health is green",
)
def replacement_after_the_repair_timer(t: Trial) -> None:
    t.create("c1")
    data = t.write_canary("c1") if t.subject.manifest.capabilities.data_probe else None
    host = _a_member_host(t, "c1")
    t.platform.inject_host_failure(host)
    t.platform.advance(t.config.object_repair_timer * 60 + 60)
    t.wait_until(
        lambda: (
            t.health("c1") == HealthStatus.GREEN
            and host not in member_hosts(t.platform.get_instance("c1")).values()
        ),
        f"members off failed {host} and green health after the repair timer",
        lambda: t.state_text("c1"),
    )
    if data is not None:
        t.read_canary("c1", data, after=f"the members on {host} were replaced")


def _maintenance(t: Trial, mode: str) -> tuple[str, bytes | None]:
    t.create("c1")
    data = t.write_canary("c1") if t.subject.manifest.capabilities.data_probe else None
    host = _a_member_host(t, "c1")
    try:
        t.platform.enter_maintenance(host, mode)
    except DppError as error:
        t.fail(
            f"{host} to enter {mode} maintenance with spare hosts around",
            f"it was refused: {said(error)}",
        )
    return host, data


@check(
    "RES-005",
    X,
    "Evacuate-all maintenance: the provider moves its members off the host, data intact, green",
    needs=("maintenance_aware",),
)
def evacuate_all_maintenance(t: Trial) -> None:
    host, data = _maintenance(t, "evacuate-all")
    info = t.platform.get_instance("c1")
    t.expect(
        host not in member_hosts(info).values(),
        f"no member left on {host}",
        lambda: t.state_text("c1"),
    )
    t.settle("c1")
    if data is not None:
        t.read_canary("c1", data, after=f"{host} was evacuated")
    t.platform.exit_maintenance(host)
    t.settle("c1")


@check(
    "RES-006",
    X,
    "Ensure-accessibility maintenance: the host enters, the data stays readable, green after exit",
    needs=("maintenance_aware",),
    quick=True,
)
def ensure_accessibility_maintenance(t: Trial) -> None:
    host, data = _maintenance(t, "ensure-accessibility")
    if data is not None:
        t.read_canary("c1", data, after=f"{host} entered maintenance")
    t.platform.exit_maintenance(host)
    t.settle("c1")
    if data is not None:
        t.read_canary("c1", data, after=f"{host} left maintenance")


@check(
    "RES-007",
    X,
    "Maintenance that would lose the service's quorum is vetoed",
    needs=("maintenance_aware",),
)
def veto_when_quorum_would_be_lost(t: Trial) -> None:
    _promises_one_host(t)
    t.create("c1")
    data = t.write_canary("c1") if t.subject.manifest.capabilities.data_probe else None
    hosts = sorted(set(member_hosts(t.platform.get_instance("c1")).values()))
    if len(hosts) < 2:
        raise Skip("fewer than two member hosts")
    failed, other = t.random.sample(hosts, 2)
    t.platform.inject_host_failure(failed)
    try:
        t.platform.enter_maintenance(other, "no-action")
    except MaintenanceVetoed as vetoed:
        t.note(f"vetoed: {vetoed}")
        return
    health = t.health("c1")
    readable = True
    if data is not None:
        try:
            t.read_canary("c1", data, after="the second host went down")
        except AssertionError:
            readable = False
    t.expect(
        health != HealthStatus.RED and readable,
        f"a veto of no-action maintenance on {other} while {failed} is failed, or a service "
        "still serving",
        f"the host entered and the instance is {t.health_text('c1')}"
        + ("" if readable else "; the canary no longer reads"),
    )


@check("RES-008", X, "Members holding the service's copies are on distinct hosts")
def copies_on_distinct_hosts(t: Trial) -> None:
    info = t.create("c1")
    if t.subject.manifest.redundancy is Redundancy.PLATFORM:
        single = [
            v.name
            for v in info.volumes
            if len(v.hosts) < 2 and v.policy not in ("vsan-sna", "vsan-direct")
        ]
        t.expect(not single, "each redundant volume across hosts", f"on one host: {single}")
        return
    hosts = Counter(m.host for m in info.members)
    crowded = {h: n for h, n in hosts.items() if n > 1}
    t.expect(
        not crowded or len(info.members) > len(t.config.hosts),
        f"the {len(info.members)} members on distinct hosts",
        f"several on one host: {crowded}",
    )


@check("RES-009", X, "Members spread evenly across fault domains", level=Level.RECOMMENDED)
def members_spread_over_fault_domains(t: Trial) -> None:
    info = t.create("c1")
    domains = {h.name: h.fault_domain for h in t.platform.list_hosts()}
    per = Counter(domains[m.host] for m in info.members)
    every = {domains[h] for h in domains}
    counts = [per.get(d, 0) for d in every]
    t.expect(
        not counts or max(counts) - min(counts) <= 1 or len(info.members) < 2,
        "members spread evenly over the fault domains",
        f"per fault domain: {dict(per)}",
    )


@check("RES-010", X, "A canary survives a configure the provider applies", needs=("data_probe",))
def canary_survives_configure(t: Trial) -> None:
    t.create("c1")
    data = t.write_canary("c1")
    change = apply_change(t, "c1")
    t.read_canary("c1", data, after=f"configure {change.describe()}")


@check(
    "RES-011", X, "A canary survives a capacity scale up", needs=("data_probe", "capacity_scale_up")
)
def canary_survives_scale(t: Trial) -> None:
    info = t.create("c1")
    data = t.write_canary("c1")
    plan = t.plan()
    target = min(plan.max_capacity_gb, info.spec.capacity_gb * 2)
    if target <= info.spec.capacity_gb:
        raise Skip("the plan leaves no room to grow")
    t.platform.scale_instance("c1", target)
    t.settle("c1")
    t.read_canary("c1", data, after=f"a scale to {target} GB")


@check(
    "RES-012",
    X,
    "vsan-direct volumes of one member sit on distinct direct disks (storage-pool anti-affinity)",
)
def direct_volumes_on_distinct_disks(t: Trial) -> None:
    if "vsan-direct" not in t.subject.manifest.supported_policies:
        raise Skip("the manifest does not support vsan-direct")
    # One big direct disk per host: placing by free space alone would stack every volume of
    # a member there; only storage-pool anti-affinity spreads them over the host's disks.
    t.open(config=cluster(hosts=6, racks=3, direct_disk_gb=[8000, 1000, 1000, 1000]))
    info = t.create("c1", policy="vsan-direct")
    for member in info.members:
        disks = Counter(
            (c.host, c.disk) for v in info.volumes if v.member == member.name for c in v.components
        )
        shared = {f"{h}/{d}": n for (h, d), n in disks.items() if n > 1}
        t.expect(
            not shared,
            f"member {member.name}'s direct volumes on distinct disks",
            f"shared: {shared}",
        )
