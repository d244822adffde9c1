"""A payment order and its steps, as pure functions: the order and ``now`` in, the
order after the step out.

An order is ``open`` until it is paid, cancelled, or its ``expires_at`` passes; an open
order past its expiry *is* expired, whether or not the store has written so yet
(:meth:`PaymentOrder.state_at`), so no clock tick is needed to stop a stale link.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from gates.wire import format_time

from ..ledger import AuditEntry
from .errors import BadOrder, OrderClosed

# The most one order asks for: 100,000 yuan, the billing rules' own ceiling.
AMOUNT_MAX = 10_000_000


class OrderState(enum.StrEnum):
    OPEN = "open"
    PAID = "paid"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class PaidEffect(enum.StrEnum):
    """What a genuine payment notification did to its order."""

    PAID = "paid"  # the order is paid now: the gate opens
    ALREADY_PAID = "already_paid"  # a second transaction for a paid order: nothing
    LATE = "late"  # the order had expired or was cancelled: kept for an agent, no gate


class NoticeSource(enum.StrEnum):
    """How the centre learnt of a payment: the provider's notification, or its answer
    when the centre asked after an order it had heard nothing of (``chasing.py``)."""

    NOTIFICATION = "notification"
    QUERY = "query"


@dataclass(frozen=True, slots=True)
class PaymentOrder:
    """``rules_fen`` is what the billing rules charged the stay when the order was made
    (None without a stay); ``reason`` says why ``amount_fen`` differs from it."""

    order_id: str
    car_park: str
    lane: str
    plate: str
    stay_id: int | None
    amount_fen: int
    rules_fen: int | None
    reason: str | None
    created_at: datetime
    expires_at: datetime
    state: OrderState
    provider: str
    provider_ref: str | None = None
    paid_at: datetime | None = None

    def state_at(self, now: datetime) -> OrderState:
        if self.state is OrderState.OPEN and now >= self.expires_at:
            return OrderState.EXPIRED
        return self.state

    def to_json(self, now: datetime) -> dict[str, Any]:
        return {
            "order_id": self.order_id,
            "car_park": self.car_park,
            "lane": self.lane,
            "plate": self.plate,
            "stay_id": self.stay_id,
            "amount_fen": self.amount_fen,
            "rules_fen": self.rules_fen,
            "reason": self.reason,
            "created_at": format_time(self.created_at),
            "expires_at": format_time(self.expires_at),
            "state": self.state_at(now).value,
            "provider": self.provider,
            "provider_ref": self.provider_ref,
            "paid_at": None if self.paid_at is None else format_time(self.paid_at),
        }


def read_amount(value: object) -> int:
    """An amount as JSON gave it: a whole number of fen from 1 to ``AMOUNT_MAX``. JSON's
    ``true`` and ``1.0`` are not one (Python would take both as 1)."""
    if type(value) is not int or not 1 <= value <= AMOUNT_MAX:
        raise BadOrder(
            "invalid_amount", f"amount_fen must be a whole number of fen from 1 to {AMOUNT_MAX}"
        )
    return value


def choose_amount(rules_fen: int | None, asked: int | None, reason: str) -> int:
    """What the order asks for: the rules' fee, unless the agent asked for another sum,
    which needs a ``reason``. Without a stay (``rules_fen`` None) the agent's sum is the
    order's, and needs no reason: there is nothing it departs from."""
    if rules_fen is None:
        if asked is None:
            raise BadOrder("amount_required", "give amount_fen, or a stay_id to charge by")
        return asked
    if asked is None or asked == rules_fen:
        if rules_fen == 0:
            raise OrderClosed("nothing_to_pay", "the billing rules charge this stay nothing")
        return rules_fen
    if not reason:
        raise BadOrder(
            "reason_required",
            f"the rules charge {rules_fen} fen; asking {asked} fen needs a reason",
        )
    return asked


def new_order(
    order_id: str,
    *,
    car_park: str,
    lane: str,
    plate: str,
    stay_id: int | None,
    amount_fen: int,
    rules_fen: int | None,
    reason: str | None,
    provider: str,
    now: datetime,
    expiry: timedelta,
) -> PaymentOrder:
    read_amount(amount_fen)
    if expiry <= timedelta(0):
        raise ValueError(f"an order's expiry is a positive time, not {expiry}")
    return PaymentOrder(
        order_id,
        car_park,
        lane,
        plate,
        stay_id,
        amount_fen,
        rules_fen,
        reason,
        now,
        now + expiry,
        OrderState.OPEN,
        provider,
    )


def check_payable(order: PaymentOrder, now: datetime) -> None:
    """Raises ``OrderClosed`` unless the order can be paid now."""
    state = order.state_at(now)
    if state is not OrderState.OPEN:
        raise OrderClosed(f"order_{state.value}", f"order {order.order_id} is {state.value}")


def pay(order: PaymentOrder, now: datetime) -> tuple[PaymentOrder, PaidEffect]:
    """The order after a genuine payment of its amount arrived at ``now``."""
    state = order.state_at(now)
    if state is OrderState.PAID:
        return order, PaidEffect.ALREADY_PAID
    if state is not OrderState.OPEN:
        return order, PaidEffect.LATE
    return replace(order, state=OrderState.PAID, paid_at=now), PaidEffect.PAID


def cancel(order: PaymentOrder, now: datetime) -> PaymentOrder:
    check_payable(order, now)
    return replace(order, state=OrderState.CANCELLED)


def with_reference(order: PaymentOrder, provider_ref: str) -> PaymentOrder:
    """The order once its provider named it (a sandbox id, WeChat Pay's out_trade_no)."""
    return replace(order, provider_ref=provider_ref)


@dataclass(frozen=True, slots=True)
class Notification:
    """A genuine payment, as kept: once per provider transaction. ``notification_id``
    is the provider's id of the notification that brought it (WeChat Pay's ``id``),
    None when a query found it and no notification has come since."""

    transaction_id: str
    amount_fen: int
    received_at: datetime
    effect: PaidEffect
    source: NoticeSource = NoticeSource.NOTIFICATION
    notification_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "transaction_id": self.transaction_id,
            "amount_fen": self.amount_fen,
            "received_at": format_time(self.received_at),
            "effect": self.effect.value,
            "source": self.source.value,
            "notification_id": self.notification_id,
        }


def paid_late(notifications: list[Notification]) -> bool:
    """Whether money arrived for an order only after it had expired or was cancelled:
    an agent may still open the gate for it (``Payments.retry_open``)."""
    return any(n.effect is PaidEffect.LATE for n in notifications)


@dataclass(frozen=True, slots=True)
class Settled:
    """What recording a notification did: the order after it, the notification as
    kept, and ``new`` False for a replay of one kept before (which changed nothing);
    ``entries``, the ledger entries written with it."""

    order: PaymentOrder
    notification: Notification
    new: bool
    entries: tuple[AuditEntry, ...] = ()


@dataclass(frozen=True, slots=True)
class GateOpen:
    """An open of the lane's gate asked for a paid order; ``outcome`` None until the
    lane answered (or the command timed out)."""

    command_id: str
    actor: str
    requested_at: datetime
    outcome: str | None
    detail: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "command_id": self.command_id,
            "actor": self.actor,
            "requested_at": format_time(self.requested_at),
            "outcome": self.outcome,
            "detail": self.detail,
        }
