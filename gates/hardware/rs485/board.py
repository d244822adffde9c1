"""An RS485 LED and voice board: the lane's display and speaker.

The board sits on a bus reached either through a camera's serial passthrough (``via =
"cam:rs485-1"``: the camera carries the bytes in its replies) or through a USB-RS485
adapter of the agent's own (``serial = "/dev/ttyUSB0"``). It answers little: most
firmwares send nothing back, some echo the command with a status byte. So an outcome is
confirmed only when that echo was read; through a camera no reply comes back at all.
"""

from __future__ import annotations

import asyncio
import logging

from gates.hardware.parts import Emit, Outcome, SerialPort
from gates.hardware.rs485 import frames
from gates.hardware.rs485.adapter import Adapter
from gates.lane.drivers import DriverRefused
from gates.protocol import DisplaySize

log = logging.getLogger(__name__)

VIA_CAMERA = "accepted by the camera for its RS485 port; no reply from the board comes back"
SILENT = "accepted; the board sent no acknowledgement"

NO_QR = "this board draws no QR code: its lines are shown without it"


class Board:
    """Shows lines (one line: ``0x62``; several: ``0x6E``) and speaks (``0x30``)."""

    def __init__(
        self,
        name: str,
        *,
        port: SerialPort | Adapter,
        size: DisplaySize,
        colour: frames.Colour = frames.RED,
        address: int = frames.ADDRESS,
        reply_wait: float = 0.0,
    ) -> None:
        self.name = name
        self.size = size
        self._port = port
        self._colour = colour
        self._address = address
        self._reply_wait = reply_wait

    async def run(self, emit: Emit) -> None:
        """Watches an adapter of the board's own; through a camera the camera's fault
        stands for the bus, and the board has nothing of its own to watch."""
        if isinstance(self._port, Adapter):
            try:
                await self._port.watch(emit)
            finally:
                await self._port.close()
        else:
            await asyncio.Event().wait()

    async def show(self, lines: tuple[str, ...], qr: str | None) -> Outcome:
        """A QR code maps to text: no public source documents these boards' QR command
        (see frames), so the lines (a fee, a plate, what to do) are shown without it,
        and the outcome says so, for the agent to tell the driver another way to pay."""
        if not self.size.fits(lines):
            raise DriverRefused("display_overflow")
        shown = await self._send(
            lambda: (
                frames.show_line(lines[0], self._colour, address=self._address)
                if len(lines) == 1
                else frames.show_lines(lines, (self._colour,) * len(lines), address=self._address)
            )
        )
        if qr is None:
            return shown
        return Outcome(False, "; ".join(part for part in (NO_QR, shown.detail) if part))

    async def say(self, text: str) -> Outcome:
        return await self._send(lambda: frames.speak(text, address=self._address))

    async def _send(self, build: frames.Builder) -> Outcome:
        try:
            frame = build()
        except frames.TextRefused as exc:
            log.info("lane.rs485.refused device=%s reason=%s", self.name, exc)
            raise DriverRefused(exc.reason) from None
        raw = frame.encode()
        if not isinstance(self._port, Adapter):
            await self._port.write(raw)
            return Outcome(False, VIA_CAMERA)
        if self._reply_wait == 0:
            await self._port.write(raw)
            return Outcome(False, SILENT)
        reader = frames.Reader()
        replies: list[frames.Frame] = []

        def answered(chunk: bytes) -> bool:
            replies.extend(reader.feed(chunk))
            return any(frames.acknowledges(reply, frame) is not None for reply in replies)

        got = await self._port.exchange(raw, answered, self._reply_wait)
        for reply in replies:
            verdict = frames.acknowledges(reply, frame)
            if verdict:
                return Outcome(True, "the board acknowledged")
            if verdict is False:
                log.warning("lane.rs485.nak device=%s status=%s", self.name, reply.data.hex())
                raise DriverRefused("display_refused")
        if got:
            return Outcome(
                False, f"accepted; the board answered {len(got)} bytes with no good frame in them"
            )
        return Outcome(False, SILENT)
