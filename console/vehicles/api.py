"""The vehicle events over HTTP (README, "HTTP API"): a lane's last vehicles, each
event's snapshot and plate crop, for logged-in agents, and the OCR's second reading of
its plate, for agents (``readings``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gates.plates import is_valid, normalise
from gates.wire import format_time

from ..directory import Directory
from ..errors import NotFound
from ..models import Role
from ..noplate.codes import is_temporary
from ..store import Store
from ..web import (
    JSONResponse,
    authenticate,
    check_csrf,
    client_address,
    int_param,
    require_role,
)
from .crops import CropCache, plate_crop
from .model import Reading, VehicleRecord
from .readings import PlateReadings
from .snapshots import read_snapshot

VEHICLES_DEFAULT = 20
VEHICLES_MAX = 200


@dataclass
class VehiclesApi:
    store: Store
    directory: Directory
    data_dir: Path
    readings: PlateReadings
    crops: CropCache = field(default_factory=CropCache)

    def routes(self) -> list[BaseRoute]:
        """Under ``/api``."""
        return [
            Route("/lanes/{lane_id}/vehicles", self.lane_vehicles),
            Route("/vehicles/{event_id}/snapshot", self.snapshot),
            Route("/vehicles/{event_id}/crop", self.crop),
            Route("/vehicles/{event_id}/reading", self.read_plate, methods=["POST"]),
        ]

    async def lane_vehicles(self, request: Request) -> Response:
        await authenticate(request, self.directory)
        limit = int_param(request, "limit", VEHICLES_DEFAULT, 1, VEHICLES_MAX)
        lane = await self.directory.lane(request.path_params["lane_id"])
        if lane is None:
            raise NotFound("unknown_lane", "no lane with that id")
        records = await self.store.lane_vehicles(lane.id, limit)
        return JSONResponse({"vehicles": [vehicle_json(record) for record in records]})

    async def snapshot(self, request: Request) -> Response:
        await authenticate(request, self.directory)
        record = await self.store.vehicle(request.path_params["event_id"])
        if record is None:
            raise NotFound("unknown_vehicle", "no vehicle event with that id")
        relative = record.event.snapshot
        jpeg = None
        if relative is not None:
            jpeg = await asyncio.to_thread(read_snapshot, self.data_dir, relative)
        if jpeg is None:
            raise NotFound("no_snapshot", "this event's snapshot was removed by retention")
        return Response(jpeg, media_type="image/jpeg")

    async def crop(self, request: Request) -> Response:
        """The plate crop (``crops``), made on a thread: decoding and enhancing a
        snapshot is milliseconds of CPU the event loop must not spend."""
        await authenticate(request, self.directory)
        record = await self.store.vehicle(request.path_params["event_id"])
        if record is None:
            raise NotFound("unknown_vehicle", "no vehicle event with that id")
        relative = record.event.snapshot
        if relative is None:
            raise NotFound("no_snapshot", "this event's snapshot was removed by retention")
        jpeg = self.crops.get(relative)
        if jpeg is None:
            jpeg = await asyncio.to_thread(plate_crop, self.data_dir, relative, record.event.box)
            self.crops.put(relative, jpeg)
        return Response(jpeg, media_type="image/jpeg")

    async def read_plate(self, request: Request) -> Response:
        """The OCR's reading of the event's plate (``readings``), made on the first ask
        and kept; an agent's, as it writes to the event and the ledger. No body."""
        user, session = await authenticate(request, self.directory)
        check_csrf(request, session)
        require_role(user, Role.AGENT)
        record = await self.readings.read(
            user, request.path_params["event_id"], client_address(request)
        )
        return JSONResponse(vehicle_json(record))


def vehicle_json(record: VehicleRecord) -> dict[str, Any]:
    event = record.event
    return {
        "event_id": event.event_id,
        "lane": event.lane,
        "car_park": event.car_park,
        "direction": event.direction.value,
        "at": format_time(event.at),
        "plate": event.plate,
        "plate_valid": is_valid(normalise(event.plate)),
        "no_plate": is_temporary(event.plate),
        "plate_colour": event.plate_colour.value,
        "confidence": event.confidence,
        "box": list(event.box),
        "corrected_plate": event.corrected_plate,
        "reading": None if event.reading is None else reading_json(event.reading),
        "reading_disagrees": event.reading_disagrees,
        "snapshot_url": (
            None if event.snapshot is None else f"/api/vehicles/{event.event_id}/snapshot"
        ),
        "crop_url": None if event.snapshot is None else crop_url(event.event_id),
        "stay_id": record.stay_id,
        "stay_change": record.change.value,
        "stay_state": None if record.stay_state is None else record.stay_state.value,
    }


def crop_url(event_id: str) -> str:
    return f"/api/vehicles/{event_id}/crop"


def reading_json(reading: Reading) -> dict[str, Any]:
    """The OCR's plate (``""`` when it read none), whether the car park accepts it, how
    sure the model was (0-1), and when it read it."""
    plate = reading.plate.plate
    return {
        "plate": plate,
        "plate_valid": is_valid(plate),
        "confidence": reading.plate.confidence,
        "at": format_time(reading.at),
    }
