"""``serve``: what ``dpp platform serve`` runs once the platform is open."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from dpp_sdk.gateway._app import create_app
from dpp_sdk.gateway._auth import PartnerTokens, admin_token
from dpp_sdk.gateway._server import bind, run, url_of
from dpp_sdk.platform import PlatformAPI

__all__ = ["serve"]


def serve(
    platform: PlatformAPI,
    *,
    state_dir: Path,
    host: str = "127.0.0.1",
    port: int = 8080,
    echo: Callable[[str], None] = print,
    log_level: str = "info",
) -> None:
    """Serve ``platform`` (opened on ``state_dir``) at ``host``:``port`` until SIGTERM or
    SIGINT, then return; the caller closes the platform.

    Before serving, every operation a dead process left unfinished is resumed or failed
    (:meth:`~dpp_sdk.platform.PlatformAPI.recover`). ``echo`` receives the start-up lines:
    the URL, where the admin token is, and how to stop."""
    token = admin_token(state_dir)
    sock = bind(host, port)
    try:
        ended = platform.recover()
        for op in ended:
            echo(f"recovered operation {op.id} ({op.kind} {op.target}): {op.state.value}")
        url = url_of(sock)
        echo(f"dpp gateway serving {state_dir} at {url}/v1 (OpenAPI: {url}/v1/openapi.json)")
        echo(f"admin token: {token.source}")
        echo("stop with Ctrl+C or SIGTERM (requests in flight finish first)")
        app = create_app(platform, token, PartnerTokens(state_dir))
        try:
            received = run(app, sock, log_level=log_level)
        finally:
            app.state.sandboxes.close()
    finally:
        sock.close()
    echo(f"dpp gateway stopped{' on signal ' + str(received[-1]) if received else ''}")
