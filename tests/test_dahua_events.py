"""Dahua's TrafficJunction text and the pictures after it, read without sockets."""

from __future__ import annotations

import pytest

from gates.hardware.dahua.events import COLOURS, EventError, Snaps, fields, reading
from gates.hardware.multipart import Part
from gates.vocabulary import PlateColour
from tests.test_hikvision_alerts import JPEG

TEXT = "\r\n".join(
    [
        "Events[0].EventBaseInfo.Code=TrafficJunction",
        "Events[0].EventBaseInfo.Action=Pulse",
        "Events[0].Object.BoundingBox[0]=3848",
        "Events[0].Object.BoundingBox[1]=6128",
        "Events[0].Object.BoundingBox[2]=4280",
        "Events[0].Object.BoundingBox[3]=6288",
        "Events[0].Object.Text=京AC0003",
        "Events[0].TrafficCar.PlateNumber=京AC0003",
        "Events[0].TrafficCar.PlateColor=Blue",
        "Events[0].TrafficCar.VehicleColor=White",
    ]
)


def text(body: str) -> Part:
    return Part({"content-type": "text/plain"}, body.encode())


def picture(data: bytes = JPEG) -> Part:
    return Part({"content-type": "image/jpeg"}, data)


def test_a_junction_then_its_scene_is_a_car_with_its_box() -> None:
    snaps = Snaps()
    assert snaps.take(text(TEXT)) is None
    car = snaps.take(picture())
    assert car is not None
    # The grid box 3848,6128 - 4280,6288 on 8192, in a 1000 x 500 scene.
    assert (car.plate, car.colour, car.box, car.snapshot_jpeg) == (
        "京AC0003",
        PlateColour.BLUE,
        (470, 374, 53, 10),
        JPEG,
    )
    # Without a confidence in the text the camera vouched for nothing: 0, not a guess.
    assert car.confidence == 0.0
    assert snaps.take(picture()) is None  # the plate crop after the scene: no second car


def test_the_plates_confidence_is_on_dahuas_0_255_scale() -> None:
    """Object.Confidence runs 0-255 (NetSDK's NET_MSG_OBJECT): 160, as a printed event's
    Vehicle.Confidence is, is not refused as over 100, and 255 is certain."""
    for said, meant in (("160", 160 / 255), ("255", 1.0), ("0", 0.0)):
        read = reading(fields(f"{TEXT}\r\nEvents[0].Object.Confidence={said}".encode()))
        assert read is not None and read.confidence == meant


def test_the_plates_box_is_the_objects_not_the_cars() -> None:
    """The event's Object is the plate; a TrafficCar.BoundingBox of zeros, as a printed
    event has it, does not hide the plate's box."""
    zeros = "".join(f"\r\nEvents[0].TrafficCar.BoundingBox[{i}]=0" for i in range(4))
    read = reading(fields((TEXT + zeros).encode()))
    assert read is not None and read.grid_box == (3848, 6128, 4280, 6288)


def test_heartbeats_and_pictures_without_text_are_no_cars() -> None:
    snaps = Snaps()
    assert snaps.take(text("Heartbeat")) is None
    assert snaps.take(picture()) is None
    other = TEXT.replace("TrafficJunction", "TrafficParking")
    assert snaps.take(text(other)) is None
    assert snaps.take(picture()) is None


def test_fields_keep_the_event_keys_and_colours_map() -> None:
    found = fields(TEXT.encode() + b"\r\nnot a line\r\nOther=1")
    assert found["TrafficCar.PlateColor"] == "Blue" and "Other" not in found
    assert COLOURS["YellowGreen"] is PlateColour.YELLOW_GREEN
    assert COLOURS["ShadowGreen"] is PlateColour.GREEN
    unread = reading(fields(TEXT.replace("京AC0003", "无牌").encode()))
    assert unread is not None and unread.plate == ""


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (TEXT.replace("=3848", "=9000"), "grid"),
        (TEXT.replace("=3848", "=²"), "grid"),  # a digit to str.isdigit, not to int
        (TEXT.replace("=4280", "=100"), "left, top, right, bottom"),
        (TEXT + "\r\nEvents[0].Object.Confidence=abc", "not a number"),
        (TEXT + "\r\nEvents[0].Object.Confidence=256", "not 0-255"),
        (TEXT.replace("京AC0003", "京\x01AC0003"), "control character"),
    ],
)
def test_a_bad_junction_is_refused_and_leaves_no_car_waiting(body: str, error: str) -> None:
    snaps = Snaps()
    with pytest.raises(EventError, match=error):
        snaps.take(text(body))
    assert snaps.take(picture()) is None


@pytest.mark.parametrize(
    "odd", ["\u2028", "\u2029", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85"]
)
def test_a_plate_holding_a_line_separator_is_refused_not_cut_short(odd: str) -> None:
    """Only CRLF ends a line: a plate with U+2028 or its kin in it is refused whole,
    never read as the plate before that character."""
    body = TEXT.replace("京AC0003", f"京A{odd}C0003")
    assert fields(body.encode())["TrafficCar.PlateNumber"] == f"京A{odd}C0003"
    snaps = Snaps()
    with pytest.raises(EventError, match=f"U\\+{ord(odd):04X}"):
        snaps.take(text(body))
    assert snaps.take(picture()) is None


def test_lines_end_in_crlf_or_lf_and_keep_their_spaces_out() -> None:
    found = fields(b"Events[0].Code=TrafficJunction\nEvents[0].TrafficCar.PlateNumber=A1 \r\n")
    assert found == {"Code": "TrafficJunction", "TrafficCar.PlateNumber": "A1"}


def test_text_that_is_not_utf8_is_refused() -> None:
    with pytest.raises(EventError, match="UTF-8"):
        Snaps().take(Part({"content-type": "text/plain"}, b"Events[0].Code=\xff"))
