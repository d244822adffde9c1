"""When the centre asks a provider after an order no notification paid: the schedule
alone, with literal times and no provider."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.payments.chasing import ChasePlan
from console.payments.orders import PaymentOrder, new_order
from console.settings import Settings

NOW = datetime(2026, 11, 29, 2, 0, tzinfo=UTC)


def order(order_id: str = "a" * 32, minutes: float = 15, at: datetime = NOW) -> PaymentOrder:
    return new_order(
        order_id,
        car_park="人民路停车场",
        lane="P1-OUT",
        plate="粤B12345",
        stay_id=None,
        amount_fen=800,
        rules_fen=None,
        reason=None,
        provider="wechat",
        now=at,
        expiry=timedelta(minutes=minutes),
    )


def s(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)


def asks(plan: ChasePlan, order_id: str, limit: int = 50) -> list[float]:
    """The seconds after NOW at which the order is asked, while nothing is found."""
    times: list[float] = []
    while order_id in plan and len(times) < limit:
        due = plan.next_due()
        assert due is not None
        assert plan.due(due) == [order_id]
        times.append((due - NOW).total_seconds())
        plan.asked(order_id, due)
    return times


def test_an_order_is_asked_after_the_first_wait_then_at_doubling_intervals_to_the_cap() -> None:
    plan = ChasePlan(30, longest_s=120)
    plan.add(order(minutes=10))
    assert asks(plan, "a" * 32) == [30, 90, 210, 330, 450, 570, 630]


def test_an_order_is_asked_once_more_after_its_expiry_and_then_no_more() -> None:
    """A payment made in the order's last seconds is still found."""
    plan = ChasePlan(30, longest_s=120)
    plan.add(order(minutes=1))
    assert asks(plan, "a" * 32) == [30, 90]
    assert (len(plan), plan.next_due()) == (0, None)


def test_nothing_is_due_before_its_time_and_an_empty_plan_has_no_next() -> None:
    plan = ChasePlan(30)
    assert plan.next_due() is None and plan.due(s(1000)) == []
    plan.add(order())
    assert plan.due(s(29.9)) == [] and plan.next_due() == s(30)


def test_the_longest_overdue_is_asked_first_and_a_dropped_order_is_not_asked() -> None:
    plan = ChasePlan(30)
    plan.add(order("b" * 32, at=s(5)))
    plan.add(order("a" * 32))
    plan.add(order("c" * 32, at=s(1)))
    assert plan.due(s(40)) == ["a" * 32, "c" * 32, "b" * 32]
    plan.drop("c" * 32)
    plan.drop("never added")
    assert plan.due(s(40)) == ["a" * 32, "b" * 32]


def test_an_ask_of_an_order_no_longer_planned_changes_nothing() -> None:
    plan = ChasePlan(30)
    plan.asked("a" * 32, s(30))
    assert len(plan) == 0


def test_a_first_wait_beyond_the_longest_is_the_wait_between_every_two_asks() -> None:
    plan = ChasePlan(300, longest_s=120)
    plan.add(order(minutes=15))
    assert asks(plan, "a" * 32) == [300, 600, 900, 1200]


@pytest.mark.parametrize("first", [0, -1, float("inf"), float("nan")])
def test_a_plan_needs_a_positive_first_wait(first: float) -> None:
    with pytest.raises(ValueError):
        ChasePlan(first)


@pytest.mark.parametrize("raw", ["0", "-5", "inf", "soon"])
def test_a_query_wait_that_is_not_a_positive_number_of_seconds_stops_the_start(raw: str) -> None:
    with pytest.raises(ValueError, match="SEAT_PAYMENT_QUERY_AFTER_S"):
        Settings.from_env({"SEAT_PAYMENT_QUERY_AFTER_S": raw})


def test_the_query_wait_is_read_from_its_variable() -> None:
    assert Settings.from_env({}).payment_query_after_s == 30.0
    assert Settings.from_env({"SEAT_PAYMENT_QUERY_AFTER_S": "2.5"}).payment_query_after_s == 2.5
