"""The store's part that appends to the audit ledger and reads it back. The
hash chain itself is sealed on the writer thread (``sqlite_writer.py``), in commit
order; this part hands it records and pages through what it kept."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Sequence

from .ledger import AuditAction, AuditEntry, AuditRecord
from .sql import Connection
from .sqlite_base import StoreBase
from .sqlite_rows import entry_of
from .sqlite_schema import AUDIT_COLUMNS

_ITER_BATCH = 256


class AuditPart(StoreBase):
    """The ledger: entries appended durably, pages newest first, all of it oldest first."""

    async def append(self, record: AuditRecord) -> AuditEntry:
        """Returns once the entry is committed and fsynced. If the caller is cancelled
        after submitting, the entry is still written: the ledger then shows an action
        requested with no outcome, which is the truth."""
        entry = await self._submit(record)
        assert isinstance(entry, AuditEntry)
        return entry

    async def append_all(self, records: Sequence[AuditRecord]) -> list[AuditEntry]:
        """``append`` for entries that stand or fall together (an order and the
        cancellations and override it brings): all of them are kept, or none."""
        return await self._write_together(records, lambda conn: None)

    async def close_requests(
        self, closes: Sequence[AuditRecord], *, after: int, server: str | None = None
    ) -> list[AuditEntry]:
        """Appends each of ``closes`` (an outcome, which closes its request by command
        id) whose request no outcome since seq ``after`` has closed, checked and
        appended in one transaction: two servers closing the same request at once
        close it once. With ``server`` (a server's name, ``SEAT_SERVER_NAME``), nothing
        is closed if a start of that server was recorded since ``after``: that start
        closed them, and the requests since are its new run's."""
        if not closes:
            return []
        ids = [record.command_id for record in closes]
        # What closes a request is an entry of the kind each of ``closes`` is.
        kinds = sorted({record.action.value for record in closes})

        def still_open(conn: Connection) -> list[AuditRecord]:
            if server is not None:
                starts = conn.execute(
                    "SELECT detail FROM audit WHERE seq > ? AND action = ?",
                    (after, AuditAction.CENTRE_STARTED.value),
                ).fetchall()
                # The detail key naming the server that wrote a start (``audit.SERVER``).
                if any(json.loads(detail).get("server") == server for (detail,) in starts):
                    return []
            closed = {
                command_id
                for (command_id,) in conn.execute(
                    f"SELECT command_id FROM audit WHERE seq > ? AND action IN ({_marks(kinds)})"
                    f" AND command_id IN ({_marks(ids)})",
                    (after, *kinds, *ids),
                ).fetchall()
            }
            return [record for record in closes if record.command_id not in closed]

        _, entries = await self._write_then(still_open, lambda kept: kept)
        return entries

    async def audit_page(self, limit: int, before_seq: int | None = None) -> list[AuditEntry]:
        """Newest first; pass the last ``seq`` of a page as ``before_seq`` for the next."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        if before_seq is None:
            rows = await self._read(
                f"SELECT {AUDIT_COLUMNS} FROM audit ORDER BY seq DESC LIMIT ?", (limit,)
            )
        else:
            rows = await self._read(
                f"SELECT {AUDIT_COLUMNS} FROM audit WHERE seq < ? ORDER BY seq DESC LIMIT ?",
                (before_seq, limit),
            )
        return [entry_of(row) for row in rows]

    async def iter_audit(self) -> AsyncIterator[AuditEntry]:
        """Every entry committed when iteration starts, oldest first, read in batches
        with the event loop free to run other tasks between them."""
        last = await self.audit_count()
        after = 0
        while after < last:
            rows = await self._read(
                f"SELECT {AUDIT_COLUMNS} FROM audit WHERE seq > ? AND seq <= ?"
                " ORDER BY seq LIMIT ?",
                (after, last, _ITER_BATCH),
            )
            if not rows:
                return
            for row in rows:
                yield entry_of(row)
            after = rows[-1][0]
            await asyncio.sleep(0)

    async def audit_count(self) -> int:
        """The head's seq. The schema only lets entries be added at the head, so this is
        the number of entries; a deleted row (triggers dropped) is for ``verify_audit``
        to find. Unlike ``count(*)`` it does not scan the table."""
        rows = await self._read("SELECT coalesce(max(seq), 0) FROM audit")
        return int(rows[0][0])


def _marks(values: Sequence[object]) -> str:
    return ", ".join("?" for _ in values)
