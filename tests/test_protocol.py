"""The lane-link messages: parsing and encoding with literals, no sockets."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime

import pytest

from gates.errors import LinkError, Malformed, TooLarge, UnknownType
from gates.protocol import (
    MAX_CALL_PRESSES,
    MAX_DISPLAY_QR,
    MAX_MESSAGE_BYTES,
    Ack,
    Call,
    CallOver,
    DeviceInfo,
    Display,
    DisplaySize,
    Done,
    Escape,
    Fault,
    Gate,
    Hello,
    OpenGate,
    Refused,
    Vehicle,
    Welcome,
    message_type,
    parse_centre_message,
    parse_lane_message,
)
from gates.vocabulary import GateState, PlateColour

JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 16


def vehicle_fields(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "type": "vehicle",
        "event_id": "e1",
        "at": "2026-11-23T11:32:04.123Z",
        "plate": "粤B12345",
        "plate_colour": "blue",
        "confidence": 0.93,
        "box": [10, 20, 140, 44],
        "snapshot": base64.b64encode(JPEG).decode(),
    }
    fields.update(overrides)
    return fields


def test_hello_parses_from_the_documented_literal() -> None:
    """The README's hello example parses to the values it shows."""
    raw = '{"type":"hello","v":1,"lane":"P1-IN","token":"t0k","heartbeat_ms":5000}'
    assert parse_lane_message(raw) == Hello(lane="P1-IN", token="t0k", heartbeat_ms=5000)


def test_hello_carries_the_display_size_it_states() -> None:
    """A lane names its display's lines and characters a line; the README's literal parses."""
    raw = (
        '{"type":"hello","v":1,"lane":"P1-IN","token":"t0k","heartbeat_ms":5000,'
        '"display":{"lines":4,"chars":32}}'
    )
    hello = parse_lane_message(raw)
    assert hello == Hello("P1-IN", "t0k", 5000, display=DisplaySize(lines=4, chars=32))
    assert parse_lane_message(hello.encode()) == hello


def test_hello_without_a_display_states_none_and_encodes_none() -> None:
    """Absent means the protocol's maximum, decided by the centre, and is not invented."""
    hello = parse_lane_message('{"type":"hello","v":1,"lane":"P1-IN","token":"t"}')
    assert isinstance(hello, Hello) and hello.display is None
    assert "display" not in json.loads(hello.encode())


@pytest.mark.parametrize(
    "display",
    [
        {"lines": 0, "chars": 32},
        {"lines": 9, "chars": 32},
        {"lines": 4, "chars": 65},
        {"lines": 4, "chars": 0},
        {"lines": "4", "chars": 32},
        {"lines": True, "chars": 32},
        {"lines": 4},
        [4, 32],
        None,
    ],
)
def test_hello_with_a_display_out_of_range_is_malformed(display: object) -> None:
    """A display smaller than one character or larger than the protocol allows is refused."""
    raw = json.dumps({"type": "hello", "v": 1, "lane": "P1-IN", "token": "t", "display": display})
    with pytest.raises(Malformed):
        parse_lane_message(raw)


CAM = {"name": "cam", "family": "alarminfo", "parts": ["plates", "gate"], "at": "192.168.1.64"}
LED = {"name": "led", "family": "rs485", "parts": ["display"], "at": "cam:rs485-1"}


def hello_with_devices(devices: object) -> str:
    return json.dumps({"type": "hello", "v": 1, "lane": "P1-IN", "token": "t", "devices": devices})


def test_hello_carries_the_devices_it_states_and_round_trips() -> None:
    """Each device's name, family, parts and where it is, in the lane's order."""
    hello = parse_lane_message(hello_with_devices([CAM, LED]))
    assert isinstance(hello, Hello)
    assert hello.devices == (
        DeviceInfo("cam", "alarminfo", ("plates", "gate"), "192.168.1.64"),
        DeviceInfo("led", "rs485", ("display",), "cam:rs485-1"),
    )
    assert json.loads(hello.encode())["devices"] == [CAM, LED]
    assert parse_lane_message(hello.encode()) == hello


def test_a_part_a_newer_lane_names_is_left_out_not_refused() -> None:
    """The list only informs the console: a part this centre does not know (a newer
    lane's) must not keep the lane off."""
    hello = parse_lane_message(hello_with_devices([{**LED, "parts": ["display", "qr"]}]))
    assert isinstance(hello, Hello)
    assert hello.devices == (DeviceInfo("led", "rs485", ("display",), "cam:rs485-1"),)


def test_hello_of_a_lane_that_names_no_devices_has_none_and_sends_none() -> None:
    """An older lane sends no devices; a lane with none sends no field."""
    hello = parse_lane_message('{"type":"hello","v":1,"lane":"P1-IN","token":"t"}')
    assert isinstance(hello, Hello) and hello.devices == ()
    assert "devices" not in json.loads(hello.encode())


def test_hello_takes_sixteen_devices_at_the_longest() -> None:
    """The limits are reached, not passed: 16 devices, each at 64 characters."""
    devices = [device(name=f"cam{n}", at="摄" * 64) for n in range(16)]
    hello = parse_lane_message(hello_with_devices(devices))
    assert isinstance(hello, Hello) and len(hello.devices) == 16
    assert hello.devices[15] == DeviceInfo("cam15", "alarminfo", ("plates", "gate"), "摄" * 64)


def device(**overrides: object) -> dict[str, object]:
    return {**CAM, **overrides}


@pytest.mark.parametrize(
    ("devices", "words"),
    [
        (None, "'devices' must be list"),
        ({"cam": CAM}, "'devices' must be list"),
        ([CAM] + [device(name=f"cam{n}") for n in range(16)], "17 devices, more than 16"),
        ([CAM, device(parts=["display"])], "names the device 'cam' twice"),
        (["cam"], "entry 0 must be an object"),
        ([device(parts=["gate", "gate"])], "names a part twice"),
        ([device(parts="plates")], "field 'parts' must be list"),
        ([device(parts=[1])], "field 'parts' must list at most 16 part names"),
        ([device(parts=[f"p{n}" for n in range(17)])], "must list at most 16 part names"),
        ([device(at="x" * 65)], "field 'at' longer than 64"),
        ([device(at="192.168.1.64\n")], "control character U+000A"),
        ([device(at="\u202e46.1.861.291")], "bidirectional control U+202E"),
        ([device(at="\ud800")], "surrogate"),
        ([device(at="rfc2217://admin:12345@10.0.0.5:4001")], "must not hold '@'"),
        ([device(at=64)], "field 'at' must be str"),
        ([device(name="")], "field 'name'"),
        ([device(name="cam one")], "field 'name'"),
        ([device(family=None)], "field 'family'"),
        ([{k: v for k, v in CAM.items() if k != "at"}], "missing field 'at'"),
    ],
)
def test_hello_with_devices_out_of_the_rules_is_malformed(devices: object, words: str) -> None:
    """Too many, twice named, an unknown part, text a console must not show, a password
    in where a device is, a wrong type: each refused, naming the rule."""
    with pytest.raises(Malformed, match=re.escape(words)):
        parse_lane_message(hello_with_devices(devices))


def test_vehicle_round_trips_through_json() -> None:
    """A vehicle event encodes and parses back to the same value, snapshot bytes included."""
    message = parse_lane_message(json.dumps(vehicle_fields()))
    assert isinstance(message, Vehicle)
    assert message.at == datetime(2026, 11, 23, 11, 32, 4, 123000, tzinfo=UTC)
    assert message.plate_colour is PlateColour.BLUE
    assert message.snapshot == JPEG
    assert parse_lane_message(message.encode()) == message


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"confidence": 1.5}, "between 0 and 1"),
        ({"confidence": True}, "must be float"),
        ({"box": [1, 2, 3]}, "box"),
        ({"box": [1, 2, 3, -4]}, "box"),
        ({"snapshot": "not base64!"}, "base64"),
        ({"snapshot": base64.b64encode(b"GIF89a").decode()}, "JPEG"),
        ({"plate_colour": "purple"}, "plate_colour"),
        ({"at": "yesterday"}, "ISO 8601"),
        ({"at": "2026-11-23T11:32:04"}, "UTC offset"),
        ({"event_id": ""}, "event_id"),
        ({"plate": "X" * 17}, "longer than 16"),
        ({"plate": "\ud800"}, "surrogate"),
        ({"plate": "粤B\n12345"}, "control character"),
        ({"plate": "\u202e54321B粤"}, "bidirectional"),
        ({"at": "9999-12-31T23:59:59-14:00"}, "years 1-9999"),
        ({"confidence": 10**400}, "out of range"),
        ({"late": 1}, "field 'late' must be bool"),
    ],
)
def test_vehicle_with_a_bad_field_is_malformed(overrides: dict[str, object], words: str) -> None:
    """Each broken field is named in the error."""
    with pytest.raises(Malformed, match=words):
        parse_lane_message(json.dumps(vehicle_fields(**overrides)))


def test_a_late_vehicle_says_so_and_an_older_lanes_vehicle_is_on_time() -> None:
    """A car the camera kept while the lane was away is marked late on the wire; a
    vehicle without the field (every lane before it) is not late."""
    on_time = parse_lane_message(json.dumps(vehicle_fields()))
    assert isinstance(on_time, Vehicle) and not on_time.late and '"late"' not in on_time.encode()
    late = parse_lane_message(json.dumps(vehicle_fields(late=True)))
    assert isinstance(late, Vehicle) and late.late
    assert parse_lane_message(late.encode()) == late


def test_call_round_trips_with_its_event_id() -> None:
    """A press names itself like a vehicle read, and parses back to the same value."""
    call = parse_lane_message('{"type":"call","event_id":"press-7"}')
    assert call == Call(event_id="press-7")
    assert parse_lane_message(call.encode()) == call


def test_call_without_an_event_id_is_accepted_from_an_older_lane() -> None:
    """The bare call of lanes written before event ids parses, and encodes bare again."""
    call = parse_lane_message('{"type":"call"}')
    assert call == Call(event_id=None)
    assert call.encode() == '{"type":"call"}'


@pytest.mark.parametrize(
    ("event_id", "words"),
    [
        ('""', "field 'event_id' must be 1-64"),
        ('"' + "e" * 65 + '"', "field 'event_id' must be 1-64"),
        ('"e\\n1"', "field 'event_id' must be 1-64"),
        ('"e\\u0000"', "field 'event_id' must be 1-64"),
        ('"\\ud800"', "surrogate"),
        ("7", "field 'event_id' must be str"),
        ("null", "field 'event_id' must be str"),
        ('["e1"]', "field 'event_id' must be str"),
    ],
)
def test_call_with_a_bad_event_id_is_malformed_as_a_vehicle_would_be(
    event_id: str, words: str
) -> None:
    """An event id sent but broken is refused, by the rule and in the words a vehicle's is."""
    with pytest.raises(Malformed, match=words) as call:
        parse_lane_message(f'{{"type":"call","event_id":{event_id}}}')
    with pytest.raises(Malformed) as vehicle:
        parse_lane_message(json.dumps(vehicle_fields(event_id=json.loads(event_id))))
    assert call.value.detail == vehicle.value.detail


def test_call_over_round_trips_both_ways() -> None:
    """The centre's word that a call is over, and the lane's that its intercom hung up,
    are one message naming the presses."""
    over = parse_centre_message('{"type":"call_over","event_ids":["press-7","press-9"]}')
    assert over == CallOver(("press-7", "press-9"))
    assert parse_centre_message(over.encode()) == over
    assert parse_lane_message(CallOver(("press-7",)).encode()) == CallOver(("press-7",))


@pytest.mark.parametrize(
    ("event_ids", "words"),
    [
        ("[]", "must name 1-16 presses"),
        (json.dumps(["e"] * (MAX_CALL_PRESSES + 1)), "must name 1-16 presses"),
        ('[""]', "must hold ids"),
        ('["e 1"]', "must hold ids"),
        ('["' + "e" * 65 + '"]', "must hold ids"),
        ("[7]", "must hold ids"),
        ("[null]", "must hold ids"),
        ('"press-7"', "field 'event_ids' must be list"),
        ("null", "field 'event_ids' must be list"),
        ('["\\ud800"]', "surrogate"),
    ],
)
def test_call_over_with_bad_event_ids_is_malformed(event_ids: str, words: str) -> None:
    """Either way, a call_over that names no press, too many, or one that is no id is
    refused whole."""
    raw = f'{{"type":"call_over","event_ids":{event_ids}}}'
    for parse in (parse_centre_message, parse_lane_message):
        with pytest.raises(Malformed, match=words):
            parse(raw)


def test_call_over_without_event_ids_is_malformed() -> None:
    with pytest.raises(Malformed, match="event_ids"):
        parse_centre_message('{"type":"call_over"}')


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        ("{", Malformed),
        ("[]", Malformed),
        ('{"v":1}', Malformed),
        ('{"type":"teleport"}', UnknownType),
        (b'{"type":"heartbeat"}', Malformed),
        ('{"type":"ack"}', Malformed),
        ('{"type":"ack","command_id":7}', Malformed),
        ('{"type":"gate","state":"sideways"}', Malformed),
        ('{"type":"hello","v":1,"lane":"a b","token":"t"}', Malformed),
        ('{"type":"hello","v":1,"lane":"L","token":"t","heartbeat_ms":0}', Malformed),
        ('{"type":"refused","command_id":"c1","reason":"\\ud800"}', Malformed),
        ('{"type":"fault","code":"f","detail":"a\\nb"}', Malformed),
        ('{"type":"ack","command_id":"c1","command_id":"c2"}', Malformed),
        ("[" * 200_000 + "]" * 200_000, Malformed),
    ],
)
def test_bad_messages_raise_a_link_error_with_a_code(raw: str | bytes, error: type) -> None:
    """Malformed, unknown and binary messages raise the error that names their rule."""
    with pytest.raises(error) as caught:
        parse_lane_message(raw)
    assert isinstance(caught.value, LinkError) and caught.value.code


def test_oversized_message_is_refused_before_parsing() -> None:
    """A message over the limit is refused by size, whatever it holds."""
    with pytest.raises(TooLarge):
        parse_lane_message('{"type":"heartbeat","pad":"' + "x" * MAX_MESSAGE_BYTES + '"}')


def test_unknown_fields_are_ignored_for_forward_compatibility() -> None:
    """A newer lane's extra fields do not break an older centre."""
    assert parse_lane_message('{"type":"gate","state":"up","motor_temp":41}') == Gate(GateState.UP)


def test_centre_messages_round_trip() -> None:
    """Every centre message parses back from its own encoding."""
    for message in (
        Welcome(lane="P1-IN", heartbeat_ms=5000),
        OpenGate(command_id="c1", reason="paid_not_lifted"),
        Display(command_id="c2", lines=("请缴费", "粤B12345")),
        Display(command_id="c3", lines=("请扫码缴费",), qr="https://pay.example.cn/o/8f2a?lane=P1"),
    ):
        assert parse_centre_message(message.encode()) == message


def test_lane_replies_round_trip() -> None:
    """ack, done, refused and fault parse back from their encodings."""
    for message in (
        Ack("c1"),
        Done("c1"),
        Done("c1", "accepted; the board sends no acknowledgement"),
        Refused("c1", "gate_motor_fault"),
        Fault("loop_detector", "no signal", active=False),
    ):
        assert parse_lane_message(message.encode()) == message


def test_done_without_a_detail_from_an_older_lane_parses_and_a_bad_detail_is_malformed() -> None:
    """A lane from before details sends none; a detail that is not one line of text is
    refused like any other text field."""
    assert parse_lane_message('{"type":"done","command_id":"c1"}') == Done("c1")
    assert Done("c1").encode() == '{"type":"done","command_id":"c1"}'
    for bad in ('"two\\nlines"', "5", '"' + "x" * 201 + '"'):
        with pytest.raises(Malformed):
            parse_lane_message(f'{{"type":"done","command_id":"c1","detail":{bad}}}')


def test_display_with_too_many_lines_is_malformed() -> None:
    """The centre cannot be made to send a display command beyond the protocol's limits."""
    with pytest.raises(Malformed):
        parse_centre_message(json.dumps({"type": "display", "command_id": "c", "lines": ["x"] * 9}))


def test_display_line_with_a_control_character_is_malformed() -> None:
    """An escape code would drive the LED panel instead of showing text."""
    raw = json.dumps({"type": "display", "command_id": "c1", "lines": ["ok", "\x1b[2J"]})
    with pytest.raises(Malformed, match="line 2 holds the control character"):
        parse_centre_message(raw)


PAY = "https://pay.example.cn/o/8f2a"


def display_with_qr(qr: object) -> str:
    return json.dumps({"type": "display", "command_id": "c1", "lines": ["请扫码"], "qr": qr})


def test_display_carries_the_qr_it_names_and_leaves_it_out_without() -> None:
    """The README's literal parses with its QR; a display without one encodes no ``qr``."""
    raw = '{"type":"display","command_id":"c1","lines":["请扫码缴费"],"qr":"https://pay.example.cn/o/8f2a"}'
    assert parse_centre_message(raw) == Display("c1", ("请扫码缴费",), qr=PAY)
    plain = parse_centre_message('{"type":"display","command_id":"c1","lines":["x"]}')
    assert plain == Display("c1", ("x",)) and plain.qr is None
    assert "qr" not in json.loads(plain.encode())


@pytest.mark.parametrize(
    "qr",
    [
        "https://a.cn/" + "x" * (MAX_DISPLAY_QR - len("https://a.cn/")),
        "HTTP://pay.example.cn:8080/o?a=1&b=2#x",
        "https://支付.example.cn/订单/8f2a",
        "weixin://wxpay/bizpayurl?pr=NwY5Mz9",
    ],
)
def test_display_accepts_any_http_url_up_to_the_limit(qr: str) -> None:
    """512 characters exactly, either scheme in any case, and non-ASCII text are URLs;
    so is WeChat Pay's Native payment link, the one other a display may show."""
    assert parse_centre_message(display_with_qr(qr)) == Display("c1", ("请扫码",), qr=qr)


@pytest.mark.parametrize(
    ("qr", "words"),
    [
        ("https://a.cn/" + "x" * (MAX_DISPLAY_QR + 1 - len("https://a.cn/")), "longer than 512"),
        ("pay.example.cn/o/8f2a", "is not an http"),
        ("javascript:alert(1)", "is not an http"),
        ("weixin://wxpay/bizpayurl?pr=", "is not an http"),
        ("weixin://dl/scan", "is not an http"),
        ("weixin://wxpay/bizpayurl?pr=N&u=javascript:alert(1)", "is not an http"),
        ("WEIXIN://wxpay/bizpayurl?pr=NwY5Mz9", "is not an http"),
        ("weixin://wxpay/bizpayurl?pr=" + "N" * 65, "is not an http"),
        ("JavaScript://pay.example.cn/%0aalert(1)", "is not an http"),
        ("file:///etc/passwd", "is not an http"),
        ("https:/pay.example.cn", "is not an http"),
        ("", "is not an http"),
        ("https://", "names no host"),
        ("https://:443/o", "names no host"),
        ("https://[::1/o", "is not a URL: Invalid IPv6"),
        ("https://a.cn:99999/", "is not a URL: Port out of range"),
        ("https://a.cn/o 8f2a", "holds a space"),
        ("https://a.cn/\x1b[2J", "holds the control character U\\+001B"),
        ("https://a.cn/\n", "holds the control character U\\+000A"),
        ("https://a.cn/\u202eabc", "holds the bidirectional control U\\+202E"),
        (7, "must be str"),
        (["https://a.cn/"], "must be str"),
        (None, "must be str"),
    ],
)
def test_display_with_a_qr_that_is_no_http_url_is_malformed(qr: object, words: str) -> None:
    """Too long, not a URL, another scheme, control or bidi characters, a non-string or
    null: each is malformed, naming the field and the rule."""
    with pytest.raises(Malformed, match=f"^field 'qr' .*{words}"):
        parse_centre_message(display_with_qr(qr))


def test_display_with_a_lone_surrogate_in_its_qr_is_malformed() -> None:
    """Refused before any field is read, as the same text anywhere in any message is."""
    raw = display_with_qr("https://a.cn/").replace('a.cn/"', 'a.cn/\\ud800"')
    with pytest.raises(Malformed, match="lone UTF-16 surrogate"):
        parse_centre_message(raw)


def test_error_reply_names_no_type_it_cannot_trust() -> None:
    """``ref`` echoes the offending type only when it is a plain identifier."""
    assert message_type("[" * 200_000 + "]" * 200_000) == ""
    assert message_type('{"type":"\\ud800","x":1}') == ""
    assert message_type('{"type":"vehicle","plate":"\\ud800"}') == "vehicle"


def test_escape_round_trips_through_json() -> None:
    raw = '{"type":"escape","event_id":"esc-1","at":"2026-11-23T03:00:00.000Z","plate":"粤B12345"}'
    escape = parse_lane_message(raw)
    assert escape == Escape("esc-1", datetime(2026, 11, 23, 3, 0, tzinfo=UTC), "粤B12345")
    assert parse_lane_message(escape.encode()) == escape


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"at": "2026-11-23T03:00:00.000Z", "plate": "粤B12345"}, "event_id"),
        ({"event_id": "", "at": "2026-11-23T03:00:00.000Z", "plate": "粤B12345"}, "event_id"),
        ({"event_id": "e", "at": "2026-11-23 03:00", "plate": "粤B12345"}, "at"),
        ({"event_id": "e", "at": "2026-11-23T03:00:00.000Z", "plate": ""}, "plate"),
        ({"event_id": "e", "at": "2026-11-23T03:00:00.000Z"}, "plate"),
        ({"event_id": "e", "at": "2026-11-23T03:00:00.000Z", "plate": "粤B" + "1" * 20}, "plate"),
        ({"event_id": "e", "at": "2026-11-23T03:00:00.000Z", "plate": 12345}, "plate"),
        ({"event_id": "e", "at": "2026-11-23T03:00:00.000Z", "plate": "粤B\u202e12345"}, "plate"),
    ],
)
def test_escape_with_a_bad_field_is_malformed(fields: dict[str, object], words: str) -> None:
    with pytest.raises(Malformed, match=words):
        parse_lane_message(json.dumps({"type": "escape", **fields}))
