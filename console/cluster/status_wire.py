"""A lane's status as one server tells the others, whole: the console of any server
shows what the lane's own server knows (its snapshot too), not a summary of it."""

from __future__ import annotations

import base64
import json
from datetime import datetime
from typing import Any

from gates.centre.status import ActiveFault, LaneStatus, LastVehicle
from gates.protocol import DisplaySize
from gates.vocabulary import GateState, PlateColour
from gates.wire import format_time


def encode(server: str, status: LaneStatus) -> bytes:
    """``status`` as held by ``server``."""
    vehicle = status.last_vehicle
    fields: dict[str, Any] = {
        "server": server,
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
        "snapshot": None if status.snapshot is None else base64.b64encode(status.snapshot).decode(),
        "last_call_at": None if status.last_call_at is None else format_time(status.last_call_at),
        "faults": [fault.to_json() for fault in status.faults],
        "display": status.display.to_json(),
    }
    return json.dumps(fields, separators=(",", ":")).encode()


def decode(data: bytes | str) -> tuple[str, LaneStatus]:
    """The server and the status ``encode`` made; ``ValueError`` (or ``KeyError``,
    ``TypeError``) for anything else."""
    fields = json.loads(data)
    vehicle = fields["last_vehicle"]
    snapshot = fields["snapshot"]
    last_call_at = fields["last_call_at"]
    status = LaneStatus(
        lane=str(fields["lane"]),
        online=bool(fields["online"]),
        gate=GateState(fields["gate"]),
        last_vehicle=None
        if vehicle is None
        else LastVehicle(
            str(vehicle["plate"]),
            PlateColour(vehicle["plate_colour"]),
            float(vehicle["confidence"]),
            datetime.fromisoformat(vehicle["at"]),
            (
                int(vehicle["box"][0]),
                int(vehicle["box"][1]),
                int(vehicle["box"][2]),
                int(vehicle["box"][3]),
            ),
        ),
        snapshot=None if snapshot is None else base64.b64decode(snapshot, validate=True),
        last_call_at=None if last_call_at is None else datetime.fromisoformat(last_call_at),
        faults=tuple(
            ActiveFault(str(f["code"]), str(f["detail"]), datetime.fromisoformat(f["at"]))
            for f in fields["faults"]
        ),
        display=DisplaySize(int(fields["display"]["lines"]), int(fields["display"]["chars"])),
    )
    return str(fields["server"]), status
