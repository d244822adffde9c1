"""Where the centre keeps its state: the ``Store`` interface and its SQLite implementation.

Every method is ``async`` so a PostgreSQL store can sit behind the same interface. The
SQLite store is built around the audit ledger's hot path: each remote gate command
writes one entry before it leaves and one after, and must wait for both to be on disk
(DESIGN.md, "Audit first"). One fsync per entry would cap the centre at the disk's
fsync rate, so writes are group-committed:

- one writer thread owns the only write connection; every write (audit or not) goes
  on a queue and its caller awaits an asyncio future;
- the writer blocks for the first job, then takes whatever else is queued, runs it all
  in ONE transaction and commits once (WAL + ``synchronous=FULL``: one fsync for the
  batch), and only then resolves the futures;
- each job runs in a savepoint, so a job that breaks a rule (a username already taken)
  fails alone; anything else (I/O error, full disk) fails the whole batch: every waiter
  gets a ``StoreError`` and nothing of the batch is kept;
- reads use a second connection in the caller's thread; WAL lets them run beside the
  writer and see every batch that has been committed.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

from .errors import Conflict, ConsoleError, CorruptAuditEntry, NotFound, StoreError
from .ledger import (
    GENESIS_HASH,
    AuditAction,
    AuditEntry,
    AuditRecord,
    as_utc,
    canonical_json,
    format_utc,
    parse_canonical,
    parse_utc,
    seal,
)
from .models import Direction, LaneRecord, Role, Session, User

log = logging.getLogger("seat.store")

_T = TypeVar("_T")


class Store(Protocol):
    """What the centre needs from its database. Implementations promise: ``append``
    returns only once the entry is durable; seqs are gapless from 1 and each entry is
    sealed onto the previous one; ``Conflict`` and ``NotFound`` where documented on
    ``SQLiteStore``; ``StoreError`` when the database itself fails."""

    async def close(self) -> None: ...

    async def add_user(
        self, username: str, role: Role, password_hash: str, now: datetime
    ) -> User: ...
    async def get_user(self, username: str) -> User | None: ...
    async def set_password(self, username: str, password_hash: str) -> None: ...
    async def set_role(self, username: str, role: Role) -> None: ...
    async def list_users(self) -> list[User]: ...

    async def create_session(self, session: Session) -> None: ...
    async def get_session(self, token_hash: str) -> Session | None: ...
    async def delete_session(self, token_hash: str) -> None: ...
    async def delete_expired_sessions(self, now: datetime) -> int: ...

    async def put_lane(self, lane: LaneRecord) -> None: ...
    async def get_lane(self, lane_id: str) -> LaneRecord | None: ...
    async def list_lanes(self) -> list[LaneRecord]: ...

    async def append(self, record: AuditRecord) -> AuditEntry: ...
    async def audit_page(self, limit: int, before_seq: int | None = None) -> list[AuditEntry]: ...
    def iter_audit(self) -> AsyncIterator[AuditEntry]: ...
    async def audit_count(self) -> int: ...


# ------------------------------------------------------------------ schema

SCHEMA_VERSION = 1

# One tuple of statements per schema version; a database at version N gets the tuples
# after N, each in its own transaction together with the new ``user_version``.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE users (
            username      TEXT PRIMARY KEY,
            role          TEXT NOT NULL,
            password_hash TEXT NOT NULL,
            created_at    TEXT NOT NULL,
            disabled      INTEGER NOT NULL DEFAULT 0 CHECK (disabled IN (0, 1))
        ) STRICT""",
        """CREATE TABLE sessions (
            token_hash TEXT PRIMARY KEY,
            username   TEXT NOT NULL REFERENCES users (username) ON DELETE CASCADE,
            csrf_token TEXT NOT NULL,
            created_at TEXT NOT NULL,
            expires_at TEXT NOT NULL
        ) STRICT""",
        "CREATE INDEX sessions_by_expiry ON sessions (expires_at)",
        "CREATE INDEX sessions_by_user ON sessions (username)",
        """CREATE TABLE lanes (
            id         TEXT PRIMARY KEY,
            name       TEXT NOT NULL,
            car_park   TEXT NOT NULL,
            direction  TEXT NOT NULL CHECK (direction IN ('entry', 'exit')),
            token_hash TEXT NOT NULL
        ) STRICT""",
        "CREATE INDEX lanes_by_car_park ON lanes (car_park, id)",
        # ``at`` and ``detail`` hold the exact text that was hashed (see ledger.py).
        # ``lane`` is deliberately not a foreign key: an action on an unknown lane must
        # still be recorded.
        """CREATE TABLE audit (
            seq        INTEGER PRIMARY KEY CHECK (seq >= 1),
            at         TEXT NOT NULL,
            actor      TEXT NOT NULL,
            action     TEXT NOT NULL,
            lane       TEXT,
            command_id TEXT,
            reason     TEXT,
            outcome    TEXT,
            detail     TEXT NOT NULL,
            prev_hash  TEXT NOT NULL,
            hash       TEXT NOT NULL
        ) STRICT""",
        """CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only'); END""",
        """CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
        BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only'); END""",
        # Inserts only at the head, linked to it. This also closes INSERT OR REPLACE,
        # whose implicit delete skips delete triggers unless recursive_triggers is on.
        f"""CREATE TRIGGER audit_append_at_head BEFORE INSERT ON audit
        WHEN NEW.seq IS NOT (SELECT coalesce(max(seq), 0) + 1 FROM audit)
          OR NEW.prev_hash IS NOT coalesce(
               (SELECT hash FROM audit WHERE seq = NEW.seq - 1), '{GENESIS_HASH}')
        BEGIN SELECT RAISE(ABORT, 'audit ledger is append-only'); END""",
    ),
)
assert len(_MIGRATIONS) == SCHEMA_VERSION

_AUDIT_COLUMNS = (
    "seq, at, actor, action, lane, command_id, reason, outcome, detail, prev_hash, hash"
)
_USER_COLUMNS = "username, role, password_hash, created_at, disabled"
_SESSION_COLUMNS = "token_hash, username, csrf_token, created_at, expires_at"
_LANE_COLUMNS = "id, name, car_park, direction, token_hash"

# Big enough to amortise one fsync over a burst, small enough that one transaction
# never holds the write lock for long.
_MAX_BATCH = 512
_ITER_BATCH = 256


def _utc_now() -> datetime:
    return datetime.now(UTC)


# ------------------------------------------------------------------ the writer thread

_Work = AuditRecord | Callable[[sqlite3.Connection], object]


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


class _Writer:
    """Owns the write connection; nothing else writes to the database."""

    def __init__(self, conn: sqlite3.Connection, clock: Callable[[], datetime]) -> None:
        self._conn = conn
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
            self._conn.close()

    def _run_batch(self, batch: list[_Job]) -> None:
        conn = self._conn
        outcomes: list[_Outcome] = []
        try:
            # IMMEDIATE takes the write lock now, so the head read below is still the
            # head at commit even if another process shares the file.
            conn.execute("BEGIN IMMEDIATE")
            head = _read_head(conn)
            for job in batch:
                conn.execute("SAVEPOINT job")
                try:
                    result = self._do(conn, head, job.work)
                except (ConsoleError, sqlite3.IntegrityError) as exc:
                    conn.execute("ROLLBACK TO job")
                    conn.execute("RELEASE job")
                    outcomes.append((job, None, _job_error(exc)))
                    continue
                conn.execute("RELEASE job")
                if isinstance(result, AuditEntry):
                    head = _Head(result.seq, result.hash, result.at)
                outcomes.append((job, result, None))
            conn.execute("COMMIT")
        except Exception as exc:
            self._abandon(batch, exc)
            return
        self._settle(outcomes)

    def _do(self, conn: sqlite3.Connection, head: _Head, work: _Work) -> object:
        if not isinstance(work, AuditRecord):
            return work(conn)
        at = self._clock()
        # Keep ledger time non-decreasing even if the wall clock steps back (NTP).
        if head.at is not None and at < head.at:
            at = head.at
        entry = seal(head.hash, head.seq + 1, at, work)
        conn.execute(
            f"INSERT INTO audit ({_AUDIT_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

    def _abandon(self, batch: list[_Job], exc: Exception) -> None:
        log.error("store.batch.failed size=%d error=%r", len(batch), exc)
        try:
            if self._conn.in_transaction:
                self._conn.execute("ROLLBACK")
        except sqlite3.Error as rollback_exc:
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


def _job_error(exc: ConsoleError | sqlite3.IntegrityError) -> ConsoleError:
    if isinstance(exc, ConsoleError):
        return exc
    error = StoreError("constraint_failed", str(exc))
    error.__cause__ = exc
    return error


def _read_head(conn: sqlite3.Connection) -> _Head:
    row = conn.execute("SELECT seq, hash, at FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
    if row is None:
        return _Head(0, GENESIS_HASH, None)
    return _Head(row[0], row[1], parse_utc(row[2]))


# ------------------------------------------------------------------ opening


def _connect(path: Path, *, writer: bool) -> sqlite3.Connection:
    # isolation_level=None: the writer issues BEGIN/COMMIT itself; the reader never
    # holds a transaction open, so each read sees the latest committed batch.
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=not writer)
    try:
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA foreign_keys = ON")
        if writer:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError("open_failed", f"{path}: journal_mode is {mode}, not wal")
            conn.execute("PRAGMA synchronous = FULL")
        else:
            conn.execute("PRAGMA query_only = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def _migrate(conn: sqlite3.Connection, path: Path) -> None:
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Read inside the write lock: two processes opening a new file race otherwise.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                "schema_too_new",
                f"{path} has schema v{version}; this program knows up to v{SCHEMA_VERSION}",
            )
        for target in range(version + 1, SCHEMA_VERSION + 1):
            for statement in _MIGRATIONS[target - 1]:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {target}")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


def _open_writer(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = _connect(path, writer=True)
    try:
        _migrate(conn, path)
    except BaseException:
        conn.close()
        raise
    return conn


# ------------------------------------------------------------------ the store


class SQLiteStore:
    """The embedded store: one file, one writer thread, reads on the caller's thread."""

    def __init__(self, path: Path, writer: _Writer, reader: sqlite3.Connection) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._closed = False

    @classmethod
    async def open(cls, path: Path, *, clock: Callable[[], datetime] = _utc_now) -> SQLiteStore:
        """Creates or upgrades the schema. ``clock`` stamps audit entries; it is called
        on the writer thread, in commit order."""
        try:
            write_conn = await asyncio.to_thread(_open_writer, path)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError("open_failed", f"{path}: {exc}") from exc
        try:
            reader = _connect(path, writer=False)
        except sqlite3.Error as exc:
            write_conn.close()
            raise StoreError("open_failed", f"{path}: {exc}") from exc
        writer = _Writer(write_conn, clock)
        writer.start()
        return cls(path, writer, reader)

    async def close(self) -> None:
        """Waits for every write already submitted, then stops the writer."""
        if self._closed:
            return
        self._closed = True
        self._writer.stop()
        await asyncio.to_thread(self._writer.join)
        self._reader.close()

    # -------------------------------------------------------------- plumbing

    async def _write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._closed:
            raise StoreError("store_closed", "the store is closed")
        return cast(_T, await self._writer.submit(fn))

    def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[Any]:
        if self._closed:
            raise StoreError("store_closed", "the store is closed")
        try:
            return self._reader.execute(sql, params).fetchall()
        except sqlite3.Error as exc:
            raise StoreError("read_failed", str(exc)) from exc

    # -------------------------------------------------------------- users

    async def add_user(self, username: str, role: Role, password_hash: str, now: datetime) -> User:
        """Raises ``Conflict`` if the username is taken."""
        user = User(username, Role(role), password_hash, as_utc(now))
        params = (username, str(user.role), password_hash, format_utc(now))

        def insert(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                f"INSERT INTO users ({_USER_COLUMNS}) VALUES (?, ?, ?, ?, 0)"
                " ON CONFLICT (username) DO NOTHING",
                params,
            )
            if cursor.rowcount == 0:
                raise Conflict("user_exists", f"user {username!r} already exists")

        await self._write(insert)
        return user

    async def get_user(self, username: str) -> User | None:
        rows = self._read(f"SELECT {_USER_COLUMNS} FROM users WHERE username = ?", (username,))
        return _user(rows[0]) if rows else None

    async def set_password(self, username: str, password_hash: str) -> None:
        """Raises ``NotFound`` for an unknown user."""
        await self._update_user(username, "password_hash", password_hash)

    async def set_role(self, username: str, role: Role) -> None:
        """Raises ``NotFound`` for an unknown user."""
        await self._update_user(username, "role", str(Role(role)))

    async def _update_user(self, username: str, column: str, value: str) -> None:
        def update(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                f"UPDATE users SET {column} = ? WHERE username = ?", (value, username)
            )
            if cursor.rowcount == 0:
                raise NotFound("unknown_user", f"no user {username!r}")

        await self._write(update)

    async def list_users(self) -> list[User]:
        rows = self._read(f"SELECT {_USER_COLUMNS} FROM users ORDER BY username")
        return [_user(row) for row in rows]

    # -------------------------------------------------------------- sessions

    async def create_session(self, session: Session) -> None:
        """Raises ``NotFound`` for an unknown user, ``Conflict`` for a reused token."""
        params = (
            session.token_hash,
            session.username,
            session.csrf_token,
            format_utc(session.created_at),
            format_utc(session.expires_at),
        )

        def insert(conn: sqlite3.Connection) -> None:
            known = conn.execute(
                "SELECT 1 FROM users WHERE username = ?", (session.username,)
            ).fetchone()
            if known is None:
                raise NotFound("unknown_user", f"no user {session.username!r}")
            cursor = conn.execute(
                f"INSERT INTO sessions ({_SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (token_hash) DO NOTHING",
                params,
            )
            if cursor.rowcount == 0:
                raise Conflict("session_exists", "a session with this token already exists")

        await self._write(insert)

    async def get_session(self, token_hash: str) -> Session | None:
        """Returns the session even if it has expired: the caller judges with its ``now``."""
        rows = self._read(
            f"SELECT {_SESSION_COLUMNS} FROM sessions WHERE token_hash = ?", (token_hash,)
        )
        if not rows:
            return None
        token, username, csrf, created_at, expires_at = rows[0]
        return Session(token, username, csrf, parse_utc(created_at), parse_utc(expires_at))

    async def delete_session(self, token_hash: str) -> None:
        """Deleting a session that is already gone is not an error: logout is idempotent."""

        def delete(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,))

        await self._write(delete)

    async def delete_expired_sessions(self, now: datetime) -> int:
        cutoff = format_utc(now)

        def delete(conn: sqlite3.Connection) -> int:
            return conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (cutoff,)).rowcount

        return await self._write(delete)

    # -------------------------------------------------------------- lanes

    async def put_lane(self, lane: LaneRecord) -> None:
        """Adds the lane or replaces its name, car park, direction and token hash."""
        params = (
            lane.id,
            lane.name,
            lane.car_park,
            str(Direction(lane.direction)),
            lane.token_hash,
        )

        def upsert(conn: sqlite3.Connection) -> None:
            conn.execute(
                f"INSERT INTO lanes ({_LANE_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
                " car_park = excluded.car_park, direction = excluded.direction,"
                " token_hash = excluded.token_hash",
                params,
            )

        await self._write(upsert)

    async def get_lane(self, lane_id: str) -> LaneRecord | None:
        rows = self._read(f"SELECT {_LANE_COLUMNS} FROM lanes WHERE id = ?", (lane_id,))
        return _lane(rows[0]) if rows else None

    async def list_lanes(self) -> list[LaneRecord]:
        rows = self._read(f"SELECT {_LANE_COLUMNS} FROM lanes ORDER BY car_park, id")
        return [_lane(row) for row in rows]

    # -------------------------------------------------------------- audit

    async def append(self, record: AuditRecord) -> AuditEntry:
        """Returns once the entry is committed and fsynced. If the caller is cancelled
        after submitting, the entry is still written: the ledger then shows an action
        requested with no outcome, which is the truth."""
        if self._closed:
            raise StoreError("store_closed", "the store is closed")
        entry = await self._writer.submit(record)
        assert isinstance(entry, AuditEntry)
        return entry

    async def audit_page(self, limit: int, before_seq: int | None = None) -> list[AuditEntry]:
        """Newest first; pass the last ``seq`` of a page as ``before_seq`` for the next."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        if before_seq is None:
            rows = self._read(
                f"SELECT {_AUDIT_COLUMNS} FROM audit ORDER BY seq DESC LIMIT ?", (limit,)
            )
        else:
            rows = self._read(
                f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                (before_seq, limit),
            )
        return [_entry(row) for row in rows]

    async def iter_audit(self) -> AsyncIterator[AuditEntry]:
        """Every entry committed when iteration starts, oldest first, read in batches
        with the event loop free to run other tasks between them."""
        last = await self.audit_count()
        after = 0
        while after < last:
            rows = self._read(
                f"SELECT {_AUDIT_COLUMNS} FROM audit WHERE seq > ? AND seq <= ?"
                " ORDER BY seq LIMIT ?",
                (after, last, _ITER_BATCH),
            )
            if not rows:
                return
            for row in rows:
                yield _entry(row)
            after = rows[-1][0]
            await asyncio.sleep(0)

    async def audit_count(self) -> int:
        """The head's seq. The schema only lets entries be added at the head, so this is
        the number of entries; a deleted row (triggers dropped) is for ``verify_audit``
        to find. Unlike ``count(*)`` it does not scan the table."""
        rows = self._read("SELECT coalesce(max(seq), 0) FROM audit")
        return int(rows[0][0])


# ------------------------------------------------------------------ rows


def _user(row: Any) -> User:
    username, role, password_hash, created_at, disabled = row
    return User(username, Role(role), password_hash, parse_utc(created_at), bool(disabled))


def _lane(row: Any) -> LaneRecord:
    lane_id, name, car_park, direction, token_hash = row
    return LaneRecord(lane_id, name, car_park, Direction(direction), token_hash)


def _entry(row: Any) -> AuditEntry:
    seq, at, actor, action, lane, command_id, reason, outcome, detail, prev_hash, hash_ = row
    try:
        detail_value = parse_canonical(detail)
        if canonical_json(detail_value) != detail:
            raise ValueError("detail is not canonical JSON")
        record = AuditRecord(
            actor=actor,
            action=AuditAction(action),
            lane=lane,
            command_id=command_id,
            reason=reason,
            outcome=outcome,
            detail=detail_value,
        )
        when = parse_utc(at)
    except ValueError as exc:
        raise CorruptAuditEntry(seq, str(exc)) from exc
    return AuditEntry.build(seq=seq, at=when, record=record, prev_hash=prev_hash, hash=hash_)
