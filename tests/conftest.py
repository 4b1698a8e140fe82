"""Fixtures shared by several test modules of ``tests/``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import dpp_sdk as dpp
from dpp_sdk.gateway import AdminToken, create_app
from tests.gateways import TOKEN, Gateway, running


@pytest.fixture
def gateway(dpp_platform_factory: Callable[..., dpp.Platform]) -> Iterator[Gateway]:
    """A gateway over an in-memory platform, with a client holding the admin token; stopped,
    and any sandboxes it opened closed, after the test."""
    platform = dpp_platform_factory()
    app = create_app(platform, AdminToken(TOKEN, "test"))
    try:
        with running(app) as url:
            served = Gateway(url, platform)
            yield served
            served.client.close()
    finally:
        app.state.sandboxes.close()
