"""The store's no-plate stays (``console.noplate``): the writer's jobs that open
and close one, each run with its ledger entry (``Together``), and the readers' query.

A no-plate stay is an ordinary stay (``console.stays.records``) whose plate is a
temporary identity, opened and closed by vehicle events the phone's scans stand for
(``sqlite_vehicles.record_job``), plus a row here naming the phone and the codes. Each
job checks what the rules need again inside the transaction (the code not yet used,
one open stay per phone, the stay still open), so two scans racing cannot both pass.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import Conflict
from .ledger import parse_utc
from .noplate.errors import CodeExpired, StayRefused
from .noplate.model import NoPlateStay
from .sql import Connection
from .sqlite_vehicles import record_job
from .stays.records import StayChange, StayState
from .vehicles.model import Recorded, VehicleEvent

NOPLATE_SELECT = (
    "SELECT n.stay_id, s.car_park, n.identity, s.plate, s.state, n.entry_lane,"
    " s.entry_event, s.entered_at, s.closed_at, n.phone"
    " FROM noplate_stays AS n JOIN stays AS s ON s.id = n.stay_id"
)
ONE_NOPLATE = f"{NOPLATE_SELECT} WHERE n.stay_id = ?"
PHONE_OPEN = f"{NOPLATE_SELECT} WHERE n.phone = ? AND s.car_park = ? AND s.state = 'open'"
CODE_USED = "SELECT 1 FROM noplate_stays WHERE entry_code = ? OR exit_code = ?"
PARK_NOPLATE = f"{NOPLATE_SELECT} WHERE s.car_park = ? ORDER BY n.stay_id DESC LIMIT ?"


def noplate_of(row: Any) -> NoPlateStay:
    stay_id, car_park, identity, plate, state, lane, entry_event, entered, closed, phone = row
    return NoPlateStay(
        stay_id,
        car_park,
        identity,
        plate,
        StayState(state),
        lane,
        entry_event,
        parse_utc(entered),
        None if closed is None else parse_utc(closed),
        phone,
    )


def _unused(conn: Connection, nonce: str) -> None:
    used = conn.execute(CODE_USED, (nonce, nonce)).fetchone()
    if used is not None:
        raise CodeExpired("noplate_code_used", "this code has let a car through already")


def enter_job(event: VehicleEvent, phone: str, nonce: str) -> Callable[[Connection], Recorded]:
    """Opens the stay of ``event`` (an entry whose plate is the temporary identity) for
    ``phone``: ``noplate_code_used`` if the code was used, ``phone_has_stay`` if the
    phone holds an open stay anywhere."""

    def write(conn: Connection) -> Recorded:
        _unused(conn, nonce)
        held = conn.execute(
            "SELECT n.stay_id FROM noplate_stays AS n JOIN stays AS s ON s.id = n.stay_id"
            " WHERE n.phone = ? AND s.state = 'open'",
            (phone,),
        ).fetchone()
        if held is not None:
            raise StayRefused("phone_has_stay", f"this phone holds open stay {held[0]} already")
        recorded = record_job(event)(conn)
        if recorded.change is not StayChange.OPENED or recorded.stay_id is None:
            raise Conflict("identity_taken", "the temporary identity is in use: scan again")
        conn.execute(
            "INSERT INTO noplate_stays (stay_id, phone, identity, entry_lane, entry_code)"
            " VALUES (?, ?, ?, ?, ?)",
            (recorded.stay_id, phone, event.plate, event.lane, nonce),
        )
        return recorded

    return write


def exit_job(
    stay_id: int, event: VehicleEvent, nonce: str | None
) -> Callable[[Connection], Recorded]:
    """Closes no-plate stay ``stay_id`` by ``event`` (an exit under the stay's plate),
    keeping the exit code ``nonce`` that did it (None: a payment did). ``stay_not_open``
    once it is closed, ``plate_changed`` if an agent linked it meanwhile."""

    def write(conn: Connection) -> Recorded:
        if nonce is not None:
            _unused(conn, nonce)
        row = conn.execute(
            "SELECT s.state, s.plate FROM stays AS s JOIN noplate_stays AS n"
            " ON n.stay_id = s.id WHERE s.id = ?",
            (stay_id,),
        ).fetchone()
        if row is None or row[0] != StayState.OPEN:
            raise StayRefused("stay_not_open", f"no-plate stay {stay_id} is not open")
        if row[1] != event.plate:
            raise Conflict("plate_changed", "the stay's plate changed meanwhile; scan again")
        recorded = record_job(event)(conn)
        if recorded.stay_id != stay_id:
            raise Conflict("plate_changed", "the exit closed another stay; scan again")
        conn.execute("UPDATE noplate_stays SET exit_code = ? WHERE stay_id = ?", (nonce, stay_id))
        return recorded

    return write
