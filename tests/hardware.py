"""What the tests of lane hardware share: a workshop of devices built before, and the
events a device emits, waited on by condition rather than by polling."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from gates.hardware.options import LaneFileError
from gates.hardware.parts import Device
from gates.hardware.pushes import PushListener
from gates.lane.drivers import LaneEvent


class Workshop:
    def __init__(self, **devices: Device) -> None:
        self.devices = devices

    def device(self, name: str) -> Device:
        if name not in self.devices:
            raise LaneFileError(f"no device {name!r}")
        return self.devices[name]

    def listener(self, address: str) -> PushListener:
        raise AssertionError(f"this device listens to nothing, yet asked for {address}")


class Events:
    def __init__(self) -> None:
        self.seen: list[LaneEvent] = []
        self._changed = asyncio.Condition()

    def emit(self, event: LaneEvent) -> None:
        self.seen.append(event)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def wait_until(self, holds: Callable[[list[LaneEvent]], bool]) -> list[LaneEvent]:
        async with asyncio.timeout(30), self._changed:
            await self._changed.wait_for(lambda: holds(self.seen))
        return self.seen

    async def wait_for(self, event: LaneEvent) -> None:
        await self.wait_until(lambda seen: event in seen)
