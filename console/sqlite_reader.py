"""Reading a ledger file without changing it, for ``seat audit verify``, the check before
a start, and receipts.

Opening the store would change the evidence: it runs migrations, and closing the last
connection checkpoints the WAL into the database file and deletes the WAL, so frames
that SQLite ignored (after a damaged one) are gone for good. So the examiner reads one
consistent snapshot, read-only, and writes no file:

- a WAL with its ``-shm`` (a centre running, or one that stopped without closing):
  ``mode=ro&readonly_shm=1``. SQLite's locks give a consistent snapshot while a centre
  writes, and the ``-shm`` is opened read-only too (SQLite then rebuilds the WAL index
  in memory when no live writer keeps it);
- no WAL, or an empty one: everything is in the database file, which ``immutable=1``
  reads without creating a ``-wal`` or ``-shm`` (plain ``mode=ro`` would create both).
  Only a checkpoint by a writer that started meanwhile could change that file while it
  is read; its size and mtime are compared after, and a change is an error;
- a WAL without its ``-shm`` (files copied elsewhere): SQLite cannot read it without
  creating one, so both files are copied to a private temporary directory and the copy
  is read, again checking the originals did not change meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

from .errors import CorruptAuditEntry, StoreError
from .ledger import StoredEntry
from .sqlite_schema import AUDIT_COLUMNS, SCHEMA_VERSION

_Stamp = tuple[int, int, int, int] | None
_T = TypeVar("_T")


class LedgerReader:
    """One read-only snapshot of a ledger file; use :func:`read_ledger` to get one."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def end(self) -> int:
        """The last entry's seq (0 for an empty ledger)."""
        return int(self._conn.execute("SELECT coalesce(max(seq), 0) FROM audit").fetchone()[0])

    def entry(self, seq: int) -> StoredEntry | None:
        row = self._conn.execute(
            f"SELECT {AUDIT_COLUMNS} FROM audit WHERE seq = ?", (seq,)
        ).fetchone()
        return None if row is None else StoredEntry(*row)

    def entries(self, after: int = 0) -> Iterator[StoredEntry]:
        """Oldest first. A row SQLite cannot even read (text that is not UTF-8, a
        damaged page) raises ``CorruptAuditEntry`` naming the seq it would be."""
        seq = after
        try:
            for row in self._conn.execute(
                f"SELECT {AUDIT_COLUMNS} FROM audit WHERE seq > ? ORDER BY seq", (after,)
            ):
                entry = StoredEntry(*row)
                yield entry
                seq = entry.seq
        except sqlite3.Error as exc:
            raise CorruptAuditEntry(seq + 1, f"SQLite cannot read it: {exc}") from exc


def read_ledger(path: Path, read: Callable[[LedgerReader], _T]) -> _T:
    """``read(reader)`` on a snapshot of the ledger at ``path``; ``StoreError`` if there
    is none, if it is not a ledger, or if the files keep changing under the read.

    Which way to read depends on the files there, and a centre that starts or stops
    meanwhile changes them (a start writes, a stop folds the WAL into the file and
    deletes it and the ``-shm``): a read that fails so, while the files are no longer
    those it was chosen for, is done again from the start, ``read`` and all, for as long
    as ``_PATIENCE_S``: a centre starting and stopping meanwhile changes them at each
    start and stop, however many reads that takes."""
    if not path.is_file():
        raise StoreError("no_ledger", f"no ledger at {path}")
    until = time.monotonic() + _PATIENCE_S
    while True:
        files = _files(path)
        try:
            with _read(path) as reader:
                return read(reader)
        except StoreError as exc:
            if exc.code not in _MOVED or _files(path) == files or time.monotonic() > until:
                raise


# How long a reader tries again while the files keep changing under it, before it gives
# up with the error: a centre's start or stop takes well under a second.
_PATIENCE_S = 10.0
# What a read that was chosen for other files fails with.
_MOVED = frozenset({"read_failed", "ledger_changed"})


@contextlib.contextmanager
def _read(path: Path) -> Iterator[LedgerReader]:
    wal = path.with_name(path.name + "-wal")
    shm = path.with_name(path.name + "-shm")
    if _size(wal) == 0:
        with _checked_unchanged(path), _snapshot(path, "mode=ro&immutable=1") as reader:
            yield reader
    elif shm.exists():
        with _snapshot(path, "mode=ro&readonly_shm=1") as reader:
            yield reader
    else:
        with tempfile.TemporaryDirectory(prefix="seat-verify-") as scratch:
            copy = Path(scratch) / path.name
            with _checked_unchanged(path), _checked_unchanged(wal):
                try:
                    shutil.copyfile(path, copy)
                    shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
                except FileNotFoundError as exc:
                    raise StoreError("read_failed", f"{path}: {exc}") from exc
            with _snapshot(copy, "mode=ro") as reader:
                yield reader


def _files(path: Path) -> tuple[_Stamp, ...]:
    """The file, and the WAL and ``-shm`` beside it that decide how it is read."""
    return tuple(_stamp(path.with_name(path.name + suffix)) for suffix in ("", "-wal", "-shm"))


@contextlib.contextmanager
def _snapshot(path: Path, options: str) -> Iterator[LedgerReader]:
    uri = f"file:{urllib.parse.quote(str(path.resolve()))}?{options}"
    try:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise StoreError("read_failed", f"{path}: {exc}") from exc
    try:
        try:
            conn.execute("BEGIN")  # one snapshot for every read below
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            is_ledger = conn.execute(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'audit'"
            ).fetchone()
        except sqlite3.Error as exc:
            raise StoreError("read_failed", f"{path}: {exc}") from exc
        if version > SCHEMA_VERSION:
            raise StoreError(
                "schema_too_new",
                f"{path} has schema v{version}; this program knows up to v{SCHEMA_VERSION}",
            )
        if is_ledger is None:
            raise StoreError("no_ledger", f"{path} holds no audit ledger")
        yield LedgerReader(conn)
    finally:
        conn.close()


@contextlib.contextmanager
def _checked_unchanged(path: Path) -> Iterator[None]:
    before = _stamp(path)
    yield
    if _stamp(path) != before:
        raise StoreError(
            "ledger_changed",
            f"{path} changed while it was read (a centre started?); run the check again",
        )


def _stamp(path: Path) -> _Stamp:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0
