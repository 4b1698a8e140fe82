"""Eight clients at once on one gateway (uvicorn on 127.0.0.1, an ephemeral port, over a
platform on disk): creates, gets, configures, scales, lists, health checks and removes in
parallel, some on the same instances. No answer is a 5xx, every error is problem details, no
acknowledged update is lost, and the state is consistent afterwards.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import attrs
import requests

import dpp_sdk as dpp
from dpp_sdk.client import PlatformClient
from dpp_sdk.gateway import AdminToken, create_app
from tests.gateways import running
from tests.providers import KV_MANIFEST, KVProvider

TOKEN = "concurrency-admin-token"
SERVICE = "two-knobs"  # tests.providers:TwoKnobsProvider: parameters cacheMb (>= 16), threads
OWNERS = 4  # threads with instances of their own; they also contend for one name
ROUNDS = 6  # instances each owner creates
SETTINGS = 10  # configures of each knob of the shared instance
INCREMENTS = 8  # counter increments of each of the two counting threads


@attrs.define
class Answers:
    """Every HTTP answer the clients got: (method, URL, status, content type, JSON body of
    an error)."""

    seen: list[tuple[str, str, int, str, Any]] = attrs.field(factory=list)

    def session(self) -> requests.Session:
        """A session that records each answer (one per thread)."""
        session = requests.Session()
        session.hooks["response"].append(self._record)
        return session

    def _record(self, response: requests.Response, *args: object, **kwargs: object) -> None:
        del args, kwargs
        body: Any = None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = response.text  # not JSON: the checks below say so
        media = response.headers.get("content-type", "")
        request = response.request
        self.seen.append((str(request.method), str(request.url), response.status_code, media, body))


@attrs.define
class Owned:
    """What one owner thread was told its instances are: the last acknowledged cacheMb and
    capacity of each kept instance, and the names it removed."""

    kept: dict[str, tuple[int, int]] = attrs.field(factory=dict)
    removed: list[str] = attrs.field(factory=list)
    created_contended: bool = False
    removed_contended: bool = False


def _owner(client: PlatformClient, me: int, owned: Owned, contend: threading.Barrier) -> None:
    """Create, read, configure, scale, list, check and remove instances of its own; before
    and after, race the other owners to create and to remove one shared name."""
    contend.wait()
    try:
        client.create_instance(service=SERVICE, name="contended", capacity_gb=1)
        owned.created_contended = True
    except (dpp.ValidationError, dpp.Conflict):
        pass  # another owner's create came first: "already exists"
    for i in range(ROUNDS):
        name = f"own-{me}-{i}"
        client.create_instance(
            service=SERVICE, name=name, capacity_gb=1, idempotency_key=f"create-{name}"
        )
        assert client.get_instance(name).name == name
        cache, capacity = 16 + me * 100 + i, 2 + i % 3
        client.configure_instance(name, {"cacheMb": cache})
        client.scale_instance(name, capacity)
        assert name in {info.name for info in client.list_instances(limit=None)}
        assert client.instance_health(name).instance == name
        if i % 2:
            client.remove_instance(name)
            owned.removed.append(name)
        else:
            owned.kept[name] = (cache, capacity)
    contend.wait()
    try:
        client.remove_instance("contended")
        owned.removed_contended = True
    except (dpp.NotFound, dpp.Conflict):
        pass  # another owner removed it first


def _knob_setter(client: PlatformClient, knob: str, acknowledged: dict[str, int]) -> None:
    """Set one parameter of the shared instance again and again (no If-Match); the other
    setter changes the other parameter of the same instance meanwhile."""
    for value in range(1, SETTINGS + 1):
        wanted = 16 + value if knob == "cacheMb" else value
        client.configure_instance("shared-knobs", {knob: wanted})
        acknowledged[knob] = wanted


@attrs.define
class Counted:
    """What the counting threads were told: increments acknowledged, and how the first
    round (both updating the same version) ended."""

    increments: int = 0
    first_round: list[int] = attrs.field(factory=list)
    lock: threading.Lock = attrs.field(factory=threading.Lock)


def _counter(
    url: str, session: requests.Session, counted: Counted, same_version: threading.Barrier
) -> None:
    """Add 1 to cacheMb of shared-counter, INCREMENTS times, by read, modify and write with
    If-Match: a 412 means another write came between, so read again and retry. The first
    round reads, waits for the other counter to have read the same version, then writes."""
    headers = {"Authorization": f"Bearer {TOKEN}"}
    instance = f"{url}/v1/instances/shared-counter"
    done, first = 0, True
    while done < INCREMENTS:
        got = session.get(instance, headers=headers, timeout=60)
        assert got.status_code == 200, got.text
        value = got.json()["spec"]["parameters"]["cacheMb"]
        if first:
            same_version.wait()
        put = session.post(
            f"{instance}/configure",
            json={"parameters": {"cacheMb": value + 1}},
            headers={**headers, "If-Match": got.headers["ETag"]},
            timeout=60,
        )
        assert put.status_code in (202, 412), put.text
        with counted.lock:
            if first:
                counted.first_round.append(put.status_code)
            if put.status_code == 202:
                counted.increments += 1
        first = False
        done += put.status_code == 202


def test_eight_clients_at_once_lose_no_update_get_no_5xx_and_leave_a_consistent_state(
    tmp_path: Path,
) -> None:
    state_dir = tmp_path / "state"
    platform = dpp.Platform.open(state_dir)
    answers = Answers()
    owned = [Owned() for _ in range(OWNERS)]
    knobs: dict[str, int] = {}
    counted = Counted()
    failures: list[BaseException] = []
    try:
        with running(create_app(platform, AdminToken(TOKEN, "test"))) as url:
            admin = PlatformClient(url, TOKEN, session=answers.session())
            admin.register_service("tests.providers:TwoKnobsProvider")
            admin.create_instance(service=SERVICE, name="shared-knobs", capacity_gb=1)
            admin.create_instance(
                service=SERVICE, name="shared-counter", parameters={"cacheMb": 16}
            )
            contend = threading.Barrier(OWNERS, timeout=30)
            same_version = threading.Barrier(2, timeout=30)

            def client() -> PlatformClient:
                return PlatformClient(url, TOKEN, session=answers.session())

            work: list[Callable[[], None]] = [
                *(lambda me=me: _owner(client(), me, owned[me], contend) for me in range(OWNERS)),
                lambda: _knob_setter(client(), "cacheMb", knobs),
                lambda: _knob_setter(client(), "threads", knobs),
                lambda: _counter(url, answers.session(), counted, same_version),
                lambda: _counter(url, answers.session(), counted, same_version),
            ]
            threads = [threading.Thread(target=_catching(job, failures)) for job in work]
            assert len(threads) == 8
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(timeout=60)
            assert not any(t.is_alive() for t in threads), "a client is still running"
            for failure in failures:
                raise failure

            # Every answer: no 5xx, and every error RFC 9457 problem details.
            assert answers.seen
            assert [a for a in answers.seen if a[2] >= 500] == []
            for method, where, status, media, body in answers.seen:
                if status >= 400:
                    assert media == "application/problem+json", (method, where, status)
                    assert isinstance(body, dict), body
                    assert {"type", "title", "status", "detail"} <= body.keys(), body
                    assert body["status"] == status

            # Contention for one name: one create and one remove won, the others were told.
            assert sum(o.created_contended for o in owned) == 1
            assert sum(o.removed_contended for o in owned) == 1

            # No lost update: each instance shows the last write acknowledged on it.
            for mine in owned:
                for name, (cache, capacity) in mine.kept.items():
                    spec = admin.get_instance(name).spec
                    assert (spec.parameters["cacheMb"], spec.capacity_gb) == (cache, capacity)
            present = {i.name for i in admin.list_instances(limit=None)}
            assert present.isdisjoint({n for o in owned for n in [*o.removed, "contended"]})
            shared = admin.get_instance("shared-knobs").spec.parameters
            assert (shared["cacheMb"], shared["threads"]) == (knobs["cacheMb"], knobs["threads"])
            assert knobs == {"cacheMb": 16 + SETTINGS, "threads": SETTINGS}

            # The counter: both wrote the same version once, one was refused; every
            # acknowledged increment counted.
            assert sorted(counted.first_round) == [202, 412]
            assert counted.increments == 2 * INCREMENTS
            counter = admin.get_instance("shared-counter").spec.parameters["cacheMb"]
            assert counter == 16 + counted.increments
            admin.close()
    finally:
        platform.close()
    with dpp.Platform.open(state_dir, recover=False) as reopened:
        assert reopened.check_consistency() == []
        assert reopened.interrupted_operations() == []


def _catching(job: Callable[[], None], failures: list[BaseException]) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except BaseException as exc:  # raised again by the test, with its traceback
            failures.append(exc)

    return run


class SlowConfigureProvider(KVProvider):
    """Its configure says it started (``STARTED``), then waits for ``RELEASE``."""

    STARTED = threading.Event()
    RELEASE = threading.Event()

    def register(self, cluster: dpp.ClusterView) -> dpp.Manifest:
        return attrs.evolve(KV_MANIFEST, name="slow-configure")

    def configure(self, ctx: dpp.InstanceContext, request: dpp.ConfigureRequest) -> None:
        self.STARTED.set()
        self.RELEASE.wait(timeout=30)
        super().configure(ctx, request)


def test_a_slow_update_of_one_instance_does_not_hold_up_an_update_of_another(
    dpp_platform_factory: Callable[..., dpp.Platform],
) -> None:
    """The gateway serialises the updates of one instance (for If-Match); an instance whose
    name once shared a lock with the first (a fixed set of locks, by hash) is not held up."""
    platform = dpp_platform_factory()
    platform.register_service(SlowConfigureProvider)
    platform.register_service(KVProvider)
    slow, other = "stall-decommission-2", "r2-t0-0"  # the same lock of 64, by crc32
    platform.create_instance(service="slow-configure", name=slow, capacity_gb=1)
    platform.create_instance(service="kv", name=other, capacity_gb=1)
    SlowConfigureProvider.STARTED.clear()
    SlowConfigureProvider.RELEASE.clear()
    with running(create_app(platform, AdminToken(TOKEN, "test"))) as url:

        def configure_slowly() -> None:
            with PlatformClient(url, TOKEN) as client:
                client.configure_instance(slow, {"cacheMb": 32})

        waiting = threading.Thread(target=configure_slowly)
        waiting.start()
        try:
            assert SlowConfigureProvider.STARTED.wait(timeout=30)
            with PlatformClient(url, TOKEN, timeout=10) as client:
                done = client.configure_instance(other, {"cacheMb": 32})
            assert done.state is dpp.OperationState.SUCCEEDED
            assert waiting.is_alive()  # the slow one is still running meanwhile
        finally:
            SlowConfigureProvider.RELEASE.set()
            waiting.join(timeout=30)
        assert platform.get_instance(slow).spec.parameters["cacheMb"] == 32
