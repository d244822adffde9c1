"""No-plate stays over HTTP (README, "HTTP API"): an agent puts a lane's no-plate code
on its display, lists a car park's no-plate stays, and links one to the car's real
plate. Thin handlers over ``NoPlate``, with the console's session, role, CSRF and body
rules."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gates.textrules import parse_count

from ..accounts import NAME_MAX
from ..actions import Actor
from ..directory import Directory
from ..errors import BadRequest, NotFound
from ..fields import id_param, json_object, note_field, plate_field, query_fields, text_field
from ..models import Role, User
from ..vehicles.api import vehicle_json
from ..web import JSONResponse, authenticate, check_csrf, client_address, read_json, require_role
from .service import NoPlate

STAYS_DEFAULT: Final = 50
STAYS_MAX: Final = 500


@dataclass
class NoPlateApi:
    noplate: NoPlate
    directory: Directory
    max_body_bytes: int

    def routes(self) -> list[BaseRoute]:
        """Under ``/api``."""
        return [
            Route("/lanes/{lane_id}/noplate", self.show, methods=["POST"]),
            Route("/noplate/stays", self.stays),
            Route("/noplate/stays/{stay_id:int}/plate", self.link, methods=["POST"]),
        ]

    async def show(self, request: Request) -> Response:
        """A fresh code on the lane's display (a driver at the barrier whose car the
        camera read as something): its URL, its QR code, when it stops working."""
        user = await self._acting(request)
        lane = await self.directory.lane(request.path_params["lane_id"])
        if lane is None:
            raise NotFound("unknown_lane", "no lane with that id")
        json_object(await read_json(request, self.max_body_bytes))
        shown = await self.noplate.show_code(Actor(user, client_address(request)), lane)
        return JSONResponse(shown.to_json(), status_code=201)

    async def stays(self, request: Request) -> Response:
        user, _ = await authenticate(request, self.directory)
        require_role(user, Role.AGENT)
        values = query_fields(
            request.query_params.multi_items(),
            len(request.scope["query_string"]),
            ("car_park", "limit"),
        )
        car_park = text_field(values, "car_park", max_len=NAME_MAX)
        if car_park not in {lane.car_park for lane in self.directory.lanes()}:
            raise NotFound("unknown_car_park", "no lane is in that car park")
        limit = STAYS_DEFAULT
        if "limit" in values:
            count = parse_count(values["limit"])
            if count is None or not 1 <= count <= STAYS_MAX:
                raise BadRequest("bad_request", f"limit must be an integer from 1 to {STAYS_MAX}")
            limit = count
        found = await self.noplate.stays(car_park, limit)
        return JSONResponse({"stays": [stay.to_json() for stay in found]})

    async def link(self, request: Request) -> Response:
        user = await self._acting(request)
        fields = json_object(await read_json(request, self.max_body_bytes))
        plate = plate_field(fields)
        note = note_field(fields)
        stay_id = id_param(request.path_params, "stay_id", code="unknown_stay", what="stay")
        record = await self.noplate.link(user, stay_id, plate, note, client_address(request))
        stay = await self.noplate.store.noplate_stay(stay_id)
        return JSONResponse(
            {"stay": None if stay is None else stay.to_json(), "entry": vehicle_json(record)}
        )

    async def _acting(self, request: Request) -> User:
        user, session = await authenticate(request, self.directory)
        check_csrf(request, session)
        require_role(user, Role.AGENT)
        return user
