"""Hikvision's ANPR alert and ISAPI replies read without sockets: the XML, JSON and
multipart forms, the plate and its colour as the centre names them, and XML that would
expand or fetch entities refused."""

from __future__ import annotations

import pytest

from gates.hardware.hikvision import isapi
from gates.hardware.hikvision.alerts import COLOURS, AlertError, parse_push, plate_of, snapshot
from gates.vocabulary import GateState, PlateColour
from tests.emulators.hikvision import alert_xml

# The least JPEG with a frame header: 1000 x 500.
JPEG = (
    b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    b"\xff\xc0\x00\x11\x08\x01\xf4\x03\xe8\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01\xff\xd9"
)


def alert(plate: str = "蓝粤B12345", confidence: str = "98", colour: str = "blue") -> bytes:
    """An alert as a DS-TCG camera posts it, its scene's plateRect 430,275 106x65."""
    return alert_xml(80, 1, plate, confidence, colour, (430, 275, 106, 65))


def form(*parts: tuple[str, str, bytes]) -> tuple[str, bytes]:
    body = b"".join(
        f'--boundary\r\nContent-Disposition: form-data; name="{name}"; filename="{name}"\r\n'
        f"Content-Type: {kind}\r\n\r\n".encode()
        + data
        + b"\r\n"
        for name, kind, data in parts
    )
    return "multipart/form-data; boundary=boundary", body + b"--boundary--\r\n"


def test_the_multipart_push_gives_plate_colour_confidence_scene_and_box() -> None:
    kind, body = form(
        ("anpr.xml", 'text/xml; charset="UTF-8"', alert()),
        ("licensePlatePicture.jpg", "image/jpeg", JPEG[:-2] + b"crop\xff\xd9"),
        ("detectionPicture.jpg", "image/jpeg", JPEG),
    )
    read = parse_push(kind, body)
    assert read is not None
    assert (read.plate, read.colour, read.confidence, read.direction) == (
        "粤B12345",
        PlateColour.BLUE,
        0.98,
        "forward",
    )
    # plateRect 430,275 106x65 in thousandths of a 1000 x 500 scene.
    assert snapshot(read) == (JPEG, (430, 138, 106, 32))


def test_bare_xml_and_json_are_the_same_alert_without_pictures() -> None:
    bare = parse_push('application/xml; charset="UTF-8"', alert())
    json_body = (
        '{"ipAddress":"192.168.1.64","eventType":"ANPR","ANPR":{"licensePlate":"粤B12345",'
        '"confidenceLevel":98,"plateColor":"blue","direction":"forward",'
        '"pictureInfoList":[{"fileName":"detectionPicture.jpg","type":"detectionPicture"}]}}'
    )
    as_json = parse_push("application/json", json_body.encode())
    assert bare is not None and as_json is not None
    assert (bare.plate, bare.colour, bare.confidence) == ("粤B12345", PlateColour.BLUE, 0.98)
    assert (as_json.plate, as_json.colour, as_json.confidence) == (
        "粤B12345",
        PlateColour.BLUE,
        0.98,
    )
    assert snapshot(bare) is None and snapshot(as_json) is None


def test_another_event_is_no_plate() -> None:
    other = alert().replace(b"<eventType>ANPR</eventType>", b"<eventType>videoloss</eventType>")
    assert parse_push("application/xml", other) is None


@pytest.mark.parametrize(
    ("written", "plate"),
    [
        ("蓝粤B12345", "粤B12345"),
        ("黄绿粤BD12345", "粤BD12345"),
        ("黑A12345", "黑A12345"),  # Heilongjiang, not a black plate's colour word
        ("黑黑A12345", "黑A12345"),
        ("A283KY77", "A283KY77"),
        ("noPlate", ""),
        ("unknown", ""),
        ("无牌车", ""),  # another family's word for it: one set for every camera
        ("粤b·12345", "粤B12345"),
    ],
)
def test_the_plate_is_spelt_as_the_centre_spells_it(written: str, plate: str) -> None:
    assert plate_of(written) == plate


def test_colours_map_to_ga36_colours_and_the_rest_to_unknown() -> None:
    assert COLOURS["newEnergyYellowGreen"] is PlateColour.YELLOW_GREEN
    assert COLOURS["newEnergyGreen"] is PlateColour.GREEN
    for colour, expected in [
        ("white", PlateColour.WHITE),
        ("civilAviationBlack", PlateColour.UNKNOWN),
    ]:
        read = parse_push("application/xml", alert(colour=colour))
        assert read is not None and read.colour is expected


@pytest.mark.parametrize("encoding", ["GB2312", "GBK", "gb18030", "ISO-8859-1", "UTF-8"])
def test_an_alert_is_read_in_the_encoding_it_declares(encoding: str) -> None:
    plate = "粤B12345" if encoding != "ISO-8859-1" else "B12345"
    document = alert(plate=plate).decode().replace('"UTF-8"', f'"{encoding}"', 1)
    read = parse_push("application/xml", document.encode(encoding))
    assert read is not None and read.plate == plate


def test_isapi_replies_are_read_in_the_encoding_they_declare() -> None:
    status = (
        '<?xml version="1.0" encoding="GB2312"?><ResponseStatus><statusCode>4</statusCode>'
        "<statusString>不支持</statusString></ResponseStatus>"
    )
    assert isapi.response_status(status.encode("gb2312")) == (4, "不支持")
    gate = b"<?xml version='1.0' encoding='GBK' ?><x><barrierGateStatus>2</barrierGateStatus></x>"
    assert isapi.gate_state(gate) is GateState.UP


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b'<?xml version="1.0" encoding="GB2312"?><x>\xff\xff</x>', "not gb2312 text"),
        (b'<?xml version="1.0" encoding="no-such"?><x/>', "unknown encoding"),
        (b'<?xml version="1.0" encoding="UTF-16"?><x/>', "not utf-16 text|not XML"),
        (b'<?xml version="1.0" encoding="SHIFT_JIS"?><x>1</x>', "no statusCode"),
        (b'<?xml version="1.0" encoding="punycode"?><x/>', "cannot read 'punycode'"),
        (b'<?xml version="1.0" encoding="undefined"?><x/>', "cannot read 'undefined'"),
    ],
)
def test_a_reply_in_an_encoding_it_is_not_in_is_refused_as_isapi(body: bytes, error: str) -> None:
    with pytest.raises(isapi.IsapiError, match=error):
        isapi.response_status(body)


BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">
<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>
<EventNotificationAlert><eventType>ANPR</eventType><ANPR><licensePlate>&d;</licensePlate>
</ANPR></EventNotificationAlert>"""
EXTERNAL = b"""<?xml version="1.0"?><!DOCTYPE e [<!ENTITY x SYSTEM "file:///etc/hostname">]>
<EventNotificationAlert><eventType>ANPR</eventType><ANPR><licensePlate>&x;</licensePlate>
</ANPR></EventNotificationAlert>"""


@pytest.mark.parametrize(
    ("kind", "body", "error"),
    [
        ("application/xml", BILLION_LAUGHS, "XML refused"),
        ("application/xml", EXTERNAL, "XML refused"),
        ("application/xml", b"<EventNotificationAlert><eventType>", "XML"),
        ("application/xml", b"<DeviceInfo/>", "not EventNotificationAlert"),
        ("application/xml", alert(confidence="high"), "not a number"),
        ("application/xml", alert(confidence="120"), "not 0-100"),
        ("application/json", b'{"eventType":"ANPR","ANPR":{"licensePlate":"\\u0001"}}', "control"),
        ("application/xml", alert(plate="粤B" + "1" * 20), "longer than"),
        (
            "application/json",
            b'{"eventType":"ANPR","ANPR":{"licensePlate":"\\udc00"}}',
            "surrogate",
        ),
        ("application/json", b'["ANPR"]', "not an object"),
        # Nesting that would exhaust the stack: refused as an alert's, not a crash.
        ("application/json", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "nested"),
        (
            "application/xml",
            b"<EventNotificationAlert>"
            + b"<a>" * 100_000
            + b"</a>" * 100_000
            + b"</EventNotificationAlert>",
            "nested deeper",
        ),
        ("application/json", b'{"eventType":"ANPR"}', "without its <ANPR>"),
        # A field that is not text is refused, not written out as Python's repr of it.
        ("application/xml", alert(plate="<a>1</a>"), "licensePlate is not text"),
        ("application/xml", alert().replace(b"<line>1", b"<licensePlate/><line>1"), "repeated"),
        (
            "application/json",
            b'{"eventType":"ANPR","ANPR":{"licensePlate":{"a":"B12345"},"confidenceLevel":5}}',
            "licensePlate is not text but nested fields",
        ),
        (
            "application/json",
            b'{"eventType":"ANPR","ANPR":{"licensePlate":12345,"confidenceLevel":5}}',
            "licensePlate is not text but int",
        ),
        (
            "application/json",
            b'{"eventType":"ANPR","ANPR":{"licensePlate":"B1","plateColor":["blue"],"confidenceLevel":5}}',
            "plateColor is not text",
        ),
        (
            "application/json",
            b'{"eventType":"ANPR","ANPR":{"licensePlate":"B1","direction":{},"confidenceLevel":5}}',
            "direction is not text",
        ),
        (
            "application/json",
            b'{"eventType":"ANPR","ANPR":{"licensePlate":"B1","confidenceLevel":true}}',
            "confidenceLevel is not a number but bool",
        ),
        (
            "application/json",
            b'{"eventType":"ANPR","ANPR":{"licensePlate":"B1","confidenceLevel":{"v":5}}}',
            "confidenceLevel is not a number but nested",
        ),
        (
            "application/json",
            b'{"eventType":"ANPR","ANPR":{"licensePlate":"B1","confidenceLevel":1'
            + b"0" * 400
            + b"}}",
            "is not a number",
        ),
        (
            "application/json",
            b'{"eventType":["ANPR"],"ANPR":{"licensePlate":"B1","confidenceLevel":5}}',
            "eventType is not text but repeated",
        ),
        ("multipart/form-data; boundary=b", b"--b\r\n\r\n<x/>", "multipart"),
        (*form(("detectionPicture.jpg", "image/jpeg", JPEG)), "no alert part"),
    ],
)
def test_a_push_that_cannot_be_read_is_refused_with_why(kind: str, body: bytes, error: str) -> None:
    with pytest.raises(AlertError, match=error):
        parse_push(kind, body)


def test_isapi_requests_and_replies() -> None:
    path, body = isapi.barrier(1)
    assert path == "/ISAPI/Parking/channels/1/barrierGate"
    assert b"<BarrierGate" in body and b"<ctrlMode>open</ctrlMode>" in body
    path, body = isapi.voice(2, "a<b & c", 4)
    assert path == "/ISAPI/Parking/channels/2/voiceBroadcastInfo"
    assert b"<TTSInfo>[v4]a&lt;b &amp; c</TTSInfo>" in body
    status = b'<BarrierGateStatus xmlns="http://www.isapi.org/ver20/XMLSchema"><barrierGateStatus>{}</barrierGateStatus></BarrierGateStatus>'
    assert [isapi.gate_state(status.replace(b"{}", v)) for v in (b"0", b"1", b"2")] == [
        GateState.UNKNOWN,
        GateState.DOWN,
        GateState.UP,
    ]
    with pytest.raises(isapi.IsapiError, match="not 0, 1 or 2"):
        isapi.gate_state(status.replace(b"{}", b"3"))
    ok = (
        b"<ResponseStatus><statusCode>1</statusCode><statusString>OK</statusString>"
        b"<subStatusCode>ok</subStatusCode></ResponseStatus>"
    )
    assert isapi.response_status(ok) == (1, "ok")
    with pytest.raises(isapi.IsapiError, match="no statusCode"):
        isapi.response_status(b"<html>login</html>")
