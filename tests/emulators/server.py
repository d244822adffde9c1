"""An emulated device's HTTP server: a Starlette app under uvicorn on 127.0.0.1 that a
test can take away (the device is unplugged: connections are refused) and bring back on
the same port (it is plugged in again)."""

from __future__ import annotations

import asyncio

import uvicorn
from starlette.types import ASGIApp

from console.server import listening_socket


class DeviceServer:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.port = 0
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None
        self.gone = asyncio.Event()  # set while unplugged: long responses end on it

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        """Accepting once this returns; on the port it had, if it had one."""
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_config=None, lifespan="off"
        )
        sock = listening_socket(config)
        self.port = sock.getsockname()[1]
        self.gone.clear()
        self._server = uvicorn.Server(config)
        self._task = asyncio.create_task(self._server.serve(sockets=[sock]))

    async def stop(self) -> None:
        """Unplugged: open streams end, and the port refuses connections."""
        self.gone.set()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task
        self._server = self._task = None
