"""A stay's fee, by example: tables of entry and exit times as a Shanghai clock shows
them against the fen charged, across bands, midnight, days and caps, and the breakdown a
driver is shown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from console.billing.errors import BadStay
from console.billing.fees import fee
from console.billing.localtime import SHANGHAI
from console.billing.rules import Band, CapWindow, FirstPeriod, Rules

DAY_BAND = {"name": "day", "start": "08:00", "end": "20:00", "period_minutes": 30}
NIGHT_BAND = {"name": "night", "start": "20:00", "end": "08:00", "period_minutes": 120}
# Day 1 yuan a half hour, night 1 yuan each two hours and at most 3 yuan a night, at most
# 20 yuan a calendar day, 15 free minutes for a driver who turns round.
DAY_NIGHT = Rules.parse(
    {
        "free_minutes": 15,
        "bands": [
            {**DAY_BAND, "fen_per_period": 100},
            {**NIGHT_BAND, "fen_per_period": 100, "cap_fen": 300},
        ],
        "daily_cap_fen": 2000,
    }
)
# One band all day: 2 yuan an hour.
HOURLY = Rules.parse(
    {
        "bands": [
            {"name": "all", "start": "00:00", "end": "00:00", "period_minutes": 60,
             "fen_per_period": 200}
        ]
    }
)  # fmt: skip


def sh(text: str) -> datetime:
    """A time as a Shanghai clock shows it, ``"2026-03-01 08:00"`` (seconds allowed)."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


def cost(rules: Rules, entered: str, left: str) -> int:
    return fee(rules, sh(entered), sh(left)).total_fen


@pytest.mark.parametrize(
    ("entered", "left", "fen"),
    [
        ("2026-03-01 08:00", "2026-03-01 08:15", 0),  # within the free minutes
        ("2026-03-01 08:00", "2026-03-01 08:15:00.000001", 100),  # a moment over: all charged
        ("2026-03-01 08:00", "2026-03-01 08:30", 100),  # exactly one period
        ("2026-03-01 08:00", "2026-03-01 08:30:01", 200),  # a started period is whole
        ("2026-03-01 10:00", "2026-03-01 12:00", 400),
        ("2026-03-01 19:50", "2026-03-01 20:10", 200),  # a day period, then a night one
        ("2026-03-01 07:50", "2026-03-01 08:10", 200),  # a night period, then a day one
        ("2026-03-01 20:00", "2026-03-01 22:00", 100),  # exactly one night period
        ("2026-03-01 23:00", "2026-03-02 01:00", 100),  # over midnight: one period
        ("2026-03-01 23:30", "2026-03-02 01:31", 200),
        ("2026-03-01 20:00", "2026-03-02 08:00", 300),  # a whole night, at its cap
        ("2026-03-01 08:00", "2026-03-01 20:00", 2000),  # 24 day periods, at the daily cap
        ("2026-03-01 06:00", "2026-03-01 20:00", 2000),  # 1 night + 24 day: the daily cap
        # Three calendar days: the first and second at their cap, the third's 00:00–08:00
        # only 100 (the night's cap left 100 of that night's 300).
        ("2026-03-01 08:00", "2026-03-03 08:00", 4100),
        ("2026-02-28 23:00", "2026-03-01 00:30", 100),  # the end of February, same period
    ],
)
def test_day_and_night_fee(entered: str, left: str, fen: int) -> None:
    """Day and night bands with a night cap, a daily cap and free minutes."""
    assert cost(DAY_NIGHT, entered, left) == fen


def test_a_new_band_starts_new_periods_and_the_breakdown_says_so() -> None:
    """Each band's periods are counted from when the stay came into it, each day's
    lines name their band, their time and what the caps left of them."""
    result = fee(DAY_NIGHT, sh("2026-03-01 18:10"), sh("2026-03-02 09:05"))
    shown = [
        (day.start.date().isoformat(), line.band, f"{line.start:%H:%M}", f"{line.end:%H:%M}",
         line.periods, line.priced_fen, line.fen)
        for day in result.days
        for line in day.lines
    ]  # fmt: skip
    assert shown == [
        ("2026-03-01", "day", "18:10", "20:00", 4, 400, 400),
        ("2026-03-01", "night", "20:00", "00:00", 2, 200, 200),
        ("2026-03-02", "night", "00:00", "08:00", 4, 400, 100),
        ("2026-03-02", "day", "08:00", "09:05", 3, 300, 300),
    ]
    assert [day.fen for day in result.days] == [600, 400]
    assert result.total_fen == 1000
    assert result.charged_from == sh("2026-03-01 18:10")


def test_a_line_ends_where_its_last_period_does() -> None:
    """A night period started before midnight is charged to that day, so the next
    day's line starts where it ends, not at midnight."""
    result = fee(DAY_NIGHT, sh("2026-03-01 23:00"), sh("2026-03-02 03:00"))
    lines = [line for day in result.days for line in day.lines]
    assert [(f"{line.start:%H:%M}", f"{line.end:%H:%M}", line.periods) for line in lines] == [
        ("23:00", "01:00", 1),
        ("01:00", "03:00", 1),
    ]
    assert [day.start.date().isoformat() for day in result.days] == ["2026-03-01", "2026-03-02"]


def test_daily_caps_hit_on_each_day_of_a_long_stay() -> None:
    """A week's stay costs seven capped days and the cap again for the eighth day's
    morning: 7 × 2000 + 100."""
    result = fee(DAY_NIGHT, sh("2026-03-01 08:00"), sh("2026-03-08 08:00"))
    assert [day.fen for day in result.days] == [2000] * 7 + [100]
    assert result.total_fen == 14_100


def test_a_stay_within_its_free_minutes_has_no_lines() -> None:
    result = fee(DAY_NIGHT, sh("2026-03-01 09:00"), sh("2026-03-01 09:10"))
    assert (result.total_fen, result.days, result.charged_from) == (0, (), None)


@pytest.mark.parametrize(
    ("left", "kept", "deducted"),
    [
        ("2026-03-01 08:16", 100, 100),  # deducted: 08:15–08:16, one period
        ("2026-03-01 08:45", 200, 100),  # kept: 08:00–08:45, two; deducted: 08:15–08:45, one
        ("2026-03-01 08:46", 200, 200),
    ],
)
def test_free_minutes_deducted_or_not(left: str, kept: int, deducted: int) -> None:
    """Deducted free minutes are the first minutes of every stay; kept ones are only
    a grace for a stay that short."""
    deducting = Rules.parse({**DAY_NIGHT.to_json(), "free_minutes_deducted": True})
    assert cost(DAY_NIGHT, "2026-03-01 08:00", left) == kept
    assert cost(deducting, "2026-03-01 08:00", left) == deducted
    assert fee(deducting, sh("2026-03-01 08:00"), sh(left)).charged_from == sh("2026-03-01 08:15")


FIRST_HOUR = Rules(
    bands=(
        Band(
            "day", sh("2026-01-01 08:00").time(), sh("2026-01-01 20:00").time(), 30, 100,
            first_period=FirstPeriod(60, 500),
        ),
        Band(
            "night", sh("2026-01-01 20:00").time(), sh("2026-01-01 08:00").time(), 120, 100,
            cap_fen=300,
        ),
    )
)  # fmt: skip


@pytest.mark.parametrize(
    ("entered", "left", "fen"),
    [
        ("2026-03-01 08:00", "2026-03-01 08:01", 500),  # the first hour, started
        ("2026-03-01 08:00", "2026-03-01 09:00", 500),
        ("2026-03-01 08:00", "2026-03-01 09:00:01", 600),  # then half hours
        ("2026-03-01 19:30", "2026-03-01 20:30", 600),  # the first hour cut by the night
        # Entered at night: the day's first-hour price is not the stay's first period.
        ("2026-03-01 21:00", "2026-03-02 09:00", 500),
    ],
)
def test_first_period_price(entered: str, left: str, fen: int) -> None:
    """The band the stay's charging starts in prices its first period apart."""
    assert cost(FIRST_HOUR, entered, left) == fen


def test_one_band_all_day_runs_its_periods_over_midnight() -> None:
    """With a single band midnight is no boundary: 23:30 to 00:30 is one hour."""
    assert cost(HOURLY, "2026-03-01 23:30", "2026-03-02 00:30") == 200
    assert cost(HOURLY, "2026-03-01 23:30", "2026-03-02 00:30:01") == 400


def test_daily_cap_by_calendar_day_or_by_rolling_24_hours() -> None:
    """22:00 to 02:00 is two calendar days, each capped, but one rolling day."""
    capped = {**HOURLY.to_json(), "daily_cap_fen": 300}
    calendar = Rules.parse(capped)
    rolling = Rules.parse({**capped, "daily_cap_window": "rolling_24h"})
    assert calendar.daily_cap_window is CapWindow.CALENDAR_DAY
    assert cost(calendar, "2026-03-01 22:00", "2026-03-02 02:00") == 600
    assert cost(rolling, "2026-03-01 22:00", "2026-03-02 02:00") == 300
    # Rolling days run from the entry: 24 h is one day, a moment more starts the second.
    assert cost(rolling, "2026-03-01 22:00", "2026-03-02 22:00") == 300
    assert cost(rolling, "2026-03-01 22:00", "2026-03-02 22:00:01") == 500
    days = fee(rolling, sh("2026-03-01 22:00"), sh("2026-03-03 01:00")).days
    assert [(day.start, day.end) for day in days] == [
        (sh("2026-03-01 22:00"), sh("2026-03-02 22:00")),
        (sh("2026-03-02 22:00"), sh("2026-03-03 22:00")),
    ]


def test_stay_cap() -> None:
    """A car left for a month pays the stay's cap, not thirty days."""
    rules = Rules.parse({**DAY_NIGHT.to_json(), "stay_cap_fen": 5000})
    result = fee(rules, sh("2026-03-01 08:00"), sh("2026-03-31 08:00"))
    assert result.days_fen == 30 * 2000 + 100
    assert result.total_fen == 5000


def test_any_zone_gives_the_same_fee() -> None:
    """The same two instants in UTC, +08:00 or New York's zone cost the same."""
    entered, left = sh("2026-07-01 19:10"), sh("2026-07-02 08:40")
    expected = fee(DAY_NIGHT, entered, left)
    for zone in (UTC, timezone(timedelta(hours=8)), ZoneInfo("America/New_York")):
        assert fee(DAY_NIGHT, entered.astimezone(zone), left.astimezone(zone)) == expected
    assert expected.total_fen == 200 + 300 + 200  # 19:10–20:00, the night, 08:00–08:40


def test_another_zones_summer_time_change_does_not_move_shanghai() -> None:
    """Asia/Shanghai keeps no summer time: a stay given in New York's clock across its
    spring change (01:30 EST to 03:30 EDT, one real hour) is billed for that hour."""
    new_york = ZoneInfo("America/New_York")
    entered = datetime(2026, 3, 8, 1, 30, tzinfo=new_york)
    left = datetime(2026, 3, 8, 3, 30, tzinfo=new_york)
    result = fee(DAY_NIGHT, entered, left)
    assert result.charged_from == sh("2026-03-08 14:30")
    assert result.left_at == sh("2026-03-08 15:30")
    assert result.total_fen == 200


@pytest.mark.parametrize(
    ("entered", "left", "code"),
    [
        (sh("2026-03-01 08:00"), sh("2026-03-01 08:00"), "reversed_stay"),  # no time
        (sh("2026-03-01 08:00"), sh("2026-03-01 07:59"), "reversed_stay"),
        (datetime(2026, 3, 1, 8), sh("2026-03-01 09:00"), "naive_time"),
        (sh("2026-03-01 08:00"), datetime(2026, 3, 1, 9), "naive_time"),
        # Shanghai kept summer time until 1991: days of 23 and 25 hours are not billed.
        (sh("1991-07-01 08:00"), sh("1991-07-01 09:00"), "out_of_range"),
        (sh("9999-01-01 08:00"), sh("9999-01-01 09:00"), "out_of_range"),
    ],
)
def test_a_stay_no_fee_fits_is_refused(entered: datetime, left: datetime, code: str) -> None:
    """No time, time backwards, times without a zone and days out of range are
    refused, not charged nothing."""
    with pytest.raises(BadStay) as caught:
        fee(DAY_NIGHT, entered, left)
    assert caught.value.code == code


def test_the_breakdown_as_json() -> None:
    """What the console shows: UTC times, each day's local date, fen at every level."""
    body = fee(DAY_NIGHT, sh("2026-03-01 19:50"), sh("2026-03-01 20:10")).to_json()
    assert body == {
        "entered_at": "2026-03-01T11:50:00.000Z",
        "left_at": "2026-03-01T12:10:00.000Z",
        "charged_from": "2026-03-01T11:50:00.000Z",
        "days": [
            {
                "date": "2026-03-01",
                "start": "2026-02-28T16:00:00.000Z",
                "end": "2026-03-01T16:00:00.000Z",
                "lines": [
                    {"band": "day", "start": "2026-03-01T11:50:00.000Z",
                     "end": "2026-03-01T12:00:00.000Z", "periods": 1, "priced_fen": 100,
                     "fen": 100},
                    {"band": "night", "start": "2026-03-01T12:00:00.000Z",
                     "end": "2026-03-01T12:10:00.000Z", "periods": 1, "priced_fen": 100,
                     "fen": 100},
                ],
                "lines_fen": 200,
                "fen": 200,
            }
        ],
        "days_fen": 200,
        "total_fen": 200,
    }  # fmt: skip


def test_free_minutes_make_two_short_stays_cheaper_than_one() -> None:
    """Why splitting a stay is promised never to lower its fee only without free
    minutes: each stay has its own."""
    assert cost(DAY_NIGHT, "2026-03-01 08:00", "2026-03-01 08:20") == 100
    assert cost(DAY_NIGHT, "2026-03-01 08:00", "2026-03-01 08:10") == 0
    assert cost(DAY_NIGHT, "2026-03-01 08:10", "2026-03-01 08:20") == 0


def test_a_long_first_period_split_around_midnight_costs_less() -> None:
    """Why the promise also needs first periods no longer than their band's: a first
    period is charged whole to the day it starts in, so a second stay's first day can
    hold periods the unbroken stay charges to the day after, under that day's cap."""
    rules = Rules.parse(
        {
            "bands": [
                {"name": "all", "start": "00:00", "end": "00:00", "period_minutes": 15,
                 "fen_per_period": 25, "first_period": {"minutes": 1440, "fen": 2400}}
            ],
            "daily_cap_fen": 1000,
        }
    )  # fmt: skip
    # 00:30 to 00:30 two days later: 1000, 1000, and 00:00–00:30 on the third day.
    assert cost(rules, "2026-03-01 00:30", "2026-03-03 00:30") == 2050
    assert cost(rules, "2026-03-01 00:30", "2026-03-02 00:30") == 1000
    assert cost(rules, "2026-03-02 00:30", "2026-03-03 00:30") == 1000
