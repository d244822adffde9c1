"""What every part of ``SQLiteStore`` shares: the writer thread (``sqlite_writer.py``)
and the reader thread with its connection, and the few ways a part reaches them.

``SQLiteStore`` is composed of parts, one per area it keeps (``sqlite_accounts.py``,
``sqlite_lanes.py``, ``sqlite_changes.py``, ``sqlite_audit.py``, ``sqlite_calls.py``,
``sqlite_parking.py``, ``sqlite_billing.py``, ``sqlite_orders.py``); each part is a
subclass of ``StoreBase`` and goes to the database only through the methods here, so
the closed check and the writer's protocol live in one place."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from .errors import StoreError
from .ledger import AuditEntry, AuditRecord
from .sqlite_writer import Together, Writer
from .store import AppendListener

_T = TypeVar("_T")


def utc_now() -> datetime:
    return datetime.now(UTC)


# A file's device and inode: which file a path named when it was read.
FileIdentity = tuple[int, int]


def file_identity(stat: os.stat_result) -> FileIdentity:
    return (stat.st_dev, stat.st_ino)


class StoreBase:
    """The threads and connections of one open store; ``SQLiteStore.open`` makes them."""

    def __init__(
        self,
        path: Path,
        writer: Writer,
        reader: sqlite3.Connection,
        reads: ThreadPoolExecutor,
        changes_kept: int,
        identity: FileIdentity,
    ) -> None:
        self.path = path
        self._identity = identity  # the file opened, to tell it from another at its path
        self._writer = writer
        self._reader = reader
        self._reads = reads
        self._changes_kept = changes_kept
        self._closed = False
        self._append_listeners: set[AppendListener] = set()

    def watch_appends(self, listener: AppendListener) -> Callable[[], None]:
        self._append_listeners.add(listener)
        return lambda: self._append_listeners.discard(listener)

    async def _submit(
        self, work: AuditRecord | Together | Callable[[sqlite3.Connection], object]
    ) -> object:
        """Every write goes through here, so every ledger entry is timed here: from
        the submission until the writer's commit reached the event loop, which is when
        the caller may act on it."""
        if self._closed:
            raise StoreError("store_closed", "the store is closed")
        started = time.perf_counter()
        result = await self._writer.submit(work)
        if self._append_listeners:
            appended = _appended(work, result)
            if appended:
                elapsed = time.perf_counter() - started
                for listener in list(self._append_listeners):
                    listener(appended, elapsed)
        return result

    async def _write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        return cast(_T, await self._submit(fn))

    async def _write_together(
        self, records: Sequence[AuditRecord], write: Callable[[sqlite3.Connection], None]
    ) -> list[AuditEntry]:
        """Writes the ledger's ``records``, then runs ``write``: kept or lost together
        (``Together``). Returns the sealed entries."""
        entries = await self._submit(Together(tuple(records), write))
        assert isinstance(entries, list)
        return entries

    async def _write_with(
        self, record: AuditRecord, job: Callable[[sqlite3.Connection], _T]
    ) -> tuple[_T, list[AuditEntry]]:
        """``_write_together`` for a job whose result the caller needs as well."""
        done: list[_T] = []
        entries = await self._write_together((record,), lambda conn: done.append(job(conn)))
        return done[0], entries

    async def _write_then(
        self,
        job: Callable[[sqlite3.Connection], _T],
        records_of: Callable[[_T], Sequence[AuditRecord]],
    ) -> tuple[_T, list[AuditEntry]]:
        """``job``, then the ledger entries ``records_of`` makes of its result, kept or
        lost together: for an entry that says what the job found."""
        done: list[_T] = []
        entries = await self._submit(
            Together((), lambda conn: done.append(job(conn)), lambda: records_of(done[0]))
        )
        assert isinstance(entries, list)
        return done[0], entries

    async def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[Any]:
        return await self._on_reader(lambda conn: conn.execute(sql, params).fetchall())

    async def _on_reader(self, job: Callable[[sqlite3.Connection], _T]) -> _T:
        """``job`` on the reader thread, with its connection."""
        if self._closed:
            raise StoreError("store_closed", "the store is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._reads, job, self._reader)
        except sqlite3.Error as exc:
            raise StoreError("read_failed", str(exc)) from exc


def _appended(work: object, result: object) -> int:
    """How many ledger entries a write's ``result`` holds."""
    if isinstance(work, AuditRecord):
        return 1
    if isinstance(work, Together):
        assert isinstance(result, list)
        return len(result)
    return 0
