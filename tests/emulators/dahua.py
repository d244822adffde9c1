"""An emulated Dahua ITC camera, from Dahua's HTTP API V3.26 (§4.4.3 snapManager
``attachFileProc``, §10 the traffic events, ``trafficSnap.cgi`` ``openStrobe``).

Its event stream is ``multipart/x-mixed-replace; boundary=myboundary``: for each car a
``text/plain`` part of ``Events[0].*`` lines (the fields and order of the API's
TrafficJunction example), then the scene and the plate crop as ``image/jpeg``, each part
with its Content-Length; between cars a ``Heartbeat`` part every ``heartbeat`` seconds,
as the request asked. Everything behind HTTP Digest. Faults: unplugged, slow, a changed
password, a stream that goes silent (heartbeats stop, the connection stays), a stream
that ends, garbage on the stream, an openStrobe refused.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from tests.emulators.digest import DigestGuard, Fault, Guarded
from tests.emulators.hikvision import SIZE, Car
from tests.emulators.server import DeviceServer

BOUNDARY = "myboundary"
GRID = 8192


def part(kind: str, data: bytes) -> bytes:
    head = f"--{BOUNDARY}\r\nContent-Type: {kind}\r\nContent-Length: {len(data)}\r\n\r\n"
    return head.encode() + data + b"\r\n"


HEARTBEAT = part("text/plain", b"Heartbeat")
SILENT = b""  # on a stream's queue: fall silent


def junction_text(seen: Car, colour: str, event_id: int) -> bytes:
    """A TrafficJunction's text part; the plate's box on Dahua's 0-8192 grid as
    left, top, right, bottom."""
    width, height = SIZE
    x, y, w, h = seen.box
    grid = (
        x * GRID // width,
        y * GRID // height,
        (x + w) * GRID // width,
        (y + h) * GRID // height,
    )
    lines = [
        "Events[0].EventBaseInfo.Code=TrafficJunction",
        "Events[0].EventBaseInfo.Action=Pulse",
        "Events[0].EventBaseInfo.Index=0",
        "Events[0].Name=TrafficJunction1",
        f"Events[0].GroupID={event_id}",
        "Events[0].CountInGroup=1",
        "Events[0].IndexInGroup=1",
        "Events[0].UTC=1778146200",
        f"Events[0].EventID={event_id}",
        *(f"Events[0].Object.BoundingBox[{i}]={n}" for i, n in enumerate(grid)),
        f"Events[0].Object.Text={seen.plate}",
        f"Events[0].Object.Confidence={seen.confidence * 255 // 100}",  # 0-255
        "Events[0].Lane=1",
        f"Events[0].TrafficCar.PlateNumber={seen.plate}",
        f"Events[0].TrafficCar.PlateColor={colour}",
        "Events[0].TrafficCar.VehicleColor=White",
        *(f"Events[0].TrafficCar.BoundingBox[{i}]={n}" for i, n in enumerate(grid)),
        "Events[0].JunctionDirection=Obverse",
        "Events[0].OpenStrobeState=Close",
        "Events[0].VehicleDirection=Head",
    ]
    return "\r\n".join(lines).encode() + b"\r\n"


@dataclass
class DahuaCamera:
    user: str = "admin"
    password: str = "Dahua123"
    channel: int = 1
    slow_s: float = 0.0
    fault: Fault | None = None  # drip or huge: every answer sent so (tests.emulators.digest)
    refuse_strobe: bool = False
    strobes: int = 0
    streams: int = 0  # event streams asked for, ever
    attached: asyncio.Event = field(default_factory=asyncio.Event)  # a stream is open
    strobed: asyncio.Queue[float] = field(
        default_factory=asyncio.Queue
    )  # perf_counter at each openStrobe taken
    guard: DigestGuard = field(init=False)
    server: DeviceServer = field(init=False)
    _outbox: list[asyncio.Queue[bytes | None]] = field(default_factory=list)
    _next_id: int = 1000

    def __post_init__(self) -> None:
        self.guard = DigestGuard("Login to 8C0A3E1A2B3C", self.user, self.password)
        app = Starlette(
            routes=[
                Route("/cgi-bin/snapManager.cgi", self._attach),
                Route("/cgi-bin/trafficSnap.cgi", self._traffic_snap),
            ]
        )
        self.server = DeviceServer(
            Guarded(app, self.guard, lambda: self.slow_s, lambda: self.fault)
        )

    @property
    def listening(self) -> int:
        """Event streams open now."""
        return len(self._outbox)

    def see(self, seen: Car, colour: str = "Blue") -> None:
        """A car passes: every open stream gets its text part and its two pictures."""
        self._next_id += 1
        data = (
            part("text/plain", junction_text(seen, colour, self._next_id))
            + part("image/jpeg", seen.jpeg)
            + part("image/jpeg", seen.crop)
        )
        self.send(data)

    def send(self, data: bytes) -> None:
        """Raw bytes on every open stream (a test's garbage, or a car split its own way)."""
        for queue in self._outbox:
            queue.put_nowait(data)

    def end_streams(self) -> None:
        """The camera ends its streams (as after a reboot of its event service)."""
        for queue in self._outbox:
            queue.put_nowait(None)

    def go_silent(self) -> None:
        """The open streams fall silent, heartbeats and all, their connections kept;
        a stream asked for afterwards is a live one."""
        self.send(SILENT)

    async def _attach(self, request: Request) -> Response:
        query = request.query_params
        if query.get("action") != "attachFileProc":
            return Response("Error\r\nBad Request!\r\n", 400)
        heartbeat = int(query.get("heartbeat", "5"))
        self.streams += 1
        queue: asyncio.Queue[bytes | None] = asyncio.Queue()
        return StreamingResponse(
            self._stream(queue, heartbeat),
            media_type=f"multipart/x-mixed-replace; boundary={BOUNDARY}",
        )

    async def _stream(
        self, queue: asyncio.Queue[bytes | None], heartbeat: int
    ) -> AsyncIterator[bytes]:
        self._outbox.append(queue)
        self.attached.set()
        gone = asyncio.ensure_future(self.server.gone.wait())
        try:
            while True:
                getting = asyncio.ensure_future(queue.get())
                # The camera's own cadence: a heartbeat when no car came for that long.
                await asyncio.wait(
                    {getting, gone}, timeout=heartbeat, return_when=asyncio.FIRST_COMPLETED
                )
                if gone.done():
                    getting.cancel()
                    return
                if not getting.done():
                    getting.cancel()
                    yield HEARTBEAT
                    continue
                data = getting.result()
                if data is None:
                    return
                if data == SILENT:
                    await gone  # the connection stays, and nothing more comes on it
                    return
                yield data
        finally:
            gone.cancel()
            self._outbox.remove(queue)
            if not self._outbox:
                self.attached.clear()

    async def _traffic_snap(self, request: Request) -> Response:
        query = request.query_params
        if query.get("action") != "openStrobe" or query.get("channel") != str(self.channel):
            return Response("Error\r\nBad Request!\r\n", 400)
        if self.refuse_strobe:
            return Response("Error\r\nBad Request!\r\n", 400)
        self.strobes += 1
        self.strobed.put_nowait(time.perf_counter())
        return Response("OK\r\n", media_type="text/plain")
