"""A SIGKILL loop: a worker doing mixed operations is killed after a seeded number of steps
(plus a seeded delay, so the kill lands inside an operation), and so, sometimes, is the worker
that recovers after it; after every round the state is consistent and every acknowledged write
reads back."""

from __future__ import annotations

import random
import re
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any

from dpp_sdk.platform import Platform
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

ROUNDS = 8


class Incarnation:
    """One worker process, and what it said on its pipe."""

    def __init__(self, cfg: dict[str, Any]) -> None:
        ctx = processes()
        self.conn, theirs = ctx.Pipe(duplex=False)
        self.child: BaseProcess = ctx.Process(target=workers.kill_loop_worker, args=(cfg, theirs))
        self.child.start()
        theirs.close()
        self.said: list[tuple[str, Any]] = []

    def wait_for(self, kind: str, at_least: int = 0, timeout: float = 60) -> bool:
        """Read what the worker says until ``kind`` (a step >= ``at_least``); False if it
        ended or fell silent first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = _recv(self.conn, deadline - time.monotonic())
            if message is None:
                return False
            self.said.append(message)
            if message[0] == kind and (kind != "step" or message[1] >= at_least):
                return True
        return False

    def kill(self) -> None:
        """SIGKILL, reap, and collect what it said before dying."""
        self.child.kill()
        self.child.join(10)
        while (message := _recv(self.conn, 0)) is not None:
            self.said.append(message)

    def finish(self, timeout: float = 60) -> int | None:
        """Wait for a clean end; its exit code."""
        self.wait_for("done", timeout=timeout)
        reap([self.child], timeout=10)
        return self.child.exitcode

    @property
    def last_step(self) -> int | None:
        steps = [m[1] for m in self.said if m[0] == "step"]
        return max(steps) if steps else None

    @property
    def was_ready(self) -> bool:
        return any(m[0] == "ready" for m in self.said)


def _recv(conn: Connection, timeout: float) -> Any:
    """The next message, or None when none came in time or the other end is gone (a message
    cut short by SIGKILL included)."""
    try:
        return conn.recv() if conn.poll(max(0.0, timeout)) else None
    except (EOFError, OSError):
        return None


def interrupted(state: Path) -> int:
    """How many operations a dead process left in flight (looked at without recovering)."""
    with Platform.open(state, recover=False) as p:
        return len(p.interrupted_operations())


def double_resumes(state: Path, since: int) -> list[str]:
    """Operations the log says were resumed more than once from line ``since`` on."""
    lines = (state / "datapersistence.log").read_text(encoding="utf-8").splitlines()[since:]
    resumed = re.findall(r"resuming operation (\S+)", "\n".join(lines))
    return sorted({op for op in resumed if resumed.count(op) > 1})


def log_length(state: Path) -> int:
    path = state / "datapersistence.log"
    return len(path.read_text(encoding="utf-8").splitlines()) if path.exists() else 0


def run_trial(state: Path, seed: int, outcome: Outcome, rounds: int, known: bool) -> None:
    """``rounds`` rounds of: run and kill a worker; sometimes kill the recovering worker; let
    one recover; check."""
    state.mkdir(parents=True)
    with Platform.open(state) as p:
        p.register_service("tests.stress.providers:SlowKVProvider")
    log = state / "worker.jsonl"
    cfg = {"state": str(state), "seed": seed, "worker": 0, "workers": 1, "log": str(log)}
    cfg |= {"prefix": "k", "service": "slowkv"}
    next_step = 0
    for round_ in range(rounds):
        rng = random.Random(f"{seed}:round:{round_}")
        found: list[str] = []
        # 1. A worker runs; it is killed after a seeded number of steps plus a seeded delay.
        worker = Incarnation(cfg | {"first_step": next_step, "steps": 400})
        if not worker.wait_for("ready"):
            found.append(f"the worker never opened the platform: {worker.said}")
        steps = rng.randint(2, 10)
        worker.wait_for("step", at_least=next_step + steps - 1)
        time.sleep(rng.uniform(0.0, 0.02))
        worker.kill()
        outcome.kills += 1
        next_step = (worker.last_step if worker.last_step is not None else next_step - 1) + 1
        # 2. Sometimes the process recovering after it dies too, once or twice.
        for _ in range(2):
            if rng.random() < 0.5 or not interrupted(state):
                break
            recovering = Incarnation(cfg | {"first_step": next_step, "steps": 0})
            recovering.wait_for("opening")
            time.sleep(rng.uniform(0.0, 0.05))
            recovering.kill()
            if recovering.was_ready:
                outcome.kills += 1
            else:
                outcome.recovery_kills += 1
        # 3. One process recovers and ends cleanly (sometimes two at once, which must not both
        #    resume the same operation: see the test below).
        mark = log_length(state)
        together = 2 if known and rng.random() < 0.3 else 1
        survivors = [
            Incarnation(cfg | {"first_step": next_step, "steps": 0}) for _ in range(together)
        ]
        for survivor in survivors:
            code = survivor.finish()
            if code != 0:
                found.append(f"the recovering worker exited with {code}: {survivor.said[-3:]}")
        found += [
            f"{op} was resumed by two processes at once" for op in double_resumes(state, mark)
        ]
        # 4. The state is consistent and every acknowledged write reads back.
        records = list(read_jsonl(log))
        found += [f"{r['what']}: {r['error']}" for r in records if r["kind"] == "violation"]
        with Platform.open(state) as p:
            found += state_violations(p, known=known)
            checked, bad = ack_violations(p, [r for r in records if r["kind"] == "ack"])
            found += bad
        outcome.violated(seed, f"round {round_} (kill after step {next_step - 1})", found)
    records = list(read_jsonl(log))
    outcome.trials += 1
    outcome.operations += sum(r["kind"] == "op" for r in records)
    outcome.acked_writes += sum(r["kind"] == "ack" for r in records)
    outcome.verified_writes += checked


def test_a_worker_killed_at_random_points_and_its_recoverers_leave_a_consistent_state(
    tmp_path: Path, stress: Settings, outcome: Outcome
) -> None:
    """Seeded SIGKILLs of a worker and of its recoverers leave a consistent state each round."""
    for seed in stress.seeds(base=2000):
        run_trial(tmp_path / f"trial-{seed}", seed, outcome, rounds=ROUNDS, known=stress.known)
    outcome.check()


def test_two_processes_recovering_at_once_resume_an_interrupted_operation_only_once(
    tmp_path: Path,
) -> None:
    """Of two processes recovering at once, only one resumes an interrupted operation."""
    ctx = processes()
    crash = ctx.Process(target=workers.crash_in_provision, args=(str(tmp_path), "s1"))
    crash.start()
    reap([crash], timeout=60)
    assert crash.exitcode == -9
    barrier = ctx.Barrier(2)
    both = [
        ctx.Process(target=workers.recover_at_once, args=(str(tmp_path), barrier)) for _ in range(2)
    ]
    for child in both:
        child.start()
    reap(both, timeout=60)
    assert [c.exitcode for c in both] == [0, 0]
    with Platform.open(tmp_path) as p:
        assert state_violations(p) == []
        audited = [r for r in p.audit(limit=None) if r.target == "s1"]
    assert double_resumes(tmp_path, 0) == []
    assert [r.outcome for r in audited] == ["succeeded"]
