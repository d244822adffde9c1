"""A blacklisted car the centre held at a lane, as kept for the day's call ledger: the
contract counts the calls of blacklist hits beside free releases and escapes
(``console.calls.daybook``).

A held driver presses call once the barrier stays down, some seconds to a few minutes
after the read; a call is a hit when a hold at its lane came in the ``BEFORE_CALL``
before it was queued or while it lasted. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

BEFORE_CALL = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class BlacklistHold:
    event_id: str
    lane: str
    car_park: str
    plate: str
    at: datetime  # the lane's time of the read


def held_for_call(
    lane: str, queued_at: datetime, ended_at: datetime, holds: Iterable[BlacklistHold]
) -> bool:
    return any(
        hold.lane == lane and queued_at - BEFORE_CALL <= hold.at <= ended_at for hold in holds
    )
