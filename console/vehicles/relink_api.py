"""Correcting plates and matching exits over HTTP (README, "HTTP API", and "Plate
correction and re-matching"): thin handlers over ``Relinking``, with the console's
session, role, CSRF and body rules."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gates.plates import PLATE_MAX, normalise
from gates.textrules import is_ident, parse_count
from gates.wire import format_time

from ..accounts import NAME_MAX
from ..directory import Directory
from ..errors import BadRequest, NotFound
from ..fields import id_param, json_object, note_field, plate_field, query_fields, text_field
from ..models import Role, User
from ..noplate.codes import is_temporary
from ..stays.match import Candidate
from ..web import (
    JSONResponse,
    authenticate,
    check_csrf,
    client_address,
    read_json,
    require_role,
)
from .api import crop_url, vehicle_json
from .relink import Relinking

EVENT_ID_MAX: Final = 64  # the lane link's ids (gates.textrules.IDENT)
CANDIDATES_DEFAULT: Final = 5
CANDIDATES_MAX: Final = 20
# car_park and plate at their longest, percent-encoded (9 bytes a character), and limit.


@dataclass(frozen=True, slots=True)
class CandidateQuery:
    car_park: str
    plate: str  # normalised, valid or not: misreads are what is matched
    limit: int


def parse_candidates(params: Sequence[tuple[str, str]], length: int) -> CandidateQuery:
    """``car_park`` and ``plate`` (both required, one line of text each, at most
    ``NAME_MAX`` and ``PLATE_MAX`` characters), ``limit`` from 1 to ``CANDIDATES_MAX``.
    ``length`` is the raw query string's, in bytes. A parameter given twice, or one not
    known, is refused rather than one value picked or a typo ignored."""
    values = query_fields(params, length, ("car_park", "plate", "limit"))
    car_park = text_field(values, "car_park", max_len=NAME_MAX)
    plate = normalise(text_field(values, "plate", max_len=PLATE_MAX))
    for name, value in (("car_park", car_park), ("plate", plate)):
        if not value.strip():
            raise BadRequest("bad_request", f"{name!r} is empty")
    limit = CANDIDATES_DEFAULT
    if "limit" in values:
        count = parse_count(values["limit"])
        if count is None or not 1 <= count <= CANDIDATES_MAX:
            raise BadRequest("bad_request", f"limit must be an integer from 1 to {CANDIDATES_MAX}")
        limit = count
    return CandidateQuery(car_park, plate, limit)


@dataclass
class RelinkApi:
    relinking: Relinking
    directory: Directory
    max_body_bytes: int

    def routes(self) -> list[BaseRoute]:
        """Under ``/api``."""
        return [
            Route("/vehicles/{event_id}/plate", self.correct, methods=["POST"]),
            Route("/stays/candidates", self.candidates),
            Route("/stays/{stay_id:int}/match", self.match, methods=["POST"]),
        ]

    async def correct(self, request: Request) -> Response:
        user = await self._acting(request)
        fields = json_object(await read_json(request, self.max_body_bytes))
        plate = plate_field(fields)
        note = note_field(fields)
        record = await self.relinking.correct(
            user, request.path_params["event_id"], plate, note, client_address(request)
        )
        return JSONResponse(vehicle_json(record))

    async def candidates(self, request: Request) -> Response:
        user, _ = await authenticate(request, self.directory)
        require_role(user, Role.AGENT)
        query = parse_candidates(
            request.query_params.multi_items(), len(request.scope["query_string"])
        )
        if query.car_park not in {lane.car_park for lane in self.directory.lanes()}:
            raise NotFound("unknown_car_park", "no lane is in that car park")
        found = self.relinking.candidates(query.plate, query.car_park, query.limit)
        return JSONResponse({"candidates": [candidate_json(each) for each in found]})

    async def match(self, request: Request) -> Response:
        user = await self._acting(request)
        fields = json_object(await read_json(request, self.max_body_bytes))
        event_id = text_field(fields, "event_id", max_len=EVENT_ID_MAX)
        if not is_ident(event_id):
            raise BadRequest("bad_request", "'event_id' is not a vehicle event's id")
        stay_id = id_param(request.path_params, "stay_id", code="unknown_stay", what="stay")
        record = await self.relinking.match(user, stay_id, event_id, client_address(request))
        return JSONResponse(vehicle_json(record))

    async def _acting(self, request: Request) -> User:
        """An agent or above behind a state-changing request, its CSRF token checked."""
        user, session = await authenticate(request, self.directory)
        check_csrf(request, session)
        require_role(user, Role.AGENT)
        return user


def candidate_json(candidate: Candidate) -> dict[str, Any]:
    stay = candidate.stay
    return {
        "stay_id": stay.stay_id,
        "plate": stay.plate,
        "no_plate": is_temporary(stay.plate),
        "car_park": stay.car_park,
        "entered_at": format_time(stay.entered_at),
        "entry_event": stay.entry_event,
        "cost": candidate.cost,
        "score": round(candidate.score, 6),
        "crop_url": None if stay.entry_event is None else crop_url(stay.entry_event),
    }
