"""Reading the ledger in a PostgreSQL store without changing it, for ``seat audit
verify`` and the check before a start: one read-only snapshot (``REPEATABLE READ``), so
a centre appending meanwhile changes nothing the check sees, and no migration runs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import psycopg

from .errors import StoreError
from .ledger import StoredEntry
from .pg_schema import SCHEMA_VERSION, schema_version
from .pg_store import connect, safe_url
from .sqlite_schema import AUDIT_COLUMNS

_T = TypeVar("_T")
# Rows fetched from the server at a time while the chain is walked.
_BATCH = 2000


class PgLedgerReader:
    """The ledger as of one snapshot; use :func:`read_pg_ledger` to get one."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self._conn = conn

    def end(self) -> int:
        row = self._conn.execute("SELECT coalesce(max(seq), 0) FROM audit").fetchone()
        return int(row[0]) if row else 0

    def entry(self, seq: int) -> StoredEntry | None:
        row = self._conn.execute(
            f"SELECT {AUDIT_COLUMNS} FROM audit WHERE seq = %s", (seq,)
        ).fetchone()
        return None if row is None else StoredEntry(*row)

    def entries(self, after: int = 0) -> Iterator[StoredEntry]:
        """Oldest first, through a server-side cursor: a long ledger is never all in
        memory at once."""
        with self._conn.cursor(name="seat_ledger_walk") as cursor:
            cursor.itersize = _BATCH
            cursor.execute(
                f"SELECT {AUDIT_COLUMNS} FROM audit WHERE seq > %s ORDER BY seq", (after,)
            )
            for row in cursor:
                yield StoredEntry(*row)


def has_ledger(url: str) -> bool:
    """Whether the database holds the centre's tables (a start made them)."""
    try:
        with connect(url) as conn:
            return schema_version(conn) > 0
    except psycopg.Error as exc:
        raise StoreError("read_failed", f"{safe_url(url)}: {exc}") from exc


def read_pg_ledger(url: str, read: Callable[[PgLedgerReader], _T]) -> _T:
    """``read(reader)`` on one snapshot of the ledger; ``StoreError`` ``no_ledger`` for a
    database the centre never used, ``schema_too_new``, or ``read_failed``."""
    try:
        with connect(url) as conn:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            conn.autocommit = False
            with conn.transaction():
                version = schema_version(conn)
                if version == 0:
                    raise StoreError("no_ledger", f"{safe_url(url)} holds no audit ledger")
                if version > SCHEMA_VERSION:
                    raise StoreError(
                        "schema_too_new",
                        f"{safe_url(url)} has schema v{version};"
                        f" this program knows up to v{SCHEMA_VERSION}",
                    )
                return read(PgLedgerReader(conn))
    except psycopg.Error as exc:
        raise StoreError("read_failed", f"{safe_url(url)}: {exc}") from exc
