"""What is kept of a finished call: its outcome as the agent filed it, the actions taken
on its lane while it was answered, and the one row per call the day's ledger reads.

Pure values; the store writes a ``CallRecord`` in the same transaction as the queue's
state that finished the call, so a call is never finished without its record.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from gates.vocabulary import Direction

from .model import Call, CallState, Ending, Settings, Source


class Category(enum.StrEnum):
    """What the call was about, as the agent files it when ending it (tender 2.2)."""

    PAID_NOT_LIFTED = "paid_not_lifted"  # 缴费不抬杆
    NO_ENTRY_RECORD = "no_entry_record"  # 无入场记录
    PLATE_MISREAD = "plate_misread"  # 车牌识别错误
    NO_PLATE = "no_plate"  # 无牌车
    PAYMENT_HELP = "payment_help"  # 缴费求助
    EQUIPMENT_FAULT = "equipment_fault"  # 设备故障
    CONSULTATION = "consultation"  # 咨询
    COMPLAINT = "complaint"  # 投诉
    ESCAPE = "escape"  # 逃费
    OTHER = "other"  # 其他，须备注


@dataclass(frozen=True, slots=True)
class Outcome:
    """The end-of-call form. ``plate`` is normalised and valid, or empty; ``amount_fen``
    is the money the call was about (paid, waived or owed), 0 when none."""

    category: Category
    plate: str = ""
    amount_fen: int = 0
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category.value,
            "plate": self.plate,
            "amount_fen": self.amount_fen,
            "note": self.note,
        }


class ActionKind(enum.StrEnum):
    OPEN_GATE = "open_gate"
    DISPLAY = "display"


@dataclass(frozen=True, slots=True)
class ActionTaken:
    """A command the holder sent to the call's lane while answering it. ``outcome`` is
    the command's outcome (``done``, ``refused``, ...) or None while it was unknown: the
    ledger's outcome entry with the same ``command_id`` has it either way. ``reason`` is
    a gate open's reason as its request entry gives it (``free_release``, ...), which
    the day's call ledger reads; a display has none."""

    command_id: str
    kind: ActionKind
    agent: str
    outcome: str | None = None
    reason: str | None = None

    def ended(self, outcome: str) -> ActionTaken:
        return replace(self, outcome=outcome)

    def to_json(self) -> dict[str, Any]:
        reason = {} if self.reason is None else {"reason": self.reason}
        return {
            "command_id": self.command_id,
            "kind": self.kind.value,
            "agent": self.agent,
            "outcome": self.outcome,
            **reason,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ActionTaken:
        """Also reads what was kept before actions had a reason: without one."""
        outcome = data["outcome"]
        reason = data.get("reason")
        return cls(
            command_id=str(data["command_id"]),
            kind=ActionKind(data["kind"]),
            agent=str(data["agent"]),
            outcome=None if outcome is None else str(outcome),
            reason=None if reason is None else str(reason),
        )


@dataclass(frozen=True, slots=True)
class KeptCall:
    """A finished call as the queue holds it (``Call.to_json`` as JSON text), saved
    beside its record: a restarted centre remembers the day's finished calls from these
    (a repeated press stays one call; today's figures stay whole)."""

    call_id: str
    text: str


@dataclass(frozen=True, slots=True)
class SavedState:
    """The call queue's state as last saved (``console.calls.saved``), and its version:
    1 for the first save, one more for each after. A save names the version its step
    started from and is refused if another server saved since."""

    text: str
    version: int


@dataclass(frozen=True, slots=True)
class CallRecord:
    """One finished call (ended or abandoned), with everything the day's figures need.
    Times are UTC; ``agent`` is the last holder (None: never answered)."""

    call_id: str
    lane_id: str
    car_park: str
    direction: Direction
    source: Source
    caller: str | None
    agent: str | None
    state: CallState
    ending: Ending
    ended_by: str | None
    queued_at: datetime
    answered_at: datetime | None
    ended_at: datetime
    wait_s: float
    handle_s: float | None
    breached: bool
    presses: int
    transfers: int
    outcome: Outcome | None
    actions: tuple[ActionTaken, ...]


def utc(seconds: float) -> datetime:
    """A queue time (seconds since the epoch) as an aware UTC time."""
    return datetime.fromtimestamp(seconds, UTC)


def record_of(
    call: Call, settings: Settings, outcome: Outcome | None, actions: Iterable[ActionTaken]
) -> CallRecord:
    """The record of a call that has just finished. A call past the service target is
    breached even if it ended before the queue's timer flagged it."""
    if not call.finished or call.ended is None or call.ending is None:
        raise ValueError(f"call {call.id} is {call.state}, not finished")
    handle = call.handle_s(call.ended)
    return CallRecord(
        call_id=call.id,
        lane_id=call.lane_id,
        car_park=call.car_park,
        direction=call.direction,
        source=call.source,
        caller=call.caller,
        agent=call.agent,
        state=call.state,
        ending=call.ending,
        ended_by=call.ended_by,
        queued_at=utc(call.created),
        answered_at=None if call.answered is None else utc(call.answered),
        ended_at=utc(call.ended),
        wait_s=round(call.wait_s(call.ended), 3),
        handle_s=None if handle is None else round(handle, 3),
        breached=call.breached or (handle is not None and handle > settings.breach_s),
        presses=call.presses,
        transfers=len(call.transfers),
        outcome=outcome,
        actions=tuple(actions),
    )
