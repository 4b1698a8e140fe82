"""What every stress test shares: its size and seeds, child processes, the invariants checked
after a trial, acknowledged-write logs, and the figures a run reports.

Nothing here asserts: checks return a list of violations, so a trial reports every broken rule
at once, and a larger run counts them instead of stopping at the first.
"""

from __future__ import annotations

import json
import math
import multiprocessing
import multiprocessing.context
import os
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from dpp_sdk import testing

SCALE_ENV = "DPP_STRESS_SCALE"
SEED_ENV = "DPP_STRESS_SEED"
KNOWN_ENV = "DPP_STRESS_KNOWN_DEFECTS"
REPORT_ENV = "DPP_STRESS_REPORT"

BUSY = frozenset({"provisioning", "configuring", "scaling", "decommissioning"})
"""Instance statuses that say an operation is holding the instance."""


@attrs.frozen(kw_only=True)
class Settings:
    """How big a run is, and which seed to replay (if any)."""

    scale: int = 1
    seed: int | None = None
    known: bool = False
    """Also run the interleavings that once hit now-fixed defects (on by default;
    ``DPP_STRESS_KNOWN_DEFECTS=0`` leaves them out, to tell a new defect from an old one)."""

    def seeds(self, base: int, *, every: int = 1) -> list[int]:
        """The trial seeds of a test: one per ``every`` units of scale (at least one),
        consecutive from ``base``; or only the replayed seed."""
        if self.seed is not None:
            return [self.seed]
        return [base + i for i in range(max(1, math.ceil(self.scale / every)))]


def settings_from(config: pytest.Config) -> Settings:
    """The command-line options, else the environment, else CI size with the fixed seeds."""
    scale = config.getoption("stress_scale", default=None) or os.environ.get(SCALE_ENV) or 1
    seed = config.getoption("stress_seed", default=None)
    if seed is None and os.environ.get(SEED_ENV):
        seed = os.environ[SEED_ENV]
    # The interleavings that once hit now-fixed defects run by default; DPP_STRESS_KNOWN_DEFECTS=0
    # leaves them out (to tell a new defect from an old one coming back).
    known = config.getoption("stress_known_defects", default=False) or os.environ.get(
        KNOWN_ENV, "1"
    ) not in ("", "0")
    return Settings(
        scale=max(1, int(scale)), seed=None if seed is None else int(seed), known=bool(known)
    )


def replay_hint(nodeid: str, seed: int, known: bool = False) -> str:
    """The command that runs one trial again."""
    env = f"{SEED_ENV}={seed}" + (f" {KNOWN_ENV}=1" if known else "")
    return f"replay: {env} python -m pytest {nodeid!r} -p no:cacheprovider"


@attrs.define
class Outcome:
    """What one test did: its trials and counts, and the rules it found broken."""

    nodeid: str
    known: bool = False
    trials: int = 0
    operations: int = 0
    acked_writes: int = 0
    verified_writes: int = 0
    kills: int = 0
    recovery_kills: int = 0
    violations: list[str] = attrs.field(factory=list)
    started: float = attrs.field(factory=time.monotonic)
    seconds: float = 0.0

    def violated(self, seed: int, where: str, found: Iterable[str]) -> None:
        """Record each rule broken in trial ``seed`` (``where`` says at which point)."""
        self.violations.extend(f"seed {seed}, {where}: {v}" for v in found)

    def check(self) -> None:
        """Fail the test, listing every violation and how to replay its trial."""
        self.seconds = round(time.monotonic() - self.started, 2)
        if not self.violations:
            return
        seeds = sorted({int(v.split(",")[0].split()[1]) for v in self.violations})
        shown = "\n  ".join(self.violations[:40])
        more = len(self.violations) - 40
        hints = "\n  ".join(replay_hint(self.nodeid, s, self.known) for s in seeds[:5])
        pytest.fail(
            f"{len(self.violations)} violations in {len(seeds)} of {self.trials} trials:\n  "
            f"{shown}" + (f"\n  ... and {more} more" if more > 0 else "") + f"\n{hints}",
            pytrace=False,
        )

    def figures(self) -> dict[str, Any]:
        """The counts reported at the end of the run (and written to DPP_STRESS_REPORT)."""
        if not self.seconds:
            self.seconds = round(time.monotonic() - self.started, 2)
        return {
            k: v
            for k, v in attrs.asdict(self).items()
            if k not in ("started", "violations", "known")
        } | {"violations": len(self.violations)}


# --------------------------------------------------------------------------- child processes

_CONTEXT: multiprocessing.context.ForkServerContext | None = None


def processes() -> multiprocessing.context.ForkServerContext:
    """Children forked from a server that has the platform imported already (a child starts in
    about 0.1 s instead of a second), and that never shares this process's threads."""
    global _CONTEXT  # noqa: PLW0603 - one fork server per test session
    if _CONTEXT is None:
        _CONTEXT = multiprocessing.get_context("forkserver")
        _CONTEXT.set_forkserver_preload(["tests.stress.workers"])
    return _CONTEXT


def reap(children: Iterable[multiprocessing.process.BaseProcess], timeout: float) -> None:
    """Wait for ``children`` together; kill (and wait for) whatever is left at the deadline."""
    deadline = time.monotonic() + timeout
    for child in children:
        child.join(max(0.0, deadline - time.monotonic()))
        if child.is_alive():
            child.kill()
            child.join(5)


# --------------------------------------------------------------------------- logs of children


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one line; written whole and flushed before the call returns."""
    with path.open("a", encoding="utf-8") as out:
        out.write(json.dumps(record) + "\n")


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The records of a log, skipping a last line cut short by a kill."""
    if not path.exists():
        return
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            yield json.loads(line)
        except json.JSONDecodeError:
            continue


# --------------------------------------------------------------------------- invariants


def state_violations(platform: Any, *, known: bool = True) -> list[str]:
    """Every way ``platform``'s state breaks the rules that hold after any run: nothing
    pending or running, ``check_consistency()`` clean, reservations equal to the raw size of the
    live volumes, no instance left busy, every KV ``data`` volume as large as its capacity
    (for a ``failed`` instance only with ``known``: a scale given up by recovery leaves the new
    capacity, test_a_scale_given_up_by_recovery_leaves_the_capacity_the_volume_has)."""
    from dpp_sdk.platform import POLICIES

    found = [f"check_consistency: {p}" for p in platform.check_consistency()]
    found += [
        f"operation {op.id} ({op.kind} {op.target}) left {op.state.value}"
        for op in platform.list_operations(limit=None)
        if not op.state.terminal
    ]
    instances = platform.list_instances(limit=None)
    expected = math.fsum(
        POLICIES[v.policy].raw_gb(v.size_gb if not POLICIES[v.policy].thin else v.written_gb)
        for info in instances
        for v in info.volumes
    )
    reserved = platform.resources().reserved_gb
    if not math.isclose(reserved, expected, abs_tol=1e-6):
        found.append(
            f"reserved_gb {reserved} != {expected} (raw size of the live volumes: what was "
            "written of thin ones)"
        )
    for info in instances:
        if info.status.value in BUSY:
            found.append(f"instance {info.name} left {info.status.value}")
        if info.status.value == "failed" and not known:
            continue
        for volume in info.volumes:
            if volume.name == "data" and volume.size_gb < info.spec.capacity_gb:
                found.append(
                    f"instance {info.name}: volume data is {volume.size_gb} GB, "
                    f"below its capacity {info.spec.capacity_gb} GB"
                )
    return found


def lost_volumes(platform: Any) -> dict[str, set[str]]:
    """instance -> volumes whose data a disk failure destroyed (from ``disk-failure`` events)."""
    lost: dict[str, set[str]] = {}
    for event in platform.events(kind="disk-failure"):
        for instance, volumes in dict(event.data.get("lost", {})).items():
            lost.setdefault(instance, set()).update(volumes)
    return lost


def ack_violations(
    platform: Any, acks: list[dict[str, Any]], *, sna_loss_allowed: bool = True
) -> tuple[int, list[str]]:
    """Read back every acknowledged write whose volume still exists; returns how many were
    compared and every mismatch.

    An ack names the instance, its uid (from the provision operation), the volume, the offset
    and the bytes (hex). Writes to an instance that was removed are legitimately gone, and so
    are writes to an FTT=0 volume that a disk failure destroyed; a redundant volume reported
    lost is itself a violation."""
    import dpp_sdk as dpp

    found: list[str] = []
    infos = {i.name: i for i in platform.list_instances(limit=None)}
    lost = lost_volumes(platform)
    uids: dict[str, str | None] = {}
    checked = 0
    for ack in acks:
        name = ack["instance"]
        info = infos.get(name)
        if info is None:
            continue
        if name not in uids:
            uids[name] = instance_uid(platform, name)
        if uids[name] != ack["uid"]:
            continue  # another instance of the same name
        volume = next((v for v in info.volumes if v.name == ack["volume"]), None)
        if volume is None:
            continue
        if ack["volume"] in lost.get(name, set()):
            if not (sna_loss_allowed and volume.policy == "vsan-sna"):
                found.append(f"{name}/{volume.name} ({volume.policy}) lost to one disk failure")
            continue
        want = bytes.fromhex(ack["data"])
        try:
            got = testing.read_volume(platform, name, ack["volume"], ack["offset"], len(want))
        except dpp.DataUnavailable as exc:
            found.append(f"acknowledged write unreadable after faults cleared: {ack} ({exc})")
            continue
        checked += 1
        if got != want:
            first = next(i for i, (a, b) in enumerate(zip(got, want, strict=True)) if a != b)
            found.append(
                f"acknowledged write of {len(want)} bytes at {name}/{ack['volume']}+"
                f"{ack['offset']} (step {ack.get('step')}, worker {ack.get('worker')}) reads "
                f"back different bytes from byte {first}; volume {volume.state}"
            )
    return checked, found


def instance_uid(platform: Any, name: str) -> str | None:
    """The uid of the live instance ``name``: its last succeeded provision's result."""
    uid = None
    for op in platform.list_operations(target=name, limit=None):
        if op.kind == "provision" and op.state.value == "succeeded":
            uid = op.result.get("instance_uid")
    return uid
