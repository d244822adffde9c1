"""The floor of the call benchmark: a bare WebSocket relay, lane → server → agent.

    python -m bench.call_floor PORT

It runs on the centre's own server stack (Starlette on uvicorn with its sans-I/O
WebSockets, uvloop, TCP_NODELAY on accepted sockets) and does nothing but pass frames on:
a lane on ``/link`` says ``hello`` and is welcomed as at the centre (no token checked),
then every frame it sends goes, as it came, to the one agent connected on ``/agent``. A
press relayed this way is what a ring would cost if the centre did no work of its own:
no queue, no ledger, no commit. The benchmark's lanes (``bench/call_lanes.py``) and
agent client (``FloorAgent``) are the ones it uses against the centre.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

import uvicorn
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect
from websockets.asyncio.client import ClientConnection, connect

from console.server import listening_socket
from console.service import run_fast


class Relay:
    def __init__(self) -> None:
        self.agent: WebSocket | None = None

    async def lane(self, ws: WebSocket) -> None:
        await ws.accept()
        hello = json.loads(await ws.receive_text())
        welcome = {"type": "welcome", "v": 1, "lane": hello["lane"]}
        await ws.send_text(json.dumps({**welcome, "heartbeat_ms": hello["heartbeat_ms"]}))
        try:
            while True:
                frame = await ws.receive_text()
                if self.agent is not None:
                    await self.agent.send_text(frame)
        except WebSocketDisconnect:
            return

    async def agent_tab(self, ws: WebSocket) -> None:
        await ws.accept()
        self.agent = ws
        try:
            while True:
                await ws.receive_text()
        except WebSocketDisconnect:
            self.agent = None


async def serve(port: int) -> None:
    relay = Relay()
    app = Starlette(
        routes=[WebSocketRoute("/link", relay.lane), WebSocketRoute("/agent", relay.agent_tab)]
    )
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        ws="websockets-sansio",
        ws_per_message_deflate=False,  # as the centre's (console.server)
        access_log=False,
        log_config=None,
        lifespan="off",
    )
    sock = listening_socket(config)
    # Listening from here on: a client that connects now waits in the backlog.
    print(f"bench.floor.listening port={port}", file=sys.stderr, flush=True)
    await uvicorn.Server(config).serve(sockets=[sock])


class FloorAgent:
    """The agent's end of the relay: each relayed press stamped with
    ``time.monotonic_ns()`` as it arrives, by its event id."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._arrivals: dict[str, asyncio.Future[int]] = {}
        self._reading = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, port: int) -> FloorAgent:
        """Connect to a relay that has said it listens (``bench.floor.listening``)."""
        return cls(await connect(f"ws://127.0.0.1:{port}/agent"))

    def arrival(self, event_id: str) -> asyncio.Future[int]:
        """When the press ``event_id`` arrived (ns); ask before sending it."""
        return self._arrivals.setdefault(event_id, asyncio.get_running_loop().create_future())

    async def close(self) -> None:
        self._reading.cancel()
        await asyncio.gather(self._reading, return_exceptions=True)
        await self.ws.close()

    async def _read(self) -> None:
        async for raw in self.ws:
            at = time.monotonic_ns()
            frame = json.loads(raw)
            if frame.get("type") == "call":
                self.arrival(frame["event_id"]).set_result(at)


if __name__ == "__main__":
    run_fast(serve(int(sys.argv[1])))
