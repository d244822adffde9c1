"""The one way into the audit ledger: write durably, then tell live viewers."""

from __future__ import annotations

import logging
from collections.abc import Callable

from .ledger import AuditEntry, AuditRecord
from .store import Store

log = logging.getLogger("seat.audit")

AuditListener = Callable[[AuditEntry], None]


class AuditLog:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._listeners: set[AuditListener] = set()

    async def record(self, record: AuditRecord) -> AuditEntry:
        """Append ``record``; returns once it is on disk. Raises if it is not, and then
        the caller must not act: no audit, no action."""
        entry = await self.store.append(record)
        log.info("audit.appended seq=%d action=%s actor=%s", entry.seq, entry.action, entry.actor)
        for listener in list(self._listeners):
            listener(entry)
        return entry

    def subscribe(self, listener: AuditListener) -> Callable[[], None]:
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)
