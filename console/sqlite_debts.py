"""The store's plate lists and escape debts: the writer's jobs and the readers'
queries. Either store runs them, on its writer thread and its reads."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from .billing.debts import Debt
from .billing.lists import PlateLists
from .errors import Conflict, NotFound
from .gatekeeping.holds import BlacklistHold
from .ledger import format_utc, parse_utc
from .sql import Connection
from .sqlite_payments import park_document_job
from .stays.records import StayState

PLATE_LISTS = "SELECT lists FROM plate_lists WHERE car_park = ?"
PLATE_LIST_STAMPS = "SELECT car_park, set_at FROM plate_lists ORDER BY car_park"
ALL_PLATE_LISTS = "SELECT lists FROM plate_lists ORDER BY car_park"

# The stay a lane's escape report is about: the plate's latest entered before it.
LATEST_STAY = (
    "SELECT id FROM stays WHERE car_park = ? AND plate = ? AND entered_at <= ?"
    " ORDER BY entered_at DESC, id DESC LIMIT 1"
)

DEBT_COLUMNS = "id, plate, car_park, fen, incurred_at"
# A plate's open debts but the one of stay ``?`` (NULL: none left out), whose own fee
# an order for that stay asks for already.
OWED_DEBTS = (
    f"SELECT {DEBT_COLUMNS} FROM debts WHERE plate = ? AND cleared_at IS NULL"
    " AND stay_id IS DISTINCT FROM ? ORDER BY incurred_at, id"
)
STAY_DEBT = f"SELECT {DEBT_COLUMNS} FROM debts WHERE stay_id = ? AND cleared_at IS NULL"
# What an order settles once paid: the debts it named beside its fee, and the debt of
# its own stay, whose fee it is (an escape recorded while the order was open, or before
# the car came back to pay).
# Its two ``?`` are both the order's id (plain placeholders: PostgreSQL has no ``?1``).
_ORDER_SETTLES = (
    "(id IN (SELECT debt_id FROM payment_order_debts WHERE order_id = ?)"
    " OR stay_id = (SELECT stay_id FROM payment_orders WHERE id = ?))"
)
ORDER_DEBTS = f"SELECT {DEBT_COLUMNS} FROM debts WHERE {_ORDER_SETTLES} ORDER BY incurred_at, id"


def set_lists_job(car_park: str, lists: PlateLists, now: datetime) -> Callable[[Connection], None]:
    return park_document_job("plate_lists", "lists", car_park, lists.to_json(), now)


def lists_of(rows: list[tuple[str]]) -> list[PlateLists]:
    # Read back through the same strict reader as a file: a row edited outside the
    # program into lists that do not stand is refused rather than decided by.
    return [PlateLists.parse(json.loads(row[0])) for row in rows]


def debt_of(row: tuple[Any, ...]) -> Debt:
    return Debt(row[0], row[1], row[2], row[3], parse_utc(row[4]))


def add_debt_job(
    debt: Debt, stay_id: int, recorded_by: str, note: str
) -> Callable[[Connection], None]:
    """The debt of stay ``stay_id``'s escape; a stay still open ends there, as
    ``no_exit`` at the debt's ``incurred_at``: the car is gone, and its stay must neither
    run on nor be offered for an exit to match. ``NotFound`` for a stay that is not
    there; ``Conflict`` for a stay already owed (``escape_recorded``) or paid for
    (``stay_paid``): then nothing is written, the ledger entry included."""

    def write(conn: Connection) -> None:
        if conn.execute("SELECT 1 FROM stays WHERE id = ?", (stay_id,)).fetchone() is None:
            raise NotFound("unknown_stay", "no stay with that id")
        if conn.execute("SELECT 1 FROM debts WHERE stay_id = ?", (stay_id,)).fetchone():
            raise Conflict("escape_recorded", f"stay {stay_id}'s escape is recorded already")
        paid = conn.execute(
            "SELECT id FROM payment_orders WHERE stay_id = ? AND state = 'paid'", (stay_id,)
        ).fetchone()
        if paid is not None:
            raise Conflict("stay_paid", f"stay {stay_id} was paid for by order {paid[0]}")
        conn.execute(
            "INSERT INTO debts (id, plate, car_park, stay_id, fen, incurred_at, recorded_by,"
            " note) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                debt.id,
                debt.plate,
                debt.car_park,
                stay_id,
                debt.fen,
                format_utc(debt.incurred_at),
                recorded_by,
                note,
            ),
        )
        conn.execute(
            "UPDATE stays SET state = ?, closed_at = ? WHERE id = ? AND state = ?",
            (StayState.NO_EXIT, format_utc(debt.incurred_at), stay_id, StayState.OPEN),
        )

    return write


def name_debts_job(order_id: str, debt_ids: Sequence[str]) -> Callable[[Connection], None]:
    def write(conn: Connection) -> None:
        conn.executemany(
            "INSERT INTO payment_order_debts (order_id, debt_id) VALUES (?, ?)",
            [(order_id, debt_id) for debt_id in debt_ids],
        )

    return write


def clear_debts_job(order_id: str, now: datetime) -> Callable[[Connection], list[str]]:
    """Clears the debts paid order ``order_id`` settles (``ORDER_DEBTS``) that are
    still owed (another paid order may have cleared one first); returns the ids it
    cleared."""
    at = format_utc(now)

    def write(conn: Connection) -> list[str]:
        rows = conn.execute(
            "UPDATE debts SET order_id = ?, cleared_at = ? WHERE cleared_at IS NULL"
            f" AND {_ORDER_SETTLES} RETURNING id",
            (order_id, at, order_id, order_id),
        ).fetchall()
        return sorted(row[0] for row in rows)

    return write


HOLDS = (
    "SELECT event_id, lane, car_park, plate, at FROM blacklist_holds"
    " WHERE at >= ? AND at < ? ORDER BY at, event_id"
)


def add_hold_job(hold: BlacklistHold) -> Callable[[Connection], None]:
    row = (hold.event_id, hold.lane, hold.car_park, hold.plate, format_utc(hold.at))

    def write(conn: Connection) -> None:
        conn.execute(
            "INSERT INTO blacklist_holds (event_id, lane, car_park, plate, at)"
            " VALUES (?, ?, ?, ?, ?) ON CONFLICT (event_id) DO NOTHING",
            row,
        )

    return write


def hold_of(row: tuple[Any, ...]) -> BlacklistHold:
    return BlacklistHold(row[0], row[1], row[2], row[3], parse_utc(row[4]))
