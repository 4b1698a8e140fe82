"""Clients at once on one gateway (uvicorn on 127.0.0.1, an ephemeral port)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import attrs

import dpp_sdk as dpp
from dpp_sdk.client import PlatformClient
from dpp_sdk.gateway import AdminToken, create_app
from tests.gateways import running
from tests.providers import KV_MANIFEST, KVProvider

TOKEN = "concurrency-admin-token"


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
