"""The AlarmInfoPlate HTTP payloads, read and written. Pure.

What a camera of this family (Vzenith 臻识, Alphadigi, Boyue and their kin) POSTs, as
printed by the open projects that answer them (``DaviLuisSantos/Alphadigi-migration``:
``ReceivedPlateDTO.cs``, ``HeartbeatDTO.cs``, ``requestBody.txt``):

    {"AlarmInfoPlate": {"channel": 0, "deviceName": "...", "ipaddr": "192.168.1.64",
      "serialno": "...", "result": {"PlateResult": {"license": "粤B12345",
      "colorType": 1, "confidence": 98, "plateid": 1021, "isoffline": 0,
      "location": {"RECT": {"left": 610, "top": 520, "right": 760, "bottom": 560}},
      "timeStamp": {"Timeval": {"sec": 1739372881, "usec": 0}},
      "imageFile": "<base64 JPEG>", "imageFileLen": 123456}}}}

    {"heartbeat": {"countid": 57214, "timeStamp": {"Timeval": {"sec": ..., "usec": 0}},
      "serialno": "QFX2182310150262"}}

The heartbeat is also the comet poll: its answer carries commands, as a plate's does.
Answers are ``{"Response_AlarmInfoPlate": {...}}`` and ``{"Response_Heartbeat": {...}}``
with ``info`` "ok" (and ``channelNum``: open that output) or "no", and ``serialData``
(``serialChannel``, base64 ``data``, ``dataLen``) for the camera to write to its RS485.

A plate's answer also names the read it answers, ``"ContinuePushOffline": {"plateid":
N, "continue": 1}``: the Vzenith HTTP push document (§2.1.2 断线重传) has the server
echo an online read's ``plateid``, and answer a stored one (``isoffline: 1``) with
whether to go on; the camera pushes its next stored read only after an answer with
``continue`` 1. The object, not a flag, is how the document and the open servers that
answer these cameras print it (Vzenith's own HTTP demo server answers every read with
it); no source prints it in a heartbeat's answer, so a heartbeat's has none.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gates.hardware.plate_text import PlateTextError, camera_plate
from gates.lane.drivers import VehicleSeen
from gates.textrules import TextError, loads
from gates.vocabulary import PlateColour

# colorType as the family's documents number it.
COLOURS: Mapping[int, PlateColour] = {
    0: PlateColour.UNKNOWN,
    1: PlateColour.BLUE,
    2: PlateColour.YELLOW,
    3: PlateColour.WHITE,
    4: PlateColour.BLACK,
    5: PlateColour.GREEN,
}
SERIAL_MAX = 1024  # bytes of one serialData entry; an LED frame is a few hundred


class BadPush(ValueError):
    """The push is not an AlarmInfoPlate payload this lane can use; the message says
    why, for the lane's log."""


@dataclass(frozen=True, slots=True)
class PlateRead:
    plate_id: int | None  # the camera's id of the read, the same on a resend
    vehicle: VehicleSeen
    # What makes a resend the same read: its id, with the camera's time of it and the
    # plate, since a camera that restarts may count its ids from the start again and a
    # new car must not pass for a resend of an old one. None without an id.
    identity: tuple[object, ...] | None = None


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A heartbeat, or a comet poll: the camera is there and asks for commands."""

    serial: str


def read_push(body: bytes, now: datetime) -> PlateRead | Heartbeat:
    """A push's meaning; ``BadPush`` for anything else. ``now`` is the time of a
    read the camera sends as it happens (its clock may be off; ours is the centre's);
    a late read keeps the camera's time of it."""
    document = _document(body)
    if "heartbeat" in document:
        beat = _object(document["heartbeat"], "heartbeat")
        serial = beat.get("serialno", "")
        return Heartbeat(serial if isinstance(serial, str) else "")
    alarm = _object(document.get("AlarmInfoPlate"), "AlarmInfoPlate")
    result = _object(_object(alarm.get("result"), "result").get("PlateResult"), "PlateResult")
    late = result.get("isoffline", alarm.get("isoffline", 0)) == 1
    plate = _plate(result)
    colour = COLOURS.get(_integer(result, "colorType", 0, 255, default=0), PlateColour.UNKNOWN)
    confidence = _integer(result, "confidence", 0, 100) / 100
    rect = _object(_object(result.get("location"), "location").get("RECT"), "RECT")
    left, top = _integer(rect, "left", 0, 65535), _integer(rect, "top", 0, 65535)
    right, bottom = _integer(rect, "right", left, 65535), _integer(rect, "bottom", top, 65535)
    snapshot = _jpeg(result.get("imageFile"))
    plate_id = result.get("plateid")
    if not isinstance(plate_id, int) or isinstance(plate_id, bool):
        plate_id = None
    return PlateRead(
        plate_id,
        VehicleSeen(
            at=_seen_at(result) if late else now,
            plate=plate,
            plate_colour=colour,
            confidence=confidence,
            box=(left, top, right - left, bottom - top),
            snapshot_jpeg=snapshot,
            late=late,
        ),
        None if plate_id is None else (plate_id, _stamp(result), plate),
    )


def reply(
    heartbeat: bool,
    channel: int | None,
    serial: Sequence[tuple[int, bytes]],
    *,
    plate_id: int | None = None,
    continue_offline: bool = False,
) -> bytes:
    """The answer to a plate or a heartbeat: open output ``channel`` if not None, write
    each ``(serialChannel, bytes)`` to the camera's RS485, and, answering read
    ``plate_id``, say whether the camera is to go on pushing the reads it stored while
    no server answered (``ContinuePushOffline``)."""
    answer: dict[str, Any] = {"info": "ok" if channel is not None else "no"}
    if plate_id is not None:
        answer["ContinuePushOffline"] = {
            "plateid": plate_id,
            "continue": 1 if continue_offline else 0,
        }
    if channel is not None:
        answer["channelNum"] = channel
    if serial:
        answer["serialData"] = [
            {
                "serialChannel": port,
                "data": base64.b64encode(data).decode("ascii"),
                "dataLen": len(data),
            }
            for port, data in serial
        ]
    key = "Response_Heartbeat" if heartbeat else "Response_AlarmInfoPlate"
    return json.dumps({key: answer}, ensure_ascii=False).encode("utf-8")


def _document(body: bytes) -> dict[str, Any]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        # Older firmware writes the plate in GBK; GB 18030 reads all of GBK.
        try:
            text = body.decode("gb18030")
        except UnicodeDecodeError:
            raise BadPush("neither UTF-8 nor GB 18030 text") from None
    try:
        document = loads(text)
    except TextError as exc:
        raise BadPush(str(exc)) from None
    return _object(document, "the body")


def _object(value: object, name: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise BadPush(f"{name} is not a JSON object")
    return value


def _integer(
    fields: Mapping[str, Any], name: str, low: int, high: int, default: int | None = None
) -> int:
    value = fields.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise BadPush(f"{name} must be a whole number from {low} to {high}, not {value!r}")
    return value


def _plate(result: Mapping[str, Any]) -> str:
    value = result.get("license")
    if not isinstance(value, str):
        raise BadPush(f"license must be text, not {value!r}")
    try:
        return camera_plate(value)
    except PlateTextError as exc:
        raise BadPush(f"license: {exc}") from None


def _jpeg(value: object) -> bytes:
    if not isinstance(value, str) or not value:
        raise BadPush("no imageFile: turn on the full picture in the camera's push settings")
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadPush("imageFile is not base64") from None
    if data[:3] != b"\xff\xd8\xff":
        raise BadPush("imageFile is not a JPEG")
    return data


def _stamp(result: Mapping[str, Any]) -> object:
    """The camera's time of a read as it wrote it, to tell reads apart (not read as a
    time: a live read's may be missing or odd, and is not refused for it)."""
    stamp = result.get("timeStamp")
    timeval = stamp.get("Timeval") if isinstance(stamp, dict) else None
    if not isinstance(timeval, dict):
        return None
    return (repr(timeval.get("sec")), repr(timeval.get("usec")))


def _seen_at(result: Mapping[str, Any]) -> datetime:
    stamp = _object(_object(result.get("timeStamp"), "timeStamp").get("Timeval"), "Timeval")
    seconds = _integer(stamp, "sec", 0, 2**33)
    return datetime.fromtimestamp(seconds, UTC)
