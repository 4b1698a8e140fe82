"""Maintenance as a drain: maintenance-aware providers take their members off the host."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import ClassVar

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpp_sdk as dpp
from dpp_sdk.platform import ClusterConfig, MaintenanceIncomplete, MaintenanceVetoed, Platform
from tests.providers import DrainingProvider

ROOT = Path(__file__).resolve().parent.parent


pytestmark = pytest.mark.dpp_platform(
    "tests.providers:DrainingProvider",
    "tests.providers:IdleAwareProvider",
    "tests.providers:KVProvider",
    hosts=5,
)


@pytest.fixture(autouse=True)
def _no_draining_state() -> None:
    DrainingProvider.veto.clear()
    DrainingProvider.requests.clear()


class Watching(DrainingProvider):
    """Notes what its drain sees of the host, and tries to place a member on it."""

    seen: ClassVar[list[str]] = []

    def drain(self, ctx: dpp.InstanceContext, request: dpp.DrainRequest) -> dpp.MaintenanceDecision:
        self.seen.append(ctx.cluster.host(request.host).state)
        with pytest.raises(dpp.PlacementFailed):
            ctx.members.ensure("pinned", host=request.host)
        return super().drain(ctx, request)


def _member(p: Platform, instance: str) -> dpp.MemberInfo:
    return p.get_instance(instance).members[0]


def test_planned_downtime_waits_for_the_provider_to_stop_its_member(dpp_platform: Platform) -> None:
    """ensure-accessibility: the provider's drain stops the member (it keeps its data); the
    host enters; leaving maintenance runs the member again."""
    dpp_platform.create_instance(service="draining", name="d1", capacity_gb=5, policy="vsan-sna")
    host = _member(dpp_platform, "d1").host
    result = dpp_platform.enter_maintenance(host, "ensure-accessibility")
    assert result.drained == ("d1",)
    (request,) = DrainingProvider.requests
    assert (request.taint, request.members, request.local_volumes) == (
        "planned-downtime",
        ("kv-0",),
        ("data",),
    )
    assert _member(dpp_platform, "d1").state == "stopped"
    assert dpp_platform.get_host(host).state == "maintenance"
    drains = [o for o in dpp_platform.list_operations(target="d1") if o.kind == "drain"]
    assert [o.state for o in drains] == [dpp.OperationState.SUCCEEDED]
    dpp_platform.exit_maintenance(host)
    assert _member(dpp_platform, "d1").state == "running"
    assert dpp_platform.instance_health("d1").status is dpp.HealthStatus.GREEN
    assert dpp_platform.check_consistency() == []


def test_evacuate_all_waits_for_the_provider_to_rebuild_its_data_elsewhere(
    dpp_platform: Platform,
) -> None:
    """evacuate-all (the drain taint): the member and its host-local volume are re-created
    on another host before the host enters maintenance."""
    dpp_platform.create_instance(service="draining", name="d1", capacity_gb=5, policy="vsan-sna")
    host = _member(dpp_platform, "d1").host
    dpp_platform.enter_maintenance(host, "evacuate-all")
    assert DrainingProvider.requests[0].taint == "drain"
    member = _member(dpp_platform, "d1")
    assert member.host != host
    assert member.state == "running"
    assert host not in dpp_platform.get_instance("d1").volumes[0].hosts
    assert dpp_platform.instance_health("d1").status is dpp.HealthStatus.GREEN


def test_a_provider_that_does_not_drain_fails_the_maintenance_naming_what_is_left(
    dpp_platform: Platform,
) -> None:
    """A maintenance-aware provider without drain logic leaves its member: the maintenance
    fails naming the instance and member, and the host is connected again."""
    dpp_platform.create_instance(service="idle-aware", name="i1", capacity_gb=5, policy="vsan-sna")
    host = _member(dpp_platform, "i1").host
    with pytest.raises(MaintenanceIncomplete, match=r"i1: member kv-0") as caught:
        dpp_platform.enter_maintenance(host, "ensure-accessibility")
    assert caught.value.left == {"i1": ("member kv-0",)}
    assert dpp_platform.get_host(host).state == "connected"
    assert _member(dpp_platform, "i1").state == "running"
    with pytest.raises(MaintenanceIncomplete, match=r"member kv-0, volume data"):
        dpp_platform.enter_maintenance(host, "evacuate-all")
    audit = [a for a in dpp_platform.audit() if a.action == "host.maintenance.enter"]
    assert [a.outcome for a in audit] == ["refused", "refused"]
    assert [e.kind for e in dpp_platform.events()].count("maintenance-abandoned") == 2


def test_a_veto_during_the_drain_abandons_it_and_restarts_what_was_stopped() -> None:
    """On one host, d1 stops its member, then d2 vetoes: nothing enters maintenance, d1's
    member runs again and its provider is told (HOST_RECOVERED, as a repair)."""
    DrainingProvider.veto.clear()
    DrainingProvider.veto.add("d2")
    with Platform.open(config=ClusterConfig.uniform(hosts=1)) as p:
        p.register_service("tests.providers:DrainingProvider")
        for name in ("d1", "d2"):
            p.create_instance(service="draining", name=name, capacity_gb=5, policy="vsan-sna")
        with pytest.raises(MaintenanceVetoed, match="d2: TooManyExistingFailures"):
            p.enter_maintenance("esx-01", "no-action")
        assert p.get_host("esx-01").state == "connected"
        assert [_member(p, n).state for n in ("d1", "d2")] == ["running", "running"]
        kinds = [o.kind for o in p.list_operations(target="d1")]
        assert kinds[-2:] == ["drain", "repair"]
        drains = [o for o in p.list_operations(target="d2") if o.kind == "drain"]
        assert drains[0].state is dpp.OperationState.FAILED
        assert drains[0].error is not None
        assert drains[0].error.type == "TooManyExistingFailures"
        assert p.check_consistency() == []
    DrainingProvider.veto.clear()


def test_instances_that_are_not_maintenance_aware_are_stopped_by_the_platform(
    dpp_platform: Platform,
) -> None:
    """No drain for a provider that does not declare maintenance_aware: its member stops
    when the host enters, as the platform decides."""
    dpp_platform.create_instance(service="kv", name="k1", capacity_gb=5, policy="vsan-sna")
    host = _member(dpp_platform, "k1").host
    result = dpp_platform.enter_maintenance(host, "ensure-accessibility")
    assert result.drained == ()
    assert "k1" in result.consulted
    assert _member(dpp_platform, "k1").state == "stopped"


def test_members_stop_only_evicts_from_a_draining_host(dpp_platform: Platform) -> None:
    """Outside a drain, ctx.members.stop is refused naming the host and its state."""
    dpp_platform.register_service("tests.providers:StoppingProvider")
    dpp_platform.create_instance(service="stopping", name="s1", capacity_gb=5)
    with pytest.raises(dpp.OperationFailed) as caught:
        dpp_platform.configure_instance("s1", {"cacheMb": 32})
    error = caught.value.operation.error
    assert error is not None
    assert error.type == "Conflict"
    assert "which is connected" in error.message
    assert _member(dpp_platform, "s1").state == "running"


def test_a_draining_host_takes_no_new_placement_and_shows_as_draining(
    dpp_platform: Platform,
) -> None:
    """While drained, the host is 'draining' in the cluster view and placement avoids it."""
    dpp_platform.create_instance(service="draining", name="d1", capacity_gb=5, policy="vsan-sna")
    host = _member(dpp_platform, "d1").host
    Watching.seen.clear()
    dpp_platform.register_service(Watching)
    dpp_platform.enter_maintenance(host, "no-action")
    assert Watching.seen == ["draining"]


def test_a_drain_left_by_a_dead_process_is_abandoned_when_the_platform_opens(
    tmp_path: Path,
) -> None:
    """A process killed mid-drain leaves the host draining and the member stopped; the next
    platform to open the directory connects the host again and runs the member."""
    state = tmp_path / "state"
    script = textwrap.dedent(
        f"""
        import os
        import dpp_sdk as dpp
        from tests.providers import DrainingProvider

        class Dying(DrainingProvider):
            def drain(self, ctx, request):
                super().drain(ctx, request)
                os._exit(9)

        p = dpp.Platform.open({str(state)!r}, config=dpp.ClusterConfig.uniform(hosts=1))
        p.register_service(DrainingProvider)
        p.create_instance(service="draining", name="d1", capacity_gb=5, policy="vsan-sna")
        p.register_service(Dying)
        p.enter_maintenance("esx-01", "ensure-accessibility")
        """
    )
    killed = subprocess.run([sys.executable, "-c", script], cwd=ROOT, check=False)
    assert killed.returncode == 9
    with Platform.open(state, recover=False) as p:
        assert p.get_host("esx-01").state == "draining"
        assert _member(p, "d1").state == "stopped"
    with Platform.open(state) as p:
        assert p.get_host("esx-01").state == "connected"
        assert _member(p, "d1").state == "running"
        assert "maintenance-abandoned" in [e.kind for e in p.events()]
        assert p.check_consistency() == []


@settings(max_examples=15, deadline=None)
@given(
    vetoing=st.sets(st.sampled_from(["d1", "d2", "d3"])),
    mode=st.sampled_from(["ensure-accessibility", "no-action", "evacuate-all"]),
)
def test_a_drain_with_random_vetoes_enters_fully_or_leaves_everything_running(
    vetoing: set[str], mode: str
) -> None:
    """Whichever instances veto, the host either enters maintenance with every member off
    it, or stays connected with every member running; the state stays consistent."""
    DrainingProvider.veto.clear()
    DrainingProvider.veto.update(vetoing)
    try:
        with Platform.open(config=ClusterConfig.uniform(hosts=2)) as p:
            p.register_service("tests.providers:DrainingProvider")
            for name in ("d1", "d2", "d3"):
                p.create_instance(service="draining", name=name, capacity_gb=5, policy="vsan-sna")
            host = "esx-01"
            on_host = [n for n in ("d1", "d2", "d3") if _member(p, n).host == host]
            try:
                p.enter_maintenance(host, mode)
            except MaintenanceVetoed:
                assert vetoing & set(on_host)
                assert p.get_host(host).state == "connected"
                assert all(_member(p, n).state == "running" for n in ("d1", "d2", "d3"))
            else:
                assert not vetoing & set(on_host)
                assert p.get_host(host).state == "maintenance"
                for name in on_host:
                    member = _member(p, name)
                    assert member.state == "stopped" or member.host != host
            assert p.check_consistency() == []
    finally:
        DrainingProvider.veto.clear()


def test_the_precheck_reports_what_the_services_will_rebuild_apart_from_platform_moves(
    dpp_platform: Platform,
) -> None:
    """evacuate-all: an aware instance's host-local volume is rebuilt by the service (its
    written bytes), a RAID-1 volume's component is moved by the platform; planned downtime
    rebuilds nothing."""
    dpp_platform.create_instance(service="draining", name="d1", capacity_gb=5, policy="vsan-sna")
    host = _member(dpp_platform, "d1").host
    probe = dpp_platform.data_probe("d1")
    assert probe is not None
    probe.write("k", b"x" * 5000)
    dpp_platform.create_instance(service="kv", name="k1", capacity_gb=5, policy="vsan-default")
    check = dpp_platform.maintenance_precheck(host, "evacuate-all")
    assert check.service_rebuild == ("d1",)
    (d1,) = [i for i in check.instances if i.instance == "d1"]
    assert d1.service_rebuilt_volumes == ("data",)
    assert d1.service_bytes_to_rebuild >= 5000
    assert "d1" not in check.rebuild
    assert "d1" not in check.inaccessible
    relaxed = dpp_platform.maintenance_precheck(host, "ensure-accessibility")
    assert relaxed.service_rebuild == ()
    assert relaxed.service_bytes_to_rebuild == 0
