"""The store's part that keeps the lanes and their help stickers' key and
serials. A change to a lane goes on the change feed (``sqlite_changes.py``) in the same
transaction, so every running centre reads the lane again."""

from __future__ import annotations

from .errors import NotFound
from .models import ChangeKind, Direction, LaneRecord
from .sql import Connection
from .sqlite_base import StoreBase
from .sqlite_changes import changed
from .sqlite_rows import lane_of
from .sqlite_schema import LANE_COLUMNS


class LanesPart(StoreBase):
    """The lanes each centre links to, and what revokes a lane's printed stickers."""

    async def put_lane(self, lane: LaneRecord) -> None:
        """Adds the lane or replaces its name, car park, direction and token hash."""
        params = (
            lane.id,
            lane.name,
            lane.car_park,
            str(Direction(lane.direction)),
            lane.token_hash,
        )

        def upsert(conn: Connection) -> None:
            conn.execute(
                f"INSERT INTO lanes ({LANE_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (id) DO UPDATE SET name = excluded.name,"
                " car_park = excluded.car_park, direction = excluded.direction,"
                " token_hash = excluded.token_hash",
                params,
            )
            changed(conn, ChangeKind.LANE, lane.id, self._changes_kept)

        await self._write(upsert)

    async def get_lane(self, lane_id: str) -> LaneRecord | None:
        rows = await self._read(f"SELECT {LANE_COLUMNS} FROM lanes WHERE id = ?", (lane_id,))
        return lane_of(rows[0]) if rows else None

    async def list_lanes(self) -> list[LaneRecord]:
        rows = await self._read(f"SELECT {LANE_COLUMNS} FROM lanes ORDER BY car_park, id")
        return [lane_of(row) for row in rows]

    # -------------------------------------------------------------- help stickers

    async def get_sticker_key(self) -> bytes | None:
        rows = await self._read("SELECT key FROM sticker_key")
        return bytes(rows[0][0]) if rows else None

    async def add_sticker_key(self, key: bytes) -> bytes:
        """Stores ``key`` unless a key is stored already, and returns the stored one:
        two processes that race to make the first key both end with the winner's."""

        def insert(conn: Connection) -> bytes:
            conn.execute(
                "INSERT INTO sticker_key (one, key) VALUES (1, ?) ON CONFLICT (one) DO NOTHING",
                (key,),
            )
            return bytes(conn.execute("SELECT key FROM sticker_key").fetchone()[0])

        return await self._write(insert)

    async def sticker_serial(self, lane_id: str) -> int | None:
        """The lane's current sticker serial (1 until first revoked); None for no lane."""
        rows = await self._read("SELECT sticker_serial FROM lanes WHERE id = ?", (lane_id,))
        return int(rows[0][0]) if rows else None

    async def bump_sticker_serial(self, lane_id: str) -> int:
        """Revokes every sticker printed for the lane so far; returns the new serial.
        Recorded as a change to the lane, so running centres read it again. Raises
        ``NotFound`` for an unknown lane."""

        def bump(conn: Connection) -> int:
            row = conn.execute(
                "UPDATE lanes SET sticker_serial = sticker_serial + 1 WHERE id = ?"
                " RETURNING sticker_serial",
                (lane_id,),
            ).fetchone()
            if row is None:
                raise NotFound("unknown_lane", f"no lane {lane_id!r}")
            changed(conn, ChangeKind.LANE, lane_id, self._changes_kept)
            return int(row[0])

        return await self._write(bump)
