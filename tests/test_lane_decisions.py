"""What the centre decides by itself at a lane, from literals: no sockets, no store."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from console.actions import OpenReason, parse_open
from console.billing.debts import Debt
from console.billing.errors import BadDebts
from console.billing.lists import ListedPlate, MonthlyPass, PlateLists, classify
from console.errors import BadRequest
from console.gatekeeping.decide import AlertKind, Verdict, Why, decide_entry, decide_exit
from console.gatekeeping.lists import merged

PARK = "人民路停车场"
OTHER = "解放路停车场"
PLATE = "粤B12345"
AT = datetime(2026, 11, 28, 3, 0, tzinfo=UTC)  # 11:00 in Asia/Shanghai
LISTS = PlateLists(
    passes=(
        MonthlyPass("粤B11111", PARK, date(2026, 11, 1), date(2026, 11, 30)),
        MonthlyPass("粤B22222", PARK, date(2026, 10, 1), date(2026, 10, 31)),
    ),
    whitelist=(ListedPlate("粤B33333", PARK, "消防"),),
    blacklist=(ListedPlate("粤B44444", None, "多次逃费"), ListedPlate("粤B11111", OTHER, "")),
)


def debt(plate: str = PLATE, fen: int = 800, debt_id: str = "d1") -> Debt:
    return Debt(debt_id, plate, OTHER, fen, datetime(2026, 11, 20, 2, 0, tzinfo=UTC))


def exit_of(plate: str, fee: int | None, debts: tuple[Debt, ...] = ()) -> tuple[Verdict, object]:
    decision = decide_exit(plate, classify(plate, PARK, LISTS, AT), fee, debts)
    detail = decision.reason or decision.why or decision.settlement
    return decision.verdict, detail


def test_a_blacklisted_plate_is_held_at_an_entry_and_the_seat_alerted() -> None:
    decision = decide_entry("粤B44444", True, classify("粤B44444", PARK, LISTS, AT), ())
    assert (decision.verdict, decision.reason, decision.alerts) == (
        Verdict.HOLD,
        None,
        (AlertKind.BLACKLIST,),
    )


def test_a_blacklisted_plate_is_held_at_an_exit_whatever_it_owes_or_costs() -> None:
    for fee in (None, 0, 500):
        decision = decide_exit("粤B44444", classify("粤B44444", PARK, LISTS, AT), fee, ())
        assert (decision.verdict, decision.alerts) == (Verdict.HOLD, (AlertKind.BLACKLIST,))


def test_a_pass_holder_blacklisted_at_another_car_park_goes_free_here() -> None:
    """The blacklist entry names its car park: it holds the plate there only."""
    assert exit_of("粤B11111", 900) == (Verdict.RELEASE, OpenReason.MONTHLY_PASS)
    held = decide_exit("粤B11111", classify("粤B11111", OTHER, LISTS, AT), 900, ())
    assert held.verdict is Verdict.HOLD


def test_a_plate_that_owes_is_let_in_and_the_seat_alerted() -> None:
    decision = decide_entry(PLATE, True, classify(PLATE, PARK, LISTS, AT), (debt(),))
    assert (decision.verdict, decision.reason, decision.alerts) == (
        Verdict.RELEASE,
        OpenReason.ENTRY,
        (AlertKind.DEBTOR,),
    )


def test_a_blacklisted_plate_that_owes_is_held_with_both_alerts() -> None:
    decision = decide_entry(
        "粤B44444", True, classify("粤B44444", PARK, LISTS, AT), (debt("粤B44444"),)
    )
    assert (decision.verdict, decision.alerts) == (
        Verdict.HOLD,
        (AlertKind.BLACKLIST, AlertKind.DEBTOR),
    )


def test_an_entry_read_well_is_let_in_and_one_read_badly_left_to_the_seat() -> None:
    clear = classify(PLATE, PARK, LISTS, AT)
    assert decide_entry(PLATE, True, clear, ()).reason is OpenReason.ENTRY
    for plate, well_read in (("", False), ("粤B1234", False)):
        decision = decide_entry(plate, well_read, classify(plate, PARK, LISTS, AT), ())
        assert (decision.verdict, decision.why) == (Verdict.REFER, Why.UNREAD)


def test_a_monthly_pass_and_the_whitelist_go_free_at_the_exit() -> None:
    assert exit_of("粤B11111", 900) == (Verdict.RELEASE, OpenReason.MONTHLY_PASS)
    assert exit_of("粤B33333", None) == (Verdict.RELEASE, OpenReason.WHITELIST)


def test_a_lapsed_pass_pays_its_fee() -> None:
    verdict, settlement = exit_of("粤B22222", 900)
    assert verdict is Verdict.CHARGE
    assert getattr(settlement, "total_fen", None) == 900


def test_a_stay_within_its_free_minutes_goes_free() -> None:
    assert exit_of(PLATE, 0) == (Verdict.RELEASE, OpenReason.FREE_MINUTES)


def test_an_owed_stay_is_charged_its_fee_and_every_debt() -> None:
    decision = decide_exit(
        PLATE,
        classify(PLATE, PARK, LISTS, AT),
        1500,
        (debt(fen=800, debt_id="d2"), debt(fen=300, debt_id="d1")),
    )
    assert decision.verdict is Verdict.CHARGE and decision.settlement is not None
    assert (decision.settlement.fee_fen, decision.settlement.total_fen) == (1500, 2600)
    assert [d.id for d in decision.settlement.debts] == ["d1", "d2"]


def test_a_pass_does_not_waive_a_debt_nor_do_free_minutes() -> None:
    for plate, fee in (("粤B11111", 900), (PLATE, 0)):
        verdict, settlement = exit_of(plate, fee, (debt(plate),))
        assert verdict is Verdict.CHARGE
        assert getattr(settlement, "total_fen", None) == 800


def test_an_exit_whose_fee_is_unknown_or_unread_is_left_to_the_seat() -> None:
    assert exit_of(PLATE, None) == (Verdict.REFER, Why.FEE_UNKNOWN)
    assert exit_of(PLATE, None, (debt(),)) == (Verdict.REFER, Why.FEE_UNKNOWN)
    assert exit_of("", 500) == (Verdict.REFER, Why.UNREAD)


def test_a_debt_of_another_plate_is_refused_rather_than_charged() -> None:
    with pytest.raises(BadDebts) as refused:
        exit_of(PLATE, 500, (debt("粤B99999"),))
    assert refused.value.code == "other_plate"


def test_every_car_parks_lists_are_decided_by_together() -> None:
    """A blacklist entry for all car parks, set in another car park's file, holds the
    plate here."""
    here = PlateLists(whitelist=(ListedPlate("粤B55555", PARK),))
    there = PlateLists(blacklist=(ListedPlate("粤B66666", None, "被盗车辆"),))
    both = merged([here, there])
    assert classify("粤B66666", PARK, both, AT).alert_seat
    assert classify("粤B55555", PARK, both, AT).free
    assert merged([]) == PlateLists()


@pytest.mark.parametrize("reason", ["entry", "monthly_pass", "whitelist", "free_minutes", "paid"])
def test_the_centres_own_reasons_are_not_an_agents_to_give(reason: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_open({"reason": reason})
    assert refused.value.code == "invalid_reason"


def test_a_stay_paid_already_goes_out_for_that_payment_but_a_blacklisted_one_does_not() -> None:
    """Never charged twice; the blacklist still comes first."""
    decision = decide_exit(PLATE, classify(PLATE, PARK, LISTS, AT), 1500, (debt(),), paid=True)
    assert (decision.verdict, decision.reason) == (Verdict.RELEASE, OpenReason.PAID)
    held = decide_exit("粤B44444", classify("粤B44444", PARK, LISTS, AT), 1500, (), paid=True)
    assert held.verdict is Verdict.HOLD
