"""Monitoring: health is green when all is well, changes nothing, turns yellow or red under
faults the service cannot absorb, and green again after repair."""

from __future__ import annotations

from dpp_sdk.conformance._registry import Category, Skip, check
from dpp_sdk.conformance._steps import member_hosts
from dpp_sdk.conformance._trial import Trial, report_text, said
from dpp_sdk.contract import HealthStatus

M = Category.MONITORING


@check("MON-001", M, "A ready instance reports green, with every check named", quick=True)
def ready_instance_is_green(t: Trial) -> None:
    t.create("c1")
    report = t.platform.instance_health("c1")
    t.expect(report.status == HealthStatus.GREEN, "green", lambda: t.health_text("c1"))
    unnamed = [c for c in report.checks if not c.name.strip()]
    t.expect(not unnamed, "every health check named", f"{len(unnamed)} checks have no name")


@check(
    "MON-002", M, "monitor changes nothing and gives the same answer when called again", quick=True
)
def monitor_changes_nothing(t: Trial) -> None:
    t.create("c1")
    before = t.holding("c1")
    reports = []
    for _ in range(3):
        try:
            reports.append(t.lab.call_provider(t.platform, "c1", None))
        except Exception as error:
            t.fail("monitor to run in a read-only context", f"it raised {said(error)}")
    t.expect(all(r == reports[0] for r in reports), "the same report each time", f"{reports}")
    after = t.holding("c1")
    t.expect(after == before, "monitor to change nothing", after.difference(before))


def _member_host(t: Trial, name: str) -> str:
    hosts = sorted(set(member_hosts(t.platform.get_instance(name)).values()))
    if not hosts:
        raise Skip("the instance has no members, so no host failure touches it")
    return t.random.choice(hosts)


@check(
    "MON-003",
    M,
    "With a member's host failed, the provider's monitor reports yellow or red",
    quick=True,
)
def host_failure_is_not_green(t: Trial) -> None:
    t.create("c1")
    host = _member_host(t, "c1")
    t.platform.inject_host_failure(host)
    # The provider's own report: the platform's checks turn yellow by themselves.
    report = t.provider_report("c1")
    t.expect(
        report.status != HealthStatus.GREEN,
        f"monitor to report yellow or red with {host} failed",
        f"it reported {report_text(report)}",
    )


@check("MON-004", M, "With every host of its members failed, the provider's monitor reports red")
def all_member_hosts_failed_is_red(t: Trial) -> None:
    t.create("c1")
    hosts = sorted(set(member_hosts(t.platform.get_instance("c1")).values()))
    if not hosts:
        raise Skip("the instance has no members")
    for host in hosts:
        t.platform.inject_host_failure(host)
    report = t.provider_report("c1")
    t.expect(
        report.status == HealthStatus.RED,
        f"monitor to report red with {', '.join(hosts)} failed",
        f"it reported {report_text(report)}",
    )


@check("MON-005", M, "Health returns to green once a failed host comes back")
def health_recovers_after_repair(t: Trial) -> None:
    t.create("c1")
    host = _member_host(t, "c1")
    t.platform.inject_host_failure(host)
    t.platform.advance(300)
    t.platform.clear_host_failure(host)
    t.settle("c1")


@check(
    "MON-006",
    M,
    "After a disk under the instance fails, health returns to green without operator action",
)
def disk_failure_is_repaired(t: Trial) -> None:
    info = t.create("c1")
    components = sorted({(c.host, c.disk) for v in info.volumes for c in v.components})
    if not components:
        raise Skip("the instance has no volumes")
    host, disk = t.random.choice(components)
    t.platform.inject_disk_failure(host, disk)
    t.note(f"failed disk {host}/{disk}; health then {t.health_text('c1')}")
    t.settle("c1")
