"""The centre's decisions at the lanes carried out (``decide``), one per vehicle event
the recorder keeps, as the ``system`` actor.

Entry releases are the centre's, not the lane's: a lane's own controller cannot know
the blacklist, so a lane linked to a centre leaves its barrier down (the simulated
lane's ``auto_open_p`` is 0 by default) and the centre opens it, reason ``entry``, for
a plate read well that no blacklist holds. At an exit the centre opens for a monthly
pass, the whitelist or a stay the rules charge nothing (``monthly_pass``,
``whitelist``, ``free_minutes``), and otherwise issues the payment order itself, through
``Payments.issue``, so the QR code is on the lane's display before the driver calls;
a stay an order paid for already is let out for it (reason ``paid``, the order named),
never charged twice.

Every step is in the ledger before it takes effect: opens and orders are audited by
``Actions`` and ``Payments``; a blacklisted plate held and a plate that owes debts
coming in are ledgered (``blacklist_held``, with the hold the day's call ledger flags, and
``debtor_entered``) and then alerted on the tabs of the users who cover the car park (a
``plate_alert`` stream message). Events are decided one at a time, in the order they
were recorded; a decision that fails is logged and left to the seat. An exit lane's own
report of an escape (the lane link's ``escape``) is taken in the same order and recorded
by ``Escapes.reported``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from gates.centre.hub import LaneHub
from gates.plates import is_valid, normalise
from gates.protocol import Escape, LaneMessage
from gates.wire import format_time

from ..actions import Actions, OpenRequest
from ..audience import covering
from ..audit import AuditLog
from ..billing.debts import Debt
from ..billing.errors import BillingError, NoBillingRules
from ..billing.lists import Classification, Decision, classify
from ..billing.stays import fee_for_stay
from ..directory import Directory
from ..errors import ConsoleError
from ..ledger import AuditAction, AuditRecord
from ..models import Direction, LaneRecord
from ..payments.lifting import SYSTEM
from ..payments.orders import PaymentOrder
from ..payments.service import OrderRequest, Payments
from ..stays.records import StayChange
from ..store import Store
from ..streams import Streams
from ..vehicles.model import Recorded, VehicleRecord
from ..vehicles.recorder import VehicleRecorder
from .decide import AlertKind, LaneDecision, Verdict, decide_entry, decide_exit
from .escapes import Escapes
from .holds import BlacklistHold
from .lists import CurrentLists

log = logging.getLogger("seat.gatekeeping")

# Events waiting for a decision, at most; each holds only its id.
BACKLOG_MAX = 1000

_ALERT_ACTIONS = {
    AlertKind.BLACKLIST: AuditAction.BLACKLIST_HELD,
    AlertKind.DEBTOR: AuditAction.DEBTOR_ENTERED,
}


class GateKeeper:
    def __init__(
        self,
        store: Store,
        directory: Directory,
        audit: AuditLog,
        actions: Actions,
        payments: Payments,
        streams: Streams,
        recorder: VehicleRecorder,
        lists: CurrentLists,
        hub: LaneHub,
        escapes: Escapes,
    ) -> None:
        self.store = store
        self.directory = directory
        self.audit = audit
        self.actions = actions
        self.payments = payments
        self.streams = streams
        self.recorder = recorder
        self.lists = lists
        self.hub = hub
        self.escapes = escapes
        # A recorded event's id, or a lane's escape report, in arrival order.
        self._backlog: asyncio.Queue[str | tuple[str, Escape] | None] = asyncio.Queue(BACKLOG_MAX)
        # Events and escape reports dropped by a full backlog since the start: never
        # decided, so the car waits for the seat (``/healthz``).
        self.dropped = 0
        self._unsubscribe: list[Callable[[], None]] = []
        self._worker: asyncio.Task[None] | None = None
        # Opens and orders under way: each waits for its lane's answer, which must not
        # hold up the next car's decision at another lane.
        self._carrying: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._unsubscribe = [
            self.recorder.subscribe(self._recorded),
            self.hub.subscribe_messages(self._lane_message),
        ]
        self._worker = asyncio.create_task(self._work())

    async def close(self) -> None:
        """Stops listening, decides what was recorded already, then stops."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self._worker is None:
            return
        await self._backlog.put(None)
        await self._worker
        if self._carrying:
            await asyncio.wait(self._carrying)

    def _recorded(self, recorded: Recorded) -> None:
        if not recorded.new:  # a lane's resend after a reconnect: decided already
            return
        try:
            self._backlog.put_nowait(recorded.event_id)
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("gatekeeping.event.dropped event_id=%s", recorded.event_id)

    def _lane_message(self, lane_id: str, message: LaneMessage) -> None:
        if not isinstance(message, Escape):
            return
        try:
            self._backlog.put_nowait((lane_id, message))
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("gatekeeping.escape.dropped lane=%s report=%s", lane_id, message.event_id)

    async def _work(self) -> None:
        while (item := await self._backlog.get()) is not None:
            try:
                if isinstance(item, str):
                    await self.decide(item)
                else:
                    await self._reported(*item)
            except (ConsoleError, OSError, ValueError) as exc:  # ValueError: a row unreadable
                log.error(
                    "gatekeeping.decision.failed item=%s error=%r",
                    item if isinstance(item, str) else item[1].event_id,
                    exc,
                )

    async def _reported(self, lane_id: str, report: Escape) -> None:
        lane = await self.directory.lane(lane_id)
        if lane is None or lane.direction is not Direction.EXIT:
            log.warning("gatekeeping.escape.ignored lane=%s report=%s", lane_id, report.event_id)
            return
        await self.escapes.reported(lane, report)

    async def decide(self, event_id: str) -> LaneDecision | None:
        """Decides event ``event_id`` and carries the decision out; None for an event
        or lane no longer there."""
        record = await self.store.vehicle(event_id)
        lane = None if record is None else await self.directory.lane(record.event.lane)
        if record is None or lane is None:
            return None
        event = record.event
        plate = normalise(event.corrected_plate or event.plate)
        lists = await self.lists.get()
        classification = (
            classify(plate, lane.car_park, lists, event.at)
            if plate
            else Classification(Decision.CHARGE)
        )
        # The plate's debts but its own stay's: an exit's fee is that stay's already.
        debts = await self.store.owed_debts(plate, record.stay_id) if plate else []
        paid: PaymentOrder | None = None  # the order that settled the stay already
        if lane.direction is Direction.ENTRY:
            decision = decide_entry(plate, is_valid(plate), classification, debts)
        else:
            fee = await self._fee(record, classification) if plate else None
            if record.change is StayChange.CLOSED and record.stay_id is not None:
                paid = await self.store.paid_order_of_stay(record.stay_id)
            decision = decide_exit(plate, classification, fee, debts, paid=paid is not None)
        log.info(
            "gatekeeping.decided lane=%s event_id=%s verdict=%s reason=%s why=%s alerts=%s",
            lane.id,
            event_id,
            decision.verdict.value,
            decision.reason,
            decision.why,
            [alert.value for alert in decision.alerts],
        )
        for alert in decision.alerts:
            await self._alert(alert, lane, record, plate, classification, debts)
        if decision.verdict is Verdict.RELEASE and decision.reason is not None:
            order_id = None if paid is None else paid.order_id
            opening = OpenRequest(decision.reason, "", order_id=order_id)
            self._carry(event_id, self.actions.open_gate(SYSTEM, lane, opening))
        elif decision.verdict is Verdict.CHARGE:
            ordering = OrderRequest(plate, record.stay_id, None, "")
            self._carry(event_id, self.payments.issue(SYSTEM, lane, ordering))
        return decision

    def _carry(self, event_id: str, work: Awaitable[object]) -> None:
        """Carries a decision out in a task of its own; a failure is logged and left to
        the seat (no payment provider, the ledger failing: nothing was done)."""

        async def run() -> None:
            try:
                await work
            except ConsoleError as exc:
                log.error(
                    "gatekeeping.decision.failed item=%s error=%s %s",
                    event_id,
                    exc.code,
                    exc.detail,
                )

        task = asyncio.create_task(run())
        self._carrying.add(task)
        task.add_done_callback(self._carrying.discard)

    async def _fee(self, record: VehicleRecord, classification: Classification) -> int | None:
        """The fee of the stay this exit closed, up to the exit; None when it closed
        none or no fee can be computed (no rules, no entry time): the seat settles it."""
        if classification.free:
            return 0
        if record.change is not StayChange.CLOSED or record.stay_id is None:
            return None
        stay = await self.store.stay(record.stay_id)
        if stay is None:
            return None
        try:
            return fee_for_stay(
                await self.store.billing_rules(stay.car_park), stay, record.event.at
            ).total_fen
        except (NoBillingRules, BillingError) as exc:  # no rules; no_entry_time
            log.info(
                "gatekeeping.fee.unknown event_id=%s stay=%d error=%s",
                record.event.event_id,
                stay.stay_id,
                exc.code,
            )
            return None

    async def _alert(
        self,
        kind: AlertKind,
        lane: LaneRecord,
        record: VehicleRecord,
        plate: str,
        classification: Classification,
        debts: list[Debt],
    ) -> None:
        """Ledgered, then shown on the tabs of the users who cover the car park."""
        event = record.event
        alert: dict[str, Any] = {
            "kind": kind.value,
            "lane": lane.id,
            "car_park": lane.car_park,
            "direction": lane.direction.value,
            "event_id": event.event_id,
            "plate": plate,
            "at": format_time(event.at),
        }
        if kind is AlertKind.BLACKLIST and classification.entry is not None:
            alert["note"] = getattr(classification.entry, "note", "")
        if kind is AlertKind.DEBTOR:
            alert["debts"] = [debt.to_json() for debt in debts]
            alert["debts_fen"] = sum(debt.fen for debt in debts)
        record_ = AuditRecord(
            actor=SYSTEM.user.username, action=_ALERT_ACTIONS[kind], lane=lane.id, detail=alert
        )
        if kind is AlertKind.BLACKLIST:  # kept for the day's call ledger, with its entry
            hold = BlacklistHold(event.event_id, lane.id, lane.car_park, plate, event.at)
            self.audit.announce(await self.store.add_blacklist_hold(record_, hold))
        else:
            await self.audit.record(record_)
        message = {"type": "plate_alert", "alert": alert}
        self.streams.tell(covering(lane.car_park), message)
        log.warning(
            "gatekeeping.alert kind=%s lane=%s event_id=%s", kind.value, lane.id, event.event_id
        )
