"""The SQLite store against a real database file: users, sessions, lanes, the ledger."""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import closing, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.chain_check import Verdict, verify_audit
from console.errors import Conflict, NotFound, StoreError
from console.ledger import GENESIS_HASH, AuditAction, AuditEntry, AuditRecord
from console.models import Direction, LaneRecord, Role, Session, User
from console.settings import Settings
from console.sql import Connection
from console.sqlite_schema import SCHEMA_VERSION
from console.sqlite_store import SQLiteStore
from console.store import Store
from tests.conftest import StoreOpener

pytestmark = pytest.mark.both_stores

T0 = datetime(2024, 5, 1, 8, 0, tzinfo=UTC)


@pytest.fixture
def db_path(settings: Settings) -> Path:
    """The SQLite store's file (in ``sqlite_only`` tests)."""
    return settings.database


@contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    """A connection that bypasses the store, as an intruder or an auditor would."""
    with closing(sqlite3.connect(path)) as conn:
        yield conn


def record(note: str, action: AuditAction = AuditAction.GATE_OPEN_REQUESTED) -> AuditRecord:
    return AuditRecord(
        actor="zhang",
        action=action,
        lane="P01-exit-1",
        command_id=f"c-{note}",
        reason="paid_not_lifted",
        detail={"note": note, "remote": "10.0.0.7"},
    )


async def fill(store: Store, n: int) -> list[AuditEntry]:
    return [await store.append(record(str(i))) for i in range(n)]


class GatedClock:
    """A clock for the writer thread that holds the first batch open until the test has
    queued more jobs, so the next batch's contents are known exactly."""

    def __init__(self, fail_on_call: int | None = None) -> None:
        self.loop = asyncio.get_running_loop()
        self.entered: asyncio.Future[None] = self.loop.create_future()
        self.released = threading.Event()
        self.calls = 0
        self.fail_on_call = fail_on_call

    def __call__(self) -> datetime:
        self.calls += 1
        if self.calls == 1:
            self.loop.call_soon_threadsafe(self.entered.set_result, None)
            assert self.released.wait(timeout=30), "the test never released the writer"
        if self.calls == self.fail_on_call:
            raise OSError("clock source lost")
        return T0 + timedelta(seconds=self.calls)

    async def release(self) -> None:
        """Run as a task created after the jobs' tasks: asyncio starts tasks in order, so
        by now each of them has queued its job."""
        self.released.set()


# ------------------------------------------------------------------ opening


@pytest.mark.sqlite_only
async def test_open_creates_the_directory_and_a_wal_database(tmp_path: Path) -> None:
    """A fresh path gets its folder, WAL journal and the current schema version."""
    db_path = tmp_path / "var" / "seat.db"
    store = await SQLiteStore.open(db_path)
    await store.close()
    with raw(db_path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.sqlite_only
async def test_a_database_from_a_newer_program_is_refused(db_path: Path) -> None:
    """Opening a schema this code does not know would risk corrupting it."""
    await (await SQLiteStore.open(db_path)).close()
    with raw(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError) as caught:
        await SQLiteStore.open(db_path)
    assert caught.value.code == "schema_too_new"


async def test_writes_and_reads_after_close_raise_store_error(store: SQLiteStore) -> None:
    """A closed store says so instead of failing somewhere inside sqlite3."""
    await store.close()
    with pytest.raises(StoreError):
        await store.append(record("late"))
    with pytest.raises(StoreError):
        await store.get_user("admin")


# ------------------------------------------------------------------ users


async def test_users_round_trip(store: SQLiteStore) -> None:
    """Users come back as they went in, sorted by name, with changes applied."""
    added = await store.add_user("wang", Role.AGENT, "hash-1", T0)
    await store.add_user("admin", Role.ADMIN, "hash-2", T0 + timedelta(minutes=1))
    assert added == User("wang", Role.AGENT, "hash-1", T0)
    assert await store.get_user("wang") == added
    await store.set_password("wang", "hash-3")
    await store.set_role("wang", Role.SUPERVISOR)
    assert await store.get_user("wang") == User("wang", Role.SUPERVISOR, "hash-3", T0)
    assert [u.username for u in await store.list_users()] == ["admin", "wang"]
    assert await store.get_user("nobody") is None


async def test_adding_an_existing_user_raises_conflict_and_changes_nothing(
    store: SQLiteStore,
) -> None:
    """A taken username is refused; the first account is untouched."""
    first = await store.add_user("wang", Role.AGENT, "hash-1", T0)
    with pytest.raises(Conflict):
        await store.add_user("wang", Role.ADMIN, "hash-2", T0)
    assert await store.get_user("wang") == first


async def test_changing_an_unknown_user_raises_not_found(store: SQLiteStore) -> None:
    """Setting a password or role for nobody is an error, not a silent no-op."""
    with pytest.raises(NotFound):
        await store.set_password("nobody", "hash")
    with pytest.raises(NotFound):
        await store.set_role("nobody", Role.ADMIN)


# ------------------------------------------------------------------ sessions


def session(token_hash: str, expires_at: datetime, username: str = "wang") -> Session:
    return Session(token_hash, username, f"csrf-{token_hash}", T0, expires_at)


async def test_sessions_are_created_read_and_deleted(store: SQLiteStore) -> None:
    """A session reads back whole and is gone after delete; deleting twice is fine."""
    await store.add_user("wang", Role.AGENT, "hash", T0)
    live = session("tok-1", T0 + timedelta(hours=8))
    await store.create_session(live)
    assert await store.get_session("tok-1") == live
    await store.delete_session("tok-1")
    assert await store.get_session("tok-1") is None
    await store.delete_session("tok-1")


async def test_expired_sessions_are_deleted_and_live_ones_kept(store: SQLiteStore) -> None:
    """Only sessions whose expiry has passed are removed, and their number returned."""
    await store.add_user("wang", Role.AGENT, "hash", T0)
    now = T0 + timedelta(hours=1)
    await store.create_session(session("old", now - timedelta(seconds=1)))
    await store.create_session(session("due", now))
    await store.create_session(session("live", now + timedelta(microseconds=1)))
    assert await store.delete_expired_sessions(now) == 2
    assert await store.get_session("old") is None
    assert await store.get_session("due") is None
    assert await store.get_session("live") is not None


async def test_a_session_for_an_unknown_user_is_refused(store: SQLiteStore) -> None:
    """No session can point at a user who does not exist."""
    with pytest.raises(NotFound):
        await store.create_session(session("tok", T0, username="ghost"))


async def test_a_reused_session_token_is_refused(store: SQLiteStore) -> None:
    """Two sessions never share a token hash."""
    await store.add_user("wang", Role.AGENT, "hash", T0)
    await store.create_session(session("tok", T0))
    with pytest.raises(Conflict):
        await store.create_session(session("tok", T0 + timedelta(hours=1)))


# ------------------------------------------------------------------ lanes


async def test_lanes_are_put_read_and_listed_by_car_park(store: SQLiteStore) -> None:
    """Lanes list by car park then id; putting a known id replaces it (token rotation)."""
    await store.put_lane(LaneRecord("B-in", "B entry", "park-b", Direction.ENTRY, "t1"))
    await store.put_lane(LaneRecord("A-out", "A exit", "park-a", Direction.EXIT, "t2"))
    await store.put_lane(LaneRecord("A-in", "A entry", "park-a", Direction.ENTRY, "t3"))
    rotated = LaneRecord("B-in", "B entry east", "park-b", Direction.ENTRY, "t4")
    await store.put_lane(rotated)
    assert await store.get_lane("B-in") == rotated
    assert await store.get_lane("nope") is None
    assert [lane.id for lane in await store.list_lanes()] == ["A-in", "A-out", "B-in"]


# ------------------------------------------------------------------ the ledger


async def test_200_concurrent_appends_are_gapless_and_verify(store: SQLiteStore) -> None:
    """Concurrent appends get seq 1..200, each linked to the one before."""
    entries = await asyncio.gather(*(store.append(record(str(i))) for i in range(200)))
    by_seq = sorted(entries, key=lambda e: e.seq)
    assert [e.seq for e in by_seq] == list(range(1, 201))
    assert by_seq[0].prev_hash == GENESIS_HASH
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(by_seq))
    assert await store.audit_count() == 200
    assert await verify_audit(store) == Verdict(ok=True, count=200)


@pytest.mark.sqlite_only
async def test_append_is_visible_to_another_connection_when_it_returns(
    store: SQLiteStore, db_path: Path
) -> None:
    """Once append returns, the entry is committed: any other reader sees it."""
    with raw(db_path) as conn:
        entry = await store.append(record("now"))
        row = conn.execute("SELECT hash FROM audit WHERE seq = ?", (entry.seq,)).fetchone()
    assert row == (entry.hash,)


@pytest.mark.sqlite_only
async def test_entries_survive_the_process_dying_right_after_append(db_path: Path) -> None:
    """A process killed the instant append returns (no close) loses nothing."""
    script = (
        "import asyncio, os, sys\n"
        "from pathlib import Path\n"
        "from console.ledger import AuditAction, AuditRecord\n"
        "from console.sqlite_store import SQLiteStore\n"
        "async def main():\n"
        "    store = await SQLiteStore.open(Path(sys.argv[1]))\n"
        "    for i in range(3):\n"
        "        await store.append(AuditRecord(actor='a', action=AuditAction.LOGIN))\n"
        "    os._exit(0)\n"
        "asyncio.run(main())\n"
    )
    child = await asyncio.create_subprocess_exec(sys.executable, "-c", script, str(db_path))
    assert await child.wait() == 0
    store = await SQLiteStore.open(db_path)
    try:
        assert await verify_audit(store) == Verdict(ok=True, count=3)
    finally:
        await store.close()


async def test_audit_page_is_newest_first_and_pages_with_before_seq(store: SQLiteStore) -> None:
    """Pages walk back through the ledger without overlap."""
    await fill(store, 5)
    first = await store.audit_page(2)
    second = await store.audit_page(2, before_seq=first[-1].seq)
    last = await store.audit_page(2, before_seq=second[-1].seq)
    assert [e.seq for e in first + second + last] == [5, 4, 3, 2, 1]
    assert await store.audit_page(2, before_seq=1) == []


async def test_entries_read_back_equal_what_append_returned(store: SQLiteStore) -> None:
    """Every field survives the round trip through the database."""
    written = await store.append(
        AuditRecord(
            actor="张三",
            action=AuditAction.GATE_OPEN_OUTCOME,
            lane="P01-exit-1",
            command_id="c-1",
            reason="paid_not_lifted",
            outcome="done",
            detail={"ms": 182.4, "n": 1.0, "nested": {"b": [1, "二", None, True]}},
        )
    )
    assert await store.audit_page(1) == [written]
    assert [e async for e in store.iter_audit()] == [written]


async def test_ledger_time_never_goes_backwards(open_test_store: StoreOpener) -> None:
    """If the wall clock steps back, entries keep the last time instead."""
    times = iter([T0 + timedelta(seconds=10), T0 + timedelta(seconds=5)])
    store = await open_test_store(clock=lambda: next(times))
    try:
        first, second = await fill(store, 2)
    finally:
        await store.close()
    assert second.at == first.at == T0 + timedelta(seconds=10)


async def test_reopening_continues_the_chain(open_test_store: StoreOpener) -> None:
    """A restarted store appends seq n+1 linked to entry n, and the whole verifies."""
    store = await open_test_store()
    before = await fill(store, 3)
    await store.close()
    store = await open_test_store()
    try:
        after = await store.append(record("after restart"))
        assert after.seq == 4
        assert after.prev_hash == before[-1].hash
        assert await verify_audit(store) == Verdict(ok=True, count=4)
    finally:
        await store.close()


async def test_close_waits_for_writes_already_submitted(open_test_store: StoreOpener) -> None:
    """Appends queued before close are committed, not dropped."""
    store = await open_test_store()
    appends = [asyncio.create_task(store.append(record(str(i)))) for i in range(5)]
    closing_task = asyncio.create_task(store.close())
    entries = await asyncio.gather(*appends)
    await closing_task
    assert sorted(e.seq for e in entries) == [1, 2, 3, 4, 5]
    store = await open_test_store()
    try:
        assert [e.seq async for e in store.iter_audit()] == [1, 2, 3, 4, 5]
    finally:
        await store.close()


async def test_a_failed_batch_fails_every_waiter_and_keeps_nothing(
    open_test_store: StoreOpener,
) -> None:
    """One fatal error in a batch: all its appends fail, none is kept, the chain goes on."""
    clock = GatedClock(fail_on_call=3)
    store = await open_test_store(clock=clock)
    try:
        first = asyncio.create_task(store.append(record("first")))
        await clock.entered  # the writer is inside batch 1, which holds only "first"
        doomed = [asyncio.create_task(store.append(record(f"doomed-{i}"))) for i in range(4)]
        await asyncio.create_task(clock.release())
        outcomes = await asyncio.gather(*doomed, return_exceptions=True)
        kept = await first
        for outcome in outcomes:
            assert isinstance(outcome, StoreError)
            assert outcome.code == "write_failed"
            assert isinstance(outcome.__cause__, OSError)
        assert kept.seq == 1
        assert await store.audit_count() == 1
        assert [e.seq async for e in store.iter_audit()] == [1]
        after = await store.append(record("after"))
        assert (after.seq, after.prev_hash) == (2, kept.hash)
        assert await verify_audit(store) == Verdict(ok=True, count=2)
    finally:
        await store.close()


async def test_a_conflict_in_a_batch_fails_only_its_own_waiter(
    open_test_store: StoreOpener,
) -> None:
    """A duplicate user beside two appends in one batch does not cost the appends."""
    clock = GatedClock()
    store = await open_test_store(clock=clock)
    try:
        await store.add_user("wang", Role.AGENT, "hash", T0)
        first = asyncio.create_task(store.append(record("first")))
        await clock.entered
        a = asyncio.create_task(store.append(record("a")))
        dup = asyncio.create_task(store.add_user("wang", Role.ADMIN, "other", T0))
        b = asyncio.create_task(store.append(record("b")))
        await asyncio.create_task(clock.release())
        with pytest.raises(Conflict):
            await dup
        assert [(await first).seq, (await a).seq, (await b).seq] == [1, 2, 3]
        assert (await b).prev_hash == (await a).hash
        assert (await store.get_user("wang")) == User("wang", Role.AGENT, "hash", T0)
        assert await verify_audit(store) == Verdict(ok=True, count=3)
    finally:
        await store.close()


# ------------------------------------------------------------------ tampering


@pytest.mark.sqlite_only
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit SET detail = '{}' WHERE seq = 2",
        "UPDATE audit SET seq = 99 WHERE seq = 3",
        "DELETE FROM audit WHERE seq = 2",
        "DELETE FROM audit",
        # REPLACE deletes the old row without firing delete triggers by default.
        "INSERT OR REPLACE INTO audit SELECT * FROM audit WHERE seq = 2",
        # Not at the head, or not linked to it.
        "INSERT INTO audit SELECT seq + 10, at, actor, action, lane, command_id, reason,"
        " outcome, detail, prev_hash, hash FROM audit WHERE seq = 3",
        "INSERT INTO audit SELECT 4, at, actor, action, lane, command_id, reason,"
        " outcome, detail, prev_hash, hash FROM audit WHERE seq = 3",
    ],
)
async def test_the_schema_refuses_to_change_the_ledger(
    store: SQLiteStore, db_path: Path, statement: str
) -> None:
    """Even with raw SQL, entries can only be added at the head."""
    entries = await fill(store, 3)
    with raw(db_path) as conn, pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute(statement)
    assert [e async for e in store.iter_audit()] == entries


@pytest.mark.sqlite_only
async def test_changed_detail_is_named_by_verify_audit(store: SQLiteStore, db_path: Path) -> None:
    """With the trigger dropped, an edited row is found by its seq."""
    await fill(store, 5)
    with raw(db_path) as conn:
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute(
            """UPDATE audit SET detail = '{"note":"2","remote":"10.9.9.9"}' WHERE seq = 3"""
        )
        conn.commit()
    assert await verify_audit(store) == Verdict(
        ok=False, count=2, bad_seq=3, problem="hash mismatch"
    )


@pytest.mark.sqlite_only
async def test_a_deleted_row_is_named_by_verify_audit(store: SQLiteStore, db_path: Path) -> None:
    """With the trigger dropped, a deleted row shows as a gap at its seq."""
    await fill(store, 5)
    with raw(db_path) as conn:
        conn.execute("DROP TRIGGER audit_no_delete")
        conn.execute("DELETE FROM audit WHERE seq = 4")
        conn.commit()
    assert await verify_audit(store) == Verdict(
        ok=False, count=3, bad_seq=4, problem="sequence gap: expected 4, found 5"
    )


@pytest.mark.sqlite_only
async def test_a_row_that_cannot_be_decoded_is_named_by_verify_audit(
    store: SQLiteStore, db_path: Path
) -> None:
    """Detail rewritten as equal but non-canonical JSON is still an edit, and found."""
    await fill(store, 3)
    with raw(db_path) as conn:
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("""UPDATE audit SET detail = '{"remote": "10.0.0.7", "note": "1"}'
                        WHERE seq = 2""")
        conn.commit()
    assert await verify_audit(store) == Verdict(
        ok=False, count=1, bad_seq=2, problem="unreadable entry: detail is not canonical JSON"
    )


async def test_a_job_that_fails_after_writing_leaves_no_trace(store: SQLiteStore) -> None:
    """Each job runs in a savepoint: its own writes go if it raises, the batch commits."""

    def half_done(conn: Connection) -> None:
        conn.execute(
            "INSERT INTO lanes (id, name, car_park, direction, token_hash)"
            " VALUES ('X', 'x', 'park', 'entry', 't')"
        )
        raise Conflict("test_conflict", "raised after a write")

    with pytest.raises(Conflict):
        await store._write(half_done)
    assert await store.get_lane("X") is None
    assert (await store.append(record("still fine"))).seq == 1
