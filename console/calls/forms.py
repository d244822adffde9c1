"""The call API's request bodies, read with the console's field rules (``console.fields``):
each reader returns a value or raises ``BadRequest`` naming the field, before anything
is asked of the queue, so a refused request changes nothing."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from console.auth import USERNAME_MAX
from console.errors import BadRequest
from console.fields import json_object, note_field, plate_field, text_field
from gates.textrules import visible

from .model import AgentState
from .record import Category, Outcome

# A phone number as a person types it, with spaces and a leading +.
CALLER_MAX = 32
# A break's reason is a word or two ("lunch", "training").
REASON_MAX = 64
# 100 000 yuan: far above any parking fee, low enough that a slip of the keyboard shows.
AMOUNT_MAX_FEN = 10_000_000
# What ``"to"`` names instead of an agent: the supervisors as a group.
SUPERVISORS = "supervisors"


@dataclass(frozen=True, slots=True)
class HotlineRequest:
    lane_id: str
    caller: str | None
    note: str


@dataclass(frozen=True, slots=True)
class TransferRequest:
    to: str | None  # None: to the supervisors
    note: str


@dataclass(frozen=True, slots=True)
class StateRequest:
    state: AgentState
    reason: str


def parse_hotline(body: object) -> HotlineRequest:
    fields = json_object(body)
    lane_id = text_field(fields, "lane_id", max_len=64)
    caller = text_field(fields, "caller", max_len=CALLER_MAX, default="").strip()
    return HotlineRequest(lane_id, caller or None, note_field(fields))


def parse_transfer(body: object) -> TransferRequest:
    fields = json_object(body)
    to = text_field(fields, "to", max_len=USERNAME_MAX)
    return TransferRequest(None if to == SUPERVISORS else to, note_field(fields))


def parse_outcome(body: object) -> Outcome:
    """The end-of-call form: a category, and optionally a plate (one the car park accepts,
    as the lane's reads are checked), an amount in fen and a note; ``other`` needs a note."""
    fields = json_object(body)
    try:
        category = Category(str(fields.get("category")))
    except ValueError:
        allowed = ", ".join(Category)
        raise BadRequest("invalid_category", f"category must be one of {allowed}") from None
    plate = plate_field(fields, "plate", required=False)
    note = note_field(fields)
    if category is Category.OTHER and not visible(note):
        raise BadRequest("note_required", "category 'other' needs a note saying what it was")
    return Outcome(category, plate, _amount(fields), note)


def parse_state(body: object) -> StateRequest:
    fields = json_object(body)
    wanted = fields.get("state")
    if wanted not in (AgentState.AVAILABLE.value, AgentState.BREAK.value):
        raise BadRequest("unknown_state", "state must be 'available' or 'break'")
    reason = text_field(fields, "reason", max_len=REASON_MAX, default="").strip()
    return StateRequest(AgentState(wanted), reason)


def _amount(fields: dict[str, Any]) -> int:
    value = fields.get("amount_fen", 0)
    if value is None:
        return 0
    # bool is an int in Python, never an amount.
    if type(value) is not int or not 0 <= value <= AMOUNT_MAX_FEN:
        raise BadRequest(
            "invalid_amount", f"amount_fen must be a whole number of fen from 0 to {AMOUNT_MAX_FEN}"
        )
    return value
