"""How the centre listens."""

from __future__ import annotations

import socket

from starlette.types import Receive, Scope, Send

from console.server import listening_socket, uvicorn_config
from console.settings import Settings


def test_listening_socket_turns_off_nagle_for_its_connections() -> None:
    """Accepted connections inherit TCP_NODELAY; without it a keep-alive response waits
    for the client's delayed ACK (~40 ms) and the console feels sluggish."""
    config = uvicorn_config(Settings(port=0), app=never_called)
    sock = listening_socket(config)
    try:
        port = sock.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = sock.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        sock.close()


async def never_called(scope: Scope, receive: Receive, send: Send) -> None:
    """The application of a server that only opens its socket."""
    raise AssertionError("no request reaches a server that is not started")
