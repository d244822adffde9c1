"""Commands to lanes and their outcomes, as a state machine with no I/O.

A command is never "probably done": it ends exactly once, as ``done``, ``refused``,
``timeout`` or ``lane_offline``. While it is open and its lane reconnects, it is sent
again under the same id; the lane executes an id at most once and answers a repeat
from memory, so the resend is safe and a command survives a link blip.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from dataclasses import dataclass, field

from gates.errors import OutOfOrder, UnknownCommand
from gates.protocol import Command


class Outcome(enum.StrEnum):
    DONE = "done"
    REFUSED = "refused"
    TIMEOUT = "timeout"
    LANE_OFFLINE = "lane_offline"


@dataclass(frozen=True, slots=True)
class Transmit:
    lane: str
    command: Command


@dataclass(frozen=True, slots=True)
class Resolved:
    lane: str
    command_id: str
    outcome: Outcome
    detail: str = ""


@dataclass(slots=True)
class _Open:
    lane: str
    command: Command
    deadline: float
    acked: bool = False


@dataclass(slots=True)
class CommandBook:
    """Every open command of every lane, and the last outcomes for idempotent retries."""

    remember: int = 10_000
    _open: dict[str, _Open] = field(default_factory=dict)
    _online: set[str] = field(default_factory=set)
    _ended: OrderedDict[str, Resolved] = field(default_factory=OrderedDict)

    def issue(self, lane: str, command: Command, deadline: float) -> list[Transmit | Resolved]:
        """Start ``command``; a repeated id joins the first one instead of running twice."""
        command_id = command.command_id
        if command_id in self._ended:
            return [self._ended[command_id]]
        if command_id in self._open:
            return []
        if lane not in self._online:
            return [self._end(lane, command_id, Outcome.LANE_OFFLINE)]
        self._open[command_id] = _Open(lane, command, deadline)
        return [Transmit(lane, command)]

    def is_open(self, command_id: str) -> bool:
        return command_id in self._open

    def lane_up(self, lane: str) -> list[Transmit]:
        self._online.add(lane)
        return [Transmit(lane, c.command) for c in self._open.values() if c.lane == lane]

    def lane_down(self, lane: str) -> None:
        self._online.discard(lane)

    def ack(self, lane: str, command_id: str) -> None:
        self._find(lane, command_id).acked = True

    def finish(
        self, lane: str, command_id: str, now: float, refused: str | None = None, detail: str = ""
    ) -> Resolved:
        """End a command as the lane reported, unless its deadline has passed: a centre
        busy enough to read the lane's end late must still keep the deadline it promised,
        so the outcome is then the timeout that was due. A ``done``'s ``detail`` (what
        the lane could not confirm) is the outcome's detail, as a refusal's reason is."""
        entry = self._find(lane, command_id)
        if not entry.acked:
            raise OutOfOrder(f"command {command_id} ended before it was acked")
        if entry.deadline <= now:
            return self._expired(command_id)
        del self._open[command_id]
        if refused is None:
            return self._end(lane, command_id, Outcome.DONE, detail)
        return self._end(lane, command_id, Outcome.REFUSED, refused)

    def expire(self, now: float) -> list[Resolved]:
        due = [cid for cid, entry in self._open.items() if entry.deadline <= now]
        return [self._expired(command_id) for command_id in due]

    def _expired(self, command_id: str) -> Resolved:
        entry = self._open.pop(command_id)
        # A lane that went away mid-command and never came back is reported as offline,
        # not as slow: the agent's next step differs (send someone).
        outcome = Outcome.TIMEOUT if entry.lane in self._online else Outcome.LANE_OFFLINE
        return self._end(entry.lane, command_id, outcome)

    def _find(self, lane: str, command_id: str) -> _Open:
        entry = self._open.get(command_id)
        if entry is None or entry.lane != lane:
            ended = self._ended.get(command_id)
            if ended is not None and ended.lane == lane:
                raise UnknownCommand(f"command {command_id} already ended as {ended.outcome}")
            raise UnknownCommand(f"no open command {command_id} for this lane")
        return entry

    def _end(self, lane: str, command_id: str, outcome: Outcome, detail: str = "") -> Resolved:
        resolved = Resolved(lane, command_id, outcome, detail)
        self._ended[command_id] = resolved
        while len(self._ended) > self.remember:
            self._ended.popitem(last=False)
        return resolved
