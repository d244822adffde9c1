"""Snapshot files: where they go, that they are written whole, and retention removing
whole old days (their events keep their rows, without a picture)."""

from __future__ import annotations

import stat
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from console.settings import Settings
from console.sqlite_store import SQLiteStore
from console.vehicles.snapshots import (
    first_kept_day,
    paths_before,
    read_snapshot,
    remove_days_before,
    snapshot_path,
    write_snapshot,
)
from tests.conftest import Centre
from tests.test_vehicle_store import event

JPEG = b"\xff\xd8\xff\xe0 a picture of a car"


def test_a_snapshot_goes_under_its_day_in_shanghai() -> None:
    """17:30 UTC on the 28th is half past one on the 29th in Shanghai."""
    received = datetime(2026, 11, 28, 17, 30, tzinfo=UTC)
    assert snapshot_path("ab12", received) == "snapshots/2026-11-29/ab12.jpg"


def test_a_snapshot_is_written_whole_for_its_owner_alone(tmp_path: Path) -> None:
    """The bytes, mode 0600, no temporary file left; a second write replaces it."""
    relative = "snapshots/2026-11-29/ab12.jpg"
    write_snapshot(tmp_path, relative, JPEG)
    write_snapshot(tmp_path, relative, JPEG + b"!")
    assert read_snapshot(tmp_path, relative) == JPEG + b"!"
    assert stat.S_IMODE((tmp_path / relative).stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "snapshots/2026-11-29").iterdir()] == ["ab12.jpg"]


def test_a_snapshot_that_is_gone_reads_as_none(tmp_path: Path) -> None:
    assert read_snapshot(tmp_path, "snapshots/2026-11-29/ab12.jpg") is None


def test_retention_keeps_today_and_the_days_before_it() -> None:
    """30 days on the 29th of November (Shanghai): from the 31st of October."""
    now = datetime(2026, 11, 28, 16, 30, tzinfo=UTC)  # 00:30 on the 29th in Shanghai
    assert first_kept_day(now, 30) == date(2026, 10, 31)
    assert first_kept_day(now, 1) == date(2026, 11, 29)


def test_paths_of_older_days_and_only_those_sort_before_the_bound() -> None:
    bound = paths_before(date(2026, 10, 31))
    assert bound > "snapshots/2026-10-30/zz.jpg"
    assert bound <= "snapshots/2026-10-31/00.jpg"
    assert bound <= "snapshots/2026-11-01/00.jpg"


def test_removing_old_days_leaves_newer_days_and_other_files(tmp_path: Path) -> None:
    for day in ("2026-10-29", "2026-10-30", "2026-10-31"):
        write_snapshot(tmp_path, f"snapshots/{day}/e.jpg", JPEG)
    (tmp_path / "snapshots/README").write_text("not a day")
    assert remove_days_before(tmp_path, date(2026, 10, 31)) == ["2026-10-29", "2026-10-30"]
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == ["2026-10-31", "README"]
    assert remove_days_before(tmp_path / "nowhere", date(2026, 10, 31)) == []


async def test_pruning_removes_old_days_and_forgets_their_paths(
    centre: Centre, store: SQLiteStore
) -> None:
    """The old day's files are gone and its event keeps its row and stay, with no
    snapshot; the first day kept is untouched. (Days to come: the centre's own pruning,
    by today's date, leaves them alone.)"""
    data_dir = centre.settings.data_dir
    old = replace(event("e1"), snapshot="snapshots/2098-10-30/e1.jpg")
    kept = replace(event("e2", plate="粤B67890"), snapshot="snapshots/2098-10-31/e2.jpg")
    for item in (old, kept):
        assert item.snapshot is not None
        write_snapshot(data_dir, item.snapshot, JPEG)
        await store.record_vehicle(item)
    now = datetime(2098, 11, 29, 3, 0, tzinfo=UTC)  # retention: 30 days
    assert await centre.vehicles.prune(now) == ["2098-10-30"]
    assert not (data_dir / "snapshots/2098-10-30").exists()
    assert read_snapshot(data_dir, "snapshots/2098-10-31/e2.jpg") == JPEG
    pruned, still = await store.vehicle("e1"), await store.vehicle("e2")
    assert pruned is not None and pruned.event.snapshot is None and pruned.stay_id is not None
    assert still is not None and still.event.snapshot == kept.snapshot


def test_the_retention_and_the_repeat_window_are_read_from_the_environment() -> None:
    """30 days and 30 s by default; a window of 0 is allowed, no days is not."""
    assert (Settings.from_env({}).snapshot_days, Settings.from_env({}).vehicle_repeat_s) == (
        30,
        30.0,
    )
    env = {"SEAT_SNAPSHOT_DAYS": "7", "SEAT_VEHICLE_REPEAT_S": "0"}
    assert (Settings.from_env(env).snapshot_days, Settings.from_env(env).vehicle_repeat_s) == (
        7,
        0.0,
    )
    for bad, message in (
        ({"SEAT_SNAPSHOT_DAYS": "0"}, "SEAT_SNAPSHOT_DAYS must be at least 1"),
        ({"SEAT_SNAPSHOT_DAYS": "a week"}, "SEAT_SNAPSHOT_DAYS must be a number"),
        ({"SEAT_VEHICLE_REPEAT_S": "-1"}, "SEAT_VEHICLE_REPEAT_S must be a number of seconds"),
    ):
        with pytest.raises(ValueError, match=message):
            Settings.from_env(bad)
