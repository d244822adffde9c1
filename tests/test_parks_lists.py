"""A car park's plate lists: set and shown with ``seat parks lists``, audited, kept in
the store per car park, and refused whole when any entry is wrong."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from console.billing.lists import PlateLists
from console.ledger import AuditAction, AuditEntry
from console.models import Direction, LaneRecord
from console.sqlite_store import SQLiteStore
from tests.test_cli import seat

PARK = "人民路停车场"
OTHER = "解放路停车场"
LISTS: dict[str, Any] = {
    "monthly_passes": [
        {
            "plate": "粤b·11111",
            "car_park": PARK,
            "valid_from": "2026-11-01",
            "valid_until": "2026-11-30",
        }
    ],
    "whitelist": [{"plate": "粤B33333", "car_park": PARK, "note": "消防"}],
    "blacklist": [{"plate": "粤B44444", "note": "多次逃费"}],
}


async def with_lanes(data_dir: Path) -> None:
    store = await SQLiteStore.open(data_dir / "seat.db")
    try:
        await store.put_lane(LaneRecord("exit-1", "出口1", PARK, Direction.EXIT, "x"))
        await store.put_lane(LaneRecord("exit-2", "出口2", OTHER, Direction.EXIT, "y"))
    finally:
        await store.close()


async def stored(data_dir: Path) -> tuple[PlateLists | None, list[AuditEntry]]:
    store = await SQLiteStore.open(data_dir / "seat.db")
    try:
        return await store.plate_lists(PARK), [e async for e in store.iter_audit()]
    finally:
        await store.close()


def write(tmp_path: Path, value: object) -> str:
    file = tmp_path / "lists.json"
    file.write_text(json.dumps(value, ensure_ascii=False), encoding="utf-8")
    return str(file)


async def test_lists_set_from_a_file_are_stored_audited_and_shown(tmp_path: Path) -> None:
    """Plates are kept as cameras read them (粤b·11111 is 粤B11111); the ledger holds
    the lists as set, and `show` prints them back."""
    await with_lanes(tmp_path)
    result = seat(tmp_path, "parks", "lists", "set", PARK, write(tmp_path, LISTS))
    assert result.returncode == 0, result.stderr
    assert "1 monthly passes, 1 whitelisted, 1 blacklisted" in result.stdout
    lists, entries = await stored(tmp_path)
    assert lists == PlateLists.parse(LISTS)
    assert lists is not None and lists.passes[0].plate == "粤B11111"
    assert [e.action for e in entries] == [AuditAction.PLATE_LISTS_SET]
    assert entries[0].actor.startswith("cli:")
    assert entries[0].detail["car_park"] == PARK
    assert entries[0].detail["lists"] == lists.to_json()
    shown = seat(tmp_path, "parks", "lists", "show", PARK)
    assert shown.returncode == 0, shown.stderr
    assert PlateLists.parse(json.loads(shown.stdout)) == lists


async def test_a_car_park_without_lists_shows_empty_ones(tmp_path: Path) -> None:
    await with_lanes(tmp_path)
    shown = seat(tmp_path, "parks", "lists", "show", OTHER)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {"monthly_passes": [], "whitelist": [], "blacklist": []}


@pytest.mark.parametrize(
    ("change", "code", "named"),
    [
        (lambda v: v["blacklist"][0].update(plate=""), "bad_plate", "blacklist[0]"),
        (lambda v: v["blacklist"][0].update(plate="粤B" + "1" * 40), "bad_plate", "blacklist[0]"),
        (lambda v: v["blacklist"][0].update(plate=17), "bad_type", "blacklist[0].plate"),
        (lambda v: v["blacklist"][0].update(plate="粤B\u202e4444"), "bad_plate", "blacklist[0]"),
        (
            lambda v: v["monthly_passes"][0].update(valid_until="2026-10-01"),
            "bad_dates",
            "monthly_passes[0]",
        ),
        (lambda v: v["whitelist"][0].update(car_park=OTHER), "other_car_park", "whitelist[0]"),
        (
            lambda v: v["monthly_passes"][0].update(car_park=OTHER),
            "other_car_park",
            "monthly_passes[0]",
        ),
        (lambda v: v.update(greylist=[]), "unknown_key", "greylist"),
        (lambda v: v["whitelist"][0].update(expires="2027-01-01"), "unknown_key", "whitelist[0]"),
    ],
    ids=[
        "empty",
        "too-long",
        "not-text",
        "bidi",
        "reversed-dates",
        "other-park-listed",
        "other-park-pass",
        "unknown-list",
        "unknown-field",
    ],
)
async def test_bad_lists_are_refused_naming_the_entry_and_change_nothing(
    tmp_path: Path, change: Any, code: str, named: str
) -> None:
    await with_lanes(tmp_path)
    bad = json.loads(json.dumps(LISTS))
    change(bad)
    result = seat(tmp_path, "parks", "lists", "set", PARK, write(tmp_path, bad))
    assert result.returncode == 2, result.stdout
    assert code in result.stderr and named in result.stderr
    assert await stored(tmp_path) == (None, [])


async def test_lists_for_a_car_park_no_lane_is_in_are_refused(tmp_path: Path) -> None:
    await with_lanes(tmp_path)
    everywhere = {"blacklist": LISTS["blacklist"]}  # names no car park of its own
    result = seat(tmp_path, "parks", "lists", "set", "人民路停车", write(tmp_path, everywhere))
    assert result.returncode == 2 and "unknown_car_park" in result.stderr
    assert await stored(tmp_path) == (None, [])


def test_a_lists_file_that_is_not_json_or_not_there_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "lists.json"
    file.write_text("{blacklist", encoding="utf-8")
    result = seat(tmp_path, "parks", "lists", "set", PARK, str(file))
    assert result.returncode == 2 and "bad_json" in result.stderr
    missing = seat(tmp_path, "parks", "lists", "set", PARK, str(tmp_path / "none.json"))
    assert missing.returncode == 2 and "unreadable_file" in missing.stderr
