"""What the centre knows of a lane right now, folded from the lane's messages."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from gates.plates import is_valid
from gates.protocol import (
    MAX_DISPLAY,
    Call,
    DeviceInfo,
    DisplaySize,
    Fault,
    Gate,
    LaneMessage,
    Vehicle,
)
from gates.vocabulary import GateState, PlateColour
from gates.wire import format_time


@dataclass(frozen=True, slots=True)
class LastVehicle:
    plate: str
    plate_colour: PlateColour
    confidence: float
    at: datetime
    box: tuple[int, int, int, int]

    def to_json(self) -> dict[str, Any]:
        return {
            "plate": self.plate,
            "plate_colour": self.plate_colour.value,
            "confidence": self.confidence,
            "at": format_time(self.at),
            "box": list(self.box),
            "plate_valid": is_valid(self.plate),
        }


@dataclass(frozen=True, slots=True)
class ActiveFault:
    code: str
    detail: str
    at: datetime

    def to_json(self) -> dict[str, Any]:
        return {"code": self.code, "detail": self.detail, "at": format_time(self.at)}


@dataclass(frozen=True, slots=True)
class LaneStatus:
    lane: str
    online: bool = False
    gate: GateState = GateState.UNKNOWN
    last_vehicle: LastVehicle | None = None
    snapshot: bytes | None = field(default=None, repr=False)
    last_call_at: datetime | None = None
    faults: tuple[ActiveFault, ...] = ()
    # As the lane last stated it: a lane offline for a while still has the same panel.
    display: DisplaySize = MAX_DISPLAY
    # Likewise its devices: whoever services an offline lane still needs to know them.
    devices: tuple[DeviceInfo, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The lane's live fields as the HTTP API and the console stream show them."""
        return {
            "online": self.online,
            "gate": self.gate.value,
            "last_vehicle": self.last_vehicle.to_json() if self.last_vehicle else None,
            "last_call_at": format_time(self.last_call_at) if self.last_call_at else None,
            "fault": self.faults[-1].to_json() if self.faults else None,
            "faults": [fault.to_json() for fault in self.faults],
            "display": self.display.to_json(),
            "devices": [device.to_json() for device in self.devices],
        }


def fold(status: LaneStatus, message: LaneMessage, now: datetime) -> LaneStatus:
    """The status after ``message``; the same object when nothing a viewer sees changed."""
    if isinstance(message, Gate):
        return status if status.gate is message.state else replace(status, gate=message.state)
    if isinstance(message, Vehicle):
        if message.late:
            return status  # a car seen while the lane was away is not at the gate now
        vehicle = LastVehicle(
            message.plate, message.plate_colour, message.confidence, message.at, message.box
        )
        return replace(status, last_vehicle=vehicle, snapshot=message.snapshot)
    if isinstance(message, Call):
        return replace(status, last_call_at=now)
    if isinstance(message, Fault):
        if message.active:
            return with_fault(status, ActiveFault(message.code, message.detail, now))
        return without_fault(status, message.code)
    return status


def with_fault(status: LaneStatus, fault: ActiveFault) -> LaneStatus:
    """``fault`` raised, replacing any standing fault of its code, and shown last."""
    others = tuple(f for f in status.faults if f.code != fault.code)
    return replace(status, faults=(*others, fault))


def without_fault(status: LaneStatus, code: str) -> LaneStatus:
    """The fault ``code`` cleared; the same object when it was not standing."""
    others = tuple(f for f in status.faults if f.code != code)
    return status if others == status.faults else replace(status, faults=others)
