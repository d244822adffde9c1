"""Lane-link messages, version 1: JSON text frames over one WebSocket per lane.

Pure values with ``parse``/``encode``; no sockets. The README's "Lane-link protocol"
section is the reference an integrator implements from; the rules enforced here are
the ones stated there. Every message is a JSON object with a ``type``. Unknown fields
are ignored (so a newer lane can talk to an older centre); unknown types, wrong field
types and values out of range are errors that change no state.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from gates.plates import PLATE_MAX
from gates.vocabulary import GateState, PlateColour

from .errors import Malformed
from .textrules import TextError, check_pay_link, check_text, is_ident
from .wire import (
    Fields,
    Message,
    choice,
    decode,
    field,
    format_time,
    ident,
    text,
    timestamp,
)

VERSION = 1
# The centre serves the lane link at this path, e.g. wss://centre.example/link.
LINK_PATH = "/link"
# A 1280x720 JPEG snapshot is ~100-150 KB, ~200 KB once base64-encoded; 1 MiB leaves room
# for a larger camera without letting one lane make the centre buffer arbitrary data.
MAX_MESSAGE_BYTES = 1 << 20
MAX_DISPLAY_LINES = 8
MAX_DISPLAY_LINE = 64
# A fault's words, shown in the console's lane row; a done's, beside its outcome.
MAX_FAULT_DETAIL = 500
MAX_DEVICE_PARTS = 16  # parts of one device a hello may list, known or not
MAX_DONE_DETAIL = 200
# A payment link is a few dozen characters; 512 still fits a QR code a panel shows
# whole (version 18 at error correction M, 89 modules a side).
MAX_DISPLAY_QR = 512
# A call joined by more presses than this names only its latest in ``call_over``: the
# lane's intercom holds at most the call of its last press.
MAX_CALL_PRESSES = 16


@dataclass(frozen=True, slots=True)
class DisplaySize:
    """How much text a lane's display shows: ``lines`` lines of ``chars`` characters,
    counted in code points (how a panel encodes Chinese is its driver's business). The
    default is the protocol's maximum."""

    lines: int = MAX_DISPLAY_LINES
    chars: int = MAX_DISPLAY_LINE

    def fits(self, lines: Sequence[str]) -> bool:
        return len(lines) <= self.lines and all(len(line) <= self.chars for line in lines)

    def to_json(self) -> dict[str, int]:
        return {"lines": self.lines, "chars": self.chars}

    @classmethod
    def from_fields(cls, fields: Fields) -> DisplaySize:
        lines = field(fields, "lines", int)
        chars = field(fields, "chars", int)
        if not (1 <= lines <= MAX_DISPLAY_LINES and 1 <= chars <= MAX_DISPLAY_LINE):
            raise Malformed(
                f"field 'display' must be 1-{MAX_DISPLAY_LINES} lines "
                f"of 1-{MAX_DISPLAY_LINE} characters"
            )
        return cls(lines, chars)


# What a lane that states no display size is taken to show.
MAX_DISPLAY = DisplaySize()

# What a lane's device may do there; a lane file gives each part to one device.
DEVICE_PARTS = ("plates", "gate", "gate_state", "display", "voice", "intercom")
# A lane with more devices than this is not a lane but a car park.
MAX_DEVICES = 16
MAX_DEVICE_AT = 64


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One of the lane's devices as the console shows it, so that whoever services the
    lane can tell which device a fault names: its ``name`` in the lane file, its vendor
    ``family``, the ``parts`` it plays and where it is (``at``: an address, a camera's
    port, a serial line). Never a credential: ``at`` holds no ``@``, so no URL's
    userinfo rides along to every console."""

    name: str
    family: str
    parts: tuple[str, ...] = ()
    at: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "family": self.family, "parts": list(self.parts), "at": self.at}

    @classmethod
    def from_fields(cls, fields: Fields) -> DeviceInfo:
        parts = field(fields, "parts", list)
        if len(parts) > MAX_DEVICE_PARTS or not all(isinstance(part, str) for part in parts):
            raise Malformed(f"field 'parts' must list at most {MAX_DEVICE_PARTS} part names")
        if len(set(parts)) != len(parts):
            raise Malformed("field 'parts' names a part twice")
        # A part a newer lane names and this end does not know is left out, not refused:
        # the list only informs the console, and refusing it would keep the lane off.
        parts = [part for part in parts if part in DEVICE_PARTS]
        at = text(fields, "at", max_len=MAX_DEVICE_AT)
        if "@" in at:
            raise Malformed("field 'at' must not hold '@': where a device is, not who logs in")
        return cls(ident(fields, "name"), ident(fields, "family"), tuple(parts), at)


def parse_devices(value: object) -> tuple[DeviceInfo, ...]:
    """A lane's ``devices`` list, as its hello and a server's report of the lane carry
    it; ``Malformed`` names the entry at fault."""
    if not isinstance(value, list):
        raise Malformed("field 'devices' must be list")
    if len(value) > MAX_DEVICES:
        raise Malformed(f"field 'devices' lists {len(value)} devices, more than {MAX_DEVICES}")
    devices: list[DeviceInfo] = []
    for index, entry in enumerate(value):
        if not isinstance(entry, dict):
            raise Malformed(f"field 'devices' entry {index} must be an object")
        try:
            devices.append(DeviceInfo.from_fields(entry))
        except Malformed as exc:
            raise Malformed(f"field 'devices' entry {index}: {exc.detail}") from None
    names = [device.name for device in devices]
    if len(set(names)) != len(names):
        twice = next(name for name in names if names.count(name) > 1)
        raise Malformed(f"field 'devices' names the device {twice!r} twice")
    return tuple(devices)


class CloseCode(enum.IntEnum):
    """WebSocket close codes of the lane link (4000-4999 are the application's own)."""

    # 1012 (service restart) comes from uvicorn itself when the centre shuts down.
    PROTOCOL_ERROR = 4400  # the first message was not a valid hello
    UNAUTHORISED = 4401  # unknown lane or wrong token; do not retry with the same token
    TIMEOUT = 4408  # no hello in time, or heartbeats missed
    REPLACED = 4409  # a newer connection claimed this lane
    # This server cannot hold the lane now (it lost its lease, or cannot reach where
    # leases are kept): dial again, this server or another of the centre.
    UNAVAILABLE = 4503
    VERSION_UNSUPPORTED = 4426


# ---------------------------------------------------------------- lane -> centre


@dataclass(frozen=True, slots=True)
class Hello(Message):
    TYPE: ClassVar[str] = "hello"
    lane: str
    token: str
    heartbeat_ms: int = 5000
    v: int = VERSION
    agent: str = ""
    # What the lane's display shows; None (the field absent) leaves it to the centre.
    display: DisplaySize | None = None
    # The lane's devices, for the console; a lane that sends none shows none.
    devices: tuple[DeviceInfo, ...] = ()

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "v": self.v,
            "lane": self.lane,
            "token": self.token,
            "heartbeat_ms": self.heartbeat_ms,
            "agent": self.agent,
        }
        if self.display is not None:
            fields["display"] = self.display.to_json()
        if self.devices:
            fields["devices"] = [device.to_json() for device in self.devices]
        return fields

    @classmethod
    def from_fields(cls, fields: Fields) -> Hello:
        heartbeat_ms = field(fields, "heartbeat_ms", int, default=5000)
        if heartbeat_ms <= 0:
            raise Malformed("field 'heartbeat_ms' must be positive")
        display = field(fields, "display", dict, default=None)
        return cls(
            v=field(fields, "v", int),
            lane=ident(fields, "lane"),
            token=text(fields, "token", max_len=256),
            heartbeat_ms=heartbeat_ms,
            agent=text(fields, "agent", max_len=128, default=""),
            display=None if display is None else DisplaySize.from_fields(display),
            devices=parse_devices(fields.get("devices", [])),
        )


@dataclass(frozen=True, slots=True)
class Heartbeat(Message):
    TYPE: ClassVar[str] = "heartbeat"


@dataclass(frozen=True, slots=True)
class Vehicle(Message):
    TYPE: ClassVar[str] = "vehicle"
    event_id: str
    at: datetime
    plate: str
    plate_colour: PlateColour
    confidence: float
    box: tuple[int, int, int, int]
    snapshot: bytes  # JPEG
    # Seen while the camera could not reach the lane, and sent now: a record of the
    # past, not the car at the gate. Sent only when true; older lanes send none.
    late: bool = False

    def fields(self) -> dict[str, Any]:
        body = {
            "event_id": self.event_id,
            "at": format_time(self.at),
            "plate": self.plate,
            "plate_colour": self.plate_colour.value,
            "confidence": self.confidence,
            "box": list(self.box),
            "snapshot": base64.b64encode(self.snapshot).decode("ascii"),
        }
        if self.late:
            body["late"] = True
        return body

    @classmethod
    def from_fields(cls, fields: Fields) -> Vehicle:
        confidence = field(fields, "confidence", float)
        if not 0.0 <= confidence <= 1.0:
            raise Malformed("field 'confidence' must be between 0 and 1")
        box = field(fields, "box", list)
        if len(box) != 4 or not all(type(n) is int and n >= 0 for n in box):
            raise Malformed("field 'box' must be [x, y, width, height] of non-negative integers")
        encoded = field(fields, "snapshot", str)
        try:
            snapshot = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise Malformed("field 'snapshot' must be base64") from None
        if snapshot[:3] != b"\xff\xd8\xff":
            raise Malformed("field 'snapshot' must be a JPEG image")
        return cls(
            event_id=ident(fields, "event_id"),
            at=timestamp(fields, "at"),
            # An empty plate is a vehicle the camera saw but could not read (无牌车).
            plate=text(fields, "plate", max_len=PLATE_MAX),
            plate_colour=choice(fields, "plate_colour", PlateColour),
            confidence=confidence,
            box=(box[0], box[1], box[2], box[3]),
            snapshot=snapshot,
            late=field(fields, "late", bool, default=False),
        )


@dataclass(frozen=True, slots=True)
class Gate(Message):
    TYPE: ClassVar[str] = "gate"
    state: GateState

    def fields(self) -> dict[str, Any]:
        return {"state": self.state.value}

    @classmethod
    def from_fields(cls, fields: Fields) -> Gate:
        return cls(state=choice(fields, "state", GateState))


@dataclass(frozen=True, slots=True)
class Call(Message):
    """The intercom's call button was pressed. ``event_id`` names the press, as a
    vehicle's names its read, so a press that arrives twice is recognisably one; it is
    optional because lanes written before it send ``{"type":"call"}`` alone (None)."""

    TYPE: ClassVar[str] = "call"
    event_id: str | None = None

    def fields(self) -> dict[str, Any]:
        return {} if self.event_id is None else {"event_id": self.event_id}

    @classmethod
    def from_fields(cls, fields: Fields) -> Call:
        return cls(event_id=ident(fields, "event_id", default=None))


@dataclass(frozen=True, slots=True)
class Escape(Message):
    """A car left the exit without paying, as the lane's own controller saw it (its loop
    detector counted a car through the barrier no open was for: a tailgater, a barrier
    forced), with the plate it last read there. ``event_id`` names the report, so one
    sent twice is recognisably one."""

    TYPE: ClassVar[str] = "escape"
    event_id: str
    at: datetime
    plate: str

    def fields(self) -> dict[str, Any]:
        return {"event_id": self.event_id, "at": format_time(self.at), "plate": self.plate}

    @classmethod
    def from_fields(cls, fields: Fields) -> Escape:
        plate = text(fields, "plate", max_len=PLATE_MAX)
        if not plate:
            raise Malformed("field 'plate' must name the plate that left")
        return cls(event_id=ident(fields, "event_id"), at=timestamp(fields, "at"), plate=plate)


@dataclass(frozen=True, slots=True)
class Fault(Message):
    TYPE: ClassVar[str] = "fault"
    code: str
    detail: str = ""
    active: bool = True  # false clears a fault the lane reported before

    def fields(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, "active": self.active}

    @classmethod
    def from_fields(cls, fields: Fields) -> Fault:
        return cls(
            code=ident(fields, "code"),
            detail=text(fields, "detail", max_len=MAX_FAULT_DETAIL, default=""),
            active=field(fields, "active", bool, default=True),
        )


@dataclass(frozen=True, slots=True)
class Ack(Message):
    """The lane has the command and will carry it out (or has already)."""

    TYPE: ClassVar[str] = "ack"
    command_id: str

    def fields(self) -> dict[str, Any]:
        return {"command_id": self.command_id}

    @classmethod
    def from_fields(cls, fields: Fields) -> Ack:
        return cls(command_id=ident(fields, "command_id"))


@dataclass(frozen=True, slots=True)
class Done(Message):
    """``detail``: what the lane could not confirm of a command it carried out ("the
    board sends no acknowledgement", "no gate sensor: the arm was not seen to move");
    empty when the device confirmed it all. Lanes older than the field send none."""

    TYPE: ClassVar[str] = "done"
    command_id: str
    detail: str = ""

    def fields(self) -> dict[str, Any]:
        body: dict[str, Any] = {"command_id": self.command_id}
        if self.detail:
            body["detail"] = self.detail
        return body

    @classmethod
    def from_fields(cls, fields: Fields) -> Done:
        return cls(
            command_id=ident(fields, "command_id"),
            detail=text(fields, "detail", max_len=MAX_DONE_DETAIL, default=""),
        )


@dataclass(frozen=True, slots=True)
class Refused(Message):
    TYPE: ClassVar[str] = "refused"
    command_id: str
    reason: str

    def fields(self) -> dict[str, Any]:
        return {"command_id": self.command_id, "reason": self.reason}

    @classmethod
    def from_fields(cls, fields: Fields) -> Refused:
        return cls(
            command_id=ident(fields, "command_id"),
            reason=text(fields, "reason", max_len=200),
        )


# ---------------------------------------------------------------- centre -> lane


@dataclass(frozen=True, slots=True)
class Welcome(Message):
    TYPE: ClassVar[str] = "welcome"
    lane: str
    heartbeat_ms: int
    v: int = VERSION

    def fields(self) -> dict[str, Any]:
        return {"v": self.v, "lane": self.lane, "heartbeat_ms": self.heartbeat_ms}

    @classmethod
    def from_fields(cls, fields: Fields) -> Welcome:
        return cls(
            v=field(fields, "v", int),
            lane=ident(fields, "lane"),
            heartbeat_ms=field(fields, "heartbeat_ms", int),
        )


@dataclass(frozen=True, slots=True)
class OpenGate(Message):
    TYPE: ClassVar[str] = "open_gate"
    command_id: str
    reason: str = ""

    def fields(self) -> dict[str, Any]:
        return {"command_id": self.command_id, "reason": self.reason}

    @classmethod
    def from_fields(cls, fields: Fields) -> OpenGate:
        return cls(
            command_id=ident(fields, "command_id"),
            reason=text(fields, "reason", max_len=64, default=""),
        )


@dataclass(frozen=True, slots=True)
class Display(Message):
    """Text for the lane's display and, optionally, a QR code of ``qr`` (a payment
    link) beside it. ``qr`` is left out of the message when None, so a lane written
    before it reads the same message as ever; one that predates it ignores the field
    and shows only the lines. Sent, it must be a URL: ``null`` is malformed."""

    TYPE: ClassVar[str] = "display"
    command_id: str
    lines: tuple[str, ...]
    qr: str | None = None

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"command_id": self.command_id, "lines": list(self.lines)}
        if self.qr is not None:
            fields["qr"] = self.qr
        return fields

    @classmethod
    def from_fields(cls, fields: Fields) -> Display:
        lines = field(fields, "lines", list)
        if not all(isinstance(line, str) for line in lines) or not MAX_DISPLAY.fits(lines):
            raise Malformed(
                f"field 'lines' must be at most {MAX_DISPLAY_LINES} strings "
                f"of at most {MAX_DISPLAY_LINE} characters"
            )
        for number, line in enumerate(lines, 1):
            try:
                check_text(line, max_len=MAX_DISPLAY_LINE)
            except TextError as exc:
                raise Malformed(f"field 'lines': line {number} {exc}") from None
        qr = field(fields, "qr", str, default=None)
        if qr is not None:
            try:
                check_pay_link(qr, max_len=MAX_DISPLAY_QR)
            except TextError as exc:
                raise Malformed(f"field 'qr' {exc}") from None
        return cls(command_id=ident(fields, "command_id"), lines=tuple(lines), qr=qr)


@dataclass(frozen=True, slots=True)
class Media(Message):
    """What the centre wants the lane to stream now. Not a command: the latest one wins,
    and the centre sends it again after a reconnect. ``stream`` names the media
    connection the lane opens for it (see ``media.messages``); ``video`` and
    ``audio`` both false means stop and close it."""

    TYPE: ClassVar[str] = "media"
    stream: str
    video: bool
    audio: bool

    def fields(self) -> dict[str, Any]:
        return {"stream": self.stream, "video": self.video, "audio": self.audio}

    @classmethod
    def from_fields(cls, fields: Fields) -> Media:
        return cls(
            stream=ident(fields, "stream"),
            video=field(fields, "video", bool),
            audio=field(fields, "audio", bool),
        )


@dataclass(frozen=True, slots=True)
class CallOver(Message):
    """The call the lane's presses ``event_ids`` made (``Call.event_id``) is over on
    the sender's side. From the centre: its agent ended it, or it was abandoned; a lane
    whose intercom still holds the call of one of those presses hangs it up, any other
    does nothing. From the lane: its intercom hung up (the driver walked away); the
    centre ends the call as a caller's hang-up. Not a command: no ack, and one sent
    while the other side is away is not sent again. Optional both ways: it is sent
    only for presses with ids; a centre from before it answers an ``unknown_type``
    error and a lane from before it logs a ``lane.link.problem``, and neither changes
    anything."""

    TYPE: ClassVar[str] = "call_over"
    event_ids: tuple[str, ...]

    def fields(self) -> dict[str, Any]:
        return {"event_ids": list(self.event_ids)}

    @classmethod
    def from_fields(cls, fields: Fields) -> CallOver:
        ids = field(fields, "event_ids", list)
        if not 1 <= len(ids) <= MAX_CALL_PRESSES:
            raise Malformed(f"field 'event_ids' must name 1-{MAX_CALL_PRESSES} presses")
        if not all(isinstance(each, str) and is_ident(each) for each in ids):
            raise Malformed(
                "field 'event_ids' must hold ids of 1-64 of A-Z a-z 0-9 _ . : - "
                "starting alphanumeric"
            )
        return cls(event_ids=tuple(ids))


@dataclass(frozen=True, slots=True)
class Error(Message):
    """A message broke a rule; nothing changed. ``ref`` echoes the offending type."""

    TYPE: ClassVar[str] = "error"
    code: str
    detail: str
    ref: str = ""

    def fields(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, "ref": self.ref}

    @classmethod
    def from_fields(cls, fields: Fields) -> Error:
        return cls(
            code=text(fields, "code", max_len=64),
            detail=text(fields, "detail", max_len=1000),
            ref=text(fields, "ref", max_len=64, default=""),
        )


LaneMessage = (
    Hello | Heartbeat | Vehicle | Gate | Call | CallOver | Escape | Fault | Ack | Done | Refused
)
CentreMessage = Welcome | OpenGate | Display | Media | CallOver | Error
Command = OpenGate | Display

_LANE_TYPES: dict[str, Callable[[Fields], Any]] = {
    cls.TYPE: cls.from_fields
    for cls in (Hello, Heartbeat, Vehicle, Gate, Call, CallOver, Escape, Fault, Ack, Done, Refused)
}
_CENTRE_TYPES: dict[str, Callable[[Fields], Any]] = {
    cls.TYPE: cls.from_fields for cls in (Welcome, OpenGate, Display, Media, CallOver, Error)
}


def parse_lane_message(raw: str | bytes) -> LaneMessage:
    """Decode what a lane sent; raises a ``LinkError`` naming the broken rule."""
    message: LaneMessage = decode(raw, MAX_MESSAGE_BYTES, _LANE_TYPES)
    return message


def parse_centre_message(raw: str | bytes) -> CentreMessage:
    """Decode what the centre sent; raises a ``LinkError`` naming the broken rule."""
    message: CentreMessage = decode(raw, MAX_MESSAGE_BYTES, _CENTRE_TYPES)
    return message


def message_type(raw: str | bytes) -> str:
    """Best-effort ``type`` of a message that failed to parse, for ``Error.ref``."""
    if isinstance(raw, bytes) or len(raw) > MAX_MESSAGE_BYTES:
        return ""
    try:
        # Not ``textrules.loads``: a lone surrogate elsewhere in the message is why it
        # failed, and the reply should still name its type.
        fields = json.loads(raw)
    except (ValueError, RecursionError):
        return ""
    kind = fields.get("type", "") if isinstance(fields, dict) else ""
    return kind if isinstance(kind, str) and is_ident(kind) else ""
