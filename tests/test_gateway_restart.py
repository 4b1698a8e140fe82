"""``dpp platform serve`` killed (SIGKILL) under load and started again on the same state
directory, three times: each kill leaves a state that is consistent but for the operations it
interrupted, which are reported; the next start recovers exactly those; and nothing a client
was told succeeded is lost.

Each round kills the server at a known point, with clients' requests in flight: while one
operation is stopped half-way inside its provider (``StallingProvider`` in provision, then in
configure, then in decommission), after the load threads have been acknowledged a few times.
"""

from __future__ import annotations

import re
import signal
import threading
import time
from pathlib import Path

import attrs
import requests

import dpp_sdk as dpp
from dpp_sdk.client import PlatformClient
from tests.gateways import Served, serve_env

TOKEN = "restart-admin-token"
VERBS = ("provision", "configure", "decommission")  # where each round's stalled operation stops
LOADERS = 3  # client threads making load in each round
ACKS_BEFORE_KILL = 6  # load steps acknowledged in a round before the kill
STALLED_CACHE = 512  # what the stalled configure sets


@attrs.define
class Load:
    """What one load thread was told, and what it was doing when the server died."""

    created: dict[str, str] = attrs.field(factory=dict)  # name -> acknowledged operation id
    configured: dict[str, int] = attrs.field(factory=dict)  # name -> acknowledged cacheMb
    removed: set[str] = attrs.field(factory=set)
    in_flight: tuple[str, str] | None = None  # (verb, instance) of the unanswered request
    failure: BaseException | None = None


class Progress:
    """Load steps acknowledged so far; the test waits on it."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    def tick(self) -> None:
        with self._changed:
            self._count += 1
            self._changed.notify_all()

    def wait_for(self, count: int, timeout: float = 30) -> bool:
        with self._changed:
            return self._changed.wait_for(lambda: self._count >= count, timeout)


def _load(url: str, prefix: str, load: Load, progress: Progress) -> None:
    """Create, configure, read and sometimes remove instances until the server dies."""
    with PlatformClient(url, TOKEN) as client:
        for i in range(10_000):
            name = f"{prefix}-{i}"
            try:
                load.in_flight = ("create", name)
                load.created[name] = client.create_instance(
                    service="stalling", name=name, capacity_gb=1
                ).id
                load.in_flight = ("configure", name)
                client.configure_instance(name, {"cacheMb": 100 + i})
                load.configured[name] = 100 + i
                load.in_flight = ("get", name)
                assert client.get_instance(name).spec.parameters["cacheMb"] == 100 + i
                if i % 3 == 2:
                    load.in_flight = ("remove", name)
                    client.remove_instance(name)
                    load.removed.add(name)
                load.in_flight = None
            except requests.RequestException:
                return  # the server was killed: in_flight says what was left unanswered
            except BaseException as exc:  # the test raises it
                load.failure = exc
                return
            progress.tick()


def _stalled_call(url: str, verb: str, name: str) -> None:
    """The request whose operation stops half-way; it gets no answer (the server dies)."""
    with PlatformClient(url, TOKEN) as client:
        try:
            if verb == "provision":
                client.create_instance(service="stalling", name=name, capacity_gb=1)
            elif verb == "configure":
                client.configure_instance(name, {"cacheMb": STALLED_CACHE})
            else:
                client.remove_instance(name)
        except requests.RequestException:
            return
    raise AssertionError(f"the stalled {verb} of {name} was answered")


def _wait_for_file(path: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path.name} never stalled"
        time.sleep(0.01)


def _orphans(operations: list[dpp.Operation]) -> list[str]:
    """What check_consistency says of operations left running by a dead process."""
    return sorted(
        f"operation {op.id} ({op.kind} {op.target}) is {op.state.value} but its process is gone"
        for op in operations
    )


def _recovered(served: Served) -> set[str]:
    """The operations ``serve`` says it recovered before serving."""
    found = (re.match(r"recovered operation (op-\w+) ", line) for line in served.lines)
    return {m.group(1) for m in found if m}


def _check_acknowledged(client: PlatformClient, loads: list[Load]) -> None:
    """Every acknowledged create is recorded as succeeded, and its instance is there with
    its acknowledged cacheMb, unless it was removed (or a remove was in flight)."""
    present = {i.name: i for i in client.list_instances(limit=None)}
    for load in loads:
        maybe = load.in_flight[1] if load.in_flight else None
        for name, op_id in load.created.items():
            assert client.get_operation(op_id).state is dpp.OperationState.SUCCEEDED
            if name in load.removed:
                assert name not in present
            elif name != maybe:
                assert name in present, f"acknowledged create of {name} lost"
                cache = present[name].spec.parameters["cacheMb"]
                assert cache == load.configured.get(name, 64), name


def test_killing_the_server_under_load_loses_nothing_acknowledged_and_recovery_ends_the_rest(
    tmp_path: Path,
) -> None:
    state_dir, stalls = tmp_path / "state", tmp_path / "stalls"
    stalls.mkdir()
    env = serve_env(DPP_ADMIN_TOKEN=TOKEN, DPP_TEST_STALL_DIR=str(stalls))
    all_loads: list[Load] = []
    served = Served(state_dir, env)
    try:
        with PlatformClient(served.url, TOKEN) as admin:
            admin.register_service("tests.providers:StallingProvider")
        for round_, verb in enumerate(VERBS):
            stalled = f"stall-{verb}-{round_}"
            if verb != "provision":
                with PlatformClient(served.url, TOKEN) as admin:
                    admin.create_instance(service="stalling", name=stalled, capacity_gb=1)
            loads = [Load() for _ in range(LOADERS)]
            progress = Progress()
            threads = [
                threading.Thread(target=_load, args=(served.url, f"r{round_}-t{t}", load, progress))
                for t, load in enumerate(loads)
            ]
            threads.append(threading.Thread(target=_stalled_call, args=(served.url, verb, stalled)))
            for thread in threads:
                thread.start()
            assert progress.wait_for(ACKS_BEFORE_KILL), "the load made no progress"
            _wait_for_file(stalls / stalled)

            status, _ = served.stop(signal.SIGKILL)
            assert status == -signal.SIGKILL
            for thread in threads:
                thread.join(timeout=30)
            assert not any(t.is_alive() for t in threads)
            for load in loads:
                if load.failure is not None:
                    raise load.failure
            all_loads += loads

            # The kill left the operations in flight running, and nothing else amiss.
            with dpp.Platform.open(state_dir, recover=False) as platform:
                interrupted = platform.interrupted_operations()
                assert (verb, stalled) in {(op.kind, op.target) for op in interrupted}
                assert sorted(platform.check_consistency()) == _orphans(interrupted)

            # The next start recovers exactly those, before serving.
            served = Served(state_dir, env)
            assert _recovered(served) == {op.id for op in interrupted}, served.lines
            with PlatformClient(served.url, TOKEN) as client:
                assert client.interrupted_operations() == []
                assert client.check_consistency() == []
                for op in interrupted:
                    assert client.get_operation(op.id).state.terminal
                _check_acknowledged(client, all_loads)
                names = {i.name for i in client.list_instances(limit=None)}
                if verb == "decommission":
                    assert stalled not in names
                else:
                    stalled_info = client.get_instance(stalled)
                    assert stalled_info.status is dpp.InstanceStatus.READY
                    cache = stalled_info.spec.parameters["cacheMb"]
                    assert cache == (STALLED_CACHE if verb == "configure" else 64)

        status, out = served.stop()
        assert status == 0, out
    finally:
        served.kill()
    with dpp.Platform.open(state_dir, recover=False) as platform:
        assert platform.check_consistency() == []
        assert platform.interrupted_operations() == []
