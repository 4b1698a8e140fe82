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

Every name loads on first use. :class:`RemoteLab` runs the conformance suite through the
gateway, also under pytest (``--dpp-url``, :mod:`dpp_sdk.client.plugin`). See
``docs/gateway.md``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from dpp_sdk._lazy import lazy_names

if TYPE_CHECKING:
    from dpp_sdk.client._client import PlatformClient
    from dpp_sdk.client._errors import GatewayError
    from dpp_sdk.client._lab import RemoteLab
    from dpp_sdk.platform import PreconditionFailed
    from dpp_sdk.platform._api import etag_of

# Every name loads on first use, so that importing the package (as pytest does for its
# plugin, dpp_sdk.client.plugin) costs nothing until the client is used.
__getattr__, __dir__ = lazy_names(
    __name__,
    {
        "GatewayError": "dpp_sdk.client._errors",
        "PlatformClient": "dpp_sdk.client._client",
        "PreconditionFailed": "dpp_sdk.platform",
        "RemoteLab": "dpp_sdk.client._lab",
        "etag_of": "dpp_sdk.platform._api",
    },
    globals(),
)

__all__ = ["GatewayError", "PlatformClient", "PreconditionFailed", "RemoteLab", "etag_of"]
