"""A lane of one AlarmInfoPlate camera, as a lane file gives it, against the emulated
camera and a real centre: for the family's tests and the benchmark."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from gates.backoff import Backoff
from gates.hardware.assembly import HardwareLane, assemble
from gates.lane.agent import LaneAgent
from gates.lane.session import LaneSession
from tests.emulators.alarminfo import AlarmInfoEmulator

LANE_FILE = """
[lane]
id = "{lane}"
open_wait_s = 2

[devices.cam]
family = "alarminfo"
address = "127.0.0.1"
listen = "127.0.0.1:0"
sdk_port = {sdk_port}
open_via = "{open_via}"
poll_s = {poll_s}
silent_s = {silent_s}

[parts]
plates = "cam"
gate = "cam:io0"
"""


@dataclass
class CameraLane:
    hardware: HardwareLane
    camera: AlarmInfoEmulator
    agent: LaneAgent
    push_url: str


def lane_file(path: Path, lane: str, sdk_port: int, **options: object) -> Path:
    settings = {"open_via": "sdk", "poll_s": 0.2, "silent_s": 1.0, **options}
    path.write_text(LANE_FILE.format(lane=lane, sdk_port=sdk_port, **settings), encoding="utf-8")
    return path


@contextlib.asynccontextmanager
async def camera_lane(
    link: str, lane: str, token: str, directory: Path, **options: object
) -> AsyncIterator[CameraLane]:
    """The emulated camera, and the lane agent its lane file describes, linked to the
    centre at ``link`` and welcomed."""
    camera = AlarmInfoEmulator(servers=[], poll_s=float(str(options.get("poll_s", 0.2))))
    async with camera.running():
        path = lane_file(directory / f"{lane}.toml", lane, camera.sdk_port, **options)
        hardware = assemble(path)
        (port,) = hardware.bind().values()
        push_url = f"http://127.0.0.1:{port}/alarminfo"
        camera.servers.append(push_url)
        session = LaneSession(lane, token, heartbeat_ms=1000, display=hardware.settings.display)
        agent = LaneAgent([link], session, hardware, Backoff(first=0.05, cap=0.2))
        running = asyncio.create_task(agent.run())
        try:
            async with asyncio.timeout(10):
                await agent.connected.wait()
            yield CameraLane(hardware, camera, agent, push_url)
        finally:
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
