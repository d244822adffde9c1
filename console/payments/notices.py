"""Payments heard of: a provider's notification, or its answer to the centre's query
(``chasing.py``), settled by one path. Each is ledgered before it is kept (no audit, no
action); one that does not stand (forged, stale, of an unknown order or another sum) is
ledgered as refused with where it came from and the body's SHA-256, and raised, so the
provider is answered 4xx and nothing changed. A payment is kept once per transaction
and each notification id once (``Store.record_payment``): a replay is harmless.

Each payment kept is told on the live stream once it is (``telling.py``). An order
newly paid clears the escapes' debts it named and has its gate opened (``on_paid``).
Money for an order already expired or cancelled is kept as ``late`` and told like the
rest; the gate stays down (README, "Payments")."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from ..audit import AuditLog, written
from ..errors import ConsoleError, NotFound
from ..ledger import AuditAction, AuditRecord
from ..store import Store
from .errors import NotificationRefused, UnknownOrder
from .orders import NoticeSource, PaidEffect, PaymentOrder, Settled
from .provider import PaymentNotice, Provider
from .telling import OrderTeller

log = logging.getLogger("seat.payments")


class Notices:
    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        teller: OrderTeller,
        providers: Mapping[str, Provider],
        on_paid: Callable[[PaymentOrder], None],
    ) -> None:
        self.store = store
        self.audit = audit
        self.teller = teller
        self._providers = providers
        self._on_paid = on_paid

    async def notified(
        self, provider_name: str, headers: Mapping[str, str], body: bytes, *, remote: str
    ) -> Settled:
        """A provider's notification, from wherever it came (``remote``)."""
        provider = self._providers.get(provider_name)
        if provider is None:
            raise NotFound("unknown_provider", f"no payment provider {provider_name!r}")
        heard = {"remote": remote, "bytes": len(body), "sha256": _digest(body)}
        try:
            notice = provider.verify(headers, body)
        except NotificationRefused as exc:
            await self._refused(provider_name, None, None, exc, heard)
            log.warning(
                "payments.notification.forged provider=%s remote=%s code=%s",
                provider_name,
                remote,
                exc.code,
            )
            raise
        return await self._settle(provider_name, notice, NoticeSource.NOTIFICATION, heard)

    async def queried(
        self, provider: Provider, notice: PaymentNotice, *, opens: bool = True
    ) -> Settled:
        """A payment the provider's answer to a query showed: settled as if notified.
        ``opens`` False: the caller opens the gate itself (an agent's open that asked)."""
        heard = {"remote": "query"}
        return await self._settle(provider.name, notice, NoticeSource.QUERY, heard, opens=opens)

    async def _settle(
        self,
        provider_name: str,
        notice: PaymentNotice,
        source: NoticeSource,
        heard: dict[str, Any],
        *,
        opens: bool = True,
    ) -> Settled:
        actor = f"provider:{provider_name}"
        detail = {
            "transaction_id": notice.transaction_id,
            "amount_fen": notice.amount_fen,
            "source": source.value,
            "notification_id": notice.notification_id,
            **heard,
        }
        order = await self.store.payment_order(notice.order_id)
        lane = None if order is None else order.lane
        await self._record(
            AuditRecord(
                actor=actor,
                action=AuditAction.PAYMENT_NOTIFIED,
                lane=lane,
                detail={"order": notice.order_id, **detail},
            )
        )

        def entry_of(kept: Settled) -> AuditRecord:
            return AuditRecord(
                actor=actor,
                action=AuditAction.PAYMENT_RECORDED,
                lane=lane,
                outcome=kept.notification.effect.value if kept.new else "replayed",
                detail={"order": notice.order_id, **detail},
            )

        try:
            # The payment and its entry are kept or lost together: lost, the provider
            # sends the notification again and finds the order unpaid.
            settled = await written(
                self.store.record_payment(
                    notice.order_id,
                    notice.transaction_id,
                    notice.amount_fen,
                    datetime.now(UTC),
                    source=source,
                    notification_id=notice.notification_id,
                    entry_of=entry_of,
                )
            )
        except (UnknownOrder, NotificationRefused) as exc:
            await self._refused(provider_name, notice.order_id, lane, exc, detail)
            raise
        self.audit.announce(list(settled.entries))
        if settled.new:
            await self.teller.tell(notice.order_id)
        if settled.new and settled.notification.effect is PaidEffect.PAID:
            await self._clear_debts(actor, settled.order)
        if settled.new and settled.notification.effect is PaidEffect.PAID and opens:
            self._on_paid(settled.order)
        elif settled.new and settled.notification.effect is PaidEffect.LATE:
            # The gate stays down: the car it was for may be gone, or another order at
            # the lane may be paid too; an agent decides (and may open for it,
            # ``Payments.retry_open``, or see to a refund).
            log.warning(
                "payments.paid.late order=%s lane=%s fen=%d",
                notice.order_id,
                lane,
                notice.amount_fen,
            )
        return settled

    async def _clear_debts(self, actor: str, order: PaymentOrder) -> None:
        """The escapes' debts the paid order named (``console.gatekeeping.escapes``)
        are owed no more: ledgered, then cleared."""
        named = await self.store.order_debts(order.order_id)
        if not named:
            return
        await self._record(
            AuditRecord(
                actor=actor,
                action=AuditAction.DEBTS_CLEARED,
                lane=order.lane,
                detail={
                    "order": order.order_id,
                    "plate": order.plate,
                    "debts": [debt.to_json() for debt in named],
                },
            )
        )
        cleared = await self.store.clear_debts(order.order_id, datetime.now(UTC))
        log.info("payments.debts.cleared order=%s debts=%s", order.order_id, cleared)

    async def _refused(
        self,
        provider_name: str,
        order_id: str | None,
        lane: str | None,
        exc: ConsoleError,
        detail: dict[str, Any],
    ) -> None:
        await self._record(
            AuditRecord(
                actor=f"provider:{provider_name}",
                action=AuditAction.PAYMENT_REFUSED,
                lane=lane,
                outcome=exc.code,
                detail={"order": order_id, "error": exc.detail, **detail},
            )
        )

    async def _record(self, record: AuditRecord) -> None:
        """No audit, no action: the ledger failing is ``audit_failed`` (503), which a
        provider answers by sending the notification again."""
        await written(self.audit.record(record))


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
