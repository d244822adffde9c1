"""The store's billing rules and payments: the writer's jobs and the readers'
queries. Either store runs them, on its writer thread and its reads."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from .billing.rules import Rules
from .canonical import canonical_json
from .ledger import format_utc, parse_utc
from .payments.errors import NotificationRefused, UnknownOrder
from .payments.orders import (
    GateOpen,
    NoticeSource,
    Notification,
    OrderState,
    PaidEffect,
    PaymentOrder,
    Settled,
    pay,
)
from .sql import Connection

BILLING_RULES = "SELECT rules FROM billing_rules WHERE car_park = ?"


def park_document_job(
    table: str, column: str, car_park: str, document: object, now: datetime
) -> Callable[[Connection], None]:
    """Sets a car park's one JSON document in ``table`` (its billing rules, its plate
    lists), kept as canonical JSON in ``column`` with the time it was set."""
    text = canonical_json(document)
    at = format_utc(now)

    def write(conn: Connection) -> None:
        conn.execute(
            f"INSERT INTO {table} (car_park, {column}, set_at) VALUES (?, ?, ?)"
            f" ON CONFLICT (car_park) DO UPDATE SET {column} = excluded.{column},"
            " set_at = excluded.set_at",
            (car_park, text, at),
        )

    return write


def set_rules_job(car_park: str, rules: Rules, now: datetime) -> Callable[[Connection], None]:
    return park_document_job("billing_rules", "rules", car_park, rules.to_json(), now)


def rules_of(rows: list[tuple[str]]) -> Rules | None:
    # Read back through the same strict reader: a row edited outside the program into
    # rules that do not stand is refused here rather than charged by.
    return Rules.parse(json.loads(rows[0][0])) if rows else None


ORDER_COLUMNS = (
    "id, car_park, lane, plate, stay_id, amount_fen, rules_fen, reason, created_at,"
    " expires_at, state, provider, provider_ref, paid_at"
)
ONE_ORDER = f"SELECT {ORDER_COLUMNS} FROM payment_orders WHERE id = ?"
OPEN_ORDERS = (
    f"SELECT {ORDER_COLUMNS} FROM payment_orders WHERE lane = ? AND state = 'open' ORDER BY id"
)
UNSETTLED_ORDERS = (
    f"SELECT {ORDER_COLUMNS} FROM payment_orders WHERE expires_at > ? AND NOT EXISTS"
    " (SELECT 1 FROM payment_notifications WHERE order_id = payment_orders.id)"
    " ORDER BY expires_at, id"
)
NOTIFICATION_COLUMNS = "transaction_id, amount_fen, received_at, effect, source, notification_id"
# The order that paid for a stay, if one did (the latest, should there be two).
PAID_FOR_STAY = (
    f"SELECT {ORDER_COLUMNS} FROM payment_orders WHERE stay_id = ? AND state = 'paid'"
    " ORDER BY paid_at DESC, id LIMIT 1"
)
NOTIFICATIONS = (
    f"SELECT {NOTIFICATION_COLUMNS} FROM payment_notifications"
    " WHERE order_id = ? ORDER BY received_at, transaction_id"
)
# Opens a stopped centre never heard the end of: they end as its ledger's requests do.
UNENDED_OPENS = "UPDATE payment_opens SET outcome = ? WHERE outcome IS NULL"
OPENS = (
    "SELECT command_id, actor, requested_at, outcome, detail FROM payment_opens"
    " WHERE order_id = ? ORDER BY requested_at, command_id"
)


def order_row(order: PaymentOrder) -> tuple[object, ...]:
    return (
        order.order_id,
        order.car_park,
        order.lane,
        order.plate,
        order.stay_id,
        order.amount_fen,
        order.rules_fen,
        order.reason,
        format_utc(order.created_at),
        format_utc(order.expires_at),
        order.state.value,
        order.provider,
        order.provider_ref,
        None if order.paid_at is None else format_utc(order.paid_at),
    )


def order_of(row: tuple[Any, ...]) -> PaymentOrder:
    return PaymentOrder(
        order_id=row[0],
        car_park=row[1],
        lane=row[2],
        plate=row[3],
        stay_id=row[4],
        amount_fen=row[5],
        rules_fen=row[6],
        reason=row[7],
        created_at=parse_utc(row[8]),
        expires_at=parse_utc(row[9]),
        state=OrderState(row[10]),
        provider=row[11],
        provider_ref=row[12],
        paid_at=None if row[13] is None else parse_utc(row[13]),
    )


def notification_of(row: tuple[Any, ...]) -> Notification:
    return Notification(
        row[0], row[1], parse_utc(row[2]), PaidEffect(row[3]), NoticeSource(row[4]), row[5]
    )


def gate_open_of(row: tuple[Any, ...]) -> GateOpen:
    return GateOpen(row[0], row[1], parse_utc(row[2]), row[3], row[4])


def add_order_job(order: PaymentOrder, cancelled: Sequence[str]) -> Callable[[Connection], None]:
    """The new order, and the lane's ``cancelled`` open orders it replaces, together."""
    row = order_row(order)

    def write(conn: Connection) -> None:
        for order_id in cancelled:
            conn.execute(
                "UPDATE payment_orders SET state = 'cancelled' WHERE id = ? AND state = 'open'",
                (order_id,),
            )
        conn.execute(
            f"INSERT INTO payment_orders ({ORDER_COLUMNS}) VALUES ({', '.join('?' * len(row))})",
            row,
        )

    return write


def record_payment_job(
    order_id: str,
    transaction_id: str,
    amount_fen: int,
    now: datetime,
    source: NoticeSource,
    notification_id: str | None,
) -> Callable[[Connection], Settled]:
    """A genuine payment, kept once per transaction and each notification id once; a
    replay changes nothing and says so. A notification of a payment a query found
    first lends it its id. Raises ``UnknownOrder``, or ``NotificationRefused``
    (``amount_mismatch``) for a sum that is not the order's."""

    def write(conn: Connection) -> Settled:
        found = conn.execute(ONE_ORDER, (order_id,)).fetchone()
        if found is None:
            raise UnknownOrder("unknown_order", f"no order {order_id}")
        order = order_of(found)
        kept = conn.execute(
            f"SELECT {NOTIFICATION_COLUMNS} FROM payment_notifications"
            " WHERE order_id = ? AND (transaction_id = ? OR notification_id = ?)",
            (order_id, transaction_id, notification_id),
        ).fetchone()
        if kept is not None:
            known = notification_of(kept)
            if notification_id is not None and known.notification_id is None:
                conn.execute(
                    "UPDATE payment_notifications SET notification_id = ?"
                    " WHERE order_id = ? AND transaction_id = ?",
                    (notification_id, order_id, known.transaction_id),
                )
                known = replace(known, notification_id=notification_id)
            return Settled(order, known, new=False)
        if amount_fen != order.amount_fen:
            raise NotificationRefused(
                "amount_mismatch",
                f"paid {amount_fen} fen for order {order_id} of {order.amount_fen} fen",
            )
        after, effect = pay(order, now)
        if after is not order:
            conn.execute(
                "UPDATE payment_orders SET state = ?, paid_at = ? WHERE id = ?",
                (after.state.value, format_utc(now), order_id),
            )
        notification = Notification(
            transaction_id, amount_fen, now, effect, source, notification_id
        )
        conn.execute(
            f"INSERT INTO payment_notifications (order_id, {NOTIFICATION_COLUMNS})"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                order_id,
                transaction_id,
                amount_fen,
                format_utc(now),
                effect.value,
                source.value,
                notification_id,
            ),
        )
        return Settled(after, notification, new=True)

    return write


def add_open_job(open_: GateOpen, order_id: str) -> Callable[[Connection], None]:
    row = (
        open_.command_id,
        order_id,
        open_.actor,
        format_utc(open_.requested_at),
        open_.outcome,
        open_.detail,
    )

    def write(conn: Connection) -> None:
        # Kept when asked (no outcome yet), and again when it ended: its outcome.
        conn.execute(
            "INSERT INTO payment_opens (command_id, order_id, actor, requested_at, outcome, detail)"
            " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (command_id)"
            " DO UPDATE SET outcome = excluded.outcome, detail = excluded.detail",
            row,
        )

    return write
