"""Payment orders carried out: issued at a lane, shown on its display, paid through a
provider's notification, and the lane's gate opened once paid. The rules are
``orders.py``; this is their driver: the store, the ledger, the provider, the lane.

Every step is in the ledger before it takes effect (no audit, no action). A paid order
opens its lane's gate by itself, as the ``system`` actor with reason ``paid``; each open
asked for an order is kept beside it (``payment_opens``), so "paid but not lifted" is
answered from the order: its notifications and its gate commands with their outcomes.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import io
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import segno

from gates.qrcodes import QUIET_MODULES
from gates.wire import format_time

from ..actions import ActionResult, Actions, Actor, DisplayRequest, OpenReason, OpenRequest
from ..audit import AuditLog
from ..errors import Conflict, NotConfigured, NotFound, StoreError
from ..gatekeeping.charges import stay_charge
from ..gatekeeping.lists import CurrentLists
from ..ledger import AuditAction, AuditRecord
from ..models import Direction, LaneRecord, Role, User
from ..settings import Settings
from ..stickers import public_base, sticker_key
from ..store import Store
from .errors import BadOrder, NotificationRefused, UnknownOrder
from .links import link_key, make_link_token, pay_url, read_link_token
from .orders import (
    GateOpen,
    OrderState,
    PaidEffect,
    PaymentOrder,
    Settled,
    cancel,
    check_payable,
    choose_amount,
    new_order,
    with_reference,
)
from .provider import PaymentNotice, Provider
from .sandbox import SandboxProvider, sandbox_key

log = logging.getLogger("seat.payments")

# The centre itself, as the ledger names it when it opens a gate for a paid order.
SYSTEM = Actor(User("system", Role.AGENT, "", datetime(2000, 1, 1, tzinfo=UTC)), "centre")


@dataclass(frozen=True, slots=True)
class OrderRequest:
    """What an agent asks for (read by ``api.parse_order``)."""

    plate: str | None
    stay_id: int | None
    amount_fen: int | None
    reason: str


@dataclass(frozen=True, slots=True)
class Issued:
    order: PaymentOrder
    url: str
    qr_png: bytes
    display: str  # the display command's outcome at the lane


class Payments:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        audit: AuditLog,
        actions: Actions,
        lists: CurrentLists,
    ) -> None:
        self.settings = settings
        self.store = store
        self.audit = audit
        self.actions = actions
        self.lists = lists
        # The sandbox is the one provider so far, and only where it is allowed
        # (``SEAT_PAYMENT_SANDBOX``); orders are issued through it and each order's
        # notifications and queries go to the provider it names.
        self.sandbox = SandboxProvider(b"")
        self._providers: dict[str, Provider] = {}
        self._link_key = b""
        self._opening: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        key = await sticker_key(self.store, self.settings)
        self._link_key = link_key(key)
        self.sandbox = SandboxProvider(sandbox_key(key))
        offered = self.settings.payment_sandbox
        self._providers = {self.sandbox.name: self.sandbox} if offered else {}

    async def close(self) -> None:
        """Opens under way finish, so their outcomes are kept."""
        if self._opening:
            await asyncio.wait(self._opening)

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
        replaced = [
            cancel(old, now).order_id
            for old in await self.store.open_payment_orders(lane.id)
            if old.state_at(now) is OrderState.OPEN
        ]
        context = {"role": actor.user.role.value, "remote": actor.remote}
        for old in replaced:
            await self._record(
                actor,
                AuditAction.PAYMENT_CANCELLED,
                order=old,
                lane=lane.id,
                detail={"replaced_by": order.order_id, **context},
            )
        if rules_fen is not None and amount != rules_fen:
            await self._record(
                actor,
                AuditAction.PAYMENT_AMOUNT_OVERRIDDEN,
                order=order.order_id,
                lane=lane.id,
                reason=request.reason,
                detail={"rules_fen": rules_fen, "amount_fen": amount, **context},
            )
        await self._record(
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
        # Opened with the provider once the ledger holds it: no audit, no action.
        order = with_reference(order, await provider.create(order))
        await self.store.add_payment_order(order, replaced, [debt.id for debt in debts])
        url = pay_url(base, make_link_token(self._link_key, order.order_id))
        shown = await self.actions.display(
            actor, lane, DisplayRequest(("请扫码缴费", plate, yuan(amount)), qr=url)
        )
        log.info("payments.order.issued order=%s lane=%s fen=%d", order.order_id, lane.id, amount)
        return Issued(order, url, qr_png(url), shown.resolved.outcome.value)

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
        if not self.settings.payment_sandbox:
            raise NotConfigured(
                "no_payment_provider",
                "no payment provider is set up: WeChat Pay is not wired to orders yet,"
                " and the sandbox (SEAT_PAYMENT_SANDBOX=1) is for demos and tests",
            )
        return self.sandbox

    async def sandbox_pay(self, token: str) -> Settled:
        """The driver tapped "pay" on the sandbox's page."""
        self._issuer()  # an order the sandbox placed pays no more once it is off
        order = await self.linked_order(token)
        check_payable(order, self._now())
        headers, body = self.sandbox.take(order)
        return await self.notified(self.sandbox.name, headers, body, remote="sandbox")

    # ------------------------------------------------------------- notifications

    async def notified(
        self, provider_name: str, headers: Mapping[str, str], body: bytes, *, remote: str
    ) -> Settled:
        """A provider's notification, from wherever it came: verified (a forgery is
        ledgered and refused), ledgered, recorded once per transaction, and a newly
        paid order's gate opened."""
        provider = self._providers.get(provider_name)
        if provider is None:
            raise NotFound("unknown_provider", f"no payment provider {provider_name!r}")
        try:
            notice = provider.verify(headers, body)
        except NotificationRefused as exc:
            await self.audit.record(
                AuditRecord(
                    actor=f"provider:{provider_name}",
                    action=AuditAction.PAYMENT_REFUSED,
                    outcome=exc.code,
                    detail={"remote": remote, "bytes": len(body), "sha256": _digest(body)},
                )
            )
            log.warning("payments.notification.forged provider=%s remote=%s", provider_name, remote)
            raise
        return await self._settle(provider_name, notice, remote)

    async def _settle(self, provider_name: str, notice: PaymentNotice, remote: str) -> Settled:
        actor = f"provider:{provider_name}"
        detail = {
            "transaction_id": notice.transaction_id,
            "amount_fen": notice.amount_fen,
            "remote": remote,
        }
        order = await self.store.payment_order(notice.order_id)
        lane = None if order is None else order.lane
        await self.audit.record(
            AuditRecord(
                actor=actor,
                action=AuditAction.PAYMENT_NOTIFIED,
                lane=lane,
                detail={"order": notice.order_id, **detail},
            )
        )
        try:
            settled = await self.store.record_payment(
                notice.order_id, notice.transaction_id, notice.amount_fen, self._now()
            )
        except (UnknownOrder, NotificationRefused) as exc:
            await self._record_system(actor, notice.order_id, lane, exc.code, detail)
            raise
        effect = settled.notification.effect.value if settled.new else "replayed"
        await self._record_system(actor, notice.order_id, lane, effect, detail)
        if settled.new and settled.notification.effect is PaidEffect.PAID:
            await self._clear_debts(actor, settled.order)
            self._open_later(settled.order)
        return settled

    async def _clear_debts(self, actor: str, order: PaymentOrder) -> None:
        """The escapes' debts the paid order named are owed no more: ledgered, then
        cleared."""
        named = await self.store.order_debts(order.order_id)
        if not named:
            return
        await self.audit.record(
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
        cleared = await self.store.clear_debts(order.order_id, self._now())
        log.info("payments.debts.cleared order=%s debts=%s", order.order_id, cleared)

    async def _record_system(
        self, actor: str, order_id: str, lane: str | None, outcome: str, detail: dict[str, Any]
    ) -> None:
        await self.audit.record(
            AuditRecord(
                actor=actor,
                action=AuditAction.PAYMENT_RECORDED,
                lane=lane,
                outcome=outcome,
                detail={"order": order_id, **detail},
            )
        )

    # ------------------------------------------------------------- the gate

    def _open_later(self, order: PaymentOrder) -> None:
        """The notification is answered at once; the open runs on, in its own task."""
        task = asyncio.create_task(self._open_paid(order))
        self._opening.add(task)
        task.add_done_callback(self._opening.discard)

    async def _open_paid(self, order: PaymentOrder) -> None:
        try:
            await self.open_for(SYSTEM, order, OpenReason.PAID)
        except StoreError as exc:
            log.error("payments.open.unrecorded order=%s error=%s", order.order_id, exc.detail)

    async def open_for(
        self, actor: Actor, order: PaymentOrder, reason: OpenReason, note: str = ""
    ) -> ActionResult:
        """Open the order's lane for it, keep the open beside the order, and tell the
        driver on the display."""
        lane = await self.store.get_lane(order.lane)
        if lane is None:
            raise NotFound("unknown_lane", f"order {order.order_id}'s lane {order.lane} is gone")
        result = await self.actions.open_gate(
            actor, lane, OpenRequest(reason, note, order_id=order.order_id)
        )
        resolved = result.resolved
        await self.store.add_payment_open(
            order.order_id,
            GateOpen(
                resolved.command_id,
                actor.user.username,
                self._now(),
                resolved.outcome.value,
                resolved.detail or None,
            ),
        )
        log.info(
            "payments.open order=%s lane=%s outcome=%s",
            order.order_id,
            lane.id,
            resolved.outcome.value,
        )
        lines = ("已缴费", order.plate, "请通行" if resolved.outcome.value == "done" else "请稍候")
        await self.actions.display(actor, lane, DisplayRequest(lines))
        return result

    async def retry_open(self, actor: Actor, order_id: str, note: str) -> ActionResult:
        """An agent's open for a paid order whose gate did not lift. An order the centre
        has not heard paid is asked of its provider first (a notification may be lost);
        still unpaid, it is refused."""
        order = await self.store.payment_order(order_id)
        if order is None:
            raise UnknownOrder("unknown_order", f"no order {order_id}")
        if order.state is not OrderState.PAID:
            notice = await self._providers[order.provider].query(order)
            if notice is not None:
                settled = await self._settle(order.provider, notice, remote="query")
                order = settled.order
        if order.state is not OrderState.PAID:
            state = order.state_at(self._now()).value
            raise Conflict("order_not_paid", f"order {order_id} is {state}, not paid")
        return await self.open_for(actor, order, OpenReason.PAID_NOT_LIFTED, note)

    async def _record(
        self,
        actor: Actor,
        action: AuditAction,
        *,
        order: str,
        lane: str,
        detail: dict[str, Any],
        reason: str | None = None,
    ) -> None:
        try:
            await self.audit.record(
                AuditRecord(
                    actor=actor.user.username,
                    action=action,
                    lane=lane,
                    reason=reason,
                    detail={"order": order, **detail},
                )
            )
        except StoreError as exc:
            raise StoreError(
                "audit_failed", f"no order: the audit ledger could not record it ({exc.detail})"
            ) from exc


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}元"


def qr_png(url: str) -> bytes:
    """A QR code of ``url`` as a PNG, whole pixels per module with the quiet zone
    ISO/IEC 18004 asks for (``gates.qrcodes``), big enough for an agent's screen."""
    out = io.BytesIO()
    segno.make_qr(url, error="m").save(out, kind="png", scale=6, border=QUIET_MODULES)
    return out.getvalue()


def qr_base64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()
