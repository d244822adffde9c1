"""Payment orders as pure rules: amounts, the steps of an order, the signed pay link and
the sandbox's notifications. No socket, no store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.payments.errors import BadOrder, NotificationRefused, OrderClosed
from console.payments.links import (
    LinkRefused,
    link_key,
    make_link_token,
    read_link_token,
)
from console.payments.orders import (
    AMOUNT_MAX,
    OrderState,
    PaidEffect,
    PaymentOrder,
    cancel,
    check_payable,
    choose_amount,
    new_order,
    pay,
    read_amount,
)
from console.payments.sandbox import SIGNATURE_HEADER, SandboxProvider

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)
ORDER_ID = "0123456789abcdef0123456789abcdef"
KEY = link_key(b"k" * 32)


def order() -> PaymentOrder:
    return new_order(
        ORDER_ID,
        car_park="人民路停车场",
        lane="P1-OUT",
        plate="粤B12345",
        stay_id=7,
        amount_fen=1500,
        rules_fen=1500,
        reason=None,
        provider="sandbox",
        now=NOW,
        expiry=timedelta(minutes=15),
    )


@pytest.mark.parametrize("amount", [-1, 0, AMOUNT_MAX + 1, 1.5, 100.0, True, False, "100", None])
def test_an_amount_that_is_not_whole_fen_in_range_is_invalid_amount(amount: object) -> None:
    with pytest.raises(BadOrder) as caught:
        read_amount(amount)
    assert caught.value.code == "invalid_amount"


@pytest.mark.parametrize("amount", [1, 1500, AMOUNT_MAX])
def test_whole_fen_in_range_is_an_amount(amount: int) -> None:
    assert read_amount(amount) == amount


def test_the_rules_amount_is_taken_when_none_is_asked() -> None:
    assert choose_amount(1500, None, "") == 1500
    assert choose_amount(1500, 1500, "") == 1500


def test_another_amount_than_the_rules_needs_a_reason() -> None:
    with pytest.raises(BadOrder) as caught:
        choose_amount(1500, 1000, "")
    assert caught.value.code == "reason_required"
    assert choose_amount(1500, 1000, "车主出示优惠券") == 1000


def test_without_a_stay_the_agent_names_the_amount() -> None:
    assert choose_amount(None, 800, "") == 800
    with pytest.raises(BadOrder) as caught:
        choose_amount(None, None, "")
    assert caught.value.code == "amount_required"


def test_a_stay_the_rules_charge_nothing_has_nothing_to_pay() -> None:
    with pytest.raises(OrderClosed) as caught:
        choose_amount(0, None, "")
    assert caught.value.code == "nothing_to_pay"


def test_an_open_order_is_paid_once() -> None:
    paid, effect = pay(order(), NOW + timedelta(minutes=1))
    assert (paid.state, paid.paid_at, effect) == (
        OrderState.PAID,
        NOW + timedelta(minutes=1),
        PaidEffect.PAID,
    )
    again, effect = pay(paid, NOW + timedelta(minutes=2))
    assert (again, effect) == (paid, PaidEffect.ALREADY_PAID)


def test_an_open_order_past_its_expiry_is_expired_and_a_payment_is_late() -> None:
    late = NOW + timedelta(minutes=15)
    assert order().state_at(late - timedelta(microseconds=1)) is OrderState.OPEN
    assert order().state_at(late) is OrderState.EXPIRED
    unchanged, effect = pay(order(), late)
    assert (unchanged, effect) == (order(), PaidEffect.LATE)
    with pytest.raises(OrderClosed) as caught:
        check_payable(order(), late)
    assert caught.value.code == "order_expired"


def test_a_cancelled_order_cannot_be_paid_nor_cancelled_again() -> None:
    cancelled = cancel(order(), NOW)
    assert cancelled.state is OrderState.CANCELLED
    assert pay(cancelled, NOW)[1] is PaidEffect.LATE
    with pytest.raises(OrderClosed) as caught:
        cancel(cancelled, NOW)
    assert caught.value.code == "order_cancelled"


def test_a_paid_order_is_not_payable() -> None:
    paid, _ = pay(order(), NOW)
    with pytest.raises(OrderClosed) as caught:
        check_payable(paid, NOW)
    assert caught.value.code == "order_paid"


@pytest.mark.parametrize(("amount", "minutes"), [(0, 15), (1500, 0)])
def test_an_order_of_no_amount_or_no_expiry_is_not_made(amount: int, minutes: int) -> None:
    with pytest.raises((BadOrder, ValueError)):
        new_order(
            ORDER_ID,
            car_park="人民路停车场",
            lane="P1-OUT",
            plate="粤B12345",
            stay_id=None,
            amount_fen=amount,
            rules_fen=None,
            reason=None,
            provider="sandbox",
            now=NOW,
            expiry=timedelta(minutes=minutes),
        )


def test_a_pay_link_names_its_order() -> None:
    assert read_link_token(KEY, make_link_token(KEY, ORDER_ID)) == ORDER_ID


def test_every_one_character_change_to_a_pay_link_is_refused() -> None:
    token = make_link_token(KEY, ORDER_ID)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    for i, old in enumerate(token):
        for new in alphabet:
            if new == old:
                continue
            with pytest.raises(LinkRefused):
                read_link_token(KEY, token[:i] + new + token[i + 1 :])


def test_a_pay_link_signed_with_another_key_is_forged() -> None:
    token = make_link_token(link_key(b"o" * 32), ORDER_ID)
    with pytest.raises(LinkRefused) as caught:
        read_link_token(KEY, token)
    assert caught.value.code == "pay_link_forged"


def test_a_sticker_key_never_passes_for_the_pay_link_key() -> None:
    """A sticker token and a pay link are signed under different keys."""
    sticker_key = b"k" * 32
    token = make_link_token(sticker_key, ORDER_ID)
    with pytest.raises(LinkRefused):
        read_link_token(link_key(sticker_key), token)


def test_the_sandbox_verifies_its_own_notification_and_refuses_an_altered_one() -> None:
    sandbox = SandboxProvider(b"s" * 32)
    headers, body = sandbox.take(order())
    notice = sandbox.verify(headers, body)
    assert (notice.order_id, notice.amount_fen) == (ORDER_ID, 1500)
    assert sandbox.take(order()) == (headers, body)  # one transaction per order
    with pytest.raises(NotificationRefused) as caught:
        sandbox.verify(headers, body.replace(b"1500", b"1"))
    assert caught.value.code == "notification_forged"
    with pytest.raises(NotificationRefused):
        sandbox.verify({SIGNATURE_HEADER: "0" * 64}, body)
    with pytest.raises(NotificationRefused):
        SandboxProvider(b"o" * 32).verify(headers, body)
