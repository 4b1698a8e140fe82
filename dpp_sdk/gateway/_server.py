"""Serving the application with uvicorn: binding, the start-up lines, graceful shutdown.

uvicorn stops on SIGTERM or SIGINT the graceful way: it stops accepting connections, lets
the requests in flight finish (an operation runs to completion inside its request, so no
operation is cut in half by a shutdown) and closes idle keep-alive connections. It then
raises the signal again for whoever handled it before; :func:`run` installs handlers that
only note it, so the caller returns normally and closes the platform.
"""

from __future__ import annotations

import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["bind", "run"]


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host``:``port`` (0: a free port the system picks)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    # connections whose socket says so, and with Nagle on, a response's body waits for the
    # client's delayed ACK of its headers (40 ms per request on a kept-alive connection).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    """The base URL a client reaches the socket at."""
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def run(app: Any, sock: socket.socket, *, log_level: str = "info") -> list[int]:
    """Serve ``app`` on ``sock`` until SIGTERM or SIGINT (or the server is told to exit);
    returns the signals received. Blocks; signals are handled only in the main thread."""
    import uvicorn

    received: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        received.append(signum)

    main = threading.current_thread() is threading.main_thread()
    handled = (signal.SIGINT, signal.SIGTERM) if main else ()
    previous: dict[int, Callable[[int, FrameType | None], Any] | int | None] = {
        sig: signal.signal(sig, note) for sig in handled
    }
    try:
        config = uvicorn.Config(
            app, log_level=log_level, lifespan="off", timeout_graceful_shutdown=None
        )
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return received
