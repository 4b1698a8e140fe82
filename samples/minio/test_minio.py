"""Scenario tests of the MinIO sample, through the platform's public interface.

Each test opens an in-memory platform and registers the provider by its directory, as
``dpp service register samples/minio`` does.
"""

from __future__ import annotations

import random
from pathlib import Path

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import dpp_sdk as dpp
from dpp_sdk import testing
from dpp_sdk.platform import ClusterConfig, MaintenanceVetoed, Platform
from samples.minio.provider import MANIFEST, MinioProvider, parameter_problems

HERE = Path(__file__).parent


def minio_platform(config: ClusterConfig | None = None) -> Platform:
    """An in-memory platform with the MinIO sample registered from its directory."""
    return testing.open_platform(HERE, config=config or ClusterConfig.default())


# The default cluster: 4 hosts, 2 capacity and 4 direct disks each.
pytestmark = pytest.mark.dpp_platform(HERE)


def payload(seed: int, size: int = 50_000) -> bytes:
    """Deterministic random bytes."""
    return random.Random(seed).randbytes(size)


def set_check(dpp_platform: Platform, name: str, check: str = "pool0-set0") -> dpp.HealthCheck:
    """The provider's health check ``check`` of instance ``name``."""
    health = dpp_platform.instance_health(name)
    return next(c for c in health.checks if c.name == check)


def host_of(dpp_platform: Platform, instance: str, member: str) -> str:
    """The host member ``member`` of ``instance`` runs on."""
    return next(m.host for m in dpp_platform.get_instance(instance).members if m.name == member)


def nothing_allocated(dpp_platform: Platform) -> bool:
    """No instance exists and no capacity is reserved."""
    resources = dpp_platform.resources()
    return (
        not dpp_platform.list_instances() and not resources.instances and resources.reserved_gb == 0
    )


# --------------------------------------------------------------------------- registration


def test_registering_the_directory_declares_minio_capabilities(dpp_platform: Platform) -> None:
    """The directory registers a service with MinIO's policies, redundancy and capabilities."""
    manifest = dpp_platform.get_service("minio").active.manifest
    assert manifest == MinioProvider().register(dpp.ClusterView(hosts=()))
    assert set(manifest.supported_policies) == {"vsan-sna", "vsan-direct"}
    assert manifest.default_policy == "vsan-sna"
    assert manifest.redundancy is dpp.Redundancy.SERVICE
    caps = manifest.capabilities
    assert caps == dpp.Capabilities(
        capacity_scale_up=True,
        capacity_scale_down=False,
        horizontal_scale=False,
        maintenance_aware=True,
        data_probe=True,
    )


# --------------------------------------------------------------------------- provisioning


def test_a_default_tenant_has_four_servers_on_distinct_hosts_each_with_local_drives(
    dpp_platform: Platform,
) -> None:
    """4 servers x 4 drives: one server per host, every drive on its server's host."""
    dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
    info = dpp_platform.get_instance("m1")
    assert info.spec.parameters == {"servers": 4, "drivesPerServer": 4, "parity": 4}
    assert info.spec.policy == "vsan-sna"
    hosts = {m.name: m.host for m in info.members}
    assert sorted(hosts) == [f"pool0-server-{s}" for s in range(4)]
    assert len(set(hosts.values())) == 4
    volumes = {v.name: v for v in info.volumes}
    assert len(volumes) == 16
    for member in info.members:
        assert len(member.volumes) == 4
        for name in member.volumes:
            assert volumes[name].hosts == (member.host,)
            assert volumes[name].policy == "vsan-sna"
    # Usable capacity is 12/16 of the raw drives (EC:4 on a 16-drive set).
    drive_gb = info.volumes[0].size_gb
    assert 1000 <= 16 * drive_gb * 12 / 16 < 1001
    assert {(e.name, e.port, e.protocol) for e in info.endpoints} == {
        ("s3", 9000, "http"),
        ("console", 9001, "http"),
    }
    assert {s.name for s in info.secrets} == {"root-user", "root-password"}
    assert set_check(dpp_platform, "m1").status is dpp.HealthStatus.GREEN


def erasure_set_disks(dpp_platform: Platform, instance: str) -> dict[str, list[tuple[str, str]]]:
    """Storage-pool anti-affinity group (one per erasure set) -> ``(host, disk)`` of its
    drives."""
    found: dict[str, list[tuple[str, str]]] = {}
    for volume in dpp_platform.get_instance(instance).volumes:
        assert volume.pool_anti_affinity is not None
        assert volume.pool_anti_affinity.required
        [component] = volume.components
        found.setdefault(volume.pool_anti_affinity.group, []).append(
            (component.host, component.disk)
        )
    return found


@pytest.mark.parametrize(
    ("hosts", "parameters", "sets", "shared"),
    [
        (4, {"servers": 4, "drivesPerServer": 4, "parity": 4}, 1, True),
        (4, {"servers": 4, "drivesPerServer": 2, "parity": 2}, 1, False),
        (8, {"servers": 8, "drivesPerServer": 2, "parity": 2}, 1, False),
        (6, {"servers": 6, "drivesPerServer": 3, "parity": 2}, 3, True),
    ],
)
def test_no_two_drives_of_an_erasure_set_share_a_direct_disk(
    hosts: int, parameters: dict[str, int], sets: int, shared: bool
) -> None:
    """On vsan-direct every drive asks for required storage-pool anti-affinity within its
    erasure set: small drives that would all fit on one disk still get a disk each per set.
    A second tenant's drives go to the pools with the most free space, sharing disks with the
    first tenant's once every disk of a host holds one (``shared``)."""
    config = ClusterConfig.uniform(hosts=hosts, direct_disks_per_host=4)
    with minio_platform(config) as dpp_platform:
        for name in ("m1", "m2"):
            dpp_platform.create_instance(
                service="minio",
                name=name,
                capacity_gb=40,
                parameters=parameters,
                policy="vsan-direct",
            )
            placed = erasure_set_disks(dpp_platform, name)
            assert len(placed) == sets
            for drives in placed.values():
                assert len(drives) == len(set(drives))
        disks = [
            {place for drives in erasure_set_disks(dpp_platform, name).values() for place in drives}
            for name in ("m1", "m2")
        ]
        assert bool(disks[0] & disks[1]) is shared
        assert dpp_platform.instance_health("m1").status is dpp.HealthStatus.GREEN


def test_a_tenant_whose_sets_need_more_direct_disks_than_a_host_has_is_refused() -> None:
    """4 drives of one set per server but 3 direct disks per host: refused before anything is
    allocated, though the drives would fit on one disk by size."""
    config = ClusterConfig.uniform(hosts=4, direct_disks_per_host=3)
    with minio_platform(config) as dpp_platform:
        with pytest.raises(dpp.OperationFailed, match="NotEnoughResources"):
            dpp_platform.create_instance(
                service="minio", name="m1", capacity_gb=40, policy="vsan-direct"
            )
        assert nothing_allocated(dpp_platform)


def test_parity_above_half_the_set_is_refused_with_its_path_before_anything_is_allocated(
    dpp_platform: Platform,
) -> None:
    """EC:3 on a 4-drive set breaks K <= N/2: refused naming $.parameters.parity, no operation."""
    with pytest.raises(dpp.ValidationError) as caught:
        dpp_platform.create_instance(
            service="minio",
            name="m1",
            capacity_gb=100,
            parameters={"servers": 4, "drivesPerServer": 1, "parity": 3},
        )
    (problem,) = caught.value.problems
    assert problem.path == "$.parameters.parity"
    assert problem.value == 3
    assert problem.message.startswith("EC:3 is more than half")
    assert dpp_platform.list_operations() == []
    assert nothing_allocated(dpp_platform)


def test_parity_outside_the_schema_is_refused_before_any_operation(dpp_platform: Platform) -> None:
    """EC:0 and EC:9 break the manifest's schema; the request is refused synchronously."""
    with pytest.raises(dpp.ValidationError) as caught:
        dpp_platform.create_instance(
            service="minio", name="m1", capacity_gb=100, parameters={"parity": 0, "servers": 0}
        )
    assert {p.path for p in caught.value.problems} == {
        "$.parameters.parity",
        "$.parameters.servers",
    }
    assert nothing_allocated(dpp_platform)
    assert dpp_platform.list_operations() == []


def test_drive_counts_that_cannot_form_erasure_sets_are_refused_with_every_problem(
    dpp_platform: Platform,
) -> None:
    """17 servers x 1 drive: no set size divides 17 and 17 servers need 17 hosts; both listed."""
    with pytest.raises(dpp.ValidationError) as caught:
        dpp_platform.create_instance(
            service="minio",
            name="m1",
            capacity_gb=100,
            parameters={"servers": 17, "drivesPerServer": 1},
        )
    problems = sorted(caught.value.problems, key=lambda p: p.path)
    assert [p.path for p in problems] == ["$.parameters.drivesPerServer", "$.parameters.servers"]
    assert "17 drives cannot form MinIO erasure sets" in problems[0].message
    assert "4 connected hosts" in problems[1].message
    assert dpp_platform.list_operations() == []
    assert nothing_allocated(dpp_platform)


def _minio_accepts(servers: int, drives: int, parity: int) -> bool:
    """MinIO's rules, straight from their definition: some set size N in 4..16 divides the
    pool, spans the servers evenly (N % servers == 0 or servers % N == 0); with the largest
    such N, 1 <= parity <= N / 2."""
    total = servers * drives
    sizes = [n for n in range(4, 17) if total % n == 0 and (n % servers == 0 or servers % n == 0)]
    return bool(sizes) and 1 <= parity <= max(sizes) / 2


@settings(max_examples=300, deadline=None)
@given(servers=st.integers(1, 32), drives=st.integers(1, 16), parity=st.integers(1, 8))
def test_parameters_pass_validation_exactly_when_minio_rules_hold(
    servers: int, drives: int, parity: int
) -> None:
    """parameter_problems is empty iff the layout obeys MinIO's erasure-set rules."""
    problems = parameter_problems({"servers": servers, "drivesPerServer": drives, "parity": parity})
    assert (problems == []) == _minio_accepts(servers, drives, parity)
    assert all(p.path.startswith("$.parameters.") for p in problems)


@settings(max_examples=25, deadline=None)
@given(servers=st.integers(1, 6), drives=st.integers(1, 5), parity=st.integers(1, 8))
def test_the_platform_provisions_exactly_the_layouts_minio_accepts(
    servers: int, drives: int, parity: int
) -> None:
    """Through the platform: valid layouts become ready; invalid ones allocate nothing."""
    config = ClusterConfig.uniform(hosts=6)
    with minio_platform(config) as dpp_platform:
        parameters = {"servers": servers, "drivesPerServer": drives, "parity": parity}
        if _minio_accepts(servers, drives, parity):
            dpp_platform.create_instance(
                service="minio", name="m1", capacity_gb=100, parameters=parameters
            )
            info = dpp_platform.get_instance("m1")
            assert len({m.host for m in info.members}) == servers
            assert len(info.volumes) == servers * drives
            assert dpp_platform.remove_instance("m1").result["leaked"] == []
        else:
            with pytest.raises(dpp.ValidationError) as caught:
                dpp_platform.create_instance(
                    service="minio", name="m1", capacity_gb=100, parameters=parameters
                )
            assert all(p.path.startswith("$.parameters.") for p in caught.value.problems)
            assert dpp_platform.list_operations() == []
        assert nothing_allocated(dpp_platform)


# --------------------------------------------------------------------------- health


def test_health_turns_yellow_while_writable_and_red_below_write_quorum(
    dpp_platform: Platform,
) -> None:
    """16 drives, EC:4: one host down leaves 12 (= write quorum), two leave 8."""
    dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
    check = set_check(dpp_platform, "m1")
    assert check.status is dpp.HealthStatus.GREEN
    assert check.message.startswith("pool 0 set 0: 16/16 drives online, write quorum 12")

    dpp_platform.inject_host_failure(host_of(dpp_platform, "m1", "pool0-server-1"))
    check = set_check(dpp_platform, "m1")
    assert check.status is dpp.HealthStatus.YELLOW
    assert "12/16 drives online, write quorum 12" in check.message
    assert "pool0-server-1 unreachable" in check.message
    assert dpp_platform.instance_health("m1").status is dpp.HealthStatus.YELLOW
    probe = dpp_platform.data_probe("m1")
    assert probe is not None
    probe.write("while-degraded", b"still writable")

    dpp_platform.inject_host_failure(host_of(dpp_platform, "m1", "pool0-server-2"))
    check = set_check(dpp_platform, "m1")
    assert check.status is dpp.HealthStatus.RED
    assert "8/16 drives online" in check.message
    assert dpp_platform.instance_health("m1").status is dpp.HealthStatus.RED
    with pytest.raises(dpp.DataUnavailable, match="below write quorum 12"):
        probe.write("refused", b"no quorum")

    dpp_platform.clear_faults()
    assert dpp_platform.instance_health("m1").status is dpp.HealthStatus.GREEN
    assert probe.read("while-degraded") == b"still writable"


def test_half_parity_needs_one_more_drive_to_write_than_to_read() -> None:
    """4 drives, EC:2 (K = N/2): write quorum 3, read quorum 2."""
    with minio_platform() as dpp_platform:
        dpp_platform.create_instance(service="minio", name="m1", plan="small", capacity_gb=100)
        probe = dpp_platform.data_probe("m1")
        assert probe is not None
        probe.write("obj", payload(1))
        dpp_platform.inject_host_failure("esx-01")
        assert set_check(dpp_platform, "m1").status is dpp.HealthStatus.YELLOW
        dpp_platform.inject_host_failure("esx-02")
        check = set_check(dpp_platform, "m1")
        assert check.status is dpp.HealthStatus.RED
        assert "2/4 drives online, write quorum 3, read quorum 2" in check.message
        assert probe.read("obj") == payload(1)
        with pytest.raises(dpp.DataUnavailable):
            probe.write("obj", b"a split set must not accept this")
        assert probe.read("obj") == payload(1)


# --------------------------------------------------------------------------- maintenance


def test_maintenance_is_vetoed_when_a_set_would_lose_write_quorum(dpp_platform: Platform) -> None:
    """EC:2 on 16 drives needs 14 online; a host holds 4 of them, so maintenance is refused."""
    dpp_platform.create_instance(
        service="minio", name="m1", capacity_gb=1000, parameters={"parity": 2}
    )
    precheck = dpp_platform.maintenance_precheck("esx-01", "ensure-accessibility")
    assert precheck.instances[0].stopped_members == ("pool0-server-0",)
    with pytest.raises(MaintenanceVetoed) as caught:
        dpp_platform.enter_maintenance("esx-01", "ensure-accessibility")
    (veto,) = caught.value.vetoes
    assert veto.reason is dpp.VetoReason.NOT_ENOUGH_RESOURCES
    assert "pool 0 set 0 would keep 12/16 drives online" in veto.message
    assert "write quorum 14" in veto.message
    assert dpp_platform.list_hosts()[0].state == "connected"


def test_maintenance_is_allowed_while_quorum_holds_and_counts_drives_already_offline(
    dpp_platform: Platform,
) -> None:
    """EC:4: the first host may go (12 left = quorum); a second is vetoed; exit restores green."""
    dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
    result = dpp_platform.enter_maintenance("esx-01", "no-action")
    assert result.consulted == ("m1",)
    assert set_check(dpp_platform, "m1").status is dpp.HealthStatus.YELLOW
    with pytest.raises(MaintenanceVetoed) as caught:
        dpp_platform.enter_maintenance("esx-02", "no-action")
    assert (
        "8/16 drives online (4 already offline), write quorum 12" in caught.value.vetoes[0].message
    )
    dpp_platform.exit_maintenance("esx-01")
    assert dpp_platform.instance_health("m1").status is dpp.HealthStatus.GREEN


# --------------------------------------------------------------------------- durability


def test_probe_reads_every_byte_after_a_host_failure_and_fails_after_a_second(
    dpp_platform: Platform,
) -> None:
    """A host holds K = 4 drives of the set: one host lost is survivable, two are not."""
    dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
    probe = dpp_platform.data_probe("m1")
    assert probe is not None
    objects = {f"obj-{i}": payload(i, 1000 * i + 1) for i in range(6)}
    for key, data in objects.items():
        probe.write(key, data)
    dpp_platform.inject_host_failure("esx-03")
    for key, data in objects.items():
        assert probe.read(key) == data
    dpp_platform.inject_host_failure("esx-04")
    with pytest.raises(dpp.DataUnavailable, match="8 of 16 shards readable, 12 needed"):
        probe.read("obj-0")
    with pytest.raises(KeyError):
        probe.read("never-written")


def test_probe_survives_parity_many_disk_failures_and_fails_beyond() -> None:
    """vsan-direct, no spare direct disk: each failed disk loses one drive until replaced."""
    config = ClusterConfig.uniform(hosts=4, direct_disks_per_host=4)
    with minio_platform(config) as dpp_platform:
        dpp_platform.create_instance(
            service="minio", name="m1", capacity_gb=1000, policy="vsan-direct"
        )
        probe = dpp_platform.data_probe("m1")
        assert probe is not None
        probe.write("obj", payload(7))
        for host in ("esx-01", "esx-02", "esx-03", "esx-04"):
            dpp_platform.inject_disk_failure(host, "direct-0")
        assert probe.read("obj") == payload(7)
        check = set_check(dpp_platform, "m1")
        assert check.status is dpp.HealthStatus.YELLOW
        assert "12/16 drives online" in check.message
        dpp_platform.inject_disk_failure("esx-01", "direct-1")
        with pytest.raises(dpp.DataUnavailable, match="11 of 16 shards readable"):
            probe.read("obj")
        assert set_check(dpp_platform, "m1").status is dpp.HealthStatus.RED
        # New disks bring fresh drives (health green again), but the object is gone for good.
        dpp_platform.clear_faults()
        assert dpp_platform.instance_health("m1").status is dpp.HealthStatus.GREEN
        with pytest.raises(dpp.DataUnavailable):
            probe.read("obj")


# --------------------------------------------------------------------------- repair


def test_a_failed_hosts_server_waits_for_the_repair_timer_then_moves_and_heals() -> None:
    """With a spare host, the server of a failed host is waited for (yellow, still readable);
    when the repair timer expires on_failure moves it there, heals its drives, and health is
    green again; a later host failure is survivable only because the shards were rebuilt."""
    with minio_platform(ClusterConfig.uniform(hosts=5)) as dpp_platform:
        dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
        probe = dpp_platform.data_probe("m1")
        assert probe is not None
        probe.write("obj", payload(3))
        failed = host_of(dpp_platform, "m1", "pool0-server-1")
        dpp_platform.inject_host_failure(failed)
        dpp_platform.advance(59 * 60)
        assert host_of(dpp_platform, "m1", "pool0-server-1") == failed
        assert dpp_platform.instance_health("m1").status is dpp.HealthStatus.YELLOW
        assert probe.read("obj") == payload(3)
        dpp_platform.advance(2 * 60)
        moved = host_of(dpp_platform, "m1", "pool0-server-1")
        assert moved not in {failed} | {
            m.host for m in dpp_platform.get_instance("m1").members if m.name != "pool0-server-1"
        }
        assert dpp_platform.instance_health("m1").status is dpp.HealthStatus.GREEN
        assert probe.read("obj") == payload(3)
        dpp_platform.inject_host_failure(host_of(dpp_platform, "m1", "pool0-server-2"))
        assert probe.read("obj") == payload(3)


def test_a_server_with_nowhere_to_go_stays_degraded_and_the_log_says_why(tmp_path: Path) -> None:
    """4 hosts, 4 servers: the failed host's server cannot move (anti-affinity), so it waits."""
    with Platform.open(tmp_path) as dpp_platform:
        dpp_platform.register_service(str(HERE))
        dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
        dpp_platform.inject_host_failure("esx-02")
        dpp_platform.advance(61 * 60)  # the repair timer expires: the server is lost
        assert host_of(dpp_platform, "m1", "pool0-server-1") == "esx-02"
        assert set_check(dpp_platform, "m1").status is dpp.HealthStatus.YELLOW
        assert dpp_platform.log_path is not None
        log = dpp_platform.log_path.read_text("utf-8")
        assert "pool0-server-1 is on failed host esx-02 and no healthy host" in log
        assert "pool 0 stays degraded" in log


def test_a_server_is_not_replaced_while_the_rest_of_its_set_is_below_read_quorum(
    tmp_path: Path,
) -> None:
    """With spare hosts, a failed host's server keeps its drives while its set cannot heal."""
    with Platform.open(tmp_path, config=ClusterConfig.uniform(hosts=6)) as dpp_platform:
        dpp_platform.register_service(str(HERE))
        dpp_platform.create_instance(service="minio", name="m1", capacity_gb=100)
        probe = dpp_platform.data_probe("m1")
        assert probe is not None
        probe.write("obj", payload(11))
        a, b = (host_of(dpp_platform, "m1", f"pool0-server-{s}") for s in range(2))
        dpp_platform.enter_maintenance(b, "ensure-accessibility")  # 12/16 online: allowed
        dpp_platform.inject_host_failure(a)  # 8/16 online without server-0: below read quorum 12
        dpp_platform.advance(61 * 60)  # lost, but its set cannot heal fresh drives: it waits
        assert host_of(dpp_platform, "m1", "pool0-server-0") == a
        assert dpp_platform.log_path is not None
        log = dpp_platform.log_path.read_text("utf-8")
        assert "pool0-server-0 is on failed host" in log
        assert "below read quorum 12" in log
        # The host returns with its drives declared lost; with server-1 back from maintenance
        # 12 of 16 shards are readable, so the server gets fresh drives and heals.
        dpp_platform.clear_faults()
        dpp_platform.exit_maintenance(b)
        assert host_of(dpp_platform, "m1", "pool0-server-0") == a
        assert probe.read("obj") == payload(11)
        assert dpp_platform.instance_health("m1").status is dpp.HealthStatus.GREEN


def test_a_lost_drive_is_replaced_on_another_disk_and_healed(dpp_platform: Platform) -> None:
    """vsan-sna: a failed capacity disk destroys drives; they are re-created on the host's
    other disk and their shards rebuilt, so losing a whole host afterwards is survivable."""
    dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
    probe = dpp_platform.data_probe("m1")
    assert probe is not None
    probe.write("obj", payload(4))
    host = host_of(dpp_platform, "m1", "pool0-server-0")
    dpp_platform.inject_disk_failure(host, "cap-0")
    drives = [
        v for v in dpp_platform.get_instance("m1").volumes if v.name.startswith("pool0-server-0")
    ]
    assert all(v.state == "healthy" and v.components[0].disk == "cap-1" for v in drives)
    assert dpp_platform.instance_health("m1").status is dpp.HealthStatus.GREEN
    dpp_platform.inject_host_failure(host_of(dpp_platform, "m1", "pool0-server-3"))
    assert probe.read("obj") == payload(4)


def test_a_direct_drive_is_replaced_on_a_spare_direct_disk() -> None:
    """vsan-direct with a fifth direct disk per host: the lost drive moves to it and heals."""
    config = ClusterConfig.uniform(hosts=4, direct_disks_per_host=5)
    with minio_platform(config) as dpp_platform:
        dpp_platform.create_instance(
            service="minio", name="m1", capacity_gb=1000, policy="vsan-direct"
        )
        probe = dpp_platform.data_probe("m1")
        assert probe is not None
        probe.write("obj", payload(5))
        dpp_platform.inject_disk_failure("esx-02", "direct-0")
        assert dpp_platform.instance_health("m1").status is dpp.HealthStatus.GREEN
        # Four more drives lost: readable only because the replaced drive was healed.
        dpp_platform.inject_host_failure("esx-03")
        assert probe.read("obj") == payload(5)


def test_drives_that_missed_writes_are_healed_when_their_host_recovers(
    dpp_platform: Platform,
) -> None:
    """An object written while a host was down gets its shards there once the host is back."""
    dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
    probe = dpp_platform.data_probe("m1")
    assert probe is not None
    dpp_platform.inject_host_failure("esx-02")
    probe.write("obj", payload(6))
    dpp_platform.clear_host_failure("esx-02")
    dpp_platform.inject_host_failure("esx-03")
    assert probe.read("obj") == payload(6)


def test_objects_written_during_maintenance_are_healed_when_the_host_returns(
    dpp_platform: Platform,
) -> None:
    """Leaving maintenance triggers healing, so the stopped server gets its shards."""
    dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
    probe = dpp_platform.data_probe("m1")
    assert probe is not None
    dpp_platform.enter_maintenance("esx-01", "ensure-accessibility")
    probe.write("obj", payload(10))
    dpp_platform.exit_maintenance("esx-01")
    dpp_platform.inject_host_failure("esx-02")
    assert probe.read("obj") == payload(10)


# --------------------------------------------------------------------------- scale, configure


def test_scale_adds_a_server_pool_and_capacity_never_shrinks(dpp_platform: Platform) -> None:
    """1000 -> 2000 GB adds pool 1 (its servers on distinct hosts); shrinking is refused."""
    dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
    probe = dpp_platform.data_probe("m1")
    assert probe is not None
    probe.write("old", payload(8))
    dpp_platform.scale_instance("m1", 2000)
    info = dpp_platform.get_instance("m1")
    pool1 = [m for m in info.members if m.name.startswith("pool1-")]
    assert len(pool1) == 4
    assert len({m.host for m in pool1}) == 4
    assert info.spec.capacity_gb == 2000
    drive_gb = {v.name.split("-")[0]: v.size_gb for v in info.volumes}
    assert 16 * (drive_gb["pool0"] + drive_gb["pool1"]) * 12 / 16 >= 2000
    assert {c.name for c in dpp_platform.instance_health("m1").checks} >= {
        "pool0-set0",
        "pool1-set0",
    }
    assert probe.read("old") == payload(8)
    probe.write("new", payload(9))
    assert probe.read("new") == payload(9)
    dpp_platform.scale_instance("m1", 2000)  # the same capacity again changes nothing
    assert len(dpp_platform.get_instance("m1").members) == 8

    with pytest.raises(dpp.ValidationError, match="minio cannot shrink") as caught:
        dpp_platform.scale_instance("m1", 1500)
    assert caught.value.problems[0].path == "$.capacity_gb"
    assert dpp_platform.get_instance("m1").spec.capacity_gb == 2000


class ShrinkableMinio(MinioProvider):
    """MinIO with a (false) claim that it can shrink, to reach the provider's own refusal."""

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        """MinIO's manifest, renamed, declaring capacity_scale_down."""
        return attrs.evolve(
            MANIFEST,
            name="minio-shrinkable",
            capabilities=attrs.evolve(MANIFEST.capabilities, capacity_scale_down=True),
        )


def test_the_provider_itself_refuses_to_shrink_saying_why() -> None:
    """If the platform ever lets a shrink through, scale fails saying capacity never shrinks."""
    with Platform.open() as dpp_platform:
        dpp_platform.register_service(ShrinkableMinio)
        dpp_platform.create_instance(service="minio-shrinkable", name="m1", capacity_gb=1000)
        with pytest.raises(dpp.OperationFailed, match="MinIO capacity never shrinks"):
            dpp_platform.scale_instance("m1", 500)
        info = dpp_platform.get_instance("m1")
        assert info.spec.capacity_gb == 1000
        assert len(info.members) == 4


def test_a_pool_that_cannot_be_placed_refuses_the_scale_and_leaves_nothing(
    dpp_platform: Platform,
) -> None:
    """With a host down only 3 hosts are free for 4 servers: the footprint's dry run refuses
    the scale before any operation starts."""
    dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
    before = dpp_platform.resources().reserved_gb
    dpp_platform.inject_host_failure("esx-04")
    with pytest.raises(dpp.PlacementFailed, match=r"AntiAffinityUnsatisfiable.*pool1-server-3"):
        dpp_platform.scale_instance("m1", 2000)
    assert [a.outcome for a in dpp_platform.audit() if a.action == "instance.scale"] == ["refused"]
    assert dpp_platform.get_instance("m1").spec.capacity_gb == 1000
    assert dpp_platform.resources().reserved_gb == before
    assert len(dpp_platform.get_instance("m1").members) == 4
    assert "pool1-set0" not in {c.name for c in dpp_platform.instance_health("m1").checks}


def test_parity_is_fixed_but_the_next_pool_may_take_a_new_shape(dpp_platform: Platform) -> None:
    """Changing parity is refused; a new drivesPerServer shapes the pool the next scale adds."""
    dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
    with pytest.raises(dpp.ValidationError, match="parity is fixed at EC:4"):
        dpp_platform.configure_instance("m1", {"parity": 2})
    assert dpp_platform.get_instance("m1").spec.parameters["parity"] == 4

    dpp_platform.configure_instance("m1", {"drivesPerServer": 2})
    dpp_platform.scale_instance("m1", 1500)
    pool1 = [v for v in dpp_platform.get_instance("m1").volumes if v.name.startswith("pool1-")]
    assert len(pool1) == 8  # 4 servers x 2 drives: one 8-drive set, EC:4 (write quorum 5)
    assert "8/8 drives online, write quorum 5, read quorum 4" in (
        set_check(dpp_platform, "m1", "pool1-set0").message
    )


def test_invalid_new_parameters_are_refused_with_their_paths(dpp_platform: Platform) -> None:
    """3 servers x 7 drives cannot form symmetric sets: configure is refused naming the field."""
    dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
    with pytest.raises(dpp.ValidationError) as caught:
        dpp_platform.configure_instance("m1", {"servers": 3, "drivesPerServer": 7})
    problem = caught.value.problems[0]
    assert problem.path == "$.parameters.drivesPerServer"
    assert problem.message.startswith("3 servers x 7 drives")
    assert dpp_platform.get_instance("m1").spec.parameters["drivesPerServer"] == 4


# --------------------------------------------------------------------------- decommission


def test_decommission_leaves_nothing_even_after_repairs_and_growth() -> None:
    """After a scale and a repair, remove_instance reports no leak and frees every GB."""
    with minio_platform(ClusterConfig.uniform(hosts=5)) as dpp_platform:
        dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
        dpp_platform.scale_instance("m1", 2000)
        dpp_platform.inject_host_failure("esx-01")
        operation = dpp_platform.remove_instance("m1")
        assert operation.result["leaked"] == []
        assert nothing_allocated(dpp_platform)
        assert dpp_platform.events(kind="secret-leak") == []


# --------------------------------------------------------------------------- maintenance drain


def test_evacuate_all_moves_the_server_and_heals_it_before_the_host_goes() -> None:
    """5 hosts: the drained host's server is re-created on the spare host with fresh drives,
    healed from its sets; then the host enters maintenance and the object stays readable."""
    with minio_platform(ClusterConfig.uniform(hosts=5)) as dpp_platform:
        dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
        probe = dpp_platform.data_probe("m1")
        assert probe is not None
        probe.write("obj", payload(21))
        host = host_of(dpp_platform, "m1", "pool0-server-2")
        result = dpp_platform.enter_maintenance(host, "evacuate-all")
        assert result.drained == ("m1",)
        assert host_of(dpp_platform, "m1", "pool0-server-2") != host
        assert dpp_platform.instance_health("m1").status is dpp.HealthStatus.GREEN
        assert probe.read("obj") == payload(21)


def test_planned_downtime_stops_the_server_and_heals_it_on_return(dpp_platform: Platform) -> None:
    dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
    probe = dpp_platform.data_probe("m1")
    assert probe is not None
    host = host_of(dpp_platform, "m1", "pool0-server-0")
    dpp_platform.enter_maintenance(host, "no-action")
    members = {m.name: m.state for m in dpp_platform.get_instance("m1").members}
    assert members["pool0-server-0"] == "stopped"
    probe.write("while-down", payload(22))
    dpp_platform.exit_maintenance(host)
    assert dpp_platform.instance_health("m1").status is dpp.HealthStatus.GREEN
    assert probe.read("while-down") == payload(22)


# --------------------------------------------------------------------------- the footprint


def holdings(dpp_platform: Platform, instance: str) -> dpp.Footprint:
    """What ``instance`` holds, as a footprint: each server with its drives."""
    info = dpp_platform.get_instance(instance)
    return dpp.Footprint(
        members=tuple(
            dpp.MemberFootprint(
                name=m.name,
                volumes=tuple(
                    dpp.VolumeClaim(name=v.name, size_gb=v.size_gb)
                    for v in info.volumes
                    if v.member == m.name
                ),
            )
            for m in info.members
        )
    )


def shape(footprint: dpp.Footprint | None) -> list[tuple[str, list[tuple[str, float]]]]:
    """Servers and their drives (name, size), sorted, to compare footprints."""
    assert footprint is not None
    return sorted(
        (m.name, sorted((v.name, float(v.size_gb)) for v in m.volumes)) for m in footprint.members
    )


def declared(dpp_platform: Platform, instance: str, current: dpp.Footprint | None) -> object:
    """The sample's footprint of ``instance``'s spec now, given it held ``current``."""
    spec = dpp_platform.get_instance(instance).spec
    view = dpp.ClusterView(hosts=tuple(dpp_platform.list_hosts()))
    return shape(MinioProvider().footprint(spec, view, current=current))


@settings(max_examples=20, deadline=None)
@given(
    layout=st.sampled_from([(4, 4, 4), (4, 1, 2), (6, 3, 3), (5, 4, 2), (2, 2, 2), (4, 2, 4)]),
    policy=st.sampled_from(["vsan-sna", "vsan-direct"]),
    capacity=st.integers(10, 900),
    growth=st.lists(st.integers(0, 400), max_size=2),
    next_drives=st.sampled_from([None, 1, 2]),
)
def test_the_footprint_is_what_provision_and_scale_make(
    layout: tuple[int, int, int],
    policy: str,
    capacity: int,
    growth: list[int],
    next_drives: int | None,
) -> None:
    """For any valid layout: the footprint of a create names exactly the servers and drives
    (sizes too) provision makes, and the footprint of a scale, told what the tenant held,
    exactly what it holds afterwards (the new pool in the shape configured last)."""
    servers, drives, parity = layout
    parameters = {"servers": servers, "drivesPerServer": drives, "parity": parity}
    with minio_platform(ClusterConfig.uniform(hosts=6)) as dpp_platform:
        dpp_platform.create_instance(
            service="minio", name="m1", capacity_gb=capacity, parameters=parameters, policy=policy
        )
        assert declared(dpp_platform, "m1", None) == shape(holdings(dpp_platform, "m1"))
        if (
            next_drives is not None
            and parameter_problems({**parameters, "drivesPerServer": next_drives}) == []
        ):
            dpp_platform.configure_instance("m1", {"drivesPerServer": next_drives})
        for more in growth:
            before = holdings(dpp_platform, "m1")
            try:
                dpp_platform.scale_instance("m1", capacity + more)
            except (dpp.QuotaExceeded, dpp.PlacementFailed):
                assert holdings(dpp_platform, "m1") == before  # refused up front
                continue
            capacity += more
            after = shape(holdings(dpp_platform, "m1"))
            assert declared(dpp_platform, "m1", before) == after
        assert dpp_platform.remove_instance("m1").result["leaked"] == []


def test_the_largest_small_tenant_is_refused_up_front_counting_its_parity() -> None:
    """Plan small at 10,000 GB: 4 drives of 5,000 GB (EC:2 doubles the data) need 20,000 GB
    raw against a 19,200 GB quota. The platform's estimate sees 10,000 GB; the footprint
    refuses it before any server exists."""
    with minio_platform(ClusterConfig.uniform(hosts=6)) as dpp_platform:
        with pytest.raises(dpp.QuotaExceeded, match=r"declares 20000\.0 GB of raw capacity"):
            dpp_platform.create_instance(
                service="minio", name="m1", plan="small", capacity_gb=10_000
            )
        assert [a.outcome for a in dpp_platform.audit() if a.action == "instance.provision"] == [
            "refused"
        ]
        assert nothing_allocated(dpp_platform)


def test_a_scale_past_the_quota_is_refused_and_the_tenant_is_unchanged() -> None:
    """19,201 GB on six hosts (19,200 GB quota): the new pool alone needs more than is left."""
    with minio_platform(ClusterConfig.uniform(hosts=6)) as dpp_platform:
        dpp_platform.create_instance(service="minio", name="m1", capacity_gb=1000)
        before = holdings(dpp_platform, "m1")
        with pytest.raises(dpp.QuotaExceeded, match="more of raw capacity"):
            dpp_platform.scale_instance("m1", 19_201)
        assert holdings(dpp_platform, "m1") == before
        assert dpp_platform.get_instance("m1").spec.capacity_gb == 1000
        assert [a.outcome for a in dpp_platform.audit() if a.action == "instance.scale"] == [
            "refused"
        ]
