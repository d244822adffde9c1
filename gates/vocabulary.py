"""The words both ends of the lane link, and every package, share: which way a lane
faces, where its barrier is, what colour a plate is. Values only; no I/O."""

from __future__ import annotations

import enum


class Direction(enum.StrEnum):
    ENTRY = "entry"
    EXIT = "exit"


class GateState(enum.StrEnum):
    DOWN = "down"
    RISING = "rising"
    UP = "up"
    FALLING = "falling"
    UNKNOWN = "unknown"


class PlateColour(enum.StrEnum):
    """Plate background colours of GA 36-2018."""

    BLUE = "blue"  # small passenger cars
    YELLOW = "yellow"  # large vehicles, learner cars
    GREEN = "green"  # new-energy small cars (gradient green)
    YELLOW_GREEN = "yellow_green"  # new-energy large vehicles
    WHITE = "white"  # police, armed police, 应急 fire and rescue
    BLACK = "black"  # embassies, consulates, Hong Kong / Macao cross-border
    UNKNOWN = "unknown"
