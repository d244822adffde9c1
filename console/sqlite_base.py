"""What every part of the store shares, on SQLite or PostgreSQL: the writer thread
(``sqlite_writer.py``), the reads (``Reads``), and the few ways a part reaches them.

The store is composed of parts, one per area it keeps (``sqlite_accounts.py``,
``sqlite_lanes.py``, ``sqlite_changes.py``, ``sqlite_audit.py``, ``sqlite_calls.py``,
``sqlite_parking.py``, ``sqlite_billing.py``, ``sqlite_orders.py``; ``store_parts.py``
puts them together); each part is a subclass of ``StoreBase`` and goes to the database
only through the methods here, so the closed check and the writer's protocol live in
one place. Their SQL serves both engines (``sql.py``)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol, TypeVar, cast

from .errors import StoreError
from .ledger import AuditEntry, AuditRecord
from .sql import Connection
from .sqlite_writer import Together, Writer
from .store import AppendListener

_T = TypeVar("_T")


def utc_now() -> datetime:
    return datetime.now(UTC)


class Reads(Protocol):
    """How a store reads: off the event loop, each read seeing every committed batch."""

    async def fetch(self, sql: str, params: tuple[object, ...]) -> list[Any]:
        """The rows of one query, in SQLite's dialect; ``StoreError`` ``read_failed``."""
        ...

    async def close(self) -> None: ...


class StoreBase:
    """The writer and reads of one open store; each engine's ``open`` makes them."""

    def __init__(self, writer: Writer, reads: Reads, changes_kept: int) -> None:
        self._writer = writer
        self._reads = reads
        self._changes_kept = changes_kept
        self._closed = False
        self._append_listeners: set[AppendListener] = set()

    def watch_appends(self, listener: AppendListener) -> Callable[[], None]:
        self._append_listeners.add(listener)
        return lambda: self._append_listeners.discard(listener)

    async def close(self) -> None:
        """Waits for every write already submitted, then stops the writer."""
        if self._closed:
            return
        self._closed = True
        self._writer.stop()
        await asyncio.to_thread(self._writer.join)
        await self._reads.close()

    async def _submit(
        self, work: AuditRecord | Together | Callable[[Connection], object]
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

    async def _write(self, fn: Callable[[Connection], _T]) -> _T:
        return cast(_T, await self._submit(fn))

    async def _write_together(
        self, records: Sequence[AuditRecord], write: Callable[[Connection], None]
    ) -> list[AuditEntry]:
        """Writes the ledger's ``records``, then runs ``write``: kept or lost together
        (``Together``). Returns the sealed entries."""
        entries = await self._submit(Together(tuple(records), write))
        assert isinstance(entries, list)
        return entries

    async def _write_with(
        self, record: AuditRecord, job: Callable[[Connection], _T]
    ) -> tuple[_T, list[AuditEntry]]:
        """``_write_together`` for a job whose result the caller needs as well."""
        done: list[_T] = []
        entries = await self._write_together((record,), lambda conn: done.append(job(conn)))
        return done[0], entries

    async def _write_then(
        self,
        job: Callable[[Connection], _T],
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
        if self._closed:
            raise StoreError("store_closed", "the store is closed")
        return await self._reads.fetch(sql, params)


def _appended(work: object, result: object) -> int:
    """How many ledger entries a write's ``result`` holds."""
    if isinstance(work, AuditRecord):
        return 1
    if isinstance(work, Together):
        assert isinstance(result, list)
        return len(result)
    return 0
