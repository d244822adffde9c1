"""The change feed: what one process changed that others must hear of (a user, a
session, a lane), written in the transaction that makes the change and read by every
running centre (``console.changes``)."""

from __future__ import annotations

from .models import Change, ChangeKind, ChangesLost
from .sql import Connection
from .sqlite_base import StoreBase


def changed(conn: Connection, kind: ChangeKind, subject: str, kept: int) -> None:
    """Record a change other processes must hear of, in the transaction that makes it,
    and forget all but the last ``kept``, which no running centre still needs."""
    seq = conn.execute(
        "INSERT INTO changes (kind, subject) VALUES (?, ?) RETURNING seq", (str(kind), subject)
    ).fetchone()[0]
    conn.execute("DELETE FROM changes WHERE seq <= ?", (seq - kept,))


class ChangesPart(StoreBase):
    """The store's part that reads the change feed."""

    async def change_head(self) -> int:
        rows = await self._read("SELECT coalesce(max(seq), 0) FROM changes")
        return int(rows[0][0])

    async def changes_since(self, seq: int) -> list[Change]:
        """Changes after ``seq``, oldest first. The table keeps the last
        ``changes_kept`` given at open; a reader that fell further behind gets
        ``ChangesLost``."""
        rows = await self._read(
            "SELECT seq, kind, subject FROM changes WHERE seq > ? ORDER BY seq", (seq,)
        )
        if rows and rows[0][0] != seq + 1 and seq > 0:
            oldest = await self._read("SELECT min(seq) FROM changes")
            if oldest[0][0] > seq + 1:
                raise ChangesLost(seq, oldest[0][0])
        return [Change(row[0], ChangeKind(row[1]), row[2]) for row in rows]
