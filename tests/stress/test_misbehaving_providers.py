"""A provider that hangs, or SIGKILLs its own process, in each verb and hook: afterwards the
platform stays usable (another instance is created and removed, ``cluster_health`` returns)
and ``remove_instance(name, force=True)`` (or ``dpp instance remove NAME --force``) reclaims
the broken instance, leaving a consistent state."""

from __future__ import annotations

import os
import random
import threading
import time
from collections.abc import Iterator
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

import dpp_sdk as dpp
from dpp_sdk.cli._app import cli
from dpp_sdk.platform import ClusterHealth, InstanceHealth, Platform
from dpp_sdk.platform._calls import DEFAULT_DEADLINES
from tests.stress import providers, workers
from tests.stress._harness import Outcome, Settings, processes, reap, state_violations

DEADLINE = 0.3
DEADLINES = dict.fromkeys(DEFAULT_DEADLINES, DEADLINE)
BOUND = 10.0
"""Seconds any one platform call may take with a hanging provider (a few deadlines)."""

VERBS = providers.VERBS


@pytest.fixture
def misbehaving(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The provider behaves until a test says otherwise; hung calls are released at the end."""
    monkeypatch.setenv(providers.MISBEHAVE_ENV, "")
    providers.RELEASE.clear()
    yield
    providers.RELEASE.set()


def _timed(found: list[str], what: str, call: Any) -> Any:
    """Run ``call``; a dpp error is an answer, anything else or a slow answer a violation."""
    started = time.monotonic()
    try:
        return call()
    except dpp.DppError as exc:
        return exc
    except Exception as exc:
        found.append(f"{what} raised {type(exc).__name__}: {exc}")
        return exc
    finally:
        took = time.monotonic() - started
        if took > BOUND:
            found.append(f"{what} took {took:.1f} s with deadlines of {DEADLINE} s")


def _said_timeout(p: Platform, verb: str, answer: object) -> bool:
    """Whether the platform reported the overrun (naming the verb) where it belongs."""
    needle = f"provider's {verb} did not return within its deadline"
    texts = [str(answer)]
    texts += [op.error.message for op in p.list_operations(limit=None) if op.error is not None]
    texts += [e.message for e in p.events()]
    if isinstance(answer, InstanceHealth):
        texts += [c.message for c in answer.checks]
    if isinstance(answer, dpp.ValidationError):
        texts += [pr.message for pr in answer.problems]
    return any(needle in t for t in texts)


def hang_trial(state: Path, verb: str, seed: int) -> list[str]:
    """Hang ``verb`` of instance ``bad``; use the platform; reclaim ``bad``; check."""
    rng = random.Random(f"{seed}:{verb}")
    policy = rng.choice(workers.POLICIES)
    found: list[str] = []
    threads = set(threading.enumerate())
    os.environ[providers.MISBEHAVE_ENV] = ""  # behaves while the instances are set up
    with Platform.open(state, provider_deadlines=DEADLINES) as p:
        p.register_service("tests.stress.providers:MisbehavingProvider")
        p.create_instance(service="misbehaving", name="good", capacity_gb=1)
        if verb != "provision":
            p.create_instance(service="misbehaving", name="bad", capacity_gb=1, policy=policy)
        os.environ[providers.MISBEHAVE_ENV] = f"{verb}:hang"
        answer = _timed(
            found, f"the call reaching {verb}", lambda: workers.trigger_call(p, verb, policy)
        )
        if not _said_timeout(p, verb, answer):
            found.append(f"nothing reports that {verb} overran its deadline (got {answer!r})")
        # The platform stays usable, with the provider still broken.
        other = f"other-{seed}"
        _timed(
            found,
            "creating another instance",
            lambda: p.create_instance(
                service="misbehaving", name=other, capacity_gb=1, policy=policy
            ),
        )
        _timed(found, "removing it", lambda: p.remove_instance(other))
        health = _timed(found, "cluster_health", p.cluster_health)
        if not isinstance(health, ClusterHealth):
            found.append(f"cluster_health gave {health!r}")
        # --force reclaims the broken instance (through the API or a dpp command).
        if any(i.name == "bad" for i in p.list_instances(limit=None)):
            if rng.random() < 0.5:
                _timed(found, "remove --force", lambda: p.remove_instance("bad", force=True))
            else:
                args = ["--state-dir", str(state), "instance", "remove", "bad", "--yes", "--force"]
                result = CliRunner().invoke(cli, args)
                if result.exit_code != 0:
                    found.append(f"dpp instance remove bad --force: {result.output[-500:]}")
        _timed(found, "clear_faults", p.clear_faults)
        if any(h.state != "connected" for h in p.list_hosts()):
            _timed(found, "exit maintenance", lambda: _exit_maintenance(p))
        # The abandoned call carries on when released: it must change nothing.
        providers.RELEASE.set()
        for thread in set(threading.enumerate()) - threads:
            thread.join(5)
        found += state_violations(p)
        if any(i.name in ("bad", other) for i in p.list_instances(limit=None)):
            found.append("the broken instance (or the other one) is still there")
    return found


def _exit_maintenance(p: Platform) -> None:
    for host in p.list_hosts():
        if host.state == "maintenance":
            p.exit_maintenance(host.name)


@pytest.mark.parametrize("verb", VERBS)
def test_a_provider_hanging_in_a_verb_or_hook_leaves_the_platform_usable(
    verb: str, tmp_path: Path, misbehaving: None, stress: Settings, outcome: Outcome
) -> None:
    """The call overruns its deadline and says so; the platform stays usable; --force reclaims."""
    for seed in stress.seeds(base=3000, every=4):
        providers.RELEASE.clear()
        found = hang_trial(tmp_path / f"trial-{seed}", verb, seed)
        outcome.trials += 1
        outcome.operations += 6
        outcome.violated(seed, f"{verb} hangs", found)
    outcome.check()


# --------------------------------------------------------------------------- SIGKILL


def run_phase(cfg: dict[str, Any]) -> tuple[int | None, list[tuple[str, Any]]]:
    """Run one phase in a child process; its exit code and what it said."""
    ctx = processes()
    mine, theirs = ctx.Pipe(duplex=False)
    child = ctx.Process(target=workers.misbehaving_scenario, args=(cfg, theirs))
    child.start()
    theirs.close()
    said: list[tuple[str, Any]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        ready = wait([mine, child.sentinel], timeout=deadline - time.monotonic())
        try:
            if mine in ready or mine.poll(0):
                said.append(mine.recv())
                continue
        except (EOFError, OSError):
            break
        if child.sentinel in ready:
            break
    reap([child], timeout=10)
    return child.exitcode, said


PATHS = ("cli", "api", "recover")
"""What comes first after the kill: dpp commands; API calls on a platform opened without
recovery; or processes that recover (and may die the same way) before the dpp commands."""


def kill_trial(state: Path, verb: str, first: str, seed: int, outcome: Outcome) -> list[str]:
    """Kill the process in ``verb``; then recover (``first == "recover"``) or go straight to
    ``dpp`` commands; they must use the platform and reclaim the broken instance."""
    state.mkdir(parents=True)
    policy = random.Random(f"{seed}:{verb}").choice(workers.POLICIES)
    cfg = {"state": str(state), "verb": verb, "misbehave": f"{verb}:kill", "policy": policy}
    cfg["deadlines"] = DEADLINES
    found: list[str] = []
    code, said = run_phase(cfg | {"phase": "trigger"})
    if code != -9:
        found.append(f"the provider's SIGKILL in {verb} did not kill the process ({code}, {said})")
    outcome.kills += code == -9
    if first == "recover":
        for _ in range(4):
            code, said = run_phase(cfg | {"phase": "recover"})
            if code != -9:
                break
            outcome.recovery_kills += 1
        if code != 0:
            found.append(f"recovery never finished: exit {code} after {said[-2:]}")
    code, said = run_phase(cfg | {"phase": "api" if first == "api" else "cli"})
    for kind, value in said:
        if kind == "cli-exit" and value[0] != 0:
            found.append(f"a call failed: {value[1].strip()}")
    if code != 0:
        last = [v for k, v in said if k == "cli"]
        found.append(f"the process using the platform died ({code}) in '{last[-1]}'")
    with Platform.open(state, recover=False) as p:
        if any(i.name == "bad" for i in p.list_instances(limit=None)):
            found.append("the broken instance is still there")
            return found
    with Platform.open(state) as p:
        found += state_violations(p)
    return found


@pytest.mark.parametrize(
    ("verb", "first"),
    [pytest.param(v, f, id=f"{v}-{f}-first") for v in VERBS for f in PATHS],
)
def test_a_provider_killing_its_process_in_a_verb_or_hook_cannot_hold_the_platform(
    verb: str, first: str, tmp_path: Path, stress: Settings, outcome: Outcome
) -> None:
    """After the kill, later processes use the platform and --force reclaims the instance."""
    for seed in stress.seeds(base=4000, every=4):
        found = kill_trial(tmp_path / f"trial-{seed}", verb, first, seed, outcome)
        outcome.trials += 1
        outcome.operations += 8
        outcome.violated(seed, f"{verb} kills its process, then {first}", found)
    outcome.check()


def _given_up(state: Path, verb: str) -> None:
    """Kill the process in ``verb`` of instance bad, then in both resumptions: the third
    recovery gives the operation up."""
    state.mkdir(parents=True, exist_ok=True)
    cfg = {"state": str(state), "verb": verb, "misbehave": f"{verb}:kill", "deadlines": DEADLINES}
    cfg["policy"] = "vsan-default"
    codes = [run_phase(cfg | {"phase": phase})[0] for phase in ("trigger", "recover", "recover")]
    assert codes == [-9, -9, -9]
    assert run_phase(cfg | {"phase": "recover"})[0] == 0


def test_a_scale_given_up_by_recovery_leaves_the_capacity_the_volume_has(
    tmp_path: Path,
) -> None:
    """A scale that recovery gives up leaves the capacity its volume really has."""
    _given_up(tmp_path, "scale")
    with Platform.open(tmp_path, recover=False) as p:
        info = p.get_instance("bad")
        assert info.spec.capacity_gb == info.volumes[0].size_gb


def test_the_refusal_of_a_change_to_a_failed_instance_names_what_failed(tmp_path: Path) -> None:
    """A change refused because a configure was given up does not blame a decommission."""
    _given_up(tmp_path, "configure")
    with Platform.open(tmp_path, recover=False) as p:
        with pytest.raises(dpp.Conflict) as refused:
            p.configure_instance("bad", {"cacheMb": 100})
        assert "decommission" not in str(refused.value)
