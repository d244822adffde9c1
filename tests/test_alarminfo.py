"""An AlarmInfoPlate camera's lane, end to end: the emulated camera pushes over real
HTTP, opens over its TCP SDK or its poll, against a real centre and its console."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import socket
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
import pytest

from gates.hardware.alarminfo.camera import IOCTL_UNANSWERED, POLL_HANDED
from gates.hardware.assembly import assemble
from gates.hardware.options import LaneFileError
from gates.hardware.parts import GateSensor, SerialHost
from gates.lane.agent import link_url
from gates.protocol import OpenGate
from gates.vocabulary import GateState
from tests.camera_lanes import Beside, alarminfo_file, alarminfo_lane
from tests.conftest import Centre
from tests.desks import desk
from tests.emulators.alarminfo import RESENDS, AlarmInfoEmulator, Pulse
from tests.netproxy import CuttableProxy
from tests.test_camera_lanes import lane_row
from tests.test_cli import SEAT
from tests.test_vehicle_records import next_recorded, recorded

LANE = "P1-IN"
LOCAL = "127.0.0.1"


async def test_a_car_at_the_camera_shows_on_the_console_and_the_agents_open_pulses_io0(
    staffed: Centre, tmp_path: Path
) -> None:
    token = await staffed.add_lane(LANE)
    async with (
        alarminfo_lane(staffed.link, LANE, token, tmp_path) as lane,
        desk(staffed, "alice") as alice,
    ):
        pushed = lane.camera.plate("粤B12345")
        sent = await lane.camera.push(pushed)
        assert sent.server == lane.push_url and sent.attempts == 1
        plate_id = pushed["AlarmInfoPlate"]["result"]["PlateResult"]["plateid"]
        assert lane.camera.answers[-1] == {
            "Response_AlarmInfoPlate": {
                "info": "no",
                "ContinuePushOffline": {"plateid": plate_id, "continue": 1},
            }
        }
        shown = await alice.next(
            "lane", lambda m: (m["lane"]["last_vehicle"] or {}).get("plate") == "粤B12345"
        )
        vehicle = shown["lane"]["last_vehicle"]
        rect = pushed["AlarmInfoPlate"]["result"]["PlateResult"]["location"]["RECT"]
        assert vehicle["plate_colour"] == "blue" and vehicle["confidence"] == 0.98
        assert vehicle["box"] == [
            rect["left"], rect["top"], rect["right"] - rect["left"], rect["bottom"] - rect["top"]
        ]  # fmt: skip
        picture = await alice.client.get(f"/api/lanes/{LANE}/snapshot")
        image = pushed["AlarmInfoPlate"]["result"]["PlateResult"]["imageFile"]
        assert picture.content == base64.b64decode(image)

        opened = await alice.post(f"/api/lanes/{LANE}/open", {"reason": "paid_not_lifted"})
        assert opened.json()["outcome"] == "done"
        # No sensor on this lane: the done says the arm was not seen.
        assert opened.json()["detail"] == "no gate sensor: the arm was not seen to move"
        async with asyncio.timeout(5):
            assert await lane.camera.pulses.get() == Pulse(0, 0.5, "ioctl")


async def test_an_open_by_the_comet_poll_is_carried_in_the_next_polls_answer(
    staffed: Centre, tmp_path: Path
) -> None:
    token = await staffed.add_lane(LANE)
    async with alarminfo_lane(staffed.link, LANE, token, tmp_path, open_via="poll") as lane:
        async with staffed.client("alice") as client:
            opened = await client.post(f"/api/lanes/{LANE}/open", json={"reason": "emergency"})
        assert opened.json()["outcome"] == "done"
        assert opened.json()["detail"].startswith(POLL_HANDED)
        async with asyncio.timeout(5):
            assert await lane.camera.pulses.get() == Pulse(0, 0.5, "poll")
        answers = [
            a["Response_Heartbeat"] for a in lane.camera.answers if "Response_Heartbeat" in a
        ]
        assert {"info": "ok", "channelNum": 0} in answers


async def test_a_resent_push_is_one_car_and_a_malformed_one_is_answered_and_changes_nothing(
    staffed: Centre, tmp_path: Path
) -> None:
    token = await staffed.add_lane(LANE)
    async with (
        alarminfo_lane(staffed.link, LANE, token, tmp_path) as lane,
        recorded(staffed) as kept,
    ):
        first = lane.camera.plate("粤B12345")
        await lane.camera.push(first)
        await next_recorded(kept)
        await lane.camera.push(first)  # the same plateid: the camera resending
        for bad in (b"{not json", b'{"AlarmInfoPlate": {"result": 5}}', b"[]", b"\xff\xfe"):
            sent = await lane.camera.push(bad)
            assert sent.server == lane.push_url and sent.attempts == 1
            assert lane.camera.answers[-1] == {"Response_AlarmInfoPlate": {"info": "no"}}
        await lane.camera.push(lane.camera.plate("粤B67890"))
        await next_recorded(kept)
        # A camera that counts its ids from the start again after a reboot: a new car
        # with an old id is a new car, not a resend.
        lane.camera.restart_ids()
        again = lane.camera.plate("粤C24680")
        assert _plate_id(again) == _plate_id(first)
        await lane.camera.push(again)
        await next_recorded(kept)
        assert kept.empty()
        async with staffed.client("sue") as client:
            listed = (await client.get(f"/api/lanes/{LANE}/vehicles")).json()
        assert [v["plate"] for v in listed["vehicles"]] == ["粤C24680", "粤B67890", "粤B12345"]


async def test_a_push_from_a_stranger_or_over_the_limit_is_refused(
    staffed: Centre, tmp_path: Path
) -> None:
    token = await staffed.add_lane(LANE)
    async with alarminfo_lane(staffed.link, LANE, token, tmp_path) as lane:
        body = json.dumps(lane.camera.plate("粤B00000")).encode()
        stranger = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(transport=stranger) as client:
            refused = await client.post(lane.push_url, content=body)
        assert refused.status_code == 403
        huge = lane.camera.plate("粤B00001", image=b"\xff\xd8\xff" + b"\0" * (5 * 1024 * 1024))
        sent = await lane.camera.push(huge)
        assert sent.server is None and sent.attempts == 1 + RESENDS  # 413 each time
        await lane.camera.push(lane.camera.plate("粤B00002"))
        status = await staffed.wait_status(LANE, lambda s: s.last_vehicle is not None)
        assert status.last_vehicle is not None and status.last_vehicle.plate == "粤B00002"


async def test_a_camera_gone_quiet_is_camera_unreachable_until_it_polls_again(
    staffed: Centre, tmp_path: Path
) -> None:
    """And the car it saw meanwhile comes late: recorded, not shown at the gate."""
    token = await staffed.add_lane(LANE)
    async with (
        alarminfo_lane(staffed.link, LANE, token, tmp_path) as lane,
        recorded(staffed) as kept,
    ):
        await lane.camera.push(lane.camera.plate("粤B11111"))
        await next_recorded(kept)
        lane.camera.faults.off = True
        status = await staffed.wait_status(LANE, lambda s: bool(s.faults))
        assert [f.code for f in status.faults] == ["camera_unreachable"]
        async with staffed.client("alice") as client:
            opened = await client.post(f"/api/lanes/{LANE}/open", json={"reason": "emergency"})
        assert opened.json() | {"command_id": ""} == {
            "command_id": "",
            "outcome": "refused",
            "detail": "camera_unreachable",
        }
        stored = await lane.camera.push(lane.camera.plate("粤B22222"))
        assert stored.server is None and len(lane.camera.offline) == 1
        lane.camera.delivered.get_nowait()  # the first car's
        lane.camera.faults.off = False
        await staffed.wait_status(LANE, lambda s: not s.faults)
        async with asyncio.timeout(10):
            late = await lane.camera.delivered.get()
        assert late.body["AlarmInfoPlate"]["result"]["PlateResult"]["isoffline"] == 1
        recorded_late = await next_recorded(kept)
        event = await staffed.store.vehicle(recorded_late.event_id)
        assert event is not None and event.event.plate == "粤B22222"
        last = staffed.hub.status(LANE).last_vehicle
        assert last is not None and last.plate == "粤B11111"


async def test_a_camera_fails_over_to_its_backup_after_four_resends(
    staffed: Centre, tmp_path: Path
) -> None:
    """The emulator keeps the camera's timing: a first server that does not answer gets
    the push and four resends, then the lane, as the backup, takes it."""
    token = await staffed.add_lane(LANE)
    async with alarminfo_lane(staffed.link, LANE, token, tmp_path) as lane:
        lane.camera.servers.insert(0, "http://127.0.0.1:9/alarminfo")
        sent = await lane.camera.push(lane.camera.plate("粤B12345"))
        assert sent.server == lane.push_url and sent.attempts == 1 + RESENDS + 1
        status = await staffed.wait_status(LANE, lambda s: s.last_vehicle is not None)
        assert status.last_vehicle is not None and status.last_vehicle.plate == "粤B12345"


async def test_bytes_for_the_rs485_go_out_in_the_next_answer_as_serial_data(
    staffed: Centre, tmp_path: Path
) -> None:
    """The camera's serial passthrough, as an LED board hung off its RS485-1 uses it."""
    token = await staffed.add_lane(LANE)
    async with alarminfo_lane(staffed.link, LANE, token, tmp_path) as lane:
        camera = lane.hardware.devices["cam"]
        assert isinstance(camera, SerialHost)
        frame = bytes.fromhex("0064ffff6202") + "欢迎".encode("gbk")
        await camera.serial_port("rs485-1").write(frame)
        async with asyncio.timeout(5):
            assert await lane.camera.serial_out.get() == (0, frame)
        with pytest.raises(LaneFileError, match="the camera has serial ports rs485-1, rs485-2"):
            camera.serial_port("rs232")


async def test_orders_in_an_answer_the_camera_gave_up_on_go_in_its_next_answer(
    staffed: Centre, tmp_path: Path
) -> None:
    """A camera that stops waiting closes its connection and polls again later: the
    serial bytes and the open its lost answer carried come in the next one, in order."""
    token = await staffed.add_lane(LANE)
    # The camera polls when the test says (its own cadence is 30 s).
    async with alarminfo_lane(
        staffed.link, LANE, token, tmp_path, open_via="poll", poll_s=30, silent_s=90
    ) as lane:
        camera = lane.hardware.devices["cam"]
        assert isinstance(camera, SerialHost)
        port = camera.serial_port("rs485-1")
        frames = [bytes.fromhex("0064ffff6202") + text.encode("gbk") for text in ("欢迎", "光临")]
        writes = [asyncio.create_task(port.write(frame)) for frame in frames]
        opening = asyncio.create_task(staffed.hub.command(LANE, OpenGate("c-lost"), 30))
        lane.camera.faults.hang_up_polls = 1
        async with asyncio.timeout(20):
            await lane.camera.poll()  # its answer carried the orders, and was never read
            assert lane.camera.serial_out.empty() and lane.camera.pulses.empty()
            assert not any(write.done() for write in writes)
            await lane.camera.poll()
            assert [lane.camera.serial_out.get_nowait() for _ in frames] == [
                (0, frame) for frame in frames
            ]
            await asyncio.gather(*writes)
            assert await lane.camera.pulses.get() == Pulse(0, 0.5, "poll")
            opened = await opening
        assert opened.outcome == "done" and opened.detail.startswith(POLL_HANDED)


async def test_an_sdk_that_answers_slowly_opens_and_one_that_answers_garbage_is_a_fault(
    staffed: Centre, tmp_path: Path
) -> None:
    token = await staffed.add_lane(LANE)
    async with alarminfo_lane(staffed.link, LANE, token, tmp_path) as lane:
        lane.camera.faults.sdk_delay_s = 0.5
        async with staffed.client("alice") as client:
            opened = await client.post(f"/api/lanes/{LANE}/open", json={"reason": "emergency"})
            assert opened.json()["outcome"] == "done"
        lane.camera.faults.sdk_delay_s = 0.0
        lane.camera.faults.sdk_garbage = True
        # Straight to the lane: through the API it would join the open just done.
        refused = await staffed.hub.command(LANE, OpenGate("c-garbage"), 10)
        assert (refused.outcome, refused.detail) == ("refused", "camera_unreachable")
        status = await staffed.wait_status(LANE, lambda s: bool(s.faults))
        assert "TCP SDK" in status.faults[0].detail


@pytest.mark.parametrize("unanswered", ["silent", "closes"])
async def test_an_ioctl_the_camera_takes_without_answering_is_done_as_accepted(
    staffed: Centre, tmp_path: Path, unanswered: Literal["silent", "closes"]
) -> None:
    """Vzenith's own SDK does not wait for ioctl's answer, so a camera may give none, or
    close the connection: the open is not a fault, and its detail says it was accepted."""
    token = await staffed.add_lane(LANE)
    async with (
        alarminfo_lane(staffed.link, LANE, token, tmp_path) as lane,
        desk(staffed, "alice") as alice,
    ):
        lane.camera.faults.ioctl_unanswered = unanswered
        opened = await alice.post(f"/api/lanes/{LANE}/open", {"reason": "paid_not_lifted"})
        assert opened.json()["outcome"] == "done"
        assert opened.json()["detail"] == (
            f"{IOCTL_UNANSWERED}; no gate sensor: the arm was not seen to move"
        )
        async with asyncio.timeout(5):
            assert await lane.camera.pulses.get() == Pulse(0, 0.5, "ioctl")
        assert not staffed.hub.status(LANE).faults


async def test_an_ioctl_the_camera_answers_with_another_state_code_is_refused(
    staffed: Centre, tmp_path: Path
) -> None:
    token = await staffed.add_lane(LANE)
    async with alarminfo_lane(staffed.link, LANE, token, tmp_path) as lane:
        lane.camera.faults.ioctl_refused = True
        refused = await staffed.hub.command(LANE, OpenGate("c-refused"), 10)
        assert (refused.outcome, refused.detail) == ("refused", "camera_refused_open")
        assert lane.camera.pulses.empty() and not staffed.hub.status(LANE).faults


async def test_an_unanswered_ioctl_is_done_once_the_cameras_input_reads_the_arm_up(
    staffed: Centre, tmp_path: Path
) -> None:
    token = await staffed.add_lane(LANE)
    async with (
        alarminfo_lane(staffed.link, LANE, token, tmp_path, gate_input="in0") as lane,
        desk(staffed, "alice") as alice,
    ):
        lane.camera.faults.ioctl_unanswered = "silent"
        await staffed.wait_status(LANE, lambda s: s.gate is GateState.DOWN)
        opened = await alice.post(f"/api/lanes/{LANE}/open", {"reason": "paid_not_lifted"})
        # The camera said nothing; the switch on its input saw the arm go up.
        assert opened.json()["outcome"] == "done" and "detail" not in opened.json()
        assert lane.camera.arm_up
        assert not staffed.hub.status(LANE).faults


def test_a_camera_output_the_camera_lacks_stops_the_lane_at_start(tmp_path: Path) -> None:
    path = alarminfo_file(tmp_path / "lane.toml", LANE, 8131)
    path.write_text(path.read_text().replace("cam:io0", "cam:io7"), encoding="utf-8")
    with pytest.raises(LaneFileError, match=r"\[parts\] gate: the camera has outputs io0"):
        assemble(path)


@pytest.mark.parametrize(
    ("options", "words"),
    [
        ({}, "[parts] gate_state = 'cam': device 'cam' (alarminfo) reads no gate state"),
        ({"gate_input": "in2"}, "gate_input: must be one of in0, in1, not 'in2'"),
        ({"gate_input": "in0", "gate_input_up": 2}, "gate_input_up: must be from 0 to 1"),
        ({"gate_input": "in0", "gate_poll_s": 5}, "gate_poll_s: must be from 0.05 to 2.0"),
        ({"gate_input_up": 1}, "gate_input_up: give gate_input, the input the arm's switch"),
    ],
)
def test_a_camera_is_the_gate_sensor_only_with_its_switch_input_named(
    tmp_path: Path, options: dict[str, object], words: str
) -> None:
    """A camera without the input named would be waited on for an arm nobody reads."""
    sensed = Beside(parts={"gate_state": "cam"})
    path = alarminfo_file(tmp_path / "lane.toml", LANE, 8131, sensed, **options)
    with pytest.raises(LaneFileError) as caught:
        assemble(path)
    assert words in str(caught.value)
    path = alarminfo_file(tmp_path / "lane.toml", LANE, 8131, sensed, gate_input="in1")
    assert isinstance(assemble(path).devices["cam"], GateSensor)


async def test_an_open_is_done_once_the_switch_on_the_cameras_input_reads_the_arm_up(
    staffed: Centre, tmp_path: Path
) -> None:
    token = await staffed.add_lane(LANE)
    async with (
        alarminfo_lane(staffed.link, LANE, token, tmp_path, gate_input="in0") as lane,
        desk(staffed, "alice") as alice,
    ):
        await staffed.wait_status(LANE, lambda s: s.gate is GateState.DOWN)
        opened = await alice.post(f"/api/lanes/{LANE}/open", {"reason": "paid_not_lifted"})
        # get_gpio_value read the switch closed: the arm is up, nothing left unsaid.
        assert opened.json()["outcome"] == "done" and "detail" not in opened.json()
        assert lane.camera.arm_up
        async with asyncio.timeout(5):
            assert await lane.camera.pulses.get() == Pulse(0, 0.5, "ioctl")
        await alice.next("lane", lane_row(lambda r: r["gate"] == "up"))
        # The input is read on one link held open; the ioctl had a connection of its own.
        assert lane.camera.sdk_dials == 2 and lane.camera.gpio_reads > 1


async def test_a_locked_barrier_takes_the_pulse_and_the_open_is_refused_as_not_moved(
    staffed: Centre, tmp_path: Path
) -> None:
    token = await staffed.add_lane(LANE)
    async with alarminfo_lane(staffed.link, LANE, token, tmp_path, gate_input="in0") as lane:
        lane.camera.faults.locked = True
        await staffed.wait_status(LANE, lambda s: s.gate is GateState.DOWN)
        async with staffed.client("alice") as client:
            opened = await client.post(f"/api/lanes/{LANE}/open", json={"reason": "emergency"})
        assert opened.json() | {"command_id": ""} == {
            "command_id": "",
            "outcome": "refused",
            "detail": "gate_did_not_move",
        }
        # The camera took the ioctl and closed its output; the arm stayed down.
        async with asyncio.timeout(5):
            assert await lane.camera.pulses.get() == Pulse(0, 0.5, "ioctl")
        assert not lane.camera.arm_up
        assert staffed.hub.status(LANE).gate is GateState.DOWN


@pytest.mark.parametrize(
    ("fault", "words"),
    [
        ("sdk_off", "the TCP SDK on 127.0.0.1:"),
        ("gpio_garbage", "get_gpio_value answered value 'high', not 0 or 1"),
    ],
)
async def test_an_sdk_link_lost_or_talking_garbage_is_camera_unreachable_until_it_answers(
    staffed: Centre, tmp_path: Path, fault: str, words: str
) -> None:
    """The pushes go on all the while: the fault is the SDK's, and the arm unknown."""
    token = await staffed.add_lane(LANE)
    async with alarminfo_lane(staffed.link, LANE, token, tmp_path, gate_input="in0") as lane:
        await staffed.wait_status(LANE, lambda s: s.gate is GateState.DOWN)
        setattr(lane.camera.faults, fault, True)
        status = await staffed.wait_status(LANE, lambda s: bool(s.faults))
        assert [f.code for f in status.faults] == ["camera_unreachable"]
        assert words in status.faults[0].detail
        await staffed.wait_status(LANE, lambda s: s.gate is GateState.UNKNOWN)
        setattr(lane.camera.faults, fault, False)
        status = await staffed.wait_status(LANE, lambda s: not s.faults, timeout=15)
        await staffed.wait_status(LANE, lambda s: s.gate is GateState.DOWN)
        async with staffed.client("alice") as client:
            opened = await client.post(f"/api/lanes/{LANE}/open", json={"reason": "emergency"})
        assert opened.json()["outcome"] == "done" and "detail" not in opened.json()


async def test_seat_lane_config_runs_the_lane_its_file_describes(
    centre: Centre, tmp_path: Path
) -> None:
    """The command an installer runs: `seat lane --config lane.toml`, its id and centre
    from the file, against the emulated camera, which the centre hears it has."""
    token = await centre.add_lane(LANE)
    with socket.socket() as probe:  # a free port for the lane's listener
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with AlarmInfoEmulator(servers=[f"http://127.0.0.1:{port}/alarminfo"]).running() as cam:
        path = alarminfo_file(tmp_path / "lane.toml", LANE, cam.sdk_port, poll_s=1.0, silent_s=30)
        text = path.read_text().replace("127.0.0.1:0", f"127.0.0.1:{port}")
        path.write_text(text.replace("[lane]", f'[lane]\nservers = ["{centre.url}"]'))
        lane = await asyncio.create_subprocess_exec(
            *SEAT, "lane", "--config", str(path), "--heartbeat-ms", "1000",
            env={**os.environ, "SEAT_LANE_TOKEN": token, "SEAT_LOG_LEVEL": "WARNING"},
        )  # fmt: skip
        try:
            online = await centre.wait_status(LANE, lambda s: s.online, 30)
            assert [device.to_json() for device in online.devices] == [
                {"name": "cam", "family": "alarminfo", "parts": ["plates", "gate"], "at": LOCAL}
            ]
            sent = await cam.push(cam.plate("粤B12345"))
            assert sent.attempts == 1
            await centre.wait_status(LANE, lambda s: s.last_vehicle is not None)
            opened = await centre.hub.command(LANE, OpenGate("c-cli"), 10)
            assert opened.outcome == "done"
            async with asyncio.timeout(5):
                assert await cam.pulses.get() == Pulse(0, 0.5, "ioctl")
        finally:
            lane.terminate()
            await lane.wait()
        assert lane.returncode == 0


async def test_a_lane_cut_from_the_centre_leaves_the_cameras_stored_reads_in_the_camera(
    staffed: Centre, tmp_path: Path
) -> None:
    """ContinuePushOffline: the camera goes on with the reads it stored only while the
    lane can pass them on. Cut off from the centre, the lane answers a stored read with
    continue 0, and the rest stay in the camera's storage, not in the lane's short
    backlog; linked again, they come, late."""
    token = await staffed.add_lane(LANE)
    proxy = CuttableProxy(urlsplit(staffed.url).port or 0)
    await proxy.start()
    link = link_url(f"http://127.0.0.1:{proxy.port}")
    try:
        async with (
            alarminfo_lane(link, LANE, token, tmp_path) as lane,
            recorded(staffed) as kept,
        ):
            camera = lane.camera
            await proxy.cut(stay_down=True)
            await staffed.wait_status(LANE, lambda s: not s.online)
            async with asyncio.timeout(10):
                while await _goes_on(camera, "粤B00001"):
                    pass  # answered before the lane noticed the cut
            while not camera.delivered.empty():
                camera.delivered.get_nowait()  # the live reads just pushed
            camera.faults.off = True  # the lane does not hear it: it stores
            first, second = camera.plate("粤B22222"), camera.plate("粤B33333")
            for read in (first, second):
                assert (await camera.push(read)).server is None
            camera.faults.off = False
            async with asyncio.timeout(10):
                told = await camera.delivered.get()
            assert told.body is first
            assert told.answer == {
                "Response_AlarmInfoPlate": {
                    "info": "no",
                    "ContinuePushOffline": {"plateid": _plate_id(first), "continue": 0},
                }
            }
            assert camera.offline == [second]  # kept in the camera
            proxy.restore()
            await staffed.wait_status(LANE, lambda s: s.online)
            async with asyncio.timeout(10):
                while not await _goes_on(camera, "粤B00002"):
                    pass  # answered before the lane saw its link back
            plates = set()
            async with asyncio.timeout(10):
                while "粤B33333" not in plates:
                    event = await staffed.store.vehicle((await next_recorded(kept)).event_id)
                    assert event is not None
                    plates.add(event.event.plate)
            assert "粤B22222" in plates
            assert camera.offline == []
    finally:
        await proxy.close()


def _plate_id(read: dict[str, Any]) -> int:
    return int(read["AlarmInfoPlate"]["result"]["PlateResult"]["plateid"])


async def _goes_on(camera: AlarmInfoEmulator, plate: str) -> bool:
    """Push a live read: whether its answer tells the camera to go on with stored ones."""
    sent = await camera.push(camera.plate(plate))
    assert sent.answer is not None
    go_on = sent.answer["Response_AlarmInfoPlate"]["ContinuePushOffline"]
    assert go_on["plateid"] == _plate_id(sent.body)
    return bool(go_on["continue"])
