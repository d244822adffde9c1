"""The frames of the RS485 LED and voice boards car parks hang off their cameras: pure
bytes in, bytes out, no port.

The layout is the OLM display protocol's ("显示屏通信协议", the control card's document
v1.00-V2.6, its opening pages public at blog.sdlinka.com/2465.html): a control field of
DA (the board's address, one byte), VR (protocol version, one byte), PN (a 16-bit packet
number), CMD and DL (data length), then the data, then a CRC. What the industry calls the
``00 64 FF FF`` header is that control field with address 0, version 0x64 and packet
number 0xFFFF. With version 0x64 DL is one byte, so the data is at most 255 bytes (version
0xC8's two-byte DL is not spoken here). The CRC is CRC-16/MODBUS (reflected 0x8005, from
0xFFFF) over everything before it, sent low byte first.

The document's later pages are not public, so each command here is confirmed against
frames printed by open projects that drive or emulate these boards, and the tests replay
them byte for byte:

- ``0x62`` one line (a "temporary" text): the frame ``00 64 FF FF 62 25 00 15 01 00 02
  15 01 03 00 FF 00 00 00 00 00 00 00 12 00`` + 欢迎光临请入场停车 in GBK + ``F4 F5``,
  with each data byte named (window, entry mode, speed, hold mode, hold time, exit mode,
  speed, font, repeat count, text RGBA, background RGBA, text length low byte first),
  from a Zhenshi camera integration's serial helper (``getMIUNEW485Data``); another
  project's unit test pins the same frame's CRC.
- ``0x6E`` several lines with an optional voice: the frame ``00 64 FF FF 6E 6D 00 04 ...
  00 5C F3`` that an Android board emulator (``ZMCurry/ParkingCharges``,
  ``app/src/main/java/com/top/parkingcharges/entity/ParkingInfoEntity.kt``) parses field
  by field (save flag, line count; per line its id, mode, speed, hold, repeat, RGBA
  colour, length, GBK text, and ``0D`` after every line but the last, which ends ``00``;
  then the voice flag, "固定取值为 0X0A", the voice's length, its text and ``00``) and a
  WPF lane client builds the same way. The flag is 0x0A whether or not the frame speaks:
  a frame with no voice gives it a length of 0, as a builder of the kindred ``0x6F``
  frame for an OLM-M1D board does ("VF: 语音标志（协议固定取值 0x0A）", "VTL: 语音文本长度
  （无语音时 = 0）").
- ``0x30`` voice: one option byte (0 queue, 1 queue and play, 2 clear the queue then
  queue and play) and the GBK text (``getMIUNEW485VoiceData``).
- A reply: the board emulator answers a frame it took with the same command and one
  data byte 0 (``00 64 FF FF 6E 01 00 57 69``, a valid CRC). Most boards send nothing.

Not documented anywhere public: the QR command. The document's history names one ("绘图
二维码", E1, its colour and multi-line text added in V2.3 and V2.5) but no public source
gives its layout, and the one other QR frame seen (``E5`` with a BMP, parsed by the
Android emulator above) names its fields without saying what they mean; so a board here
has no QR command (``gates.hardware.rs485.board`` shows the lines without the code).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

ADDRESS = 0x00
VERSION = 0x64  # the version with a one-byte DL
SEQUENCE = 0xFFFF
MAX_DATA = 0xFF
_CONTROL = 6  # DA, VR, PN (2), CMD, DL: the shortest control field


class Command(enum.IntEnum):
    SPEAK = 0x30
    SHOW_LINE = 0x62
    SHOW_LINES = 0x6E


class Speech(enum.IntEnum):
    """0x30's option byte."""

    QUEUE = 0x00
    QUEUE_AND_PLAY = 0x01
    REPLACE_AND_PLAY = 0x02


@dataclass(frozen=True, slots=True)
class Colour:
    red: int
    green: int
    blue: int

    def rgba(self) -> bytes:
        return bytes((self.red, self.green, self.blue, 0))


RED = Colour(0xFF, 0, 0)
GREEN = Colour(0, 0xFF, 0)
YELLOW = Colour(0xFF, 0xFF, 0)
COLOURS = {"red": RED, "green": GREEN, "yellow": YELLOW}

# The text fields every public frame carries: enter by scrolling left (0x15), speed 1,
# hold 2 s on one line, 25 s a screen on several, font 3, repeat until replaced (0).
_SCROLL_LEFT = 0x15
_SPEED = 0x01
_HOLD_LINE = 0x02
_HOLD_SCREEN = 0x19
_FONT = 0x03
_FOREVER = 0x00
_LINE_SEP = 0x0D
_END = 0x00
_VOICE = 0x0A  # 0x6E's voice flag, fixed by the protocol


class FrameError(ValueError):
    """Bytes that are not a frame: short, a length past the end, a bad CRC."""


class TextRefused(ValueError):
    """Text a board cannot take; ``reason`` is the lane's refusal."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


def crc16_modbus(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@dataclass(frozen=True, slots=True)
class Frame:
    command: int
    data: bytes
    address: int = ADDRESS
    sequence: int = SEQUENCE

    def encode(self) -> bytes:
        if len(self.data) > MAX_DATA:
            raise FrameError(f"{len(self.data)} data bytes; a frame carries 255")
        body = (
            bytes((self.address, VERSION))
            + self.sequence.to_bytes(2, "big")
            + bytes((self.command, len(self.data)))
            + self.data
        )
        return body + crc16_modbus(body).to_bytes(2, "little")


Builder = Callable[[], Frame]


def frame_length(buffer: bytes) -> int | None:
    """The whole length of the frame ``buffer`` starts with, once its control field has
    arrived; ``None`` until then."""
    if len(buffer) < _CONTROL:
        return None
    return _CONTROL + buffer[5] + 2


def decode(raw: bytes) -> Frame:
    """One whole frame, checked: ``FrameError`` says what is wrong."""
    if len(raw) < _CONTROL + 2:
        raise FrameError(f"{len(raw)} bytes is shorter than any frame")
    if raw[1] != VERSION:
        raise FrameError(f"protocol version 0x{raw[1]:02x}, not 0x64")
    length = frame_length(raw)
    if length != len(raw):
        raise FrameError(f"the length field says {length} bytes, the frame has {len(raw)}")
    sent = int.from_bytes(raw[-2:], "little")
    if crc16_modbus(raw[:-2]) != sent:
        raise FrameError(f"CRC 0x{sent:04x} is not 0x{crc16_modbus(raw[:-2]):04x}")
    return Frame(
        command=raw[4],
        data=raw[_CONTROL:-2],
        address=raw[0],
        sequence=int.from_bytes(raw[2:4], "big"),
    )


class Reader:
    """Frames out of a byte stream that may hold noise: a serial line picks up bytes
    between frames (a board's power-up, a half-sent frame), so a start that does not
    lead to a frame with a good CRC is dropped one byte at a time until one does, and a
    start whose length field points past the bytes so far gives way to a whole good
    frame found after it."""

    def __init__(self) -> None:
        self._buffer = b""
        self.dropped = 0

    def feed(self, data: bytes) -> list[Frame]:
        self._buffer += data
        frames: list[Frame] = []
        while len(self._buffer) > 1:
            if self._buffer[1] != VERSION:
                self._drop(1)
                continue
            length = frame_length(self._buffer)
            if length is None or len(self._buffer) < length:
                later = self._later_frame()
                if later is None:
                    break
                self._drop(later)
                continue
            try:
                frames.append(decode(self._buffer[:length]))
            except FrameError:
                self._drop(1)
                continue
            self._buffer = self._buffer[length:]
        return frames

    def _later_frame(self) -> int | None:
        for start in range(1, len(self._buffer) - _CONTROL - 1):
            rest = self._buffer[start:]
            length = frame_length(rest)
            if rest[1] == VERSION and length is not None and length <= len(rest):
                try:
                    decode(rest[:length])
                except FrameError:
                    continue
                return start
        return None

    def _drop(self, count: int) -> None:
        self._buffer = self._buffer[count:]
        self.dropped += count


def gbk(text: str, *, what: str) -> bytes:
    """``text`` in GBK, the boards' only encoding; text it cannot hold is refused, never
    sent as question marks or mojibake, and so are control characters, which the
    boards' fonts have no glyph for."""
    if not text.isprintable():
        raise TextRefused("display_bad_text", f"{what} holds a control character")
    try:
        return text.encode("gbk")
    except UnicodeEncodeError as exc:
        raise TextRefused(
            "display_bad_text", f"{what} holds {text[exc.start]!r}, which GBK cannot encode"
        ) from None


def _checked(frame: Frame) -> Frame:
    if len(frame.data) > MAX_DATA:
        raise TextRefused(
            "display_overflow",
            f"{len(frame.data)} bytes of frame data; the board takes 255",
        )
    return frame


def show_line(text: str, colour: Colour = RED, *, window: int = 0, address: int = ADDRESS) -> Frame:
    encoded = gbk(text, what="the line")
    data = (
        bytes((window, _SCROLL_LEFT, _SPEED, 0, _HOLD_LINE, _SCROLL_LEFT, _SPEED, _FONT))
        + bytes((_FOREVER,))
        + colour.rgba()
        + bytes(4)  # background: black
        + len(encoded).to_bytes(2, "little")
        + encoded
    )
    return _checked(Frame(Command.SHOW_LINE, data, address=address))


def show_lines(
    lines: tuple[str, ...],
    colours: tuple[Colour, ...],
    voice: str | None = None,
    *,
    address: int = ADDRESS,
) -> Frame:
    """Several lines at once, and a voice with them where ``voice`` is given; without
    one (or with an empty one) the voice's length is 0."""
    if len(colours) != len(lines):
        raise ValueError(f"{len(lines)} lines and {len(colours)} colours")
    if len(lines) > MAX_DATA:
        raise TextRefused("display_overflow", f"{len(lines)} lines")
    data = bytearray((0, len(lines)))  # not saved; how many lines
    for number, (line, colour) in enumerate(zip(lines, colours, strict=True)):
        encoded = gbk(line, what=f"line {number + 1}")
        if len(encoded) > MAX_DATA:
            raise TextRefused("display_overflow", f"line {number + 1} is {len(encoded)} bytes")
        data += bytes((number, _SCROLL_LEFT, _SPEED, _HOLD_SCREEN, _FOREVER))
        data += colour.rgba() + bytes((len(encoded),)) + encoded
        data.append(_LINE_SEP if number < len(lines) - 1 else _END)
    spoken = b"" if voice is None else gbk(voice, what="the voice text")
    if len(spoken) > MAX_DATA:
        raise TextRefused("display_overflow", f"the voice text is {len(spoken)} bytes")
    data += bytes((_VOICE, len(spoken))) + spoken + bytes((_END,))
    return _checked(Frame(Command.SHOW_LINES, bytes(data), address=address))


def speak(text: str, option: Speech = Speech.REPLACE_AND_PLAY, *, address: int = ADDRESS) -> Frame:
    encoded = gbk(text, what="the voice text")
    return _checked(Frame(Command.SPEAK, bytes((option,)) + encoded, address=address))


def acknowledges(reply: Frame, sent: Frame) -> bool | None:
    """Whether ``reply`` is the board taking ``sent`` (True), the board answering it with
    an error status (False), or another frame altogether (None)."""
    if reply.command != sent.command or len(reply.data) != 1:
        return None
    return reply.data == b"\x00"
