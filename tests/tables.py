"""What the centre keeps, read straight from its SQLite file: a refused request must
leave every row as it was, and the ledger without a new entry."""

from __future__ import annotations

import sqlite3
from typing import Any

from tests.conftest import Centre

# The tables an issue-9 action writes: events and stays, payments, debts, holds.
KEPT = (
    "vehicle_events",
    "stays",
    "payment_orders",
    "payment_notifications",
    "payment_opens",
    "payment_order_debts",
    "noplate_stays",
    "debts",
    "blacklist_holds",
)
# Entries a request makes without doing anything: the centre's start, an agent's login.
QUIET = ("centre_started", "login")


def kept(centre: Centre) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the tables in ``KEPT``, and the ledger's entries but logins and the
    centre's start, each in the order written."""
    db = sqlite3.connect(centre.settings.database)
    try:
        rows = {
            table: db.execute(f"SELECT * FROM {table} ORDER BY rowid").fetchall() for table in KEPT
        }
        rows["audit"] = db.execute(
            "SELECT action, actor, lane, reason, outcome FROM audit "
            f"WHERE action NOT IN {QUIET} ORDER BY seq"
        ).fetchall()
    finally:
        db.close()
    return rows


def allow_ledger_inserts(centre: Centre) -> None:
    """The disk has room again: the ledger takes every entry (``refuse_ledger_inserts``
    of ``tests.test_api`` undone)."""
    db = sqlite3.connect(centre.settings.database)
    db.execute("DROP TRIGGER ledger_refuses")
    db.commit()
    db.close()
