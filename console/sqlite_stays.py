"""The store's re-linking of stays after an agent's word: a plate corrected on a
vehicle event, an exit matched to an open stay. Each is a writer's job run with its
ledger entry (``Together``): the entry first, then the rows, kept or lost together.

The rules are those of ``console.stays.records`` applied again with the plate the agent
gave, in the lanes' time order:

- a corrected **entry**: its stay takes the new plate. If that plate already has an
  open stay in the car park, the two are one car entering twice with no exit seen:
  the earlier entry's stay closes as ``no_exit`` at the later one's time, whichever of
  the two that is (an entry with no plate read gets a stay now, under the same rule);
- a corrected **exit**: what its old plate did is undone first (a stay it closed opens
  again, under the same rule; a ``no_entry`` stay it made is kept aside), then the new
  plate's open stay, if any, closes as ``exited`` by it and the ``no_entry`` stay is
  deleted; with none, the exit is ``no_entry`` under the new plate;
- a **match**: the agent's open stay closes as ``exited`` by the exit, whose
  ``no_entry`` stay is deleted.

An exit closes only a stay entered before it: an open stay entered later is the car's
next visit.

A ``no_entry`` stay an exit no longer needs is deleted, not kept as resolved: the
schema has no such state, and the ledger entry keeps the stay's id with the old and new
plates. Each job re-reads what the caller read before writing its entry and refuses
(``Conflict``) if it changed meanwhile, so an entry never describes a change not made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from gates.vocabulary import Direction

from .errors import Conflict, NotFound
from .ledger import parse_utc
from .sql import Connection
from .stays.match import OpenStay, StayDelta
from .stays.records import StayChange, StayState, stay_key
from .vehicles.model import Relinked

Job = Callable[[Connection], Relinked]


@dataclass(frozen=True, slots=True)
class _Event:
    event_id: str
    car_park: str
    direction: Direction
    at: str
    plate: str  # the corrected plate when there is one
    change: StayChange
    stay_id: int | None


def _event(conn: Connection, event_id: str) -> _Event:
    row = conn.execute(
        "SELECT car_park, direction, at, COALESCE(corrected_plate, plate), stay_change, stay_id"
        " FROM vehicle_events WHERE event_id = ?",
        (event_id,),
    ).fetchone()
    if row is None:
        raise NotFound("unknown_vehicle", "no vehicle event with that id")
    return _Event(event_id, row[0], Direction(row[1]), row[2], row[3], StayChange(row[4]), row[5])


def correct_job(event_id: str, old: str, new: str) -> Job:
    """Sets the event's ``corrected_plate`` to ``new`` and re-links its stays; ``old``
    is the plate (normalised) the caller read and ledgered."""

    def write(conn: Connection) -> Relinked:
        event = _event(conn, event_id)
        if stay_key(event.plate) != old:
            raise Conflict("plate_changed", "the event's plate changed meanwhile; read it again")
        conn.execute(
            "UPDATE vehicle_events SET corrected_plate = ? WHERE event_id = ?", (new, event_id)
        )
        if event.direction is Direction.ENTRY:
            return _reenter(conn, event, new)
        return _reexit(conn, event, new)

    return write


def match_job(stay_id: int, event_id: str, event_plate: str, kept_plate: str) -> Job:
    """Closes open stay ``stay_id`` by exit ``event_id``, which found no stay; the
    plates are those the caller read and ledgered."""

    def write(conn: Connection) -> Relinked:
        event = _event(conn, event_id)
        if event.direction is not Direction.EXIT:
            raise Conflict("not_an_exit", "only an exit closes a stay")
        if event.change not in (StayChange.NO_ENTRY, StayChange.UNREAD):
            raise Conflict("already_matched", "this exit already closed a stay")
        if stay_key(event.plate) != event_plate:
            raise Conflict("plate_changed", "the event's plate changed meanwhile; read it again")
        row = conn.execute(
            "SELECT plate, state, entered_at FROM stays WHERE id = ?", (stay_id,)
        ).fetchone()
        if row is None:
            raise NotFound("unknown_stay", "no stay with that id")
        if row[1] != StayState.OPEN:
            raise Conflict("stay_not_open", "that stay is not open")
        if row[0] != kept_plate:
            raise Conflict("plate_changed", "the stay's plate changed meanwhile; read it again")
        if row[2] > event.at:
            raise Conflict("entered_after_exit", "that stay began after this exit")
        _close(conn, stay_id, event)
        _drop_no_entry(conn, event)
        return Relinked(stay_id, StayChange.CLOSED, StayDelta(closed=(stay_id,)))

    return write


def _reenter(conn: Connection, event: _Event, new: str) -> Relinked:
    if event.stay_id is None:  # no plate was read: the entry opens its stay now
        # Made closed, so as not to collide with an open stay of the plate; settled next.
        stay_id = conn.execute(
            "INSERT INTO stays (car_park, plate, state, entry_event, entered_at, closed_at)"
            " VALUES (?, ?, 'no_exit', ?, ?, ?) RETURNING id",
            (event.car_park, new, event.event_id, event.at, event.at),
        ).fetchone()[0]
        conn.execute(
            "UPDATE vehicle_events SET stay_id = ?, stay_change = 'opened' WHERE event_id = ?",
            (stay_id, event.event_id),
        )
        delta = _settle(conn, stay_id, event.car_park, new, event.at)
        return Relinked(stay_id, StayChange.OPENED, delta)
    state = conn.execute("SELECT state FROM stays WHERE id = ?", (event.stay_id,)).fetchone()[0]
    if state != StayState.OPEN:  # its exit was seen, or a later entry closed it: the plate
        conn.execute("UPDATE stays SET plate = ? WHERE id = ?", (new, event.stay_id))
        return Relinked(event.stay_id, event.change, StayDelta())
    delta = _settle(conn, event.stay_id, event.car_park, new, event.at)
    return Relinked(event.stay_id, event.change, delta)


def _reexit(conn: Connection, event: _Event, new: str) -> Relinked:
    closed: tuple[int, ...] = ()
    opened: tuple[OpenStay, ...] = ()
    if event.change is StayChange.CLOSED and event.stay_id is not None:
        # The stay the misread closed was not this car's: its car is still in.
        plate, entered_at = conn.execute(
            "SELECT plate, entered_at FROM stays WHERE id = ?", (event.stay_id,)
        ).fetchone()
        undone = _settle(conn, event.stay_id, event.car_park, plate, entered_at)
        closed, opened = undone.closed, undone.opened
    # A stay entered after this exit is a later visit, not the one it ended.
    found = conn.execute(
        "SELECT id FROM stays"
        " WHERE car_park = ? AND plate = ? AND state = 'open' AND entered_at <= ?",
        (event.car_park, new, event.at),
    ).fetchone()
    if found is not None:
        _close(conn, found[0], event)
        _drop_no_entry(conn, event)
        closed += (found[0],)
        return Relinked(found[0], StayChange.CLOSED, StayDelta(closed, opened))
    if event.change is StayChange.NO_ENTRY and event.stay_id is not None:
        stay_id = event.stay_id
        conn.execute("UPDATE stays SET plate = ? WHERE id = ?", (new, stay_id))
    else:
        stay_id = conn.execute(
            "INSERT INTO stays (car_park, plate, state, exit_event, closed_at)"
            " VALUES (?, ?, 'no_entry', ?, ?) RETURNING id",
            (event.car_park, new, event.event_id, event.at),
        ).fetchone()[0]
        conn.execute(
            "UPDATE vehicle_events SET stay_id = ?, stay_change = 'no_entry' WHERE event_id = ?",
            (stay_id, event.event_id),
        )
    return Relinked(stay_id, StayChange.NO_ENTRY, StayDelta(closed, opened))


def _settle(
    conn: Connection, stay_id: int, car_park: str, plate: str, entered_at: str
) -> StayDelta:
    """Makes stay ``stay_id`` an open stay of ``plate`` entered at ``entered_at``, as
    ``console.stays.records`` would have had the entries come in time order: if the plate
    has another open stay, the earlier of the two closes as ``no_exit`` at the later's
    entry. Times compare as text: ``format_utc`` is fixed width."""
    other = conn.execute(
        "SELECT id, entered_at FROM stays"
        " WHERE car_park = ? AND plate = ? AND state = 'open' AND id != ?",
        (car_park, plate, stay_id),
    ).fetchone()
    if other is not None and other[1] > entered_at:
        conn.execute(
            "UPDATE stays SET plate = ?, state = 'no_exit', closed_at = ?, exit_event = NULL"
            " WHERE id = ?",
            (plate, other[1], stay_id),
        )
        return StayDelta(closed=(stay_id,))
    closed: tuple[int, ...] = (stay_id,)
    if other is not None:
        conn.execute(
            "UPDATE stays SET state = 'no_exit', closed_at = ? WHERE id = ?",
            (entered_at, other[0]),
        )
        closed += (other[0],)
    conn.execute(
        "UPDATE stays SET plate = ?, state = 'open', closed_at = NULL, exit_event = NULL"
        " WHERE id = ?",
        (plate, stay_id),
    )
    entry_event = conn.execute("SELECT entry_event FROM stays WHERE id = ?", (stay_id,)).fetchone()[
        0
    ]
    stay = OpenStay(stay_id, plate, car_park, parse_utc(entered_at), entry_event)
    return StayDelta(closed=closed, opened=(stay,))


def _close(conn: Connection, stay_id: int, event: _Event) -> None:
    conn.execute(
        "UPDATE stays SET state = 'exited', closed_at = ?, exit_event = ? WHERE id = ?",
        (event.at, event.event_id, stay_id),
    )
    conn.execute(
        "UPDATE vehicle_events SET stay_id = ?, stay_change = 'closed' WHERE event_id = ?",
        (stay_id, event.event_id),
    )


def _drop_no_entry(conn: Connection, event: _Event) -> None:
    """Deletes the ``no_entry`` stay the exit had made (the event now points elsewhere)."""
    if event.change is StayChange.NO_ENTRY and event.stay_id is not None:
        conn.execute("DELETE FROM stays WHERE id = ? AND state = 'no_entry'", (event.stay_id,))
