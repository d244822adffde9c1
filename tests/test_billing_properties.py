"""What must hold of every fee, whatever the rules and the stay: checked by hypothesis
over rules and stays drawn at random (bands cut anywhere, caps or none, times on and
off the minute), each failure shrunk to the simplest rules and stay that break it."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from console.billing.fees import fee
from console.billing.localtime import SHANGHAI
from console.billing.rules import DAY_MINUTES, Band, CapWindow, FirstPeriod, Rules

# Enough draws per run to have found every fault met while writing these, in a few
# seconds for the file; no deadline, as a test asserts no timing on a shared machine.
CHECK = settings(max_examples=60, deadline=None)

START = datetime(2024, 1, 1, tzinfo=SHANGHAI)
# Periods an operator writes, and odd ones that make periods straddle everything.
PERIODS = st.sampled_from([1, 7, 15, 30, 60, 120, 180, 720, DAY_MINUTES])
FEN = st.integers(0, 2_000)


def clock(minute: int) -> datetime:
    return START + timedelta(minutes=minute)


@st.composite
def bands(draw: st.DrawFn) -> tuple[Band, ...]:
    """One to four bands cut at minutes drawn anywhere, often on the hour."""
    cuts = draw(
        st.lists(
            st.one_of(st.integers(0, 23).map(lambda hour: hour * 60), st.integers(0, 1439)),
            min_size=1,
            max_size=4,
            unique=True,
        )
    )
    cuts.sort()
    made = []
    for i, start in enumerate(cuts):
        end = cuts[(i + 1) % len(cuts)]
        first = draw(st.none() | st.builds(FirstPeriod, PERIODS, FEN))
        made.append(
            Band(
                f"b{i}",
                clock(start).time(),
                clock(end).time(),
                draw(PERIODS),
                draw(FEN),
                first_period=first,
                cap_fen=draw(st.none() | st.integers(0, 5_000)),
            )
        )
    return tuple(made)


RULES = st.builds(
    Rules,
    bands=bands(),
    free_minutes=st.sampled_from([0, 0, 1, 15, 30]),
    free_minutes_deducted=st.booleans(),
    daily_cap_fen=st.none() | st.integers(0, 20_000),
    daily_cap_window=st.sampled_from(CapWindow),
    stay_cap_fen=st.none() | st.integers(0, 100_000),
)

# Entries over ten years, mostly on the minute (where bands and periods turn).
ENTRY = st.builds(
    lambda minutes, seconds: START + timedelta(minutes=minutes, seconds=seconds),
    st.integers(0, 10 * 366 * DAY_MINUTES),
    st.sampled_from([0, 0, 0, 1, 59, 0.000001]),
)
# Stays from a microsecond to five days, often whole minutes.
LENGTH = st.one_of(
    st.integers(1, 5 * DAY_MINUTES).map(lambda minutes: timedelta(minutes=minutes)),
    st.integers(1, 5 * 86_400 * 10**6).map(lambda micro: timedelta(microseconds=micro)),
)


def calendar_days(entered: datetime, left: datetime) -> int:
    """The Shanghai calendar days a stay touches."""
    return (left.astimezone(SHANGHAI).date() - entered.astimezone(SHANGHAI).date()).days + 1


@CHECK
@given(RULES, ENTRY, LENGTH)
def test_a_fee_is_never_negative_nor_above_its_caps(
    rules: Rules, entered: datetime, length: timedelta
) -> None:
    """0 or more, at most the stay's cap, and at most the daily cap for each day the
    stay touches (calendar days, or started 24 hours from the entry)."""
    result = fee(rules, entered, entered + length)
    assert result.total_fen >= 0
    assert all(line.fen >= 0 for day in result.days for line in day.lines)
    if rules.stay_cap_fen is not None:
        assert result.total_fen <= rules.stay_cap_fen
    if rules.daily_cap_fen is not None:
        assert all(day.fen <= rules.daily_cap_fen for day in result.days)
        if rules.daily_cap_window is CapWindow.CALENDAR_DAY:
            days = calendar_days(entered, entered + length)
        else:
            days = -(-length // timedelta(days=1))
        assert result.total_fen <= days * rules.daily_cap_fen


@CHECK
@given(RULES, ENTRY, LENGTH)
def test_the_lines_add_up_and_cover_the_charged_time(
    rules: Rules, entered: datetime, length: timedelta
) -> None:
    """The breakdown is the fee: its lines follow one another from where charging
    started to the exit, each stretch of a band within its cap, and each level's sum is
    what the next level caps."""
    result = fee(rules, entered, entered + length)
    lines = [line for day in result.days for line in day.lines]
    if result.charged_from is None:
        assert (lines, result.total_fen) == ([], 0)
        return
    assert lines[0].start == result.charged_from
    assert lines[-1].end == result.left_at
    assert all(a.end == b.start for a, b in itertools.pairwise(lines))
    assert all(line.periods > 0 and 0 <= line.fen <= line.priced_fen for line in lines)
    bands = {band.name: band for band in rules.bands}
    # Bands tile the day, so a band's next line is in the same stretch of it.
    for name, stretch in itertools.groupby(lines, key=lambda line: line.band):
        cap = bands[name].cap_fen
        assert cap is None or sum(line.fen for line in stretch) <= cap
    assert all(day.fen <= day.lines_fen for day in result.days)
    assert result.total_fen <= result.days_fen


@CHECK
@given(RULES, ENTRY, LENGTH, LENGTH)
def test_staying_longer_never_costs_less(
    rules: Rules, entered: datetime, length: timedelta, more: timedelta
) -> None:
    """The fee never falls as the exit moves later."""
    shorter = fee(rules, entered, entered + length).total_fen
    longer = fee(rules, entered, entered + length + more).total_fen
    assert shorter <= longer


ZONES = st.one_of(
    st.integers(-12 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes))),
    st.sampled_from(
        [ZoneInfo("UTC"), ZoneInfo("America/New_York"), ZoneInfo("Europe/London"),
         ZoneInfo("Australia/Lord_Howe")]
    ),
)  # fmt: skip


@CHECK
@given(RULES, ENTRY, LENGTH, ZONES, ZONES)
def test_the_zone_times_carry_changes_nothing(
    rules: Rules, entered: datetime, length: timedelta, entry_zone: timezone, exit_zone: timezone
) -> None:
    """The same two instants cost the same, breakdown and all, in any zones."""
    left = entered + length
    assert fee(rules, entered.astimezone(entry_zone), left.astimezone(exit_zone)) == fee(
        rules, entered, left
    )


@st.composite
def unsplittable_rules(draw: st.DrawFn) -> Rules:
    """Rules under which leaving and coming back cannot pay less: no free minutes, daily
    caps by calendar day, and each first period no cheaper and no longer than a period
    of its band. A longer one is charged whole to the day it starts in, so a stay
    split just before midnight can put a day's worth of periods under the first day's
    cap (hypothesis found it: a first period of 24 hours with a daily cap below it)."""
    drawn = draw(RULES)
    fair = tuple(
        band
        if band.first_period is None
        else replace(
            band,
            first_period=FirstPeriod(
                min(band.first_period.minutes, band.period_minutes),
                max(band.first_period.fen, band.fen_per_period),
            ),
        )
        for band in drawn.bands
    )
    return replace(
        drawn,
        bands=fair,
        free_minutes=0,
        daily_cap_window=CapWindow.CALENDAR_DAY,
    )


@CHECK
@given(unsplittable_rules(), ENTRY, LENGTH, LENGTH)
def test_a_stay_split_in_two_never_costs_less_than_whole(
    rules: Rules, entered: datetime, first: timedelta, second: timedelta
) -> None:
    """Leaving at any instant and coming straight back costs at least the stay
    unbroken: every period and cap of the whole stay is met in one of the halves."""
    split = entered + first
    left = split + second
    whole = fee(rules, entered, left).total_fen
    halves = fee(rules, entered, split).total_fen + fee(rules, split, left).total_fen
    assert whole <= halves
