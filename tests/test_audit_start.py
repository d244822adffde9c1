"""A centre that stopped mid-command leaves no request without an outcome."""

from __future__ import annotations

import asyncio

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


def answered(command_id: str) -> AuditRecord:
    return AuditRecord(
        actor="alice",
        action=AuditAction.GATE_OPEN_OUTCOME,
        lane="P1-OUT",
        command_id=command_id,
        outcome="done",
    )


async def test_start_closes_requests_the_last_run_left_open(store: SQLiteStore) -> None:
    """A request with no outcome gets a timeout outcome, then the start marker."""
    await store.append(requested("c-answered"))
    await store.append(answered("c-answered"))
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


async def test_a_gone_servers_open_requests_are_closed_once_by_the_servers_left(
    store: SQLiteStore,
) -> None:
    """A's run is gone and never starts again: B and C both close what it left open
    at once (as two servers finding it gone might); each request is closed once, as
    A's own start would close it, and an answered one is left alone."""
    server_a = AuditLog(store, server="a")
    await server_a.start()
    assert server_a.started is not None
    await server_a.record(requested("c-answered"))
    await store.append(answered("c-answered"))
    await server_a.record(requested("c-left"))
    upto = await store.audit_count()
    await server_a.record(requested("c-later"))  # after A was found gone: not closed
    closers = [AuditLog(store, server="b"), AuditLog(store, server="c")]
    closed = await asyncio.gather(
        *(closer.close_stranded("a", server_a.started, upto) for closer in closers)
    )
    assert sorted(len(entries) for entries in closed) == [0, 1]
    (entry,) = closed[0] or closed[1]
    assert (entry.command_id, entry.outcome, entry.actor) == ("c-left", "timeout", "alice")
    assert entry.detail["detail"] == "the server stopped before the lane answered"
    entries = [entry async for entry in store.iter_audit()]
    outcomes = [e.command_id for e in entries if e.action is AuditAction.GATE_OPEN_OUTCOME]
    assert outcomes == ["c-answered", "c-left"]
    # A's restart closes what is left of that run, and nothing twice.
    assert [e.command_id for e in await server_a.start()] == ["c-later"]
    assert (await verify_audit(store)).ok


async def test_a_gone_server_that_started_again_has_nothing_closed_by_another(
    store: SQLiteStore,
) -> None:
    """A died and started again (its start closed its old run's request) before B got
    to close that run's requests: B closes nothing, not the new run's open request."""
    server_a = AuditLog(store, server="a")
    await server_a.start()
    old_run = server_a.started
    await server_a.record(requested("c-old"))
    assert [e.command_id for e in await server_a.start()] == ["c-old"]
    await server_a.record(requested("c-new"))  # in flight in the new run
    upto = await store.audit_count()
    assert await AuditLog(store, server="b").close_stranded("a", old_run, upto) == []
    entries = [entry async for entry in store.iter_audit()]
    assert [e.command_id for e in entries if e.action is AuditAction.GATE_OPEN_OUTCOME] == ["c-old"]
