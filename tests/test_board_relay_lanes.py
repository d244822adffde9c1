"""Lanes of several families at once, end to end through a real centre: an AlarmInfoPlate
camera reading the plates, an RS485 LED and voice board on the camera's RS485-1 or on an
adapter of its own, and a Modbus relay lifting the barrier with the arm's limit switch on
its input. What an agent asks at the console arrives on the emulated wires (the board's
frames, GBK with a valid CRC; the relay's coil), and what the devices answer, or fail to,
is what the agent sees."""

from __future__ import annotations

import asyncio
import base64
import contextlib
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from console.ledger import AuditAction
from gates.hardware.rs485 import frames
from gates.hardware.rs485.board import NO_QR, SILENT, VIA_CAMERA
from gates.protocol import DisplaySize
from tests.camera_lanes import BoardRelayLane, board_relay_lane
from tests.conftest import Centre
from tests.desks import Desk, Message, desk

LANE = "P1-IN"
LINES = ["粤B12345", "请缴费10元"]


@contextlib.asynccontextmanager
async def lane_at(
    centre: Centre, tmp_path: Path, *, board_on_camera: bool = True
) -> AsyncIterator[BoardRelayLane]:
    token = await centre.add_lane(LANE)
    async with board_relay_lane(
        centre.link, LANE, token, tmp_path, board_on_camera=board_on_camera
    ) as lane:
        yield lane


def lane_row(check: Callable[[Message], bool]) -> Callable[[Message], bool]:
    return lambda m: m["lane"]["id"] == LANE and check(m["lane"])


async def asked(alice: Desk, what: str, body: Message) -> Message:
    response = await alice.post(f"/api/lanes/{LANE}/{what}", body)
    assert response.status_code == 200, response.text
    answer: Message = response.json()
    return answer


async def test_display_text_reaches_the_board_through_the_cameras_serial_data(
    staffed: Centre, tmp_path: Path
) -> None:
    async with lane_at(staffed, tmp_path) as lane, desk(staffed, "alice") as alice:
        # The board's size is what the lane announced: the centre offers no more.
        assert staffed.hub.status(LANE).display == DisplaySize(2, 8)
        too_long = await alice.post(f"/api/lanes/{LANE}/display", {"lines": ["x" * 9]})
        assert too_long.status_code == 400

        shown = await asked(alice, "display", {"lines": LINES})
        assert (shown["outcome"], shown["detail"]) == ("done", VIA_CAMERA)
        async with asyncio.timeout(5):
            channel, raw = await lane.cameras.camera.serial_out.get()
        assert channel == 0  # rs485-1
        # On the wire: the OLM frame, its text in GBK, its CRC-16/MODBUS low byte first.
        assert raw[:4] == b"\x00\x64\xff\xff" and raw[4] == frames.Command.SHOW_LINES
        assert frames.crc16_modbus(raw[:-2]) == int.from_bytes(raw[-2:], "little")
        assert all(line.encode("gbk") in raw for line in LINES)
        # Carried in the answer to the camera's poll, as serialData.
        carried = [
            entry
            for answer in lane.cameras.camera.answers
            for body in answer.values()
            for entry in body.get("serialData", [])
        ]
        assert carried == [
            {
                "serialChannel": 0,
                "data": base64.b64encode(raw).decode("ascii"),
                "dataLen": len(raw),
            }
        ]
        await lane.bus.wait_frames(1)
        assert lane.bus.lines() == tuple(LINES) and lane.bus.dropped == 0


async def test_an_open_pulses_the_relay_and_is_done_once_its_input_reads_the_arm_up(
    staffed: Centre, tmp_path: Path
) -> None:
    async with lane_at(staffed, tmp_path) as lane, desk(staffed, "alice") as alice:
        controller = lane.controller
        opened = await asked(alice, "open", {"reason": "paid_not_lifted"})
        # The input read the arm up: confirmed, nothing left unsaid.
        assert opened["outcome"] == "done" and "detail" not in opened
        pulse = [write.on for write in controller.writes if write.coil == 0]
        assert pulse[-2:] == [True, False] and controller.coils[0] is False
        assert controller.barrier.lifts == 1
        assert lane.cameras.camera.pulses.empty()  # the camera's own outputs stay open
        await alice.next("lane", lane_row(lambda r: r["gate"] == "up"))
        controller.lower()  # the car went through
        await alice.next("lane", lane_row(lambda r: r["gate"] == "down"))


async def test_a_locked_barrier_takes_the_relays_pulse_and_the_open_is_refused(
    staffed: Centre, tmp_path: Path
) -> None:
    async with lane_at(staffed, tmp_path) as lane, desk(staffed, "alice") as alice:
        lane.controller.barrier.locked = True
        refused = await asked(alice, "open", {"reason": "paid_not_lifted"})
        assert (refused["outcome"], refused["detail"]) == ("refused", "gate_did_not_move")
        pulse = [write.on for write in lane.controller.writes if write.coil == 0]
        assert pulse[-2:] == [True, False] and lane.controller.barrier.lifts == 0
        lanes = (await alice.client.get("/api/lanes")).json()["lanes"]
        assert [each["gate"] for each in lanes if each["id"] == LANE] == ["down"]


async def test_an_unplugged_relay_is_a_fault_at_the_centre_until_plugged_back(
    staffed: Centre, tmp_path: Path
) -> None:
    async with lane_at(staffed, tmp_path) as lane, desk(staffed, "alice") as alice:
        controller = lane.controller
        await controller.stop()
        row = await alice.next("lane", lane_row(lambda r: bool(r["faults"])))
        assert [f["code"] for f in row["lane"]["faults"]] == ["gate_controller_unreachable"]
        refused = await asked(alice, "open", {"reason": "emergency"})
        assert (refused["outcome"], refused["detail"]) == ("refused", "gate_controller_unreachable")

        await controller.start(controller.port)  # plugged back, on the same port
        await alice.next("lane", lane_row(lambda r: not r["faults"]))
        opened = await asked(alice, "open", {"reason": "emergency"})
        assert opened["outcome"] == "done" and controller.barrier.lifts == 1


async def test_a_board_on_its_own_adapter_shows_the_lines_and_its_voice_says_them(
    staffed: Centre, tmp_path: Path
) -> None:
    async with (
        lane_at(staffed, tmp_path, board_on_camera=False) as lane,
        desk(staffed, "alice") as alice,
    ):
        shown = await asked(alice, "display", {"lines": LINES})
        assert (shown["outcome"], shown["detail"]) == ("done", SILENT)
        await lane.bus.wait_frames(2)
        show, speak = lane.bus.frames
        assert (show.command, speak.command) == (frames.Command.SHOW_LINES, frames.Command.SPEAK)
        assert lane.bus.lines() == tuple(LINES)
        said = "，".join(LINES)
        assert speak.data[1:] == said.encode("gbk") and lane.bus.spoken == [said]
        assert lane.cameras.camera.serial_out.empty()  # not through the camera


async def test_a_qr_code_for_a_board_without_one_is_its_lines_and_the_agent_is_told(
    staffed: Centre, tmp_path: Path
) -> None:
    """The board has no QR command: the lines (the fee, the plate) go up as text, and
    the agent sees that the code did not, in the answer and in the ledger."""
    async with (
        lane_at(staffed, tmp_path, board_on_camera=False) as lane,
        desk(staffed, "alice") as alice,
        staffed.client("sue") as sue,
    ):
        body = {"lines": LINES, "qr": "https://pay.example.cn/o/1"}
        shown = await asked(alice, "display", body)
        assert shown["outcome"] == "done" and NO_QR in shown["detail"]
        await lane.bus.wait_frames(2)
        assert lane.bus.lines() == tuple(LINES)
        entries = (await sue.get("/api/audit", params={"limit": 5})).json()["entries"]
    ended = next(e for e in entries if e["action"] == AuditAction.DISPLAY_OUTCOME)
    assert (ended["command_id"], ended["outcome"]) == (shown["command_id"], "done")
    assert NO_QR in ended["detail"]["detail"]
