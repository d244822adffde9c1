"""The lane's side of the link, as a state machine with no I/O.

The lane agent feeds it what arrived, what the driver reported and the time; it answers
with messages to send and commands to execute. It remembers which command ids it has
run (``gates.lane.memory``), so a command the centre sends again is answered from memory
instead of lifting the barrier twice.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass
from uuid import uuid4

from gates.errors import LinkError
from gates.lane.drivers import (
    CallEnded,
    CallPressed,
    EscapeSeen,
    FaultRaised,
    GateChanged,
    LaneEvent,
    VehicleSeen,
)
from gates.lane.memory import CommandMemory
from gates.protocol import (
    MAX_DONE_DETAIL,
    MAX_FAULT_DETAIL,
    Ack,
    Call,
    CallOver,
    Command,
    DeviceInfo,
    DisplaySize,
    Done,
    Error,
    Escape,
    Fault,
    Gate,
    Heartbeat,
    Hello,
    Media,
    Refused,
    Vehicle,
    Welcome,
    parse_centre_message,
)
from gates.textrules import one_line
from gates.vocabulary import GateState
from gates.wire import Message


@dataclass(frozen=True, slots=True)
class Execute:
    command: Command


@dataclass(frozen=True, slots=True)
class Problem:
    """The centre reported an error, or sent something this lane cannot parse."""

    code: str
    detail: str


@dataclass(frozen=True, slots=True)
class Publish:
    """Stream what ``media`` asks for, replacing whatever was asked before."""

    media: Media


@dataclass(frozen=True, slots=True)
class Pressed:
    """The call button was pressed; ``call`` is the message that carries the press, sent
    now or, with the link down, after the next welcome. For the lane's log: the press
    and its event id, to match with what the centre shows."""

    call: Call


@dataclass(frozen=True, slots=True)
class HangUp:
    """The centre's call made by the presses ``event_ids`` is over: the intercom hangs
    up its call of one of them, if it holds one (``CallHolder``)."""

    event_ids: tuple[str, ...]


Action = Message | Execute | Publish | Problem | Pressed | HangUp


class State(enum.Enum):
    CONNECTING = "connecting"
    HELLO_SENT = "hello_sent"
    OPEN = "open"


class LaneSession:
    # Vehicles seen and calls pressed (and hung up) while the link is down are kept
    # (past 16, the oldest go) and sent after the next welcome, with the event ids they
    # were given when they happened: the centre should miss neither the car at the gate
    # nor the driver who pressed call, nor keep the call of one who has gone. Nothing
    # acknowledges an event, so one that went out is not sent again.
    BACKLOG = 16

    def __init__(
        self,
        lane: str,
        token: str,
        *,
        heartbeat_ms: int = 5000,
        agent: str = "",
        memory: CommandMemory | None = None,
        display: DisplaySize | None = None,
        devices: tuple[DeviceInfo, ...] = (),
    ) -> None:
        self.lane = lane
        self.token = token
        self.proposed_heartbeat_ms = heartbeat_ms
        self.heartbeat_ms = heartbeat_ms
        self.agent = agent
        self.display = display  # stated in hello, so the centre offers no more text
        self.devices = devices  # stated in hello, so the console shows what the lane has
        self.memory = memory or CommandMemory()
        self.state = State.CONNECTING
        self.gate = GateState.UNKNOWN
        self.faults: dict[str, Fault] = {}
        self._backlog: deque[Message] = deque(maxlen=self.BACKLOG)
        self._last_sent = 0.0

    def connected(self, now: float) -> list[Action]:
        self.state = State.HELLO_SENT
        hello = Hello(
            self.lane,
            self.token,
            self.proposed_heartbeat_ms,
            agent=self.agent,
            display=self.display,
            devices=self.devices,
        )
        return self._sent([hello], now)

    def disconnected(self) -> None:
        self.state = State.CONNECTING

    def receive(self, raw: str | bytes, now: float) -> list[Action]:
        try:
            message = parse_centre_message(raw)
        except LinkError as exc:
            return [Problem(exc.code, exc.detail)]
        if isinstance(message, Error):
            return [Problem(message.code, message.detail)]
        if isinstance(message, Welcome):
            if self.state is not State.HELLO_SENT:
                return [Problem("out_of_order", "welcome without a pending hello")]
            self.state = State.OPEN
            self.heartbeat_ms = message.heartbeat_ms
            # The centre forgets a lane's state when the link drops; tell it again.
            replay: list[Message] = [Gate(self.gate), *self.faults.values(), *self._backlog]
            self._backlog.clear()
            return self._sent(replay, now)
        if self.state is not State.OPEN:
            return [Problem("out_of_order", f"{message.TYPE} before welcome")]
        if isinstance(message, Media):
            return [Publish(message)]
        if isinstance(message, CallOver):
            return [HangUp(message.event_ids)]
        return self._command(message, now)

    def _command(self, command: Command, now: float) -> list[Action]:
        command_id = command.command_id
        memo = self.memory.get(command_id)
        if memo is None:
            self.memory.started(command_id)
            return [*self._sent([Ack(command_id)], now), Execute(command)]
        if memo.running:
            return self._sent([Ack(command_id)], now)
        ending = self._ending(command_id, memo.refused, memo.detail)
        return self._sent([Ack(command_id), ending], now)

    def finished(
        self, command_id: str, refused: str | None, now: float, detail: str = ""
    ) -> list[Action]:
        """The driver ended a command; ``refused`` is its reason, or None when done,
        with ``detail`` saying what the device could not confirm."""
        # The wire needs a reason for every refusal, even one the driver left blank.
        if refused is not None and not refused:
            refused = "refused"
        detail = one_line(detail, MAX_DONE_DETAIL) if refused is None else ""
        self.memory.ended(command_id, refused, detail)
        if self.state is not State.OPEN:
            return []  # the centre will send the command again after reconnecting
        return self._sent([self._ending(command_id, refused, detail)], now)

    def event(self, event: LaneEvent, now: float) -> list[Action]:
        message: Message
        if isinstance(event, VehicleSeen):
            message = Vehicle(
                event_id=uuid4().hex,
                at=event.at,
                plate=event.plate,
                plate_colour=event.plate_colour,
                confidence=event.confidence,
                box=event.box,
                snapshot=event.snapshot_jpeg,
                late=event.late,
            )
        elif isinstance(event, GateChanged):
            self.gate = event.state
            message = Gate(event.state)
        elif isinstance(event, CallPressed):
            # Named when pressed, not when sent: a press kept for after a reconnect keeps
            # its id, so the centre can tell it from a second press.
            message = Call(event_id=event.event_id)
        elif isinstance(event, CallEnded):
            message = CallOver((event.event_id,))
        elif isinstance(event, EscapeSeen):
            message = Escape(event_id=uuid4().hex, at=event.at, plate=event.plate)
        elif isinstance(event, FaultRaised):
            # A fault's words are often a device's or FFmpeg's, made fit for the link
            # here, where every fault passes.
            message = Fault(event.code, one_line(event.detail, MAX_FAULT_DETAIL), event.active)
            if event.active:
                self.faults[event.code] = message
            else:
                self.faults.pop(event.code, None)
        else:
            raise TypeError(f"unknown lane event {event!r}")
        noted: list[Action] = [Pressed(message)] if isinstance(message, Call) else []
        if self.state is State.OPEN:
            return [*noted, *self._sent([message], now)]
        if isinstance(message, Vehicle | Call | CallOver | Escape):
            self._backlog.append(message)
        return noted

    def next_heartbeat(self) -> float:
        return self._last_sent + self.heartbeat_ms / 1000.0

    def tick(self, now: float) -> list[Action]:
        """A heartbeat, if nothing else has gone out for one interval."""
        if self.state is not State.OPEN or now < self.next_heartbeat():
            return []
        return self._sent([Heartbeat()], now)

    def _sent(self, messages: list[Message], now: float) -> list[Action]:
        self._last_sent = now
        return list(messages)

    @staticmethod
    def _ending(command_id: str, refused: str | None, detail: str) -> Message:
        return Done(command_id, detail) if refused is None else Refused(command_id, refused)
