"""Instance lifecycle on the mock platform: catalog, validation, operations, cleanup."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import dpp_sdk as dpp
from dpp_sdk import testing
from dpp_sdk.platform import ManualClock, Platform
from dpp_sdk.testing import faults
from tests import providers

KV = "tests.providers:KVProvider"


pytestmark = pytest.mark.dpp_platform(KV, clock=ManualClock)


def _nothing_reserved(p: Platform) -> bool:
    return p.resources().reserved_gb == 0 and all(d.reserved_gb == 0 for d in p.resources().disks)


def test_a_registered_service_is_listed_with_its_active_version(dpp_platform: Platform) -> None:
    """register_service validates and stores the manifest; the version is active."""
    (service,) = dpp_platform.list_services()
    assert (service.name, service.active_version, service.enabled) == ("kv", "1.0.0", True)
    assert service.active.manifest == providers.KV_MANIFEST


def test_a_provider_directory_registers_through_its_descriptor(dpp_platform: Platform) -> None:
    """A directory with dpp-provider.toml is loaded as its own package."""
    info = dpp_platform.register_service(str(Path(__file__).parent / "kvdir"))
    assert info.name == "dirkv"
    dpp_platform.create_instance(service="dirkv", name="d1", capacity_gb=5)
    assert dpp_platform.get_instance("d1").status is dpp.InstanceStatus.READY


def test_an_invalid_manifest_is_refused_with_every_problem(dpp_platform: Platform) -> None:
    """Name, version and default policy: three problems, one error, nothing registered."""
    with pytest.raises(dpp.ManifestError) as info:
        dpp_platform.register_service("tests.providers:BadManifestProvider")
    assert sorted(p.path for p in info.value.problems) == [
        "$.default_policy",
        "$.name",
        "$.version",
    ]
    assert [s.name for s in dpp_platform.list_services()] == ["kv"]


def test_a_reference_that_is_not_a_provider_is_refused_naming_it(dpp_platform: Platform) -> None:
    """module:Class that does not exist, or is not a ServiceProvider, is a clear error."""
    with pytest.raises(dpp.ValidationError, match="no attribute 'Nope'"):
        dpp_platform.register_service("tests.providers:Nope")
    with pytest.raises(dpp.ValidationError, match="not a subclass"):
        dpp_platform.register_service("tests.providers:KV_MANIFEST")
    with pytest.raises(dpp.ValidationError, match="MODULE:CLASS"):
        dpp_platform.register_service("not-a-reference")


def test_create_provisions_members_volumes_endpoints_and_secrets(dpp_platform: Platform) -> None:
    """A created instance is ready and holds what its provider created."""
    op = dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=10)
    assert op.state is dpp.OperationState.SUCCEEDED
    info = dpp_platform.get_instance("kv1")
    assert info.status is dpp.InstanceStatus.READY
    assert [v.name for v in info.volumes] == ["data"]
    assert [m.name for m in info.members] == ["kv-0"]
    assert [e.url for e in info.endpoints] == ["tcp://kv-0.kv1.svc.dpp.local:6379"]
    assert [s.name for s in info.secrets] == ["password"]
    assert info.spec.parameters == {"cacheMb": 64}
    dpp.validate_document("instance", dpp.unstructure(info))


def test_a_raid1_volume_reserves_twice_its_size_on_three_fault_domains(
    dpp_platform: Platform,
) -> None:
    """vsan-default-thick: two replicas of 10 GB plus a witness, each in its own fault
    domain; thin vsan-default reserves nothing until written."""
    dpp_platform.create_instance(
        service="kv", name="kv1", capacity_gb=10, policy="vsan-default-thick"
    )
    (volume,) = dpp_platform.get_instance("kv1").volumes
    assert [c.role for c in volume.components] == ["replica", "replica", "witness"]
    assert len(set(volume.hosts)) == 3
    assert dpp_platform.resources().reserved_gb == pytest.approx(20.0)
    dpp_platform.create_instance(service="kv", name="kv2", capacity_gb=10)
    assert dpp_platform.resources().reserved_gb == pytest.approx(20.0)


def test_bad_requests_are_refused_with_every_problem_before_anything_is_allocated(
    dpp_platform: Platform,
) -> None:
    """Name, capacity, parameter and policy problems in one error; no instance, no capacity."""
    with pytest.raises(dpp.ValidationError) as info:
        dpp_platform.create_instance(
            service="kv",
            name="9lives",
            capacity_gb=9000,
            parameters={"cacheMb": 1, "colour": "red"},
            policy="vsan-direct",
        )
    paths = sorted(p.path for p in info.value.problems)
    assert paths == [
        "$.capacity_gb",
        "$.name",
        "$.parameters.cacheMb",
        "$.parameters.colour",
        "$.policy",
    ]
    assert dpp_platform.list_instances() == []
    assert _nothing_reserved(dpp_platform)
    assert dpp_platform.list_operations() == []


def test_an_unknown_service_is_refused_naming_the_service(dpp_platform: Platform) -> None:
    """The error names the field and lists what is registered."""
    with pytest.raises(dpp.ValidationError) as info:
        dpp_platform.create_instance(service="nosql", name="x", capacity_gb=1)
    (problem,) = info.value.problems
    assert (problem.path, problem.value) == ("$.service", "nosql")
    assert "kv" in problem.message


def test_a_disabled_service_refuses_new_instances(dpp_platform: Platform) -> None:
    """disable_service stops creation; enable_service allows it again."""
    dpp_platform.disable_service("kv")
    with pytest.raises(dpp.ValidationError, match="disabled"):
        dpp_platform.create_instance(service="kv", name="x", capacity_gb=1)
    dpp_platform.enable_service("kv")
    dpp_platform.create_instance(service="kv", name="x", capacity_gb=1)


def test_an_existing_name_is_refused(dpp_platform: Platform) -> None:
    """Instance names are unique."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=1)
    with pytest.raises(dpp.ValidationError, match="already exists"):
        dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=1)


def test_the_same_idempotency_key_returns_the_same_operation(dpp_platform: Platform) -> None:
    """A repeated request with the same key does not provision twice."""
    first = dpp_platform.create_instance(
        service="kv", name="kv1", capacity_gb=1, idempotency_key="k1"
    )
    second = dpp_platform.create_instance(
        service="kv", name="kv1", capacity_gb=1, idempotency_key="k1"
    )
    assert first.id == second.id
    assert len(dpp_platform.list_instances()) == 1


def test_an_idempotency_key_reused_for_another_request_is_a_conflict(
    dpp_platform: Platform,
) -> None:
    """Same key, different request: refused rather than silently returning the old result."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=1, idempotency_key="k1")
    with pytest.raises(dpp.Conflict, match="k1"):
        dpp_platform.create_instance(service="kv", name="kv2", capacity_gb=1, idempotency_key="k1")


def test_configure_validates_and_passes_the_changed_parameters(dpp_platform: Platform) -> None:
    """New parameters are merged, validated and handed to configure."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=1)
    dpp_platform.configure_instance("kv1", {"cacheMb": 256})
    assert dpp_platform.get_instance("kv1").spec.parameters == {"cacheMb": 256}
    with pytest.raises(dpp.ValidationError) as info:
        dpp_platform.configure_instance("kv1", {"cacheMb": "lots"})
    assert [p.path for p in info.value.problems] == ["$.parameters.cacheMb"]
    assert dpp_platform.get_instance("kv1").spec.parameters == {"cacheMb": 256}


def test_scale_expands_and_a_shrink_is_refused_when_not_declared(dpp_platform: Platform) -> None:
    """Capacity grows through the provider; shrinking without the capability is refused."""
    dpp_platform.create_instance(
        service="kv", name="kv1", capacity_gb=10, policy="vsan-default-thick"
    )
    dpp_platform.scale_instance("kv1", 30)
    assert dpp_platform.get_instance("kv1").volumes[0].size_gb == 30
    assert dpp_platform.resources().reserved_gb == pytest.approx(60.0)
    with pytest.raises(dpp.ValidationError, match="cannot shrink"):
        dpp_platform.scale_instance("kv1", 5)
    assert dpp_platform.get_instance("kv1").spec.capacity_gb == 30


def test_remove_releases_everything(dpp_platform: Platform) -> None:
    """After decommission nothing of the instance is left and no leak is reported."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=10)
    op = dpp_platform.remove_instance("kv1")
    assert op.result == {"leaked": []}
    assert dpp_platform.list_instances() == []
    assert _nothing_reserved(dpp_platform)


def test_leftovers_after_decommission_are_reclaimed_and_reported_as_leaks() -> None:
    """A provider that forgets resources: the platform reclaims and names each one."""
    with Platform.open() as p:
        p.register_service("tests.providers:LeakyProvider")
        p.create_instance(service="leaky", name="l1", capacity_gb=1)
        op = p.remove_instance("l1")
        assert sorted(op.result["leaked"]) == ["endpoint/client", "secret/password"]
        assert [e.kind for e in p.events(kind="leak")] == ["leak"]
        assert p.list_instances() == []


def test_a_permanent_error_fails_the_operation_and_releases_what_it_allocated() -> None:
    """The failed provision leaves no instance, no volume, no reserved capacity."""
    with Platform.open() as p:
        p.register_service("tests.providers:FailingProvider")
        with pytest.raises(dpp.OperationFailed) as info:
            p.create_instance(service="failing", name="f1", capacity_gb=5)
        op = info.value.operation
        assert op.state is dpp.OperationState.FAILED
        assert op.error is not None
        assert op.error.type == "PermanentError"
        assert "bad license" in op.error.message
        assert p.list_instances() == []
        assert _nothing_reserved(p)
        assert p.get_operation(op.id).state is dpp.OperationState.FAILED
        assert p.check_consistency() == []


def test_an_unexpected_exception_keeps_its_traceback_in_the_operation() -> None:
    """A bug in a provider fails the operation with the traceback, and cleans up."""
    with Platform.open() as p:
        p.register_service("tests.providers:CrashingProvider")
        with pytest.raises(dpp.OperationFailed) as info:
            p.create_instance(service="crashing", name="c1", capacity_gb=1)
        error = info.value.operation.error
        assert error is not None
        assert error.type == "KeyError"
        assert error.traceback is not None
        assert "missing" in error.traceback
        assert p.list_instances() == []
        assert p.check_consistency() == []


def test_temporary_errors_are_retried_with_back_off() -> None:
    """Two temporary failures then success: three attempts, sleeps of 5 then 10 seconds."""
    clock = ManualClock()
    providers.FlakyProvider.calls.clear()
    with Platform.open(clock=clock) as p:
        p.register_service("tests.providers:FlakyProvider")
        op = p.create_instance(service="flaky", name="fl1", capacity_gb=1)
        assert op.state is dpp.OperationState.SUCCEEDED
        assert op.attempts == 3
        assert clock.slept == [5.0, 10.0]
        assert len(p.get_instance("fl1").members) == 1


def test_a_temporary_error_past_the_deadline_fails_and_cleans_up() -> None:
    """Retries stop at the operation deadline with a message saying so."""
    clock = ManualClock()
    with Platform.open(clock=clock, operation_timeout=120) as p:
        p.register_service("tests.providers:AlwaysBusyProvider")
        with pytest.raises(dpp.OperationFailed) as info:
            p.create_instance(service="busy", name="b1", capacity_gb=1)
        error = info.value.operation.error
        assert error is not None
        assert error.type == "DeadlineExceeded"
        assert "license server" in error.message
        assert sum(clock.slept) <= 120
        assert p.list_instances() == []


def test_a_context_used_after_its_call_returned_is_refused() -> None:
    """A provider cannot keep its context and act outside the call it was handed for."""
    providers.StashingProvider.stashed.clear()
    with Platform.open() as p:
        p.register_service("tests.providers:StashingProvider")
        p.create_instance(service="stashing", name="s1", capacity_gb=1)
        (ctx,) = providers.StashingProvider.stashed
        with pytest.raises(dpp.ScopeViolation, match="after that call returned"):
            ctx.volumes.ensure("sneaky", size_gb=1)
        with pytest.raises(dpp.ScopeViolation):
            ctx.members.list()
        assert [v.name for v in p.get_instance("s1").volumes] == ["data"]
        assert p.check_consistency() == []


def test_a_context_only_sees_its_own_instance(dpp_platform: Platform) -> None:
    """Two instances with the same resource names never see each other's resources."""
    dpp_platform.create_instance(service="kv", name="a", capacity_gb=1)
    dpp_platform.create_instance(service="kv", name="b", capacity_gb=2)
    probe_a = dpp_platform.data_probe("a")
    probe_b = dpp_platform.data_probe("b")
    assert probe_a is not None
    assert probe_b is not None
    probe_a.write("k", b"alpha")
    probe_b.write("k", b"bravo")
    assert probe_a.read("k") == b"alpha"
    assert probe_b.read("k") == b"bravo"


def test_monitor_may_not_change_anything_and_secrets_never_reach_health_or_logs(
    tmp_path: Path,
) -> None:
    """A monitor that mutates is reported red; its leaked password is redacted everywhere."""
    with Platform.open(tmp_path) as p:
        p.register_service("tests.providers:MeddlingMonitorProvider")
        p.create_instance(service="meddling", name="m1", capacity_gb=1)
        health = p.instance_health("m1")
        assert health.status is dpp.HealthStatus.RED
        (check,) = [c for c in health.checks if c.name == "provider/monitor"]
        assert "must only observe" in check.message
        assert [v.name for v in p.get_instance("m1").volumes] == ["data"]
        assert p.log_path is not None
        log = p.log_path.read_text()
        assert "********" in log
        assert p.events(kind="secret-leak")
        # the real value appears nowhere the admin can see
        probe = p.data_probe("m1")
        assert probe is not None
        secret = testing.context(p, "m1").secrets.find("password")
        assert secret is not None
        assert secret.reveal() not in log
        assert all(secret.reveal() not in a.detail for a in p.audit())
        assert all(secret.reveal() not in e.message for e in p.events())


def test_a_busy_instance_refuses_another_change(dpp_platform: Platform) -> None:
    """While an operation runs, the instance is busy; state only moves forward."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=1)
    with (
        faults.busy(dpp_platform, "kv1", dpp.InstanceStatus.SCALING),
        pytest.raises(dpp.Conflict, match="scaling"),
    ):
        dpp_platform.configure_instance("kv1", {"cacheMb": 100})


def test_max_services_is_enforced() -> None:
    """A platform configured for one service refuses a second, saying the limit."""
    import attrs

    from dpp_sdk.platform import ClusterConfig

    config = attrs.evolve(ClusterConfig.default(), max_services=1)
    with Platform.open(config=config) as p:
        p.register_service(KV)
        with pytest.raises(dpp.QuotaExceeded, match="max_services is 1"):
            p.register_service("tests.providers:FailingProvider")


def test_the_resource_quota_refuses_a_request_it_cannot_fit(
    dpp_platform: Platform, dpp_platform_factory: Callable[..., Platform]
) -> None:
    """Quota errors say what is used, asked and left; nothing is allocated."""
    # 4 hosts x 2 x 2000 GB capacity + 4 x 4 x 1000 GB direct = 32000 GB raw, 80% quota.
    dpp_platform.register_service("tests.providers:FailingProvider")
    quota = dpp_platform.status().quota_gb
    big = int(quota / 2) + 1  # RAID-1 doubles it past the quota
    with pytest.raises(dpp.ValidationError):
        dpp_platform.create_instance(service="kv", name="big", capacity_gb=big)  # past the plan
    assert _nothing_reserved(dpp_platform)
    # The quota alone: 4 hosts x 100 GB, 80% quota = 320 GB raw, within the plan's 500 GB.
    small = dpp_platform_factory(
        KV,
        hosts=4,
        capacity_disks=1,
        capacity_disk_gb=100,
        direct_disks=0,
    )
    quota = small.status().quota_gb
    big = int(quota / 2) + 1  # RAID-1 doubles it past the quota
    assert big <= 500
    with pytest.raises(dpp.QuotaExceeded) as info:
        small.create_instance(service="kv", name="big", capacity_gb=big)
    assert info.value.left > 0
    assert info.value.asked > info.value.left
    assert _nothing_reserved(small)
    assert small.list_instances(limit=None) == []


def test_every_mutation_is_audited_with_principal_and_outcome(dpp_platform: Platform) -> None:
    """Register, create, a refused request and remove all appear in the audit trail."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=1)
    with pytest.raises(dpp.ValidationError):
        dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=1)
    dpp_platform.remove_instance("kv1")
    trail = [(a.action, a.target, a.outcome) for a in dpp_platform.audit()]
    assert trail == [
        ("service.register", "kv", "succeeded"),
        ("instance.provision", "kv1", "succeeded"),
        ("instance.provision", "kv1", "refused"),
        ("instance.decommission", "kv1", "succeeded"),
    ]
    assert {a.principal for a in dpp_platform.audit()} == {"admin"}


def test_a_member_reclaiming_a_kept_volume_reattaches_it_instead_of_placing_it_again(
    dpp_platform: Platform,
) -> None:
    """A host-local volume kept after its member was deleted pins the new member to its host."""
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=10, policy="vsan-sna")
    host = dpp_platform.get_instance("kv1").members[0].host
    reserved = dpp_platform.resources().reserved_gb
    ctx = testing.context(dpp_platform, "kv1")
    ctx.members.delete("kv-0", delete_volumes=False)
    assert dpp_platform.get_instance("kv1").volumes[0].member is None
    claim = dpp.VolumeClaim(name="data", size_gb=10)
    member = ctx.members.ensure("kv-1", volumes=(claim,))
    assert (member.host, member.volumes) == (host, ("data",))
    assert dpp_platform.resources().reserved_gb == reserved
    assert dpp_platform.check_consistency() == []
    dpp_platform.remove_instance("kv1")
    assert _nothing_reserved(dpp_platform)


def test_the_providers_validate_hook_refuses_before_anything_is_allocated() -> None:
    """Cross-field rules from validate join the platform's problems; nothing is created."""
    with Platform.open() as p:
        p.register_service("tests.providers:PickyProvider")
        with pytest.raises(dpp.ValidationError) as info:
            p.create_instance(
                service="picky", name="p1", capacity_gb=1, parameters={"cacheMb": 500}
            )
        assert [(x.path, x.value) for x in info.value.problems] == [("$.parameters.cacheMb", 500)]
        assert p.list_instances() == []
        assert p.list_operations() == []
        p.create_instance(service="picky", name="p1", capacity_gb=2, parameters={"cacheMb": 200})
        with pytest.raises(dpp.ValidationError, match="at most 200 MB"):
            p.configure_instance("p1", {"cacheMb": 300})
        assert p.get_instance("p1").spec.parameters["cacheMb"] == 200


def test_names_with_trailing_newlines_or_capitals_are_refused(dpp_platform: Platform) -> None:
    """Instance and resource names are matched whole, not by prefix."""
    with pytest.raises(dpp.ValidationError):
        dpp_platform.create_instance(service="kv", name="kv1\n", capacity_gb=1)
    dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=1)
    with pytest.raises(dpp.ValidationError, match="lower-case"):
        testing.context(dpp_platform, "kv1").secrets.ensure("Password\n", length=16)


def test_a_disabled_platform_refuses_new_instances_but_allows_removal() -> None:
    """[vsan-datapersistence] enabled = false: creation refused with the setting named."""
    import attrs

    from dpp_sdk.platform import ClusterConfig

    with Platform.open(config=attrs.evolve(ClusterConfig.default(), enabled=False)) as p:
        p.register_service(KV)
        with pytest.raises(dpp.Conflict, match="enabled = false"):
            p.create_instance(service="kv", name="kv1", capacity_gb=1)
        assert p.audit()[-1].outcome == "refused"


def test_the_platform_default_policy_applies_to_services_relying_on_it() -> None:
    """A platform-redundancy service without an explicit policy gets the admin's default."""
    import attrs

    from dpp_sdk.platform import ClusterConfig

    config = attrs.evolve(ClusterConfig.default(), default_policy="vsan-raid5")
    with Platform.open(config=config) as p:
        p.register_service(KV)
        p.create_instance(service="kv", name="kv1", capacity_gb=3)
        assert p.get_instance("kv1").spec.policy == "vsan-raid5"
        p.create_instance(service="kv", name="kv2", capacity_gb=3, policy="vsan-default")
        assert p.get_instance("kv2").spec.policy == "vsan-default"


def test_a_refused_registration_is_audited() -> None:
    """Hitting max_services leaves a 'refused' record in the audit trail."""
    import attrs

    from dpp_sdk.platform import ClusterConfig

    with Platform.open(config=attrs.evolve(ClusterConfig.default(), max_services=1)) as p:
        p.register_service(KV)
        with pytest.raises(dpp.QuotaExceeded):
            p.register_service("tests.providers:FailingProvider")
        last = p.audit()[-1]
        assert (last.action, last.outcome) == ("service.register", "refused")


def test_the_provision_result_names_the_instance_uid_for_its_ledger(dpp_platform: Platform) -> None:
    """The ledger lists everything the instance ever held, even after it is gone."""
    op = dpp_platform.create_instance(service="kv", name="kv1", capacity_gb=1)
    uid = op.result["instance_uid"]
    dpp_platform.remove_instance("kv1")
    held = sorted(f"{e['kind']}/{e['name']}" for e in dpp_platform.ledger(uid))
    assert held == ["endpoint/client", "member/kv-0", "secret/password", "volume/data"]


def test_an_older_version_can_be_made_active_again(dpp_platform: Platform) -> None:
    """activate_version switches the active version; an unknown one is refused by name."""
    assert dpp_platform.register_service("tests.providers:KV2Provider").active_version == "2.0.0"
    assert [v.version for v in dpp_platform.get_service("kv").versions] == ["1.0.0", "2.0.0"]
    assert dpp_platform.activate_version("kv", "1.0.0").active_version == "1.0.0"
    dpp_platform.create_instance(service="kv", name="old", capacity_gb=1)
    assert dpp_platform.get_instance("old").service_version == "1.0.0"
    with pytest.raises(dpp.ValidationError, match="not a registered version"):
        dpp_platform.activate_version("kv", "9.9.9")
