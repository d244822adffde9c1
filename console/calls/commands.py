"""The commands sent during calls: each gate open or display that the holder of an
answered call sends to the call's lane, read from the ledger as it is written, and kept
with the call until it finishes, when its record lists them.

Pure: the service hands it each ledger entry with the calls answered at that moment,
and saves what it holds with the queue's state, so a restart keeps it too. An outcome
the ledger records after the call finished is not added to its record (the ledger has
it, under the same ``command_id``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any

from console.audit import OUTCOME_OF
from console.ledger import AuditAction, AuditEntry

from .record import ActionKind, ActionTaken

_REQUESTS = {
    AuditAction.GATE_OPEN_REQUESTED: ActionKind.OPEN_GATE,
    AuditAction.DISPLAY_REQUESTED: ActionKind.DISPLAY,
}
_OUTCOMES = frozenset(OUTCOME_OF.values())

Taken = dict[str, tuple[ActionTaken, ...]]


class CallCommands:
    def __init__(self, taken: Taken | None = None) -> None:
        self._taken: Taken = dict(taken or {})

    def of(self, call_id: str) -> tuple[ActionTaken, ...]:
        return self._taken.get(call_id, ())

    def heard(self, entry: AuditEntry, answered: Iterable[tuple[str, str, str]]) -> bool:
        """Take in a ledger entry; ``answered`` holds (call, lane, holder) of every call
        answered now. True if it was a command of one of them, or such a command's
        outcome."""
        command_id = entry.command_id
        if command_id is None:
            return False
        kind = _REQUESTS.get(entry.action)
        if kind is not None:
            for call_id, lane, holder in answered:
                if any(action.command_id == command_id for action in self.of(call_id)):
                    return False  # heard already (read again after a reload)
                if (lane, holder) == (entry.lane, entry.actor):
                    sent = ActionTaken(command_id, kind, entry.actor, reason=entry.reason)
                    self._taken[call_id] = (*self.of(call_id), sent)
                    return True
            return False
        if entry.action not in _OUTCOMES or entry.outcome is None:
            return False
        for call_id, taken in self._taken.items():
            if any(action.command_id == command_id for action in taken):
                self._taken[call_id] = tuple(
                    action.ended(entry.outcome) if action.command_id == command_id else action
                    for action in taken
                )
                return True
        return False

    def forget(self, finished: Collection[str]) -> None:
        """The calls ``finished`` have their records: their commands are no longer kept."""
        for call_id in finished:
            self._taken.pop(call_id, None)

    def to_json(self, without: Collection[str] = ()) -> dict[str, Any]:
        return {
            call_id: [action.to_json() for action in taken]
            for call_id, taken in self._taken.items()
            if call_id not in without
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CallCommands:
        return cls(
            {
                call_id: tuple(ActionTaken.from_json(action) for action in taken)
                for call_id, taken in data.items()
            }
        )
