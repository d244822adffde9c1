"""What a lane remembers of the commands it was sent, so it never runs one twice.

The centre resends an open command under the same id after a reconnect; the lane answers
a repeat from this memory instead of lifting the barrier again. ``CommandMemory`` lives
as long as the lane agent's process; ``CommandJournal`` also survives a restart of it
(power cut, crash, upgrade), by writing each change to a file before acting on it.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

INTERRUPTED = "interrupted: the lane agent restarted while carrying it out"


@dataclass(frozen=True, slots=True)
class Memo:
    """A command still running, or how it ended (``refused`` is None when done)."""

    running: bool
    refused: str | None = None


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

    def ended(self, command_id: str, refused: str | None) -> None:
        self._remember(command_id, Memo(running=False, refused=refused))

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
            for line in path.read_text("utf-8").splitlines():
                record = json.loads(line)
                memo = Memo(running=False, refused=INTERRUPTED)
                if not record["running"]:
                    memo = Memo(running=False, refused=record["refused"])
                super()._remember(record["id"], memo)
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


def _line(command_id: str, memo: Memo) -> str:
    record = {"id": command_id, "running": memo.running, "refused": memo.refused}
    return json.dumps(record, ensure_ascii=False) + "\n"
