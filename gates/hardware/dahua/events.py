"""Dahua ITC's event stream, read: ``snapManager.cgi?action=attachFileProc`` with
``Events=[TrafficJunction]`` sends, for each car, a ``text/plain`` part of
``Events[0].<key>=<value>`` lines (HTTP API V3.26 §10), then the car's JPEGs; and, between
cars, a ``Heartbeat`` part every ``heartbeat`` seconds. ``Snaps`` pairs a car's text
with its picture as the parts arrive. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from gates.hardware.jpeg import jpeg_size, scaled_box
from gates.hardware.multipart import Part
from gates.hardware.plate_text import PlateTextError, camera_plate
from gates.textrules import parse_count
from gates.vocabulary import PlateColour


class EventError(ValueError):
    """A text part that is not a TrafficJunction the lane can use."""


@dataclass(frozen=True, slots=True)
class Car:
    plate: str  # "" for a car the camera could not read
    colour: PlateColour
    confidence: float
    box: tuple[int, int, int, int]
    snapshot_jpeg: bytes


# TrafficCar.PlateColor values, as Dahua's NetSDK lists them for the TrafficCar
# (``DEV_EVENT_TRAFFIC_TRAFFICCAR_INFO.szPlateColor`` and ``EM_NET_PLATE_COLOR_TYPE`` in
# ``15735400536-dev/camera-sdk-starter``): Blue, Yellow, White, Black,
# YellowbottomBlackText, BluebottomWhiteText, BlackBottomWhiteText, ShadowGreen (渐变绿,
# a new-energy car's), YellowGreen (黄绿双拼, a new-energy large vehicle's); "Unknown"
# when none was read. Green is in no list; it is kept for firmware that writes it.
COLOURS: dict[str, PlateColour] = {
    "Blue": PlateColour.BLUE,
    "BluebottomWhiteText": PlateColour.BLUE,
    "Yellow": PlateColour.YELLOW,
    "YellowbottomBlackText": PlateColour.YELLOW,
    "White": PlateColour.WHITE,
    "Black": PlateColour.BLACK,
    "BlackBottomWhiteText": PlateColour.BLACK,
    "Green": PlateColour.GREEN,
    "ShadowGreen": PlateColour.GREEN,
    "YellowGreen": PlateColour.YELLOW_GREEN,
}

# Dahua gives boxes as (left, top, right, bottom) on a 0-8192 grid over the picture
# ("坐标[0, 8191]", ``OBJECT_RELATED_INFO.stuBoundingBox``; ``NET_RECT``, "各边距按整长
# 8192的比例", in ``15735400536-dev/camera-sdk-starter``).
GRID = 8192
CONFIDENCE_TOP = 255  # an object's confidence runs 0-255
_TRIMMED = " \t\r"  # around a key or a value: spaces, and the CR of a CRLF


def fields(text: bytes) -> dict[str, str]:
    """``Events[0].TrafficCar.PlateNumber=京A12345`` lines as a dict, keys without
    ``Events[0].``. Dahua writes UTF-8 (plates hold Chinese).

    The lines end in CRLF (V3.26 §10), so they are cut there and nowhere else, and
    only spaces, tabs and that CR are trimmed: ``str.splitlines`` and ``str.strip``
    also cut at U+2028, U+0085, VT, FF and U+001C-U+001E, which would read
    ``PlateNumber=A\\u20281`` as the plate ``A``. Kept in the value, such a character
    meets the plate check, which refuses it."""
    try:
        lines = text.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        raise EventError("the event text is not UTF-8") from None
    found: dict[str, str] = {}
    for line in lines:
        key, equals, value = line.strip(_TRIMMED).partition("=")
        if equals and key.startswith("Events[0]."):
            found[key.removeprefix("Events[0].")] = value.strip(_TRIMMED)
    return found


def is_heartbeat(part: Part) -> bool:
    return part.body.strip() == b"Heartbeat"


@dataclass(frozen=True, slots=True)
class _Reading:
    plate: str
    colour: PlateColour
    confidence: float
    grid_box: tuple[int, int, int, int] | None  # left, top, right, bottom on the grid


def reading(found: dict[str, str]) -> _Reading | None:
    """The plate of a TrafficJunction's text, None for another event's."""
    code = found.get("EventBaseInfo.Code", found.get("Code", ""))
    if code != "TrafficJunction":
        return None
    try:
        plate = camera_plate(found.get("TrafficCar.PlateNumber", found.get("Object.Text", "")))
    except PlateTextError as exc:
        raise EventError(str(exc)) from None
    colour = found.get("TrafficCar.PlateColor", found.get("PlateInfo.FrontPlateColor", ""))
    return _Reading(
        plate=plate,
        colour=COLOURS.get(colour, PlateColour.UNKNOWN),
        confidence=_confidence(found),
        grid_box=_grid_box(found),
    )


def _confidence(found: dict[str, str]) -> float:
    """``Object.Confidence``: the event's ``Object`` is the plate (``ObjectType`` Plate,
    its ``Text`` the plate, as a TrafficJunction printed in full shows it,
    ``YutthapoomSa/dahua-api`` ``text.js``), and an object's confidence is 0-255
    (``NET_MSG_OBJECT.nConfidence``, "置信度(0~255)", in Dahua's NetSDK as
    ``15735400536-dev/camera-sdk-starter`` ``NetSDKLibStructure.java`` carries it; the
    same event's ``Vehicle.Confidence`` is 160). No source gives the plate a confidence
    under ``TrafficCar``. Without it the camera has not said how sure it is, and the
    lane says 0: the centre's agent sees a read no one vouched for, rather than a
    made-up certainty."""
    text = found.get("Object.Confidence", "")
    if not text:
        return 0.0
    try:
        value = float(text)
    except ValueError:
        raise EventError(f"Confidence {text[:20]!r} is not a number") from None
    if not 0 <= value <= CONFIDENCE_TOP:
        raise EventError(f"Confidence {value:g} is not 0-{CONFIDENCE_TOP}")
    return value / CONFIDENCE_TOP


def _grid_box(found: dict[str, str]) -> tuple[int, int, int, int] | None:
    """The plate's box: ``Object.BoundingBox``, the event's object being the plate
    (``DEV_EVENT_TRAFFICJUNCTION_INFO.stuObject``, its body ``stuVehicle``, in
    ``15735400536-dev/camera-sdk-starter`` ``NetSDKLibStructure.java``; ``ObjectType``
    Plate in ``YutthapoomSa/dahua-api`` ``text.js``), else ``TrafficCar.BoundingBox``,
    which no source explains."""
    for prefix in ("Object.BoundingBox", "TrafficCar.BoundingBox"):
        texts = [found.get(f"{prefix}[{i}]", "") for i in range(4)]
        if all(texts):
            numbers = [parse_count(t) for t in texts]
            if not all(n is not None and n <= GRID for n in numbers):
                raise EventError(f"{prefix} {texts} is not on the 0-{GRID} grid")
            left, top, right, bottom = (n or 0 for n in numbers)
            if right < left or bottom < top:
                raise EventError(f"{prefix} {texts} is not left, top, right, bottom")
            return left, top, right, bottom
    return None


class Snaps:
    """A car's text part, then its JPEGs: the first JPEG after the text is the scene
    (Dahua sends the scene before the plate crop), and makes the car. A JPEG with no
    text before it, or a second one, belongs to no car and is let go."""

    def __init__(self) -> None:
        self._pending: _Reading | None = None

    def take(self, part: Part) -> Car | None:
        """The car this part completes, if it does. ``EventError`` for a bad text part."""
        if part.content_type == "image/jpeg" or part.body[:3] == b"\xff\xd8\xff":
            pending, self._pending = self._pending, None
            size = jpeg_size(part.body)
            if pending is None or size is None:
                return None
            box = (0, 0, 0, 0)
            if pending.grid_box is not None:
                left, top, right, bottom = pending.grid_box
                box = scaled_box((left, top, right - left, bottom - top), GRID, size)
            return Car(pending.plate, pending.colour, pending.confidence, box, part.body)
        if is_heartbeat(part):
            return None
        self._pending = None  # first: a text part that cannot be read leaves no car waiting
        self._pending = reading(fields(part.body))
        return None
