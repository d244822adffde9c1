"""The lane's memory of commands, in memory and in a journal that survives a restart."""

from __future__ import annotations

from pathlib import Path

from gates.lane_session import LaneSession
from gates.memory import INTERRUPTED, CommandJournal, Memo
from gates.protocol import Ack, Done, Refused

WELCOME = '{"type":"welcome","v":1,"lane":"P1-OUT","heartbeat_ms":2000}'


def open_gate(command_id: str) -> str:
    return f'{{"type":"open_gate","command_id":"{command_id}"}}'


def test_journal_remembers_ends_across_a_restart(tmp_path: Path) -> None:
    """Done and refused commands read back exactly from the file."""
    journal = CommandJournal(tmp_path / "commands.jsonl")
    journal.started("c-done")
    journal.ended("c-done", None)
    journal.started("c-refused")
    journal.ended("c-refused", "gate_motor_fault")
    reloaded = CommandJournal(tmp_path / "commands.jsonl")
    assert reloaded.get("c-done") == Memo(running=False)
    assert reloaded.get("c-refused") == Memo(running=False, refused="gate_motor_fault")


def test_command_cut_off_by_a_restart_is_refused_not_run_again(tmp_path: Path) -> None:
    """A lift that was under way when the agent died is answered as interrupted."""
    path = tmp_path / "commands.jsonl"
    CommandJournal(path).started("c-1")
    session = LaneSession("P1-OUT", "t", memory=CommandJournal(path))
    session.connected(0.0)
    session.receive(WELCOME, 0.0)
    assert session.receive(open_gate("c-1"), 1.0) == [Ack("c-1"), Refused("c-1", INTERRUPTED)]


def test_finished_command_resent_after_a_restart_is_answered_done(tmp_path: Path) -> None:
    """The lane that lifted, then restarted before reporting, does not lift again."""
    path = tmp_path / "commands.jsonl"
    first = LaneSession("P1-OUT", "t", memory=CommandJournal(path))
    first.connected(0.0)
    first.receive(WELCOME, 0.0)
    first.receive(open_gate("c-1"), 0.5)
    first.disconnected()
    first.finished("c-1", None, 1.0)
    second = LaneSession("P1-OUT", "t", memory=CommandJournal(path))
    second.connected(2.0)
    second.receive(WELCOME, 2.0)
    assert second.receive(open_gate("c-1"), 2.5) == [Ack("c-1"), Done("c-1")]


def test_journal_file_is_compacted(tmp_path: Path) -> None:
    """The file stays near the memory's size instead of growing with every command."""
    path = tmp_path / "commands.jsonl"
    journal = CommandJournal(path, size=3)
    for n in range(20):
        journal.started(f"c-{n}")
        journal.ended(f"c-{n}", None)
    assert len(path.read_text().splitlines()) <= 2 * 3
    assert CommandJournal(path, size=3).get("c-19") == Memo(running=False)
    assert CommandJournal(path, size=3).get("c-0") is None
