"""A lane of one emulated camera, as a lane file gives it, linked to a real centre: for
the camera families' end-to-end tests and the benchmark.

Each family's helper starts its emulator, writes the lane file an installer would
write for it (the camera reads the plates and drives the gate), builds the lane with
``assemble`` and links its agent; what differs between families is only the camera's
table in the file and how the camera reaches the lane (a push to the lane's listener,
or the lane holding the camera's event stream). A lane may have more devices beside
the camera (``Beside``): an LED board on the camera's RS485 port or on an adapter of its
own, a Modbus relay as the gate."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from gates.backoff import Backoff
from gates.hardware.assembly import HardwareLane, assemble
from gates.lane.agent import LaneAgent
from gates.lane.drivers import LaneDriver
from gates.lane.session import LaneSession
from gates.protocol import DeviceInfo, DisplaySize
from tests.emulators.alarminfo import AlarmInfoEmulator
from tests.emulators.dahua import DahuaCamera
from tests.emulators.hikvision import HikvisionCamera
from tests.emulators.modbus_relay import RelayEmulator
from tests.emulators.rs485_board import BoardEmulator

C = TypeVar("C")

HEAD = """
[lane]
id = "{lane}"
open_wait_s = 2
{settings}
[devices.cam]
"""

ALARMINFO = """family = "alarminfo"
address = "127.0.0.1"
listen = "127.0.0.1:0"
sdk_port = {sdk_port}
open_via = "{open_via}"
poll_s = {poll_s}
silent_s = {silent_s}
"""

# Hikvision and Dahua: HTTP Digest, the password from the agent's environment.
DIGEST = """host = "127.0.0.1"
port = {port}
password_env = "CAM_PASSWORD"
timeout = 1.0
"""

# An LED board of 2 lines of 8 on the camera's RS485-1 or on an adapter of its own, and a
# Modbus relay whose input 0 reads the arm.
ON_CAMERA = 'family = "rs485"\nvia = "cam:rs485-1"\nlines = 2\nchars = 8\n'
ON_ADAPTER = 'family = "rs485"\nserial = "{url}"\nlines = 2\nchars = 8\n'
RELAY = 'family = "modbus"\nhost = "127.0.0.1"\nport = {port}\nstate_input = 0\npoll_ms = 100\n'

HIKVISION = 'family = "hikvision"\nlisten = "127.0.0.1:0"\ngate_poll = {gate_poll}\n' + DIGEST
DAHUA = 'family = "dahua"\nheartbeat = 1\n' + DIGEST


@dataclass
class CameraLane(Generic[C]):
    hardware: HardwareLane
    camera: C
    agent: LaneAgent
    push_url: str  # where the camera posts its plates; "" for one the lane reads


@dataclass(frozen=True, slots=True)
class Beside:
    """What a lane has besides its camera: more devices' tables by name (an LED board, a
    relay), the parts they play (a gate of their own takes the camera's place) and more
    ``[lane]`` lines."""

    devices: Mapping[str, str] = field(default_factory=dict)
    parts: Mapping[str, str] = field(default_factory=dict)
    settings: str = ""


@dataclass
class BoardRelayLane:
    cameras: CameraLane[AlarmInfoEmulator]
    bus: BoardEmulator
    controller: RelayEmulator


def lane_file(
    path: Path, lane: str, camera: str, gate: str = "cam", beside: Beside = Beside()
) -> Path:
    """The lane file of a camera, its table ``camera``, that reads the plates and
    drives the gate (``gate``: the camera, or one of its outputs), and what is
    ``beside`` it."""
    text = HEAD.format(lane=lane, settings=beside.settings) + camera
    for name, table in beside.devices.items():
        text += f"\n[devices.{name}]\n{table}"
    parts = {"plates": "cam", "gate": gate, **beside.parts}
    text += "\n[parts]\n" + "".join(f'{part} = "{who}"\n' for part, who in parts.items())
    path.write_text(text, encoding="utf-8")
    return path


def alarminfo_file(
    path: Path, lane: str, sdk_port: int, beside: Beside = Beside(), **options: object
) -> Path:
    """More ``options`` than the table's usual (``gate_input = "in0"``) are added to it."""
    settings = {"open_via": "sdk", "poll_s": 0.2, "silent_s": 1.0, **options}
    camera = ALARMINFO.format(sdk_port=sdk_port, **settings)
    usual = {"open_via", "poll_s", "silent_s"}
    camera += "".join(f"{k} = {json.dumps(v)}\n" for k, v in options.items() if k not in usual)
    return lane_file(path, lane, camera, gate="cam:io0", beside=beside)


@contextlib.asynccontextmanager
async def linked(
    link: str,
    lane: str,
    token: str,
    driver: LaneDriver,
    display: DisplaySize | None = None,
    devices: tuple[DeviceInfo, ...] = (),
) -> AsyncIterator[LaneAgent]:
    """``driver``'s lane agent, linked to the centre at ``link`` and welcomed."""
    session = LaneSession(lane, token, heartbeat_ms=1000, display=display, devices=devices)
    agent = LaneAgent([link], session, driver, Backoff(first=0.05, cap=0.2))
    running = asyncio.create_task(agent.run())
    try:
        async with asyncio.timeout(30):
            await agent.connected.wait()
        yield agent
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


@contextlib.asynccontextmanager
async def assembled(
    link: str, lane: str, token: str, path: Path, environ: Mapping[str, str] | None = None
) -> AsyncIterator[tuple[HardwareLane, LaneAgent, int | None]]:
    """The lane ``path`` describes, its agent linked; and its push listener's port,
    None for a lane without one."""
    hardware = assemble(path, environ)
    ports = list(hardware.bind().values())
    described = hardware.described
    async with linked(link, lane, token, hardware, hardware.display_size, described) as agent:
        yield hardware, agent, ports[0] if ports else None


@contextlib.asynccontextmanager
async def alarminfo_lane(
    link: str,
    lane: str,
    token: str,
    directory: Path,
    beside: Beside = Beside(),
    buses: Mapping[int, int] | None = None,
    **options: object,
) -> AsyncIterator[CameraLane[AlarmInfoEmulator]]:
    """An AlarmInfoPlate camera, pushing to the lane and opening its IO 0 (unless a
    device ``beside`` it is the gate); ``buses``: the emulated RS485 buses its serial
    channels are wired to, by channel, each a port on 127.0.0.1."""
    camera = AlarmInfoEmulator(
        servers=[], poll_s=float(str(options.get("poll_s", 0.2))), buses=dict(buses or {})
    )
    async with camera.running():
        path = alarminfo_file(directory / f"{lane}.toml", lane, camera.sdk_port, beside, **options)
        async with assembled(link, lane, token, path) as (hardware, agent, port):
            push_url = f"http://127.0.0.1:{port}/alarminfo"
            camera.servers.append(push_url)
            yield CameraLane(hardware, camera, agent, push_url)


@contextlib.asynccontextmanager
async def board_relay_lane(
    link: str, lane: str, token: str, directory: Path, *, board_on_camera: bool = True
) -> AsyncIterator[BoardRelayLane]:
    """An AlarmInfoPlate camera reading the plates, an LED board as the display (on the
    camera's RS485-1, or on an adapter of its own with its voice saying the lines) and a
    Modbus relay as the gate, its input reading the arm."""
    bus, controller = BoardEmulator(), RelayEmulator()
    await bus.start()
    await controller.start()
    relay = RELAY.format(port=controller.port)
    parts = {"gate": "barrier", "display": "led"}
    if board_on_camera:
        beside, buses = Beside({"led": ON_CAMERA, "barrier": relay}, parts), {0: bus.port}
    else:
        board = ON_ADAPTER.format(url=bus.url)
        beside = Beside(
            {"led": board, "barrier": relay}, parts | {"voice": "led"}, "say_display = true\n"
        )
        buses = {}
    try:
        async with alarminfo_lane(link, lane, token, directory, beside, buses) as cameras:
            yield BoardRelayLane(cameras, bus, controller)
    finally:
        await controller.stop()
        await bus.stop()


@contextlib.asynccontextmanager
async def hikvision_lane(
    link: str, lane: str, token: str, directory: Path, camera: HikvisionCamera, gate_poll: float
) -> AsyncIterator[CameraLane[HikvisionCamera]]:
    """A Hikvision ANPR camera, pushing to the lane and driving its barrier, whose state
    the lane reads every ``gate_poll`` seconds."""
    await camera.server.start()
    try:
        table = HIKVISION.format(port=camera.server.port, gate_poll=gate_poll)
        path = lane_file(directory / f"{lane}.toml", lane, table)
        environ = {"CAM_PASSWORD": camera.password}
        async with assembled(link, lane, token, path, environ) as (hardware, agent, port):
            yield CameraLane(hardware, camera, agent, f"http://127.0.0.1:{port}/hikvision/anpr")
    finally:
        await camera.server.stop()


@contextlib.asynccontextmanager
async def dahua_lane(
    link: str, lane: str, token: str, directory: Path, camera: DahuaCamera
) -> AsyncIterator[CameraLane[DahuaCamera]]:
    """A Dahua ITC camera whose event stream the lane holds open, opening its barrier;
    entered once the stream is open."""
    await camera.server.start()
    try:
        path = lane_file(directory / f"{lane}.toml", lane, DAHUA.format(port=camera.server.port))
        environ = {"CAM_PASSWORD": camera.password}
        async with assembled(link, lane, token, path, environ) as (hardware, agent, _):
            async with asyncio.timeout(10):
                await camera.attached.wait()
            yield CameraLane(hardware, camera, agent, "")
    finally:
        await camera.server.stop()
