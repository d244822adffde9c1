"""The seam between the lane agent and the lane's hardware.

The lane agent speaks the lane link; a driver speaks to the hardware: a relay that lifts
the barrier, an LPR camera that reads plates, an intercom button, an LED display. The
agent never knows which driver it has, so a relay board or a vendor camera SDK plugs in
here without touching the link code. ``gates.lane.sim`` is the simulated lane.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable
from uuid import uuid4

from gates.vocabulary import GateState, PlateColour


@dataclass(frozen=True, slots=True)
class VehicleSeen:
    """The LPR camera read a plate. ``plate`` is what the camera read, right or wrong."""

    at: datetime
    plate: str
    plate_colour: PlateColour
    confidence: float
    box: tuple[int, int, int, int]  # x, y, width, height of the plate in the snapshot
    snapshot_jpeg: bytes
    # The camera kept it while the lane was away and sends it now (``at`` is when it was
    # seen): the centre records it but does not show it as the car at the gate.
    late: bool = False


@dataclass(frozen=True, slots=True)
class GateChanged:
    state: GateState


@dataclass(frozen=True, slots=True)
class CallPressed:
    """The driver pressed the intercom's call button. ``event_id`` names the press on
    the link (``Call.event_id``), given when pressed: an intercom that holds the call it
    made knows it by this id when the centre says the call is over (``CallHolder``)."""

    event_id: str = field(default_factory=lambda: uuid4().hex)


@dataclass(frozen=True, slots=True)
class CallEnded:
    """The intercom hung up the call its press ``event_id`` made (the door station
    said BYE, or went silent): the driver who called has gone."""

    event_id: str


@dataclass(frozen=True, slots=True)
class EscapeSeen:
    """A car went out through the exit without an open for it (the loop detector
    counted it); ``plate`` is the one the camera last read there."""

    at: datetime
    plate: str


@dataclass(frozen=True, slots=True)
class FaultRaised:
    """A fault began, or (``active=False``) cleared."""

    code: str
    detail: str
    active: bool = True


LaneEvent = VehicleSeen | GateChanged | CallPressed | CallEnded | EscapeSeen | FaultRaised


class DriverRefused(Exception):
    """The hardware will not carry out a command; ``reason`` goes to the centre as is."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@runtime_checkable
class LinkWatcher(Protocol):
    """A driver, or a device, that acts on whether the lane is linked to a centre: a
    camera with storage of its own keeps the cars it saw while the lane is cut off, in
    thousands, rather than hand them to the lane's backlog of ``LaneSession.BACKLOG``."""

    def link_changed(self, up: bool) -> None: ...


@runtime_checkable
class CallHolder(Protocol):
    """A driver, or a device, whose intercom keeps a call up until one side hangs up (a
    SIP door station stays off-hook): told that the centre's call made by the presses
    ``event_ids`` is over, it hangs up the call of one of them if it still holds it,
    and does nothing otherwise (a later call of the door's is not that one)."""

    def end_call(self, event_ids: tuple[str, ...]) -> None: ...


class LaneDriver(Protocol):
    """What the lane agent needs from a lane's hardware."""

    async def run(self, emit: Callable[[LaneEvent], None]) -> None:
        """Watch the hardware until cancelled, calling ``emit`` for each event."""

    async def open_gate(self) -> str | None:
        """Lift the barrier; return once it is up, or raise ``DriverRefused``. What it
        returns is the ``done``'s detail: what the hardware could not confirm (None or
        "" when it confirmed it all)."""

    async def display(self, lines: tuple[str, ...], qr: str | None = None) -> str | None:
        """Show ``lines`` on the lane display and, with ``qr`` (a URL), its QR code, or
        raise ``DriverRefused``; returns the detail as ``open_gate`` does. A display that
        cannot draw a QR code refuses ``display_no_qr``, or shows the lines and says in
        the detail that the code did not go up; never the lines alone in silence: the
        agent would believe the driver has a code to scan."""
