"""An RS485 LED and voice board on a bus reached over TCP, as a serial device server (or
pyserial's ``socket://``) reaches one: it reads the OLM frames off the wire, checks their
CRC, decodes their GBK, and keeps what it shows and says.

The frame content is parsed here from the layouts ``gates.hardware.rs485.frames`` cites,
independently of the code that builds them, so a test that round-trips through both
checks each against the documented layout rather than against itself. Faults: the reply a
board gives (none, which most firmwares do; an echo; an echo with a bad CRC; garbage; an
error status), a board at another address, and the bus going away (``stop``).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from dataclasses import dataclass, field

from gates.hardware.rs485 import frames
from tests.emulators.tcp import TcpDevice, TcpPort


class Reply(enum.Enum):
    NONE = "none"
    ACK = "ack"
    BAD_CRC = "bad_crc"
    GARBAGE = "garbage"
    ERROR = "error"


@dataclass
class Shown:
    lines: dict[int, str] = field(default_factory=dict)
    colours: dict[int, frames.Colour] = field(default_factory=dict)


class BoardEmulator(TcpDevice):
    def __init__(self, *, address: int = frames.ADDRESS, reply: Reply = Reply.NONE) -> None:
        self.address = address
        self.reply = reply
        self.shown = Shown()
        self.spoken: list[str] = []
        self.frames: list[frames.Frame] = []
        self.taken_at: list[float] = []  # perf_counter as each frame was whole on the bus
        self.dropped = 0  # bytes the board threw away: noise, bad CRCs
        self._tcp = TcpPort(self._serve)
        self._changed = asyncio.Condition()
        # One reader for every connection: they are all the same two wires, and a
        # master's noise garbles what the next one sends.
        self._bus = frames.Reader()

    @property
    def url(self) -> str:
        return f"socket://127.0.0.1:{self.port}"

    def lines(self) -> tuple[str, ...]:
        return tuple(self.shown.lines[key] for key in sorted(self.shown.lines))

    async def wait_frames(self, count: int) -> None:
        async with asyncio.timeout(30), self._changed:
            await self._changed.wait_for(lambda: len(self.frames) >= count)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stream = self._bus
        with self._tcp.connection(writer), contextlib.suppress(ConnectionResetError):
            while data := await reader.read(4096):
                for frame in stream.feed(data):
                    if frame.address == self.address:
                        self._take(frame)
                        writer.write(self._answer(frame))
                self.dropped = stream.dropped
                async with self._changed:
                    self._changed.notify_all()

    def _take(self, frame: frames.Frame) -> None:
        if frame.command == frames.Command.SHOW_LINE:
            window, colour, text = parse_line(frame.data)
            self.shown.lines[window] = text
            self.shown.colours[window] = colour
        elif frame.command == frames.Command.SHOW_LINES:
            lines, voice = parse_lines(frame.data)
            self.shown = Shown(
                {n: text for n, (_, text) in enumerate(lines)},
                {n: colour for n, (colour, _) in enumerate(lines)},
            )
            if voice is not None:
                self.spoken.append(voice)
        elif frame.command == frames.Command.SPEAK:
            option, text = frame.data[0], frame.data[1:].decode("gbk")
            if option == frames.Speech.REPLACE_AND_PLAY:
                self.spoken.clear()
            self.spoken.append(text)
        self.frames.append(frame)
        self.taken_at.append(time.perf_counter())

    def _answer(self, frame: frames.Frame) -> bytes:
        echo = frames.Frame(frame.command, b"\x00", address=frame.address).encode()
        match self.reply:
            case Reply.NONE:
                return b""
            case Reply.ACK:
                return echo
            case Reply.BAD_CRC:
                return echo[:-1] + bytes((echo[-1] ^ 0xFF,))
            case Reply.GARBAGE:
                return b"\x5a\xa5\x13\x37\xff"
            case Reply.ERROR:
                return frames.Frame(frame.command, b"\x01", address=frame.address).encode()


def parse_line(data: bytes) -> tuple[int, frames.Colour, str]:
    """0x62: window, 8 bytes of effects, repeat count, RGBA, background, length, text."""
    window = data[0]
    colour = frames.Colour(*data[9:12])
    length = int.from_bytes(data[17:19], "little")
    text = data[19 : 19 + length]
    if len(text) != length or len(data) != 19 + length:
        raise ValueError(f"0x62 data of {len(data)} bytes for a {length}-byte text")
    return window, colour, text.decode("gbk")


def parse_lines(data: bytes) -> tuple[list[tuple[frames.Colour, str]], str | None]:
    """0x6E: save flag, count; per line id, mode, speed, hold, repeat, RGBA, length, text
    and ``0D`` (``00`` after the last); then the voice flag (always 0x0A), length, text,
    ``00``. A voice of length 0 is no voice."""
    count, at = data[1], 2
    lines: list[tuple[frames.Colour, str]] = []
    for number in range(count):
        if data[at] != number:
            raise ValueError(f"line {number} has id {data[at]}")
        colour = frames.Colour(*data[at + 5 : at + 8])
        length = data[at + 9]
        text = data[at + 10 : at + 10 + length].decode("gbk")
        at += 10 + length
        if data[at] != (0x0D if number < count - 1 else 0x00):
            raise ValueError(f"line {number} ends 0x{data[at]:02x}")
        lines.append((colour, text))
        at += 1
    flag, length = data[at], data[at + 1]
    if flag != 0x0A:
        raise ValueError(f"the voice flag is 0x{flag:02x}, not 0x0a")
    voice = data[at + 2 : at + 2 + length].decode("gbk")
    if data[at + 2 + length :] != b"\x00":
        raise ValueError("the voice text does not end the frame with 00")
    return lines, (voice or None)
