"""An RS485 board device against the emulated bus over a real socket: what the lane shows
and says arrives as GBK frames with a good CRC, the outcome says what the board told, and
an adapter that goes away is the lane's ``display_unreachable`` until it is back."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gates.hardware import rs485
from gates.hardware.options import DeviceOptions, LaneFileError
from gates.hardware.parts import (
    DeviceFault,
    Outcome,
    SerialPort,
    Speaker,
    TextDisplay,
    Unreachable,
)
from gates.hardware.rs485.board import NO_QR, SILENT, VIA_CAMERA, Board
from gates.lane.drivers import DriverRefused, FaultRaised
from tests.emulators.rs485_board import BoardEmulator, Reply
from tests.hardware import Events, Workshop


class CameraPort:
    """A camera's RS485-1 as the lane sees it: bytes handed over, carried to the bus.
    Here the bus is the emulator's socket, written as the camera would write its UART."""

    def __init__(self, url: str) -> None:
        self.host, port = url.removeprefix("socket://").split(":")
        self.port = int(port)
        self.sent: list[bytes] = []

    async def write(self, data: bytes) -> None:
        _, writer = await asyncio.open_connection(self.host, self.port)
        writer.write(data)
        await writer.drain()
        writer.close()
        await writer.wait_closed()
        self.sent.append(data)


class Camera:
    name = "cam"

    def __init__(self, url: str) -> None:
        self.port = CameraPort(url)

    async def run(self, emit: object) -> None:
        await asyncio.Event().wait()

    def serial_port(self, port: str) -> SerialPort:
        assert port == "rs485-1"
        return self.port


def build(table: dict[str, object], workshop: Workshop | None = None) -> Board:
    options = DeviceOptions(Path("lane.toml"), "led", {"family": "rs485", **table})
    board = rs485.build(options, workshop or Workshop())
    assert options.unused() == []
    return board


@pytest.fixture
async def bus() -> AsyncIterator[BoardEmulator]:
    emulator = BoardEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


Start = Callable[..., Board]


@pytest.fixture
async def start(bus: BoardEmulator) -> AsyncIterator[Start]:
    """Builds a board on the emulated bus and runs it, as the lane does, until the test
    ends; its ``run`` owns the adapter's port and closes it."""
    tasks: list[asyncio.Task[None]] = []

    def started(events: Events | None = None, **table: object) -> Board:
        board = build({"serial": bus.url, **table})
        tasks.append(asyncio.create_task(board.run((events or Events()).emit)))
        return board

    yield started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


@pytest.fixture
async def watched(start: Start) -> tuple[Board, Events]:
    events = Events()
    return start(events, lines=4, chars=16, reply_wait=0.2), events


async def test_a_board_is_a_display_and_a_speaker(start: Start) -> None:
    board = start()
    assert isinstance(board, TextDisplay) and isinstance(board, Speaker)
    assert (board.size.lines, board.size.chars) == (4, 16)


async def test_lines_and_voice_arrive_on_the_bus_as_gbk(
    bus: BoardEmulator, watched: tuple[Board, Events]
) -> None:
    board, _ = watched
    assert await board.show(("沪A12345", "临时车 请缴费"), None) == Outcome(False, SILENT)
    await bus.wait_frames(1)
    assert bus.lines() == ("沪A12345", "临时车 请缴费")
    assert await board.show(("一路顺风",), None) == Outcome(False, SILENT)
    await bus.wait_frames(2)
    assert bus.shown.lines[0] == "一路顺风"
    await board.say("请缴费10元")
    await bus.wait_frames(3)
    assert bus.spoken == ["请缴费10元"]
    assert bus.dropped == 0


@pytest.mark.parametrize(
    "reply, outcome",
    [
        (Reply.ACK, Outcome(True, "the board acknowledged")),
        (Reply.NONE, Outcome(False, SILENT)),
        (Reply.BAD_CRC, Outcome(False, "accepted; the board answered 9 bytes with no good frame")),
        (Reply.GARBAGE, Outcome(False, "accepted; the board answered 5 bytes with no good frame")),
    ],
)
async def test_the_outcome_says_what_the_board_answered(
    bus: BoardEmulator, start: Start, reply: Reply, outcome: Outcome
) -> None:
    bus.reply = reply
    board = start(reply_wait=0.3)
    got = await board.show(("欢迎光临",), None)
    assert got.confirmed == outcome.confirmed
    assert got.detail.startswith(outcome.detail)
    assert bus.lines() == ("欢迎光临",)


async def test_an_error_status_is_a_refusal(bus: BoardEmulator, start: Start) -> None:
    bus.reply = Reply.ERROR
    board = start(reply_wait=0.3)
    with pytest.raises(DriverRefused) as refused:
        await board.say("欢迎光临")
    assert refused.value.reason == "display_refused"


async def test_a_board_at_another_address_shows_nothing(bus: BoardEmulator, start: Start) -> None:
    bus.reply = Reply.ACK
    board = start(reply_wait=0.2, address=3)
    assert await board.show(("欢迎光临",), None) == Outcome(False, SILENT)
    assert bus.frames == []


@pytest.mark.parametrize(
    "lines, qr, reason",
    [
        (("😀",), None, "display_bad_text"),
        (("a", "b", "c", "d", "e"), None, "display_overflow"),
        (("x" * 17,), None, "display_overflow"),
    ],
)
async def test_what_the_board_cannot_show_is_refused_and_nothing_is_sent(
    bus: BoardEmulator, start: Start, lines: tuple[str, ...], qr: str | None, reason: str
) -> None:
    board = start(reply_wait=0.2)
    bus.reply = Reply.ACK
    with pytest.raises(DriverRefused) as refused:
        await board.show(lines, qr)
    assert refused.value.reason == reason
    await board.say("ok")  # the next frame on the bus is the first one
    assert [frame.command for frame in bus.frames] == [0x30]


async def test_noise_on_the_bus_does_not_hide_the_next_frame(
    bus: BoardEmulator, start: Start
) -> None:
    board = start()
    await board.show(("入口",), None)
    await bus.wait_frames(1)
    _, writer = await asyncio.open_connection("127.0.0.1", bus.port)
    writer.write(b"\x00\x64\xff\xff\x62\x30garbled" + b"\x13" * 30)
    await writer.drain()
    await board.show(("出口",), None)
    await bus.wait_frames(2)
    assert bus.lines() == ("出口",)
    assert bus.dropped > 0
    writer.close()
    await writer.wait_closed()


async def test_a_board_on_a_cameras_port(bus: BoardEmulator) -> None:
    camera = Camera(bus.url)
    board = build({"via": "cam:rs485-1"}, Workshop(cam=camera))
    assert await board.show(("欢迎光临",), None) == Outcome(False, VIA_CAMERA)
    await bus.wait_frames(1)
    assert bus.lines() == ("欢迎光临",)
    assert camera.port.sent[0][:4] == b"\x00\x64\xff\xff"


@pytest.mark.parametrize(
    "table, problem",
    [
        ({}, "either via"),
        ({"via": "cam:rs485-1", "serial": "/dev/ttyUSB0"}, "either via"),
        ({"via": "nvr:rs485-1"}, "no serial port"),
        ({"serial": "/dev/ttyUSB0", "parity": "mark"}, "parity"),
        ({"serial": "/dev/ttyUSB0", "colour": "blue"}, "colour"),
    ],
)
def test_a_wrong_table_names_the_key(table: dict[str, object], problem: str) -> None:
    class NotAHost:
        name = "nvr"

        async def run(self, emit: object) -> None: ...

    with pytest.raises(LaneFileError, match=problem):
        build(table, Workshop(nvr=NotAHost()))


async def test_an_adapter_that_goes_away_is_a_fault_until_it_is_back(
    bus: BoardEmulator, watched: tuple[Board, Events]
) -> None:
    board, events = watched
    await board.show(("一",), None)
    port = bus.port
    await bus.stop()
    with pytest.raises(Unreachable) as unreachable:
        await board.show(("二",), None)
    assert unreachable.value.fault == DeviceFault.DISPLAY_UNREACHABLE
    [raised] = [
        event
        for event in await events.wait_until(lambda seen: bool(seen))
        if isinstance(event, FaultRaised) and event.active
    ]
    assert raised.code == DeviceFault.DISPLAY_UNREACHABLE and "127.0.0.1" in raised.detail
    await bus.start(port)
    await events.wait_for(FaultRaised(DeviceFault.DISPLAY_UNREACHABLE, "", active=False))
    await board.show(("三",), None)
    await bus.wait_frames(1)
    assert bus.lines() == ("三",)


async def test_a_qr_code_maps_to_the_lines_as_text_and_says_so(
    bus: BoardEmulator, start: Start
) -> None:
    board = start()
    outcome = await board.show(("请扫码缴费", "粤B12345"), "https://pay.example/q/1")
    assert outcome == Outcome(False, f"{NO_QR}; {SILENT}")
    await bus.wait_frames(1)
    assert bus.lines() == ("请扫码缴费", "粤B12345")
