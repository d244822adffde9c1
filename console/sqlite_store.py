"""``SQLiteStore``: the ``Store`` in one SQLite file, with one writer thread (see
``sqlite_writer.py``) and one reader thread, so no query ever runs on the event loop."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar, cast

from .billing.debts import Debt
from .billing.lists import PlateLists
from .billing.rules import Rules
from .calls.record import CallRecord, KeptCall
from .errors import Conflict, NotFound, StoreError
from .gatekeeping.holds import BlacklistHold
from .ledger import AuditEntry, AuditRecord, as_utc, format_utc, parse_utc
from .models import Change, ChangeKind, ChangesLost, Direction, LaneRecord, Role, Session, User
from .noplate.model import NoPlateStay
from .payments.orders import GateOpen, NoticeSource, Notification, PaymentOrder, Settled
from .sqlite_debts import (
    ALL_PLATE_LISTS,
    HOLDS,
    LATEST_STAY,
    ORDER_DEBTS,
    OWED_DEBTS,
    PLATE_LIST_STAMPS,
    PLATE_LISTS,
    add_debt_job,
    add_hold_job,
    clear_debts_job,
    debt_of,
    hold_of,
    lists_of,
    name_debts_job,
    set_lists_job,
)
from .sqlite_noplate import (
    CODE_USED,
    ONE_NOPLATE,
    PARK_NOPLATE,
    PHONE_OPEN,
    enter_job,
    exit_job,
    noplate_of,
)
from .sqlite_payments import (
    BILLING_RULES,
    NOTIFICATIONS,
    ONE_ORDER,
    OPEN_ORDERS,
    OPENS,
    PAID_FOR_STAY,
    UNSETTLED_ORDERS,
    add_open_job,
    add_order_job,
    gate_open_of,
    notification_of,
    order_of,
    record_payment_job,
    rules_of,
    set_rules_job,
)
from .sqlite_rows import call_record_of, call_record_row, entry_of, lane_of, names_a_row, user_of
from .sqlite_schema import (
    AUDIT_COLUMNS,
    CALL_RECORD_COLUMNS,
    LANE_COLUMNS,
    SESSION_COLUMNS,
    USER_COLUMNS,
    open_connection,
    open_writer,
)
from .sqlite_stays import Job, correct_job, match_job
from .sqlite_vehicles import (
    LANE_VEHICLES,
    ONE_VEHICLE,
    OPEN_STAYS,
    forget_snapshots_job,
    open_stays_of,
    reading_job,
    record_job,
    records_of,
)
from .sqlite_writer import Together, Writer
from .stays.match import OpenStay
from .stays.records import StayState
from .vehicles.model import (
    Reading,
    Recorded,
    Relinked,
    StayRecord,
    VehicleEvent,
    VehicleRecord,
)

_T = TypeVar("_T")

_ITER_BATCH = 256
# A centre reads the change feed every second; ten thousand changes is hours of the
# busiest administration, so a centre that misses them was stopped, not slow.
CHANGES_KEPT = 10_000


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SQLiteStore:
    """The embedded store: one file, one writer thread, one reader thread.

    A query takes tens of microseconds on a warm cache and milliseconds on a cold disk;
    on the event loop that is time every lane and every viewer waits. Reads therefore
    run on a thread of their own, on its own connection (WAL lets it read beside the
    writer); the centre keeps what it reads on every request in ``console.directory``."""

    def __init__(
        self,
        path: Path,
        writer: Writer,
        reader: sqlite3.Connection,
        reads: ThreadPoolExecutor,
        changes_kept: int,
    ) -> None:
        self.path = path
        self._writer = writer
        self._reader = reader
        self._reads = reads
        self._changes_kept = changes_kept
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        clock: Callable[[], datetime] = _utc_now,
        changes_kept: int = CHANGES_KEPT,
    ) -> SQLiteStore:
        """Creates or upgrades the schema. ``clock`` stamps audit entries; it is called
        on the writer thread, in commit order. ``changes_kept``: how much of the change
        feed stays (see ``changes_since``)."""
        try:
            write_conn = await asyncio.to_thread(open_writer, path)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError("open_failed", f"{path}: {exc}") from exc
        # The reader connection lives on the one thread that uses it.
        reads = ThreadPoolExecutor(1, thread_name_prefix="seat-store-reader")
        loop = asyncio.get_running_loop()
        try:
            reader = await loop.run_in_executor(reads, _open_reader, path)
        except sqlite3.Error as exc:
            write_conn.close()
            reads.shutdown()
            raise StoreError("open_failed", f"{path}: {exc}") from exc
        writer = Writer(write_conn, clock)
        writer.start()
        return cls(path, writer, reader, reads, changes_kept)

    async def close(self) -> None:
        """Waits for every write already submitted, then stops the writer."""
        if self._closed:
            return
        self._closed = True
        self._writer.stop()
        await asyncio.to_thread(self._writer.join)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._reads, self._reader.close)
        self._reads.shutdown()

    # -------------------------------------------------------------- plumbing

    async def _write(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._closed:
            raise StoreError("store_closed", "the store is closed")
        return cast(_T, await self._writer.submit(fn))

    async def _read(self, sql: str, params: tuple[object, ...] = ()) -> list[Any]:
        if self._closed:
            raise StoreError("store_closed", "the store is closed")
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._reads, _fetch, self._reader, sql, params)
        except sqlite3.Error as exc:
            raise StoreError("read_failed", str(exc)) from exc

    # -------------------------------------------------------------- users

    async def add_user(self, username: str, role: Role, password_hash: str, now: datetime) -> User:
        """Raises ``Conflict`` if the username is taken."""
        user = User(username, Role(role), password_hash, as_utc(now))
        params = (username, str(user.role), password_hash, format_utc(now))

        def insert(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                f"INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, 0, NULL)"
                " ON CONFLICT (username) DO NOTHING",
                params,
            )
            if cursor.rowcount == 0:
                raise Conflict("user_exists", f"user {username!r} already exists")

        await self._write(insert)
        return user

    async def get_user(self, username: str) -> User | None:
        rows = await self._read(f"SELECT {USER_COLUMNS} FROM users WHERE username = ?", (username,))
        return user_of(rows[0]) if rows else None

    async def set_password(self, username: str, password_hash: str) -> None:
        """Raises ``NotFound`` for an unknown user."""
        await self._update_user(username, "password_hash", password_hash)

    async def set_role(self, username: str, role: Role) -> None:
        """Raises ``NotFound`` for an unknown user."""
        await self._update_user(username, "role", str(Role(role)))

    async def set_disabled(self, username: str, disabled: bool) -> None:
        """Raises ``NotFound`` for an unknown user."""
        await self._update_user(username, "disabled", int(disabled))

    async def set_coverage(self, username: str, car_parks: Sequence[str] | None) -> None:
        """The car parks whose calls the user answers (None: all). Raises ``NotFound``
        for an unknown user."""
        coverage = None if car_parks is None else json.dumps(list(car_parks), ensure_ascii=False)
        await self._update_user(username, "coverage", coverage)

    async def _update_user(self, username: str, column: str, value: str | int | None) -> None:
        def update(conn: sqlite3.Connection) -> None:
            cursor = conn.execute(
                f"UPDATE users SET {column} = ? WHERE username = ?", (value, username)
            )
            if cursor.rowcount == 0:
                raise NotFound("unknown_user", f"no user {username!r}")
            _changed(conn, ChangeKind.USER, username, self._changes_kept)

        await self._write(update)

    async def list_users(self) -> list[User]:
        rows = await self._read(f"SELECT {USER_COLUMNS} FROM users ORDER BY username")
        return [user_of(row) for row in rows]

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
                f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (token_hash) DO NOTHING",
                params,
            )
            if cursor.rowcount == 0:
                raise Conflict("session_exists", "a session with this token already exists")

        await self._write(insert)

    async def get_session(self, token_hash: str) -> Session | None:
        """Returns the session even if it has expired: the caller judges with its ``now``."""
        rows = await self._read(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = ?", (token_hash,)
        )
        if not rows:
            return None
        token, username, csrf, created_at, expires_at = rows[0]
        return Session(token, username, csrf, parse_utc(created_at), parse_utc(expires_at))

    async def delete_session(self, token_hash: str) -> None:
        """Deleting a session that is already gone is not an error: logout is idempotent."""

        def delete(conn: sqlite3.Connection) -> None:
            if conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,)).rowcount:
                _changed(conn, ChangeKind.SESSION, token_hash, self._changes_kept)

        await self._write(delete)

    async def delete_user_sessions(self, username: str) -> int:
        """Log a user out everywhere, e.g. after a password or role change."""

        def delete(conn: sqlite3.Connection) -> int:
            ended = conn.execute("DELETE FROM sessions WHERE username = ?", (username,)).rowcount
            _changed(conn, ChangeKind.USER, username, self._changes_kept)
            return int(ended)

        return await self._write(delete)

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
                f"INSERT INTO lanes ({LANE_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
                " car_park = excluded.car_park, direction = excluded.direction,"
                " token_hash = excluded.token_hash",
                params,
            )
            _changed(conn, ChangeKind.LANE, lane.id, self._changes_kept)

        await self._write(upsert)

    async def get_lane(self, lane_id: str) -> LaneRecord | None:
        rows = await self._read(f"SELECT {LANE_COLUMNS} FROM lanes WHERE id = ?", (lane_id,))
        return lane_of(rows[0]) if rows else None

    async def list_lanes(self) -> list[LaneRecord]:
        rows = await self._read(f"SELECT {LANE_COLUMNS} FROM lanes ORDER BY car_park, id")
        return [lane_of(row) for row in rows]

    # -------------------------------------------------------------- help stickers

    async def get_sticker_key(self) -> bytes | None:
        rows = await self._read("SELECT key FROM sticker_key")
        return bytes(rows[0][0]) if rows else None

    async def add_sticker_key(self, key: bytes) -> bytes:
        """Stores ``key`` unless a key is stored already, and returns the stored one:
        two processes that race to make the first key both end with the winner's."""

        def insert(conn: sqlite3.Connection) -> bytes:
            conn.execute(
                "INSERT INTO sticker_key (one, key) VALUES (1, ?) ON CONFLICT (one) DO NOTHING",
                (key,),
            )
            return bytes(conn.execute("SELECT key FROM sticker_key").fetchone()[0])

        return await self._write(insert)

    async def sticker_serial(self, lane_id: str) -> int | None:
        """The lane's current sticker serial (1 until first revoked); None for no lane."""
        rows = await self._read("SELECT sticker_serial FROM lanes WHERE id = ?", (lane_id,))
        return int(rows[0][0]) if rows else None

    async def bump_sticker_serial(self, lane_id: str) -> int:
        """Revokes every sticker printed for the lane so far; returns the new serial.
        Recorded as a change to the lane, so running centres read it again. Raises
        ``NotFound`` for an unknown lane."""

        def bump(conn: sqlite3.Connection) -> int:
            row = conn.execute(
                "UPDATE lanes SET sticker_serial = sticker_serial + 1 WHERE id = ?"
                " RETURNING sticker_serial",
                (lane_id,),
            ).fetchone()
            if row is None:
                raise NotFound("unknown_lane", f"no lane {lane_id!r}")
            _changed(conn, ChangeKind.LANE, lane_id, self._changes_kept)
            return int(row[0])

        return await self._write(bump)

    # -------------------------------------------------------------- changes

    async def change_head(self) -> int:
        rows = await self._read("SELECT coalesce(max(seq), 0) FROM changes")
        return int(rows[0][0])

    async def changes_since(self, seq: int) -> list[Change]:
        """Changes after ``seq``, oldest first. The table keeps the last
        ``changes_kept`` given at open; a reader that fell further behind gets
        ``ChangesLost``."""
        rows = await self._read(
            "SELECT seq, kind, subject FROM changes WHERE seq > ? ORDER BY seq", (seq,)
        )
        if rows and rows[0][0] != seq + 1 and seq > 0:
            oldest = await self._read("SELECT min(seq) FROM changes")
            if oldest[0][0] > seq + 1:
                raise ChangesLost(seq, oldest[0][0])
        return [Change(row[0], ChangeKind(row[1]), row[2]) for row in rows]

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
            rows = await self._read(
                f"SELECT {AUDIT_COLUMNS} FROM audit ORDER BY seq DESC LIMIT ?", (limit,)
            )
        else:
            rows = await self._read(
                f"SELECT {AUDIT_COLUMNS} FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                (before_seq, limit),
            )
        return [entry_of(row) for row in rows]

    async def iter_audit(self) -> AsyncIterator[AuditEntry]:
        """Every entry committed when iteration starts, oldest first, read in batches
        with the event loop free to run other tasks between them."""
        last = await self.audit_count()
        after = 0
        while after < last:
            rows = await self._read(
                f"SELECT {AUDIT_COLUMNS} FROM audit WHERE seq > ? AND seq <= ?"
                " ORDER BY seq LIMIT ?",
                (after, last, _ITER_BATCH),
            )
            if not rows:
                return
            for row in rows:
                yield entry_of(row)
            after = rows[-1][0]
            await asyncio.sleep(0)

    async def audit_count(self) -> int:
        """The head's seq. The schema only lets entries be added at the head, so this is
        the number of entries; a deleted row (triggers dropped) is for ``verify_audit``
        to find. Unlike ``count(*)`` it does not scan the table."""
        rows = await self._read("SELECT coalesce(max(seq), 0) FROM audit")
        return int(rows[0][0])

    # -------------------------------------------------------------- calls

    async def load_call_state(self) -> str | None:
        """The call queue's state as last saved; None before the first save."""
        rows = await self._read("SELECT state FROM call_state WHERE id = 1")
        return str(rows[0][0]) if rows else None

    async def save_call_state(
        self,
        state: str,
        records: Sequence[CallRecord],
        kept: Sequence[KeptCall],
        audit: Sequence[AuditRecord],
    ) -> list[AuditEntry]:
        """One transaction: the ledger's ``audit`` entries, the finished calls'
        ``records``, the ``kept`` finished calls beside their records (written now or
        before) and the queue's ``state`` after them, or nothing at all. Returns the
        sealed entries. A record already written (the same call) is a ``Conflict``; a
        kept call without one is a ``NotFound``."""
        rows = [call_record_row(record) for record in records]
        saved = format_utc(_utc_now())

        def write(conn: sqlite3.Connection) -> None:
            for row in rows:
                try:
                    conn.execute(
                        f"INSERT INTO call_records ({CALL_RECORD_COLUMNS})"
                        f" VALUES ({', '.join('?' * len(row))})",
                        row,
                    )
                except sqlite3.IntegrityError:
                    raise Conflict("call_recorded", f"call {row[0]} has a record") from None
            for call in kept:
                cursor = conn.execute(
                    "UPDATE call_records SET queue_call = ? WHERE id = ?", (call.text, call.call_id)
                )
                if cursor.rowcount != 1:
                    raise NotFound("unknown_call", f"call {call.call_id} has no record")
            conn.execute(
                "INSERT INTO call_state (id, state, saved_at) VALUES (1, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET state = excluded.state,"
                " saved_at = excluded.saved_at",
                (state, saved),
            )

        if self._closed:
            raise StoreError("store_closed", "the store is closed")
        entries = await self._writer.submit(Together(tuple(audit), write))
        assert isinstance(entries, list)
        return entries

    async def kept_calls(self, since: datetime) -> list[str]:
        """The finished calls kept beside records of calls that ended at ``since`` or
        after, as ``save_call_state`` was given them, in the order they ended."""
        rows = await self._read(
            "SELECT queue_call FROM call_records"
            " WHERE ended_at >= ? AND queue_call IS NOT NULL ORDER BY ended_at, id",
            (format_utc(since),),
        )
        return [str(row[0]) for row in rows]

    async def call_records(self, since: datetime, until: datetime) -> list[CallRecord]:
        """Calls that finished at ``since`` or after and before ``until``, in that order."""
        rows = await self._read(
            f"SELECT {CALL_RECORD_COLUMNS} FROM call_records"
            " WHERE ended_at >= ? AND ended_at < ? ORDER BY ended_at, id",
            (format_utc(since), format_utc(until)),
        )
        return [call_record_of(row) for row in rows]

    # -------------------------------------------------------------- vehicles

    async def record_vehicle(self, event: VehicleEvent) -> Recorded:
        """Keeps ``event`` and makes its stay change (``console.stays.records``) in one
        transaction. An event id kept already from the same lane changes nothing and says
        so (``new`` False); from another lane it is a ``Conflict``."""
        return await self._write(record_job(event))

    async def lane_vehicles(self, lane_id: str, limit: int) -> list[VehicleRecord]:
        """The lane's last ``limit`` events, newest (by the lane's time) first."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        return records_of(await self._read(LANE_VEHICLES, (lane_id, limit)))

    async def vehicle(self, event_id: str) -> VehicleRecord | None:
        rows = await self._read(ONE_VEHICLE, (event_id,))
        return records_of(rows)[0] if rows else None

    async def open_stays(self) -> list[OpenStay]:
        """Every open stay, oldest first: what ``console.stays.match`` ranks."""
        return open_stays_of(await self._read(OPEN_STAYS))

    async def forget_snapshots(self, before: str) -> int:
        """Forgets the snapshot paths that sort before ``before`` (their files are being
        removed); returns how many events lost theirs."""
        return await self._write(forget_snapshots_job(before))

    async def stay(self, stay_id: int) -> StayRecord | None:
        if not names_a_row(stay_id):
            return None
        rows = await self._read(
            "SELECT id, car_park, plate, state, entry_event, entered_at, closed_at"
            " FROM stays WHERE id = ?",
            (stay_id,),
        )
        if not rows:
            return None
        row = rows[0]
        entered = None if row[5] is None else parse_utc(row[5])
        closed = None if row[6] is None else parse_utc(row[6])
        return StayRecord(row[0], row[1], row[2], StayState(row[3]), row[4], entered, closed)

    async def correct_plate(
        self, record: AuditRecord, event_id: str, old: str, new: str
    ) -> Relinked:
        """Writes ``record``, then sets the event's corrected plate ``new`` and re-links
        its stays (``sqlite_stays``), together. ``NotFound`` for an unknown event,
        ``Conflict`` if its plate is no longer ``old``: then nothing is written."""
        return await self._relink(record, correct_job(event_id, old, new))

    async def match_stay(
        self, record: AuditRecord, stay_id: int, event_id: str, event_plate: str, stay_plate: str
    ) -> Relinked:
        """Writes ``record``, then closes open stay ``stay_id`` by exit ``event_id``,
        together; ``NotFound``/``Conflict`` as ``sqlite_stays.match_job`` says, and then
        nothing is written."""
        return await self._relink(record, match_job(stay_id, event_id, event_plate, stay_plate))

    async def keep_reading(
        self, record: AuditRecord, event_id: str, reading: Reading
    ) -> list[AuditEntry]:
        """Writes ``record``, then keeps the OCR's ``reading`` of the event's plate,
        together; ``NotFound`` for an unknown event, ``Conflict`` ``already_read`` when
        it has one: then nothing is written."""
        if self._closed:
            raise StoreError("store_closed", "the store is closed")
        entries = await self._writer.submit(Together((record,), reading_job(event_id, reading)))
        assert isinstance(entries, list)
        return entries

    async def _relink(self, record: AuditRecord, job: Job) -> Relinked:
        if self._closed:
            raise StoreError("store_closed", "the store is closed")
        done: list[Relinked] = []
        entries = await self._writer.submit(
            Together((record,), lambda conn: done.append(job(conn)))
        )
        assert isinstance(entries, list)
        return Relinked(done[0].stay_id, done[0].change, done[0].stays, tuple(entries))

    # -------------------------------------------------------------- no-plate stays

    async def open_noplate_stay(
        self, record: AuditRecord, event: VehicleEvent, phone: str, nonce: str
    ) -> tuple[Recorded, list[AuditEntry]]:
        """Writes ``record``, then the entry ``event`` and its stay for ``phone``,
        together (``sqlite_noplate.enter_job``); a refusal writes nothing."""
        return await self._together(record, enter_job(event, phone, nonce))

    async def close_noplate_stay(
        self, record: AuditRecord, stay_id: int, event: VehicleEvent, nonce: str | None
    ) -> tuple[Recorded, list[AuditEntry]]:
        """Writes ``record``, then closes the stay by the exit ``event``, together."""
        return await self._together(record, exit_job(stay_id, event, nonce))

    async def _together(
        self, record: AuditRecord, job: Callable[[sqlite3.Connection], Recorded]
    ) -> tuple[Recorded, list[AuditEntry]]:
        if self._closed:
            raise StoreError("store_closed", "the store is closed")
        done: list[Recorded] = []
        entries = await self._writer.submit(
            Together((record,), lambda conn: done.append(job(conn)))
        )
        assert isinstance(entries, list)
        return done[0], entries

    async def noplate_stay(self, stay_id: int) -> NoPlateStay | None:
        if not names_a_row(stay_id):
            return None
        rows = await self._read(ONE_NOPLATE, (stay_id,))
        return noplate_of(rows[0]) if rows else None

    async def phone_stay(self, phone: str, car_park: str) -> NoPlateStay | None:
        """The phone's open no-plate stay in ``car_park``, if it holds one."""
        rows = await self._read(PHONE_OPEN, (phone, car_park))
        return noplate_of(rows[0]) if rows else None

    async def noplate_code_used(self, nonce: str) -> bool:
        """Whether the code with ``nonce`` has let a car in or out."""
        return bool(await self._read(CODE_USED, (nonce, nonce)))

    async def noplate_stays(self, car_park: str, limit: int) -> list[NoPlateStay]:
        """The car park's last ``limit`` no-plate stays, newest first."""
        return [noplate_of(row) for row in await self._read(PARK_NOPLATE, (car_park, limit))]

    # -------------------------------------------------------------- billing

    async def set_billing_rules(self, car_park: str, rules: Rules, now: datetime) -> None:
        """Replaces the car park's rules (or sets its first)."""
        await self._write(set_rules_job(car_park, rules, now))

    async def billing_rules(self, car_park: str) -> Rules | None:
        return rules_of(await self._read(BILLING_RULES, (car_park,)))

    async def set_plate_lists(self, car_park: str, lists: PlateLists, now: datetime) -> None:
        """Replaces the car park's plate lists (or sets its first)."""
        await self._write(set_lists_job(car_park, lists, now))

    async def plate_lists(self, car_park: str) -> PlateLists | None:
        found = lists_of(await self._read(PLATE_LISTS, (car_park,)))
        return found[0] if found else None

    async def plate_list_stamps(self) -> list[tuple[str, str]]:
        """Each car park with lists and when they were set: cheap to compare, so a
        reader of every list parses them again only once one changed."""
        return [(row[0], row[1]) for row in await self._read(PLATE_LIST_STAMPS)]

    async def all_plate_lists(self) -> list[PlateLists]:
        return lists_of(await self._read(ALL_PLATE_LISTS))

    async def add_blacklist_hold(
        self, record: AuditRecord, hold: BlacklistHold
    ) -> list[AuditEntry]:
        """Writes ``record``, then the hold, together."""
        if self._closed:
            raise StoreError("store_closed", "the store is closed")
        entries = await self._writer.submit(Together((record,), add_hold_job(hold)))
        assert isinstance(entries, list)
        return entries

    async def blacklist_holds(self, since: datetime, until: datetime) -> list[BlacklistHold]:
        """The holds of reads from ``since`` (included) to ``until``, oldest first."""
        rows = await self._read(HOLDS, (format_utc(since), format_utc(until)))
        return [hold_of(row) for row in rows]

    # -------------------------------------------------------------- debts

    async def add_debt(
        self, record: AuditRecord, debt: Debt, stay_id: int, note: str
    ) -> list[AuditEntry]:
        """Writes ``record``, then the debt of stay ``stay_id``'s escape, together;
        ``NotFound``/``Conflict`` as ``sqlite_debts.add_debt_job`` says, and then
        nothing is written."""
        if self._closed:
            raise StoreError("store_closed", "the store is closed")
        entries = await self._writer.submit(
            Together((record,), add_debt_job(debt, stay_id, record.actor, note))
        )
        assert isinstance(entries, list)
        return entries

    async def latest_stay(self, car_park: str, plate: str, before: datetime) -> int | None:
        """The id of ``plate``'s latest stay at ``car_park`` entered at or before
        ``before``, whatever its state."""
        rows = await self._read(LATEST_STAY, (car_park, plate, format_utc(before)))
        return rows[0][0] if rows else None

    async def owed_debts(self, plate: str) -> list[Debt]:
        """What ``plate`` (normalised) owes at any car park, oldest first."""
        return [debt_of(row) for row in await self._read(OWED_DEBTS, (plate,))]

    async def order_debts(self, order_id: str) -> list[Debt]:
        """The debts order ``order_id`` asked for, cleared or not."""
        return [debt_of(row) for row in await self._read(ORDER_DEBTS, (order_id,))]

    async def clear_debts(self, order_id: str, now: datetime) -> list[str]:
        """Clears the debts paid order ``order_id`` named; returns their ids."""
        return await self._write(clear_debts_job(order_id, now))

    # -------------------------------------------------------------- payments

    async def add_payment_order(
        self, order: PaymentOrder, cancelled: Sequence[str], debts: Sequence[str] = ()
    ) -> None:
        """Keeps ``order`` and cancels the ``cancelled`` open orders it replaces; the
        ``debts`` are those it asks for beside its fee, cleared once it is paid."""
        add, name = add_order_job(order, cancelled), name_debts_job(order.order_id, debts)

        def write(conn: sqlite3.Connection) -> None:
            add(conn)
            name(conn)

        await self._write(write)

    async def payment_order(self, order_id: str) -> PaymentOrder | None:
        rows = await self._read(ONE_ORDER, (order_id,))
        return order_of(rows[0]) if rows else None

    async def open_payment_orders(self, lane_id: str) -> list[PaymentOrder]:
        """The lane's orders still marked open (some may be past their expiry)."""
        return [order_of(row) for row in await self._read(OPEN_ORDERS, (lane_id,))]

    async def unsettled_payment_orders(self, expiring_after: datetime) -> list[PaymentOrder]:
        """The orders, at any lane and in any state, that expire after
        ``expiring_after`` and have no payment kept: soonest to expire first."""
        rows = await self._read(UNSETTLED_ORDERS, (format_utc(expiring_after),))
        return [order_of(row) for row in rows]

    async def record_payment(
        self,
        order_id: str,
        transaction_id: str,
        amount_fen: int,
        now: datetime,
        *,
        source: NoticeSource = NoticeSource.NOTIFICATION,
        notification_id: str | None = None,
    ) -> Settled:
        """Keeps a genuine payment and pays the order by it, in one transaction; the
        same transaction or notification id again changes nothing (``new`` False).
        ``UnknownOrder``; ``NotificationRefused`` for a sum not the order's."""
        return await self._write(
            record_payment_job(order_id, transaction_id, amount_fen, now, source, notification_id)
        )

    async def paid_order_of_stay(self, stay_id: int) -> PaymentOrder | None:
        """The paid order that settled stay ``stay_id``, if any."""
        if not names_a_row(stay_id):
            return None
        rows = await self._read(PAID_FOR_STAY, (stay_id,))
        return order_of(rows[0]) if rows else None

    async def payment_notifications(self, order_id: str) -> list[Notification]:
        return [notification_of(row) for row in await self._read(NOTIFICATIONS, (order_id,))]

    async def add_payment_open(self, order_id: str, gate_open: GateOpen) -> None:
        """Keeps an open asked for the order, once it ended."""
        await self._write(add_open_job(gate_open, order_id))

    async def payment_opens(self, order_id: str) -> list[GateOpen]:
        return [gate_open_of(row) for row in await self._read(OPENS, (order_id,))]


# ------------------------------------------------------------------ rows


def _changed(conn: sqlite3.Connection, kind: ChangeKind, subject: str, kept: int) -> None:
    """Record a change other processes must hear of, in the transaction that makes it,
    and forget all but the last ``kept``, which no running centre still needs."""
    seq = conn.execute(
        "INSERT INTO changes (kind, subject) VALUES (?, ?) RETURNING seq", (str(kind), subject)
    ).fetchone()[0]
    conn.execute("DELETE FROM changes WHERE seq <= ?", (seq - kept,))


def _open_reader(path: Path) -> sqlite3.Connection:
    return open_connection(path, writer=False)


def _fetch(conn: sqlite3.Connection, sql: str, params: tuple[object, ...]) -> list[Any]:
    return conn.execute(sql, params).fetchall()
