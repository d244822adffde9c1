"""What a plate owes from escapes (逃费: a car that left without paying), and what its
next payment collects.

An escape leaves a debt of the stay's unpaid fee against the plate. When the plate next
pays a fee, at any of the operator's car parks, the payment asked for is the fee plus
every open debt, so one QR code settles all; the debts it settles are named, oldest
first, for the caller to close once the payment is confirmed. Pure: the caller reads
the plate's open debts and records the payment.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from gates.plates import normalise
from gates.wire import format_time

from .errors import BadDebts, BadStay
from .localtime import local


@dataclass(frozen=True, slots=True)
class Debt:
    """The unpaid fee of one escape, at ``car_park`` on ``incurred_at``."""

    id: str
    plate: str
    car_park: str
    fen: int
    incurred_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "plate": self.plate,
            "car_park": self.car_park,
            "fen": self.fen,
            "incurred_at": format_time(self.incurred_at),
        }


@dataclass(frozen=True, slots=True)
class Settlement:
    """The payment to ask for: this stay's fee and the debts it settles."""

    fee_fen: int
    debts: tuple[Debt, ...]

    @property
    def debts_fen(self) -> int:
        return sum(debt.fen for debt in self.debts)

    @property
    def total_fen(self) -> int:
        return self.fee_fen + self.debts_fen

    def to_json(self) -> dict[str, Any]:
        return {
            "fee_fen": self.fee_fen,
            "debts": [debt.to_json() for debt in self.debts],
            "debts_fen": self.debts_fen,
            "total_fen": self.total_fen,
        }


def settle(plate: str, fee_fen: int, debts: Iterable[Debt]) -> Settlement:
    """The payment for a stay of ``plate`` costing ``fee_fen`` (0 for a free stay: a pass
    does not waive an escape), with ``debts``, the plate's open debts. Refused with
    ``BadDebts``, charging nothing: a negative fee, a debt of another plate (charging a
    driver for someone else's escape), a debt of nothing or less, the same debt twice
    (charging it twice)."""
    if type(fee_fen) is not int or fee_fen < 0:
        raise BadDebts("bad_fee", f"the fee must be a whole number of fen, 0 or more: {fee_fen!r}")
    key = normalise(plate)
    seen: set[str] = set()
    owed: list[Debt] = []
    for debt in debts:
        if normalise(debt.plate) != key:
            raise BadDebts("other_plate", f"debt {debt.id} is owed by another plate, not {key}")
        if type(debt.fen) is not int or debt.fen <= 0:
            raise BadDebts("bad_amount", f"debt {debt.id} must owe a whole number of fen above 0")
        if debt.id in seen:
            raise BadDebts("duplicate_debt", f"debt {debt.id} is given twice")
        seen.add(debt.id)
        try:
            local(f"debt {debt.id}'s incurred_at", debt.incurred_at)
        except BadStay as exc:
            raise BadDebts(exc.code, exc.detail) from None
        owed.append(debt)
    owed.sort(key=lambda debt: (debt.incurred_at, debt.id))
    return Settlement(fee_fen, tuple(owed))
