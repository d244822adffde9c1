"""The vehicles' snapshots as files: one JPEG per event under the data directory, in a
directory per Asia/Shanghai day of the centre's clock, ``snapshots/2026-11-29/<event
id>.jpg``, removed a whole day at a time once older than the retention.

Pictures of cars are personal data, and a database row per JPEG would swell the
database and its WAL, which hold the audit ledger; so they are files, readable by the
centre's user only (mode 0600), each written whole or not at all: to a temporary file
in its day's directory, ``fsync``ed, renamed into place, the directory ``fsync``ed (a
record must not outlive its picture after a power cut). The day is the centre's, not the
lane's: a lane whose clock is wrong cannot file its pictures where retention removes
them at once. Event ids are the lane link's ids (letters, digits, ``_ . : -``, starting
with a letter or digit): safe as file names.

Every function here blocks on the disk: call them off the event loop.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from datetime import date, datetime, timedelta
from pathlib import Path

from console.anchor_files import fsync_dir
from console.billing.localtime import SHANGHAI

SNAPSHOTS = "snapshots"
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def snapshot_path(event_id: str, received_at: datetime) -> str:
    """Where the event's snapshot goes, relative to the data directory."""
    day = received_at.astimezone(SHANGHAI).date()
    return f"{SNAPSHOTS}/{day.isoformat()}/{event_id}.jpg"


def first_kept_day(now: datetime, days: int) -> date:
    """The oldest day retention keeps: today (in Asia/Shanghai) and the ``days - 1``
    before it."""
    return now.astimezone(SHANGHAI).date() - timedelta(days=days - 1)


def paths_before(day: date) -> str:
    """Every snapshot path of a day before ``day`` sorts before this, and no other
    (ISO days sort as they follow each other)."""
    return f"{SNAPSHOTS}/{day.isoformat()}/"


def write_snapshot(data_dir: Path, relative: str, jpeg: bytes) -> None:
    """Writes the file whole, durably, replacing one of that name (the same event sent
    again)."""
    path = data_dir / relative
    folder = path.parent
    if not folder.is_dir():
        folder.mkdir(parents=True, exist_ok=True)
        fsync_dir(folder.parent)  # the new day's directory itself
    fd, scratch = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(jpeg)
            file.flush()
            os.fsync(file.fileno())
        os.replace(scratch, path)
    except BaseException:
        Path(scratch).unlink(missing_ok=True)
        raise
    fsync_dir(folder)


def read_snapshot(data_dir: Path, relative: str) -> bytes | None:
    """The file's bytes; None when it is gone (retention removed its day meanwhile)."""
    try:
        return (data_dir / relative).read_bytes()
    except FileNotFoundError:
        return None


def remove_days_before(data_dir: Path, day: date) -> list[str]:
    """Removes each day's directory older than ``day``; returns their names, oldest
    first. Anything else in ``snapshots/`` is left alone."""
    root = data_dir / SNAPSHOTS
    if not root.is_dir():
        return []
    bound = day.isoformat()
    old = sorted(
        entry.name
        for entry in root.iterdir()
        if _DAY.fullmatch(entry.name) and entry.name < bound and entry.is_dir()
    )
    for name in old:
        shutil.rmtree(root / name)
    if old:
        fsync_dir(root)
    return old
