"""Several processes, each with two Platform objects, doing mixed operations on one state
directory while another process fails and recovers hosts and disks (through the API and the
``dpp`` CLI): every acknowledged write reads back, no update is lost, the state is consistent."""

from __future__ import annotations

import multiprocessing.process
import random
import threading
from pathlib import Path
from typing import Any

from dpp_sdk import testing
from dpp_sdk.platform import Platform
from dpp_sdk.testing import faults
from tests.stress import workers
from tests.stress._harness import (
    Outcome,
    Settings,
    ack_violations,
    processes,
    read_jsonl,
    reap,
    state_violations,
)

SHARED = {"s-default": "vsan-default", "s-raid5": "vsan-raid5", "s-sna": "vsan-sna"}
WORKERS = 2
STEPS = 120


def run_trial(
    state: Path, seed: int, outcome: Outcome, *, known: bool, only_writes: bool = False
) -> None:
    """One trial: shared instances, WORKERS mixed workers (``only_writes``: writers) and one
    fault worker, then the checks."""
    state.mkdir(parents=True)
    with Platform.open(state) as p:
        p.register_service("tests.providers:KVProvider")
        shared = {
            name: p.create_instance(service="kv", name=name, capacity_gb=1, policy=policy).result[
                "instance_uid"
            ]
            for name, policy in SHARED.items()
        }
    ctx = processes()
    logs = [state / f"worker-{w}.jsonl" for w in range(WORKERS + 1)]
    base = {"state": str(state), "seed": seed, "workers": WORKERS, "service": "kv"}
    base["known"] = known
    children: list[multiprocessing.process.BaseProcess] = []
    for w in range(WORKERS):
        steps = STEPS * 3 if only_writes else STEPS
        mixed = {"worker": w, "log": str(logs[w]), "steps": steps, "shared": shared}
        mixed["foreign"] = True  # also write to, configure and scale others' instances
        mixed["prefix"] = f"w{w}-"
        mixed["only_writes"] = only_writes
        children.append(ctx.Process(target=workers.mixed_worker, args=(base | mixed,)))
    stop = ctx.Event()
    injecting = {"worker": WORKERS, "log": str(logs[WORKERS]), "max_cycles": 400, "hold": 0.02}
    # Every changing dpp command tidies the byte store first, which races a scale in another
    # process (test_tidying_after_a_crash_racing_a_scale_in_another_process_keeps_the_new_size):
    # with scales running, faults go through the CLI only when known defects are asked for.
    injecting["cli_share"] = 1.0 if only_writes else 0.3 if known else 0.0
    faults = ctx.Process(target=workers.fault_worker, args=(base | injecting, stop))
    for child in [*children, faults]:
        child.start()
    try:
        reap(children, timeout=120)
    finally:
        stop.set()
        reap([faults], timeout=30)
    records = [r for log in logs for r in read_jsonl(log)]
    found = [f"worker exited with {c.exitcode}" for c in [*children, faults] if c.exitcode != 0]
    found += [
        f"{r['what']}: {r['error']}\n{r.get('traceback', '')}"
        for r in records
        if r["kind"] == "violation"
    ]
    with Platform.open(state) as a, Platform.open(state) as b:
        a.clear_faults()
        found += state_violations(a, known=known)
        acks = [r for r in records if r["kind"] == "ack"]
        checked, bad = ack_violations(b, acks)
        found += bad
        found += update_violations(b, records)
    outcome.trials += 1
    outcome.operations += sum(r["kind"] in ("op", "fault") for r in records)
    outcome.acked_writes += len(acks)
    outcome.verified_writes += checked
    outcome.violated(seed, "after the workers ended and faults cleared", found)


def update_violations(platform: Platform, records: list[dict[str, Any]]) -> list[str]:
    """No acknowledged change is lost: an instance's capacity is the largest scale that
    succeeded (scales only grow here); its cache size is the last configure that succeeded
    when one worker alone configured it, or one of those that succeeded when several did."""
    found = []
    for info in platform.list_instances(limit=None):
        did = [r for r in records if r["kind"] == "did" and r.get("instance") == info.name]
        sizes = [r["capacity_gb"] for r in did if r["what"] == "scale"]
        if sizes and info.spec.capacity_gb != max(sizes):
            found.append(
                f"{info.name}: capacity {info.spec.capacity_gb} GB, but the largest scale "
                f"that succeeded was to {max(sizes)} GB"
            )
        caches = [r["cacheMb"] for r in did if r["what"] == "configure"]
        cache = info.spec.parameters["cacheMb"]
        configurers = {r["worker"] for r in did if r["what"] == "configure"}
        if caches and len(configurers) > 1 and cache not in caches:
            found.append(f"{info.name}: cacheMb {cache} was never configured ({caches})")
        elif caches and len(configurers) == 1 and cache != caches[-1]:
            found.append(f"{info.name}: cacheMb {cache}, last configured {caches[-1]}")
    return found


def test_mixed_workers_and_faults_on_one_state_directory_lose_no_acknowledged_write(
    tmp_path: Path, stress: Settings, outcome: Outcome
) -> None:
    """Mixed operations of several processes amid faults lose no acknowledged write or update."""
    for seed in stress.seeds(base=1000):
        run_trial(tmp_path / f"trial-{seed}", seed, outcome, known=stress.known)
    outcome.check()


def test_cluster_health_answers_while_another_process_removes_an_instance(
    tmp_path: Path,
) -> None:
    """An instance removed by another platform during cluster_health is left out, not fatal."""
    from tests.stress.providers import RacingMonitorProvider

    with Platform.open(tmp_path) as a, Platform.open(tmp_path) as b:
        a.register_service(RacingMonitorProvider)
        for name in ("a", "b"):
            a.create_instance(service="racing", name=name, capacity_gb=1)
        RacingMonitorProvider.DURING_MONITOR[:] = [lambda: b.remove_instance("b")]
        health = a.cluster_health()
        assert [i.instance for i in health.instances] == ["a"]
        assert a.check_consistency() == []


def test_a_scale_racing_a_degraded_write_in_another_process_keeps_the_write(
    tmp_path: Path,
) -> None:
    """A degraded write of another platform during a scale reads back after the host returns."""
    payload = random.Random(1003).randbytes(4 << 20)  # spans every data component
    with Platform.open(tmp_path) as a, Platform.open(tmp_path) as b:
        a.register_service("tests.providers:KVProvider")
        a.create_instance(service="kv", name="r5", capacity_gb=1, policy="vsan-raid5")
        hosts = [c.host for c in a.get_instance("r5").volumes[0].components]
        a.inject_host_failure(hosts[0])

        def write_meanwhile() -> None:
            # Runs after expand_volume read the record, before it saves it (the window a
            # process scheduled at the wrong moment falls into). In a thread, so a platform
            # that holds its transaction by then only delays the write.
            writer = threading.Thread(
                target=testing.write_volume, args=(b, "r5", "data", 0, payload)
            )
            writer.start()
            writer.join(2)

        with faults.while_growing_a_volume(a, write_meanwhile):
            a.scale_instance("r5", 2)
        a.clear_host_failure(hosts[0])
        assert testing.read_volume(a, "r5", "data", 0, len(payload)) == payload
        for host in hosts:
            a.inject_host_failure(host)
            assert testing.read_volume(a, "r5", "data", 0, len(payload)) == payload, host
            a.clear_host_failure(host)
        assert a.check_consistency() == []


def test_faults_injected_by_dpp_commands_while_other_processes_write_lose_no_write(
    tmp_path: Path, stress: Settings, outcome: Outcome
) -> None:
    """Writers amid dpp fault commands lose no acknowledged write and see FTT=1 hold."""
    for seed in stress.seeds(base=1500):
        run_trial(tmp_path / f"trial-{seed}", seed, outcome, known=stress.known, only_writes=True)
    outcome.check()


def test_tidying_after_a_crash_racing_a_scale_in_another_process_keeps_the_new_size(
    tmp_path: Path,
) -> None:
    """A scale by another platform during recovery's byte-store tidying keeps its new size."""
    with Platform.open(tmp_path) as a, Platform.open(tmp_path) as b:
        a.register_service("tests.providers:KVProvider")
        a.create_instance(service="kv", name="r5", capacity_gb=1, policy="vsan-raid5")
        hosts = [c.host for c in a.get_instance("r5").volumes[0].components]
        a.inject_host_failure(hosts[0])
        testing.write_volume(a, "r5", "data", 0, b"x" * 4096)  # a component goes stale

        def scale_meanwhile() -> None:
            # Runs after the volumes were read, before the healed ones are saved.
            scaler = threading.Thread(target=b.scale_instance, args=("r5", 2))
            scaler.start()
            scaler.join(3)

        with faults.on_byte_store_listing(a, scale_meanwhile):
            a.recover(targets=set())
        info = a.get_instance("r5")
        assert (info.spec.capacity_gb, info.volumes[0].size_gb) == (2, 2.0)
        assert state_violations(a) == []
