"""The HTTP gateway: the platform over a versioned REST API (``/v1``), PRODUCT.md section 6.

``dpp platform serve`` runs it (see ``docs/gateway.md``). From Python::

    app = create_app(platform, AdminToken("s3cret", "test"))   # any ASGI server can run it

The routes and the OpenAPI document are both made from one endpoint table; errors are RFC
9457 problem details; every route but ``/v1/openapi.json`` needs a bearer token: the admin's,
or a partner token scoped to one vendor (``create_app(platform, admin, PartnerTokens(dir))``;
see ``docs/security.md``).
Needs the ``gateway`` extra (Starlette and uvicorn): ``pip install 'dpp-sdk[gateway]'``.
"""

from dpp_sdk.gateway._app import create_app
from dpp_sdk.gateway._auth import (
    ENV_VAR,
    PARTNER_TOKENS_FILE,
    TOKEN_FILE,
    AdminToken,
    PartnerTokens,
    admin_token,
)
from dpp_sdk.gateway._openapi import OPENAPI_PATH, openapi_document
from dpp_sdk.gateway._serve import serve

__all__ = [
    "ENV_VAR",
    "OPENAPI_PATH",
    "PARTNER_TOKENS_FILE",
    "TOKEN_FILE",
    "AdminToken",
    "PartnerTokens",
    "admin_token",
    "create_app",
    "openapi_document",
    "serve",
]
