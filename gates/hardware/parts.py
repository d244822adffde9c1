"""The seam every vendor family's devices plug into.

A lane is built of devices, each of one family (a Vzenith camera, a Modbus relay board,
a SIP intercom), and each device plays one or more parts: it reads plates, lifts the
barrier, says where the barrier is, shows text, speaks, rings. The lane file says which
device plays which part (a camera can read plates and pulse the barrier on its IO 0; an
LED board can hang off the camera's RS485 port), so the parts are small protocols a
device implements as far as its hardware goes, not one class per device.
"""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from gates.hardware.options import DeviceOptions
from gates.hardware.pushes import PushListener
from gates.lane.drivers import LaneEvent
from gates.protocol import DisplaySize
from gates.vocabulary import GateState


class DeviceFault(enum.StrEnum):
    """The lane faults a device that stopped answering raises, one per part it plays;
    the console shows them, and they clear when the device answers again."""

    CAMERA_UNREACHABLE = "camera_unreachable"
    GATE_CONTROLLER_UNREACHABLE = "gate_controller_unreachable"
    DISPLAY_UNREACHABLE = "display_unreachable"
    INTERCOM_UNREGISTERED = "intercom_unregistered"


class Unreachable(Exception):
    """The device did not answer a command (refused connection, timeout, a reply that is
    not its protocol). The command ends refused with ``fault``'s value, and the lane's
    fault is raised until the device answers again."""

    def __init__(self, fault: DeviceFault, detail: str) -> None:
        super().__init__(f"{fault}: {detail}")
        self.fault = fault
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Outcome:
    """What a device said of a command it carried out. ``confirmed``: the device said it
    did it (a relay read back, a barrier reported open, an ``OK``); otherwise it only
    accepted it, and ``detail`` says what is not known ("accepted; the board sends no
    acknowledgement"). The lane passes ``detail`` to the centre with the ``done``."""

    confirmed: bool
    detail: str = ""


Emit = Callable[[LaneEvent], None]


@runtime_checkable
class Device(Protocol):
    """Every device: watched until cancelled. ``run`` keeps the device's connection or
    listens for its pushes, emits the lane events it produces (plates, gate changes, call
    presses) and raises or clears its own fault (``FaultRaised``) as it stops and starts
    answering, redialling with ``gates.backoff.Backoff``; it raises only for a fault in
    our own code, never because the device is away."""

    name: str

    async def run(self, emit: Emit) -> None: ...


@runtime_checkable
class GateOpener(Protocol):
    """A part that lifts the barrier: a camera's IO output, a relay's coil, a barrier
    controller's open command. Raises ``Unreachable`` when the device does not answer,
    ``gates.lane.drivers.DriverRefused`` when it answers no."""

    async def open_gate(self) -> Outcome: ...


@runtime_checkable
class GateSensor(Protocol):
    """A part that reads where the barrier is (a status endpoint, a limit switch on an
    input). Changes also go out as ``GateChanged`` from the device's ``run``; the lane
    waits on them to confirm an open, since a locked barrier accepts "open" and does not
    move."""

    def gate_state(self) -> GateState:
        """The latest reading; ``UNKNOWN`` while there is none (no signal yet, or the
        device is away)."""
        ...

    def senses_gate(self) -> bool:
        """False once the device has said it cannot read the barrier at all (a camera
        model without barrier status answers so): the lane no longer waits on it."""
        ...


@runtime_checkable
class TextDisplay(Protocol):
    """A part that shows text, and a QR code where it can draw one. ``size`` is the
    device's own (a board's lines and characters, from its table in the lane file): the
    lane announces it to the centre, which then offers no more, so the size is written
    once, where the device is. ``lines`` are already within it; ``qr`` is a URL. A board
    with no QR command shows the lines without it, and its outcome is not confirmed, its
    detail saying so: the agent then tells the driver another way to pay."""

    size: DisplaySize

    async def show(self, lines: tuple[str, ...], qr: str | None) -> Outcome: ...


@runtime_checkable
class Speaker(Protocol):
    """A part that speaks text (a voice board's TTS, a camera's voice broadcast)."""

    async def say(self, text: str) -> Outcome: ...


@runtime_checkable
class SerialPort(Protocol):
    """A byte path to an RS485 bus: a USB-RS485 adapter, or a camera's serial
    passthrough (``serialData`` in the camera's replies). ``write`` returns once the bytes
    are on their way as far as the path can tell; the path's own fault is its device's."""

    async def write(self, data: bytes) -> None: ...


@runtime_checkable
class SerialHost(Protocol):
    """A device that carries other devices' bytes on its serial ports (a camera's
    RS485-1, RS485-2). ``port`` names a port as the lane file does ("rs485-1")."""

    def serial_port(self, port: str) -> SerialPort: ...


@runtime_checkable
class OutputHost(Protocol):
    """A device with switchable outputs that can pulse a barrier (a camera's IO 0).
    ``output`` names one as the lane file does ("io0")."""

    def gate_output(self, output: str) -> GateOpener: ...


@runtime_checkable
class LaneAudio(Protocol):
    """A device that carries the lane's sound (a SIP intercom, whose calls carry the
    driver's voice): 16-bit little-endian PCM at 8 kHz in 20 ms frames, both ways. The
    lane's media use it in place of a sound card (``media.lane.runner.publisher(audio=
    ...)``, which makes Opus of it)."""

    def listen(self) -> asyncio.Queue[bytes]:
        """A queue of the frames heard from now on, until ``unlisten``; it stays open
        and empty between calls."""
        ...

    def unlisten(self, queue: asyncio.Queue[bytes]) -> None: ...

    def say(self, pcm: bytes) -> None:
        """Play one frame; while no call is up it is dropped."""
        ...


class Workshop(Protocol):
    """What a family's ``build(options, workshop)`` gets besides its device's own table
    in the lane file: the devices built before it (an LED board names the camera whose
    RS485 port it hangs off) and the lane's push listeners, one per listening address,
    shared by the devices that push to it."""

    def device(self, name: str) -> Device:
        """The device the lane file calls ``name``; ``LaneFileError`` if there is none."""
        ...

    def listener(self, address: str) -> PushListener:
        """The listener on ``address`` ("0.0.0.0:8181"), made at its first use."""
        ...


Build = Callable[[DeviceOptions, Workshop], Device]
