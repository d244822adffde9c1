"""``SQLiteStore``: the ``Store`` in one SQLite file, with one writer thread (see
``sqlite_writer.py``) and one reader thread, so no query ever runs on the event loop.

The class is composed of parts, one per area it keeps (``store_parts.py``); this module
opens the file, and holds what is SQLite's own in writing and reading it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any

from .errors import StoreError
from .sql import Connection
from .sqlite_base import utc_now
from .sqlite_schema import open_connection, open_writer
from .sqlite_writer import Writer
from .store_parts import CHANGES_KEPT, StoreParts


class SQLiteStore(StoreParts):
    """The embedded store: one file, one writer thread, one reader thread.

    A query takes tens of microseconds on a warm cache and milliseconds on a cold disk;
    on the event loop that is time every lane and every viewer waits. Reads therefore
    run on a thread of their own, on its own connection (WAL lets it read beside the
    writer); the centre keeps what it reads on every request in ``console.directory``."""

    path: Path

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        clock: Callable[[], datetime] = utc_now,
        changes_kept: int = CHANGES_KEPT,
    ) -> SQLiteStore:
        """Creates or upgrades the schema. ``clock`` stamps audit entries; it is called
        on the writer thread, in commit order. ``changes_kept``: how much of the change
        feed stays (see ``changes_since``)."""
        try:
            write_conn = await asyncio.to_thread(open_writer, path)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError("open_failed", f"{path}: {exc}") from exc
        try:
            reads = await _ThreadReads.open(path)
        except StoreError:
            write_conn.close()
            raise
        writer = Writer(_SQLiteEngine(write_conn), clock)
        writer.start()
        store = cls(writer, reads, changes_kept)
        store.path = path
        return store


class _SQLiteEngine:
    """The writer's one connection to the file, for the store's life."""

    savepoint_appends = True

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def connection(self) -> Connection:
        return self._conn

    def begin(self, conn: Connection) -> None:
        # IMMEDIATE takes the file's write lock now, not at the first write.
        conn.execute("BEGIN IMMEDIATE")

    def rollback(self, conn: Connection) -> None:
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    def close(self) -> None:
        self._conn.close()


class _ThreadReads:
    """One connection on one thread of its own: the connection lives where it is used."""

    def __init__(self, conn: sqlite3.Connection, thread: ThreadPoolExecutor) -> None:
        self._conn = conn
        self._thread = thread

    @classmethod
    async def open(cls, path: Path) -> _ThreadReads:
        thread = ThreadPoolExecutor(1, thread_name_prefix="seat-store-reader")
        loop = asyncio.get_running_loop()
        try:
            conn = await loop.run_in_executor(thread, _open_reader, path)
        except sqlite3.Error as exc:
            thread.shutdown()
            raise StoreError("open_failed", f"{path}: {exc}") from exc
        return cls(conn, thread)

    async def fetch(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, _fetch, self._conn, sql, params)
        except sqlite3.Error as exc:
            raise StoreError("read_failed", str(exc)) from exc

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._conn.close)
        self._thread.shutdown()


def _open_reader(path: Path) -> sqlite3.Connection:
    return open_connection(path, writer=False)


def _fetch(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> list[Any]:
    return conn.execute(sql, params).fetchall()
