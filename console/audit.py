"""The one way into the audit ledger: write durably, then tell live viewers."""

from __future__ import annotations

import getpass
import logging
import os
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from gates.centre.commands import Outcome

from .anchoring import Anchoring
from .errors import StoreError
from .ledger import AuditAction, AuditEntry, AuditRecord
from .ledger_check import StartCheck
from .store import Store

log = logging.getLogger("seat.audit")

AuditListener = Callable[[AuditEntry], None]

# Each request action and the action that records its outcome.
OUTCOME_OF = {
    AuditAction.GATE_OPEN_REQUESTED: AuditAction.GATE_OPEN_OUTCOME,
    AuditAction.DISPLAY_REQUESTED: AuditAction.DISPLAY_OUTCOME,
}
_PAGE = 500
# The detail key naming the server that wrote a request or a start.
SERVER = "server"


T = TypeVar("T")


async def written(write: Awaitable[T]) -> T:
    """A change written with its ledger entry in one transaction (the entry first). No
    audit, no action: the database failing them is ``audit_failed``, and nothing was
    changed."""
    try:
        return await write
    except StoreError as exc:
        raise StoreError(
            "audit_failed", f"not done: the ledger could not record it ({exc.detail})"
        ) from exc


class AuditLog:
    """``server``: this server's name among the centre's (``SEAT_SERVER_NAME``). Each
    command request carries it, so that a server, at its start, closes the requests
    that it, and not another server still waiting on its own, left without an outcome."""

    def __init__(
        self, store: Store, anchoring: Anchoring | None = None, server: str = "centre"
    ) -> None:
        self.store = store
        self.anchoring = anchoring
        self.server = server
        # The seq of this server's start in the ledger, once ``start`` recorded it.
        self.started: int | None = None
        self._listeners: set[AuditListener] = set()

    async def record(self, record: AuditRecord) -> AuditEntry:
        """Append ``record``; returns once it is on disk. Raises if it is not, and then
        the caller must not act: no audit, no action."""
        if record.action in OUTCOME_OF:
            record = replace(record, detail={**record.detail, SERVER: self.server})
        entry = await self.store.append(record)
        self.announce([entry])
        return entry

    async def record_all(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        """``record`` for entries kept together or not at all."""
        entries = await self.store.append_all(records)
        self.announce(entries)
        return entries

    def announce(self, entries: list[AuditEntry]) -> None:
        """Tell live viewers of entries already on disk: ``record``'s, or those a store
        wrote together with the rows they describe (a call's step and the queue's state)."""
        for entry in entries:
            log.info(
                "audit.appended seq=%d action=%s actor=%s", entry.seq, entry.action, entry.actor
            )
            for listener in list(self._listeners):
                listener(entry)

    def subscribe(self, listener: AuditListener) -> Callable[[], None]:
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    async def start(self, check: StartCheck | None = None) -> list[AuditEntry]:
        """Mark this server's start in the ledger, first closing every command its last
        run requested but never recorded an outcome for (it stopped or crashed while
        waiting). Those end as ``timeout``: the server never learned the lane's answer.
        Only entries since its previous start are read, so this stays cheap. Requests
        and starts of other servers are passed over: theirs to close. An entry that names
        no server was written before servers were named, by the only one there was.

        ``check``: the ledger's check before the start; if it failed and the operator
        chose to start anyway, that is recorded before anything else. Then checkpoints
        start being signed."""
        if check is not None and check.fault is not None:
            await self._record_accepted(check)
        anchor_key = None
        if self.anchoring is not None:
            anchor_key = await self.anchoring.start()
            self.subscribe(self.anchoring.note)
        requested, since = await self._open_requests(self.server)
        closed = await self._close(requested, since)
        detail: dict[str, object] = {
            SERVER: self.server,
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "closed": len(closed),
        }
        if anchor_key is not None:
            detail["anchor_key"] = anchor_key
        started = await self.record(
            AuditRecord(actor="centre", action=AuditAction.CENTRE_STARTED, detail=detail)
        )
        self.started = started.seq
        if self.anchoring is not None:
            await self.anchoring.run()
        return closed

    async def close_stranded(self, server: str, started: int | None, upto: int) -> list[AuditEntry]:
        """Close as ``timeout`` the commands that ``server``'s run which started at seq
        ``started`` requested up to seq ``upto`` and left without an outcome: the run is
        gone (``console.cluster.servers``) and may never start again to close them.
        Closed as its own next start would close them, each once: if it (or another
        server) closed one meanwhile, or it started again since (and so closed them),
        nothing more is written (``Store.close_requests`` checks in the transaction
        that writes). Returns the outcomes written."""
        requested, since = await self._open_requests(server, before=upto + 1)
        if started is not None and since != started:
            return []  # started again since: that start closed them
        return await self._close(requested, since, server)

    async def _open_requests(
        self, server: str, before: int | None = None
    ) -> tuple[dict[str, AuditEntry], int]:
        """The requests ``server`` recorded since its latest start before seq
        ``before`` (None: the head) with no outcome yet, by command id, and the seq of
        that start (0: none). Only entries since that start are read, so this stays
        cheap."""
        requested: dict[str, AuditEntry] = {}
        ended: set[str] = set()
        while True:
            page = await self.store.audit_page(_PAGE, before)
            for entry in page:  # newest first
                if not _written_by(entry, server):
                    continue
                if entry.action is AuditAction.CENTRE_STARTED:
                    return requested, entry.seq
                if entry.command_id is None:
                    continue
                if entry.action in OUTCOME_OF.values():
                    ended.add(entry.command_id)
                elif entry.action in OUTCOME_OF and entry.command_id not in ended:
                    requested[entry.command_id] = entry
            if len(page) < _PAGE:
                return requested, 0
            before = page[-1].seq

    async def _close(
        self, requested: dict[str, AuditEntry], since: int, server: str | None = None
    ) -> list[AuditEntry]:
        """The outcome ``timeout`` for each of ``requested``, the server that writes
        it named (``closed_by``); ``since``, ``server``: as ``Store.close_requests``."""
        closes = [
            AuditRecord(
                actor=entry.actor,
                action=OUTCOME_OF[entry.action],
                lane=entry.lane,
                command_id=entry.command_id,
                reason=entry.reason,
                outcome=Outcome.TIMEOUT.value,
                detail={
                    "detail": "the server stopped before the lane answered",
                    "closed_by": self.server,
                },
            )
            for entry in sorted(requested.values(), key=lambda e: e.seq)
        ]
        entries = await self.store.close_requests(closes, after=since, server=server)
        self.announce(entries)
        return entries

    async def close(self) -> None:
        """At shutdown, after the last entry: sign what no checkpoint covers yet."""
        if self.anchoring is not None:
            await self.anchoring.close()

    async def _record_accepted(self, accepted: StartCheck) -> None:
        assert accepted.fault is not None
        try:
            operator = getpass.getuser()
        except OSError:
            operator = "unknown"
        await self.record(
            AuditRecord(
                actor="centre",
                action=AuditAction.LEDGER_FAULT_ACCEPTED,
                detail={
                    "entries": accepted.report.end,
                    "bad_seq": accepted.fault.bad_seq,
                    "problem": accepted.fault.problem,
                    "started_by": operator,
                },
            )
        )


def _written_by(entry: AuditEntry, server: str) -> bool:
    """A start or a request of ``server``'s, or an outcome (outcomes name no server:
    they close a request by its command id, whoever wrote them). An entry that names
    no server was written before servers were named, by the only one there was."""
    if entry.action is not AuditAction.CENTRE_STARTED and entry.action not in OUTCOME_OF:
        return True
    return entry.detail.get(SERVER, server) == server
