"""A car park's billing rules: set and shown with ``seat parks rules``, kept in the
store, and what a stay costs by them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.billing.errors import BadStay, NoBillingRules
from console.billing.rules import Rules
from console.billing.stays import fee_for_stay
from console.ledger import AuditAction
from console.models import Direction, LaneRecord
from console.sqlite_store import SQLiteStore
from console.stays.records import StayState
from console.vehicles.model import StayRecord
from tests.test_cli import seat

PARK = "人民路停车场"
HOURLY = {
    "bands": [
        {
            "name": "all day",
            "start": "00:00",
            "end": "00:00",
            "period_minutes": 60,
            "fen_per_period": 500,
        }
    ],
    "free_minutes": 15,
}
ENTERED = datetime(2026, 11, 28, 1, 0, tzinfo=UTC)


async def with_lane(data_dir: Path) -> None:
    store = await SQLiteStore.open(data_dir / "seat.db")
    try:
        await store.put_lane(LaneRecord("exit-1", "出口1", PARK, Direction.EXIT, "x"))
    finally:
        await store.close()


async def stored(data_dir: Path) -> tuple[Rules | None, list[AuditAction]]:
    store = await SQLiteStore.open(data_dir / "seat.db")
    try:
        return await store.billing_rules(PARK), [e.action async for e in store.iter_audit()]
    finally:
        await store.close()


async def test_rules_set_from_a_file_are_stored_audited_and_shown(tmp_path: Path) -> None:
    """What `show` prints is the rules as set; the ledger holds the change."""
    await with_lane(tmp_path)
    file = tmp_path / "rules.json"
    file.write_text(json.dumps(HOURLY), encoding="utf-8")
    result = seat(tmp_path, "parks", "rules", "set", PARK, str(file))
    assert result.returncode == 0, result.stderr
    rules, actions = await stored(tmp_path)
    assert rules == Rules.parse(HOURLY)
    assert actions == [AuditAction.BILLING_RULES_SET]
    shown = seat(tmp_path, "parks", "rules", "show", PARK)
    assert shown.returncode == 0, shown.stderr
    assert Rules.parse(json.loads(shown.stdout)) == Rules.parse(HOURLY)


async def test_bad_rules_are_refused_naming_the_field_and_change_nothing(tmp_path: Path) -> None:
    """A negative price is named by its path; nothing is stored or ledgered."""
    await with_lane(tmp_path)
    bad = json.loads(json.dumps(HOURLY))
    bad["bands"][0]["fen_per_period"] = -1
    file = tmp_path / "rules.json"
    file.write_text(json.dumps(bad), encoding="utf-8")
    result = seat(tmp_path, "parks", "rules", "set", PARK, str(file))
    assert result.returncode == 2
    assert "bad_amount" in result.stderr and "bands[0].fen_per_period" in result.stderr
    assert await stored(tmp_path) == (None, [])


async def test_rules_for_a_car_park_no_lane_is_in_are_refused(tmp_path: Path) -> None:
    """A typo in the car park's name would otherwise charge nobody."""
    await with_lane(tmp_path)
    file = tmp_path / "rules.json"
    file.write_text(json.dumps(HOURLY), encoding="utf-8")
    result = seat(tmp_path, "parks", "rules", "set", "人民路停车", str(file))
    assert result.returncode == 2 and "unknown_car_park" in result.stderr
    assert await stored(tmp_path) == (None, [])


def test_show_without_rules_says_so(tmp_path: Path) -> None:
    result = seat(tmp_path, "parks", "rules", "show", PARK)
    assert result.returncode == 2 and "no_billing_rules" in result.stderr


def test_a_file_that_is_not_json_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "rules.json"
    file.write_text("{bands", encoding="utf-8")
    result = seat(tmp_path, "parks", "rules", "set", PARK, str(file))
    assert result.returncode == 2 and "bad_json" in result.stderr


def open_stay(entered_at: datetime | None = ENTERED) -> StayRecord:
    if entered_at is None:
        return StayRecord(7, PARK, "粤B12345", StayState.NO_ENTRY, None, None)
    return StayRecord(7, PARK, "粤B12345", StayState.OPEN, "in-1", entered_at)


def test_fee_for_stay_charges_from_its_entry_to_now() -> None:
    """Two hours and a minute: three started hours at 5 yuan."""
    fee = fee_for_stay(Rules.parse(HOURLY), open_stay(), ENTERED + timedelta(minutes=121))
    assert fee.total_fen == 1500


def test_fee_for_stay_without_rules_is_no_billing_rules() -> None:
    with pytest.raises(NoBillingRules) as caught:
        fee_for_stay(None, open_stay(), ENTERED + timedelta(hours=1))
    assert caught.value.code == "no_billing_rules"


def test_fee_for_a_stay_with_no_entry_is_refused() -> None:
    with pytest.raises(BadStay) as caught:
        fee_for_stay(Rules.parse(HOURLY), open_stay(None), ENTERED + timedelta(hours=1))
    assert caught.value.code == "no_entry_time"
