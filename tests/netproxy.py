"""A TCP relay between a lane and the centre (or a centre and Redis) whose connections
a test can cut, a network blip on loopback, or silence, a peer that stops answering
without closing anything, without touching either end's code."""

from __future__ import annotations

import asyncio
import contextlib


class CuttableProxy:
    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.refusing = False  # while set, new connections are dropped at once
        self._silent = asyncio.Event()  # once set, nothing passes, nothing is closed

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self, *, stay_down: bool = False) -> None:
        """Drop every connection now passing through; with ``stay_down``, refuse new
        ones too until ``restore``."""
        self.refusing = stay_down
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def silence(self) -> None:
        """From now on no byte passes either way and no connection is closed; new
        connections are taken and left unanswered: a peer that hangs, or a network
        that drops every packet."""
        self._silent.set()

    def restore(self) -> None:
        self.refusing = False

    async def close(self) -> None:
        await self.cut()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        if self.refusing:
            client_w.transport.abort()
            return
        if self._silent.is_set():
            self._writers.add(client_w)
            return  # held open, unread
        try:
            server_r, server_w = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            client_w.transport.abort()
            return
        self._writers |= {client_w, server_w}
        await asyncio.gather(self._pipe(client_r, server_w), self._pipe(server_r, client_w))
        self._writers -= {client_w, server_w}

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                if self._silent.is_set():
                    await self._silent_until_closed(writer)
                    return
                writer.write(data)
                await writer.drain()
        writer.transport.abort()

    async def _silent_until_closed(self, writer: asyncio.StreamWriter) -> None:
        """What arrives is dropped; the connection stays until the test closes it."""
        await writer.wait_closed()
