"""The call queue's values: calls, agents and the settings of the rules, as plain data.

Everything here is a frozen dataclass or an enum that turns into JSON and back, so the
queue's whole state can be kept anywhere (a file, SQLite, Redis) and restored after a
restart. Times are seconds since the epoch (``time.time()``), as the caller passed them.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from gates.vocabulary import Direction

# The break reason the queue itself gives an agent who keeps missing rings.
MISSED_RINGS = "missed_rings"


class Source(enum.StrEnum):
    LANE = "lane"  # the lane's call button
    PHONE = "phone"  # a driver's phone, from the help sticker's page
    HOTLINE = "hotline"  # the hotline, typed in by the agent who picked up


class CallKind(enum.StrEnum):
    """What the priority table ranks: a lane call by the way the lane faces (a driver
    stuck at an exit blocks the cars behind), the others by their source."""

    EXIT_LANE = "exit_lane"
    ENTRY_LANE = "entry_lane"
    PHONE = "phone"
    HOTLINE = "hotline"


DEFAULT_PRIORITIES: Mapping[CallKind, int] = {
    CallKind.EXIT_LANE: 4,
    CallKind.ENTRY_LANE: 3,
    CallKind.PHONE: 2,
    CallKind.HOTLINE: 1,
}


def kind_of(source: Source, direction: Direction) -> CallKind:
    if source is Source.PHONE:
        return CallKind.PHONE
    if source is Source.HOTLINE:
        return CallKind.HOTLINE
    return CallKind.EXIT_LANE if direction is Direction.EXIT else CallKind.ENTRY_LANE


class CallState(enum.StrEnum):
    WAITING = "waiting"  # in the queue, rung to nobody
    RINGING = "ringing"  # offered to one agent (``offered_to``)
    ACTIVE = "active"  # held by one agent (``agent``)
    ENDED = "ended"
    ABANDONED = "abandoned"  # the caller gave up (or the lane's wait ran out) unanswered


class Ending(enum.StrEnum):
    AGENT = "agent"  # the holder, or a supervisor, ended it
    CALLER = "caller"  # the caller hung up (the phone page closed)
    TIMEOUT = "timeout"  # a lane call nobody answered within ``abandon_s``


class AgentState(enum.StrEnum):
    OFFLINE = "offline"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    BREAK = "break"


# The states an agent may choose; the others follow from calls.
CHOSEN_STATES = frozenset({AgentState.AVAILABLE, AgentState.BREAK, AgentState.OFFLINE})


class TransferKind(enum.StrEnum):
    AGENT = "agent"  # the holder handed it to a named agent
    SUPERVISORS = "supervisors"  # the holder escalated it to whichever supervisor takes it
    BARGE = "barge"  # a supervisor took it over from the holder


@dataclass(frozen=True, slots=True)
class Settings:
    """The rules' numbers. ``priorities`` ranks the kinds of call (higher is answered
    first) and must rank every kind."""

    ring_s: float = 15.0  # how long one agent is rung before the ring moves on
    wrap_s: float = 30.0  # wrap-up after a call, unless the agent ends it early
    abandon_s: float = 300.0  # a lane call unanswered this long is abandoned
    reconnect_s: float = 30.0  # how long a dropped console keeps its active call
    warn_s: float = 240.0  # handle time that earns a warning
    breach_s: float = 300.0  # handle time past the service target
    answer_target_s: float = 20.0  # the service level counts calls answered within this
    missed_rings_break: int = 2  # rings missed in a row that send an agent on a break
    keep_s: float = 86400.0  # finished calls are kept this long (dedup, today's figures)
    priorities: Mapping[CallKind, int] = field(default_factory=lambda: dict(DEFAULT_PRIORITIES))

    def __post_init__(self) -> None:
        missing = set(CallKind) - set(self.priorities)
        if missing:
            raise ValueError(f"priorities must rank every kind of call; missing {missing}")

    @property
    def returned_priority(self) -> int:
        """A named transfer nobody answered comes back above every fresh call: its caller
        has already waited, been answered and been handed on once."""
        return max(self.priorities.values()) + 1


@dataclass(frozen=True, slots=True)
class CallRequest:
    """A call as it arrives. Every source names a lane (a phone's sticker is at one);
    the caller of the queue looks up its car park and direction."""

    lane_id: str
    car_park: str
    direction: Direction
    source: Source = Source.LANE
    caller: str | None = None  # the phone or hotline number
    note: str = ""
    event_id: str | None = None  # the lane's id of the press, to spot a repeat


@dataclass(frozen=True, slots=True)
class Transfer:
    at: float
    kind: TransferKind
    from_agent: str
    to_agent: str | None  # None: to the supervisors
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "at": self.at,
            "kind": self.kind.value,
            "from_agent": self.from_agent,
            "to_agent": self.to_agent,
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Transfer:
        return cls(
            at=float(data["at"]),
            kind=TransferKind(data["kind"]),
            from_agent=str(data["from_agent"]),
            to_agent=_opt_str(data["to_agent"]),
            note=str(data["note"]),
        )


@dataclass(frozen=True, slots=True)
class Call:
    id: str
    lane_id: str
    car_park: str
    source: Source
    direction: Direction
    priority: int
    created: float  # queued; kept when the call goes back to the queue
    caller: str | None = None
    note: str = ""
    event_ids: tuple[str, ...] = ()  # the lane's ids of the presses that made or joined it
    presses: int = 1  # requests that placed or joined it
    state: CallState = CallState.WAITING
    agent: str | None = None  # the holder while active; the last holder after that
    offered_to: str | None = None  # the agent being rung
    ring_until: float | None = None
    answered: float | None = None  # the first answer: transfers do not restart it
    ended: float | None = None  # ended or abandoned
    ending: Ending | None = None
    ended_by: str | None = None  # the agent who ended it; None when the caller did
    wrap_ended: float | None = None  # the last holder's wrap-up after the end finished
    for_agent: str | None = None  # a named transfer: only this agent may take it
    for_supervisors: bool = False  # escalated: only supervisors may take it
    tried: tuple[str, ...] = ()  # agents whose ring ran out in this round of offers
    declined: tuple[str, ...] = ()  # agents who declined it: never rung for it again
    transfers: tuple[Transfer, ...] = ()
    warned: bool = False  # handle time passed ``warn_s``
    breached: bool = False  # handle time passed ``breach_s``

    @property
    def kind(self) -> CallKind:
        return kind_of(self.source, self.direction)

    @property
    def event_id(self) -> str | None:
        """The lane's id of the press that placed the call."""
        return self.event_ids[0] if self.event_ids else None

    @property
    def finished(self) -> bool:
        return self.state in (CallState.ENDED, CallState.ABANDONED)

    @property
    def pending(self) -> bool:
        """In the queue: waiting or being rung."""
        return self.state in (CallState.WAITING, CallState.RINGING)

    def wait_s(self, now: float) -> float:
        """Queued until answered (or abandoned, or now)."""
        until = self.answered if self.answered is not None else self.ended
        return (now if until is None else until) - self.created

    def handle_s(self, now: float) -> float | None:
        """Answered until ended (or now); None if never answered."""
        if self.answered is None:
            return None
        return (now if self.ended is None else self.ended) - self.answered

    @property
    def wrap_s(self) -> float | None:
        """The last holder's wrap-up, once it is over."""
        if self.ended is None or self.wrap_ended is None:
            return None
        return self.wrap_ended - self.ended

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "lane_id": self.lane_id,
            "car_park": self.car_park,
            "source": self.source.value,
            "direction": self.direction.value,
            "priority": self.priority,
            "created": self.created,
            "caller": self.caller,
            "note": self.note,
            "event_ids": list(self.event_ids),
            "presses": self.presses,
            "state": self.state.value,
            "agent": self.agent,
            "offered_to": self.offered_to,
            "ring_until": self.ring_until,
            "answered": self.answered,
            "ended": self.ended,
            "ending": None if self.ending is None else self.ending.value,
            "ended_by": self.ended_by,
            "wrap_ended": self.wrap_ended,
            "for_agent": self.for_agent,
            "for_supervisors": self.for_supervisors,
            "tried": list(self.tried),
            "declined": list(self.declined),
            "transfers": [transfer.to_json() for transfer in self.transfers],
            "warned": self.warned,
            "breached": self.breached,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Call:
        return cls(
            id=str(data["id"]),
            lane_id=str(data["lane_id"]),
            car_park=str(data["car_park"]),
            source=Source(data["source"]),
            direction=Direction(data["direction"]),
            priority=int(data["priority"]),
            created=float(data["created"]),
            caller=_opt_str(data["caller"]),
            note=str(data["note"]),
            event_ids=tuple(str(e) for e in data["event_ids"]),
            presses=int(data["presses"]),
            state=CallState(data["state"]),
            agent=_opt_str(data["agent"]),
            offered_to=_opt_str(data["offered_to"]),
            ring_until=_opt_float(data["ring_until"]),
            answered=_opt_float(data["answered"]),
            ended=_opt_float(data["ended"]),
            ending=None if data["ending"] is None else Ending(data["ending"]),
            ended_by=_opt_str(data["ended_by"]),
            wrap_ended=_opt_float(data["wrap_ended"]),
            for_agent=_opt_str(data["for_agent"]),
            for_supervisors=bool(data["for_supervisors"]),
            tried=tuple(str(a) for a in data["tried"]),
            declined=tuple(str(a) for a in data["declined"]),
            transfers=tuple(Transfer.from_json(t) for t in data["transfers"]),
            warned=bool(data["warned"]),
            breached=bool(data["breached"]),
        )


@dataclass(frozen=True, slots=True)
class Agent:
    name: str
    state: AgentState = AgentState.OFFLINE
    since: float = 0.0  # entered ``state``
    idle_since: float = 0.0  # last became available: who waited longest is rung first
    car_parks: tuple[str, ...] | None = None  # the car parks covered; None: every one
    supervisor: bool = False
    call_id: str | None = None  # the call rung for, held, or being wrapped up
    break_reason: str = ""
    missed: int = 0  # rings missed in a row
    wrap_until: float | None = None
    grace_until: float | None = None  # the console dropped during a call: held until then

    def covers(self, car_park: str) -> bool:
        return self.car_parks is None or car_park in self.car_parks

    @property
    def online(self) -> bool:
        return self.state is not AgentState.OFFLINE

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "state": self.state.value,
            "since": self.since,
            "idle_since": self.idle_since,
            "car_parks": None if self.car_parks is None else list(self.car_parks),
            "supervisor": self.supervisor,
            "call_id": self.call_id,
            "break_reason": self.break_reason,
            "missed": self.missed,
            "wrap_until": self.wrap_until,
            "grace_until": self.grace_until,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Agent:
        parks = data["car_parks"]
        return cls(
            name=str(data["name"]),
            state=AgentState(data["state"]),
            since=float(data["since"]),
            idle_since=float(data["idle_since"]),
            car_parks=None if parks is None else tuple(str(p) for p in parks),
            supervisor=bool(data["supervisor"]),
            call_id=_opt_str(data["call_id"]),
            break_reason=str(data["break_reason"]),
            missed=int(data["missed"]),
            wrap_until=_opt_float(data["wrap_until"]),
            grace_until=_opt_float(data["grace_until"]),
        )


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_float(value: Any) -> float | None:
    return None if value is None else float(value)
