"""The vehicle events over HTTP (README, "HTTP API"): a lane's last vehicles, and each
event's snapshot and plate crop, for logged-in agents."""

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
from ..noplate.codes import is_temporary
from ..store import Store
from ..web import JSONResponse, authenticate, int_param
from .crops import CropCache, plate_crop
from .model import VehicleRecord
from .snapshots import read_snapshot

VEHICLES_DEFAULT = 20
VEHICLES_MAX = 200


@dataclass
class VehiclesApi:
    store: Store
    directory: Directory
    data_dir: Path
    crops: CropCache = field(default_factory=CropCache)

    def routes(self) -> list[BaseRoute]:
        """Under ``/api``."""
        return [
            Route("/lanes/{lane_id}/vehicles", self.lane_vehicles),
            Route("/vehicles/{event_id}/snapshot", self.snapshot),
            Route("/vehicles/{event_id}/crop", self.crop),
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
