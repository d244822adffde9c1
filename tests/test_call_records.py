"""What is kept of a call, driven with literals: its record, the ledger entries of its
steps, and the commands its holder sent to its lane."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

import pytest

from console.calls.commands import CallCommands
from console.calls.effects import Effect
from console.calls.entries import entries
from console.calls.model import CallRequest, Settings
from console.calls.queue import CallQueue
from console.calls.record import ActionKind, ActionTaken, Category, Outcome, record_of
from console.ledger import AuditAction, AuditEntry, AuditRecord, seal
from gates.vocabulary import Direction

T0 = 1_790_000_000.0


def desk() -> CallQueue:
    numbers = itertools.count(1)
    return CallQueue(Settings(), new_id=lambda: f"c{next(numbers)}")


def answered(queue: CallQueue, at: float = T0) -> str:
    """alice, alone, answers a fresh exit-lane call at ``at``."""
    queue.login("alice", at)
    call, _ = queue.place(CallRequest("L1", "A", Direction.EXIT), at)
    queue.accept(call.id, "alice", at)
    return call.id


def entry(
    action: AuditAction,
    actor: str = "alice",
    lane: str = "L1",
    command_id: str | None = None,
    outcome: str | None = None,
) -> AuditEntry:
    record = AuditRecord(actor, action, lane, command_id, outcome=outcome)
    return seal("0" * 64, 1, datetime.now(UTC), record)


def test_a_call_past_the_service_target_is_recorded_breached_even_before_its_timer() -> None:
    """Ended 301 s after the answer, before the queue's breach timer ran: breached."""
    queue = desk()
    call_id = answered(queue)
    queue.end(call_id, "alice", T0 + 301)
    record = record_of(queue.call(call_id), queue.settings, None, ())
    assert record.breached and record.handle_s == 301.0 and record.wait_s == 0.0


def test_only_a_finished_call_has_a_record() -> None:
    queue = desk()
    with pytest.raises(ValueError, match="not finished"):
        record_of(queue.call(answered(queue)), queue.settings, None, ())


def test_the_end_entry_carries_the_outcome_and_the_calls_commands() -> None:
    """The ledger says who ended the call, with the form and what was sent to the lane."""
    queue = desk()
    call_id = answered(queue)
    effects: list[Effect] = queue.end(call_id, "alice", T0 + 60)
    outcome = Outcome(Category.NO_ENTRY_RECORD, "粤B12345", 0, "")
    sent = (ActionTaken("k1", ActionKind.OPEN_GATE, "alice", "done"),)
    [ended] = entries(
        effects, "alice", {call_id: "alice"}, outcome=outcome, actions={call_id: sent}
    )
    assert (ended.action, ended.actor, ended.lane, ended.reason) == (
        AuditAction.CALL_ENDED,
        "alice",
        "L1",
        "no_entry_record",
    )
    assert ended.detail["handle_s"] == 60.0 and ended.detail["ending"] == "agent"
    assert ended.detail["actions"] == [
        {"command_id": "k1", "kind": "open_gate", "agent": "alice", "outcome": "done"}
    ]


def test_a_call_requeued_after_the_grace_names_the_holder_it_left() -> None:
    """The queue forgets the holder of a requeued call; the entry does not."""
    queue = desk()
    call_id = answered(queue)
    queue.agent_disconnected("alice", T0 + 1)
    effects = queue.tick(T0 + 1 + queue.settings.reconnect_s)
    [requeued] = entries(effects, "centre", {call_id: "alice"})
    assert (requeued.action, requeued.actor) == (AuditAction.CALL_REQUEUED, "centre")
    assert requeued.detail["agent"] == "alice"


def test_commands_the_holder_sends_to_the_calls_lane_are_kept_with_their_outcomes() -> None:
    """Other agents' commands and other lanes' are not the call's."""
    commands = CallCommands()
    answered_now = [("c1", "L1", "alice")]
    assert commands.heard(entry(AuditAction.GATE_OPEN_REQUESTED, command_id="k1"), answered_now)
    assert not commands.heard(
        entry(AuditAction.GATE_OPEN_REQUESTED, actor="bob", command_id="k2"), answered_now
    )
    assert not commands.heard(
        entry(AuditAction.DISPLAY_REQUESTED, lane="L2", command_id="k3"), answered_now
    )
    assert not commands.heard(entry(AuditAction.CALL_ACCEPTED), answered_now)
    outcome = entry(AuditAction.GATE_OPEN_OUTCOME, command_id="k1", outcome="done")
    assert commands.heard(outcome, answered_now)
    assert commands.of("c1") == (ActionTaken("k1", ActionKind.OPEN_GATE, "alice", "done"),)
    assert CallCommands.from_json(commands.to_json()).of("c1") == commands.of("c1")
    commands.forget(["c1"])
    assert commands.of("c1") == () and commands.to_json() == {}


def test_a_command_heard_twice_is_kept_once() -> None:
    """A server that reads the state again hears its unsaved commands again."""
    commands = CallCommands()
    answered_now = [("c1", "L1", "alice")]
    sent = entry(AuditAction.GATE_OPEN_REQUESTED, command_id="k1")
    assert commands.heard(sent, answered_now)
    assert not commands.heard(sent, answered_now)
    assert [action.command_id for action in commands.of("c1")] == ["k1"]
