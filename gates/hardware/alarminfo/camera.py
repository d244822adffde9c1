"""An AlarmInfoPlate camera as a lane device: it reads plates, pulses the barrier on
its IO outputs, and carries other devices' bytes on its RS485 ports.

The camera comes to the lane, not the other way: it POSTs each plate, and a heartbeat
(the comet poll) every few seconds, and takes its orders from the answers. An answer
must leave within the camera's 5 s timeout, or it stores the push and sends it again
(up to 4 times, then to its backup server), so every push is answered at once from
what is queued, never after waiting on anything. An open that cannot wait for a car's
push goes by the camera's TCP SDK (``ioctl``), or with ``open_via = "poll"`` in the
next poll's answer. Silence for ``silent_s`` is the ``camera_unreachable`` fault. Where
the arm's limit switch is wired to one of the camera's inputs, the lane reads it over
the SDK and the camera is the lane's gate sensor (``AlarmInfoCameraWithGateInput``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from gates.hardware.alarminfo import frames, sdk
from gates.hardware.alarminfo.payloads import (
    SERIAL_MAX,
    BadPush,
    Heartbeat,
    read_push,
    reply,
)
from gates.hardware.latch import FaultLatch
from gates.hardware.options import LaneFileError
from gates.hardware.parts import DeviceFault, Emit, GateOpener, Outcome, SerialPort, Unreachable
from gates.hardware.pushes import Push, PushReply
from gates.hardware.watch import GateReading, watch
from gates.lane.drivers import DriverRefused
from gates.vocabulary import GateState

log = logging.getLogger("seat.lane.alarminfo")

JSON = "application/json; charset=utf-8"
OUTPUTS = {f"io{n}": n for n in range(4)}
SERIAL_PORTS = {"rs485-1": 0, "rs485-2": 1}
REMEMBERED_READS = 256  # plate ids kept to tell a resend from a new read
QUEUED_MAX = 32  # serial writes waiting for the next answer; more is a board gone mad
POLL_HANDED = "accepted: handed to the camera in its poll's answer, which it does not acknowledge"
IOCTL_UNANSWERED = "accepted: the camera's TCP SDK does not acknowledge ioctl"


@dataclass(frozen=True, slots=True)
class Settings:
    address: str
    paths: tuple[str, ...]
    sdk_port: int
    open_via: str
    pulse_ms: int
    poll_s: float
    silent_s: float


@dataclass
class _Queued:
    """Orders for the camera's next answer, each with the future its caller awaits."""

    opens: dict[int, list[asyncio.Future[None]]] = field(default_factory=dict)  # by output
    serial: list[tuple[int, bytes, asyncio.Future[None]]] = field(default_factory=list)


class AlarmInfoCamera:
    def __init__(self, name: str, settings: Settings, fail: Callable[[str, str], LaneFileError]):
        self.name = name
        self.settings = settings
        self._fail = fail
        self._emit: Emit | None = None
        self._queued = _Queued()
        self._seen: OrderedDict[tuple[object, ...], None] = OrderedDict()
        self._heard = asyncio.Event()
        # Whether the lane is linked to a centre: the camera is told to go on with its
        # stored reads (ContinuePushOffline's continue) only then, so a lane cut off
        # leaves them in the camera's storage rather than in its own short backlog.
        self._linked = False

    # ---------------------------------------------------------------- PushTarget

    @property
    def address(self) -> str:
        return self.settings.address

    @property
    def paths(self) -> tuple[str, ...]:
        return self.settings.paths

    async def receive(self, push: Push) -> PushReply:
        self._heard.set()
        if push.method != "POST":
            return PushReply(405, b"POST only\n")
        try:
            read = read_push(push.body, datetime.now(UTC))
        except BadPush as exc:
            # A well-formed "no": the camera would only store a push we cannot read
            # and resend it, and nothing queued goes out on an answer to garbage.
            log.warning("lane.alarminfo.bad_push camera=%s error=%s", self.name, exc)
            return PushReply(200, reply(False, None, ()), JSON)
        if isinstance(read, Heartbeat):
            return self._answer(None)
        if read.identity is not None and read.identity in self._seen:
            log.info("lane.alarminfo.resent camera=%s plateid=%s", self.name, read.plate_id)
        elif self._emit is None:
            # Not running: the read is not taken, so its resend is not a duplicate.
            log.warning("lane.alarminfo.not_running camera=%s", self.name)
        else:
            if read.identity is not None:
                self._seen[read.identity] = None
                while len(self._seen) > REMEMBERED_READS:
                    self._seen.popitem(last=False)
            self._emit(read.vehicle)
        return self._answer(read.plate_id)

    def link_changed(self, up: bool) -> None:
        self._linked = up
        log.info("lane.alarminfo.offline_pushes camera=%s wanted=%s", self.name, up)

    def _answer(self, plate_id: int | None) -> PushReply:
        """The answer with every queued order: to the read ``plate_id``, or to a
        heartbeat where None. The orders are handed once it is written to the camera; if
        the camera had hung up (it gave up waiting, and will poll again), they go back
        to the front of the queue, in order, for its next answer."""
        queued, self._queued = self._queued, _Queued()
        # One channelNum per answer: another output's open waits for the next one.
        channel = min(queued.opens) if queued.opens else None
        opens = [] if channel is None else queued.opens.pop(channel)
        self._queued.opens = queued.opens
        serial = queued.serial
        body = reply(
            plate_id is None,
            channel,
            [(port, data) for port, data, _ in serial],
            plate_id=plate_id,
            continue_offline=self._linked,
        )
        if not opens and not serial:
            return PushReply(200, body, JSON)
        handed = [done for _, _, done in serial] + opens
        return PushReply(
            200,
            body,
            JSON,
            sent=lambda: _resolve(handed),
            unsent=lambda: self._put_back(channel, opens, serial),
        )

    def _put_back(
        self,
        channel: int | None,
        opens: list[asyncio.Future[None]],
        serial: list[tuple[int, bytes, asyncio.Future[None]]],
    ) -> None:
        """Orders whose answer never reached the camera, first in line again (those
        whose callers stopped waiting are dropped)."""
        log.warning(
            "lane.alarminfo.unanswered camera=%s orders=%d", self.name, len(opens) + len(serial)
        )
        queued = self._queued
        queued.serial[:0] = [entry for entry in serial if not entry[2].done()]
        waiting = [done for done in opens if not done.done()]
        if channel is not None and waiting:
            # With any open of the same output asked meanwhile: one pulse answers all.
            queued.opens[channel] = waiting + queued.opens.get(channel, [])

    # ---------------------------------------------------------------- Device

    async def run(self, emit: Emit) -> None:
        """Watch for the camera's pushes and polls; silence is a fault."""
        self._emit = emit
        latch = FaultLatch(emit, DeviceFault.CAMERA_UNREACHABLE, self.name)
        try:
            await self._watch(latch)
        finally:
            self._emit = None

    async def _watch(self, latch: FaultLatch) -> None:
        await self._listen(latch)

    async def _listen(self, latch: FaultLatch) -> None:
        silent = False
        while True:
            self._heard.clear()
            try:
                async with asyncio.timeout(None if silent else self.settings.silent_s):
                    await self._heard.wait()
            except TimeoutError:
                silent = True
                detail = f"no push or poll from {self.address} for {self.settings.silent_s:g} s"
                latch.raise_(detail, "pushes")
                continue
            silent = False
            latch.clear("pushes")

    # ---------------------------------------------------------------- OutputHost

    def gate_output(self, output: str) -> GateOpener:
        if output not in OUTPUTS:
            raise self._fail("[parts] gate", f"the camera has outputs {', '.join(OUTPUTS)}")
        return _Output(self, OUTPUTS[output])

    async def pulse(self, channel: int) -> Outcome:
        if self.settings.open_via == "sdk":
            return await self._ioctl(channel)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.opens.setdefault(channel, []).append(done)
        await self._handed(done, "open")
        return Outcome(confirmed=False, detail=POLL_HANDED)

    async def _ioctl(self, channel: int) -> Outcome:
        """Confirmed by a ``state_code`` 200, refused by another; a camera that took the
        order and said nothing, as Vzenith's SDK lets it (``sdk``), has accepted it."""
        settings = self.settings
        request = frames.pulse(channel, settings.pulse_ms)
        answer = await sdk.order_once(settings.address, settings.sdk_port, request, "ioctl")
        if answer is None:
            log.info("lane.alarminfo.ioctl_unanswered camera=%s", self.name)
            return Outcome(confirmed=False, detail=IOCTL_UNANSWERED)
        if answer.get("state_code") != 200:
            log.warning("lane.alarminfo.ioctl_refused camera=%s answer=%r", self.name, answer)
            raise DriverRefused("camera_refused_open")
        return Outcome(confirmed=True)

    # ---------------------------------------------------------------- SerialHost

    def serial_port(self, port: str) -> SerialPort:
        if port not in SERIAL_PORTS:
            raise self._fail("via", f"the camera has serial ports {', '.join(SERIAL_PORTS)}")
        return _Serial(self, SERIAL_PORTS[port])

    async def write(self, channel: int, data: bytes) -> None:
        if not data or len(data) > SERIAL_MAX:
            raise ValueError(f"a serial write is 1 to {SERIAL_MAX} bytes, not {len(data)}")
        if len(self._queued.serial) >= QUEUED_MAX:
            raise Unreachable(
                DeviceFault.CAMERA_UNREACHABLE, f"{QUEUED_MAX} serial writes wait for the camera"
            )
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queued.serial.append((channel, data, done))
        await self._handed(done, "serial data")

    async def _handed(self, done: asyncio.Future[None], what: str) -> None:
        """Wait for the next answer to carry ``done``'s order, for three polls."""
        wait_s = 3 * self.settings.poll_s + 1
        try:
            async with asyncio.timeout(wait_s):
                await asyncio.shield(done)
        except TimeoutError:
            self._withdraw(done)
            raise Unreachable(
                DeviceFault.CAMERA_UNREACHABLE,
                f"no push or poll from {self.address} in {wait_s:g} s to carry the {what}",
            ) from None

    def _withdraw(self, done: asyncio.Future[None]) -> None:
        done.cancel()  # nobody waits for it: an answer that comes back unsent drops it
        queued = self._queued
        queued.opens = {
            channel: left
            for channel, waiting in queued.opens.items()
            if (left := [f for f in waiting if f is not done])
        }
        queued.serial = [entry for entry in queued.serial if entry[2] is not done]


def _resolve(handed: list[asyncio.Future[None]]) -> None:
    for done in handed:
        if not done.done():
            done.set_result(None)


@dataclass(frozen=True, slots=True)
class _Output:
    camera: AlarmInfoCamera
    channel: int

    async def open_gate(self) -> Outcome:
        return await self.camera.pulse(self.channel)


@dataclass(frozen=True, slots=True)
class _Serial:
    camera: AlarmInfoCamera
    channel: int

    async def write(self, data: bytes) -> None:
        await self.camera.write(self.channel, data)


@dataclass(frozen=True, slots=True)
class GateInput:
    """Where the arm's up-limit switch is wired: the camera's input ``gpio`` (0 or 1),
    the level it reads while the arm is up (0: the contact closed), and how often it is
    read."""

    gpio: int
    up_level: int
    poll_s: float


class AlarmInfoCameraWithGateInput(AlarmInfoCamera):
    """A camera with the arm's limit switch on one of its inputs: the input is read over
    one TCP SDK link held open (``get_gpio_value``), at ``poll_s`` and at once after an
    open, each change emitted as ``GateChanged``, so the lane confirms a lift by the arm,
    not by the camera's ``state_code``; a locked barrier takes the pulse and stays down,
    and the lane says so. Only a camera with the input wired is this class: one without
    would be taken for a gate sensor and every open would wait for an arm nobody reads.
    A link that drops is ``camera_unreachable`` (the arm unknown) until it answers."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        fail: Callable[[str, str], LaneFileError],
        gate: GateInput,
    ) -> None:
        super().__init__(name, settings, fail)
        self.gate_input = gate
        self._gate = GateReading(name)
        self._kick = asyncio.Event()
        self._link = sdk.SdkLink(settings.address, settings.sdk_port)

    def gate_state(self) -> GateState:
        return self._gate.state

    def senses_gate(self) -> bool:
        return self._gate.reported

    async def _watch(self, latch: FaultLatch) -> None:
        read = watch(
            self._read_input, self._lost, latch, lambda: self.gate_input.poll_s, self._kick, "sdk"
        )
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._listen(latch))
                tasks.create_task(read)
        finally:
            self._link.close()

    async def pulse(self, channel: int) -> Outcome:
        try:
            return await super().pulse(channel)
        finally:
            self._kick.set()  # read the arm now, not at the next tick

    async def _read_input(self) -> None:
        gpio = self.gate_input.gpio
        answer = await self._link.ask(frames.read_input(gpio), "get_gpio_value")
        try:
            level = frames.input_level(answer, gpio)
        except frames.BadFrame as exc:
            raise self._link.fail(str(exc)) from None
        up = level == self.gate_input.up_level
        self._gate.set(GateState.UP if up else GateState.DOWN, self._emit)

    def _lost(self) -> None:
        self._gate.set(GateState.UNKNOWN, self._emit)
