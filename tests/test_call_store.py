"""The store's side of the call queue against a real SQLite file: a step's entries, the
records of the calls it finished and the queue's state are written whole or not at all;
agents' coverage; a database from before calls is upgraded in place."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.calls.model import CallRequest, Source
from console.calls.model import Settings as CallSettings
from console.calls.queue import CallQueue
from console.calls.record import (
    ActionKind,
    ActionTaken,
    CallRecord,
    Category,
    KeptCall,
    Outcome,
    SavedState,
    record_of,
)
from console.chain_check import Verdict, verify_audit
from console.errors import Conflict, NotFound, StateMoved
from console.ledger import AuditAction, AuditRecord
from console.models import Role
from console.sqlite_rows import call_record_row
from console.sqlite_schema import _MIGRATIONS, CALL_RECORD_COLUMNS
from console.sqlite_store import SQLiteStore
from gates.vocabulary import Direction

pytestmark = pytest.mark.both_stores

T0 = 1_790_000_000.0


def finished_call(call_id: str = "c1") -> CallRecord:
    """A lane call answered after 12 s, handled for 95 s, ended with a form."""
    queue = CallQueue(CallSettings(), new_id=lambda: call_id)
    queue.login("alice", T0)
    queue.set_state("alice", "break", T0)
    call, _ = queue.place(CallRequest("P1-OUT", "人民路", Direction.EXIT, Source.LANE), T0)
    queue.set_state("alice", "available", T0 + 10)
    queue.accept(call.id, "alice", T0 + 12)
    queue.end(call.id, "alice", T0 + 107)
    outcome = Outcome(Category.PAID_NOT_LIFTED, "粤B12345", 500, "已缴费")
    actions = [ActionTaken("cmd-1", ActionKind.OPEN_GATE, "alice", "done")]
    return record_of(queue.call(call.id), queue.settings, outcome, actions)


def step(call_id: str) -> list[AuditRecord]:
    return [
        AuditRecord(
            actor="alice", action=AuditAction.CALL_ENDED, lane="P1-OUT", detail={"call": call_id}
        )
    ]


async def test_a_step_is_written_with_its_entries_records_and_state(store: SQLiteStore) -> None:
    """The entries come back sealed and in the ledger, the record reads back as written."""
    record = finished_call()
    entries = await store.save_call_state('{"v": 1}', 0, [record], [], step("c1"))
    assert [(e.seq, e.action) for e in entries] == [(1, AuditAction.CALL_ENDED)]
    assert [e async for e in store.iter_audit()] == entries
    assert await store.load_call_state() == SavedState('{"v": 1}', 1)
    when = record.ended_at
    assert await store.call_records(when, when + timedelta(seconds=1)) == [record]
    assert await store.call_records(when - timedelta(days=1), when) == []
    assert (record.wait_s, record.handle_s) == (12.0, 95.0)


async def test_a_step_that_fails_leaves_no_entry_record_or_state(
    store: SQLiteStore, tmp_path: Path
) -> None:
    """A record written twice is refused, and the entries and state of that step with it."""
    await store.save_call_state('{"v": 1}', 0, [finished_call()], [], step("c1"))
    with pytest.raises(Conflict):
        await store.save_call_state('{"v": 2}', 1, [finished_call()], [], step("c1"))
    assert await store.audit_count() == 1
    assert await store.load_call_state() == SavedState('{"v": 1}', 1)
    now = datetime.now(UTC)
    assert len(await store.call_records(now - timedelta(days=3650), now)) == 1
    await store.save_call_state('{"v": 3}', 1, [finished_call("c2")], [], step("c2"))
    assert await verify_audit(store) == Verdict(ok=True, count=2)


async def test_nothing_is_loaded_before_the_first_save(store: SQLiteStore) -> None:
    assert await store.load_call_state() is None


async def test_coverage_is_kept_per_user(store: SQLiteStore) -> None:
    """None covers every car park; a list only those; an unknown user is refused."""

    async def coverage() -> tuple[str, ...] | None:
        user = await store.get_user("alice")
        assert user is not None
        return user.coverage

    await store.add_user("alice", Role.AGENT, "x", datetime.now(UTC))
    assert await coverage() is None
    await store.set_coverage("alice", ["人民路", "解放路"])
    assert await coverage() == ("人民路", "解放路")
    await store.set_coverage("alice", None)
    assert await coverage() is None
    with pytest.raises(NotFound):
        await store.set_coverage("ghost", ["人民路"])


@pytest.mark.sqlite_only
async def test_a_database_from_before_calls_is_upgraded_in_place(tmp_path: Path) -> None:
    """Its users keep their accounts and cover every car park; the call tables appear."""
    path = tmp_path / "seat.db"
    with closing(sqlite3.connect(path)) as conn:
        for version, statements in enumerate(_MIGRATIONS[:2], 1):
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute(
            "INSERT INTO users VALUES ('alice', 'agent', 'x', '2024-05-01T08:00:00.000000Z', 0)"
        )
        conn.commit()
    store = await SQLiteStore.open(path)
    try:
        alice = await store.get_user("alice")
        assert alice is not None and alice.coverage is None
        assert await store.load_call_state() is None
    finally:
        await store.close()


async def test_a_finished_call_is_kept_beside_its_record_and_read_back(store: SQLiteStore) -> None:
    """Written with its record, changed later (its wrap-up), read back from a time on."""
    record = finished_call()
    await store.save_call_state('{"v": 1}', 0, [record], [KeptCall("c1", '{"c": 1}')], step("c1"))
    await store.save_call_state('{"v": 2}', 1, [], [KeptCall("c1", '{"c": 2}')], [])
    assert await store.kept_calls(record.ended_at) == ['{"c": 2}']
    assert await store.kept_calls(record.ended_at + timedelta(seconds=1)) == []


async def test_a_call_kept_without_a_record_writes_nothing(store: SQLiteStore) -> None:
    """Only a finished call is kept, and a finished call has its record."""
    with pytest.raises(NotFound):
        await store.save_call_state('{"v": 1}', 0, [], [KeptCall("ghost", "{}")], step("ghost"))
    assert await store.load_call_state() is None
    assert await store.audit_count() == 0


@pytest.mark.sqlite_only
async def test_an_upgrade_moves_the_finished_calls_out_of_the_saved_state(tmp_path: Path) -> None:
    """A v4 state held every call of the day; v5 keeps the finished ones beside their
    records, where a restarted centre reads them."""
    path = tmp_path / "seat.db"
    record = finished_call()
    open_call = {"id": "c9", "state": "waiting"}
    ended_call = {"id": "c1", "state": "ended"}
    state = json.dumps({"version": 1, "queue": {"calls": [open_call, ended_call]}})
    with closing(sqlite3.connect(path)) as conn:
        for version, statements in enumerate(_MIGRATIONS[:4], 1):
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
        row = call_record_row(record)
        marks = ", ".join("?" * len(row))
        conn.execute(f"INSERT INTO call_records ({CALL_RECORD_COLUMNS}) VALUES ({marks})", row)
        conn.execute("INSERT INTO call_state VALUES (1, ?, '2026-11-28T00:00:00Z')", (state,))
        conn.commit()
    store = await SQLiteStore.open(path)
    try:
        assert [json.loads(text) for text in await store.kept_calls(record.ended_at)] == [
            ended_call
        ]
    finally:
        await store.close()


async def test_a_save_over_a_version_another_store_moved_on_writes_nothing(
    tmp_path: Path,
) -> None:
    """Two stores on one file, as two servers: both read version 1, the first saves
    version 2, and the second's save over version 1 is refused whole: no entry, no
    record, the state as the first left it. Over version 2 it is written."""
    path = tmp_path / "seat.db"
    one, two = await SQLiteStore.open(path), await SQLiteStore.open(path)
    try:
        await one.save_call_state('{"v": 1}', 0, [], [], [])
        assert (
            await one.load_call_state() == await two.load_call_state() == SavedState('{"v": 1}', 1)
        )
        await one.save_call_state('{"v": "one"}', 1, [finished_call("c1")], [], step("c1"))
        with pytest.raises(StateMoved):
            await two.save_call_state('{"v": "two"}', 1, [finished_call("c2")], [], step("c2"))
        assert await two.load_call_state() == SavedState('{"v": "one"}', 2)
        assert [e.detail["call"] async for e in two.iter_audit()] == ["c1"]
        now = datetime.now(UTC)
        assert [r.call_id for r in await two.call_records(now - timedelta(days=3650), now)] == [
            "c1"
        ]
        await two.save_call_state('{"v": "two"}', 2, [finished_call("c2")], [], step("c2"))
        assert await one.load_call_state() == SavedState('{"v": "two"}', 3)
        assert await verify_audit(one) == Verdict(ok=True, count=2)
    finally:
        await one.close()
        await two.close()


async def test_the_first_save_is_over_version_0(store: SQLiteStore) -> None:
    """Before any save there is no state; a first save that names another version finds
    it moved."""
    with pytest.raises(StateMoved):
        await store.save_call_state('{"v": 1}', 3, [], [], [])
    assert await store.load_call_state() is None
