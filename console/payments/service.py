"""Payment orders carried out: issued at a lane, shown on its display, paid through a
provider's notification, and the lane's gate opened once paid. The rules are
``orders.py``; this is their driver: the store, the ledger, the provider, the lane.

Every step is in the ledger before it takes effect (no audit, no action). A paid order
opens its lane's gate by itself (``lifting.py``), and "paid but not lifted" is answered
from the order: its notifications and its gate commands with their outcomes.
Payments are heard of through ``notices.py``, by notification or, when none came, by
asking the provider (``chasing.py``). Each change of an order, once written, is told on
the live stream (``telling.py``).
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Coroutine, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gates.centre.commands import Outcome
from gates.wire import format_time

from ..actions import ActionResult, Actions, Actor, DisplayRequest, OpenReason
from ..audit import AuditLog, written
from ..errors import Conflict, NotConfigured, NotFound
from ..gatekeeping.charges import stay_charge
from ..gatekeeping.lists import CurrentLists
from ..ledger import AuditAction, AuditRecord
from ..models import Direction, LaneRecord
from ..settings import Settings
from ..stickers import public_base, sticker_key
from ..store import Store
from ..streams import Streams
from .chasing import ChasePlan, Chaser
from .errors import BadOrder, PaymentError, UnknownOrder
from .lifting import PaidOpens
from .links import NOTIFY_PATH, link_key, make_link_token, pay_url, read_link_token
from .notices import Notices
from .orders import (
    OrderState,
    PaymentOrder,
    Settled,
    cancel,
    check_payable,
    choose_amount,
    new_order,
    with_reference,
)
from .provider import Provider
from .sandbox import SandboxProvider, sandbox_key
from .shown import Shown, qr_png, yuan
from .telling import OrderTeller
from .wechat import WeChatPay
from .wechat_provider import WECHAT, WeChatProvider
from .wechat_settings import check_provider_choice

log = logging.getLogger("seat.payments")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What an agent asks for (read by ``api.parse_order``)."""

    plate: str | None
    stay_id: int | None
    amount_fen: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Issued(Shown):
    order: PaymentOrder


class Payments:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        audit: AuditLog,
        actions: Actions,
        streams: Streams,
        lists: CurrentLists,
    ) -> None:
        self.settings = settings
        self.store = store
        self.audit = audit
        self.actions = actions
        self.streams = streams
        self.lists = lists
        # One provider takes new orders: WeChat Pay when ``SEAT_WECHAT_*`` is set, the
        # sandbox where it is allowed (``SEAT_PAYMENT_SANDBOX``), never both. Each
        # order's notifications and queries go to the provider it names.
        self.sandbox = SandboxProvider(b"")
        self.wechat: WeChatProvider | None = None
        self._providers: dict[str, Provider] = {}
        self._link_key = b""
        self._running: set[asyncio.Task[None]] = set()  # opens and closes under way
        self.teller = OrderTeller(store, streams, self._now)
        self.opens = PaidOpens(store, actions, self.teller, self._now)
        self.notices = Notices(store, audit, self.teller, self._providers, self._open_later)
        self.chaser = Chaser(
            ChasePlan(settings.payment_query_after_s),
            self._providers,
            store.payment_order,
            self.notices.queried,
            self._now,
        )

    async def start(self) -> None:
        settings = self.settings
        check_provider_choice(settings.payment_sandbox, settings.wechat, settings.public_url)
        key = await sticker_key(self.store, settings)
        self._link_key = link_key(key)
        self.sandbox = SandboxProvider(sandbox_key(key))
        if settings.payment_sandbox:
            self._providers[self.sandbox.name] = self.sandbox
        if settings.wechat is not None:
            notify_url = f"{public_base(settings)}{NOTIFY_PATH}{WECHAT}"
            self.wechat = WeChatProvider(WeChatPay(settings.wechat), notify_url)
            self._providers[self.wechat.name] = self.wechat
        # As the ledger ends the requests a stopped centre never heard the end of.
        unended = await self.store.end_unended_payment_opens(Outcome.TIMEOUT.value)
        if unended:
            log.warning("payments.opens.unended count=%d", unended)
        since = self._now() - self.chaser.plan.first
        unsettled = await self.store.unsettled_payment_orders(since)
        self.chaser.start(unsettled)
        for order in unsettled:
            self.teller.expiring(order)

    async def close(self) -> None:
        """Opens and closes under way finish, so their outcomes are kept."""
        await self.chaser.close()
        if self._running:
            await asyncio.wait(self._running)
        await self.teller.close()
        if self.wechat is not None:
            await self.wechat.aclose()

    def _now(self) -> datetime:
        return datetime.now(UTC)

    # ------------------------------------------------------------- issuing

    async def issue(self, actor: Actor, lane: LaneRecord, request: OrderRequest) -> Issued:
        """A new order at ``lane``, replacing the lane's open one; its link goes to the
        lane's display. What can be refused is refused before anything is recorded."""
        provider = self._issuer()
        if lane.direction is not Direction.EXIT:
            raise Conflict("not_exit_lane", f"lane {lane.id} is an entry: drivers pay at exits")
        base = public_base(self.settings)
        now = self._now()
        rules_fen = None
        plate = request.plate
        stay = None
        if request.stay_id is not None:
            stay = await self.store.stay(request.stay_id)
            if stay is None or stay.car_park != lane.car_park:
                raise NotFound("unknown_stay", f"no stay {request.stay_id} in {lane.car_park}")
            plate = plate or stay.plate
        if not plate:
            raise BadOrder("plate_required", "give the plate, or a stay_id to take it from")
        settlement = None
        if stay is not None:
            settlement = await stay_charge(self.store, await self.lists.get(), plate, stay, now)
            rules_fen = settlement.total_fen
        amount = choose_amount(rules_fen, request.amount_fen, request.reason)
        debts = () if settlement is None else settlement.debts
        order = new_order(
            uuid.uuid4().hex,
            car_park=lane.car_park,
            lane=lane.id,
            plate=plate,
            stay_id=request.stay_id,
            amount_fen=amount,
            rules_fen=rules_fen,
            reason=request.reason or None,
            provider=provider.name,
            now=now,
            expiry=timedelta(seconds=self.settings.payment_expiry_s),
        )
        stale = [
            old
            for old in await self.store.open_payment_orders(lane.id)
            if old.state_at(now) is OrderState.OPEN
        ]
        replaced = [cancel(old, now).order_id for old in stale]
        context = {"role": actor.user.role.value, "remote": actor.remote}
        # The order, with the cancellations and the override it brings, is in the
        # ledger whole or not at all: none of them stands without the others.
        records = [
            self._entry(
                actor,
                AuditAction.PAYMENT_CANCELLED,
                order=old,
                lane=lane.id,
                detail={"replaced_by": order.order_id, **context},
            )
            for old in replaced
        ]
        if rules_fen is not None and amount != rules_fen:
            records.append(
                self._entry(
                    actor,
                    AuditAction.PAYMENT_AMOUNT_OVERRIDDEN,
                    order=order.order_id,
                    lane=lane.id,
                    reason=request.reason,
                    detail={"rules_fen": rules_fen, "amount_fen": amount, **context},
                )
            )
        records.append(
            self._entry(
                actor,
                AuditAction.PAYMENT_ORDERED,
                order=order.order_id,
                lane=lane.id,
                detail={
                    "plate": order.plate,
                    "stay_id": order.stay_id,
                    "amount_fen": order.amount_fen,
                    "expires_at": format_time(order.expires_at),
                    "provider": order.provider,
                    **({} if settlement is None else {"settlement": settlement.to_json()}),
                    **context,
                },
            )
        )
        await self._record_all(records)
        # Opened with the provider once the ledger holds it: no audit, no action.
        link = pay_url(base, make_link_token(self._link_key, order.order_id))
        try:
            placed = await provider.create(order, link)
        except PaymentError as exc:
            # The ledger holds the order: it says too that the provider never opened it.
            await self._record_all(
                [
                    self._entry(
                        actor,
                        AuditAction.PAYMENT_CANCELLED,
                        order=order.order_id,
                        lane=lane.id,
                        outcome=exc.code,
                        detail={"error": exc.detail, **context},
                    )
                ]
            )
            raise
        order = with_reference(order, placed.reference)
        await self.store.add_payment_order(order, replaced, [debt.id for debt in debts])
        self.chaser.follow(order)
        for old in replaced:
            await self.teller.tell(old)
        await self.teller.tell(order.order_id)
        self.teller.expiring(order)
        for given_up in stale:
            self._later(self._close_replaced(given_up))
        url = placed.scan
        shown = await self.actions.display(
            actor, lane, DisplayRequest(("请扫码缴费", plate, yuan(amount)), qr=url)
        )
        log.info("payments.order.issued order=%s lane=%s fen=%d", order.order_id, lane.id, amount)
        outcome = shown.resolved.outcome.value
        return Issued(url, qr_png(url), order.expires_at, outcome, order=order)

    # ------------------------------------------------------------- the pay page

    async def linked_order(self, token: str) -> PaymentOrder:
        """The order a pay link names; ``LinkRefused`` or ``UnknownOrder``."""
        order_id = read_link_token(self._link_key, token)
        order = await self.store.payment_order(order_id)
        if order is None:
            raise UnknownOrder("unknown_order", "no such order")
        return order

    def _issuer(self) -> Provider:
        """The provider new orders are placed with. The sandbox pays with a tap, so a
        centre offers it only when told to: anywhere else any driver could let
        themselves out for nothing."""
        if self.wechat is not None:
            return self.wechat
        if not self.settings.payment_sandbox:
            raise NotConfigured(
                "no_payment_provider",
                "no payment provider is set up: set SEAT_WECHAT_* for WeChat Pay;"
                " the sandbox (SEAT_PAYMENT_SANDBOX=1) is for demos and tests",
            )
        return self.sandbox

    async def sandbox_pay(self, token: str) -> Settled:
        """The driver tapped "pay" on the sandbox's page: only for an order the sandbox
        placed, while it is offered (a WeChat Pay order is paid in WeChat alone)."""
        if self.sandbox.name not in self._providers:
            raise NotConfigured("no_payment_provider", "the sandbox is not offered here")
        order = await self.linked_order(token)
        if order.provider != self.sandbox.name:
            raise UnknownOrder("unknown_order", "the order is not the sandbox's to pay")
        check_payable(order, self._now())
        headers, body = self.sandbox.take(order)
        return await self.notified(self.sandbox.name, headers, body, remote="sandbox")

    # ------------------------------------------------------------- notifications

    async def notified(
        self, provider_name: str, headers: Mapping[str, str], body: bytes, *, remote: str
    ) -> Settled:
        """A provider's notification (``Notices.notified``); the order it paid is asked
        after no more."""
        settled = await self.notices.notified(provider_name, headers, body, remote=remote)
        self.chaser.settled(settled.order.order_id)
        return settled

    # ------------------------------------------------------------- the gate

    def _open_later(self, order: PaymentOrder) -> None:
        """The notification is answered at once; the open runs on, in its own task."""
        self._later(self.opens.open_paid(order))

    def _later(self, step: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(step)
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _close_replaced(self, order: PaymentOrder) -> None:
        """A replaced order is closed with its provider too, as WeChat Pay asks of an
        order given up for a new one, so its QR code can no longer be paid twice over.
        One that cannot be closed is still asked after (``chasing.py``): a payment it
        took is kept as late."""
        provider = self._providers.get(order.provider)
        if provider is None:
            return
        try:
            await provider.close(order)
        except PaymentError as exc:
            log.warning("payments.close.failed order=%s error=%s", order.order_id, exc.code)

    async def retry_open(self, actor: Actor, order_id: str, note: str) -> ActionResult:
        """An agent's open for a paid order whose gate did not lift, or for one paid
        after it expired or was cancelled. An order the centre has not heard paid is
        asked of its provider first (a notification may be lost); still unpaid, it is
        refused."""
        order = await self.store.payment_order(order_id)
        if order is None:
            raise UnknownOrder("unknown_order", f"no order {order_id}")
        provider = self._providers.get(order.provider)
        if not await self.opens.paid(order) and provider is not None:
            notice = await provider.query(order)
            if notice is not None:
                # The agent's open below is the one: the system does not open as well.
                order = (await self.notices.queried(provider, notice, opens=False)).order
                self.chaser.settled(order_id)
        if not await self.opens.paid(order):
            state = order.state_at(self._now()).value
            raise Conflict("order_not_paid", f"order {order_id} is {state}, not paid")
        return await self.opens.open_for(actor, order, OpenReason.PAID_NOT_LIFTED, note)

    @staticmethod
    def _entry(
        actor: Actor,
        action: AuditAction,
        *,
        order: str,
        lane: str,
        detail: dict[str, Any],
        reason: str | None = None,
        outcome: str | None = None,
    ) -> AuditRecord:
        return AuditRecord(
            actor=actor.user.username,
            action=action,
            lane=lane,
            reason=reason,
            outcome=outcome,
            detail={"order": order, **detail},
        )

    async def _record_all(self, records: list[AuditRecord]) -> None:
        await written(self.audit.record_all(records))
