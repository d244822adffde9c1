"""``SQLiteStore``: the ``Store`` in one SQLite file, with one writer thread (see
``sqlite_writer.py``) and one reader thread, so no query ever runs on the event loop.

The class is composed of parts, one per area it keeps, each in a module of its own
beside this one (see ``sqlite_base.py``); this module opens and closes the store."""

from __future__ import annotations

import asyncio
import functools
import os
import sqlite3
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from .errors import StoreError
from .sqlite_accounts import AccountsPart
from .sqlite_audit import AuditPart
from .sqlite_base import FileIdentity, file_identity, utc_now
from .sqlite_billing import BillingPart
from .sqlite_calls import CallsPart
from .sqlite_changes import ChangesPart
from .sqlite_lanes import LanesPart
from .sqlite_orders import OrdersPart
from .sqlite_parking import ParkingPart
from .sqlite_schema import open_connection, open_writer
from .sqlite_writer import Writer

# A centre reads the change feed every second; ten thousand changes is hours of the
# busiest administration, so a centre that misses them was stopped, not slow.
CHANGES_KEPT = 10_000


class SQLiteStore(
    AccountsPart,
    LanesPart,
    ChangesPart,
    AuditPart,
    CallsPart,
    ParkingPart,
    BillingPart,
    OrdersPart,
):
    """The embedded store: one file, one writer thread, one reader thread.

    A query takes tens of microseconds on a warm cache and milliseconds on a cold disk;
    on the event loop that is time every lane and every viewer waits. Reads therefore
    run on a thread of their own, on its own connection (WAL lets it read beside the
    writer); the centre keeps what it reads on every request in ``console.directory``."""

    @classmethod
    async def open(
        cls,
        path: Path,
        *,
        clock: Callable[[], datetime] = utc_now,
        changes_kept: int = CHANGES_KEPT,
    ) -> SQLiteStore:
        """Creates or upgrades the schema. ``clock`` stamps audit entries; it is called
        on the writer thread, in commit order. ``changes_kept``: how much of the change
        feed stays (see ``changes_since``)."""
        try:
            write_conn = await asyncio.to_thread(open_writer, path)
        except (sqlite3.Error, OSError) as exc:
            raise StoreError("open_failed", f"{path}: {exc}") from exc
        # The reader connection lives on the one thread that uses it.
        reads = ThreadPoolExecutor(1, thread_name_prefix="seat-store-reader")
        loop = asyncio.get_running_loop()
        try:
            reader, identity = await loop.run_in_executor(reads, _open_reader, path)
        except (sqlite3.Error, OSError) as exc:
            write_conn.close()
            reads.shutdown()
            raise StoreError("open_failed", f"{path}: {exc}") from exc
        writer = Writer(write_conn, clock)
        writer.start()
        return cls(path, writer, reader, reads, changes_kept, identity)

    async def ping(self) -> None:
        """Reads the ledger's head on the reader thread, as any read would, then checks
        that the file at the store's path is still the one it has open: SQLite goes on
        reading and writing an open file whatever became of its name, so a database
        deleted or replaced under a running centre would answer every read while its
        entries went where no centre will ever read them."""
        await self._on_reader(functools.partial(_ping, self.path, self._identity))

    async def close(self) -> None:
        """Waits for every write already submitted, then stops the writer."""
        if self._closed:
            return
        self._closed = True
        self._writer.stop()
        await asyncio.to_thread(self._writer.join)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(self._reads, self._reader.close)
        self._reads.shutdown()


def _open_reader(path: Path) -> tuple[sqlite3.Connection, FileIdentity]:
    conn = open_connection(path, writer=False)
    try:
        return conn, file_identity(os.stat(path))
    except OSError:
        conn.close()
        raise


def _ping(path: Path, identity: FileIdentity, conn: sqlite3.Connection) -> None:
    conn.execute("SELECT seq FROM audit ORDER BY seq DESC LIMIT 1").fetchall()
    try:
        found = file_identity(os.stat(path))
    except FileNotFoundError:
        raise StoreError("store_gone", f"{path} was deleted under the running centre") from None
    except OSError as exc:
        raise StoreError("read_failed", f"{path}: {exc}") from exc
    if found != identity:
        raise StoreError("store_replaced", f"{path} is no longer the file the centre opened")
