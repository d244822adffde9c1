"""What a car passing a lane does to the car park's stays (停车记录).

A stay is one car's time in one car park, from the entry camera's read to the exit
camera's. The rules, for a read of plate P at a lane of car park C:

- **entry**, no open stay of P in C: a stay opens;
- **entry** while P already has an open stay in C: the exit was never seen (the exit
  camera missed it, the car left by a lane with no camera, or tailgated out). The old
  stay closes as ``no_exit`` and a new one opens: the car is in now, and billing from
  the old entry would charge the driver for days they were not parked;
- **exit** with an open stay of P in C: that stay closes as ``exited``;
- **exit** with none: a stay of the exit alone, ``no_entry`` (无入场记录). It is kept
  for an agent to resolve: the entry is usually there under a misread plate, which
  ``console.stays.match`` finds among the open stays;
- a read with **no plate** (the camera saw a vehicle and read nothing) changes no stay:
  every such car would otherwise be "the same plate".

One open stay per plate per car park, at most; plates compare as
``gates.plates.normalise`` spells them, valid or not (misread plates are what get
re-matched). Pure: the open stay, if any, in; the change to make out.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from gates.plates import normalise
from gates.vocabulary import Direction


class StayState(enum.StrEnum):
    OPEN = "open"
    EXITED = "exited"  # closed by its plate's exit
    NO_EXIT = "no_exit"  # closed by its plate's next entry, its exit never seen
    NO_ENTRY = "no_entry"  # an exit with no open stay: 无入场记录


class StayChange(enum.StrEnum):
    """What one read did to the stays, as its record shows it."""

    OPENED = "opened"
    REOPENED = "reopened"  # opened, closing the plate's open stay as ``no_exit``
    CLOSED = "closed"
    NO_ENTRY = "no_entry"
    UNREAD = "unread"  # no plate read: no stay


@dataclass(frozen=True, slots=True)
class StayStep:
    """The change to make: close stay ``close`` as ``closed_as``, then add a stay in
    state ``new`` holding the read (as its entry when ``OPEN``, its exit when
    ``NO_ENTRY``)."""

    change: StayChange
    close: int | None = None
    closed_as: StayState | None = None
    new: StayState | None = None


def stay_key(plate: str) -> str:
    """The plate as stays are kept and found under."""
    return normalise(plate)


def step(direction: Direction, plate: str, open_stay: int | None) -> StayStep:
    """The change a read of ``plate`` at a lane of ``direction`` makes, given the id of
    the plate's open stay in that car park (None: it has none)."""
    if not stay_key(plate):
        return StayStep(StayChange.UNREAD)
    if direction is Direction.ENTRY:
        if open_stay is None:
            return StayStep(StayChange.OPENED, new=StayState.OPEN)
        return StayStep(StayChange.REOPENED, open_stay, StayState.NO_EXIT, StayState.OPEN)
    if open_stay is None:
        return StayStep(StayChange.NO_ENTRY, new=StayState.NO_ENTRY)
    return StayStep(StayChange.CLOSED, open_stay, StayState.EXITED)
