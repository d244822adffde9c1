"""The store's part that keeps payment orders, the payments and provider
notifications that settle them, and the gate opens asked for them. The jobs and
queries are in ``sqlite_payments.py``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime

from .ledger import AuditRecord, format_utc
from .payments.orders import GateOpen, NoticeSource, Notification, PaymentOrder, Settled
from .sql import Connection
from .sqlite_base import StoreBase
from .sqlite_debts import name_debts_job
from .sqlite_payments import (
    NOTIFICATIONS,
    ONE_ORDER,
    OPEN_ORDERS,
    OPENS,
    PAID_FOR_STAY,
    UNENDED_OPENS,
    UNSETTLED_ORDERS,
    add_open_job,
    add_order_job,
    gate_open_of,
    notification_of,
    order_of,
    record_payment_job,
)
from .sqlite_rows import names_a_row


class OrdersPart(StoreBase):
    """Payment orders, their payments and notifications, and the opens they asked for."""

    async def add_payment_order(
        self, order: PaymentOrder, cancelled: Sequence[str], debts: Sequence[str] = ()
    ) -> None:
        """Keeps ``order`` and cancels the ``cancelled`` open orders it replaces; the
        ``debts`` are those it asks for beside its fee, cleared once it is paid."""
        add, name = add_order_job(order, cancelled), name_debts_job(order.order_id, debts)

        def write(conn: Connection) -> None:
            add(conn)
            name(conn)

        await self._write(write)

    async def payment_order(self, order_id: str) -> PaymentOrder | None:
        rows = await self._read(ONE_ORDER, (order_id,))
        return order_of(rows[0]) if rows else None

    async def open_payment_orders(self, lane_id: str) -> list[PaymentOrder]:
        """The lane's orders still marked open (some may be past their expiry)."""
        return [order_of(row) for row in await self._read(OPEN_ORDERS, (lane_id,))]

    async def unsettled_payment_orders(self, expiring_after: datetime) -> list[PaymentOrder]:
        """The orders, at any lane and in any state, that expire after
        ``expiring_after`` and have no payment kept: soonest to expire first."""
        rows = await self._read(UNSETTLED_ORDERS, (format_utc(expiring_after),))
        return [order_of(row) for row in rows]

    async def record_payment(
        self,
        order_id: str,
        transaction_id: str,
        amount_fen: int,
        now: datetime,
        *,
        source: NoticeSource = NoticeSource.NOTIFICATION,
        notification_id: str | None = None,
        entry_of: Callable[[Settled], AuditRecord] | None = None,
    ) -> Settled:
        """Keeps a genuine payment and pays the order by it, in one transaction; the
        same transaction or notification id again changes nothing (``new`` False).
        ``entry_of`` makes the ledger's entry of what was kept (its effect), written in
        the same transaction: the payment and its entry are kept or lost together.
        ``UnknownOrder``; ``NotificationRefused`` for a sum not the order's."""
        job = record_payment_job(order_id, transaction_id, amount_fen, now, source, notification_id)
        if entry_of is None:
            return await self._write(job)
        settled, entries = await self._write_then(job, lambda kept: (entry_of(kept),))
        return replace(settled, entries=tuple(entries))

    async def paid_order_of_stay(self, stay_id: int) -> PaymentOrder | None:
        """The paid order that settled stay ``stay_id``, if any."""
        if not names_a_row(stay_id):
            return None
        rows = await self._read(PAID_FOR_STAY, (stay_id,))
        return order_of(rows[0]) if rows else None

    async def payment_notifications(self, order_id: str) -> list[Notification]:
        return [notification_of(row) for row in await self._read(NOTIFICATIONS, (order_id,))]

    async def add_payment_open(self, order_id: str, gate_open: GateOpen) -> None:
        """Keeps an open asked for the order: as asked (``outcome`` None), then, by the
        same ``command_id``, with its outcome."""
        await self._write(add_open_job(gate_open, order_id))

    async def end_unended_payment_opens(self, outcome: str) -> int:
        """Gives ``outcome`` to every open kept as asked and never ended (the centre
        stopped while it waited); how many."""

        def write(conn: Connection) -> int:
            return conn.execute(UNENDED_OPENS, (outcome,)).rowcount

        return await self._write(write)

    async def payment_opens(self, order_id: str) -> list[GateOpen]:
        return [gate_open_of(row) for row in await self._read(OPENS, (order_id,))]
