"""A no-plate stay as the store keeps it and the API shows it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gates.wire import format_time

from ..stays.records import StayState


@dataclass(frozen=True, slots=True)
class NoPlateStay:
    """A stay opened by a driver's phone. ``plate`` is the stay's plate now: its
    temporary ``identity`` until an agent links it to the car's real plate. ``phone``
    is the id in the phone's cookie, which never leaves the centre."""

    stay_id: int
    car_park: str
    identity: str
    plate: str
    state: StayState
    entry_lane: str
    entry_event: str
    entered_at: datetime
    closed_at: datetime | None
    phone: str

    @property
    def linked(self) -> bool:
        return self.plate != self.identity

    def to_json(self) -> dict[str, Any]:
        return {
            "stay_id": self.stay_id,
            "car_park": self.car_park,
            "no_plate": True,
            "identity": self.identity,
            "plate": self.plate,
            "linked": self.linked,
            "state": self.state.value,
            "entry_lane": self.entry_lane,
            "entry_event": self.entry_event,
            "entered_at": format_time(self.entered_at),
            "closed_at": None if self.closed_at is None else format_time(self.closed_at),
        }
