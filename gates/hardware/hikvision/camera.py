"""A Hikvision ANPR camera on the lane: plates pushed to the lane's listening host, the
barrier it drives (open, and where the arm is), its voice.

Hikvision posts each plate once and never again, whatever the answer, so every push is
answered 200; one that cannot be read changes nothing and is logged. The camera is
asked something at a steady cadence (the barrier's state where the model reports it,
else its device information), which is how the lane learns it is away, or no longer
takes the password, and when it is back.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from gates.hardware.camera_http import CameraHttp
from gates.hardware.hikvision import isapi
from gates.hardware.hikvision.alerts import MAX_JPEG, AlertError, parse_push, snapshot
from gates.hardware.jpeg import jpeg_size
from gates.hardware.latch import FaultLatch
from gates.hardware.parts import DeviceFault, Emit, Outcome, Unreachable
from gates.hardware.pushes import Push, PushReply
from gates.hardware.watch import GateReading, watch
from gates.lane.drivers import DriverRefused, VehicleSeen
from gates.vocabulary import GateState

log = logging.getLogger("seat.lane.hikvision")

_XML = {"Content-Type": "application/xml; charset=UTF-8"}


class AnprCamera:
    """Plates, the barrier's open command and the voice; no barrier state (a model that
    does not report it, ``gate_status = false``), so the lane cannot confirm a lift."""

    def __init__(
        self,
        name: str,
        http: CameraHttp,
        *,
        address: str,
        channel: int,
        push_path: str,
        volume: int,
        cadence: float,
    ) -> None:
        self.name = name
        self.http = http
        self._address = address
        self._paths = (push_path,)
        self.channel = channel
        self.volume = volume
        self.cadence = cadence
        self._emit: Emit | None = None
        self._kick = asyncio.Event()
        self._gate = GateReading(name)  # read only by a model that reports the barrier

    @property
    def address(self) -> str:
        return self._address

    @property
    def paths(self) -> tuple[str, ...]:
        return self._paths

    async def run(self, emit: Emit) -> None:
        self._emit = emit
        latch = FaultLatch(emit, DeviceFault.CAMERA_UNREACHABLE, self.name)
        try:
            await watch(self.check, self.lost, latch, self.every, self._kick)
        finally:
            self._emit = None
            await self.http.aclose()

    def every(self) -> float:
        """How often the camera is asked."""
        return self.cadence

    async def check(self) -> None:
        """Ask the camera something; ``Unreachable`` when it does not answer as ISAPI."""
        response = await self.http.request("GET", "/ISAPI/System/deviceInfo")
        if response.status_code != 200:
            raise Unreachable(
                DeviceFault.CAMERA_UNREACHABLE,
                f"deviceInfo answered HTTP {response.status_code}",
            )

    def lost(self) -> None:
        """The camera stopped answering."""

    async def receive(self, push: Push) -> PushReply:
        try:
            alert = parse_push(push.headers.get("content-type", ""), push.body)
        except AlertError as exc:
            log.warning("lane.hikvision.push.refused device=%s reason=%s", self.name, exc)
            return PushReply(200)
        if alert is None:
            return PushReply(200)
        picture = snapshot(alert)
        if picture is None:
            try:
                picture = await self._still(), (0, 0, 0, 0)
            except Unreachable as exc:
                log.warning("lane.hikvision.push.no_picture device=%s reason=%s", self.name, exc)
                return PushReply(200)
        jpeg, box = picture
        log.info(
            "lane.hikvision.plate device=%s plate=%s direction=%s",
            self.name,
            alert.plate,
            alert.direction,
        )
        if self._emit is None:
            log.warning("lane.hikvision.push.dropped device=%s reason=not_running", self.name)
            return PushReply(200)
        # The lane's clock, not the camera's: an installer sets the camera's rarely.
        self._emit(
            VehicleSeen(
                at=datetime.now(UTC),
                plate=alert.plate,
                plate_colour=alert.colour,
                confidence=alert.confidence,
                box=box,
                snapshot_jpeg=jpeg,
            )
        )
        return PushReply(200)

    async def _still(self) -> bytes:
        """A picture from the camera, for a push that came without one (bare XML)."""
        response = await self.http.request("GET", isapi.picture_path(self.channel), limit=MAX_JPEG)
        if response.status_code != 200 or jpeg_size(response.content) is None:
            raise Unreachable(
                DeviceFault.CAMERA_UNREACHABLE,
                f"the picture request answered HTTP {response.status_code} without a JPEG",
            )
        return response.content

    async def open_gate(self) -> Outcome:
        path, body = isapi.barrier(self.channel)
        await self._command("PUT", path, body, "gate")
        self._kick.set()  # read the barrier now, not at the next tick
        return Outcome(confirmed=True)

    async def say(self, text: str) -> Outcome:
        path, body = isapi.voice(self.channel, text, self.volume)
        await self._command("PUT", path, body, "voice")
        return Outcome(False, "accepted; the camera does not say when it has spoken")

    async def _command(self, method: str, path: str, body: bytes, what: str) -> None:
        """An ISAPI command: returns when the camera answered OK (statusCode 1); refused
        with what the camera said; ``Unreachable`` for an answer that is not ISAPI's."""
        response = await self.http.request(method, path, content=body, headers=_XML)
        try:
            code, said = isapi.response_status(response.content)
        except isapi.IsapiError as exc:
            raise Unreachable(
                DeviceFault.CAMERA_UNREACHABLE,
                f"{what} command answered HTTP {response.status_code}: {exc}",
            ) from None
        if response.status_code != 200 or code != 1:
            log.warning(
                "lane.hikvision.refused device=%s what=%s status=%d said=%s",
                self.name,
                what,
                code,
                said,
            )
            raise DriverRefused(f"{what}_refused: {said or code}"[:64])


class AnprCameraWithBarrierState(AnprCamera):
    """A model that reports the barrier (``barrierGateStatus``): read every ``gate_poll``
    seconds and at once after an open, each change emitted as ``GateChanged``, so the
    lane confirms a lift by the arm, not by the camera's OK. A locked barrier takes the
    open and stays closed, and this says so.

    A model without barrier status (a plates-only camera) answers the read ``notSupport``
    every time, and is no less there for it: on that answer the barrier is no longer
    read, its state stays unknown, the lane takes the camera's OK for an open (as with
    ``gate_status = false``), and the camera's presence is asked every ``cadence``."""

    def __init__(self, *args: Any, gate_poll: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.gate_poll = gate_poll

    def gate_state(self) -> GateState:
        return self._gate.state

    def senses_gate(self) -> bool:
        return self._gate.reported

    def every(self) -> float:
        return self.gate_poll if self._gate.reported else self.cadence

    async def check(self) -> None:
        if not self._gate.reported:
            await super().check()
            return
        response = await self.http.request("GET", isapi.barrier_status_path(self.channel))
        if isapi.not_supported(response.content):
            log.warning("lane.hikvision.gate_status.not_supported device=%s", self.name)
            self._gate.reported = False
            self._gate.set(GateState.UNKNOWN, self._emit)
            await super().check()
            return
        try:
            if response.status_code != 200:
                raise isapi.IsapiError(f"HTTP {response.status_code}")
            state = isapi.gate_state(response.content)
        except isapi.IsapiError as exc:
            raise Unreachable(
                DeviceFault.CAMERA_UNREACHABLE, f"barrierGateStatus answered {exc}"
            ) from None
        self._gate.set(state, self._emit)

    def lost(self) -> None:
        self._gate.set(GateState.UNKNOWN, self._emit)
