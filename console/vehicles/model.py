"""A vehicle event as the centre keeps it, and as it reads it back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from console.ledger import AuditEntry
from console.stays.match import StayDelta
from console.stays.records import StayChange, StayState
from gates.plates import normalise
from gates.vocabulary import Direction, PlateColour
from media.plates.reading import PlateReading


@dataclass(frozen=True, slots=True)
class VehicleEvent:
    """One car passing a lane: the camera's read as the lane sent it, where, and the
    snapshot's file (a path under the data directory; None once retention removed it)."""

    event_id: str  # the lane's: a repeat sent after a reconnect is this event again
    lane: str
    car_park: str
    direction: Direction
    at: datetime  # the lane's time of the read
    received_at: datetime  # the centre's: which day's snapshots hold its picture
    plate: str  # as the camera read it, right or wrong; empty when it read none
    plate_colour: PlateColour
    confidence: float
    box: tuple[int, int, int, int]
    snapshot: str | None
    corrected_plate: str | None = None
    reading: Reading | None = None  # the OCR's, once an agent asked for it

    @property
    def reading_disagrees(self) -> bool:
        """Whether the OCR read a plate other than the camera's: the camera may have
        misread it, and an agent should look. An OCR that read nothing says nothing."""
        return (
            self.reading is not None
            and self.reading.plate.readable
            and self.reading.plate.plate != normalise(self.plate)
        )


@dataclass(frozen=True, slots=True)
class Reading:
    """The second reading of an event's plate (``media.plates.ocr``), and when it was made."""

    plate: PlateReading
    at: datetime


@dataclass(frozen=True, slots=True)
class Recorded:
    """What recording an event did: ``new`` is False for an event id already kept (and
    then nothing changed); ``stay_id`` is the stay it opened, closed or made; ``stays``
    what that did to the open stays."""

    event_id: str
    new: bool
    change: StayChange
    stay_id: int | None
    stays: StayDelta = field(default_factory=StayDelta)


@dataclass(frozen=True, slots=True)
class VehicleRecord:
    """A kept event with what it did to the stays and that stay's state now."""

    event: VehicleEvent
    change: StayChange
    stay_id: int | None
    stay_state: StayState | None


@dataclass(frozen=True, slots=True)
class Relinked:
    """What an agent's correction or match left: the event's stay now and its change,
    what became of the open stays, and the ledger entry written with it."""

    stay_id: int | None
    change: StayChange
    stays: StayDelta
    entries: tuple[AuditEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class StayRecord:
    """A stay as the store keeps it (``console.stays.records``)."""

    stay_id: int
    car_park: str
    plate: str
    state: StayState
    entry_event: str | None
    entered_at: datetime | None
    closed_at: datetime | None = None  # its exit's time, or the entry's that closed it
