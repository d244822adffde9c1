"""One stay over HTTP (README, "HTTP API"): what the call workspace shows beside an
exit's crop once the exit has its stay, the entry's crop and what the car park's rules
charge the stay now (nothing for a monthly pass or the whitelist) and the debts its plate
owes from escapes: the amount a payment order would take from them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gates.wire import format_time

from ..billing.debts import Debt
from ..billing.errors import BadStay, NoBillingRules
from ..directory import Directory
from ..errors import NotFound
from ..fields import id_param
from ..gatekeeping.charges import stay_charge
from ..gatekeeping.lists import CurrentLists
from ..models import Role
from ..noplate.codes import is_temporary
from ..store import Store
from ..vehicles.api import crop_url
from ..vehicles.model import StayRecord
from ..web import JSONResponse, authenticate, require_role


def stay_json(
    stay: StayRecord,
    fee_fen: int | None,
    fee_error: str | None,
    debts: Sequence[Debt] = (),
    escape: Debt | None = None,
) -> dict[str, Any]:
    """The stay as the workspace shows it. A fee that cannot be computed is ``null``
    with its reason, not an error: the stay is still worth seeing (its entry's crop),
    and an agent settles its fee by hand. ``debts`` are its plate's from other stays'
    escapes, which an order for the stay asks for beside the fee; ``escape`` is the
    debt this stay's own escape left, while owed: its fee (an order for it clears it)."""
    return {
        "stay_id": stay.stay_id,
        "plate": stay.plate,
        "no_plate": is_temporary(stay.plate),
        "car_park": stay.car_park,
        "state": stay.state.value,
        "entered_at": None if stay.entered_at is None else format_time(stay.entered_at),
        "entry_event": stay.entry_event,
        "crop_url": None if stay.entry_event is None else crop_url(stay.entry_event),
        "fee_fen": fee_fen,
        "fee_error": fee_error,
        "debts": [debt.to_json() for debt in debts],
        "debts_fen": sum(debt.fen for debt in debts),
        "escape": None if escape is None else escape.to_json(),
    }


@dataclass
class StaysApi:
    store: Store
    directory: Directory
    lists: CurrentLists

    def routes(self) -> list[BaseRoute]:
        """Under ``/api``."""
        return [Route("/stays/{stay_id:int}", self.stay)]

    async def stay(self, request: Request) -> Response:
        user, _ = await authenticate(request, self.directory)
        require_role(user, Role.AGENT)
        stay_id = id_param(request.path_params, "stay_id", code="unknown_stay", what="stay")
        stay = await self.store.stay(stay_id)
        if stay is None:
            raise NotFound("unknown_stay", "no stay with that id")
        escape = await self.store.stay_debt(stay_id)
        try:
            charge = await stay_charge(
                self.store, await self.lists.get(), stay.plate, stay, datetime.now(UTC)
            )
        except (NoBillingRules, BadStay) as refused:
            debts = await self.store.owed_debts(stay.plate, stay_id)
            return JSONResponse(stay_json(stay, None, refused.code, debts, escape))
        return JSONResponse(stay_json(stay, charge.fee_fen, None, charge.debts, escape))
