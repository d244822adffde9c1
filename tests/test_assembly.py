"""A lane built from its lane file keeps the promise of ``done``: an open waits for the
arm where a sensor sees it and is refused when the arm does not move; a device away
refuses the command with its fault and raises that fault until it answers again."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar

import pytest

from gates.backoff import Backoff
from gates.hardware.assembly import DID_NOT_MOVE, NO_SENSOR, HardwareLane, assemble
from gates.lane.agent import LaneAgent
from gates.lane.drivers import DriverRefused, FaultRaised, GateChanged, LaneEvent
from gates.lane.session import LaneSession
from gates.protocol import DisplaySize
from gates.vocabulary import GateState
from tests.conftest import Centre
from tests.hardware_kit import KIT, Board, Camera, Relay
from tests.lanes import seen

T = TypeVar("T")

LANE = """
[lane]
open_wait_s = 0.5
say_display = true

[devices.cam]
family = "kit-camera"
address = "192.168.1.64"

[devices.led]
family = "kit-board"
lines = 2
chars = 8

[devices.relay]
family = "kit-relay"

[parts]
plates = "cam"
gate = "relay"
display = "led"
voice = "led"
"""


async def started(text: str, tmp_path: Path) -> AsyncIterator[tuple[HardwareLane, list[LaneEvent]]]:
    path = tmp_path / "lane.toml"
    path.write_text(text, encoding="utf-8")
    lane = assemble(path, {}, KIT)
    events: list[LaneEvent] = []
    running = asyncio.create_task(lane.run(events.append))
    for device in lane.devices.values():
        assert isinstance(device, Relay | Board | Camera)
        async with asyncio.timeout(5):
            await device.running.wait()
    yield lane, events
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)


@pytest.fixture
async def lane(tmp_path: Path) -> AsyncIterator[tuple[HardwareLane, list[LaneEvent]]]:
    async for each in started(LANE, tmp_path):
        yield each


def device(lane: HardwareLane, name: str, kind: type[T]) -> T:
    found = lane.devices[name]
    assert isinstance(found, kind)
    return found


async def test_an_open_is_done_once_the_sensor_sees_the_arm_rise(
    lane: tuple[HardwareLane, list[LaneEvent]],
) -> None:
    hardware, events = lane
    relay = device(hardware, "relay", Relay)
    assert await hardware.open_gate() == ""
    assert relay.pulses == 1 and events[-1] == GateChanged(GateState.UP)
    # Up already: opened all the same, so a barrier about to fall holds for this car.
    assert await hardware.open_gate() == "the barrier was already up"
    assert relay.pulses == 2


async def test_a_locked_barrier_that_takes_the_open_and_stays_down_is_refused(
    lane: tuple[HardwareLane, list[LaneEvent]],
) -> None:
    hardware, events = lane
    relay = device(hardware, "relay", Relay)
    relay.locked = True
    with pytest.raises(DriverRefused) as refused:
        await hardware.open_gate()
    assert refused.value.reason == DID_NOT_MOVE
    assert relay.pulses == 1 and GateChanged(GateState.UP) not in events


async def test_an_open_while_another_waits_leaves_the_first_its_rise(
    lane: tuple[HardwareLane, list[LaneEvent]],
) -> None:
    """An agent opening again while the first open waits for the arm: the second finds
    it up, and the first, whose wait runs out with the arm reading up, ends done."""
    hardware, _ = lane
    relay = device(hardware, "relay", Relay)
    relay.locked = True
    first = asyncio.create_task(hardware.open_gate())
    await relay.pulsed.wait()  # the first open has pulsed and waits for the arm
    assert relay.pulses == 1 and not first.done()
    relay.state = GateState.UP
    assert await hardware.open_gate() == "the barrier was already up"
    assert await first == ""


@pytest.mark.parametrize(
    ("state", "detail"),
    [
        (GateState.UNKNOWN, "the gate sensor gave no reading: the arm was not seen to move"),
        (GateState.RISING, "the arm was seen rising, not yet up"),
    ],
)
async def test_an_open_the_sensor_cannot_see_through_is_done_saying_so(
    lane: tuple[HardwareLane, list[LaneEvent]], state: GateState, detail: str
) -> None:
    """Only a sensor reading "down" makes the open a barrier that did not move: one that
    gives no reading, or saw the arm start, ends done with what it could not see."""
    hardware, _ = lane
    relay = device(hardware, "relay", Relay)
    relay.locked = True
    relay.state = state
    assert await hardware.open_gate() == detail
    assert relay.pulses == 1


async def test_a_device_away_refuses_with_its_fault_which_clears_when_it_answers(
    lane: tuple[HardwareLane, list[LaneEvent]],
) -> None:
    hardware, events = lane
    relay = device(hardware, "relay", Relay)
    relay.away = True
    with pytest.raises(DriverRefused) as refused:
        await hardware.open_gate()
    assert refused.value.reason == "gate_controller_unreachable"
    assert events == [FaultRaised("gate_controller_unreachable", "relay: no answer from the board")]
    relay.away = False
    assert await hardware.open_gate() == ""
    assert FaultRaised("gate_controller_unreachable", "", active=False) in events


async def test_a_fault_the_device_raised_itself_is_left_for_it_to_clear(
    lane: tuple[HardwareLane, list[LaneEvent]],
) -> None:
    """A command answered does not clear what the device says of itself: a camera whose
    SDK answers again may still be silent on its pushes."""
    hardware, events = lane
    relay = device(hardware, "relay", Relay)
    relay.send(FaultRaised("gate_controller_unreachable", "its own watch"))
    relay.away = True
    with pytest.raises(DriverRefused):
        await hardware.open_gate()
    relay.away = False
    assert await hardware.open_gate() == ""
    assert not [e for e in events if isinstance(e, FaultRaised) and not e.active]
    relay.send(FaultRaised("gate_controller_unreachable", "", active=False))
    assert events[-1] == FaultRaised("gate_controller_unreachable", "", active=False)


async def test_a_fault_stands_while_any_device_holds_it_and_names_each(
    lane: tuple[HardwareLane, list[LaneEvent]],
) -> None:
    """Two devices away with one code: the lane's fault names both, and the first to
    answer again leaves it standing for the other."""
    hardware, events = lane
    relay = device(hardware, "relay", Relay)
    camera = device(hardware, "cam", Camera)
    code = "gate_controller_unreachable"
    camera.send(FaultRaised(code, "no answer on io0"))
    relay.send(FaultRaised(code, "no answer from the board"))
    camera.send(FaultRaised(code, "", active=False))
    assert events == [
        FaultRaised(code, "cam: no answer on io0"),
        FaultRaised(code, "cam: no answer on io0; relay: no answer from the board"),
        FaultRaised(code, "relay: no answer from the board"),
    ]
    relay.send(FaultRaised(code, "", active=False))
    assert events[-1] == FaultRaised(code, "", active=False)
    relay.send(FaultRaised(code, "", active=False))
    assert len(events) == 4  # a clear of what is not raised says nothing


async def test_a_gate_on_a_cameras_output_without_a_sensor_says_the_arm_was_not_seen(
    tmp_path: Path,
) -> None:
    text = LANE.replace('gate = "relay"', 'gate = "cam:io0"').replace("[devices.relay]\n", "")
    text = text.replace('family = "kit-relay"\n', "")
    async for hardware, _ in started(text, tmp_path):
        assert await hardware.open_gate() == NO_SENSOR
        assert device(hardware, "cam", Camera).pulsed == ["io0"]


async def test_display_shows_on_the_board_and_the_voice_says_the_lines(
    lane: tuple[HardwareLane, list[LaneEvent]],
) -> None:
    hardware, _ = lane
    board = device(hardware, "led", Board)
    assert hardware.display_size == DisplaySize(2, 8)  # the board's, announced to the centre
    detail = await hardware.display(("粤B12345", "请缴费"))
    assert board.shown == [(("粤B12345", "请缴费"), None)] and board.said == ["粤B12345，请缴费"]
    assert detail == "accepted; the board sends no acknowledgement"
    for refused_lines, qr, reason in (
        (("x" * 9,), None, "display_overflow"),
        (("扫码",), "https://pay.example.cn/o/1", "display_no_qr"),
    ):
        with pytest.raises(DriverRefused) as refused:
            await hardware.display(refused_lines, qr)
        assert refused.value.reason == reason
    assert len(board.shown) == 1


async def test_only_the_plates_device_makes_cars_and_only_the_sensor_moves_the_gate(
    lane: tuple[HardwareLane, list[LaneEvent]],
) -> None:
    hardware, events = lane
    camera, board = device(hardware, "cam", Camera), device(hardware, "led", Board)
    assert camera.emit is not None and board.emit is not None
    camera.emit(seen())
    board.emit(seen("粤B99999"))
    board.emit(GateChanged(GateState.UP))
    assert events == [seen()]


async def test_the_centre_hears_the_fault_and_the_agent_reads_the_refusal(
    staffed: Centre, tmp_path: Path
) -> None:
    """Through a real centre: the open is refused with the device's fault, the lane's
    row carries the fault while the board is away, and it clears when it answers."""
    centre = staffed
    await centre.add_lane("P1-IN")
    path = tmp_path / "lane.toml"
    path.write_text(LANE, encoding="utf-8")
    hardware = assemble(path, {}, KIT)
    session = LaneSession("P1-IN", centre.tokens["P1-IN"], heartbeat_ms=1000)
    agent = LaneAgent([centre.link], session, hardware, Backoff(first=0.05, cap=0.2))
    running = asyncio.create_task(agent.run())
    try:
        async with asyncio.timeout(10):
            await agent.connected.wait()
        device(hardware, "relay", Relay).away = True
        async with centre.client("alice") as client:
            refused = await client.post("/api/lanes/P1-IN/open", json={"reason": "emergency"})
            assert refused.json() | {"command_id": ""} == {
                "command_id": "",
                "outcome": "refused",
                "detail": "gate_controller_unreachable",
            }
            lanes = (await client.get("/api/lanes")).json()
            (row,) = [each for each in lanes["lanes"] if each["id"] == "P1-IN"]
            assert [f["code"] for f in row["faults"]] == ["gate_controller_unreachable"]
            device(hardware, "relay", Relay).away = False
            opened = await client.post("/api/lanes/P1-IN/open", json={"reason": "emergency"})
            assert opened.json()["outcome"] == "done" and "detail" not in opened.json()
            lanes = (await client.get("/api/lanes")).json()
            (row,) = [each for each in lanes["lanes"] if each["id"] == "P1-IN"]
            assert row["faults"] == []
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
