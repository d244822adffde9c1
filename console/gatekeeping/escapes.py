"""Escapes (逃费): an agent records that a stay's car left without paying, or the exit
lane reports it (the lane link's ``escape``), and the stay's fee becomes a debt of its
plate (``console.billing.debts``), owed at every car park
until a paid order clears it.

The debt is the fee the car park's rules charge the stay up to its end (its exit, or
now for a stay still open: a car that slipped out unread), or the sum the agent gives,
with the note that is always asked for. It is written with its ledger entry in one
transaction, the entry first (``Store.add_debt``): no entry, no debt. A stay still open
ends there, as ``no_exit``: the car is gone. A stay is owed once; a stay a paid order
settled owes nothing. The debt is the stay's fee, so it is never asked for beside that
fee (``charges.stay_charge``): an order for the stay, open when the escape was recorded
or issued after it, clears the debt once paid.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from gates.plates import normalise
from gates.protocol import Escape
from gates.textrules import visible
from gates.wire import format_time

from ..actions import Actor
from ..audit import AuditLog
from ..billing.debts import Debt
from ..billing.lists import classify
from ..billing.stays import fee_for_stay
from ..errors import BadRequest, Conflict, ConsoleError, NotFound, StoreError
from ..fields import json_object, note_field
from ..ledger import AuditAction, AuditRecord
from ..models import LaneRecord
from ..payments.orders import read_amount
from ..stays.match import StayDelta, StayIndex
from ..stays.records import StayState
from ..store import Store
from ..vehicles.model import StayRecord
from .lists import CurrentLists

log = logging.getLogger("seat.gatekeeping")


@dataclass(frozen=True, slots=True)
class EscapeRequest:
    note: str
    amount_fen: int | None  # None: what the rules charge the stay


def parse_escape(body: object) -> EscapeRequest:
    fields = json_object(body)
    note = note_field(fields)
    if not visible(note):
        raise BadRequest("note_required", "say what happened: an escape needs a note")
    amount = fields.get("amount_fen")
    return EscapeRequest(note, None if amount is None else read_amount(amount))


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Escapes:
    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        lists: CurrentLists,
        open_stays: StayIndex,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.store = store
        self.audit = audit
        self.lists = lists
        self.open_stays = open_stays  # the re-matching's, which an escape's stay leaves
        self._clock = clock

    async def record(self, actor: Actor, stay_id: int, request: EscapeRequest) -> Debt:
        """An agent's word: the debt of stay ``stay_id``'s escape."""
        context = {"role": actor.user.role.value, "remote": actor.remote}
        return await self._record(actor.user.username, stay_id, request, context)

    async def reported(self, lane: LaneRecord, report: Escape) -> Debt | None:
        """A lane's own record of an escape at its exit: the debt of the plate's latest
        stay at the lane's car park entered before ``report.at``, by the rules, as the
        actor ``lane:<id>``. What cannot be owed (no such stay, no rules, a stay owed or
        paid already, the same report again) is ledgered with its code as the
        ``outcome`` and no debt, so a report is never lost; None then."""
        who = f"lane:{lane.id}"
        plate = normalise(report.plate)
        context = {"lane": lane.id, "report": report.event_id, "reported_at": report.at}
        stay_id = await self.store.latest_stay(lane.car_park, plate, report.at)
        try:
            if stay_id is None:
                raise NotFound("unknown_stay", f"no stay of {plate} entered before the report")
            note = f"reported by lane {lane.id}"
            return await self._record(who, stay_id, EscapeRequest(note, None), context)
        except ConsoleError as exc:
            if exc.code == "audit_failed":
                raise
            await self.audit.record(
                AuditRecord(
                    actor=who,
                    action=AuditAction.ESCAPE_RECORDED,
                    lane=lane.id,
                    outcome=exc.code,
                    detail={"stay": stay_id, "plate": plate, **_jsonable(context)},
                )
            )
            log.warning(
                "escapes.report.unowed lane=%s report=%s error=%s",
                lane.id,
                report.event_id,
                exc.code,
            )
            return None

    async def _record(
        self, who: str, stay_id: int, request: EscapeRequest, context: dict[str, Any]
    ) -> Debt:
        """The debt of stay ``stay_id``'s escape. ``unknown_stay``; ``no_plate`` for a
        stay of no plate; the rules' refusals (``no_billing_rules``, ``no_entry_time``)
        when no sum is given; ``nothing_owed`` for a stay they charge nothing;
        ``escape_recorded`` and ``stay_paid`` from the store."""
        stay = await self.store.stay(stay_id)
        if stay is None:
            raise NotFound("unknown_stay", "no stay with that id")
        if not stay.plate:
            raise Conflict("no_plate", f"stay {stay_id} has no plate to owe a debt")
        now = self._clock()
        ended = stay.closed_at if stay.state is not StayState.OPEN and stay.closed_at else now
        rules_fen = None
        amount = request.amount_fen
        if amount is None:
            amount = rules_fen = await self._fee(stay, ended)
            if rules_fen == 0:
                raise Conflict(
                    "nothing_owed", f"the rules charge stay {stay_id} nothing: give amount_fen"
                )
        debt = Debt(uuid.uuid4().hex, stay.plate, stay.car_park, amount, ended)
        record = AuditRecord(
            actor=who,
            action=AuditAction.ESCAPE_RECORDED,
            lane=context.get("lane"),
            detail={
                "stay": stay_id,
                "state": stay.state.value,
                "ends_stay": stay.state is StayState.OPEN,
                "debt": debt.to_json(),
                "rules_fen": rules_fen,
                "note": request.note,
                **_jsonable(context),
            },
        )
        try:
            entries = await self.store.add_debt(record, debt, stay_id, request.note)
        except StoreError as exc:
            raise StoreError(
                "audit_failed", f"not recorded: the ledger could not record it ({exc.detail})"
            ) from exc
        self.audit.announce(entries)
        self.open_stays.apply(StayDelta(closed=(stay_id,)))
        log.info(
            "escapes.recorded stay=%d debt=%s car_park=%s fen=%d closed=%s",
            stay_id,
            debt.id,
            debt.car_park,
            debt.fen,
            stay.state is StayState.OPEN,
        )
        return debt

    async def _fee(self, stay: StayRecord, ended: datetime) -> int:
        if classify(stay.plate, stay.car_park, await self.lists.get(), ended).free:
            return 0
        rules = await self.store.billing_rules(stay.car_park)
        return fee_for_stay(rules, stay, ended).total_fen


def _jsonable(context: dict[str, Any]) -> dict[str, Any]:
    return {
        key: format_time(value) if isinstance(value, datetime) else value
        for key, value in context.items()
    }
