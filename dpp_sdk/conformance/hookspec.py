"""The pytest hook of the conformance plugin (:mod:`dpp_sdk.conformance.plugin`).

A plugin or a ``conftest.py`` implements :func:`pytest_dpp_lab` to choose where the checks'
platforms are opened when pytest runs the suite (``pytest --dpp-provider PROVIDER``). The
first implementation that returns a lab wins; with none, each check opens an in-process
platform (:class:`~dpp_sdk.conformance.LocalLab`). dpp-sdk's own implementation, in
:mod:`dpp_sdk.client.plugin`, returns a :class:`dpp_sdk.client.RemoteLab` when ``--dpp-url``
(or ``DPP_URL``) names a gateway. A lab with a ``close()`` method is closed when the session
ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from dpp_sdk.conformance import Lab

__all__ = ["pytest_dpp_lab"]


@pytest.hookspec(firstresult=True)
def pytest_dpp_lab(config: pytest.Config) -> Lab | None:
    """The lab the conformance checks of this session (or xdist worker) run in, or None to
    leave the choice to other implementations (in the end: in process)."""
