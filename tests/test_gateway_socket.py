"""The gateway's listening socket: responses on a kept-alive connection are not held back."""

from __future__ import annotations

import socket

from dpp_sdk.gateway._server import bind


def test_the_listening_socket_names_tcp_so_asyncio_turns_nagle_off_on_its_connections() -> None:
    # asyncio sets TCP_NODELAY only on sockets whose protocol is IPPROTO_TCP; with Nagle on, a
    # response body waited 40 ms for the client's delayed ACK of its headers.
    sock = bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
        client = socket.create_connection(sock.getsockname()[:2])
        accepted, _ = sock.accept()
        with client, accepted:
            assert accepted.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
