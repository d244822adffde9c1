"""Orders told on the live stream: each change of an order (issued, paid and how the
centre learnt of it, paid late, cancelled, expired, a gate open asked for it and then
its outcome) goes to the
tabs of the users who cover its car park as one ``order`` message, the order as
``GET /api/payments/{id}`` gives it (``order_view``). A tab follows an order from these
messages and reads it once when its stream (re)opens, so nothing is polled.

An order is told after its change is written, read back from the store: the message
is the order as it is, never as it is about to be. Tells run one at a time, so a tab
never gets an older reading of an order after a newer one. An order's messages share a
backlog key (``Streams.publish``): an order that changed twice before a tab could be sent
it is sent once, as it is now.

Expiry is the one change nothing writes (``PaymentOrder.state_at``): each order not yet
settled is told again when its time is up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from ..audience import covering
from ..errors import StoreError
from ..store import Store
from ..streams import Streams
from .orders import OrderState, PaymentOrder

log = logging.getLogger("seat.payments")


async def order_view(store: Store, order_id: str, now: datetime) -> dict[str, Any] | None:
    """The order with its notifications and gate opens, as the API and the stream show
    it; None for an order that does not exist."""
    order = await store.payment_order(order_id)
    if order is None:
        return None
    notifications = await store.payment_notifications(order_id)
    opens = await store.payment_opens(order_id)
    return {
        **order.to_json(now),
        "notifications": [n.to_json() for n in notifications],
        "gate_opens": [o.to_json() for o in opens],
    }


class OrderTeller:
    def __init__(self, store: Store, streams: Streams, clock: Callable[[], datetime]) -> None:
        self.store = store
        self.streams = streams
        self._clock = clock
        self._lock = asyncio.Lock()
        self._expiries: dict[str, asyncio.TimerHandle] = {}
        self._running: set[asyncio.Task[None]] = set()

    async def tell(
        self, order_id: str, *, open_failed: dict[str, str] | None = None, here: bool = False
    ) -> None:
        """Tell the order as the store holds it now. A read that fails is logged: the
        change is kept all the same, and a tab reads the order again when it resyncs.
        ``open_failed`` (``{"error","detail"}``) says the centre's own open for the
        paid order did not lift the gate, or could not be asked. ``here``: to this
        server's tabs alone (``Streams.tell``)."""
        async with self._lock:
            try:
                view = await order_view(self.store, order_id, self._clock())
            except StoreError as exc:
                log.error("payments.order.untold order=%s error=%s", order_id, exc.detail)
                return
            if view is None:
                return
            if open_failed is not None:
                view["open_failed"] = open_failed
            message = {"type": "order", "order": view}
            key = f"order {order_id}"
            self.streams.tell(covering(view["car_park"]), message, key, here=here)
        log.info("payments.order.told order=%s state=%s", order_id, view["state"])

    def expiring(self, order: PaymentOrder) -> None:
        """Tell ``order`` again once it expires, unless it is settled by then."""
        self._expire_at(order.order_id, order.expires_at)

    def heard(self, message: dict[str, Any]) -> None:
        """News another server of the centre told (``console.cluster.news``): an open
        order's expiry is told here by this server's own timer, as every server tells
        its own tabs of it, so no tab is told twice and none is missed."""
        view = message.get("order") if message.get("type") == "order" else None
        if not isinstance(view, dict) or view.get("state") != OrderState.OPEN.value:
            return
        order_id, expires = view.get("order_id"), view.get("expires_at")
        if isinstance(order_id, str) and isinstance(expires, str):
            try:
                self._expire_at(order_id, datetime.fromisoformat(expires))
            except ValueError:
                log.error("payments.order.unreadable order=%s expires_at=%r", order_id, expires)

    def _expire_at(self, order_id: str, expires_at: datetime) -> None:
        loop = asyncio.get_running_loop()
        delay = max(0.0, (expires_at - self._clock()).total_seconds())
        old = self._expiries.pop(order_id, None)
        if old is not None:
            old.cancel()
        self._expiries[order_id] = loop.call_later(delay, self._expired, order_id, expires_at)

    def _expired(self, order_id: str, expires_at: datetime) -> None:
        self._expiries.pop(order_id, None)
        if expires_at > self._clock():
            self._expire_at(order_id, expires_at)  # the loop's clock ran ahead of the wall's
            return
        task = asyncio.create_task(self._tell_if_expired(order_id))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _tell_if_expired(self, order_id: str) -> None:
        try:
            order = await self.store.payment_order(order_id)
        except StoreError as exc:
            log.error("payments.order.untold order=%s error=%s", order_id, exc.detail)
            return
        if order is None:
            return
        state = order.state_at(self._clock())
        if state is OrderState.EXPIRED:
            await self.tell(order_id, here=True)  # every server's timer tells its own tabs
        elif state is OrderState.OPEN:
            self.expiring(order)  # its time as the store has it, to the microsecond

    async def close(self) -> None:
        for handle in self._expiries.values():
            handle.cancel()
        self._expiries.clear()
        if self._running:
            await asyncio.wait(self._running)
