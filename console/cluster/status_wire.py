"""A lane's status as its server tells the others (kind ``lane_status``), and as the
hash ``seat:lanes:status`` keeps it: what another server's console shows of the lane
(online, gate, last vehicle, last call, faults, display, devices), not its snapshot. A
snapshot is a JPEG of up to a lane message's size: kept in every lane's field and sent
with every change of its gate, it would fill Redis and every server's memory with
pictures few consoles look at. A console that shows one asks the lane's server for it
(``ClusterLanes.snapshot``). Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from gates.centre.status import ActiveFault, LaneStatus, LastVehicle
from gates.errors import LinkError
from gates.protocol import DeviceInfo, DisplaySize, parse_devices
from gates.vocabulary import GateState, PlateColour
from gates.wire import format_time

from .envelope import EnvelopeError, Fields


@dataclass(frozen=True, slots=True)
class StatusReport:
    KIND: ClassVar[str] = "lane_status"

    status: LaneStatus

    def to_json(self) -> dict[str, Any]:
        status, vehicle, called = self.status, self.status.last_vehicle, self.status.last_call_at
        return {
            "lane": status.lane,
            "online": status.online,
            "gate": status.gate.value,
            "last_vehicle": None
            if vehicle is None
            else {
                "plate": vehicle.plate,
                "plate_colour": vehicle.plate_colour.value,
                "confidence": vehicle.confidence,
                "at": format_time(vehicle.at),
                "box": list(vehicle.box),
            },
            "last_call_at": None if called is None else format_time(called),
            "faults": [fault.to_json() for fault in status.faults],
            "display": status.display.to_json(),
            "devices": [device.to_json() for device in status.devices],
        }

    @classmethod
    def from_fields(cls, fields: Fields) -> Self:
        vehicle = None
        if fields.optional_obj("last_vehicle") is not None:
            vehicle = _vehicle(fields.nested("last_vehicle"))
        display = fields.nested("display")
        try:
            size = DisplaySize.from_fields(display.members)
        except LinkError as exc:
            raise EnvelopeError(f"{display.where}: {exc.detail}") from None
        # A server of the version before this member's reports no devices.
        devices: tuple[DeviceInfo, ...] = ()
        if "devices" in fields.members:
            try:
                devices = parse_devices(fields.members["devices"])
            except LinkError as exc:
                raise EnvelopeError(f"{fields.where}: {exc.detail}") from None
        status = LaneStatus(
            lane=fields.ident("lane"),
            online=fields.flag("online"),
            gate=fields.choice("gate", GateState),
            last_vehicle=vehicle,
            last_call_at=fields.optional_time("last_call_at"),
            faults=tuple(
                ActiveFault(fault.text("code"), fault.text("detail", empty=True), fault.time("at"))
                for fault in fields.each("faults")
            ),
            display=size,
            devices=devices,
        )
        return cls(status)


def _vehicle(fields: Fields) -> LastVehicle:
    box = fields.items("box")
    if len(box) != 4 or any(type(side) is not int for side in box):
        raise EnvelopeError(f"{fields.where}: 'box' is not four integers")
    return LastVehicle(
        fields.text("plate", empty=True),
        fields.choice("plate_colour", PlateColour),
        fields.number("confidence"),
        fields.time("at"),
        (box[0], box[1], box[2], box[3]),
    )
