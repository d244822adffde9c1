"""Lifting the barrier for a paid order, and keeping each open beside its order.

A paid order opens its lane's gate by itself, as the ``system`` actor with reason
``paid``; an agent opens for one whose gate did not lift. Either way the open is kept
with the order as asked and again with its outcome (``payment_opens``), each told on the
stream, so "paid but not lifted" is answered from the order, and the driver is told on
the display.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from gates.centre.commands import Outcome

from ..actions import ActionResult, Actions, Actor, DisplayRequest, OpenReason, OpenRequest
from ..errors import ConsoleError, NotFound, StoreError
from ..models import Role, User
from ..store import Store
from .orders import GateOpen, OrderState, PaymentOrder, paid_late
from .telling import OrderTeller

log = logging.getLogger("seat.payments")

# The centre itself, as the ledger names it when it opens a gate for a paid order.
SYSTEM = Actor(User("system", Role.AGENT, "", datetime(2000, 1, 1, tzinfo=UTC)), "centre")


class PaidOpens:
    def __init__(
        self, store: Store, actions: Actions, teller: OrderTeller, now: Callable[[], datetime]
    ) -> None:
        self.store = store
        self.actions = actions
        self.teller = teller
        self._now = now

    async def open_paid(self, order: PaymentOrder) -> None:
        """The system's open for a paid order, in a task of its own: whatever stops it
        (the lane removed, the ledger or the database failing, the lane not lifting) is
        told with the order, as its ``order`` message with ``open_failed``, for a driver
        who paid is waiting at a closed barrier until an agent sees it."""
        try:
            result = await self.open_for(SYSTEM, order, OpenReason.PAID)
        except ConsoleError as exc:
            log.error(
                "payments.open.failed order=%s lane=%s error=%s", order.order_id, order.lane, exc
            )
            await self._tell_not_lifted(order, exc.code, exc.detail)
            return
        resolved = result.resolved
        if resolved.outcome is not Outcome.DONE:
            await self._tell_not_lifted(order, resolved.outcome.value, resolved.detail)

    async def _tell_not_lifted(self, order: PaymentOrder, code: str, detail: str) -> None:
        log.warning(
            "payments.open.not_lifted order=%s lane=%s why=%s", order.order_id, order.lane, code
        )
        await self.teller.tell(order.order_id, open_failed={"error": code, "detail": detail})

    async def open_for(
        self, actor: Actor, order: PaymentOrder, reason: OpenReason, note: str = ""
    ) -> ActionResult:
        """Open the order's lane for it, keep the open beside the order as asked and
        again with its outcome (each told on the stream), and tell the driver on the
        display."""
        lane = await self.store.get_lane(order.lane)
        if lane is None:
            raise NotFound("unknown_lane", f"order {order.order_id}'s lane {order.lane} is gone")
        asked_at = self._now()

        async def asked(command_id: str) -> None:
            """The open is on the ledger: kept with the order as asked, and told. A
            write that fails is logged and the open goes on; its outcome is kept all
            the same."""
            opening = GateOpen(command_id, actor.user.username, asked_at, None, None)
            try:
                await self.store.add_payment_open(order.order_id, opening)
            except StoreError as exc:
                log.error("payments.open.unkept order=%s error=%s", order.order_id, exc.detail)
                return
            await self.teller.tell(order.order_id)

        result = await self.actions.open_gate(
            actor, lane, OpenRequest(reason, note, order_id=order.order_id), on_requested=asked
        )
        resolved = result.resolved
        await self.store.add_payment_open(
            order.order_id,
            GateOpen(
                resolved.command_id,
                actor.user.username,
                asked_at,
                resolved.outcome.value,
                resolved.detail or None,
            ),
        )
        await self.teller.tell(order.order_id)
        log.info(
            "payments.open order=%s lane=%s outcome=%s",
            order.order_id,
            lane.id,
            resolved.outcome.value,
        )
        lines = ("已缴费", order.plate, "请通行" if resolved.outcome is Outcome.DONE else "请稍候")
        await self.actions.display(actor, lane, DisplayRequest(lines))
        return result

    async def paid(self, order: PaymentOrder) -> bool:
        """Paid, in time or late."""
        if order.state is OrderState.PAID:
            return True
        return paid_late(await self.store.payment_notifications(order.order_id))
