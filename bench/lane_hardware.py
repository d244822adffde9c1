"""Real lane hardware, measured through its emulators against the simulator driver in
the same run.

The centre is ``seat serve`` in its own process; the lanes are agents in this process,
each built from a lane file by ``gates.hardware.assembly`` and linked to the centre
over its lane link, with the family's emulator (``tests/emulators``) on real sockets
as the device. The figures, per family:

* **open-gate latency**, from the agent's request (``POST /api/lanes/<id>/open``) to
  the device's confirmation and to the agent's ``done``. The device's confirmation is
  what the family's camera can give: an AlarmInfoPlate camera's output closing, by the
  TCP SDK's ``ioctl`` or by the comet poll's answer (whose wait for the camera's next
  poll, ``poll_s``, is the device's cost, not the adapter's: it shows as the poll
  figure minus the SDK's); a Hikvision camera's barrier reporting the arm up (the
  emulated arm rises at once, so the figure is the adapter's and the HTTP's, and the
  ``done`` adds the lane's read of ``barrierGateStatus``); a Dahua camera taking
  ``openStrobe``; a Modbus relay switching its coil on (its ``done`` waits for the
  pulse's 500 ms and its off, the device's cost, and for the input read every 0.1 s to
  show the arm up). Baseline: the same request to a lane driven by the simulator
  (``gates.lane.sim``, lift time 0), whose ``done`` is its confirmation.
* **display latency**, from the agent's ``POST /api/lanes/<id>/display`` to the RS485
  board's frame whole on the emulated bus (the board on a USB-RS485 adapter of the
  lane's, reached as ``socket://``) and to the ``done``, which also waits for the voice
  frame saying the lines. Baseline: the simulator's display ``done``.
* **plate-to-console latency**, from the camera's push leaving (a Dahua camera: its
  car's parts written to the event stream the lane holds) to the vehicle on a console
  tab's stream. Baseline: the same read emitted straight into a lane agent by its
  driver, with no camera and no HTTP.

Medians and 90th percentiles of ``--samples`` each (default 20).

    python bench/lane_hardware.py [--samples 20] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

# Run as a script, this file's directory is first on sys.path: the repository root goes
# before it, so ``bench`` is the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.figures import Figures, measure_and_print
from bench.gate_latency import percentile
from bench.processes import PASSWORD, USERNAME, centre
from gates.hardware.parts import GateSensor
from gates.lane.agent import link_url
from gates.lane.drivers import LaneEvent, VehicleSeen
from gates.lane.sim import SimLane, SimTiming
from gates.vocabulary import GateState, PlateColour
from tests.camera_lanes import (
    alarminfo_lane,
    board_relay_lane,
    dahua_lane,
    hikvision_lane,
    linked,
)
from tests.emulators.dahua import DahuaCamera
from tests.emulators.hikvision import Car, HikvisionCamera, car

T = TypeVar("T")
SIM, SDK, POLL, HIK, DAHUA = "SIM", "AI-SDK", "AI-POLL", "HIK", "DAHUA"
RS485 = "RS485"  # an LED board on its adapter, and a Modbus relay as the gate
POLL_S = 1.0  # the camera's comet poll interval, as an installer would set it
GATE_POLL = 0.1  # how often the lane reads the Hikvision barrier (the least it may)
HOLD_S = 0.05  # the emulated Hikvision arm falls this long after rising
RELAY_POLL = 0.1  # how often the lane reads the relay's input (tests.camera_lanes.RELAY)


class EmittingSim(SimLane):
    """The simulated lane with no traffic of its own, an instant barrier that falls
    again at once, and a way to emit a read from outside, as its camera would."""

    def __init__(self, lane: str) -> None:
        timing = SimTiming(lift_s=0.0, fall_s=0.0, hold_s=0.05, mean_arrival_s=math.inf)
        super().__init__(lane, random.Random(1), timing)
        self.emit: Callable[[LaneEvent], None] | None = None

    async def run(self, emit: Callable[[LaneEvent], None]) -> None:
        self.emit = emit
        await super().run(emit)


OPEN = ("open", {"reason": "emergency"})
DISPLAY = ("display", {"lines": ["粤B12345", "请缴费10元"]})


async def opens(
    client: httpx.AsyncClient,
    lane: str,
    confirmed: Callable[[], Awaitable[float]],
    n: int,
    pace: Callable[[], Awaitable[None]],
    command: tuple[str, dict[str, Any]] = OPEN,
) -> tuple[list[float], list[float]]:
    """Milliseconds from each command's request (an open, or ``command``: a display) to
    the device's confirmation (``confirmed()``, a perf_counter stamp) and to the agent's
    ``done``, one command at a time, each after ``pace()``."""
    device, done = [], []
    what, body = command
    for _ in range(n):
        await pace()
        started = time.perf_counter()
        response = await client.post(f"/api/lanes/{lane}/{what}", json=body)
        ended = time.perf_counter()
        if response.json().get("outcome") != "done":
            raise RuntimeError(f"a {what} of {lane} ended {response.text}")
        device.append((await confirmed() - started) * 1000)
        done.append((ended - started) * 1000)
    return device, done


async def at_once() -> None:
    """No pause: the device's answer does not depend on when it is asked."""


async def at_random() -> None:
    """A random moment: a poll's phase is not the agent's to choose."""
    await asyncio.sleep(random.uniform(0.0, POLL_S))  # pacing


async def plates(
    ws: ClientConnection,
    lane: str,
    make: Callable[[str], T],
    send: Callable[[T], Awaitable[None]],
    n: int,
) -> list[float]:
    """Milliseconds from each read leaving (``send(make(plate))``, made beforehand) to
    its vehicle on the console's stream."""
    times = []
    for number in range(n):
        plate = f"粤B{number:05d}"
        read = make(plate)
        started = time.perf_counter()
        await send(read)
        async with asyncio.timeout(10):
            while True:
                message = json.loads(await ws.recv())
                if message["type"] != "lane" or message["lane"]["id"] != lane:
                    continue
                if (message["lane"]["last_vehicle"] or {}).get("plate") == plate:
                    break
        times.append((time.perf_counter() - started) * 1000)
    return times


def figures(name: str, ms: list[float]) -> Figures:
    return {
        f"{name}_p50_ms": round(statistics.median(ms), 2),
        f"{name}_p90_ms": round(percentile(ms, 90), 2),
    }


def a_car(plate: str) -> Car:
    return car(plate, PlateColour.BLUE)


async def measure(samples: int) -> Figures:
    with tempfile.TemporaryDirectory() as data:
        lanes = [SIM, SDK, POLL, HIK, DAHUA, RS485]
        async with centre(Path(data), lanes, env={"SEAT_OPEN_JOIN_S": "0"}) as seat:
            link = link_url(seat.url)
            sim = EmittingSim(SIM)
            hik = HikvisionCamera(lift_s=0.0, hold_s=HOLD_S)
            dahua = DahuaCamera()
            async with (
                linked(link, SIM, seat.tokens[SIM], sim),
                alarminfo_lane(link, SDK, seat.tokens[SDK], Path(data)) as sdk,
                alarminfo_lane(
                    link,
                    POLL,
                    seat.tokens[POLL],
                    Path(data),
                    open_via="poll",
                    poll_s=POLL_S,
                    silent_s=30,
                ) as poll,
                hikvision_lane(link, HIK, seat.tokens[HIK], Path(data), hik, GATE_POLL) as hik_lane,
                dahua_lane(link, DAHUA, seat.tokens[DAHUA], Path(data), dahua),
                board_relay_lane(
                    link, RS485, seat.tokens[RS485], Path(data), board_on_camera=False
                ) as rs485,
                httpx.AsyncClient(base_url=seat.url, timeout=30) as client,
                # The camera's: a new connection for each push, as the camera opens one.
                httpx.AsyncClient(
                    timeout=5, limits=httpx.Limits(max_keepalive_connections=0)
                ) as camera_client,
            ):
                login = await client.post(
                    "/api/login", json={"username": USERNAME, "password": PASSWORD}
                )
                client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
                cookie = f"seat_session={client.cookies['seat_session']}"
                result: Figures = {"samples": samples, "poll_s": POLL_S, "gate_poll_s": GATE_POLL}

                async def now() -> float:
                    return time.perf_counter()

                polled: list[float] = []

                async def after_poll() -> float:
                    closed = await poll.camera.closed.get()
                    polled.append((closed - poll.camera.polled_at) * 1000)
                    return closed

                sensor = hik_lane.hardware.devices["cam"]
                assert isinstance(sensor, GateSensor)

                async def arm_down() -> None:
                    await asyncio.sleep(HOLD_S + 2 * GATE_POLL)  # pacing: the arm falls, read
                    if sensor.gate_state() is not GateState.DOWN:
                        raise RuntimeError(f"the lane reads the arm {sensor.gate_state()}")

                _, sim_done = await opens(client, SIM, now, samples, at_once)
                result |= figures("open_sim", sim_done)
                _, sim_shown = await opens(client, SIM, now, samples, at_once, DISPLAY)
                result |= figures("display_sim", sim_shown)
                controller, bus = rs485.controller, rs485.bus
                relay = rs485.cameras.hardware.devices["barrier"]
                assert isinstance(relay, GateSensor)

                async def coil_on() -> float:
                    return [write.at for write in controller.writes if write.on][-1]

                async def relay_down() -> None:
                    controller.lower()
                    await asyncio.sleep(2 * RELAY_POLL)  # pacing: the arm falls, read
                    if relay.gate_state() is not GateState.DOWN:
                        raise RuntimeError(f"the lane reads the arm {relay.gate_state()}")

                async def on_the_bus() -> float:
                    # The display's frame; the voice's follows it, before the done.
                    return bus.taken_at[-2]

                for name, lane, confirmed, pace in (
                    ("open_sdk", SDK, sdk.camera.closed.get, at_once),
                    ("open_poll", POLL, after_poll, at_random),
                    ("open_hikvision", HIK, hik.lifted.get, arm_down),
                    ("open_dahua", DAHUA, dahua.strobed.get, at_once),
                    ("open_modbus", RS485, coil_on, relay_down),
                ):
                    device, done = await opens(client, lane, confirmed, samples, pace)
                    result |= figures(f"{name}_device", device) | figures(f"{name}_done", done)
                bus_at, shown = await opens(client, RS485, on_the_bus, samples, at_once, DISPLAY)
                result |= figures("display_board_bus", bus_at) | figures(
                    "display_board_done", shown
                )
                # The poll's own cost: from the camera's poll leaving to the output closing.
                result |= figures("open_poll_from_poll", polled)

                async def push(body: dict[str, Any]) -> None:
                    await sdk.camera.push(body)

                async def push_hikvision(seen: Car) -> None:
                    status = await hik.push(hik_lane.push_url, seen, client=camera_client)
                    if status != 200:
                        raise RuntimeError(f"the lane answered the push {status}")

                async def stream_dahua(seen: Car) -> None:
                    dahua.see(seen)

                def as_sim(plate: str) -> VehicleSeen:
                    return _seen(plate, sdk.camera.plate(plate))

                async def emit(read: VehicleSeen) -> None:
                    assert sim.emit is not None
                    sim.emit(read)

                async with connect(
                    seat.url.replace("http://", "ws://") + "/api/stream",
                    additional_headers={"cookie": cookie},
                    max_queue=None,
                    max_size=None,
                ) as ws:
                    result |= figures("plate_sim", await plates(ws, SIM, as_sim, emit, samples))
                    result |= figures(
                        "plate_alarminfo", await plates(ws, SDK, sdk.camera.plate, push, samples)
                    )
                    result |= figures(
                        "plate_hikvision", await plates(ws, HIK, a_car, push_hikvision, samples)
                    )
                    result |= figures(
                        "plate_dahua", await plates(ws, DAHUA, a_car, stream_dahua, samples)
                    )
                return result


def _seen(plate: str, pushed: dict[str, Any]) -> VehicleSeen:
    """The emulated camera's read as the simulator's driver would emit it: the same
    picture, so the two paths carry the same bytes."""
    read = pushed["AlarmInfoPlate"]["result"]["PlateResult"]
    rect = read["location"]["RECT"]
    return VehicleSeen(
        at=datetime.now(UTC),
        plate=plate,
        plate_colour=PlateColour.BLUE,
        confidence=read["confidence"] / 100,
        box=(rect["left"], rect["top"], rect["right"] - rect["left"], rect["bottom"] - rect["top"]),
        snapshot_jpeg=base64.b64decode(read["imageFile"]),
    )


def report(r: Figures) -> list[str]:
    """``name: value unit (ratio vs baseline)``; the baseline is the simulator's."""

    def line(name: str, base: str, what: str) -> str:
        value, baseline = r[f"{name}_p50_ms"], r[f"{base}_p50_ms"]
        ratio = round(value / baseline, 1) if baseline else float("inf")
        return (
            f"{name}_p50: {value} ms ({ratio}x {what} {baseline} ms; p90 {r[f'{name}_p90_ms']} ms)"
        )

    return [
        line("open_sdk_device", "open_sim", "the simulator's done"),
        line("open_sdk_done", "open_sim", "the simulator's done"),
        line(
            "open_poll_device", "open_sim", f"the simulator's done; polls every {r['poll_s']:g} s"
        ),
        line("open_poll_done", "open_sim", "the simulator's done"),
        line("open_poll_from_poll", "open_sdk_device", "the SDK's, from the poll leaving"),
        line("open_hikvision_device", "open_sim", "the simulator's done"),
        line("open_hikvision_done", "open_sim", "the simulator's done"),
        line("open_dahua_device", "open_sim", "the simulator's done"),
        line("open_dahua_done", "open_sim", "the simulator's done"),
        line("open_modbus_device", "open_sim", "the simulator's done"),
        line("open_modbus_done", "open_sim", "the simulator's done; with the 500 ms pulse"),
        line("display_board_bus", "display_sim", "the simulator's display done"),
        line("display_board_done", "display_sim", "the simulator's display done"),
        line("plate_alarminfo", "plate_sim", "a read emitted by the simulator's driver"),
        line("plate_hikvision", "plate_sim", "a read emitted by the simulator's driver"),
        line("plate_dahua", "plate_sim", "a read emitted by the simulator's driver"),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    measure_and_print(lambda: measure(args.samples), report, as_json=args.json)


if __name__ == "__main__":
    main()
