"""The conformance suite under pytest, through a gateway: ``--dpp-url`` and ``--dpp-token``.

Registered through the ``pytest11`` entry point beside :mod:`dpp_sdk.conformance.plugin`.
It adds two options to that plugin's group and implements its
:func:`~dpp_sdk.conformance.hookspec.pytest_dpp_lab` hook: when ``--dpp-url`` (or the
``DPP_URL`` environment variable, as for the CLI) names a gateway, every check of
``pytest --dpp-provider PROVIDER`` opens its platform in one of the gateway's sandboxes
(:class:`~dpp_sdk.client.RemoteLab`), as ``dpp conformance run --url`` does::

    pytest --dpp-provider samples/minio --dpp-url http://127.0.0.1:8470 --dpp-token ADMIN

Sandboxes are the admin's: the token (``--dpp-token`` or ``DPP_TOKEN``) must be the gateway's
admin token. The provider runs in the gateway's process, which must be able to load it.
Without a URL this plugin does nothing, and imports nothing beyond this module.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from dpp_sdk.conformance import Lab

__all__ = ["pytest_addoption", "pytest_configure", "pytest_dpp_lab"]


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("dpp-conformance")
    group.addoption(
        "--dpp-url",
        metavar="URL",
        default=None,
        help="Run the checks of --dpp-provider in sandboxes of the gateway at URL "
        "(default: $DPP_URL; none: in process).",
    )
    group.addoption(
        "--dpp-token",
        metavar="TOKEN",
        default=None,
        help="The gateway's admin token, for --dpp-url (default: $DPP_TOKEN).",
    )


def pytest_configure(config: pytest.Config) -> None:
    url = config.getoption("--dpp-url")
    if url and not config.getoption("--dpp-provider", default=None):
        raise pytest.UsageError(
            f"--dpp-url {url}: nothing to run through the gateway; give --dpp-provider PROVIDER"
        )


@pytest.hookimpl(trylast=True)
def pytest_dpp_lab(config: pytest.Config) -> Lab | None:
    url = config.getoption("--dpp-url") or os.environ.get("DPP_URL")
    if not url:
        return None
    token = config.getoption("--dpp-token") or os.environ.get("DPP_TOKEN")
    if not token:
        raise pytest.UsageError(
            f"--dpp-url {url}: the gateway's sandboxes need its admin token; give --dpp-token "
            "or set DPP_TOKEN"
        )
    from dpp_sdk.client import RemoteLab

    return RemoteLab(url, token)
