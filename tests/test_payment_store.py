"""Payment orders in the SQLite store: a notification is kept once per transaction, a
second transaction of a paid order pays nothing more, a wrong sum changes nothing."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from console.payments.errors import NotificationRefused, UnknownOrder
from console.payments.orders import (
    GateOpen,
    NoticeSource,
    OrderState,
    PaidEffect,
    PaymentOrder,
    new_order,
)
from console.sqlite_store import SQLiteStore

pytestmark = pytest.mark.both_stores

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
ORDER_ID = "0123456789abcdef0123456789abcdef"


def order(order_id: str = ORDER_ID) -> PaymentOrder:
    return new_order(
        order_id,
        car_park="人民路停车场",
        lane="P1-OUT",
        plate="粤B12345",
        stay_id=None,
        amount_fen=800,
        rules_fen=None,
        reason=None,
        provider="sandbox",
        now=NOW,
        expiry=timedelta(minutes=15),
    )


async def test_an_order_is_read_back_as_kept(store: SQLiteStore) -> None:
    await store.add_payment_order(order(), [])
    assert await store.payment_order(ORDER_ID) == order()
    assert await store.open_payment_orders("P1-OUT") == [order()]


async def test_a_newer_order_cancels_the_ones_it_replaces(store: SQLiteStore) -> None:
    await store.add_payment_order(order(), [])
    newer = order("f" * 32)
    await store.add_payment_order(newer, [ORDER_ID])
    replaced = await store.payment_order(ORDER_ID)
    assert replaced is not None and replaced.state is OrderState.CANCELLED
    assert await store.open_payment_orders("P1-OUT") == [newer]


async def test_a_transaction_is_kept_once_and_a_second_pays_nothing_more(
    store: SQLiteStore,
) -> None:
    await store.add_payment_order(order(), [])
    first = await store.record_payment(ORDER_ID, "tx-1", 800, NOW + timedelta(minutes=1))
    assert (first.new, first.notification.effect, first.order.state) == (
        True,
        PaidEffect.PAID,
        OrderState.PAID,
    )
    again = await store.record_payment(ORDER_ID, "tx-1", 800, NOW + timedelta(minutes=2))
    assert (again.new, again.notification) == (False, first.notification)
    other = await store.record_payment(ORDER_ID, "tx-2", 800, NOW + timedelta(minutes=3))
    assert (other.new, other.notification.effect) == (True, PaidEffect.ALREADY_PAID)
    kept = await store.payment_order(ORDER_ID)
    assert kept is not None and kept.paid_at == NOW + timedelta(minutes=1)
    assert [n.transaction_id for n in await store.payment_notifications(ORDER_ID)] == [
        "tx-1",
        "tx-2",
    ]


async def test_a_payment_after_the_expiry_is_late_and_leaves_the_order_unpaid(
    store: SQLiteStore,
) -> None:
    await store.add_payment_order(order(), [])
    late = await store.record_payment(ORDER_ID, "tx-1", 800, NOW + timedelta(minutes=15))
    assert (late.notification.effect, late.order.state) == (PaidEffect.LATE, OrderState.OPEN)
    assert late.order.state_at(NOW + timedelta(minutes=15)) is OrderState.EXPIRED


async def test_a_wrong_sum_or_an_unknown_order_changes_nothing(store: SQLiteStore) -> None:
    await store.add_payment_order(order(), [])
    with pytest.raises(NotificationRefused) as caught:
        await store.record_payment(ORDER_ID, "tx-1", 1, NOW)
    assert caught.value.code == "amount_mismatch"
    with pytest.raises(UnknownOrder):
        await store.record_payment("f" * 32, "tx-1", 800, NOW)
    assert await store.payment_notifications(ORDER_ID) == []
    assert await store.payment_order(ORDER_ID) == order()


async def test_a_notification_id_is_kept_once_and_its_replay_changes_nothing(
    store: SQLiteStore,
) -> None:
    await store.add_payment_order(order(), [])
    first = await store.record_payment(
        ORDER_ID, "tx-1", 800, NOW + timedelta(minutes=1), notification_id="n-1"
    )
    again = await store.record_payment(
        ORDER_ID, "tx-1", 800, NOW + timedelta(minutes=2), notification_id="n-1"
    )
    assert (first.new, again.new, again.notification) == (True, False, first.notification)
    assert [
        (n.transaction_id, n.source, n.notification_id)
        for n in await store.payment_notifications(ORDER_ID)
    ] == [("tx-1", NoticeSource.NOTIFICATION, "n-1")]


async def test_a_payment_a_query_found_takes_the_id_of_the_notification_that_follows(
    store: SQLiteStore,
) -> None:
    """Found by asking, then notified: one payment, kept with how it was first learnt."""
    await store.add_payment_order(order(), [])
    found = await store.record_payment(
        ORDER_ID, "tx-1", 800, NOW + timedelta(minutes=1), source=NoticeSource.QUERY
    )
    assert (found.notification.source, found.notification.notification_id) == (
        NoticeSource.QUERY,
        None,
    )
    told = await store.record_payment(
        ORDER_ID, "tx-1", 800, NOW + timedelta(minutes=2), notification_id="n-1"
    )
    assert (told.new, told.notification.notification_id) == (False, "n-1")
    assert [(n.source, n.notification_id) for n in await store.payment_notifications(ORDER_ID)] == [
        (NoticeSource.QUERY, "n-1")
    ]


async def test_the_unsettled_orders_are_those_unpaid_and_not_long_expired(
    store: SQLiteStore,
) -> None:
    """In any state: a cancelled order's QR code may still be paid with its provider."""
    await store.add_payment_order(order(), [])
    replacing = order("f" * 32)
    await store.add_payment_order(replacing, [ORDER_ID])
    paid = order("e" * 32)
    await store.add_payment_order(paid, [])
    await store.record_payment(paid.order_id, "tx-1", 800, NOW)
    unsettled = await store.unsettled_payment_orders(NOW)
    assert [(o.order_id, o.state) for o in unsettled] == [
        (ORDER_ID, OrderState.CANCELLED),
        (replacing.order_id, OrderState.OPEN),
    ]
    assert await store.unsettled_payment_orders(NOW + timedelta(minutes=15)) == []


async def test_an_open_is_kept_as_asked_then_with_its_outcome_and_an_unended_one_times_out(
    store: SQLiteStore,
) -> None:
    await store.add_payment_order(order(), [])
    asked = GateOpen("c1", "system", NOW, None, None)
    await store.add_payment_open(ORDER_ID, asked)
    await store.add_payment_open(ORDER_ID, GateOpen("c2", "alice", NOW, None, None))
    assert await store.payment_opens(ORDER_ID) == [asked, GateOpen("c2", "alice", NOW, None, None)]
    await store.add_payment_open(ORDER_ID, replace(asked, outcome="refused", detail="gate_fault"))
    assert await store.end_unended_payment_opens("timeout") == 1
    assert [(o.command_id, o.outcome) for o in await store.payment_opens(ORDER_ID)] == [
        ("c1", "refused"),
        ("c2", "timeout"),
    ]
    assert await store.end_unended_payment_opens("timeout") == 0
