"""``PostgresStore``: the ``Store`` in a PostgreSQL database that several centres share.

Writes go through the same group-committing writer thread as SQLite's
(``sqlite_writer.py``), on one psycopg connection: each batch begins, takes the
advisory lock every centre's writer takes (``pg_schema.LEDGER_LOCK``), reads the
ledger's head and commits once, so the centres keep one gapless hash chain. A batch
whose connection is lost (PostgreSQL restarted) fails whole with ``write_failed``; the
next batch connects again. Reads run on psycopg's asyncio pool, off any thread."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import psycopg
from psycopg import pq
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from .errors import StoreError
from .pg_schema import LEDGER_LOCK, upgrade
from .sql import Connection, PgConnection, pg_sql
from .sqlite_base import utc_now
from .sqlite_writer import Writer
from .store_parts import CHANGES_KEPT, StoreParts

log = logging.getLogger("seat.store")

# How long a connection attempt, or a read waiting for a pooled connection, may take
# before the request fails: a database that is down must not hold requests for long.
CONNECT_TIMEOUT_S = 5
# Reads at once; beyond it they wait for a connection, as long as POOL_WAIT_S.
POOL_SIZE = 8
POOL_WAIT_S = 2.0


class PostgresStore(StoreParts):
    """The shared store: a writer thread with its connection, and a pool for reads."""

    url: str

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        clock: Callable[[], datetime] = utc_now,
        changes_kept: int = CHANGES_KEPT,
    ) -> PostgresStore:
        """Applies the migrations the database lacks, then opens the writer and the
        pool. ``StoreError`` ``open_failed`` if the database cannot be reached."""
        try:
            await asyncio.to_thread(_upgrade, url)
        except psycopg.Error as exc:
            raise StoreError("open_failed", f"{safe_url(url)}: {exc}") from exc
        reads = await _PoolReads.open(url)
        writer = Writer(_PgEngine(url), clock)
        writer.start()
        store = cls(writer, reads, changes_kept)
        store.url = url
        return store

    async def ping(self) -> None:
        """Reads the ledger's head on a pooled connection, as any read would."""
        await self._read("SELECT seq FROM audit ORDER BY seq DESC LIMIT 1")


def connect(url: str) -> psycopg.Connection[Any]:
    """A connection in autocommit, where the caller begins what it needs."""
    return psycopg.connect(url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S)


def safe_url(url: str) -> str:
    """The URL without its password, for messages and logs."""
    info = psycopg.conninfo.conninfo_to_dict(url)
    info.pop("password", None)
    return " ".join(f"{key}={value}" for key, value in info.items())


def _upgrade(url: str) -> None:
    with connect(url) as conn:
        before, after = upgrade(conn)
    if before != after:
        log.info("store.schema.upgraded from=%d to=%d", before, after)


class _PgEngine:
    """The writer's connection, opened again after it was lost."""

    savepoint_appends = False

    def __init__(self, url: str) -> None:
        self._url = url
        self._conn: PgConnection | None = None

    def connection(self) -> Connection:
        if self._conn is None or self._conn.raw.broken or self._conn.raw.closed:
            if self._conn is not None:
                self._conn.raw.close()
                self._conn = None
            self._conn = PgConnection(connect(self._url))
            log.info("store.writer.connected")
        return self._conn

    def begin(self, conn: Connection) -> None:
        conn.execute("BEGIN")
        conn.execute("SELECT pg_advisory_xact_lock(?)", (LEDGER_LOCK,))

    def rollback(self, conn: Connection) -> None:
        if self._conn is None or self._conn.raw.closed:
            return
        if self._conn.raw.info.transaction_status != pq.TransactionStatus.IDLE:
            self._conn.raw.execute("ROLLBACK")

    def close(self) -> None:
        if self._conn is not None:
            self._conn.raw.close()


class _PoolReads:
    """Reads on the event loop, each on a pooled connection in autocommit."""

    def __init__(self, pool: AsyncConnectionPool[Any], url: str) -> None:
        self._pool = pool
        self._url = url

    @classmethod
    async def open(cls, url: str) -> _PoolReads:
        pool: AsyncConnectionPool[Any] = AsyncConnectionPool(
            url,
            min_size=1,
            max_size=POOL_SIZE,
            open=False,
            timeout=POOL_WAIT_S,
            kwargs={"autocommit": True, "connect_timeout": CONNECT_TIMEOUT_S},
            name="seat-store-reads",
        )
        try:
            await pool.open(wait=True, timeout=CONNECT_TIMEOUT_S)
        except PoolTimeout as exc:
            await pool.close()
            raise StoreError("open_failed", f"{safe_url(url)}: {exc}") from exc
        return cls(pool, url)

    async def fetch(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        try:
            async with self._pool.connection() as conn:
                return await _fetch(conn, sql, params)
        except (psycopg.OperationalError, PoolTimeout):
            # The server went away, or is back after going away: the pool's
            # connections from before are dead, and it makes new ones only as its
            # reconnection backs off. The dead ones are dropped, and the read is tried
            # once more on a connection of its own: a server that is back serves at once.
            await self._pool.check()
        except psycopg.Error as exc:
            raise StoreError("read_failed", str(exc)) from exc
        try:
            async with await psycopg.AsyncConnection.connect(
                self._url, autocommit=True, connect_timeout=CONNECT_TIMEOUT_S
            ) as conn:
                return await _fetch(conn, sql, params)
        except psycopg.Error as exc:
            raise StoreError("read_failed", str(exc)) from exc

    async def close(self) -> None:
        await self._pool.close()


async def _fetch(
    conn: psycopg.AsyncConnection[Any], sql: str, params: tuple[object, ...]
) -> list[Any]:
    cursor = await conn.execute(pg_sql(sql), params)
    rows: list[Any] = await cursor.fetchall()
    return rows
