"""Three small devices a lane file can name in the tests of the lane file and its
assembly: a relay board with a limit switch, a text-and-voice board, a camera with an
output. Like ``tests.lanes.ScriptedDriver`` they stand in for hardware that cannot
exist here, and record what they were told; a test makes them lock, stay silent or
refuse. The vendor families' own devices are tested against their emulators.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping

from gates.hardware.families import FAMILIES, Family
from gates.hardware.options import DeviceOptions
from gates.hardware.parts import DeviceFault, Emit, GateOpener, Outcome, Unreachable, Workshop
from gates.lane.drivers import DriverRefused, FaultRaised, GateChanged
from gates.protocol import MAX_DISPLAY_LINE, MAX_DISPLAY_LINES, DisplaySize
from gates.vocabulary import GateState


class _Watched:
    def __init__(self, name: str) -> None:
        self.name = name
        self.emit: Emit | None = None
        self.running = asyncio.Event()

    async def run(self, emit: Emit) -> None:
        self.emit = emit
        self.running.set()
        await asyncio.get_running_loop().create_future()  # until cancelled

    def send(self, event: FaultRaised | GateChanged) -> None:
        assert self.emit is not None, "the lane has not started the device"
        self.emit(event)


class Relay(_Watched):
    """A relay on the barrier and a limit switch on its arm."""

    def __init__(self, name: str, pulse_ms: int) -> None:
        super().__init__(name)
        self.pulse_ms = pulse_ms
        self.pulses = 0
        self.pulsed = asyncio.Event()
        self.locked = False  # a locked barrier takes the pulse and does not move
        self.away = False  # the board does not answer
        self.state = GateState.DOWN

    async def open_gate(self) -> Outcome:
        if self.away:
            raise Unreachable(DeviceFault.GATE_CONTROLLER_UNREACHABLE, "no answer from the board")
        self.pulses += 1
        self.pulsed.set()
        if not self.locked:
            self.state = GateState.UP
            self.send(GateChanged(GateState.RISING))
            self.send(GateChanged(GateState.UP))
        return Outcome(confirmed=True)

    def gate_state(self) -> GateState:
        return self.state

    def senses_gate(self) -> bool:
        return True


class Board(_Watched):
    """An LED board with a voice."""

    def __init__(self, name: str, size: DisplaySize, draws_qr: bool) -> None:
        super().__init__(name)
        self.size = size
        self.draws_qr = draws_qr
        self.shown: list[tuple[tuple[str, ...], str | None]] = []
        self.said: list[str] = []

    async def show(self, lines: tuple[str, ...], qr: str | None) -> Outcome:
        if qr is not None and not self.draws_qr:
            raise DriverRefused("display_no_qr")
        self.shown.append((lines, qr))
        return Outcome(confirmed=False, detail="accepted; the board sends no acknowledgement")

    async def say(self, text: str) -> Outcome:
        self.said.append(text)
        return Outcome(confirmed=False, detail="accepted; the board sends no acknowledgement")


class _Output:
    def __init__(self, camera: Camera, output: str) -> None:
        self.camera, self.output = camera, output

    async def open_gate(self) -> Outcome:
        self.camera.pulsed.append(self.output)
        return Outcome(confirmed=True)


class Camera(_Watched):
    """A plate camera whose output 0 pulses the barrier."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.pulsed: list[str] = []

    def gate_output(self, output: str) -> GateOpener:
        if output != "io0":
            raise DriverRefused(f"no output {output}")
        return _Output(self, output)


def relay(options: DeviceOptions, workshop: Workshop) -> Relay:
    return Relay(options.name, options.integer("pulse_ms", 500, low=100, high=5000))


def board(options: DeviceOptions, workshop: Workshop) -> Board:
    if options.has("via"):
        workshop.device(options.text("via").partition(":")[0])
    if options.has("password_file") or options.has("password_env"):
        options.secret("password")
    size = DisplaySize(
        options.integer("lines", 4, low=1, high=MAX_DISPLAY_LINES),
        options.integer("chars", 16, low=1, high=MAX_DISPLAY_LINE),
    )
    return Board(options.name, size, options.flag("qr", False))


def camera(options: DeviceOptions, workshop: Workshop) -> Camera:
    options.text("address")
    return Camera(options.name)


KIT: Mapping[str, Family] = {
    **FAMILIES,
    "kit-relay": Family("tests.hardware_kit", entry="relay"),
    "kit-board": Family("tests.hardware_kit", entry="board", where=("via",)),
    "kit-camera": Family(
        "tests.hardware_kit", entry="camera", reads_plates=True, where=("address",)
    ),
}
