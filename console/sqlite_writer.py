"""The store's single writer thread, which group-commits every write, on SQLite or on
PostgreSQL (``Engine``: what differs between them).

The store is built around the audit ledger's hot path: each remote gate command
writes one entry before it leaves and one after, and must wait for both to be on disk
(README, "The audit ledger"). One fsync per entry would cap the centre at the disk's
fsync rate, so writes are group-committed:

- one writer thread owns the only write connection; every write (audit or not) goes
  on a queue and its caller awaits an asyncio future;
- the writer blocks for the first job, then takes whatever else is queued, runs it all
  in ONE transaction and commits once (WAL + ``synchronous=FULL``: one fsync for the
  batch), and only then resolves the futures;
- a job is a ledger entry, any other write, or entries together with the rows they
  describe (``Together``: a call's step and the queue's state after it);
- each job runs in a savepoint, so a job that breaks a rule (a username already taken)
  fails alone; anything else (I/O error, full disk) fails the whole batch: every waiter
  gets a ``StoreError`` and nothing of the batch is kept (on PostgreSQL a ledger entry
  alone skips its savepoint: ``Engine.savepoint_appends``);
- reads use other connections; they see every batch that has been committed.

Each batch reads the ledger's head after its ``Engine.begin`` has taken the lock that
serialises every process's writes, so several processes (several centres on one PostgreSQL, or the
CLI beside a centre on one SQLite file) keep one gapless chain. A batch whose
connection is lost fails whole; the engine opens a new one for the next batch.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .canonical import canonical_json
from .errors import ConsoleError, StoreError
from .ledger import GENESIS_HASH, AuditEntry, AuditRecord, format_utc, parse_utc, seal
from .sql import INTEGRITY_ERRORS, Connection
from .sqlite_schema import AUDIT_COLUMNS

log = logging.getLogger("seat.store")

# Big enough to amortise one fsync over a burst, small enough that one transaction
# never holds the write lock for long.
_MAX_BATCH = 512


@dataclass(frozen=True, slots=True)
class Together:
    """Ledger entries and the rows they describe, kept or lost together: one job, whose
    result is the sealed entries. The entries are appended first, then ``write`` runs,
    then ``then``'s: the entries that say what the write found (a payment's effect),
    which no one can know before it runs."""

    records: tuple[AuditRecord, ...]
    write: Callable[[Connection], None]
    then: Callable[[], Sequence[AuditRecord]] = tuple


_Work = AuditRecord | Together | Callable[[Connection], object]


class Engine(Protocol):
    """What the writer does differently on each database; called on its thread only."""

    # Whether a ledger entry alone (not ``Together``) runs in a savepoint of its own.
    # On SQLite a refused insert (a trigger's ``RAISE(ABORT)``) leaves the transaction
    # usable, and the savepoint makes it fail alone. On PostgreSQL any failed statement
    # aborts the transaction, and an entry's insert fails only by the server's own
    # doing, which fails the batch anyway; without the savepoint an entry costs one
    # round trip, not three, and a big batch no pile of subtransactions.
    savepoint_appends: bool

    def connection(self) -> Connection:
        """The write connection, opened again if the last one was lost."""
        ...

    def begin(self, conn: Connection) -> None:
        """Begins a batch's transaction and takes the lock that serialises the writes
        of every process on the database, held to its commit: the ledger's head read
        next stays the head, and a job's checks stay true until its writes."""
        ...

    def rollback(self, conn: Connection) -> None:
        """Ends a failed batch's transaction, if the connection still has one."""
        ...

    def close(self) -> None: ...


@dataclass(slots=True)
class _Job:
    work: _Work
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[object]


@dataclass(frozen=True, slots=True)
class _Head:
    seq: int
    hash: str
    at: datetime | None


_Outcome = tuple[_Job, object, BaseException | None]


class Writer:
    """Owns the write connection; nothing else writes to the database."""

    def __init__(self, engine: Engine, clock: Callable[[], datetime]) -> None:
        self._engine = engine
        self._clock = clock
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="seat-store-writer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def submit(self, work: _Work) -> asyncio.Future[object]:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[object] = loop.create_future()
        self._jobs.put(_Job(work, loop, future))
        return future

    def stop(self) -> None:
        """Jobs queued before this still run; the thread then closes the connection."""
        self._jobs.put(None)

    def join(self) -> None:
        self._thread.join()

    def _run(self) -> None:
        try:
            stopping = False
            while not stopping:
                first = self._jobs.get()
                if first is None:
                    break
                batch = [first]
                while len(batch) < _MAX_BATCH:
                    try:
                        job = self._jobs.get_nowait()
                    except queue.Empty:
                        break
                    if job is None:
                        stopping = True
                        break
                    batch.append(job)
                self._run_batch(batch)
        finally:
            self._engine.close()

    def _run_batch(self, batch: list[_Job]) -> None:
        outcomes: list[_Outcome] = []
        conn: Connection | None = None
        try:
            conn = self._engine.connection()
            ledger = any(isinstance(job.work, AuditRecord | Together) for job in batch)
            # The lock is held from here, so the head read below is still the head at
            # commit, whoever else writes to the database.
            self._engine.begin(conn)
            head = _read_head(conn) if ledger else _NO_HEAD
            for job in batch:
                if isinstance(job.work, AuditRecord) and not self._engine.savepoint_appends:
                    result, head = self._do(conn, head, job.work)
                    outcomes.append((job, result, None))
                    continue
                conn.execute("SAVEPOINT job")
                try:
                    result, after = self._do(conn, head, job.work)
                except _JOB_ERRORS as exc:
                    conn.execute("ROLLBACK TO SAVEPOINT job")
                    conn.execute("RELEASE job")
                    outcomes.append((job, None, _job_error(exc)))
                    continue
                conn.execute("RELEASE job")
                head = after
                outcomes.append((job, result, None))
            conn.execute("COMMIT")
        except Exception as exc:
            self._abandon(conn, batch, exc)
            return
        self._settle(outcomes)

    def _do(self, conn: Connection, head: _Head, work: _Work) -> tuple[object, _Head]:
        """The job's result, and the ledger's head after it."""
        if isinstance(work, AuditRecord):
            entry = self._append(conn, head, work)
            return entry, _Head(entry.seq, entry.hash, entry.at)
        if isinstance(work, Together):
            entries = []
            for record in work.records:
                entry = self._append(conn, head, record)
                head = _Head(entry.seq, entry.hash, entry.at)
                entries.append(entry)
            work.write(conn)
            for record in work.then():
                entry = self._append(conn, head, record)
                head = _Head(entry.seq, entry.hash, entry.at)
                entries.append(entry)
            return entries, head
        return work(conn), head

    def _append(self, conn: Connection, head: _Head, work: AuditRecord) -> AuditEntry:
        at = self._clock()
        # Keep ledger time non-decreasing even if the wall clock steps back (NTP).
        if head.at is not None and at < head.at:
            at = head.at
        entry = seal(head.hash, head.seq + 1, at, work)
        conn.execute(
            f"INSERT INTO audit ({AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                entry.seq,
                format_utc(entry.at),
                entry.actor,
                str(entry.action),
                entry.lane,
                entry.command_id,
                entry.reason,
                entry.outcome,
                canonical_json(entry.detail),
                entry.prev_hash,
                entry.hash,
            ),
        )
        return entry

    def _abandon(self, conn: Connection | None, batch: list[_Job], exc: Exception) -> None:
        log.error("store.batch.failed size=%d error=%r", len(batch), exc)
        try:
            if conn is not None:
                self._engine.rollback(conn)
        except Exception as rollback_exc:
            # The next batch's BEGIN will fail too and say so; the waiters learn now.
            exc.add_note(f"rollback also failed: {rollback_exc!r}")
            log.error("store.batch.rollback_failed error=%r", rollback_exc)
        failed: list[_Outcome] = []
        for job in batch:
            error = StoreError("write_failed", f"nothing was written: {exc}")
            error.__cause__ = exc
            failed.append((job, None, error))
        self._settle(failed)

    def _settle(self, outcomes: list[_Outcome]) -> None:
        """One wake-up per event loop per batch, not one per job."""
        by_loop: dict[asyncio.AbstractEventLoop, list[_Outcome]] = {}
        for outcome in outcomes:
            by_loop.setdefault(outcome[0].loop, []).append(outcome)
        for loop, items in by_loop.items():
            try:
                loop.call_soon_threadsafe(_resolve, items)
            except RuntimeError:
                # The loop closed without closing the store; the writes did happen.
                log.warning("store.writer.loop_closed results=%d", len(items))


def _resolve(outcomes: list[_Outcome]) -> None:
    for job, result, error in outcomes:
        if job.future.done():  # its caller was cancelled
            continue
        if error is not None:
            job.future.set_exception(error)
        else:
            job.future.set_result(result)


def _job_error(exc: Exception) -> ConsoleError:
    if isinstance(exc, ConsoleError):
        return exc
    error = StoreError("constraint_failed", str(exc))
    error.__cause__ = exc
    return error


# What fails one job alone: a rule of the centre's, or of the schema's, broken.
_JOB_ERRORS: tuple[type[Exception], ...] = (ConsoleError, *INTEGRITY_ERRORS)
_NO_HEAD = _Head(0, GENESIS_HASH, None)  # a batch that appends nothing reads no head


def _read_head(conn: Connection) -> _Head:
    row = conn.execute("SELECT seq, hash, at FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    if row is None:
        return _Head(0, GENESIS_HASH, None)
    return _Head(row[0], row[1], parse_utc(row[2]))
