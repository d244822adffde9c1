"""What a lane remembers of the commands it was sent, so it never runs one twice.

The centre resends an open command under the same id after a reconnect; the lane answers
a repeat from this memory instead of lifting the barrier again. ``CommandMemory`` lives
as long as the lane agent's process; ``CommandJournal`` also survives a restart of it
(power cut, crash, upgrade), by writing each change to a file before acting on it.
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INTERRUPTED = "interrupted: the lane agent restarted while carrying it out"

log = logging.getLogger("seat.lane")

# The start of a record as ``_line`` writes it, up to the end of its id.
_TORN_ID = re.compile(rb'\{"id": "([A-Za-z0-9][A-Za-z0-9_.:-]{0,63})"')


class JournalCorrupt(Exception):
    """A record before the journal's last cannot be read. Unlike a torn last record
    (a write cut by a power cut), that is damage the lane cannot reason about: which
    commands it already ran is unknown, so it must not start on a guess."""


@dataclass(frozen=True, slots=True)
class Memo:
    """A command still running, or how it ended (``refused`` is None when done, and
    ``detail`` then says what the device could not confirm)."""

    running: bool
    refused: str | None = None
    detail: str = ""


RUNNING = Memo(running=True)


class CommandMemory:
    """The last ``size`` command ids. Bounded, because the centre resends only while a
    command is open, and it gives up on one after seconds, not thousands of commands."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._memos: OrderedDict[str, Memo] = OrderedDict()

    def get(self, command_id: str) -> Memo | None:
        return self._memos.get(command_id)

    def started(self, command_id: str) -> None:
        self._remember(command_id, RUNNING)

    def ended(self, command_id: str, refused: str | None, detail: str = "") -> None:
        self._remember(command_id, Memo(running=False, refused=refused, detail=detail))

    def _remember(self, command_id: str, memo: Memo) -> None:
        self._memos[command_id] = memo
        self._memos.move_to_end(command_id)
        while len(self._memos) > self.size:
            self._memos.popitem(last=False)


class CommandJournal(CommandMemory):
    """A ``CommandMemory`` kept in an append-only file of JSON lines, fsynced before the
    lane acts on a command. A command found still running when the journal is loaded
    was cut off mid-way: it is remembered as refused (``INTERRUPTED``) rather than run
    again, and the agent at the console sees why."""

    def __init__(self, path: Path, size: int = 4096) -> None:
        super().__init__(size)
        self.path = path
        self._lines = 0
        if path.exists():
            for command_id, memo in _load(path):
                super()._remember(command_id, memo)
        path.parent.mkdir(parents=True, exist_ok=True)
        self._rewrite()  # compact, and record the interruptions found on loading

    def _remember(self, command_id: str, memo: Memo) -> None:
        super()._remember(command_id, memo)
        if self._lines >= 2 * self.size:
            self._rewrite()
            return
        with self.path.open("a", encoding="utf-8") as journal:
            journal.write(_line(command_id, memo))
            journal.flush()
            os.fsync(journal.fileno())
        self._lines += 1

    def _rewrite(self) -> None:
        """Replace the file with one line per remembered id, atomically."""
        fresh = self.path.with_suffix(self.path.suffix + ".new")
        with fresh.open("w", encoding="utf-8") as journal:
            journal.writelines(_line(cid, memo) for cid, memo in self._memos.items())
            journal.flush()
            os.fsync(journal.fileno())
        fresh.replace(self.path)
        directory = os.open(self.path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)  # the rename itself must survive a power cut
        finally:
            os.close(directory)
        self._lines = len(self._memos)


def _load(path: Path) -> list[tuple[str, Memo]]:
    """The journal's records, oldest first, each command still running read as
    interrupted. Blank lines are skipped. A last record that does not parse is a write
    cut short: the record was written before the lane acted, so its command may have
    begun, and it too is read as interrupted (a resend is refused, not run twice); if
    even its id was cut, nothing of it can be kept. Any other bad record raises
    ``JournalCorrupt``, naming the file and line."""
    lines = [
        (number, line)
        for number, line in enumerate(path.read_bytes().split(b"\n"), start=1)
        if line.strip()
    ]
    records = []
    for index, (number, line) in enumerate(lines):
        try:
            records.append(_record(line))
        except ValueError as exc:
            if index < len(lines) - 1:
                raise JournalCorrupt(
                    f"the command journal {path} line {number} is damaged ({exc}), and "
                    "it is not the last record, so which commands this lane already "
                    "ran is unknown. Move the file aside to start with an empty memory; "
                    "a command the centre sends again may then run twice"
                ) from None
            torn = _TORN_ID.match(line)
            command_id = torn.group(1).decode("ascii") if torn else None
            log.warning("lane.journal.torn path=%s line=%d command_id=%s", path, number, command_id)
            if command_id is not None:
                records.append((command_id, Memo(running=False, refused=INTERRUPTED)))
    return records


def _record(line: bytes) -> tuple[str, Memo]:
    """One complete record; ``ValueError`` saying what is wrong with it otherwise."""
    try:
        record: Any = json.loads(line.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError("not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON, from character {exc.pos + 1}") from None
    if not (
        isinstance(record, dict)
        and isinstance(record.get("id"), str)
        and isinstance(record.get("running"), bool)
        and (record.get("refused") is None or isinstance(record["refused"], str))
        and isinstance(record.get("detail", ""), str)
    ):
        raise ValueError("not a record of id, running and refused")
    if record["running"]:
        return record["id"], Memo(running=False, refused=INTERRUPTED)
    return record["id"], Memo(
        running=False, refused=record["refused"], detail=record.get("detail", "")
    )


def _line(command_id: str, memo: Memo) -> str:
    record: dict[str, object] = {"id": command_id, "running": memo.running}
    record["refused"] = memo.refused
    if memo.detail:  # journals written before details existed have none
        record["detail"] = memo.detail
    return json.dumps(record, ensure_ascii=False) + "\n"
