"""The SQLite store's billing rules and payments: the writer's jobs and the readers'
queries. ``SQLiteStore`` runs them on its writer and reader threads."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from datetime import datetime

from .billing.rules import Rules
from .canonical import canonical_json
from .ledger import format_utc, parse_utc
from .stays.records import Stay, StayState

BILLING_RULES = "SELECT rules FROM billing_rules WHERE car_park = ?"
ONE_STAY = "SELECT id, car_park, plate, state, entered_at, closed_at FROM stays WHERE id = ?"


def set_rules_job(
    car_park: str, rules: Rules, now: datetime
) -> Callable[[sqlite3.Connection], None]:
    text = canonical_json(rules.to_json())
    at = format_utc(now)

    def write(conn: sqlite3.Connection) -> None:
        conn.execute(
            "INSERT INTO billing_rules (car_park, rules, set_at) VALUES (?, ?, ?)"
            " ON CONFLICT (car_park) DO UPDATE SET rules = excluded.rules,"
            " set_at = excluded.set_at",
            (car_park, text, at),
        )

    return write


def rules_of(rows: list[tuple[str]]) -> Rules | None:
    # Read back through the same strict reader: a row edited outside the program into
    # rules that do not stand is refused here rather than charged by.
    return Rules.parse(json.loads(rows[0][0])) if rows else None


def stay_of(rows: list[tuple[int, str, str, str, str | None, str | None]]) -> Stay | None:
    if not rows:
        return None
    stay_id, car_park, plate, state, entered_at, closed_at = rows[0]
    return Stay(
        stay_id,
        car_park,
        plate,
        StayState(state),
        None if entered_at is None else parse_utc(entered_at),
        None if closed_at is None else parse_utc(closed_at),
    )
