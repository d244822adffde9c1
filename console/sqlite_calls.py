"""The store's part that keeps the call queue's state and the finished
calls' records, written with their ledger entries in one transaction, so a restart
finds the queue, the records and the ledger agreeing."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .calls.record import CallRecord, KeptCall, SavedState
from .errors import Conflict, NotFound, StateMoved
from .ledger import AuditEntry, AuditRecord, format_utc
from .sql import INTEGRITY_ERRORS, Connection
from .sqlite_base import StoreBase, utc_now
from .sqlite_rows import call_record_of, call_record_row
from .sqlite_schema import CALL_RECORD_COLUMNS


class CallsPart(StoreBase):
    """The call queue's saved state and the records of finished calls."""

    async def load_call_state(self) -> SavedState | None:
        """The call queue's state as last saved, with its version; None before the
        first save."""
        rows = await self._read("SELECT state, version FROM call_state WHERE id = 1")
        return SavedState(str(rows[0][0]), int(rows[0][1])) if rows else None

    async def save_call_state(
        self,
        state: str,
        version: int,
        records: Sequence[CallRecord],
        kept: Sequence[KeptCall],
        audit: Sequence[AuditRecord],
    ) -> list[AuditEntry]:
        """One transaction: the ledger's ``audit`` entries, the finished calls'
        ``records``, the ``kept`` finished calls beside their records (written now or
        before) and the queue's ``state`` after them as version ``version + 1``, or
        nothing at all. Returns the sealed entries. ``version`` is the version the step
        started from (0 before the first save): if the saved state is another, another
        server saved a step since, and it is a ``StateMoved``. A record already written
        (the same call) is a ``Conflict``; a kept call without one is a ``NotFound``."""
        rows = [call_record_row(record) for record in records]
        saved = format_utc(utc_now())

        def write(conn: Connection) -> None:
            found = conn.execute("SELECT version FROM call_state WHERE id = 1").fetchone()
            current = 0 if found is None else int(found[0])
            if current != version:
                raise StateMoved(
                    "state_moved", f"the call state is at version {current}, not {version}"
                )
            for row in rows:
                try:
                    conn.execute(
                        f"INSERT INTO call_records ({CALL_RECORD_COLUMNS})"
                        f" VALUES ({', '.join('?' * len(row))})",
                        row,
                    )
                except INTEGRITY_ERRORS:
                    raise Conflict("call_recorded", f"call {row[0]} has a record") from None
            for call in kept:
                cursor = conn.execute(
                    "UPDATE call_records SET queue_call = ? WHERE id = ?", (call.text, call.call_id)
                )
                if cursor.rowcount != 1:
                    raise NotFound("unknown_call", f"call {call.call_id} has no record")
            conn.execute(
                "INSERT INTO call_state (id, state, saved_at, version) VALUES (1, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET state = excluded.state,"
                " saved_at = excluded.saved_at, version = excluded.version",
                (state, saved, version + 1),
            )

        return await self._write_together(audit, write)

    async def kept_calls(self, since: datetime) -> list[str]:
        """The finished calls kept beside records of calls that ended at ``since`` or
        after, as ``save_call_state`` was given them, in the order they ended."""
        rows = await self._read(
            "SELECT queue_call FROM call_records"
            " WHERE ended_at >= ? AND queue_call IS NOT NULL ORDER BY ended_at, id",
            (format_utc(since),),
        )
        return [str(row[0]) for row in rows]

    async def call_records(self, since: datetime, until: datetime) -> list[CallRecord]:
        """Calls that finished at ``since`` or after and before ``until``, in that order."""
        rows = await self._read(
            f"SELECT {CALL_RECORD_COLUMNS} FROM call_records"
            " WHERE ended_at >= ? AND ended_at < ? ORDER BY ended_at, id",
            (format_utc(since), format_utc(until)),
        )
        return [call_record_of(row) for row in rows]
