"""A stay's fee under a car park's rules (``rules.py`` says what each rule means), with
the breakdown a driver is shown: per day, the periods of each band, what they cost at
the band's prices and what is charged after its cap.

Exact: money is whole fen and time whole microseconds, added and divided as integers;
no float is ever involved. Computed in Asia/Shanghai whatever zone the two times carry,
so the same two instants always give the same fee. Pure: the caller passes both times.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import datetime, time, timedelta
from typing import Any

from gates.wire import format_time

from .errors import BadStay
from .localtime import DAY, at_clock, local
from .rules import Band, CapWindow, FirstPeriod, Rules


@dataclass(frozen=True, slots=True)
class FeeLine:
    """The periods of one stretch of a band that start in one day: the time they cover
    (``start`` to ``end``; the last may be cut short by the band's end or the exit), how
    many, their price at the band's rates, and what is charged once the band's cap is
    applied."""

    band: str
    start: datetime
    end: datetime
    periods: int
    priced_fen: int
    fen: int

    def to_json(self) -> dict[str, Any]:
        return {
            "band": self.band,
            "start": format_time(self.start),
            "end": format_time(self.end),
            "periods": self.periods,
            "priced_fen": self.priced_fen,
            "fen": self.fen,
        }


@dataclass(frozen=True, slots=True)
class FeeDay:
    """One day of the daily cap's window (a calendar day, or 24 hours from the entry),
    from ``start`` to ``end``, with the lines charged to it and what it costs after the
    daily cap."""

    start: datetime
    end: datetime
    lines: tuple[FeeLine, ...]
    fen: int

    @property
    def lines_fen(self) -> int:
        return sum(line.fen for line in self.lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.start.date().isoformat(),
            "start": format_time(self.start),
            "end": format_time(self.end),
            "lines": [line.to_json() for line in self.lines],
            "lines_fen": self.lines_fen,
            "fen": self.fen,
        }


@dataclass(frozen=True, slots=True)
class Fee:
    """What a stay costs. ``charged_from`` is where charging started (the entry, or the
    entry plus deducted free minutes), None for a stay within its free minutes; the
    total is the days' sum after the stay's cap."""

    entered_at: datetime
    left_at: datetime
    charged_from: datetime | None
    days: tuple[FeeDay, ...]
    total_fen: int

    @property
    def days_fen(self) -> int:
        return sum(day.fen for day in self.days)

    def to_json(self) -> dict[str, Any]:
        return {
            "entered_at": format_time(self.entered_at),
            "left_at": format_time(self.left_at),
            "charged_from": None if self.charged_from is None else format_time(self.charged_from),
            "days": [day.to_json() for day in self.days],
            "days_fen": self.days_fen,
            "total_fen": self.total_fen,
        }


def fee(rules: Rules, entered_at: datetime, left_at: datetime) -> Fee:
    """The fee of a stay from ``entered_at`` to ``left_at`` (aware datetimes, any zone).
    A naive time, a stay of no time or one that leaves before it entered is refused
    with ``BadStay``: a camera's clock gone wrong is a matter for the seat, not a free
    stay."""
    entered = local("entered_at", entered_at)
    left = local("left_at", left_at)
    if left <= entered:
        raise BadStay(
            "reversed_stay", f"the stay leaves at {left} at or before it entered at {entered}"
        )
    grace = timedelta(minutes=rules.free_minutes)
    if left - entered <= grace:
        return Fee(entered, left, None, (), 0)
    start = entered + grace if rules.free_minutes_deducted else entered
    by_day: dict[datetime, list[FeeLine]] = {}
    for index, (band, begin, end) in enumerate(_stretches(rules, start, left)):
        # The first period is the stay's: only the first stretch may price it apart.
        lead = band.first_period if index == 0 else None
        used = 0
        for day_start, line in _lines(band, lead, begin, end, rules.daily_cap_window, entered):
            # Each line takes what the band's cap leaves of its stretch.
            fen = line.fen if band.cap_fen is None else min(line.fen, band.cap_fen - used)
            used += fen
            by_day.setdefault(day_start, []).append(replace(line, fen=fen))
    days = tuple(_day(rules, day_start, lines) for day_start, lines in by_day.items())
    total = sum(day.fen for day in days)
    if rules.stay_cap_fen is not None:
        total = min(total, rules.stay_cap_fen)
    return Fee(entered, left, start, days, total)


def _day(rules: Rules, start: datetime, lines: list[FeeLine]) -> FeeDay:
    charged = sum(line.fen for line in lines)
    if rules.daily_cap_fen is not None:
        charged = min(charged, rules.daily_cap_fen)
    return FeeDay(start, start + DAY, tuple(lines), charged)


def _stretches(
    rules: Rules, start: datetime, end: datetime
) -> Iterator[tuple[Band, datetime, datetime]]:
    """The stay from ``start`` to ``end`` cut where it goes from one band into another:
    each stretch is in one band, start to end."""
    at = start
    while at < end:
        band = rules.band_at(at.hour * 60 + at.minute)
        if len(rules.bands) == 1:
            yield band, at, end
            return
        until = at_clock(at.date(), band.end)
        if until <= at:
            until = at_clock(at.date() + DAY, band.end)
        until = min(until, end)
        yield band, at, until
        at = until


def _lines(
    band: Band,
    lead: FirstPeriod | None,
    begin: datetime,
    end: datetime,
    window: CapWindow,
    entered: datetime,
) -> Iterator[tuple[datetime, FeeLine]]:
    """The periods of one stretch, as a line per day they start in (with that day's
    start), before the band's cap (``fen`` is ``priced_fen``). Counted, not walked, so
    a stay of months costs a few lines per day."""
    period = timedelta(minutes=band.period_minutes)
    # Regular periods start at ``origin`` and every ``period`` after it.
    origin = begin if lead is None else begin + timedelta(minutes=lead.minutes)
    at = begin
    while at < end:
        day_start = _day_start(window, entered, at)
        until = min(day_start + DAY, end)
        leads = 1 if lead is not None and at == begin else 0
        before = _starts_before(origin, period, at)
        regular = _starts_before(origin, period, until) - before
        if leads or regular:
            first = begin if leads else origin + before * period
            last_end = origin + (before + regular) * period if regular else origin
            priced = regular * band.fen_per_period + (lead.fen if leads and lead else 0)
            line = FeeLine(band.name, first, min(last_end, end), leads + regular, priced, priced)
            yield day_start, line
        at = until


def _starts_before(origin: datetime, period: timedelta, at: datetime) -> int:
    """How many periods from ``origin`` start before ``at``."""
    if at <= origin:
        return 0
    return -((origin - at) // period)


def _day_start(window: CapWindow, entered: datetime, at: datetime) -> datetime:
    """The start of the daily cap's day holding ``at``."""
    if window is CapWindow.ROLLING_24H:
        return entered + (at - entered) // DAY * DAY
    return at_clock(at.date(), time())
