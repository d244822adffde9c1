"""A centre that stopped mid-command leaves no request without an outcome."""

from __future__ import annotations

from console.audit import AuditLog
from console.chain_check import verify_audit
from console.ledger import AuditAction, AuditRecord
from console.settings import Settings
from console.sqlite_store import SQLiteStore
from tests.conftest import start_centre


def requested(command_id: str) -> AuditRecord:
    return AuditRecord(
        actor="alice",
        action=AuditAction.GATE_OPEN_REQUESTED,
        lane="P1-OUT",
        command_id=command_id,
        reason="emergency",
    )


async def test_start_closes_requests_the_last_run_left_open(store: SQLiteStore) -> None:
    """A request with no outcome gets a timeout outcome, then the start marker."""
    await store.append(requested("c-answered"))
    await store.append(
        AuditRecord(
            actor="alice",
            action=AuditAction.GATE_OPEN_OUTCOME,
            lane="P1-OUT",
            command_id="c-answered",
            outcome="done",
        )
    )
    await store.append(requested("c-dangling"))

    closed = await AuditLog(store).start()

    assert [(e.command_id, e.action, e.outcome, e.actor) for e in closed] == [
        ("c-dangling", AuditAction.GATE_OPEN_OUTCOME, "timeout", "alice")
    ]
    entries = [entry async for entry in store.iter_audit()]
    assert [e.action for e in entries[-2:]] == [
        AuditAction.GATE_OPEN_OUTCOME,
        AuditAction.CENTRE_STARTED,
    ]
    assert entries[-1].detail["closed"] == 1
    assert (await verify_audit(store)).ok


async def test_start_reads_only_back_to_the_previous_start(store: SQLiteStore) -> None:
    """What an earlier run left is that run's to close; a second start closes nothing."""
    audit = AuditLog(store)
    await store.append(requested("c-1"))
    assert len(await audit.start()) == 1
    assert await audit.start() == []


async def test_restarted_centre_closes_the_dangling_request(
    settings: Settings, store: SQLiteStore
) -> None:
    """Through the app's own start-up: the ledger is whole again once it serves."""
    await store.append(requested("c-crash"))
    running = await start_centre(settings, store)
    await running.stop()
    outcomes = [
        e.outcome async for e in store.iter_audit() if e.action is AuditAction.GATE_OPEN_OUTCOME
    ]
    assert outcomes == ["timeout"]


async def test_a_server_closes_its_own_requests_not_another_servers(store: SQLiteStore) -> None:
    """Two servers share one ledger: a start of B must not close what A still waits on,
    and A, restarted, closes its own request even with B's start in between."""
    server_a = AuditLog(store, server="a")
    server_b = AuditLog(store, server="b")
    await server_a.start()
    await server_a.record(requested("c-of-a"))
    await server_b.start()
    await server_b.record(requested("c-of-b"))
    assert await server_b.start() != []  # B's own request, from B's last run
    closed = await server_a.start()
    assert [entry.command_id for entry in closed] == ["c-of-a"]
    entries = [entry async for entry in store.iter_audit()]
    requests = [e for e in entries if e.action is AuditAction.GATE_OPEN_REQUESTED]
    assert [e.detail["server"] for e in requests] == ["a", "b"]
    starts = [e.detail["server"] for e in entries if e.action is AuditAction.CENTRE_STARTED]
    assert starts == ["a", "b", "b", "a"]
    assert (await verify_audit(store)).ok


async def test_entries_from_before_servers_were_named_are_the_one_servers(
    store: SQLiteStore,
) -> None:
    """A ledger written before requests named their server: its open request is closed
    by the first start of whatever name the upgraded server has."""
    await store.append(
        AuditRecord(actor="centre", action=AuditAction.CENTRE_STARTED, detail={"pid": 1})
    )
    await store.append(requested("c-old"))  # appended directly: no server named
    closed = await AuditLog(store, server="new-name").start()
    assert [entry.command_id for entry in closed] == ["c-old"]
