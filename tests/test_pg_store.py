"""What only the PostgreSQL store has: several centres writing one ledger, a database
restarted under a running store, the ledger's refusals by trigger and by grant, and
``seat db``'s upgrade, copy and the ledger's verification there. Each test has a
database of its own on the tests' server, or a server of its own to restart."""

from __future__ import annotations

import asyncio
import io
import itertools
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from console import pg_schema
from console.chain_check import Verdict, verify_audit
from console.cli import main
from console.errors import StoreError
from console.ledger import GENESIS_HASH, AuditAction, AuditRecord
from console.ledger_check import check_ledger
from console.models import Direction, LaneRecord, Role, Session
from console.pg_reader import read_pg_ledger
from console.pg_schema import TABLES
from console.pg_store import PostgresStore
from console.sqlite_store import SQLiteStore
from console.vehicles.model import VehicleEvent
from gates.vocabulary import PlateColour
from tests.services import START_S, PostgresServer

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)
_ROLES = itertools.count(1)


def record(note: str) -> AuditRecord:
    return AuditRecord(
        actor="zhang",
        action=AuditAction.GATE_OPEN_REQUESTED,
        lane="P1-OUT",
        command_id=f"c-{note}",
        detail={"note": note},
    )


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of the test's own, to stop and kill."""
    server = PostgresServer()
    server.start()
    yield server
    server.close()


# ------------------------------------------------------------------ several centres


async def test_two_centres_appending_at_once_keep_one_gapless_chain(postgres_url: str) -> None:
    """Two stores on one database (two servers' centres), appending at the same time:
    seqs 1..200 with no gap or repeat, each linked to the one before, whoever wrote it."""
    first, second = await PostgresStore.open(postgres_url), await PostgresStore.open(postgres_url)
    try:
        entries = await asyncio.gather(
            *(store.append(record(f"{n}-{i}")) for i in range(100) for n, store in
              enumerate((first, second)))
        )  # fmt: skip
        assert sorted(entry.seq for entry in entries) == list(range(1, 201))
        chain = sorted(entries, key=lambda entry: entry.seq)
        assert chain[0].prev_hash == GENESIS_HASH
        assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(chain))
        assert await verify_audit(second) == Verdict(ok=True, count=200)
        assert [e async for e in first.iter_audit()] == chain
    finally:
        await first.close()
        await second.close()
    report = read_pg_ledger(postgres_url, lambda view: check_ledger(view, [], {}))
    assert (report.ok, report.end, report.head) == (True, 200, chain[-1].hash)


# ------------------------------------------------------------------ a restarted database


@pytest.mark.parametrize("how", ["stop", "kill"])
async def test_a_database_that_went_away_fails_writes_then_serves_again(
    own_server: PostgresServer, how: str
) -> None:
    """While PostgreSQL is down, writes fail with ``write_failed`` and reads with
    ``read_failed``, and nothing is kept; once it is back the same store writes and
    reads again, the chain going on from where it was."""
    url = own_server.create_database("centre")
    store = await PostgresStore.open(url)
    try:
        kept = await store.append(record("before"))
        await store.add_user("alice", Role.AGENT, "hash", T0)
        # The tests' server commits without waiting for its WAL (synchronous_commit=off),
        # so a kill would lose the last commits: they are written out first.
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
        getattr(own_server, how)()
        with pytest.raises(StoreError) as failed:
            await store.append(record("while down"))
        assert failed.value.code == "write_failed"
        with pytest.raises(StoreError) as unread:
            await store.get_user("alice")
        assert unread.value.code == "read_failed"
        with pytest.raises(StoreError):
            await store.ping()  # /readyz's check: not ready
        own_server.start()
        await asyncio.to_thread(accepting, url)
        after = await store.append(record("after"))
        assert (after.seq, after.prev_hash) == (2, kept.hash)
        assert (await store.get_user("alice")) is not None
        await store.ping()
        assert await verify_audit(store) == Verdict(ok=True, count=2)
    finally:
        await store.close()


def accepting(url: str) -> None:
    """Waits until the restarted server lets a client in: it replays its WAL first,
    refusing connections meanwhile (as ``tests.services`` waits for its port)."""
    deadline = time.monotonic() + START_S
    while True:
        try:
            psycopg.connect(url, connect_timeout=5).close()
            return
        except psycopg.OperationalError as exc:
            starting = "starting up" in str(exc) or "not yet accepting" in str(exc)
            if not starting or time.monotonic() > deadline:
                raise
        time.sleep(0.05)


# ------------------------------------------------------------------ append-only


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit SET detail = '{}' WHERE seq = 2",
        "DELETE FROM audit WHERE seq = 3",
        "DELETE FROM audit",
        "TRUNCATE audit",
        "INSERT INTO audit SELECT seq + 10, at, actor, action, lane, command_id, reason,"
        " outcome, detail, prev_hash, hash FROM audit WHERE seq = 3",
        "INSERT INTO audit SELECT 4, at, actor, action, lane, command_id, reason,"
        " outcome, detail, prev_hash, hash FROM audit WHERE seq = 3",
    ],
)
async def test_the_ledger_refuses_any_change_even_from_its_owner(
    postgres_url: str, statement: str
) -> None:
    """The tables' owner (here the superuser) is refused by the triggers."""
    store = await PostgresStore.open(postgres_url)
    try:
        entries = [await store.append(record(str(i))) for i in range(3)]
        with (
            psycopg.connect(postgres_url) as conn,
            pytest.raises(psycopg.errors.RaiseException, match="append-only"),
        ):
            conn.execute(statement)
        assert [e async for e in store.iter_audit()] == entries
    finally:
        await store.close()


async def test_a_granted_role_runs_the_centre_but_may_not_change_the_ledger(
    postgres_server: PostgresServer, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``seat db grant``: the centre's own role writes every table and appends to the
    ledger; changing the ledger is refused by its rights, before any trigger."""
    role = f"centre{next(_ROLES)}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    await (await PostgresStore.open(postgres_url)).close()  # the owner makes the tables
    monkeypatch.setenv("SEAT_DATABASE_URL", postgres_url)
    assert await asyncio.to_thread(main, ["db", "grant", role]) == 0
    as_centre = postgres_url.replace("postgres@", f"{role}@")
    store = await PostgresStore.open(as_centre)
    try:
        await store.add_user("alice", Role.AGENT, "hash", T0)
        await store.create_session(Session("t", "alice", "csrf", T0, T0 + timedelta(hours=1)))
        await store.put_lane(LaneRecord("P1-IN", "入口", "人民路", Direction.ENTRY, "h"))
        assert await store.change_head() == 1  # an identity column's sequence, granted too
        entries = [await store.append(record(str(i))) for i in range(2)]
    finally:
        await store.close()
    for statement in ("UPDATE audit SET actor = 'x'", "DELETE FROM audit", "TRUNCATE audit"):
        with (
            psycopg.connect(as_centre) as conn,
            pytest.raises(psycopg.errors.InsufficientPrivilege),
        ):
            conn.execute(statement)
    assert read_pg_ledger(postgres_url, lambda view: view.end()) == entries[-1].seq == 2


async def test_a_centre_whose_role_may_not_migrate_does_not_start(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A program with a migration the database lacks, started as the centres' role:
    refused with the server's reason, the schema left as it was."""
    role = f"centre{next(_ROLES)}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
    await (await PostgresStore.open(postgres_url)).close()
    monkeypatch.setenv("SEAT_DATABASE_URL", postgres_url)
    assert await asyncio.to_thread(main, ["db", "grant", role]) == 0
    newer = (*pg_schema.MIGRATIONS, ("CREATE TABLE newer (id BIGINT PRIMARY KEY)",))
    monkeypatch.setattr(pg_schema, "MIGRATIONS", newer)
    monkeypatch.setattr(pg_schema, "SCHEMA_VERSION", len(newer))
    with pytest.raises(StoreError) as refused:
        await PostgresStore.open(postgres_url.replace("postgres@", f"{role}@"))
    assert refused.value.code == "open_failed"
    assert "permission denied" in refused.value.detail
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM schema_migrations").fetchall() == [(1,)]


async def test_the_tables_owner_is_not_granted_to(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The owner could drop the triggers: granting to it is refused, and says why."""
    await (await PostgresStore.open(postgres_url)).close()
    monkeypatch.setenv("SEAT_DATABASE_URL", postgres_url)
    assert await asyncio.to_thread(main, ["db", "grant", "postgres"]) == 2
    assert "role_owns_tables" in capsys.readouterr().err


# ------------------------------------------------------------------ seat db


def test_upgrade_twice_changes_nothing_the_second_time(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SEAT_DATABASE_URL", postgres_url)
    assert main(["db", "upgrade"]) == 0
    assert "schema v0 -> v1" in capsys.readouterr().out
    assert main(["db", "upgrade"]) == 0
    assert "schema v1, up to date" in capsys.readouterr().out
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM schema_migrations").fetchall() == [(1,)]


async def test_centres_starting_at_once_on_a_new_database_migrate_it_once(
    postgres_url: str,
) -> None:
    """Four stores opened at the same moment: one applies the migration, the others
    wait for it on the advisory lock and find the schema current."""
    stores = await asyncio.gather(*(PostgresStore.open(postgres_url) for _ in range(4)))
    for store in stores:
        await store.close()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT version FROM schema_migrations").fetchall() == [(1,)]


def test_a_malformed_database_url_is_a_clear_start_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for url in ("mysql://centre@db/seat", "postgresql://centre@db/seat?sslmode"):
        monkeypatch.setenv("SEAT_DATABASE_URL", url)
        assert main(["serve"]) == 2
        assert "SEAT_DATABASE_URL" in capsys.readouterr().err


async def _populate(path: Path) -> tuple[int, str]:
    """A SQLite centre with a bit of everything; its ledger's length and head."""
    store = await SQLiteStore.open(path)
    try:
        await store.add_user("alice", Role.AGENT, "hash", T0)
        await store.create_session(Session("t", "alice", "csrf", T0, T0 + timedelta(hours=1)))
        await store.put_lane(LaneRecord("P1-IN", "入口", "人民路", Direction.ENTRY, "h1"))
        await store.put_lane(LaneRecord("P1-OUT", "出口", "人民路", Direction.EXIT, "h2"))
        await store.add_sticker_key(bytes(range(32)))
        for n, (lane, direction) in enumerate(
            [("P1-IN", Direction.ENTRY), ("P1-IN", Direction.ENTRY), ("P1-OUT", Direction.EXIT)]
        ):
            await store.record_vehicle(
                VehicleEvent(
                    event_id=f"e{n}",
                    lane=lane,
                    car_park="人民路",
                    direction=direction,
                    at=T0 + timedelta(minutes=n),
                    received_at=T0 + timedelta(minutes=n),
                    plate="粤B12345" if n != 1 else "粤A99999",
                    plate_colour=PlateColour.BLUE,
                    confidence=0.9,
                    box=(1, 2, 3, 4),
                    snapshot=None,
                )
            )
        entries = [await store.append(record(str(i))) for i in range(5)]
    finally:
        await store.close()
    return entries[-1].seq, entries[-1].hash


def test_copy_moves_a_sqlite_centre_whose_chain_then_verifies_on_postgresql(
    tmp_path: Path,
    postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Every table comes over, the ledger verbatim; the copied centre goes on (ids and
    seqs after the copied ones); a second copy to the same database is refused."""
    count, head = asyncio.run(_populate(tmp_path / "seat.db"))
    monkeypatch.setenv("SEAT_DATA_DIR", str(tmp_path))
    assert main(["db", "copy", "--to", postgres_url]) == 0
    out = capsys.readouterr().out
    assert "audit: 5 rows" in out and "vehicle_events: 3 rows" in out and "stays: 2 rows" in out
    assert f"the ledger's {count} entries verify there, head {head}" in out
    with sqlite3.connect(tmp_path / "seat.db") as source:
        audit_rows = source.execute("SELECT * FROM audit ORDER BY seq").fetchall()
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT * FROM audit ORDER BY seq").fetchall() == audit_rows

    async def go_on() -> None:
        store = await PostgresStore.open(postgres_url)
        try:
            assert [u.username for u in await store.list_users()] == ["alice"]
            assert await store.get_session("t") is not None
            assert [lane.id for lane in await store.list_lanes()] == ["P1-IN", "P1-OUT"]
            assert await store.get_sticker_key() == bytes(range(32))
            vehicles = await store.lane_vehicles("P1-IN", 10)
            assert [v.event.event_id for v in vehicles] == ["e1", "e0"]
            stays = await store.open_stays()
            assert [stay.plate for stay in stays] == ["粤A99999"]
            head_before = await store.change_head()
            await store.put_lane(LaneRecord("P2-IN", "入口", "解放路", Direction.ENTRY, "h3"))
            assert await store.change_head() == head_before + 1
            after = await store.append(record("after the copy"))
            assert (after.seq, after.prev_hash) == (count + 1, head)
        finally:
            await store.close()

    asyncio.run(go_on())
    monkeypatch.setenv("SEAT_DATABASE_URL", postgres_url)
    assert main(["audit", "verify"]) == 0
    assert f"ok {count + 1} entries" in capsys.readouterr().out
    monkeypatch.delenv("SEAT_DATABASE_URL")
    assert main(["db", "copy", "--to", postgres_url]) == 2
    assert "target_not_empty" in capsys.readouterr().err


def test_the_cli_changes_a_centre_on_postgresql_with_its_ledger_entry(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``seat user add`` checks the PostgreSQL ledger, writes the account and its entry
    there, and signs a checkpoint of it that the next check holds the ledger to."""
    monkeypatch.setenv("SEAT_DATABASE_URL", postgres_url)
    monkeypatch.setenv("SEAT_DATA_DIR", str(tmp_path))
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert main(["user", "add", "wang", "--role", "agent"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    assert main(["user", "add", "li", "--role", "agent"]) == 0

    async def read() -> tuple[list[str], list[AuditAction]]:
        store = await PostgresStore.open(postgres_url)
        try:
            users = [user.username for user in await store.list_users()]
            return users, [entry.action async for entry in store.iter_audit()]
        finally:
            await store.close()

    assert asyncio.run(read()) == (["li", "wang"], [AuditAction.USER_ADDED] * 2)
    assert len((tmp_path / "audit-anchors.jsonl").read_text().splitlines()) == 2
    assert main(["audit", "verify"]) == 0


async def test_both_schemas_have_the_same_tables_and_columns(
    tmp_path: Path, postgres_url: str
) -> None:
    """The parts' SQL is shared, so a migration added to one engine's schema must be
    added to the other's: the PostgreSQL tables are SQLite's, column for column (and
    ``vehicle_events`` keeps SQLite's ``rowid`` as a column)."""
    await (await SQLiteStore.open(tmp_path / "seat.db")).close()
    await (await PostgresStore.open(postgres_url)).close()
    with sqlite3.connect(tmp_path / "seat.db") as conn:
        tables = [
            row[0]
            for row in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
                " AND name NOT LIKE 'sqlite_%' ORDER BY name"
            )
        ]
        sqlite_columns = {
            table: {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
            for table in tables
        }
    sqlite_columns["vehicle_events"].add("rowid")
    with psycopg.connect(postgres_url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name != 'schema_migrations'"
        ).fetchall()
    pg_columns: dict[str, set[str]] = {}
    for table, column in rows:
        pg_columns.setdefault(table, set()).add(column)
    assert pg_columns == sqlite_columns
    assert sorted(TABLES) == tables
