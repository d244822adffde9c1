"""What the centre does by itself with a car a lane's camera read: let it through, hold
it for the seat, ask it to pay, or leave it to the seat.

Pure: the caller reads the plate's classification (``console.billing.lists``), its
stay's fee and its open debts, and carries the decision out (``keeper``). The order of
the rules is the operator's:

- a **blacklisted** plate is never released by the system, at an entry or an exit; the
  seat is alerted and only a person may let it go;
- at an **entry**, a plate that owes debts is alerted to the seat and still let in (it
  pays them at its next exit); a plate read well (GA 36-2018) is let in; an unread or
  malformed one is left to the seat, as the lane's own controller did before;
- at an **exit**, a stay paid already (its order paid before the car reached the
  barrier, or the barrier stayed down) is let out for that payment;
  a monthly pass valid that day or the whitelist goes free, unless the
  plate owes debts: a pass does not waive an escape, so it pays those; a stay the rules
  charge nothing (within its free minutes) goes free the same way; a stay that costs
  something, or debts, make a payment order of fee plus debts; an exit whose fee is
  not known (no entry found, no rules, no plate) is left to the seat.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from ..actions import OpenReason
from ..billing.debts import Debt, Settlement, settle
from ..billing.lists import Classification, Decision


class Verdict(enum.StrEnum):
    RELEASE = "release"  # the centre opens the gate, for ``reason``
    HOLD = "hold"  # blacklisted: never opened by the centre
    CHARGE = "charge"  # the centre issues a payment order for ``settlement``
    REFER = "refer"  # nothing the centre can decide: the seat does


class AlertKind(enum.StrEnum):
    BLACKLIST = "blacklist"
    DEBTOR = "debtor"


class Why(enum.StrEnum):
    """Why an exit or an entry was left to the seat."""

    UNREAD = "unread"  # no plate, or one that breaks GA 36-2018
    FEE_UNKNOWN = "fee_unknown"  # no stay, no entry time or no rules to charge by


@dataclass(frozen=True, slots=True)
class LaneDecision:
    verdict: Verdict
    reason: OpenReason | None = None
    settlement: Settlement | None = None
    alerts: tuple[AlertKind, ...] = ()
    why: Why | None = None


_FREE_REASONS = {
    Decision.MONTHLY_PASS: OpenReason.MONTHLY_PASS,
    Decision.WHITELIST: OpenReason.WHITELIST,
}


def decide_entry(
    plate: str, well_read: bool, classification: Classification, debts: Sequence[Debt]
) -> LaneDecision:
    """An entry of ``plate`` (normalised; ``well_read`` when it passes GA 36-2018)."""
    owes = (AlertKind.DEBTOR,) if debts else ()
    if classification.decision is Decision.BLACKLIST:
        return LaneDecision(Verdict.HOLD, alerts=(AlertKind.BLACKLIST, *owes))
    alerts = owes
    if not plate or not well_read:
        return LaneDecision(Verdict.REFER, alerts=alerts, why=Why.UNREAD)
    return LaneDecision(Verdict.RELEASE, OpenReason.ENTRY, alerts=alerts)


def decide_exit(
    plate: str,
    classification: Classification,
    fee_fen: int | None,
    debts: Sequence[Debt],
    *,
    paid: bool = False,
) -> LaneDecision:
    """An exit of ``plate`` (normalised, may be empty) whose stay costs ``fee_fen`` (None
    when it is not known), owing ``debts``; ``paid`` when an order for the stay was paid
    already: it is not charged twice. ``BadDebts`` from ``settle`` for debts that are
    not the plate's own."""
    if classification.decision is Decision.BLACKLIST:
        return LaneDecision(Verdict.HOLD, alerts=(AlertKind.BLACKLIST,))
    if not plate:
        return LaneDecision(Verdict.REFER, why=Why.UNREAD)
    if paid:
        return LaneDecision(Verdict.RELEASE, OpenReason.PAID)
    free = _FREE_REASONS.get(classification.decision)
    if free is not None:
        fee_fen = 0
    if fee_fen is None:
        return LaneDecision(Verdict.REFER, why=Why.FEE_UNKNOWN)
    settlement = settle(plate, fee_fen, debts)
    if settlement.total_fen > 0:
        return LaneDecision(Verdict.CHARGE, settlement=settlement)
    return LaneDecision(Verdict.RELEASE, free or OpenReason.FREE_MINUTES)
