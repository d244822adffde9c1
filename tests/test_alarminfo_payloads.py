"""The AlarmInfoPlate payloads and the camera's 'VZ' framing, read and written without
sockets, from the shapes the family's open sources print."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from gates.hardware.alarminfo import frames
from gates.hardware.alarminfo.payloads import BadPush, Heartbeat, PlateRead, read_push, reply
from gates.vocabulary import PlateColour

NOW = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0" + b"\0" * 32
# Alphadigi-migration's requestBody.txt, as a camera sent it.
HEARTBEAT = (
    b'{"heartbeat":{"countid":57214,"timeStamp":{"Timeval":{"sec":1739372881,"usec":0}},'
    b'"outageTs":"2025-02-05 18:03:53","startTs":"2025-02-05 18:04:44",'
    b'"serialno":"QFX2182310150262"}}'
)


def plate(**changes: Any) -> dict[str, Any]:
    result: dict[str, Any] = {
        "license": "粤B12345",
        "colorType": 1,
        "confidence": 98,
        "plateid": 1021,
        "isoffline": 0,
        "location": {"RECT": {"left": 610, "top": 520, "right": 760, "bottom": 560}},
        "timeStamp": {"Timeval": {"sec": 1739372881, "usec": 0}},
        "imageFile": base64.b64encode(JPEG).decode(),
        "imageFileLen": len(JPEG),
    }
    result |= changes
    return {
        "AlarmInfoPlate": {
            "channel": 0,
            "ipaddr": "192.168.1.64",
            "result": {"PlateResult": result},
        }
    }


def read(body: dict[str, Any] | bytes) -> PlateRead:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    got = read_push(raw, NOW)
    assert isinstance(got, PlateRead)
    return got


def test_a_plate_push_becomes_the_lanes_vehicle() -> None:
    got = read(plate())
    assert got.plate_id == 1021
    vehicle = got.vehicle
    assert (vehicle.plate, vehicle.plate_colour, vehicle.confidence) == ("粤B12345", "blue", 0.98)
    assert vehicle.box == (610, 520, 150, 40) and vehicle.snapshot_jpeg == JPEG
    assert vehicle.at == NOW and not vehicle.late


def test_a_read_is_known_by_its_id_time_and_plate() -> None:
    """A resend is the same read; a new car under an id a restarted camera counts
    again is not."""
    assert read(plate()).identity == read(plate(isoffline=1)).identity
    assert (
        read(plate()).identity != read(plate(timeStamp={"Timeval": {"sec": 1, "usec": 0}})).identity
    )
    assert read(plate()).identity != read(plate(license="粤B67890")).identity
    assert read(plate(plateid=None)).identity is None


@pytest.mark.parametrize(
    ("colour_type", "colour"),
    [
        (0, "unknown"),
        (1, "blue"),
        (2, "yellow"),
        (3, "white"),
        (4, "black"),
        (5, "green"),
        (9, "unknown"),
    ],
)
def test_colour_types_map_to_plate_colours(colour_type: int, colour: PlateColour) -> None:
    assert read(plate(colorType=colour_type)).vehicle.plate_colour == colour


def test_an_offline_push_is_late_and_keeps_the_cameras_time() -> None:
    vehicle = read(plate(isoffline=1)).vehicle
    assert vehicle.late and vehicle.at == datetime.fromtimestamp(1739372881, UTC)


def test_a_car_without_a_plate_and_a_gbk_body_are_read() -> None:
    assert read(plate(license="_无_")).vehicle.plate == ""
    gbk = json.dumps(plate(license="京A88888"), ensure_ascii=False).encode("gbk")
    assert read(gbk).vehicle.plate == "京A88888"


def test_a_heartbeat_is_the_poll() -> None:
    assert read_push(HEARTBEAT, NOW) == Heartbeat("QFX2182310150262")


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (b"{not json", "not JSON"),
        (b"[1]", "the body is not a JSON object"),
        (b'{"a":1,"a":2}', "duplicate"),
        (b'{"AlarmInfoPlate":{"result":{"PlateResult":{"license":"\\ud800"}}}}', "surrogate"),
        (plate(imageFile=""), "no imageFile"),
        (plate(imageFile="not base64!"), "not base64"),
        (plate(imageFile=base64.b64encode(b"GIF89a").decode()), "not a JPEG"),
        (plate(confidence=101), "confidence must be a whole number from 0 to 100"),
        (plate(confidence=True), "confidence must be"),
        (plate(license="粤B\x0012345"), "control character"),
        (plate(license="\u202e54321B粤"), "bidirectional"),
        (plate(license="X" * 17), "longer than 16"),
        (plate(license=5), "license must be text"),
        (plate(location={"RECT": {"left": 9, "top": 0, "right": 5, "bottom": 1}}), "right"),
        (plate(location=[]), "location is not a JSON object"),
        (plate(isoffline=1, timeStamp={}), "Timeval"),
    ],
)
def test_a_push_this_lane_cannot_use_says_why(body: dict[str, Any] | bytes, words: str) -> None:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    with pytest.raises(BadPush, match=words):
        read_push(raw, NOW)


def test_answers_open_an_output_and_carry_serial_data() -> None:
    assert json.loads(reply(False, None, ())) == {"Response_AlarmInfoPlate": {"info": "no"}}
    assert json.loads(reply(True, 0, [(0, b"\x00\x64\xff\xff")])) == {
        "Response_Heartbeat": {
            "info": "ok",
            "channelNum": 0,
            "serialData": [{"serialChannel": 0, "data": "AGT//w==", "dataLen": 4}],
        }
    }


def test_a_plates_answer_names_it_and_says_whether_to_go_on_with_stored_reads() -> None:
    """ContinuePushOffline as the Vzenith HTTP push document prints it: an object with
    the read's plateid and continue 0 or 1, never a bare flag."""
    assert json.loads(reply(False, None, (), plate_id=123, continue_offline=True)) == {
        "Response_AlarmInfoPlate": {
            "info": "no",
            "ContinuePushOffline": {"plateid": 123, "continue": 1},
        }
    }
    assert json.loads(reply(False, 1, (), plate_id=124, continue_offline=False)) == {
        "Response_AlarmInfoPlate": {
            "info": "ok",
            "ContinuePushOffline": {"plateid": 124, "continue": 0},
            "channelNum": 1,
        }
    }


def test_an_ioctl_pulse_is_framed_as_the_sdk_frames_it() -> None:
    """'VZ', type 0, sequence 0, the length big-endian, then the JSON command."""
    body = b'{"cmd": "ioctl", "io": 0, "value": 2, "delay": 500}'
    assert frames.pulse(0, 500) == b"VZ\x00\x00" + len(body).to_bytes(4, "big") + body
    assert frames.header(b"VZ\x01\x00\x00\x00\x00\x00") == frames.Header(frames.HEARTBEAT, 0, 0)
    assert frames.answer(b'{"cmd":"ioctl","state_code":200}\n\x00') == {
        "cmd": "ioctl",
        "state_code": 200,
    }


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"HTTP/1.0", "not a VZ packet"),
        (b"VZ\x07\x00\x00\x00\x00\x00", "unknown packet type 7"),
        (b"VZ\x00\x00\x7f\xff\xff\xff", "over"),
        (b"VZ\x00", "a header is 8 bytes"),
    ],
)
def test_bytes_that_are_not_the_sdks_are_refused(raw: bytes, words: str) -> None:
    with pytest.raises(frames.BadFrame, match=words):
        frames.header(raw)


def test_an_input_read_is_framed_and_its_answer_gives_the_level() -> None:
    """``get_gpio_value`` with the input's number; the answer's ``value`` 0 (contact
    closed) or 1 (open), as ``vzenith/vzenith_tcp_protocol`` builds and parses them."""
    body = b'{"cmd": "get_gpio_value", "gpio": 1}'
    assert frames.read_input(1) == b"VZ\x00\x00" + len(body).to_bytes(4, "big") + body
    answer = frames.answer(b'{"cmd":"get_gpio_value","gpio":1,"value":0,"state_code":200}\x00')
    assert frames.input_level(answer, 1) == 0
    assert frames.input_level({"cmd": "get_gpio_value", "value": 1}, 0) == 1


@pytest.mark.parametrize(
    ("answer", "words"),
    [
        ({"value": "high"}, "value 'high', not 0 or 1"),
        ({"value": 2}, "value 2, not 0 or 1"),
        ({"value": True}, "value True, not 0 or 1"),
        ({}, "value None, not 0 or 1"),
        ({"gpio": 1, "value": 0}, "for input 1, not 0"),
        ({"value": 0, "state_code": 400}, "state_code 400"),
    ],
)
def test_an_input_read_answered_without_a_level_is_refused(
    answer: dict[str, object], words: str
) -> None:
    with pytest.raises(frames.BadFrame, match=re.escape(words)):
        frames.input_level({"cmd": "get_gpio_value", **answer}, 0)
