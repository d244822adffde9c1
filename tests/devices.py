"""Running a lane device in a test: built from its lane-file table as the lane does it,
its events collected as the lane would get them."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TypeVar

from gates.hardware.options import DeviceOptions
from gates.hardware.parts import Build, Device
from gates.hardware.pushes import PushListener
from gates.lane.drivers import LaneEvent

E = TypeVar("E")


class Workshop:
    """The lane's workshop for one device: listeners on 127.0.0.1, on free ports."""

    def __init__(self) -> None:
        self.listeners: dict[str, PushListener] = {}

    def device(self, name: str) -> Device:
        raise LookupError(name)

    def listener(self, address: str) -> PushListener:
        if address not in self.listeners:
            host, _, port = address.rpartition(":")
            self.listeners[address] = PushListener(host, int(port))
            self.listeners[address].bind()
        return self.listeners[address]


class Events:
    """What a device emitted, in order; ``next`` waits for the next of a kind."""

    def __init__(self) -> None:
        self.seen: list[LaneEvent] = []
        self._arrived = asyncio.Condition()
        self._taken: dict[type, int] = {}  # per kind: how far ``next`` has read

    def emit(self, event: LaneEvent) -> None:
        self.seen.append(event)
        asyncio.get_running_loop().create_task(self._notify())

    async def _notify(self) -> None:
        async with self._arrived:
            self._arrived.notify_all()

    async def wait_a_little(self) -> None:
        """Until something is emitted, or a twentieth of a second: for polling a device's
        far side (an emulator's counters), which has no event of its own to wait on."""
        async with self._arrived:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), 0.05)

    async def next(self, kind: type[E], timeout: float = 15.0) -> E:
        """The next event of ``kind`` after the last one of its kind taken."""

        async def found() -> E:
            async with self._arrived:
                while True:
                    for index in range(self._taken.get(kind, 0), len(self.seen)):
                        event = self.seen[index]
                        if isinstance(event, kind):
                            self._taken[kind] = index + 1
                            return event
                    await self._arrived.wait()

        return await asyncio.wait_for(found(), timeout)


@asynccontextmanager
async def running(
    build: Build, table: Mapping[str, object], environ: Mapping[str, str]
) -> AsyncIterator[tuple[Device, Events, Workshop]]:
    """The device built from ``table`` and run, with its listeners, until the block ends."""
    workshop = Workshop()
    options = DeviceOptions(Path("lane.toml"), "cam", table, environ)
    device = build(options, workshop)
    assert not options.unused(), f"unread keys: {options.unused()}"
    events = Events()
    tasks = [asyncio.create_task(device.run(events.emit))]
    tasks += [asyncio.create_task(listener.run()) for listener in workshop.listeners.values()]
    try:
        yield device, events, workshop
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
