"""A lane's hardware for tests: the one part of a lane that cannot exist here.

It does what a relay board and camera would (lift, show, report) and records each
call, so a test can see that a command ran exactly once, or make it refuse or hang.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

from gates.lane.drivers import DriverRefused, GateChanged, LaneEvent, VehicleSeen
from gates.lane.snapshot import render
from gates.vocabulary import GateState, PlateColour


class ScriptedDriver:
    def __init__(self) -> None:
        self.opens = 0
        self.shown: tuple[str, ...] = ()
        self.qr: str | None = None  # the QR code shown beside the lines
        self.draws_qr = True  # False: a text-only display, which refuses a QR code
        self.refuse: str | None = None
        self.fail: Exception | None = None  # a bug in a driver, raised from its open
        # What the hardware could not confirm, as a real lane's driver says with its done.
        self.detail: str | None = None
        # While set and not released, a lift blocks: a command caught mid-execution.
        self.hold: asyncio.Event | None = None
        self.lifting = asyncio.Event()
        self.lifted = asyncio.Event()
        self._emit: Callable[[LaneEvent], None] | None = None
        # The centre's ``call_over`` messages, as a lane's intercom that holds calls hears them.
        self.calls_over: asyncio.Queue[tuple[str, ...]] = asyncio.Queue()

    async def run(self, emit: Callable[[LaneEvent], None]) -> None:
        self._emit = emit
        emit(GateChanged(GateState.DOWN))
        await asyncio.get_running_loop().create_future()  # until cancelled

    def emit(self, event: LaneEvent) -> None:
        assert self._emit is not None, "the agent has not started the driver"
        self._emit(event)

    async def open_gate(self) -> str | None:
        if self.refuse:
            raise DriverRefused(self.refuse)
        if self.fail is not None:
            raise self.fail
        self.opens += 1
        self.lifting.set()
        if self.hold is not None:
            await self.hold.wait()
        self.emit(GateChanged(GateState.UP))
        self.lifted.set()
        return self.detail

    def end_call(self, event_ids: tuple[str, ...]) -> None:
        self.calls_over.put_nowait(event_ids)

    async def display(self, lines: tuple[str, ...], qr: str | None = None) -> None:
        if self.refuse:
            raise DriverRefused(self.refuse)
        if qr is not None and not self.draws_qr:
            raise DriverRefused("display_no_qr")
        self.shown, self.qr = lines, qr


AT = datetime(2026, 11, 23, 11, 32, 4, 123000, tzinfo=UTC)


def seen(plate: str = "粤B12345", confidence: float = 0.97) -> VehicleSeen:
    """A camera read with a real rendered 640x360 snapshot."""
    snapshot = render(plate, PlateColour.BLUE, gate_angle=0.0, at=AT, seed=1, size=(640, 360))
    return VehicleSeen(
        at=AT,
        plate=plate,
        plate_colour=PlateColour.BLUE,
        confidence=confidence,
        box=snapshot.box,
        snapshot_jpeg=snapshot.jpeg,
    )
