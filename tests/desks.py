"""An agent at the console, for tests: a logged-in HTTP client and the live stream of
one console tab, read message by message with a timeout, never by sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from tests.conftest import Centre

Message = dict[str, Any]


def stream_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/api/stream"


@dataclass
class Desk:
    name: str
    client: httpx.AsyncClient
    ws: ClientConnection

    async def next(
        self, kind: str, check: Callable[[Message], bool] = lambda _: True, timeout: float = 10
    ) -> Message:
        """The next message of ``kind`` that passes ``check``; the others are skipped."""
        async with asyncio.timeout(timeout):
            while True:
                message: Message = json.loads(await self.ws.recv())
                if message["type"] == kind and check(message):
                    return message

    async def call(self, call_id: str, state: str, timeout: float = 10) -> Message:
        """The next change of call ``call_id`` that leaves it in ``state``."""
        message = await self.next(
            "call",
            lambda m: m["call"]["id"] == call_id and m["call"]["state"] == state,
            timeout,
        )
        call: Message = message["call"]
        return call

    async def post(self, path: str, body: object = None) -> httpx.Response:
        if body is None:
            return await self.client.post(path)
        return await self.client.post(path, json=body)


@contextlib.asynccontextmanager
async def tab(url: str, client: httpx.AsyncClient, name: str) -> AsyncIterator[Desk]:
    """A console tab of ``client``'s session, open once the centre greeted it (the user
    is then online in the call queue)."""
    cookie = f"seat_session={client.cookies['seat_session']}"
    # Like a browser, the tab takes every message as it comes: a client that stops
    # reading when its queue is full would make its own close wait out the timeout.
    async with connect(
        stream_url(url), additional_headers={"cookie": cookie}, max_queue=None
    ) as ws:
        desk = Desk(name, client, ws)
        await desk.next("calls")
        yield desk


@contextlib.asynccontextmanager
async def desk(centre: Centre, name: str) -> AsyncIterator[Desk]:
    """``name`` logged in with one console tab open."""
    async with centre.client(name) as client, tab(centre.url, client, name) as opened:
        yield opened
