"""pytest fixtures for provider tests: ``pytest -p dpp_sdk.testing.plugin``, or
``pytest_plugins = ["dpp_sdk.testing.plugin"]`` in the root ``conftest.py``.

``dpp_platform`` is a platform opened as the closest ``dpp_platform`` marker says (its arguments
are those of :func:`dpp_sdk.testing.open_platform`: the providers, then the cluster's shape),
and closed when the test ends, pass or fail. Mark a module once and override per test::

    pytestmark = pytest.mark.dpp_platform("samples/mongodb", hosts=4)

    def test_green(dpp_platform) -> None:
        dpp_platform.create_instance(service="mongodb", name="db1", capacity_gb=10)

    @pytest.mark.dpp_platform("samples/mongodb", hosts=3)
    def test_no_spare_host(dpp_platform) -> None: ...

``dpp_platform_factory`` opens as many as a test needs, each closed when the test ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dpp_sdk.platform import Clock, Platform
from dpp_sdk.testing import open_platform

__all__ = ["dpp_platform", "dpp_platform_factory"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "dpp_platform(*providers, **cluster_shape): how the dpp_platform fixture opens its "
        "platform (the arguments of dpp_sdk.testing.open_platform)",
    )


@pytest.fixture
def dpp_platform_factory() -> Iterator[Callable[..., Platform]]:
    """Open platforms as :func:`dpp_sdk.testing.open_platform` does; closed after the test."""
    opened: list[Platform] = []

    def open_one(*providers: Any, **options: Any) -> Platform:
        platform = open_platform(*providers, **options)
        opened.append(platform)
        return platform

    yield open_one
    for platform in opened:
        platform.close()


@pytest.fixture
def dpp_platform(
    request: pytest.FixtureRequest,
    dpp_platform_factory: Callable[..., Platform],
    tmp_path_factory: pytest.TempPathFactory,
) -> Platform:
    """The platform the closest ``dpp_platform`` marker describes (none: an empty default
    cluster of four hosts with no provider). Two marker arguments are read per test:
    ``clock=ManualClock`` (a class, or any callable) makes a fresh clock for each test, and
    ``on_disk=True`` puts the platform on a fresh state directory instead of in memory."""
    marker = request.node.get_closest_marker("dpp_platform")
    args, kwargs = (marker.args, dict(marker.kwargs)) if marker is not None else ((), {})
    clock = kwargs.get("clock")
    if callable(clock) and not isinstance(clock, Clock):
        kwargs["clock"] = clock()
    if kwargs.pop("on_disk", False):
        kwargs["state_dir"] = tmp_path_factory.mktemp("dpp-state") / "state"
    return dpp_platform_factory(*args, **kwargs)
