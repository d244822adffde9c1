"""A Dahua ITC camera on the lane: the plates of its event stream, and the barrier it
opens (``trafficSnap.cgi?action=openStrobe``).

The lane holds one ``attachFileProc`` request open for as long as it runs. The camera
sends a heartbeat part every ``heartbeat`` seconds between cars, so a stream silent for
two of them is dead even where TCP has not noticed (a cable pulled between switches): it
is dropped, ``camera_unreachable`` raised, and the stream asked for again with backoff.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

import httpx

from gates.backoff import Backoff
from gates.hardware.camera_http import WRONG_PASSWORD, CameraHttp, unreachable
from gates.hardware.dahua.events import EventError, Snaps
from gates.hardware.latch import FaultLatch
from gates.hardware.multipart import MultipartError, MultipartReader, Part, boundary_of
from gates.hardware.parts import DeviceFault, Emit, Outcome, Unreachable
from gates.lane.drivers import DriverRefused, VehicleSeen

log = logging.getLogger("seat.lane.dahua")

# A car's scene from an ITC camera is a few hundred KB; a part far past that is not one.
MAX_PART = 4 * 1024 * 1024


class ItcCamera:
    def __init__(self, name: str, http: CameraHttp, *, channel: int, heartbeat: int) -> None:
        self.name = name
        self.http = http
        self.channel = channel
        self.heartbeat = heartbeat

    @property
    def events_path(self) -> str:
        return (
            "/cgi-bin/snapManager.cgi?action=attachFileProc&Flags[0]=Event"
            f"&Events=[TrafficJunction]&channel={self.channel}&heartbeat={self.heartbeat}"
        )

    async def run(self, emit: Emit) -> None:
        latch = FaultLatch(emit, DeviceFault.CAMERA_UNREACHABLE, self.name)
        backoff = Backoff()
        try:
            while True:
                try:
                    await self._follow(emit, latch, backoff)
                    detail = "the camera ended its event stream"
                except Unreachable as exc:
                    detail = exc.detail
                latch.raise_(detail)
                await asyncio.sleep(backoff.next())
        finally:
            await self.http.aclose()

    async def _follow(self, emit: Emit, latch: FaultLatch, backoff: Backoff) -> None:
        """Read the event stream until it ends; ``Unreachable`` when it cannot be had or
        goes silent."""
        silence = 2 * self.heartbeat + self.http.timeout
        try:
            async with self.http.stream(self.events_path, silence) as response:
                if response.status_code == 401:
                    raise Unreachable(DeviceFault.CAMERA_UNREACHABLE, WRONG_PASSWORD)
                if response.status_code != 200:
                    raise Unreachable(
                        DeviceFault.CAMERA_UNREACHABLE,
                        f"attachFileProc answered HTTP {response.status_code}",
                    )
                reader = MultipartReader(
                    boundary_of(response.headers.get("content-type", "")), max_part=MAX_PART
                )
                log.info("lane.dahua.stream.open device=%s", self.name)
                latch.clear()
                backoff.reset()
                snaps = Snaps()
                async for chunk in response.aiter_bytes():
                    for part in reader.feed(chunk):
                        self._take(snaps, part, emit)
                    if reader.closed:
                        return
        except httpx.ReadTimeout:
            raise Unreachable(
                DeviceFault.CAMERA_UNREACHABLE,
                f"no heartbeat from {self.http.base_url} for {silence:g} s",
            ) from None
        except httpx.HTTPError as exc:
            raise Unreachable(DeviceFault.CAMERA_UNREACHABLE, unreachable(exc, self.http)) from None
        except MultipartError as exc:
            raise Unreachable(DeviceFault.CAMERA_UNREACHABLE, f"bad event stream: {exc}") from None

    def _take(self, snaps: Snaps, part: Part, emit: Emit) -> None:
        try:
            car = snaps.take(part)
        except EventError as exc:
            log.warning("lane.dahua.event.refused device=%s reason=%s", self.name, exc)
            return
        if car is None:
            return
        log.info("lane.dahua.plate device=%s plate=%s", self.name, car.plate)
        emit(
            VehicleSeen(
                at=datetime.now(UTC),  # the lane's clock: an installer sets the camera's rarely
                plate=car.plate,
                plate_colour=car.colour,
                confidence=car.confidence,
                box=car.box,
                snapshot_jpeg=car.snapshot_jpeg,
            )
        )

    async def open_gate(self) -> Outcome:
        response = await self.http.request(
            "GET", f"/cgi-bin/trafficSnap.cgi?action=openStrobe&channel={self.channel}"
        )
        said = response.content[:200].decode("utf-8", "replace").strip()
        if response.status_code == 200 and said == "OK":
            # The camera's OK; the lane says the arm was not seen (it has no sensor).
            return Outcome(confirmed=True)
        log.warning(
            "lane.dahua.refused device=%s status=%d said=%s", self.name, response.status_code, said
        )
        if response.status_code >= 500 or not said:
            raise Unreachable(
                DeviceFault.CAMERA_UNREACHABLE,
                f"openStrobe answered HTTP {response.status_code} {said!r}",
            )
        raise DriverRefused(f"gate_refused: {' '.join(said.split())}"[:64])
