"""One ``LaneDriver`` made of a lane file's devices: what the lane agent drives.

The agent knows nothing of vendors: it asks the lane to open, to show, and hears
plates, gate changes, calls and faults. Here those become the parts' calls, and the
parts' answers become the lane's promise. ``done`` means confirmed: an open waits for
the arm to rise where a sensor can see it (a locked barrier accepts the open and does
not move, which is refused, never reported as a lift), and otherwise says in the done's
detail what could not be seen. A device that does not answer refuses the command with
its fault's code and raises that fault on the lane until it answers again; the
fault's detail names the device (``lane_faults``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path

from gates.hardware.families import FAMILIES, Family
from gates.hardware.inventory import inventory
from gates.hardware.lane_faults import LaneFaults
from gates.hardware.lane_file import LaneFile, load
from gates.hardware.parts import (
    Device,
    GateOpener,
    GateSensor,
    LaneAudio,
    Outcome,
    OutputHost,
    Speaker,
    TextDisplay,
    Unreachable,
)
from gates.hardware.workshop import LaneWorkshop, bind, build
from gates.lane.drivers import (
    CallHolder,
    CallPressed,
    DriverRefused,
    FaultRaised,
    GateChanged,
    LaneEvent,
    LinkWatcher,
    VehicleSeen,
)
from gates.protocol import DisplaySize
from gates.vocabulary import GateState

log = logging.getLogger("seat.lane.hardware")

NO_SENSOR = "no gate sensor: the arm was not seen to move"
DID_NOT_MOVE = "gate_did_not_move"
ALREADY_UP = "the barrier was already up"
# What a sensor said at the end of the wait when it never said "up", other than "down".
NOT_SEEN_UP = {
    GateState.UNKNOWN: "the gate sensor gave no reading: the arm was not seen to move",
    GateState.RISING: "the arm was seen rising, not yet up",
    GateState.FALLING: "the arm was seen falling, not up",
}


class HardwareLane:
    """``gates.lane.drivers.LaneDriver`` over a lane file's built devices."""

    def __init__(self, workshop: LaneWorkshop) -> None:
        lane = workshop.lane
        self.lane: LaneFile = lane
        self.devices = workshop.devices
        self.settings = lane.settings
        # What the lane tells the centre of its devices, for the console to show.
        self.described = inventory(lane)
        self._workshop = workshop
        parts = lane.parts
        self._gate: tuple[str, GateOpener] | None = None
        if "gate" in parts:
            ref = parts["gate"]
            player = self.devices[ref.device]
            if ref.output is not None:
                assert isinstance(player, OutputHost)  # check_parts saw to it
                self._gate = (ref.device, player.gate_output(ref.output))
            else:
                assert isinstance(player, GateOpener)
                self._gate = (ref.device, player)
        # A gate that reads its own state (a barrier controller, a camera's barrier
        # status) is its sensor unless the lane file names another.
        sensing = parts.get("gate_state") or parts.get("gate")
        sensor = self.devices[sensing.device] if sensing is not None else None
        self._sensor = sensor if isinstance(sensor, GateSensor) else None
        self._sensing = sensing.device if sensing is not None and self._sensor else None
        display = self.devices[parts["display"].device] if "display" in parts else None
        self._display = display if isinstance(display, TextDisplay) else None
        voice = self.devices[parts["voice"].device] if "voice" in parts else None
        self._voice = voice if isinstance(voice, Speaker) else None
        self._plates = parts["plates"].device if "plates" in parts else None
        self._intercom = parts["intercom"].device if "intercom" in parts else None
        self._emit: Callable[[LaneEvent], None] | None = None
        # One waiter per open in flight, each told when the arm reads up: two opens
        # overlap when an agent opens again while the first waits.
        self._awaiting_up: set[asyncio.Future[None]] = set()
        self._faults = LaneFaults(self._send)

    def link_changed(self, up: bool) -> None:
        """Tell the devices that act on it whether the lane is linked to a centre."""
        for device in self.devices.values():
            if isinstance(device, LinkWatcher):
                device.link_changed(up)

    async def run(self, emit: Callable[[LaneEvent], None]) -> None:
        listeners = self._workshop.listeners.values()
        self.bind()
        self._emit = emit
        try:
            async with asyncio.TaskGroup() as tasks:
                for listener in listeners:
                    tasks.create_task(listener.run())
                for device in self.devices.values():
                    tasks.create_task(device.run(self._from(device)))
        finally:
            self._emit = None
            for listener in listeners:
                listener.close()

    @property
    def display_size(self) -> DisplaySize | None:
        """What the display part shows, announced to the centre (which then offers no
        more); None for a lane without one."""
        return self._display.size if self._display is not None else None

    @property
    def audio(self) -> LaneAudio | None:
        """The intercom that carries the lane's sound itself (a SIP door station), which
        the lane's media then use in place of a sound card; None for one that only
        rings."""
        if self._intercom is None:
            return None
        device = self.devices[self._intercom]
        return device if isinstance(device, LaneAudio) else None

    def end_call(self, event_ids: tuple[str, ...]) -> None:
        """The centre's call is over: the intercom that holds calls hangs its own up."""
        if self._intercom is not None:
            device = self.devices[self._intercom]
            if isinstance(device, CallHolder):
                device.end_call(event_ids)

    def bind(self) -> dict[str, int]:
        """Take the push listeners' ports now (``run`` does, if not done before) and say
        which each got: a lane file may give port 0."""
        bind(self._workshop)
        return {address: each.port for address, each in self._workshop.listeners.items()}

    def _from(self, device: Device) -> Callable[[LaneEvent], None]:
        """What ``device`` emits, as far as the lane file gave it the part: a second
        camera reading plates for another purpose does not make cars at this gate."""

        def emit(event: LaneEvent) -> None:
            if isinstance(event, VehicleSeen) and device.name != self._plates:
                return
            if isinstance(event, CallPressed) and device.name != self._intercom:
                return
            if isinstance(event, GateChanged):
                if device.name != self._sensing:
                    return
                if event.state is GateState.UP:
                    for waiter in self._awaiting_up:
                        if not waiter.done():
                            waiter.set_result(None)
            if isinstance(event, FaultRaised):
                if event.active:
                    self._faults.raised(device.name, event.code, event.detail)
                else:
                    self._faults.cleared(device.name, event.code)
                return
            self._send(event)

        return emit

    def _send(self, event: LaneEvent) -> None:
        if self._emit is not None:
            self._emit(event)

    async def open_gate(self) -> str:
        if self._gate is None:
            raise DriverRefused("no_gate")
        sensor = self._sensor if self._sensor is not None and self._sensor.senses_gate() else None
        # An arm already up is opened all the same: a barrier about to fall behind the
        # car before holds up for this one.
        already_up = sensor is not None and sensor.gate_state() is GateState.UP
        risen: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._awaiting_up.add(risen)
        try:
            name, opener = self._gate
            outcome = await self._carry_out(name, opener.open_gate())
            if sensor is None:
                return _joined(outcome, NO_SENSOR)
            if already_up:
                return _joined(outcome, ALREADY_UP)
            try:
                async with asyncio.timeout(self.settings.open_wait_s):
                    await risen
            except TimeoutError:
                return self._not_seen_up(sensor.gate_state(), outcome)
            return ""
        finally:
            self._awaiting_up.discard(risen)

    def _not_seen_up(self, state: GateState, outcome: Outcome) -> str:
        """The end of an open whose wait ran out before the arm was seen to rise."""
        log.warning(
            "lane.hardware.gate_not_seen_up wait_s=%.1f state=%s",
            self.settings.open_wait_s,
            state,
        )
        if state is GateState.DOWN:
            # A locked barrier takes the open and stays down: never a lift.
            raise DriverRefused(DID_NOT_MOVE)
        return _joined(outcome, NOT_SEEN_UP.get(state, ""))

    async def display(self, lines: tuple[str, ...], qr: str | None = None) -> str:
        if self._display is None:
            raise DriverRefused("no_display")
        if not self._display.size.fits(lines):
            raise DriverRefused("display_overflow")
        shown = await self._carry_out(self._display.name, self._display.show(lines, qr))
        if not (self.settings.say_display and self._voice is not None and lines):
            return _joined(shown, "")
        try:
            said = await self._carry_out(self._voice.name, self._voice.say("，".join(lines)))
        except DriverRefused as exc:
            return _joined(shown, f"shown, not spoken: {exc.reason}")
        return _joined(shown, said.detail if not said.confirmed else "")

    async def _carry_out(self, device: str, work: Awaitable[Outcome]) -> Outcome:
        """Await a part's command; a device away refuses it with its fault's code and
        raises the fault, which the device's next answer clears."""
        try:
            outcome = await work
        except Unreachable as exc:
            log.warning(
                "lane.hardware.unreachable device=%s fault=%s detail=%s",
                device,
                exc.fault,
                exc.detail,
            )
            self._faults.found_away(device, exc.fault.value, exc.detail)
            raise DriverRefused(exc.fault.value) from None
        self._faults.answered(device)
        return outcome


def _joined(outcome: Outcome, unseen: str) -> str:
    """The done's detail: what the device could not confirm, then what the lane could
    not see."""
    said = outcome.detail if not outcome.confirmed else ""
    return "; ".join(dict.fromkeys(part for part in (said, unseen) if part))


def assemble(
    path: Path, environ: Mapping[str, str] | None = None, families: Mapping[str, Family] = FAMILIES
) -> HardwareLane:
    """The lane ``path`` describes, its devices built and checked but not yet started;
    ``LaneFileError`` for any mistake in it."""
    return HardwareLane(build(load(path, environ, families)))
