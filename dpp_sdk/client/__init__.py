"""The HTTP client of the gateway: :class:`PlatformClient`, a
:class:`~dpp_sdk.platform.PlatformAPI` over ``dpp platform serve``.

::

    from dpp_sdk.client import PlatformClient

    with PlatformClient("http://127.0.0.1:8080", token) as platform:
        platform.create_instance(service="kv", name="kv1", capacity_gb=10)

It returns the in-process platform's model types and raises its exception types, with the
same messages; :class:`GatewayError` is for what only HTTP can go wrong (401, a route not
served, a server fault). An update can be made conditional on the version of the instance
it was meant for::

    info = platform.get_instance("kv1")
    platform.scale_instance("kv1", 20, if_match=etag_of(info))  # PreconditionFailed if changed

:class:`RemoteLab` runs the conformance suite through the gateway (loaded on first use). See
``docs/gateway.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dpp_sdk._lazy import lazy_names
from dpp_sdk.client._client import PlatformClient
from dpp_sdk.client._errors import GatewayError
from dpp_sdk.platform import PreconditionFailed
from dpp_sdk.platform._api import etag_of

if TYPE_CHECKING:
    from dpp_sdk.client._lab import RemoteLab

__getattr__, __dir__ = lazy_names(__name__, {"RemoteLab": "dpp_sdk.client._lab"}, globals())

__all__ = ["GatewayError", "PlatformClient", "PreconditionFailed", "RemoteLab", "etag_of"]
