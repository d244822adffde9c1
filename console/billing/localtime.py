"""The clock billing reads: Asia/Shanghai, where a car park's days, day and night bands
and monthly passes are counted, whatever zone a caller's times carry.

China has kept +08:00 without summer time since September 1991, but the tz database
remembers the summers of 1986–1991 (and of the 1940s), when a local day could be 23 or
25 hours long and a band's start could fall in a skipped hour. Billing refuses times
before 1992 rather than guess at those days: every day it accepts is 24 hours and every
clock time in it one instant, which the fee's arithmetic relies on. Nothing was parked
under this system then."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from .errors import BadStay

SHANGHAI = ZoneInfo("Asia/Shanghai")
FIRST_DAY = date(1992, 1, 1)
# The day after the last must still be a ``datetime``, as a stay's windows reach past it.
LAST_DAY = date(9998, 12, 31)
DAY = timedelta(days=1)


def local(name: str, at: datetime) -> datetime:
    """``at`` in Asia/Shanghai; a naive time (whose zone nobody knows) or one outside
    1992–9998 is refused with ``BadStay`` naming ``name``."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise BadStay("naive_time", f"{name} must carry its UTC offset (an aware datetime)")
    try:
        here = at.astimezone(SHANGHAI)
    except OverflowError:
        raise BadStay("out_of_range", f"{name} is outside the years datetime holds") from None
    if not FIRST_DAY <= here.date() <= LAST_DAY:
        raise BadStay(
            "out_of_range", f"{name} must fall between {FIRST_DAY} and {LAST_DAY} in Asia/Shanghai"
        )
    return here


def at_clock(day: date, clock: time) -> datetime:
    """The instant ``clock`` strikes on ``day`` in Asia/Shanghai."""
    return datetime.combine(day, clock, tzinfo=SHANGHAI)
