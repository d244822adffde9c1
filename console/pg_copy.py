"""``seat db copy``: a SQLite centre moved to an empty PostgreSQL database, for an
operator who outgrows one machine.

Every table is copied row for row in one transaction on the target, the ledger's rows
verbatim (the text that was hashed), oldest first, so the target's own triggers see
each entry added at its head. The target must be empty: a copy never merges two
centres. After the commit the chain is walked again on the target, and its head must
be the source's."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from .errors import StoreError
from .ledger import GENESIS_HASH
from .ledger_check import LedgerReport, check_ledger
from .pg_reader import read_pg_ledger
from .pg_schema import IDENTITIES, TABLES, upgrade
from .pg_store import connect, safe_url
from .sqlite_schema import open_connection, open_writer

# SQLite's own rowid, kept where the shared SQL orders by it.
_ROWIDS = frozenset({"vehicle_events"})


@dataclass(frozen=True, slots=True)
class Copied:
    """How many rows each table brought, and the target's check of the ledger."""

    rows: dict[str, int]
    head: str
    report: LedgerReport


def copy_to_postgres(source: Path, url: str) -> Copied:
    """Copies the SQLite store at ``source`` (upgraded to the current schema first) to
    the database at ``url`` (migrated first). ``StoreError`` ``target_not_empty``,
    ``unknown_table`` (a table the PostgreSQL schema lacks), ``copy_failed``, or
    ``copy_unverified`` if the target's chain does not check out."""
    if not source.is_file():
        raise StoreError("no_ledger", f"no SQLite store at {source}")
    open_writer(source).close()  # the source at the current schema, as the target
    reader = open_connection(source, writer=False)
    try:
        reader.execute("BEGIN")  # one snapshot of every table
        _check_tables(reader)
        head = _head(reader)
        try:
            with connect(url) as target:
                upgrade(target)
                rows = _copy(reader, target)
        except psycopg.Error as exc:
            raise StoreError("copy_failed", f"{safe_url(url)}: {exc}") from exc
    finally:
        reader.close()
    report = read_pg_ledger(url, lambda view: check_ledger(view, [], {}))
    if not report.ok or report.head != head or report.end != rows["audit"]:
        raise StoreError(
            "copy_unverified",
            f"the ledger copied to {safe_url(url)} does not check out:"
            f" {[finding.problem for finding in report.findings]}, head {report.head},"
            f" source head {head}",
        )
    return Copied(rows, head, report)


def _check_tables(reader: sqlite3.Connection) -> None:
    names = {
        row[0]
        for row in reader.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    unknown = sorted(names - set(TABLES))
    if unknown:
        raise StoreError(
            "unknown_table", f"the PostgreSQL schema has no table for {', '.join(unknown)}"
        )


def _head(reader: sqlite3.Connection) -> str:
    row = reader.execute("SELECT hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    return GENESIS_HASH if row is None else str(row[0])


def _copy(reader: sqlite3.Connection, target: psycopg.Connection[Any]) -> dict[str, int]:
    rows: dict[str, int] = {}
    with target.transaction():
        for table in TABLES:
            found = target.execute(
                sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            ).fetchone()
            if found is not None and found[0]:
                raise StoreError(
                    "target_not_empty",
                    f"{table} holds {found[0]} rows there already: copy only to an empty database",
                )
        # Stays and vehicle events refer to each other: checked at the commit.
        target.execute("SET CONSTRAINTS ALL DEFERRED")
        for table in TABLES:
            rows[table] = _copy_table(reader, target, table)
        for table, column in IDENTITIES:
            _move_identity(reader, target, table, column)
    return rows


def _copy_table(reader: sqlite3.Connection, target: psycopg.Connection[Any], table: str) -> int:
    columns = [row[1] for row in reader.execute(f"PRAGMA table_info({table})")]
    if table in _ROWIDS:
        columns.append("rowid")
    names = sql.SQL(", ").join(sql.Identifier(name) for name in columns)
    select = f"SELECT {', '.join(columns)} FROM {table} ORDER BY rowid"
    if table == "audit":
        select = f"SELECT {', '.join(columns)} FROM audit ORDER BY seq"
    count = 0
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(table), names)
    with target.cursor() as cursor, cursor.copy(statement) as copy:
        for row in reader.execute(select):
            copy.write_row(row)
            count += 1
    return count


def _move_identity(
    reader: sqlite3.Connection, target: psycopg.Connection[Any], table: str, column: str
) -> None:
    """Past every id the copy brought, and past any SQLite handed out and pruned since
    (AUTOINCREMENT never reuses one)."""
    used = 0
    if reader.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        found = reader.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,))
        used = next((int(row[0]) for row in found), 0)
    target.execute(
        sql.SQL(
            "SELECT setval(pg_get_serial_sequence({table}, {column}), greatest(n, 1), n > 0)"
            " FROM (SELECT greatest(coalesce(max({ident}), 0), %s) AS n FROM {tab}) AS used"
        ).format(
            table=sql.Literal(table),
            column=sql.Literal(column),
            ident=sql.Identifier(column),
            tab=sql.Identifier(table),
        ),
        (used,),
    )
