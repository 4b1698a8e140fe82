"""The RAID-1 FTT=2 and FTT=3 mirrors and ESA's adaptive RAID-5 on a running platform:
placement, raw capacity, rebuilds, the repair timer, maintenance, volumes that keep the layout
they were created with, and the CLI. That any FTT failures keep every byte and FTT+1 do not is
checked for every layout in test_platform_faults."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs
import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

import dpp_sdk as dpp
from dpp_sdk import testing
from dpp_sdk.cli._app import cli
from dpp_sdk.contract._serde import converter
from dpp_sdk.platform import ClusterConfig, ManualClock, Platform
from dpp_sdk.platform._policies import Architecture
from dpp_sdk.platform._records import VolumeRecord

MIRRORS = {"vsan-raid1-ftt2": 2, "vsan-raid1-ftt3": 3}
"""The new mirrors and the failures each tolerates (FTT)."""

HOUR = 3600.0


@contextmanager
def cluster(
    hosts: int,
    architecture: Architecture = "osa",
    *,
    clock: ManualClock | None = None,
    disks: int = 2,
    disk_gb: float = 2000,
) -> Iterator[Platform]:
    """An in-memory platform of ``hosts`` hosts (one fault domain each, ``disks`` capacity disks
    of ``disk_gb``, no direct disks) with the kv-wide service, which offers every redundant
    policy."""
    config = attrs.evolve(
        ClusterConfig.uniform(
            hosts=hosts,
            capacity_disks_per_host=disks,
            capacity_disk_gb=disk_gb,
            direct_disks_per_host=0,
        ),
        architecture=architecture,
    )
    with Platform.open(config=config, clock=clock) as p:
        p.register_service("tests.providers:WideKVProvider")
        yield p


def _volume(p: Platform, instance: str = "kv1") -> dpp.VolumeInfo:
    (volume,) = p.get_instance(instance).volumes
    return volume


def _layout(volume: dpp.VolumeInfo) -> tuple[int, int]:
    """``(data or replica components, parity or witness components)``."""
    roles = [c.role for c in volume.components]
    full = roles.count("data") + roles.count("replica")
    return full, len(roles) - full


# -- the RAID-1 FTT=2 and FTT=3 mirrors --------------------------------------------------------


@pytest.mark.parametrize(("policy", "ftt"), MIRRORS.items())
def test_a_raid1_mirror_needs_two_ftt_plus_one_fault_domains(policy: str, ftt: int) -> None:
    """One host short of 2*FTT+1, placement fails with PolicyUnsatisfiable naming the figure;
    with enough, the replicas and witnesses land on distinct fault domains."""
    with cluster(2 * ftt) as p, pytest.raises(dpp.OperationFailed) as caught:
        p.create_instance(service="kv-wide", name="kv1", capacity_gb=10, policy=policy)
    assert "PolicyUnsatisfiable" in str(caught.value)
    assert f"needs {2 * ftt + 1} fault domains" in str(caught.value)
    assert f"{policy} tolerates {ftt} failures" in str(caught.value)
    with cluster(2 * ftt + 1) as p:
        p.create_instance(service="kv-wide", name="kv1", capacity_gb=10, policy=policy)
        volume = _volume(p)
        assert _layout(volume) == (ftt + 1, ftt)
        assert len(set(volume.hosts)) == 2 * ftt + 1
        assert volume.state == "healthy"


@pytest.mark.parametrize(("policy", "ftt"), MIRRORS.items())
def test_a_raid1_mirror_reserves_ftt_plus_one_times_its_size(policy: str, ftt: int) -> None:
    """100 GB at FTT=2 reserves 300 GB raw, at FTT=3 400 GB: one full copy per replica, 0 GB per
    witness; expanding reserves (FTT+1)x the growth, and removal gives it all back."""
    with cluster(2 * ftt + 1) as p:  # thick: reserved at creation, not as written
        p.create_instance(service="kv-wide", name="kv1", capacity_gb=100, policy=f"{policy}-thick")
        assert p.resources().reserved_gb == pytest.approx(100.0 * (ftt + 1))
        sizes = {c.role: set() for c in _volume(p).components}
        for usage in p.resources().disks:
            for c in _volume(p).components:
                if (c.host, c.disk) == (usage.host, usage.disk):
                    sizes[c.role].add(usage.reserved_gb)
        assert sizes == {"replica": {100.0}, "witness": {0.0}}
        p.scale_instance("kv1", capacity_gb=150)
        assert p.resources().reserved_gb == pytest.approx(150.0 * (ftt + 1))
        assert p.check_consistency() == []
        p.remove_instance("kv1")
        assert p.resources().reserved_gb == 0


def test_a_raid1_ftt2_replica_on_a_failed_disk_is_rebuilt_at_once_and_keeps_its_bytes() -> None:
    """A disk failure destroys a replica; it is rebuilt elsewhere from the others at once, and
    the volume is healthy with all 5 components again."""
    with cluster(6) as p:
        p.create_instance(service="kv-wide", name="kv1", capacity_gb=5, policy="vsan-raid1-ftt2")
        testing.write_volume(p, "kv1", "data", 4096, b"precious" * 1000)
        replica = next(c for c in _volume(p).components if c.role == "replica")
        p.inject_disk_failure(replica.host, replica.disk)
        volume = _volume(p)
        assert volume.state == "healthy"
        assert (replica.host, replica.disk) not in {(c.host, c.disk) for c in volume.components}
        assert _layout(volume) == (3, 2)
        assert testing.read_volume(p, "kv1", "data", 4096, 8000) == b"precious" * 1000
        assert p.check_consistency() == []


def test_a_raid1_ftt3_mirror_is_rebuilt_after_the_repair_timer_on_the_spare_host() -> None:
    """8 hosts, FTT=3 on 7: a failed host's component waits 60 minutes, then is rebuilt on the
    eighth host; the volume is healthy again and the bytes read without the failed host."""
    with cluster(8, clock=ManualClock()) as p:
        p.create_instance(service="kv-wide", name="kv1", capacity_gb=5, policy="vsan-raid1-ftt3")
        testing.write_volume(p, "kv1", "data", 0, b"survivor")
        down = _volume(p).components[0].host
        p.inject_host_failure(down)
        assert _volume(p).health is dpp.ObjectHealth.REDUCED_AVAILABILITY_DELAY_TIMER
        p.advance(HOUR + 60)
        p.advance(60)  # the rebuilt component copies its bytes at resync_mbps
        volume = _volume(p)
        assert volume.health is dpp.ObjectHealth.HEALTHY
        assert down not in volume.hosts
        assert len(set(volume.hosts)) == 7
        assert testing.read_volume(p, "kv1", "data", 0, 8) == b"survivor"
        assert p.check_consistency() == []


def test_maintenance_of_a_raid1_ftt2_host_is_predicted_and_evacuated_to_a_spare() -> None:
    """6 hosts, FTT=2 on 5: no-action leaves it accessible with reduced availability;
    evacuate-all moves the component to the sixth host, keeping every byte."""
    with cluster(6) as p:
        p.create_instance(service="kv-wide", name="kv1", capacity_gb=5, policy="vsan-raid1-ftt2")
        testing.write_volume(p, "kv1", "data", 0, b"m" * 10_000)
        host = next(c.host for c in _volume(p).components if c.role == "replica")
        check = p.maintenance_precheck(host, dpp.MaintenanceMode.NO_ACTION)
        assert (check.inaccessible, check.reduced_availability) == ((), ("kv1",))
        evac = p.maintenance_precheck(host, dpp.MaintenanceMode.EVACUATE_ALL)
        assert evac.bytes_to_rebuild == 10_000
        p.enter_maintenance(host, "evacuate-all")
        volume = _volume(p)
        assert host not in volume.hosts
        assert volume.state == "healthy"
        assert testing.read_volume(p, "kv1", "data", 0, 10_000) == b"m" * 10_000


# -- ESA's adaptive RAID-5 ---------------------------------------------------------------------


def test_the_maintenance_precheck_of_an_esa_raid5_host_counts_its_own_stripes() -> None:
    """3 ESA hosts, a 2+1 volume with 9000 bytes written: ensure-accessibility keeps it
    accessible; evacuate-all would move 2 stripes of 4096 bytes (a 3+1 volume has 1) and
    reports that the component has no new home on a 3-host cluster."""
    with cluster(3, "esa") as p:
        p.create_instance(service="kv-wide", name="kv1", capacity_gb=5, policy="vsan-raid5")
        testing.write_volume(p, "kv1", "data", 0, b"x" * 9000)
        host = _volume(p).components[0].host
        ensure = p.maintenance_precheck(host, dpp.MaintenanceMode.ENSURE_ACCESSIBILITY)
        assert (ensure.inaccessible, ensure.reduced_availability) == ((), ("kv1",))
        evac = p.maintenance_precheck(host, dpp.MaintenanceMode.EVACUATE_ALL)
        assert evac.bytes_to_rebuild == 2 * 4096
        assert any("has no new home" in problem for problem in evac.problems)


@settings(max_examples=12, deadline=None)
@given(hosts=st.integers(3, 9), size=st.integers(1, 400))
def test_under_esa_a_raid5_volume_is_laid_out_by_the_host_count(hosts: int, size: int) -> None:
    """ESA: 2+1 (1.5x raw) on 3 to 5 hosts, 4+1 (1.25x) on 6 or more, one component per
    fault domain; OSA on the same cluster is 3+1 (4/3x), refused below 4 hosts."""
    with cluster(hosts, "esa") as p:
        p.create_instance(
            service="kv-wide", name="kv1", capacity_gb=size, policy="vsan-raid5-thick"
        )
        volume = _volume(p)
        k = 2 if hosts < 6 else 4
        assert _layout(volume) == (k, 1)
        assert len(set(volume.hosts)) == k + 1
        assert p.resources().reserved_gb == pytest.approx(size * (k + 1) / k)
        assert p.status().architecture == "esa"
    with cluster(hosts) as p:
        if hosts < 4:
            with pytest.raises(dpp.OperationFailed, match="needs 4 fault domains"):
                p.create_instance(
                    service="kv-wide", name="kv1", capacity_gb=size, policy="vsan-raid5"
                )
        else:
            p.create_instance(
                service="kv-wide", name="kv1", capacity_gb=size, policy="vsan-raid5-thick"
            )
            assert _layout(_volume(p)) == (3, 1)
            assert p.resources().reserved_gb == pytest.approx(size * 4 / 3)


def test_an_esa_raid5_volume_keeps_its_layout_when_a_host_fails_expands_and_rebuilds() -> None:
    """A 4+1 volume made on 6 hosts stays 4+1 with one host down, when it grows and when a
    lost component is rebuilt; a new volume is still 4+1 (the cluster did not shrink)."""
    with cluster(6, "esa", clock=ManualClock()) as p:
        p.create_instance(service="kv-wide", name="kv1", capacity_gb=40, policy="vsan-raid5-thick")
        testing.write_volume(p, "kv1", "data", 0, b"wide" * 5000)
        down = _volume(p).components[0].host
        p.inject_host_failure(down)
        p.scale_instance("kv1", capacity_gb=80)
        p.advance(HOUR + 60)
        p.advance(60)  # the rebuilt component copies its bytes at resync_mbps
        volume = _volume(p)
        assert _layout(volume) == (4, 1)
        assert volume.health is dpp.ObjectHealth.HEALTHY
        assert down not in volume.hosts
        assert p.resources().reserved_gb == pytest.approx(80 * 1.25)
        assert testing.read_volume(p, "kv1", "data", 0, 20_000) == b"wide" * 5000
        p.create_instance(service="kv-wide", name="kv2", capacity_gb=8, policy="vsan-raid5")
        assert _layout(_volume(p, "kv2")) == (4, 1)
        assert p.check_consistency() == []


def test_an_esa_raid5_volume_keeps_its_layout_across_a_restart(tmp_path: Path) -> None:
    """The k chosen at creation is stored with the volume and read back on reopening."""
    config = attrs.evolve(
        ClusterConfig.uniform(hosts=3, direct_disks_per_host=0), architecture="esa"
    )
    with Platform.open(tmp_path, config=config) as p:
        p.register_service("tests.providers:WideKVProvider")
        p.create_instance(service="kv-wide", name="kv1", capacity_gb=30, policy="vsan-raid5-thick")
        testing.write_volume(p, "kv1", "data", 100, b"kept")
    with Platform.open(tmp_path) as p:
        assert p.status().architecture == "esa"
        assert _layout(_volume(p)) == (2, 1)
        assert testing.read_volume(p, "kv1", "data", 100, 4) == b"kept"
        assert p.resources().reserved_gb == pytest.approx(45.0)
        assert p.check_consistency() == []


def test_a_stored_raid5_volume_without_a_recorded_k_is_3_plus_1() -> None:
    """Volumes stored before k was recorded load as the table's 3+1, whatever the architecture;
    a new record keeps k and reads it back."""
    old = {
        "id": "v-1",
        "instance": "kv1",
        "name": "data",
        "size_gb": 30.0,
        "policy": "vsan-raid5",
    }
    record = converter.structure(old, VolumeRecord)
    assert record.k is None
    assert (record.layout.k, record.layout.raw_factor) == (3, 4 / 3)
    again = converter.structure(converter.unstructure(attrs.evolve(record, k=2)), VolumeRecord)
    assert (again.k, again.layout.k, again.layout.raw_factor) == (2, 2, 1.5)


def test_under_esa_raid6_and_the_mirrors_keep_their_osa_layouts() -> None:
    """ESA changes RAID-5 only: RAID-6 is 4+2 and RAID-1 FTT=2 3 replicas + 2 witnesses."""
    with cluster(6, "esa") as p:
        p.create_instance(service="kv-wide", name="r6", capacity_gb=8, policy="vsan-raid6")
        p.create_instance(service="kv-wide", name="m2", capacity_gb=8, policy="vsan-raid1-ftt2")
        assert _layout(_volume(p, "r6")) == (4, 2)
        assert _layout(_volume(p, "m2")) == (3, 2)


def test_the_quota_check_of_a_request_uses_the_esa_layout() -> None:
    """A request is checked against the raw capacity of the layout it will get: on 3 ESA hosts
    of one 200 GB disk (quota 80% = 480 GB) RAID-5 is 2+1, so 330 GB needs 495 GB and is
    refused (as 3+1 it would have fitted in 440); 320 GB needs 480 and fits."""
    with cluster(3, "esa", disks=1, disk_gb=200) as p:
        with pytest.raises(dpp.QuotaExceeded, match=r"495\.0 GB"):
            p.create_instance(service="kv-wide", name="big", capacity_gb=330, policy="vsan-raid5")
        p.create_instance(
            service="kv-wide", name="fits", capacity_gb=320, policy="vsan-raid5-thick"
        )
        assert p.resources().reserved_gb == pytest.approx(480.0)


def test_the_cli_shows_the_architecture_and_each_raid5_volume_layout(tmp_path: Path) -> None:
    """`dpp platform status` says ESA; `dpp instance show` gives a RAID-5 volume's k+m."""
    ini = tmp_path / "esa.ini"
    ini.write_text("[cluster]\nhosts = 3\narchitecture = esa\n", "utf-8")
    runner = CliRunner(env={"COLUMNS": "200"})  # a wide table whatever the terminal says

    def dpp_cli(*args: str) -> str:
        result = runner.invoke(
            cli, ["--state-dir", str(tmp_path / "state"), "--config", str(ini), *args]
        )
        assert result.exit_code == 0, result.output
        return result.output

    assert "ESA" in dpp_cli("platform", "status")
    dpp_cli("service", "register", "tests.providers:WideKVProvider")
    dpp_cli(
        "instance", "create", "--service", "kv-wide", "--name", "kv1", "--capacity-gb", "3",
        "--policy", "vsan-raid5",
    )  # fmt: skip
    assert "vsan-raid5 2+1" in dpp_cli("instance", "show", "kv1")
