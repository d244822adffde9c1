"""Run the centre under uvicorn, with the store opened and closed around it."""

from __future__ import annotations

import asyncio
import socket

import uvicorn
from starlette.types import ASGIApp

from gates.protocol import MAX_MESSAGE_BYTES
from media.units import MAX_UNIT_MESSAGE_BYTES

from .app import create_app
from .ledger_check import ensure_ledger_sound
from .settings import Settings
from .stores import open_store


def uvicorn_config(settings: Settings, app: ASGIApp, port: int | None = None) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port if port is None else port,
        # Twice the largest legal frame of any WebSocket served here (the lane link's
        # message, the media connection's unit), so an oversized one reaches the code
        # and gets its documented ``too_large`` refusal instead of a bare 1009.
        ws_max_size=2 * max(MAX_MESSAGE_BYTES, MAX_UNIT_MESSAGE_BYTES),
        # The lane link has its own heartbeat; transport pings only reap dead browsers.
        ws="websockets-sansio",
        # Only browsers ask for permessage-deflate (lanes and media units do not), and
        # for a console's small JSON messages it costs more than it saves: each message
        # is compressed once per tab, not once, which took a third of the centre's
        # sending to twenty consoles (bench/calls.py under py-spy).
        ws_per_message_deflate=False,
        ws_ping_interval=20.0,
        ws_ping_timeout=20.0,
        access_log=False,
        # Off, whatever FORWARDED_ALLOW_IPS says: uvicorn would believe X-Forwarded-For
        # from 127.0.0.1. ``SEAT_TRUSTED_PROXIES`` and ``console.web.ClientAddress``
        # decide who the client is.
        proxy_headers=False,
        log_config=None,
        lifespan="on",
        # A connection that never finishes closing must not hold a restart for ever.
        timeout_graceful_shutdown=10,
    )


async def serve(settings: Settings, accept_bad_ledger: int | None = None) -> None:
    """Raises ``LedgerFault`` before opening anything for writing if the ledger fails
    its check, unless ``accept_bad_ledger`` is the count it ends at."""
    check = await asyncio.to_thread(ensure_ledger_sound, settings, accept_bad_ledger)
    store = await open_store(settings)
    try:
        config = uvicorn_config(settings, create_app(settings, store, check))
        await uvicorn.Server(config).serve(sockets=[listening_socket(config)])
    finally:
        await store.close()


def listening_socket(config: uvicorn.Config) -> socket.socket:
    """Bind and listen before serving: a taken port fails at once, and clients that
    connect before uvicorn starts accepting wait in the backlog instead of being refused."""
    sock = config.bind_socket()
    # uvicorn makes this socket with proto 0, so asyncio does not recognise its accepted
    # connections as TCP and leaves Nagle on them: every keep-alive response then waits
    # ~40 ms for the client's delayed ACK. Accepted sockets inherit the option on Linux.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.listen(config.backlog)
    return sock
