"""pytest fixtures for provider tests: ``pytest -p dpp_sdk.testing.plugin``, or
``pytest_plugins = ["dpp_sdk.testing.plugin"]`` in a ``conftest.py``.

``dpp_platform`` opens platforms with :func:`dpp_sdk.testing.open_platform` and closes every
one it opened when the test ends, pass or fail::

    def test_green(dpp_platform) -> None:
        platform = dpp_platform("samples/mongodb", hosts=6, racks=3)
        platform.create_instance(service="mongodb", name="db1", capacity_gb=10)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dpp_sdk.platform import Platform
from dpp_sdk.testing import open_platform

__all__ = ["dpp_platform"]


@pytest.fixture
def dpp_platform() -> Iterator[Callable[..., Platform]]:
    """Open a platform as :func:`dpp_sdk.testing.open_platform` does; closed after the test."""
    opened: list[Platform] = []

    def open_one(*providers: Any, **options: Any) -> Platform:
        platform = open_platform(*providers, **options)
        opened.append(platform)
        return platform

    yield open_one
    for platform in opened:
        platform.close()
