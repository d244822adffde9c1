"""A car park's billing rules, as data: what an operator writes, read strictly, and what
the fee (``fees.py``) charges by them.

What they mean, in the order the fee applies them:

- **Free minutes.** A stay at or under ``free_minutes`` costs nothing. A longer one is
  charged from its entry (``free_minutes_deducted`` false, the default: the grace is
  there for a driver who turns round, not a discount on every stay), or from
  ``free_minutes`` after its entry (``free_minutes_deducted`` true: the first minutes of
  every stay are free).
- **Bands.** The day is cut into bands by wall-clock time in Asia/Shanghai, e.g. day
  08:00–20:00 and night 20:00–08:00; together they cover the 24 hours exactly once. A
  band whose end is at or before its start runs over midnight; one whose end equals its
  start is the whole day. The time a stay spends in one band without leaving it (one
  night, from 20:00 to 08:00, midnight included) is charged in periods of that band's
  ``period_minutes``, each ``fen_per_period``, counted from the time the stay came into
  the band; a started period is charged whole, and a new band starts new periods.
- **First period.** A band may price the stay's first period apart (``first_period``:
  "first hour 5 yuan"); it applies when the stay's charging starts in that band, to the
  first period only, which then lasts ``first_period.minutes`` instead of the band's
  ``period_minutes`` (cut short by the band's end, it is still charged whole).
- **Band cap.** ``cap_fen`` caps what one stretch of a band costs (each night at most
  1000 fen).
- **Daily cap.** ``daily_cap_fen`` caps each day's charge, a day being a calendar day in
  Asia/Shanghai (``daily_cap_window`` ``calendar_day``: the cap starts again at midnight)
  or each 24 hours from the entry (``rolling_24h``). A period is charged to the day in
  which it starts.
- **Stay cap.** ``stay_cap_fen`` caps the whole stay.

Splitting a stay in two never lowers its fee when there are no free minutes, no first
period is cheaper or longer than a period of its band, and the daily cap (if any) is by
calendar day: then leaving and coming straight back cannot make parking cheaper
(``tests/test_billing_properties.py`` checks it). With free minutes it can, each stay
having its own; with a first period longer than the band's, charged whole to the day
it starts in, it can around midnight under a daily cap; under a rolling daily cap,
whose days start again at each entry, it is not promised.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import time
from typing import Any

from .errors import BadRules
from .reading import Reader

DAY_MINUTES = 24 * 60
# Bands of half an hour each are the finest an operator plausibly writes.
BANDS_MAX = 48
NAME_MAX = 32

_RULE_KEYS = (
    "free_minutes",
    "free_minutes_deducted",
    "bands",
    "daily_cap_fen",
    "daily_cap_window",
    "stay_cap_fen",
)
_BAND_KEYS = ("name", "start", "end", "period_minutes", "fen_per_period", "first_period", "cap_fen")
_FIRST_KEYS = ("minutes", "fen")


class CapWindow(enum.StrEnum):
    """The day a daily cap is counted over."""

    CALENDAR_DAY = "calendar_day"  # 00:00 to 24:00 in Asia/Shanghai
    ROLLING_24H = "rolling_24h"  # each 24 hours from the entry


@dataclass(frozen=True, slots=True)
class FirstPeriod:
    minutes: int
    fen: int

    def to_json(self) -> dict[str, Any]:
        return {"minutes": self.minutes, "fen": self.fen}


@dataclass(frozen=True, slots=True)
class Band:
    name: str
    start: time
    end: time
    period_minutes: int
    fen_per_period: int
    first_period: FirstPeriod | None = None
    cap_fen: int | None = None

    @property
    def start_minute(self) -> int:
        return self.start.hour * 60 + self.start.minute

    @property
    def minutes(self) -> int:
        """How long the band lasts each day."""
        end = self.end.hour * 60 + self.end.minute
        return (end - self.start_minute) % DAY_MINUTES or DAY_MINUTES

    def covers(self, minute: int) -> bool:
        """Whether the band holds the minute ``minute`` of the day (0 to 1439)."""
        return (minute - self.start_minute) % DAY_MINUTES < self.minutes

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "start": self.start.strftime("%H:%M"),
            "end": self.end.strftime("%H:%M"),
            "period_minutes": self.period_minutes,
            "fen_per_period": self.fen_per_period,
            "first_period": None if self.first_period is None else self.first_period.to_json(),
            "cap_fen": self.cap_fen,
        }


@dataclass(frozen=True, slots=True)
class Rules:
    """A car park's billing rules; the module's docstring says what each means. Built
    only with periods of some time, no negative amount and bands that tile the day
    (``BadRules`` otherwise), however it is built."""

    bands: tuple[Band, ...]
    free_minutes: int = 0
    free_minutes_deducted: bool = False
    daily_cap_fen: int | None = None
    daily_cap_window: CapWindow = CapWindow.CALENDAR_DAY
    stay_cap_fen: int | None = None

    def __post_init__(self) -> None:
        _check_values(self)
        _check_tiling(self.bands)

    def band_at(self, minute: int) -> Band:
        """The band holding the minute ``minute`` of the day."""
        return next(band for band in self.bands if band.covers(minute))

    @classmethod
    def parse(cls, value: object) -> Rules:
        fields = Reader.of(value, "", _RULE_KEYS, BadRules)
        bands = tuple(
            _parse_band(item, f"bands[{i}]")
            for i, item in enumerate(fields.items("bands", max_len=BANDS_MAX))
        )
        return cls(
            bands=bands,
            free_minutes=fields.whole(
                "free_minutes", low=0, high=DAY_MINUTES, code="bad_minutes", default=0
            ),
            free_minutes_deducted=fields.flag("free_minutes_deducted", default=False),
            daily_cap_fen=fields.fen("daily_cap_fen", default=None),
            daily_cap_window=fields.choice(
                "daily_cap_window", CapWindow, default=CapWindow.CALENDAR_DAY
            ),
            stay_cap_fen=fields.fen("stay_cap_fen", default=None),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "free_minutes": self.free_minutes,
            "free_minutes_deducted": self.free_minutes_deducted,
            "bands": [band.to_json() for band in self.bands],
            "daily_cap_fen": self.daily_cap_fen,
            "daily_cap_window": self.daily_cap_window.value,
            "stay_cap_fen": self.stay_cap_fen,
        }


def _parse_band(value: object, where: str) -> Band:
    fields = Reader.of(value, where, _BAND_KEYS, BadRules)
    first = None
    if fields.has("first_period"):
        nested = Reader.of(
            fields.fields["first_period"], fields.path("first_period"), _FIRST_KEYS, BadRules
        )
        first = FirstPeriod(_minutes(nested, "minutes"), nested.fen("fen"))
    return Band(
        name=fields.text("name", max_len=NAME_MAX),
        start=fields.clock("start"),
        end=fields.clock("end"),
        period_minutes=_minutes(fields, "period_minutes"),
        fen_per_period=fields.fen("fen_per_period"),
        first_period=first,
        cap_fen=fields.fen("cap_fen", default=None),
    )


def _minutes(fields: Reader, name: str) -> int:
    # A period of no time would charge without end; one over a day is not a period.
    value: int = fields.whole(name, low=1, high=DAY_MINUTES, code="bad_minutes")
    return value


def _check_values(rules: Rules) -> None:
    """What ``parse`` refuses at its field, refused again for rules built in code, so no
    fee divides by a period of no time or charges a negative amount."""
    minutes: list[tuple[str, int, int]] = [("free_minutes", rules.free_minutes, 0)]
    amounts = [("daily_cap_fen", rules.daily_cap_fen), ("stay_cap_fen", rules.stay_cap_fen)]
    for band in rules.bands:
        minutes.append((f"band {band.name!r}'s period_minutes", band.period_minutes, 1))
        amounts.append((f"band {band.name!r}'s fen_per_period", band.fen_per_period))
        amounts.append((f"band {band.name!r}'s cap_fen", band.cap_fen))
        if band.first_period is not None:
            minutes.append((f"band {band.name!r}'s first period", band.first_period.minutes, 1))
            amounts.append((f"band {band.name!r}'s first period", band.first_period.fen))
    for name, value, low in minutes:
        if not low <= value <= DAY_MINUTES:
            raise BadRules("bad_minutes", f"{name} must be from {low} to {DAY_MINUTES} minutes")
    for name, amount in amounts:
        if amount is not None and amount < 0:
            raise BadRules("bad_amount", f"{name} must be 0 fen or more")


def _check_tiling(bands: tuple[Band, ...]) -> None:
    """The bands cover each minute of the day exactly once, under distinct names."""
    if not bands:
        raise BadRules("bands_gap", "bands must cover the day: give at least one")
    names = [band.name for band in bands]
    for name in names:
        if names.count(name) > 1:
            raise BadRules("bad_name", f"two bands are named {name!r}: a fee line names its band")
    owner: list[Band | None] = [None] * DAY_MINUTES
    for band in bands:
        for step in range(band.minutes):
            minute = (band.start_minute + step) % DAY_MINUTES
            other = owner[minute]
            if other is not None:
                raise BadRules(
                    "bands_overlap",
                    f"bands {other.name!r} ({_span(other)}) and {band.name!r} ({_span(band)})"
                    f" both cover {_clock(minute)}",
                )
            owner[minute] = band
    if None in owner:
        # Start at an uncovered minute after a covered one, so a gap over midnight is
        # named whole (20:00–08:00, not 00:00–08:00).
        first = next(m for m in range(DAY_MINUTES) if owner[m] is None and owner[m - 1] is not None)
        last = first
        while owner[(last + 1) % DAY_MINUTES] is None:
            last += 1
        raise BadRules(
            "bands_gap",
            f"no band covers {_clock(first)}–{_clock((last + 1) % DAY_MINUTES)}:"
            " the bands must tile the day",
        )


def _span(band: Band) -> str:
    return f"{band.start:%H:%M}–{band.end:%H:%M}"


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"
