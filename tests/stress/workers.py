"""Code the stress tests run in child processes (forked from the fork server, which imports
this module once).

Each worker is a function of plain, picklable arguments. It logs what it did to a JSON-lines
file of its own: ``ack`` for every write whose call returned (instance, uid, volume, offset,
bytes), ``did`` for every request that succeeded, ``refused`` for every request the platform
refused with a dpp error, and ``violation`` for anything else (an exception that is not a dpp
error, an operation failed by an error of the platform's own, wrong bytes read back).
"""

from __future__ import annotations

import contextlib
import os
import random
import threading
import time
import traceback
from collections.abc import Callable
from functools import partial
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from click.testing import CliRunner

import dpp_sdk as dpp
import tests.providers  # noqa: F401 - imported once in the fork server, not in each child
from dpp_sdk import testing
from dpp_sdk.cli._app import cli
from dpp_sdk.platform import Platform
from tests.stress import providers
from tests.stress._harness import append_jsonl, instance_uid, read_jsonl

POLICIES = ("vsan-default", "vsan-raid5", "vsan-sna")
HOSTS = ("esx-01", "esx-02", "esx-03", "esx-04")
DISKS = ("cap-0", "cap-1")
SLOT = 4096
"""Writes go to slots of this many bytes; no two writes of a trial share a slot."""
MAX_CAPACITY_GB = 6


def _dpp_error_names() -> frozenset[str]:
    import dpp_sdk.platform._calls  # ProviderTimeout, ProviderCrashed

    names = {"Interrupted", "Superseded", "ProviderUnavailable"}
    todo: list[type] = [dpp.DppError]
    while todo:
        cls = todo.pop()
        names.add(cls.__name__)
        todo.extend(cls.__subclasses__())
    assert dpp_sdk.platform._calls.ProviderTimeout.__name__ in names
    return frozenset(names)


DPP_ERRORS = _dpp_error_names()


def classify(exc: BaseException) -> tuple[str, bool]:
    """A label for a refused request, and whether it breaks a rule: only dpp errors may reach
    the caller, and an operation may only fail with an error a provider or the platform's own
    checks raise (never, say, a FileNotFoundError blamed on the provider)."""
    if isinstance(exc, dpp.OperationFailed):
        error = exc.operation.error
        kind = error.type if error is not None else "no error"
        return f"OperationFailed/{kind}", kind not in DPP_ERRORS
    return type(exc).__name__, not isinstance(exc, dpp.DppError)


class Journal:
    """One worker's log, and the bookkeeping it writes to it."""

    def __init__(self, path: str, worker: int) -> None:
        self.path = Path(path)
        self.worker = worker
        self.step = 0

    def log(self, kind: str, **fields: Any) -> None:
        append_jsonl(self.path, {"kind": kind, "worker": self.worker, "step": self.step, **fields})

    def attempt(
        self, what: str, call: Callable[[], Any], *, ftt1: bool = False, strict: bool = False
    ) -> Any:
        """Run ``call``; log its refusal (a violation when it breaks a rule). ``ftt1`` says
        a DataUnavailable is itself a violation (one fault at a time never hides an FTT=1
        volume); ``strict`` that any error is. Returns the call's result, or None when it
        raised."""
        try:
            return call()
        except Exception as exc:
            label, bad = classify(exc)
            if (ftt1 and isinstance(exc, dpp.DataUnavailable)) or strict:
                bad = True
            if bad:
                self.log(
                    "violation",
                    what=what,
                    error=f"{label}: {exc}",
                    traceback=traceback.format_exc()[-3000:],
                )
            else:
                self.log("refused", what=what, error=label, message=str(exc)[:300])
            return None


# --------------------------------------------------------------------------- mixed operations


class Mixer:
    """Seeded mixed operations on the worker's own instances and on shared ones."""

    def __init__(self, cfg: dict[str, Any], platforms: list[Platform], journal: Journal) -> None:
        self.cfg = cfg
        self.platforms = platforms
        self.journal = journal
        self.rng = random.Random(f"{cfg['seed']}:{cfg['worker']}")
        self.shared: dict[str, str] = dict(cfg.get("shared", {}))
        self.own: dict[str, str] = {}
        self.slots: dict[str, int] = {}
        self.acks: list[dict[str, Any]] = []
        self.created = 0

    @property
    def p(self) -> Platform:
        return self.rng.choice(self.platforms)

    def adopt(self, platform: Platform) -> None:
        """Take over what an earlier (killed) incarnation of this worker left: its live
        instances, its acknowledged writes, and its names and slots (the ones it may have
        used without logging the outcome are skipped, never reused)."""
        prefix = self.cfg["prefix"]
        for record in read_jsonl(self.journal.path):
            if record["kind"] == "intent" and record["what"] == "create":
                self.created = max(self.created, int(record["instance"][len(prefix) :]) + 1)
            elif record["kind"] == "intent" and record["what"] == "write":
                name = record["instance"]
                self.slots[name] = max(self.slots.get(name, 0), record["slot"] + 1)
            elif record["kind"] == "ack":
                self.acks.append(record)
        for info in platform.list_instances(limit=None):
            if info.name.startswith(prefix):
                uid = instance_uid(platform, info.name)
                if uid is not None:
                    self.own[info.name] = uid

    def step(self) -> str:
        """One seeded action; returns its name."""
        roll = self.rng.random()
        if self.cfg.get("only_writes"):
            roll = 0.15 + roll * 0.4 if roll < 0.8 else 0.85 + (roll - 0.8) * 0.4
        if roll < 0.15 or (not self.own and roll < 0.3):
            self.create()
            return "create"
        if roll < 0.55:
            self.write()
            return "write"
        if roll < 0.65:
            self.configure()
            return "configure"
        if roll < 0.75:
            self.scale()
            return "scale"
        if roll < 0.85:
            self.remove()
            return "remove"
        if roll < 0.93:
            self.read_back()
            return "read"
        self.health()
        return "health"

    def _target(self, *, shared_ok: bool = True) -> str | None:
        """One of the worker's instances, or (``shared_ok``) of the shared ones, or one that
        another worker owns and may be removing at this moment."""
        names = sorted(self.own)
        if shared_ok:
            names += sorted(self.shared)
            if self.cfg.get("foreign") and self.rng.random() < 0.2:
                names = self._foreign() or names
        return self.rng.choice(names) if names else None

    def _open(self, name: str) -> bool:
        """Whether other workers may write to the worker's instance ``name`` (the even ones).
        Unless ``known`` is set, only the others, which no other process writes, are scaled:
        a scale racing another process's degraded write loses the write (see
        test_a_scale_racing_a_degraded_write_in_another_process_keeps_the_write)."""
        return int(name.rsplit("-", 1)[1]) % 2 == 0

    def _foreign(self) -> list[str]:
        mine = {*self.own, *self.shared}
        try:
            listed = self.p.list_instances(limit=None)
        except dpp.DppError:
            return []
        return [i.name for i in listed if i.name not in mine and self._open(i.name)]

    def _scalable(self) -> str | None:
        if self.cfg.get("known"):
            return self._target()
        private = [n for n in sorted(self.own) if not self._open(n)]
        return self.rng.choice(private) if private else None

    def _uid(self, name: str, platform: Platform) -> str | None:
        return self.own.get(name) or self.shared.get(name) or instance_uid(platform, name)

    def create(self) -> None:
        if len(self.own) >= 3:
            return
        name = f"{self.cfg['prefix']}{self.created}"
        self.created += 1
        policy = self.rng.choice(POLICIES)
        size = self.rng.randint(1, 2)
        self.journal.log("intent", what="create", instance=name)
        op = self.journal.attempt(
            f"create {name} {policy}",
            lambda: self.p.create_instance(
                service=self.cfg["service"], name=name, capacity_gb=size, policy=policy
            ),
        )
        if op is not None:
            self.own[name] = op.result["instance_uid"]
            self.journal.log("did", what="create", instance=name, uid=self.own[name])

    def write(self) -> None:
        name = self._target()
        if name is None:
            return
        slot = self.slots.get(name, 0)
        self.slots[name] = slot + 1
        offset = (slot * self.cfg["workers"] + self.cfg["worker"]) * SLOT
        data = self.rng.randbytes(self.rng.randint(1, SLOT))
        platform = self.p
        policy = self._policy(platform, name)
        self.journal.log("intent", what="write", instance=name, slot=slot)
        done = self.journal.attempt(
            f"write {name}+{offset}",
            lambda: testing.write_volume(platform, name, "data", offset, data) or True,
            ftt1=policy in ("vsan-default", "vsan-raid5"),
        )
        if done:
            ack = {
                "instance": name,
                "uid": self._uid(name, platform),
                "volume": "data",
                "offset": offset,
                "data": data.hex(),
            }
            self.acks.append(ack)
            self.journal.log("ack", **ack)

    def _policy(self, platform: Platform, name: str) -> str | None:
        try:
            return platform.get_instance(name).spec.policy
        except dpp.DppError:
            return None

    def configure(self) -> None:
        name = self._target()
        if name is None:
            return
        cache = self.rng.randint(16, 4096)
        op = self.journal.attempt(
            f"configure {name}", lambda: self.p.configure_instance(name, {"cacheMb": cache})
        )
        if op is not None:
            self.journal.log("did", what="configure", instance=name, cacheMb=cache)

    def scale(self) -> None:
        name = self._scalable() if self.cfg.get("foreign") else self._target()
        if name is None:
            return
        platform = self.p
        info = self.journal.attempt(f"get {name}", lambda: platform.get_instance(name))
        if info is None or info.spec.capacity_gb >= MAX_CAPACITY_GB:
            return
        size = info.spec.capacity_gb + 1
        op = self.journal.attempt(
            f"scale {name} to {size}", lambda: platform.scale_instance(name, size)
        )
        if op is not None:
            self.journal.log("did", what="scale", instance=name, capacity_gb=size)

    def remove(self) -> None:
        name = self._target(shared_ok=False)
        if name is None:
            return
        self.journal.log("intent", what="remove", instance=name)
        op = self.journal.attempt(f"remove {name}", lambda: self.p.remove_instance(name))
        if op is not None:
            del self.own[name]
            self.journal.log("did", what="remove", instance=name)

    def read_back(self) -> None:
        mine = [a for a in self.acks if a["instance"] in self.own or a["instance"] in self.shared]
        if not mine:
            return
        ack = self.rng.choice(mine)
        want = bytes.fromhex(ack["data"])
        platform = self.p
        got = self.journal.attempt(
            f"read {ack['instance']}+{ack['offset']}",
            lambda: testing.read_volume(
                platform, ack["instance"], "data", ack["offset"], len(want)
            ),
        )
        if got is not None and got != want:
            self.journal.log(
                "violation",
                what=f"read {ack['instance']}+{ack['offset']}",
                error="an acknowledged write read back different bytes during the run",
            )

    def health(self) -> None:
        name = self._target()
        if self.rng.random() < 0.5 or name is None:
            # Another process removing an instance meanwhile makes it fail with NotFound (see
            # test_cluster_health_answers_while_another_process_removes_an_instance).
            known = bool(self.cfg.get("known"))
            self.journal.attempt("cluster_health", self.p.cluster_health, strict=known)
        else:
            self.journal.attempt(f"health {name}", lambda: self.p.instance_health(name))


def mixed_worker(cfg: dict[str, Any]) -> None:
    """``cfg['steps']`` seeded mixed operations through two Platform objects of this process."""
    journal = Journal(cfg["log"], cfg["worker"])
    platforms = [Platform.open(cfg["state"]), Platform.open(cfg["state"], recover=False)]
    try:
        mixer = Mixer(cfg, platforms, journal)
        for step in range(cfg["steps"]):
            journal.step = step
            journal.log("op", what=mixer.step())
    finally:
        for platform in platforms:
            platform.close()


def fault_worker(cfg: dict[str, Any], stop: Any) -> None:
    """Fail and recover one host or one disk at a time (never two faults at once, which FTT=1
    does not survive), through the API or the ``dpp`` CLI, until ``stop`` is set."""
    journal = Journal(cfg["log"], cfg["worker"])
    rng = random.Random(f"{cfg['seed']}:faults")
    runner = CliRunner()
    state = cfg["state"]
    with Platform.open(state, recover=False) as platform:
        for cycle in range(cfg["max_cycles"]):
            if stop.is_set():
                break
            journal.step = cycle
            host = rng.choice(HOSTS)
            disk = rng.choice(DISKS) if rng.random() < 0.4 else None
            target = [host] if disk is None else [host, disk]
            kind = "host-failure" if disk is None else "disk-failure"
            via_cli = rng.random() < cfg["cli_share"]
            for verb in ("inject", "clear"):
                if via_cli:
                    args = ["--state-dir", state, "fault", verb, kind, *target]
                    result = runner.invoke(cli, args)
                    if result.exit_code != 0:
                        journal.log("violation", what=" ".join(args), error=result.output[-500:])
                        return
                elif not journal.attempt(f"{verb} {kind}", partial(_fault, platform, verb, target)):
                    return  # a fault left in place would make the next one a double fault
                journal.log("fault", what=f"{verb} {kind}", target=target, cli=via_cli)
                time.sleep(rng.uniform(0.0, cfg["hold"]))


def _fault(platform: Platform, verb: str, target: list[str]) -> bool:
    """Inject or clear the failure of ``target`` (a host, or a host and a disk)."""
    if len(target) == 1:
        call = platform.inject_host_failure if verb == "inject" else platform.clear_host_failure
        call(target[0])
    elif verb == "inject":
        platform.inject_disk_failure(target[0], target[1])
    else:
        platform.clear_disk_failure(target[0], target[1])
    return True


# --------------------------------------------------------------------------- the SIGKILL loop


def kill_loop_worker(cfg: dict[str, Any], conn: Connection) -> None:
    """Open the platform (recovering what a killed predecessor left), say ``ready``, then run
    seeded steps from ``cfg['first_step']``, saying ``step N`` after each."""
    conn.send(("opening", os.getpid()))
    journal = Journal(cfg["log"], cfg["worker"])
    with Platform.open(cfg["state"]) as platform:
        conn.send(("ready", None))
        mixer = Mixer(cfg, [platform], journal)
        mixer.adopt(platform)
        for step in range(cfg["first_step"], cfg["first_step"] + cfg["steps"]):
            journal.step = step
            mixer.rng = random.Random(f"{cfg['seed']}:{step}")
            what = mixer.step()
            journal.log("op", what=what)
            conn.send(("step", step))
    conn.send(("done", None))


# --------------------------------------------------------------------------- misbehaving providers


def misbehaving_scenario(cfg: dict[str, Any], conn: Connection) -> None:
    """Run the named phase of a misbehaving-provider scenario, reporting each stage on
    ``conn`` (so the parent knows where a SIGKILL struck)."""
    os.environ[providers.MISBEHAVE_ENV] = cfg["misbehave"]
    phase = PHASES[cfg["phase"]]
    try:
        phase(cfg, conn)
    except Exception as exc:
        label, _ = classify(exc)
        conn.send(("error", f"{label}: {exc}"))
        raise
    conn.send(("done", None))


def _trigger(cfg: dict[str, Any], conn: Connection) -> None:
    """Set up a good and a bad instance, then make the bad one's provider misbehave."""
    verb = cfg["verb"]
    deadlines = cfg.get("deadlines")
    with Platform.open(cfg["state"], provider_deadlines=deadlines) as p:
        p.register_service("tests.stress.providers:MisbehavingProvider")
        p.create_instance(service="misbehaving", name="good", capacity_gb=1)
        if verb != "provision":
            os.environ[providers.MISBEHAVE_ENV] = ""
            p.create_instance(
                service="misbehaving", name="bad", capacity_gb=1, policy=cfg["policy"]
            )
            os.environ[providers.MISBEHAVE_ENV] = cfg["misbehave"]
        conn.send(("trigger", verb))
        trigger_call(p, verb, cfg["policy"])


def trigger_call(p: Platform, verb: str, policy: str) -> Any:
    """The platform call that reaches the bad instance's ``verb``."""
    host = None
    if verb in ("on_maintenance", "on_failure"):
        host = p.get_instance("bad").members[0].host
    calls: dict[str, Callable[[], Any]] = {
        "provision": lambda: p.create_instance(
            service="misbehaving", name="bad", capacity_gb=1, policy=policy
        ),
        "configure": lambda: p.configure_instance("bad", {"cacheMb": 128}),
        "scale": lambda: p.scale_instance("bad", 2),
        "decommission": lambda: p.remove_instance("bad"),
        "monitor": lambda: p.instance_health("bad"),
        "validate": lambda: p.create_instance(
            service="misbehaving",
            name="bad",
            capacity_gb=1,
            parameters={"cacheMb": providers.BAD_CACHE_MB},
        ),
        "on_maintenance": lambda: p.enter_maintenance(
            str(host), mode=dpp.MaintenanceMode.ENSURE_ACCESSIBILITY
        ),
        "on_failure": lambda: p.inject_host_failure(str(host)),
    }
    return calls[verb]()


def _cli(conn: Connection, state: str, *args: str) -> None:
    conn.send(("cli", " ".join(args)))
    done = CliRunner().invoke(cli, ["--state-dir", state, *args])
    conn.send(("cli-exit", [done.exit_code, done.output[-800:]]))


def _use_and_reclaim_with_cli(cfg: dict[str, Any], conn: Connection) -> None:
    """With the provider still broken: create and remove another instance, ask the cluster's
    health, then reclaim the bad instance, all with ``dpp`` commands (a new command each)."""
    state = cfg["state"]
    create = ("--service", "misbehaving", "--name", "other", "--capacity-gb", "1")
    _cli(conn, state, "instance", "create", *create)
    _cli(conn, state, "instance", "remove", "other", "--yes")
    _cli(conn, state, "health")
    _cli(conn, state, "instance", "remove", "bad", "--yes", "--force")
    _cli(conn, state, "fault", "clear")


def _use_and_reclaim_with_api(cfg: dict[str, Any], conn: Connection) -> None:
    """The same through the API, on a platform opened without recovery."""
    with Platform.open(cfg["state"], provider_deadlines=cfg["deadlines"], recover=False) as p:
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("create_instance other", partial(_create_other, p)),
            ("remove_instance other", partial(p.remove_instance, "other")),
            ("cluster_health", p.cluster_health),
            ("remove_instance bad force", partial(p.remove_instance, "bad", force=True)),
            ("clear_faults", p.clear_faults),
        ]
        for what, call in steps:
            conn.send(("cli", what))
            try:
                call()
            except dpp.DppError as exc:
                conn.send(("cli-exit", [1, f"{what}: {type(exc).__name__}: {exc}"]))


def _create_other(p: Platform) -> None:
    p.create_instance(service="misbehaving", name="other", capacity_gb=1)


def _recover(cfg: dict[str, Any], conn: Connection) -> None:
    """Open the platform with recovery, as the next process on the directory does."""
    with Platform.open(cfg["state"], provider_deadlines=cfg.get("deadlines")) as p:
        conn.send(("recovered", [op.id for op in p.list_operations(limit=None)]))


PHASES: dict[str, Callable[[dict[str, Any], Connection], None]] = {
    "trigger": _trigger,
    "cli": _use_and_reclaim_with_cli,
    "api": _use_and_reclaim_with_api,
    "recover": _recover,
}


# --------------------------------------------------------------------------- recovery races


def crash_in_provision(state: str, name: str) -> None:
    """Create ``name`` with ``tests.providers:SuicidalProvider``, which SIGKILLs this process
    half-way through provision: the operation is left running for recovery."""
    os.environ["DPP_TEST_CRASH"] = name
    with Platform.open(state) as p:
        p.register_service("tests.providers:SuicidalProvider")
        p.create_instance(service="suicidal", name=name, capacity_gb=1)


def recover_at_once(state: str, barrier: Any) -> None:
    """Open the platform (recovering) in step with another process: both have listed the
    interrupted operations before either resumes one (``barrier``, two parties). This only
    makes an unlucky but possible scheduling certain; a platform that claims an operation
    before resuming it lets only one of the two run it."""
    from dpp_sdk.testing import faults

    def in_step() -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=3)

    os.environ.pop("DPP_TEST_CRASH", None)
    with Platform.open(state, recover=False) as p, faults.before_each_resume(p, in_step):
        p.recover()
