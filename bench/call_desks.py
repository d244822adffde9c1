"""Agents at the console for the call benchmark: each logged in over HTTP (one lean
keep-alive connection, as a page holds one) with one console tab on ``/api/stream``.

Every stream message is stamped with ``time.monotonic_ns()`` as it arrives, before it
is parsed, and what it showed of each call is kept: when a ring for it came, and when it
left this agent's queue (a ``queue`` message without it, or the call arriving answered
or over, whichever came first). A call answered before this agent's queue ever showed it
(the centre sends only the latest of a call's changes still unsent) leaves by the
message that shows it answered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect

from bench.gate_latency import HttpConnection

PENDING = frozenset({"waiting", "ringing"})
FINISHED = frozenset({"ended", "abandoned"})
# uvicorn closes a keep-alive connection after 5 s idle: one idle longer is opened again
# before use rather than found closed.
IDLE_S = 3.0

Json = dict[str, Any]


@dataclass(frozen=True)
class Ring:
    desk: Desk
    call_id: str
    at_ns: int


class Signal:
    """Wakes whoever waits for a condition, after each change that might have met it."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def changed(self) -> None:
        self._event.set()

    async def until(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``done()`` holds, checked after every change; False on timeout."""
        try:
            async with asyncio.timeout(timeout):
                while not done():
                    self._event.clear()
                    await self._event.wait()
        except TimeoutError:
            return False
        return True


class Room:
    """What every desk was shown: rings by call, the calls each lane's presses made."""

    def __init__(self) -> None:
        self.signal = Signal()
        self.rings: dict[str, Ring] = {}  # call id -> its first ring
        self.calls_of: dict[str, list[str]] = {}  # lane id -> its calls, in order seen

    def saw(self, call: Json) -> None:
        seen = self.calls_of.setdefault(call["lane_id"], [])
        if call["id"] not in seen:
            seen.append(call["id"])

    def rung(self, lane_id: str) -> Ring | None:
        """The ring of the lane's latest call, once one came."""
        calls = self.calls_of.get(lane_id)
        return self.rings.get(calls[-1]) if calls else None


class Http:
    """A logged-in user's requests, with its cookie and CSRF token."""

    def __init__(self, port: int, headers: dict[str, str]) -> None:
        self.port = port
        self.headers = headers
        self.cookie = ""  # the session cookie the last answer set
        self._connection: HttpConnection | None = None
        self._used = 0.0

    @classmethod
    async def login(cls, port: int, username: str, password: str) -> Http:
        """Log in, waiting out 503 ``busy`` (the centre checks few passwords at once)."""
        anonymous = cls(port, {"content-type": "application/json"})
        while True:
            status, answer = await anonymous.request(
                "POST", "/api/login", {"username": username, "password": password}
            )
            if status != 503:
                break
            await asyncio.sleep(answer.get("retry_after", 1))  # as the console does
        if status != 200:
            raise RuntimeError(f"login of {username} failed: {status} {answer}")
        return cls(
            port,
            {
                "cookie": anonymous.cookie,
                "x-csrf-token": answer["csrf_token"],
                "content-type": "application/json",
            },
        )

    async def request(self, method: str, path: str, body: object = None) -> tuple[int, Json]:
        if self._connection is None or time.monotonic() - self._used > IDLE_S:
            self.close()
            self._connection = await HttpConnection.open(self.port)
        payload = b"" if body is None else json.dumps(body).encode()
        status, headers, answer = await self._connection.request(
            method, path, payload, self.headers
        )
        self._used = time.monotonic()
        if "set-cookie" in headers:
            self.cookie = headers["set-cookie"].split(";", 1)[0]
        return status, json.loads(answer) if answer else {}

    async def post(self, path: str, body: object = None) -> tuple[int, Json]:
        return await self.request("POST", path, body)

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


class Desk:
    """One agent with one console tab open."""

    def __init__(self, name: str, http: Http, ws: ClientConnection, room: Room) -> None:
        self.name = name
        self.http = http
        self.ws = ws
        self.room = room
        self.state = "offline"
        self.queue: list[str] = []
        self.left: dict[str, int] = {}  # call id -> when it left this agent's queue (ns)
        self.finished: set[str] = set()
        self.queue_signal = Signal()  # a new queue came
        self._reading = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, port: int, name: str, password: str, room: Room) -> Desk:
        """Logged in, with the tab open and greeted (online in the call queue)."""
        http = await Http.login(port, name, password)
        ws = await connect(
            f"ws://127.0.0.1:{port}/api/stream",
            additional_headers={"cookie": http.headers["cookie"]},
        )
        desk = cls(name, http, ws, room)
        if not await room.signal.until(lambda: desk.state == "available", 20):
            raise RuntimeError(f"{name}'s console was not greeted as available")
        return desk

    async def post(self, path: str, body: object = None) -> tuple[int, Json]:
        return await self.http.post(path, body)

    async def close(self) -> None:
        self._reading.cancel()
        await asyncio.gather(self._reading, return_exceptions=True)
        await self.ws.close()
        self.http.close()

    async def _read(self) -> None:
        async for raw in self.ws:
            at = time.monotonic_ns()
            self._shown(json.loads(raw), at)
            self.room.signal.changed()

    def _shown(self, message: Json, at: int) -> None:
        kind = message["type"]
        if kind == "ring":
            self.state = "ringing"  # rung now: only a later agent message says otherwise
            self._saw(message["call"], at)
            self.room.rings.setdefault(message["call_id"], Ring(self, message["call_id"], at))
        elif kind == "call":
            self._saw(message["call"], at)
        elif kind == "calls":
            for call in message["calls"]:
                self._saw(call, at)
        elif kind == "queue":
            for call_id in set(self.queue).difference(message["calls"]):
                self.left.setdefault(call_id, at)
            self.queue = message["calls"]
            self.queue_signal.changed()
        elif kind == "agent" and message["agent"]["name"] == self.name:
            self.state = message["agent"]["state"]

    def _saw(self, call: Json, at: int) -> None:
        self.room.saw(call)
        if call["state"] not in PENDING:
            self.left.setdefault(call["id"], at)
        if call["state"] in FINISHED:
            self.finished.add(call["id"])
