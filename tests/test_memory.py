"""The lane's memory of commands, in memory and in a journal that survives a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gates.lane.memory import INTERRUPTED, CommandJournal, JournalCorrupt, Memo
from gates.lane.session import LaneSession
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
    journal.started("c-detail")
    journal.ended("c-detail", None, "accepted; no gate sensor")
    reloaded = CommandJournal(tmp_path / "commands.jsonl")
    assert reloaded.get("c-done") == Memo(running=False)
    assert reloaded.get("c-detail") == Memo(running=False, detail="accepted; no gate sensor")
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


def test_torn_last_record_is_dropped_and_its_command_refused_as_interrupted(
    tmp_path: Path,
) -> None:
    """A power cut mid-write leaves a torn last line: the lane starts, and the command
    it names is answered as interrupted rather than run (it may have begun)."""
    path = tmp_path / "commands.jsonl"
    journal = CommandJournal(path)
    journal.started("c-done")
    journal.ended("c-done", None)
    with path.open("a", encoding="utf-8") as torn:
        torn.write('{"id": "abc123", "runn')
    reloaded = CommandJournal(path)
    assert reloaded.get("c-done") == Memo(running=False)
    assert reloaded.get("abc123") == Memo(running=False, refused=INTERRUPTED)
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == [
        "c-done",
        "abc123",
    ]


def test_torn_last_record_cut_inside_a_character_is_dropped(tmp_path: Path) -> None:
    """A write cut in the middle of a multi-byte character is a torn record too."""
    path = tmp_path / "commands.jsonl"
    record = '{"id": "c-1", "running": false, "refused": "道闸故障"}'.encode()
    path.write_bytes(record[: record.index("闸".encode()) + 1])
    assert CommandJournal(path).get("c-1") == Memo(running=False, refused=INTERRUPTED)


def test_torn_record_whose_id_was_cut_is_dropped(tmp_path: Path) -> None:
    """Without a whole id there is nothing to remember; the complete records load."""
    path = tmp_path / "commands.jsonl"
    path.write_text('{"id": "c-1", "running": false, "refused": null}\n{"id": "c-2')
    reloaded = CommandJournal(path)
    assert reloaded.get("c-1") == Memo(running=False)
    assert reloaded.get("c-2") is None and reloaded.get("c-") is None


def test_blank_lines_in_the_journal_are_ignored(tmp_path: Path) -> None:
    """Empty lines (a cut after the newline, an editor) are harmless."""
    path = tmp_path / "commands.jsonl"
    path.write_text('\n{"id": "c-1", "running": false, "refused": "jam"}\n\n  \n')
    assert CommandJournal(path).get("c-1") == Memo(running=False, refused="jam")


@pytest.mark.parametrize(
    "middle",
    ['{"id": "c-2", "runn', '{"id": "c-2", "running": "yes", "refused": null}', "[1, 2]"],
)
def test_corrupt_record_before_the_last_refuses_to_load_naming_file_and_line(
    tmp_path: Path, middle: str
) -> None:
    """Damage in the middle is not a torn write: the journal is refused, untouched."""
    path = tmp_path / "commands.jsonl"
    text = (
        '{"id": "c-1", "running": false, "refused": null}\n'
        f"{middle}\n"
        '{"id": "c-3", "running": false, "refused": null}\n'
    )
    path.write_text(text)
    with pytest.raises(JournalCorrupt) as caught:
        CommandJournal(path)
    assert f"{path} line 2" in str(caught.value)
    assert path.read_text() == text
