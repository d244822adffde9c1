"""What a WebSocket endpoint does when its own code fails: say so and close cleanly.

A bug met by one connection (a message the parser did not foresee, a value that cannot
be encoded) must end that connection with 1011 (RFC 6455: the server met an unexpected
condition) and a logged traceback, not leave the peer with a socket that dies without a
close frame and no trace of why at the centre.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.websockets import WebSocket, WebSocketDisconnect

INTERNAL_ERROR = 1011
# The peer went away: the endpoint's own teardown deals with that.
PEER_GONE: tuple[type[Exception], ...] = (WebSocketDisconnect, OSError)


@contextlib.asynccontextmanager
async def closed_on_crash(
    websocket: WebSocket,
    log: logging.Logger,
    event: str,
    peer_gone: tuple[type[Exception], ...] = PEER_GONE,
) -> AsyncIterator[None]:
    """Close ``websocket`` with 1011 and log ``event`` with the traceback if the body
    raises anything but ``peer_gone``, which passes through."""
    try:
        yield
    except peer_gone:
        raise
    except Exception:
        log.exception(event)
        with contextlib.suppress(WebSocketDisconnect, RuntimeError, OSError):
            await websocket.close(INTERNAL_ERROR, "internal error")
