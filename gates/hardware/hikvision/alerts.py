"""Hikvision's ANPR push, read: what a listening host gets from an ANPR camera.

The documented form (ISAPI, Vehicle Access Control Management, the listening flow) is a
``multipart/form-data`` POST: an ``anpr.xml`` part holding an ``EventNotificationAlert``
whose ``eventType`` is ``ANPR``, then the JPEGs its ``pictureInfoList`` names
(``detectionPicture.jpg``, the scene; ``licensePlatePicture.jpg``, the plate). Some
firmware posts the XML bare, or the same alert as JSON. XML is read by ``xmltext``
(defusedxml, in the encoding it declares). Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import Element

from gates.hardware.hikvision import xmltext
from gates.hardware.jpeg import jpeg_size, scaled_box
from gates.hardware.multipart import MultipartError, split
from gates.hardware.plate_text import PlateTextError, camera_plate
from gates.plates import PROVINCE_CODES
from gates.textrules import TextError, loads
from gates.vocabulary import PlateColour

# An alert's deepest element is a few levels down (<ANPR><pictureInfoList><pictureInfo>).
MAX_DEPTH = 32


class AlertError(ValueError):
    """The push is not an alert we can read; the message says why, for the log."""


@dataclass(frozen=True, slots=True)
class Picture:
    name: str
    kind: str  # ISAPI's pictureInfo type: detectionPicture, licensePlatePicture, ...
    plate_rect: tuple[float, float, float, float] | None  # x, y, w, h in thousandths


@dataclass(frozen=True, slots=True)
class PlateAlert:
    plate: str  # "" for a car with no plate or one the camera could not read
    colour: PlateColour
    confidence: float  # 0-1
    direction: str  # forward, reverse, unknown
    at: datetime | None
    pictures: tuple[Picture, ...]
    jpegs: dict[str, bytes]  # by part name ("detectionPicture.jpg")


# ISAPI's plateColor values (the ANPR alert's enum). Hikvision's yellow-green is a
# new-energy large vehicle's; its civil-aviation and other colours are no GA 36 plate.
COLOURS: dict[str, PlateColour] = {
    "blue": PlateColour.BLUE,
    "yellow": PlateColour.YELLOW,
    "white": PlateColour.WHITE,
    "black": PlateColour.BLACK,
    "green": PlateColour.GREEN,
    "newEnergyGreen": PlateColour.GREEN,
    "newEnergyYellowGreen": PlateColour.YELLOW_GREEN,
}

# Chinese firmware writes the colour before the plate ("蓝浙AX2P12"); the colour is in
# plateColor already. 黑 is also Heilongjiang's abbreviation, so a colour word is cut only
# when a province follows it.
_COLOUR_WORDS = ("黄绿", "渐变绿", "蓝", "黄", "绿", "白", "黑")

MAX_JPEG = 2 * 1024 * 1024


def parse_push(content_type: str, body: bytes) -> PlateAlert | None:
    """The plate in a push, or None for an alert that is not ANPR (a camera also pushes
    its other events, and heartbeats, to the same host). ``AlertError`` otherwise."""
    kind = content_type.split(";")[0].strip().lower()
    jpegs: dict[str, bytes] = {}
    if kind.startswith("multipart/"):
        try:
            parts = split(content_type, body, max_part=MAX_JPEG)
        except MultipartError as exc:
            raise AlertError(f"multipart: {exc}") from None
        alert: dict[str, Any] | None = None
        for part in parts:
            if part.content_type == "image/jpeg" or part.body[:3] == b"\xff\xd8\xff":
                jpegs[part.name] = part.body
            elif alert is None:
                alert = _document(part.body)
        if alert is None:
            raise AlertError("no alert part in the multipart body")
    else:
        alert = _document(body)
    return _plate(alert, jpegs)


def _document(data: bytes) -> dict[str, Any]:
    """An alert as nested dicts, whether it came as XML or as JSON."""
    text = data.lstrip()
    if text[:1] in (b"{", b"["):
        try:
            document = loads(text)
        except TextError as exc:
            raise AlertError(f"JSON: {exc}") from None
        if not isinstance(document, dict):
            raise AlertError("JSON: not an object")
        inner = document.get("EventNotificationAlert", document)
        if not isinstance(inner, dict):
            raise AlertError("JSON: not an object")
        return inner
    try:
        root = xmltext.parse(text)
    except xmltext.XmlError as exc:
        raise AlertError(f"XML: {exc}") from None
    if _local(root.tag) != "EventNotificationAlert":
        raise AlertError(f"XML: root is {_local(root.tag)!r}, not EventNotificationAlert")
    tree = _tree(root, MAX_DEPTH)
    assert isinstance(tree, dict)
    return tree


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _tree(element: Element, depth: int) -> dict[str, Any] | str:
    """An element as a dict of its children (a repeated child becomes a list), or its
    text; ``AlertError`` for one nested deeper than ``depth`` (an alert is a few levels
    deep, and a body of 4 MB of nesting would exhaust the stack)."""
    if depth <= 0:
        raise AlertError(f"XML nested deeper than {MAX_DEPTH} elements")
    children = list(element)
    if not children:
        return (element.text or "").strip()
    tree: dict[str, Any] = {}
    for child in children:
        key, value = _local(child.tag), _tree(child, depth - 1)
        if key in tree:
            tree[key] = [*tree[key], value] if isinstance(tree[key], list) else [tree[key], value]
        else:
            tree[key] = value
    return tree


def _plate(alert: dict[str, Any], jpegs: dict[str, bytes]) -> PlateAlert | None:
    event = _text(alert, "eventType")
    if event.upper() != "ANPR":
        return None
    anpr = alert.get("ANPR")
    if not isinstance(anpr, dict):
        raise AlertError("an ANPR alert without its <ANPR> block")
    plate = plate_of(_text(anpr, "licensePlate"))
    confidence = _number(anpr.get("confidenceLevel", ""), "confidenceLevel")
    if not 0 <= confidence <= 100:
        raise AlertError(f"confidenceLevel {confidence:g} is not 0-100")
    return PlateAlert(
        plate=plate,
        colour=COLOURS.get(_text(anpr, "plateColor"), PlateColour.UNKNOWN),
        confidence=confidence / 100,
        direction=_text(anpr, "direction") or "unknown",
        at=_time(_text(alert, "dateTime")),
        pictures=_pictures(anpr.get("pictureInfoList")),
        jpegs=jpegs,
    )


def _text(block: dict[str, Any], name: str) -> str:
    """A field that is text: an XML element with no children, a JSON string. Anything
    else (nested elements, a repeated one, a JSON object, array or number) is refused,
    not written out as Python's repr of it ("{'a': '1'}") and taken for a plate."""
    value = block.get(name, "")
    if not isinstance(value, str):
        raise AlertError(f"{name} is not text but {_kind(value)}")
    return value


def _kind(value: object) -> str:
    if isinstance(value, dict):
        return "nested fields"
    if isinstance(value, list):
        return "repeated"
    return type(value).__name__


def plate_of(text: str) -> str:
    """The plate as the centre spells it, from ``licensePlate``."""
    try:
        plate = camera_plate(text)
    except PlateTextError as exc:
        raise AlertError(str(exc)) from None
    for word in _COLOUR_WORDS:
        rest = plate[len(word) :]
        if plate.startswith(word) and rest[:1] in PROVINCE_CODES:
            return rest
    return plate


def _number(value: object, name: str) -> float:
    """A number as XML text or a JSON number (not a JSON true, which Python counts)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise AlertError(f"{name} is not a number but {_kind(value)}")
    try:
        return float(value)
    except (ValueError, OverflowError):  # a JSON integer of 400 digits overflows
        raise AlertError(f"{name} {str(value)[:20]!r} is not a number") from None


def _time(text: str) -> datetime | None:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        return None
    return at if at.tzinfo is not None else None


def _pictures(listing: object) -> tuple[Picture, ...]:
    # XML nests <pictureInfo> in <pictureInfoList>; JSON makes the list an array.
    entries = listing.get("pictureInfo", []) if isinstance(listing, dict) else listing
    if not isinstance(entries, list):
        entries = [entries]
    pictures: list[Picture] = []
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        rect = entry.get("plateRect")
        box = None
        if isinstance(rect, dict):
            box = (
                _number(rect.get("X", rect.get("x", "")), "plateRect.X"),
                _number(rect.get("Y", rect.get("y", "")), "plateRect.Y"),
                _number(rect.get("width", ""), "plateRect.width"),
                _number(rect.get("height", ""), "plateRect.height"),
            )
            if not all(0 <= n <= 1000 for n in box):
                raise AlertError(f"plateRect {box} is not in thousandths")
        pictures.append(Picture(_text(entry, "fileName"), _text(entry, "type"), box))
    return tuple(pictures)


NO_BOX = (0, 0, 0, 0)


def snapshot(alert: PlateAlert) -> tuple[bytes, tuple[int, int, int, int]] | None:
    """The picture to send for the car, and the plate's box in it: the scene
    (``detectionPicture``) where the push has it, with the box its ``plateRect`` gives in
    thousandths of the picture; else the largest JPEG, with no box (the centre then
    finds the plate itself). None when the push carried no picture at all."""
    for picture in alert.pictures:
        jpeg = alert.jpegs.get(picture.name)
        if picture.kind == "detectionPicture" and jpeg is not None:
            size = jpeg_size(jpeg)
            if picture.plate_rect is None or size is None:
                return jpeg, NO_BOX
            return jpeg, scaled_box(picture.plate_rect, 1000, size)
    pictures = [jpeg for jpeg in alert.jpegs.values() if jpeg_size(jpeg) is not None]
    if not pictures:
        return None
    return max(pictures, key=len), NO_BOX
