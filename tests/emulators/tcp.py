"""A device's listening port on 127.0.0.1, for the emulators that are TCP servers: the
connections it took close with it, as a device switched off drops them, and it can be
opened again on the same port, as the device coming back."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator

Serve = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class TcpPort:
    def __init__(self, serve: Serve) -> None:
        self.port = 0
        self._serve = serve
        self._server: asyncio.Server | None = None
        self._clients: set[asyncio.StreamWriter] = set()

    async def start(self, port: int = 0) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for client in self._clients:
                client.close()
            await self._server.wait_closed()
            self._server = None

    @contextlib.contextmanager
    def connection(self, writer: asyncio.StreamWriter) -> Iterator[None]:
        """Around a connection's ``serve``: kept to be closed at ``stop``, closed at its end."""
        self._clients.add(writer)
        try:
            yield
        finally:
            self._clients.discard(writer)
            writer.close()


class TcpDevice:
    """An emulated device that is a TCP server: switched on (``start``, on a port of
    its choosing or the one it had) and off (``stop``). It sets ``_tcp`` to its port."""

    _tcp: TcpPort

    @property
    def port(self) -> int:
        return self._tcp.port

    async def start(self, port: int = 0) -> None:
        await self._tcp.start(port)

    async def stop(self) -> None:
        await self._tcp.stop()
