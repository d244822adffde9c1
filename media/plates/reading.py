"""What a plate reader read, apart from the reader: the store keeps and reads it back
without loading the model's numpy and OpenCV."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PlateReading:
    """What the model read: ``plate`` normalised as a plate is stored (not necessarily a
    valid one), ``confidence`` the least sure of its lines; ``""`` and 0.0 when it read
    nothing a plate could hold."""

    plate: str
    confidence: float

    @property
    def readable(self) -> bool:
        return self.plate != ""
