"""The routes of the gateway's own partner tokens (``/v1/tokens``): admin only.

They are described by :class:`~dpp_sdk.gateway._routes.Endpoint` rows like the platform's
routes, so the OpenAPI document lists them, but they act on the gateway's
:class:`~dpp_sdk.gateway._auth.PartnerTokens`, not on the platform: the application
dispatches them by ``operation_id`` (:data:`TOKEN_CALLS`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dpp_sdk.gateway._auth import PartnerTokens
from dpp_sdk.gateway._routes import Args, Endpoint, not_a_platform_call

__all__ = ["TOKEN_CALLS", "TOKEN_ENDPOINTS"]


def _create(tokens: PartnerTokens, args: Args) -> Any:
    listed, token = tokens.create(args.body["vendor"])
    return {
        "id": listed.id,
        "vendor": listed.vendor,
        "created_at": listed.created_at,
        "token": token,
    }


TOKEN_CALLS: dict[str, Callable[[PartnerTokens, Args], Any]] = {
    "createPartnerToken": _create,
    "listPartnerTokens": lambda tokens, args: tokens.list(),
    "revokePartnerToken": lambda tokens, args: tokens.revoke(args.path["id"]),
}

TOKEN_ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(
        method="POST",
        path="/v1/tokens",
        operation_id="createPartnerToken",
        summary="Make a partner token scoped to `vendor` (admin only). The answer carries the "
        "token, the only time it is shown; the server keeps its SHA-256 digest.",
        call=not_a_platform_call,
        body={"vendor": "string"},
        required=("vendor",),
        reply="created",
        location=lambda created: f"/v1/tokens/{created['id']}",
    ),
    Endpoint(
        method="GET",
        path="/v1/tokens",
        operation_id="listPartnerTokens",
        summary="Every partner token's id, vendor and creation time (never the token).",
        call=not_a_platform_call,
        schema="DocumentList",
    ),
    Endpoint(
        method="DELETE",
        path="/v1/tokens/{id}",
        operation_id="revokePartnerToken",
        summary="Revoke a partner token: requests presenting it get 401 from now on.",
        call=not_a_platform_call,
        reply="empty",
    ),
)
