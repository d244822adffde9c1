"""What a driver's scan of a lane's no-plate code may do. Pure: the lane's direction,
what the phone holds and the fee in; the page to show, or the refusal, out.

- At an **entry**, a phone with no open no-plate stay opens one, and the gate lifts.
  One open stay per phone, anywhere: a second would let one phone wave a convoy in.
- At an **exit**, the phone's open stay in that car park is shown with its fee; it
  leaves free when the fee is 0 (or the car park charges nothing), else pays first
  (``console.payments``) and the gate lifts once paid. A phone with no stay there
  (another phone, or one that never entered) is told so and nothing happens.
"""

from __future__ import annotations

import enum
from typing import Final

from gates.vocabulary import Direction

from .errors import NoStay, StayRefused
from .model import NoPlateStay


class Page(enum.StrEnum):
    """The pages of ``web/noplate.html``."""

    ENTER = "enter"  # an entry's code, this phone holds no stay: "入场" button
    ENTERED = "entered"  # the stay is open, the gate lifting (or lifted before)
    LEAVE = "leave"  # an exit's code, the phone's stay and its fee: "离场"/"缴费离场"
    LEFT = "left"  # a free exit done
    SCAN = "scan"  # a paid exit with WeChat Pay: scan the display's code in WeChat
    NO_STAY = "no_stay"  # an exit's code, this phone holds no stay in this car park
    HELD = "held"  # an entry's code, the phone holds a stay already
    EXPIRED = "expired"  # an old or used code
    INVALID = "invalid"  # no code of this centre
    BUSY = "busy"  # too many scans: try again in a moment
    CALL = "call"  # the centre cannot do it now (no payment provider, the ledger down)


# A camera that reads a waiting plate-less car again and again is one car: its lane's
# code goes up again by itself only after this long, not once per read (each is a
# ledgered display command).
SHOW_AGAIN_S: Final = 10.0


class Showings:
    """When a lane's code goes up by itself after a read with no plate. The caller
    passes the time (monotonic seconds)."""

    def __init__(self, again_s: float = SHOW_AGAIN_S) -> None:
        self.again_s = again_s
        self._at: dict[str, float] = {}

    def due(self, lane_id: str, now: float) -> bool:
        """Whether to show ``lane_id``'s code now; if so, it counts as shown."""
        last = self._at.get(lane_id)
        if last is not None and now - last < self.again_s:
            return False
        self._at[lane_id] = now
        return True


class ExitWay(enum.StrEnum):
    FREE = "free"
    PAY = "pay"


def page_for(direction: Direction, held: NoPlateStay | None) -> Page:
    """What a phone holding ``held`` (its open stay in the lane's car park, or None)
    sees when it opens a lane's code."""
    if direction is Direction.ENTRY:
        return Page.ENTER if held is None else Page.HELD
    return Page.NO_STAY if held is None else Page.LEAVE


def check_entry(direction: Direction) -> None:
    if direction is not Direction.ENTRY:
        raise StayRefused("wrong_direction", "this is an exit's code: scan it to leave")


def check_exit(direction: Direction, held: NoPlateStay | None) -> NoPlateStay:
    if direction is not Direction.EXIT:
        raise StayRefused("wrong_direction", "this is an entry's code: scan it to enter")
    if held is None:
        raise NoStay("noplate_no_stay", "this phone holds no open no-plate stay here")
    return held


def exit_way(fee_fen: int) -> ExitWay:
    if fee_fen < 0:
        raise ValueError(f"a fee is never negative, not {fee_fen}")
    return ExitWay.PAY if fee_fen else ExitWay.FREE
