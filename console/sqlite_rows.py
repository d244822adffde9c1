"""Rows of the store's tables (either engine's) as the centre's values, and back: the column
order of ``sqlite_schema``'s ``*_COLUMNS`` in one place."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from gates.vocabulary import PlateColour
from media.plates.reading import PlateReading

from .calls.model import CallState, Ending, Source
from .calls.record import ActionTaken, CallRecord, Category, Outcome
from .canonical import canonical_json, parse_canonical
from .errors import CorruptAuditEntry
from .ledger import AuditAction, AuditEntry, AuditRecord, format_utc, parse_utc
from .models import Direction, LaneRecord, Role, User
from .stays.records import StayChange, StayState
from .vehicles.model import Reading, VehicleEvent, VehicleRecord

# SQLite's INTEGER is 64 bits, signed: an id beyond it names no row, and would not even
# bind as a parameter (OverflowError), so it is looked up as nothing.
ROWID_MAX = 2**63 - 1


def names_a_row(row_id: int) -> bool:
    """Whether ``row_id``, as a client sent it, could be a row's id at all."""
    return -ROWID_MAX - 1 <= row_id <= ROWID_MAX


def user_of(row: Any) -> User:
    username, role, password_hash, created_at, disabled, coverage = row
    parks = None if coverage is None else tuple(str(park) for park in json.loads(coverage))
    return User(username, Role(role), password_hash, parse_utc(created_at), bool(disabled), parks)


def _optional_utc(at: datetime | None) -> str | None:
    return None if at is None else format_utc(at)


def call_record_row(record: CallRecord) -> tuple[object, ...]:
    outcome = record.outcome
    actions = [action.to_json() for action in record.actions]
    return (
        record.call_id,
        record.lane_id,
        record.car_park,
        record.direction.value,
        record.source.value,
        record.caller,
        record.agent,
        record.state.value,
        record.ending.value,
        record.ended_by,
        format_utc(record.queued_at),
        _optional_utc(record.answered_at),
        format_utc(record.ended_at),
        record.wait_s,
        record.handle_s,
        int(record.breached),
        record.presses,
        record.transfers,
        None if outcome is None else outcome.category.value,
        None if outcome is None else outcome.plate,
        None if outcome is None else outcome.amount_fen,
        None if outcome is None else outcome.note,
        json.dumps(actions, ensure_ascii=False),
    )


def call_record_of(row: Any) -> CallRecord:
    (call_id, lane, car_park, direction, source, caller, agent, state, ending, ended_by,
     queued_at, answered_at, ended_at, wait_s, handle_s, breached, presses, transfers,
     category, plate, amount_fen, note, actions) = row  # fmt: skip
    return CallRecord(
        call_id=call_id,
        lane_id=lane,
        car_park=car_park,
        direction=Direction(direction),
        source=Source(source),
        caller=caller,
        agent=agent,
        state=CallState(state),
        ending=Ending(ending),
        ended_by=ended_by,
        queued_at=parse_utc(queued_at),
        answered_at=None if answered_at is None else parse_utc(answered_at),
        ended_at=parse_utc(ended_at),
        wait_s=wait_s,
        handle_s=handle_s,
        breached=bool(breached),
        presses=presses,
        transfers=transfers,
        outcome=None if category is None else Outcome(Category(category), plate, amount_fen, note),
        actions=tuple(ActionTaken.from_json(action) for action in json.loads(actions)),
    )


def lane_of(row: Any) -> LaneRecord:
    lane_id, name, car_park, direction, token_hash = row
    return LaneRecord(lane_id, name, car_park, Direction(direction), token_hash)


def entry_of(row: Any) -> AuditEntry:
    seq, at, actor, action, lane, command_id, reason, outcome, detail, prev_hash, hash_ = row
    try:
        detail_value = parse_canonical(detail)
        if canonical_json(detail_value) != detail:
            raise ValueError("detail is not canonical JSON")
        record = AuditRecord(
            actor=actor,
            action=AuditAction(action),
            lane=lane,
            command_id=command_id,
            reason=reason,
            outcome=outcome,
            detail=detail_value,
        )
        when = parse_utc(at)
    except ValueError as exc:
        raise CorruptAuditEntry(seq, str(exc)) from exc
    return AuditEntry.build(seq=seq, at=when, record=record, prev_hash=prev_hash, hash=hash_)


def vehicle_row(event: VehicleEvent, change: StayChange) -> tuple[object, ...]:
    """The event's row in ``VEHICLE_COLUMNS`` order, then its ``stay_change``."""
    return (
        event.event_id,
        event.lane,
        event.car_park,
        event.direction.value,
        format_utc(event.at),
        format_utc(event.received_at),
        event.plate,
        event.plate_colour.value,
        event.confidence,
        json.dumps(list(event.box)),
        event.snapshot,
        event.corrected_plate,
        *reading_row(event.reading),
        change.value,
    )


def reading_row(reading: Reading | None) -> tuple[str | None, float | None, str | None]:
    """``read_plate``, ``read_confidence`` and ``read_at``: all NULL before a reading."""
    if reading is None:
        return (None, None, None)
    return (reading.plate.plate, reading.plate.confidence, format_utc(reading.at))


def vehicle_record_of(row: Any) -> VehicleRecord:
    """A row of ``VEHICLE_COLUMNS``, then ``stay_change``, ``stay_id`` and the stay's state."""
    (event_id, lane, car_park, direction, at, received_at, plate, colour, confidence, box,
     snapshot, corrected, read_plate, read_confidence, read_at, change, stay_id,
     stay_state) = row  # fmt: skip
    x, y, width, height = json.loads(box)
    reading = None
    if read_at is not None:
        reading = Reading(PlateReading(read_plate, read_confidence), parse_utc(read_at))
    event = VehicleEvent(
        event_id=event_id,
        lane=lane,
        car_park=car_park,
        direction=Direction(direction),
        at=parse_utc(at),
        received_at=parse_utc(received_at),
        plate=plate,
        plate_colour=PlateColour(colour),
        confidence=confidence,
        box=(x, y, width, height),
        snapshot=snapshot,
        corrected_plate=corrected,
        reading=reading,
    )
    state = None if stay_state is None else StayState(stay_state)
    return VehicleRecord(event, StayChange(change), stay_id, state)
