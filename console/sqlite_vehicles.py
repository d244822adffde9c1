"""The store's vehicle events and stays: the writer's job that records an event
with its stay change, and the readers' queries. Either store runs them, on its writer
thread and its reads."""

from __future__ import annotations

from collections.abc import Callable

from .errors import Conflict, NotFound
from .ledger import format_utc, parse_utc
from .sql import Connection
from .sqlite_rows import reading_row, vehicle_record_of, vehicle_row
from .sqlite_schema import VEHICLE_COLUMNS
from .stays.match import OpenStay, StayDelta
from .stays.records import StayChange, StayState, stay_key, step
from .vehicles.model import Reading, Recorded, VehicleEvent, VehicleRecord

_COLUMNS = ", ".join(f"v.{name.strip()}" for name in VEHICLE_COLUMNS.split(","))
# An event, what it did to the stays, and that stay's state now.
RECORD_SELECT = (
    f"SELECT {_COLUMNS}, v.stay_change, v.stay_id, s.state"
    " FROM vehicle_events AS v LEFT JOIN stays AS s ON s.id = v.stay_id"
)
LANE_VEHICLES = f"{RECORD_SELECT} WHERE v.lane = ? ORDER BY v.at DESC, v.rowid DESC LIMIT ?"
ONE_VEHICLE = f"{RECORD_SELECT} WHERE v.event_id = ?"
OPEN_STAYS = (
    "SELECT id, plate, car_park, entered_at, entry_event FROM stays"
    " WHERE state = 'open' ORDER BY id"
)


def record_job(event: VehicleEvent) -> Callable[[Connection], Recorded]:
    """The writer's job for ``event``: the event's row and its stay change, together.
    An event id already kept from the same lane changes nothing (the lane sent it again
    after a reconnect); from another lane it is a ``Conflict``."""
    plate = stay_key(event.plate)
    at = format_utc(event.at)

    def write(conn: Connection) -> Recorded:
        kept = conn.execute(
            "SELECT lane, stay_change, stay_id FROM vehicle_events WHERE event_id = ?",
            (event.event_id,),
        ).fetchone()
        if kept is not None:
            if kept[0] != event.lane:
                raise Conflict("event_exists", f"event {event.event_id} came from another lane")
            return Recorded(event.event_id, False, StayChange(kept[1]), kept[2])
        found = conn.execute(
            "SELECT id FROM stays WHERE car_park = ? AND plate = ? AND state = 'open'",
            (event.car_park, plate),
        ).fetchone()
        change = step(event.direction, event.plate, None if found is None else found[0])
        row = vehicle_row(event, change.change)
        conn.execute(
            f"INSERT INTO vehicle_events ({VEHICLE_COLUMNS}, stay_change)"
            f" VALUES ({', '.join('?' * len(row))})",
            row,
        )
        stay_id = change.close
        closed: tuple[int, ...] = ()
        opened: tuple[OpenStay, ...] = ()
        if change.close is not None:
            closed = (change.close,)
            exit_event = event.event_id if change.closed_as is StayState.EXITED else None
            conn.execute(
                "UPDATE stays SET state = ?, closed_at = ?, exit_event = ? WHERE id = ?",
                (str(change.closed_as), at, exit_event, change.close),
            )
        if change.new is StayState.OPEN:
            stay_id = conn.execute(
                "INSERT INTO stays (car_park, plate, state, entry_event, entered_at)"
                " VALUES (?, ?, 'open', ?, ?) RETURNING id",
                (event.car_park, plate, event.event_id, at),
            ).fetchone()[0]
            opened = (OpenStay(stay_id, plate, event.car_park, parse_utc(at), event.event_id),)
        elif change.new is StayState.NO_ENTRY:
            stay_id = conn.execute(
                "INSERT INTO stays (car_park, plate, state, exit_event, closed_at)"
                " VALUES (?, ?, 'no_entry', ?, ?) RETURNING id",
                (event.car_park, plate, event.event_id, at),
            ).fetchone()[0]
        if stay_id is not None:
            conn.execute(
                "UPDATE vehicle_events SET stay_id = ? WHERE event_id = ?",
                (stay_id, event.event_id),
            )
        return Recorded(event.event_id, True, change.change, stay_id, StayDelta(closed, opened))

    return write


def forget_snapshots_job(before: str) -> Callable[[Connection], int]:
    """The writer's job that forgets the snapshot paths sorting before ``before``."""

    def write(conn: Connection) -> int:
        cursor = conn.execute(
            "UPDATE vehicle_events SET snapshot = NULL WHERE snapshot < ?", (before,)
        )
        return int(cursor.rowcount)

    return write


def reading_job(event_id: str, reading: Reading) -> Callable[[Connection], None]:
    """The writer's job that keeps the OCR's ``reading`` of the event's plate: once, the
    first kept stands (``Conflict`` ``already_read`` after it); ``NotFound`` for an
    unknown event."""

    def write(conn: Connection) -> None:
        cursor = conn.execute(
            "UPDATE vehicle_events SET read_plate = ?, read_confidence = ?, read_at = ?"
            " WHERE event_id = ? AND read_at IS NULL",
            (*reading_row(reading), event_id),
        )
        if cursor.rowcount == 1:
            return
        if conn.execute("SELECT 1 FROM vehicle_events WHERE event_id = ?", (event_id,)).fetchone():
            raise Conflict("already_read", "the event's plate was read already")
        raise NotFound("unknown_vehicle", "no vehicle event with that id")

    return write


def records_of(rows: list[object]) -> list[VehicleRecord]:
    return [vehicle_record_of(row) for row in rows]


def open_stays_of(rows: list[tuple[int, str, str, str, str]]) -> list[OpenStay]:
    return [OpenStay(row[0], row[1], row[2], parse_utc(row[3]), row[4]) for row in rows]
