"""Several processes on one state directory: acknowledged bytes survive faults injected by
another process, and no update is lost."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

import dpp_sdk as dpp
from dpp_sdk import testing
from dpp_sdk.platform import Platform

ROOT = Path(__file__).resolve().parent.parent

WRITER = """
import json, sys
from dpp_sdk.platform import Platform
import dpp_sdk as dpp
from dpp_sdk import testing

state, log, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with Platform.open(state, recover=False) as p, open(log, "a") as out:
    for i in range(count):
        data = (f"write {{i:05d}} ".encode() * 400)[:4096]
        try:
            testing.write_volume(p, "r5", "data", i * 4096, data)
        except dpp.DataUnavailable as exc:
            print(json.dumps({{"i": i, "unavailable": str(exc)}}), file=out, flush=True)
            continue
        print(json.dumps({{"i": i, "ok": True}}), file=out, flush=True)
"""


def _writer(state: Path, log: Path, count: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(WRITER.format()), str(state), str(log), str(count)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _wait_for_resync(p: Platform, instance: str) -> None:
    """Wait (in real time: the clock is not advanced, so every process agrees) until the
    instance's volumes finished resyncing at ``resync_mbps``."""
    for volume in p.get_instance(instance).volumes:
        if volume.resync_done_at is not None:
            left = (volume.resync_done_at - p.clock.now()).total_seconds()
            time.sleep(max(0.0, left) + 0.005)


def test_acknowledged_writes_survive_host_faults_injected_by_another_process(
    tmp_path: Path,
) -> None:
    """A RAID-5 volume written by one process while another fails and recovers hosts one at
    a time (each after the last one's resync ended): every acknowledged write reads back
    intact, and one host down never makes the volume unavailable."""
    with Platform.open(tmp_path) as p:
        p.register_service("tests.providers:KVProvider")
        p.create_instance(service="kv", name="r5", capacity_gb=1, policy="vsan-raid5")
    log = tmp_path / "acks.jsonl"
    writer = _writer(tmp_path, log, 1000)
    hosts = ["esx-01", "esx-02", "esx-03", "esx-04"]
    with Platform.open(tmp_path, recover=False) as p:
        deadline = time.monotonic() + 60
        cycle = 0
        while writer.poll() is None and time.monotonic() < deadline:
            host = hosts[cycle % len(hosts)]
            p.inject_host_failure(host)
            time.sleep(0.01)
            p.clear_host_failure(host)
            _wait_for_resync(p, "r5")  # a second fault during a resync is a double fault
            cycle += 1
        _out, err = writer.communicate(timeout=60)
        assert writer.returncode == 0, err.decode()[-2000:]
        records = [json.loads(line) for line in log.read_text().splitlines()]
        unavailable = [r for r in records if "unavailable" in r]
        assert unavailable == []
        acked = [r["i"] for r in records if r.get("ok")]
        assert len(acked) == 1000
        assert cycle > 0
        for i in acked:
            want = (f"write {i:05d} ".encode() * 400)[:4096]
            assert testing.read_volume(p, "r5", "data", i * 4096, 4096) == want, i
        # Reads must also be right from each degraded subset of components.
        for host in hosts:
            p.inject_host_failure(host)
            for i in acked[::37]:
                want = (f"write {i:05d} ".encode() * 400)[:4096]
                assert testing.read_volume(p, "r5", "data", i * 4096, 4096) == want, (host, i)
            p.clear_host_failure(host)
            _wait_for_resync(p, "r5")
        assert p.check_consistency() == []


def test_a_configure_in_another_process_is_not_lost(tmp_path: Path) -> None:
    """Two platforms configure one instance in turn; each change merges into the latest."""
    with Platform.open(tmp_path) as a, Platform.open(tmp_path) as b:
        a.register_service("tests.providers:KVProvider")
        a.create_instance(service="kv", name="k", capacity_gb=1)
        a.configure_instance("k", {"cacheMb": 100})
        b.configure_instance("k", {"cacheMb": 200})
        a.configure_instance("k", {"cacheMb": 300})
        assert b.get_instance("k").spec.parameters["cacheMb"] == 300
        a.scale_instance("k", 3)
        with pytest.raises(dpp.ValidationError, match="cannot shrink"):
            b.scale_instance("k", 2)
        assert a.check_consistency() == []


def test_a_parameter_changed_by_another_platform_during_a_configure_is_kept(
    tmp_path: Path,
) -> None:
    """A configure checked while another platform changes the instance is checked again on
    the new state: both changes survive (no lost update)."""
    from tests import providers

    with Platform.open(tmp_path) as a, Platform.open(tmp_path) as b:
        a.register_service("tests.providers:TwoKnobsProvider")
        a.create_instance(service="two-knobs", name="k", capacity_gb=1)
        providers.PAUSE_VALIDATE.set()
        result: list[object] = []
        worker = threading.Thread(
            target=lambda: result.append(a.configure_instance("k", {"cacheMb": 128}))
        )
        worker.start()
        assert providers.PAUSED.wait(timeout=30)
        b.configure_instance("k", {"threads": 8})
        providers.RESUME.set()
        worker.join(timeout=30)
        assert result, "the first configure did not finish"
        params = b.get_instance("k").spec.parameters
        assert (params["cacheMb"], params["threads"]) == (128, 8)
        assert a.check_consistency() == []
