"""``seat db``: the store's schema and the PostgreSQL store's roles, and moving a SQLite
centre to PostgreSQL (``pg_copy.py``)."""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

import psycopg

from .errors import StoreError
from .pg_copy import copy_to_postgres
from .pg_schema import SCHEMA_VERSION, grant_statements, upgrade
from .pg_store import connect, safe_url
from .settings import Settings, parse_database_url
from .sqlite_store import SQLiteStore


def add_parser(sub: Any) -> None:
    db = sub.add_parser("db", help="the store's schema, roles and moving").add_subparsers(
        dest="action", required=True
    )
    db.add_parser(
        "upgrade", help="apply the schema migrations the store lacks (a start does too)"
    ).set_defaults(run=_cmd_upgrade)
    grant = db.add_parser(
        "grant",
        help="give a PostgreSQL role what a centre needs: the ledger to read and add to, "
        "never to change; the other tables to read and write",
    )
    grant.add_argument("role")
    grant.set_defaults(run=_cmd_grant)
    copy = db.add_parser(
        "copy", help="copy the SQLite store in SEAT_DATA_DIR to an empty PostgreSQL database"
    )
    copy.add_argument("--to", required=True, type=_url, metavar="postgresql://…")
    copy.set_defaults(run=_cmd_copy)


def _url(raw: str) -> str:
    try:
        return parse_database_url(raw)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cmd_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    if settings.database_url is None:
        asyncio.run(_upgrade_sqlite(settings))
        print(f"{settings.database}: schema up to date")
        return 0
    try:
        with connect(settings.database_url) as conn:
            before, after = upgrade(conn)
    except psycopg.Error as exc:
        raise StoreError("upgrade_failed", f"{safe_url(settings.database_url)}: {exc}") from exc
    if before == after:
        print(f"{safe_url(settings.database_url)}: schema v{after}, up to date")
    else:
        print(f"{safe_url(settings.database_url)}: schema v{before} -> v{after}")
    return 0


async def _upgrade_sqlite(settings: Settings) -> None:
    await (await SQLiteStore.open(settings.database)).close()


def _cmd_grant(args: argparse.Namespace, settings: Settings) -> int:
    url = _required_url(settings)
    try:
        with connect(url) as conn, conn.transaction():
            owner = conn.execute(
                "SELECT tableowner FROM pg_tables WHERE tablename = 'audit'"
            ).fetchone()
            if owner is None:
                raise StoreError("no_ledger", f"{safe_url(url)}: run `seat db upgrade` first")
            if owner[0] == args.role:
                raise StoreError(
                    "role_owns_tables",
                    f"{args.role} owns the tables and could drop the ledger's triggers: "
                    "grant to a role of its own for the centre",
                )
            for statement in grant_statements(args.role):
                conn.execute(statement)
    except psycopg.Error as exc:
        raise StoreError("grant_failed", f"{safe_url(url)}: {exc}") from exc
    print(f"{args.role}: the ledger to read and add to; the other tables to read and write")
    return 0


def _cmd_copy(args: argparse.Namespace, settings: Settings) -> int:
    copied = copy_to_postgres(settings.database, args.to)
    for table, count in copied.rows.items():
        print(f"{table}: {count} rows")
    print(
        f"copied {settings.database} to {safe_url(args.to)} (schema v{SCHEMA_VERSION}); "
        f"the ledger's {copied.report.end} entries verify there, head {copied.head}"
    )
    return 0


def _required_url(settings: Settings) -> str:
    if settings.database_url is None:
        raise SystemExit("seat db grant: SEAT_DATABASE_URL names no PostgreSQL database")
    return settings.database_url
