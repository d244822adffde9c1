"""``SQLiteStore``: the ``Store`` in one SQLite file, with one writer thread (see
``sqlite_writer.py``) and one reader thread, so no query ever runs on the event loop.

The class is composed of parts, one per area it keeps (``store_parts.py``); this module
opens the file, and holds what is SQLite's own in writing and reading it."""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from .errors import StoreError
from .sql import Connection
from .sqlite_base import utc_now
from .sqlite_schema import open_connection, open_writer
from .sqlite_writer import Writer
from .store_parts import CHANGES_KEPT, StoreParts

_T = TypeVar("_T")
# A file's device and inode: which file a path named when it was read.
FileIdentity = tuple[int, int]


class SQLiteStore(StoreParts):
    """The embedded store: one file, one writer thread, one reader thread.

    A query takes tens of microseconds on a warm cache and milliseconds on a cold disk;
    on the event loop that is time every lane and every viewer waits. Reads therefore
    run on a thread of their own, on its own connection (WAL lets it read beside the
    writer); the centre keeps what it reads on every request in ``console.directory``."""

    path: Path
    _thread_reads: _ThreadReads

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
        store._thread_reads = reads
        return store

    async def ping(self) -> None:
        """Reads the ledger's head on the reader thread, as any read would, then checks
        that the file at the store's path is still the one it has open: SQLite goes on
        reading and writing an open file whatever became of its name, so a database
        deleted or replaced under a running centre would answer every read while its
        entries went where no centre will ever read them."""
        if self._closed:
            raise StoreError("store_closed", "the store is closed")
        reads = self._thread_reads
        await reads.run(functools.partial(_ping, self.path, reads.identity))


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
    """One connection on one thread of its own: the connection lives where it is used.
    ``identity``: the file it opened, to tell it from another at its path."""

    def __init__(
        self, conn: sqlite3.Connection, thread: ThreadPoolExecutor, identity: FileIdentity
    ) -> None:
        self._conn = conn
        self._thread = thread
        self.identity = identity

    @classmethod
    async def open(cls, path: Path) -> _ThreadReads:
        thread = ThreadPoolExecutor(1, thread_name_prefix="seat-store-reader")
        loop = asyncio.get_running_loop()
        try:
            conn, identity = await loop.run_in_executor(thread, _open_reader, path)
        except (sqlite3.Error, OSError) as exc:
            thread.shutdown()
            raise StoreError("open_failed", f"{path}: {exc}") from exc
        return cls(conn, thread, identity)

    async def fetch(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        return await self.run(lambda conn: conn.execute(sql, params).fetchall())

    async def run(self, job: Callable[[sqlite3.Connection], _T]) -> _T:
        """``job`` on the reader thread, with its connection."""
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._thread, job, self._conn)
        except sqlite3.Error as exc:
            raise StoreError("read_failed", str(exc)) from exc

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._thread, self._conn.close)
        self._thread.shutdown()


def _open_reader(path: Path) -> tuple[sqlite3.Connection, FileIdentity]:
    conn = open_connection(path, writer=False)
    try:
        return conn, _file_identity(os.stat(path))
    except OSError:
        conn.close()
        raise


def _file_identity(stat: os.stat_result) -> FileIdentity:
    return (stat.st_dev, stat.st_ino)


def _ping(path: Path, identity: FileIdentity, conn: sqlite3.Connection) -> None:
    conn.execute("SELECT seq FROM audit ORDER BY seq DESC LIMIT 1").fetchall()
    try:
        found = _file_identity(os.stat(path))
    except FileNotFoundError:
        raise StoreError("store_gone", f"{path} was deleted under the running centre") from None
    except OSError as exc:
        raise StoreError("read_failed", f"{path}: {exc}") from exc
    if found != identity:
        raise StoreError("store_replaced", f"{path} is no longer the file the centre opened")
