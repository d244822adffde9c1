"""What an escape left owing is collected with the plate's next payment, oldest first,
and never from another plate or twice."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from console.billing.debts import Debt, Settlement, settle
from console.billing.errors import BadDebts

PLUS_8 = timezone(timedelta(hours=8))
OLD = Debt("d1", "粤B12345", "南山", 1200, datetime(2026, 1, 5, 22, 0, tzinfo=PLUS_8))
NEW = Debt("d2", "粤b·12345", "科技园", 800, datetime(2026, 2, 9, 8, 30, tzinfo=PLUS_8))


def test_the_payment_is_the_fee_and_every_open_debt_oldest_first() -> None:
    """One QR code settles the stay and each escape, whichever car park it was at."""
    result = settle("粤B12345", 600, [NEW, OLD])
    assert result == Settlement(600, (OLD, NEW))
    assert (result.debts_fen, result.total_fen) == (2000, 2600)
    assert result.to_json()["debts"][0] == {
        "id": "d1",
        "plate": "粤B12345",
        "car_park": "南山",
        "fen": 1200,
        "incurred_at": "2026-01-05T14:00:00.000Z",
    }


def test_a_free_stay_still_collects_the_debts() -> None:
    """A monthly pass waives the stay, not an escape."""
    assert settle("粤B12345", 0, [OLD]).total_fen == 1200


def test_no_debts_charges_the_fee_alone() -> None:
    assert settle("粤B12345", 600, []) == Settlement(600, ())


@pytest.mark.parametrize(
    ("fee_fen", "debts", "code"),
    [
        (600, [OLD, Debt("d3", "粤B54321", "南山", 500, OLD.incurred_at)], "other_plate"),
        (600, [OLD, OLD], "duplicate_debt"),
        (600, [Debt("d3", "粤B12345", "南山", 0, OLD.incurred_at)], "bad_amount"),
        (600, [Debt("d3", "粤B12345", "南山", -5, OLD.incurred_at)], "bad_amount"),
        (600, [Debt("d3", "粤B12345", "南山", 5, datetime(2026, 1, 5))], "naive_time"),
        (-1, [OLD], "bad_fee"),
        (True, [OLD], "bad_fee"),
    ],
)
def test_what_is_not_the_plates_open_debts_is_refused(
    fee_fen: int, debts: list[Debt], code: str
) -> None:
    """Another plate's debt, the same debt twice, a debt of nothing or a bad fee: the
    driver would be charged wrongly, so nothing is charged."""
    with pytest.raises(BadDebts) as caught:
        settle("粤B12345", fee_fen, debts)
    assert caught.value.code == code
