"""Payment orders over HTTP (README, "HTTP API"): an agent issues an order at a lane,
reads it back with its notifications and gate commands, and opens the gate again for a
paid order that did not lift."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gates.wire import format_time

from ..actions import Actor
from ..directory import Directory
from ..errors import NotFound
from ..fields import json_object, note_field, plate_field
from ..models import Role
from ..store import Store
from ..views import outcome_json
from ..web import JSONResponse, authenticate, check_csrf, client_address, read_json, require_role
from .errors import BadOrder, UnknownOrder
from .orders import read_amount
from .service import OrderRequest, Payments, qr_base64
from .telling import order_view


def parse_order(body: object) -> OrderRequest:
    fields = json_object(body)
    plate = plate_field(fields, required=False) or None
    stay_id = fields.get("stay_id")
    if stay_id is not None and (type(stay_id) is not int or stay_id < 1):
        raise BadOrder("invalid_stay_id", "stay_id must be a stay's id, a whole number from 1")
    amount = fields.get("amount_fen")
    return OrderRequest(
        plate=plate,
        stay_id=stay_id,
        amount_fen=None if amount is None else read_amount(amount),
        reason=note_field(fields, "reason"),
    )


@dataclass
class PaymentsApi:
    payments: Payments
    store: Store
    directory: Directory
    max_body_bytes: int

    def routes(self) -> list[BaseRoute]:
        """Under ``/api``."""
        return [
            Route("/lanes/{lane_id}/payment", self.issue, methods=["POST"]),
            Route("/payments/{order_id}", self.order),
            Route("/payments/{order_id}/open", self.open, methods=["POST"]),
        ]

    async def issue(self, request: Request) -> Response:
        user, session = await authenticate(request, self.directory)
        check_csrf(request, session)
        require_role(user, Role.AGENT)
        lane = await self.directory.lane(request.path_params["lane_id"])
        if lane is None:
            raise NotFound("unknown_lane", "no lane with that id")
        parsed = parse_order(await read_json(request, self.max_body_bytes))
        issued = await self.payments.issue(Actor(user, client_address(request)), lane, parsed)
        return JSONResponse(
            {
                "order_id": issued.order.order_id,
                "url": issued.url,
                "qr_png": qr_base64(issued.qr_png),
                "amount_fen": issued.order.amount_fen,
                "rules_fen": issued.order.rules_fen,
                "expires_at": format_time(issued.order.expires_at),
                "display": issued.display,
            },
            status_code=201,
        )

    async def order(self, request: Request) -> Response:
        await authenticate(request, self.directory)
        view = await order_view(self.store, str(request.path_params["order_id"]), datetime.now(UTC))
        if view is None:
            raise UnknownOrder("unknown_order", "no payment order with that id")
        return JSONResponse(view)

    async def open(self, request: Request) -> Response:
        user, session = await authenticate(request, self.directory)
        check_csrf(request, session)
        require_role(user, Role.AGENT)
        fields = json_object(await read_json(request, self.max_body_bytes))
        result = await self.payments.retry_open(
            Actor(user, client_address(request)),
            str(request.path_params["order_id"]),
            note_field(fields),
        )
        return JSONResponse(outcome_json(result))
