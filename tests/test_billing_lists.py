"""Which plates an exit lets go free and which it holds: monthly passes, whitelist and
blacklist, decided from literals."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from console.billing.errors import BadPlateList, BadStay
from console.billing.lists import (
    Classification,
    Decision,
    ListedPlate,
    MonthlyPass,
    PlateLists,
    classify,
)

PASS = MonthlyPass("粤B12345", "科技园", date(2026, 3, 1), date(2026, 3, 31))
LISTS = PlateLists(
    passes=(PASS, MonthlyPass("粤B12345", "科技园", date(2026, 1, 1), date(2026, 1, 31))),
    whitelist=(ListedPlate("粤B00001", None, "市政"), ListedPlate("粤B00002", "科技园")),
    blacklist=(ListedPlate("粤BD66666", None, "逃费三次"), ListedPlate("粤B00002", "南山")),
)
# 2026-03-15 12:00 in Shanghai.
MID_MARCH = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)


def decide(plate: str, car_park: str = "科技园", at: datetime = MID_MARCH) -> Decision:
    return classify(plate, car_park, LISTS, at).decision


def test_a_plate_on_no_list_pays() -> None:
    result = classify("粤B99999", "科技园", LISTS, MID_MARCH)
    assert result == Classification(Decision.CHARGE)
    assert not result.free and not result.alert_seat


def test_a_monthly_pass_is_free_at_its_car_park_on_its_days() -> None:
    """Valid from its first day to its last, inclusive, and nowhere else."""
    result = classify("粤B12345", "科技园", LISTS, MID_MARCH)
    assert (result.decision, result.entry, result.free) == (Decision.MONTHLY_PASS, PASS, True)
    assert decide("粤B12345", "南山") is Decision.CHARGE


@pytest.mark.parametrize(
    ("at", "decision"),
    [
        (datetime(2026, 2, 28, 16, 0, tzinfo=UTC), Decision.MONTHLY_PASS),  # 03-01 00:00
        (datetime(2026, 2, 28, 15, 59, 59, tzinfo=UTC), Decision.CHARGE),  # 02-28 23:59:59
        (datetime(2026, 3, 31, 15, 59, 59, tzinfo=UTC), Decision.MONTHLY_PASS),  # 03-31 23:59:59
        (datetime(2026, 3, 31, 16, 0, tzinfo=UTC), Decision.CHARGE),  # 04-01 00:00
    ],
)
def test_a_pass_days_are_shanghai_calendar_days(at: datetime, decision: Decision) -> None:
    """An exit at 00:30 on the 1st in Shanghai is on the 1st, though UTC says the 31st."""
    assert decide("粤B12345", at=at) is decision


def test_a_lapsed_pass_is_named_so_the_seat_can_say_why() -> None:
    """After its last day the plate pays, and the latest pass it held is shown."""
    april = datetime(2026, 4, 2, 4, 0, tzinfo=UTC)
    result = classify("粤B12345", "科技园", LISTS, april)
    assert (result.decision, result.lapsed_pass, result.free) == (Decision.CHARGE, PASS, False)
    assert classify("粤B12345", "南山", LISTS, april).lapsed_pass is None


def test_whitelist_for_every_car_park_or_one() -> None:
    assert decide("粤B00001", "科技园") is Decision.WHITELIST
    assert decide("粤B00001", "南山") is Decision.WHITELIST
    assert decide("粤B00002", "科技园") is Decision.WHITELIST
    assert decide("粤B00002", "宝安") is Decision.CHARGE


def test_the_blacklist_holds_the_car_whatever_else_it_has() -> None:
    """A blacklisted plate is never released by the system, pass or whitelist: the
    seat is alerted and a person decides."""
    lists = PlateLists(
        passes=(PASS,), whitelist=(ListedPlate("粤B12345"),), blacklist=(ListedPlate("粤B12345"),)
    )
    result = classify("粤B12345", "科技园", lists, MID_MARCH)
    assert (result.decision, result.alert_seat, result.free) == (Decision.BLACKLIST, True, False)
    assert decide("粤B00002", "南山") is Decision.BLACKLIST  # its car park's blacklist
    assert decide("粤BD66666", "宝安") is Decision.BLACKLIST


@pytest.mark.parametrize("read", ["粤b12345", "粤B·12345", "粤B 12345", "粤Ｂ１２３４５"])
def test_plates_are_compared_as_normalised(read: str) -> None:
    """A camera's or an agent's spelling matches the list's, and the list's theirs."""
    assert decide(read) is Decision.MONTHLY_PASS
    spelled = PlateLists(blacklist=(ListedPlate(read),))
    assert classify("粤B12345", "科技园", spelled, MID_MARCH).alert_seat


def test_a_time_without_its_zone_is_refused() -> None:
    with pytest.raises(BadStay) as caught:
        classify("粤B12345", "科技园", LISTS, datetime(2026, 3, 15, 12, 0))
    assert caught.value.code == "naive_time"


def test_lists_read_back_what_they_write() -> None:
    """Through JSON text and back, plates normalised as they are read."""
    written = {
        "monthly_passes": [
            {"plate": "粤b-12345", "car_park": "科技园", "valid_from": "2026-03-01",
             "valid_until": "2026-03-31"}
        ],
        "whitelist": [{"plate": "粤B00001", "car_park": None, "note": "市政"}],
        "blacklist": [{"plate": "粤BD66666", "car_park": "南山"}],
    }  # fmt: skip
    parsed = PlateLists.parse(written)
    assert parsed == PlateLists(
        passes=(PASS,),
        whitelist=(ListedPlate("粤B00001", None, "市政"),),
        blacklist=(ListedPlate("粤BD66666", "南山", ""),),
    )
    assert PlateLists.parse(json.loads(json.dumps(parsed.to_json()))) == parsed
    assert PlateLists.parse({}) == PlateLists()


@pytest.mark.parametrize(
    ("document", "code", "where"),
    [
        ({"passes": []}, "unknown_key", "passes is not a known key"),
        ({"whitelist": [{"plate": "粤B00001", "lot": "A"}]}, "unknown_key", "whitelist[0].lot"),
        ({"blacklist": [{"plate": "·"}]}, "bad_plate", "blacklist[0].plate holds no plate"),
        ({"blacklist": [{"plate": 12345}]}, "bad_type", "blacklist[0].plate must be a string"),
        (
            {"monthly_passes": [{"plate": "粤B12345", "car_park": "科技园",
                                 "valid_from": "2026-03-31", "valid_until": "2026-03-01"}]},
            "bad_dates",
            "monthly_passes[0] ends on 2026-03-01, before it starts on 2026-03-31",
        ),
        (
            {"monthly_passes": [{"plate": "粤B12345", "car_park": "科技园",
                                 "valid_from": "2026-3-1", "valid_until": "2026-03-31"}]},
            "bad_date",
            "monthly_passes[0].valid_from must be a date YYYY-MM-DD",
        ),
        (
            {"monthly_passes": [{"plate": "粤B12345", "valid_from": "2026-03-01",
                                 "valid_until": "2026-03-31"}]},
            "missing_key",
            "monthly_passes[0].car_park is required",
        ),
    ],
)  # fmt: skip
def test_bad_lists_are_refused_naming_the_entry(document: object, code: str, where: str) -> None:
    with pytest.raises(BadPlateList) as caught:
        PlateLists.parse(document)
    assert caught.value.code == code
    assert where in caught.value.detail
