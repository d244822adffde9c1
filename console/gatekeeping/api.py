"""A car park's rules and plate lists, and escapes, over HTTP (README, "HTTP API")."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..actions import Actor
from ..billing.lists import PlateLists
from ..directory import Directory
from ..errors import NotFound
from ..fields import id_param
from ..models import Role
from ..store import Store
from ..web import JSONResponse, authenticate, check_csrf, client_address, read_json, require_role
from .escapes import Escapes, parse_escape


@dataclass
class GateKeepingApi:
    escapes: Escapes
    store: Store
    directory: Directory
    max_body_bytes: int

    def routes(self) -> list[BaseRoute]:
        """Under ``/api``."""
        return [
            Route("/parks/{car_park}", self.park),
            Route("/stays/{stay_id:int}/escape", self.escape, methods=["POST"]),
        ]

    async def park(self, request: Request) -> Response:
        """The car park's billing rules (null when none are set) and plate lists (empty
        when none are): what the centre decides its lanes by. Plates are personal data:
        agents and above only."""
        user, _ = await authenticate(request, self.directory)
        require_role(user, Role.AGENT)
        car_park = str(request.path_params["car_park"])
        if car_park not in {lane.car_park for lane in self.directory.lanes()}:
            raise NotFound("unknown_car_park", "no lane is in that car park")
        rules = await self.store.billing_rules(car_park)
        lists = await self.store.plate_lists(car_park) or PlateLists()
        return JSONResponse(
            {
                "car_park": car_park,
                "rules": None if rules is None else rules.to_json(),
                "lists": lists.to_json(),
            }
        )

    async def escape(self, request: Request) -> Response:
        user, session = await authenticate(request, self.directory)
        check_csrf(request, session)
        require_role(user, Role.AGENT)
        parsed = parse_escape(await read_json(request, self.max_body_bytes))
        stay_id = id_param(request.path_params, "stay_id", code="unknown_stay", what="stay")
        debt = await self.escapes.record(Actor(user, client_address(request)), stay_id, parsed)
        return JSONResponse({**debt.to_json(), "stay_id": stay_id}, status_code=201)
