"""The HTTP client of the gateway: :class:`PlatformClient`, a
:class:`~dpp_sdk.platform.PlatformAPI` over ``dpp platform serve``.

::

    from dpp_sdk.client import PlatformClient

    with PlatformClient("http://127.0.0.1:8080", token) as platform:
        platform.create_instance(service="kv", name="kv1", capacity_gb=10)

It returns the in-process platform's model types and raises its exception types, with the
same messages; :class:`GatewayError` is for what only HTTP can go wrong (401, a route not
served, a server fault). See ``docs/gateway.md``.
"""

from dpp_sdk.client._client import PlatformClient
from dpp_sdk.client._errors import GatewayError

__all__ = ["GatewayError", "PlatformClient"]
