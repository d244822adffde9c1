"""Which camera reads are the same car read again.

An LPR camera reads a car over and over while it stands at the barrier (the driver
pays, reaches for a ticket, talks to the intercom): three reads of one plate in five
seconds are one car passing, and a record per read would open and close stays for a car
that went nowhere. So a read repeats when its lane saw the same plate less than
``window_s`` from it; the window runs from the plate's latest read, repeats included, so a
car waiting a minute with a read every few seconds stays one event.

Plates compare as ``gates.plates.normalise`` spells them. A read with no plate (the
camera saw a vehicle but read nothing, 无牌车) never repeats: two of them cannot be told
to be one car. Times are the lane's own (``at`` of its reads): a lane's clock is
compared only with itself. Pure: reads in, verdicts out; the state is in memory, so a
restarted centre takes the next read as new.
"""

from __future__ import annotations

from datetime import datetime

from console.errors import BadRequest
from gates.plates import normalise


class RepeatFilter:
    """Remembers, per lane, the plates read within the window."""

    def __init__(self, window_s: float) -> None:
        if not window_s >= 0:
            raise BadRequest("invalid_window", f"window_s must be 0 or more, not {window_s}")
        self.window_s = window_s
        self._seen: dict[str, dict[str, datetime]] = {}

    def is_repeat(self, lane: str, plate: str, at: datetime) -> bool:
        """Whether ``plate`` read at ``lane`` at ``at`` is a car already read; either way
        the read is remembered, so a repeat extends the window."""
        if at.tzinfo is None:
            raise BadRequest("naive_time", "at must be an aware datetime")
        key = normalise(plate)
        if not key:
            return False
        seen = self._seen.setdefault(lane, {})
        # Forget what is out of the window, so a lane holds only the last few cars.
        for old, last in list(seen.items()):
            if abs((at - last).total_seconds()) >= self.window_s:
                del seen[old]
        repeat = key in seen
        seen[key] = at if not repeat else max(at, seen[key])
        return repeat
