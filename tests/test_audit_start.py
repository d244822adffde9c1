"""A centre that stopped mid-command leaves no request without an outcome."""

from __future__ import annotations

from console.audit import AuditLog
from console.ledger import AuditAction, AuditRecord, verify_audit
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
