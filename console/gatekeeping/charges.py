"""What a stay's payment asks for: its fee by the car park's rules, nothing for a plate
a monthly pass valid that day or the whitelist lets out free, plus every debt the
plate owes from escapes at any car park (a pass waives no debt) but the stay's own:
an escaped stay's fee is its debt, asked for once, and the order paying it clears
the debt (``console.sqlite_debts.ORDER_DEBTS``). One reading for the order an exit or
an agent issues and the fee the call workspace shows beside it."""

from __future__ import annotations

from datetime import datetime

from gates.plates import normalise

from ..billing.debts import Settlement, settle
from ..billing.lists import PlateLists, classify
from ..billing.stays import fee_for_stay
from ..store import Store
from ..vehicles.model import StayRecord


async def stay_charge(
    store: Store, lists: PlateLists, plate: str, stay: StayRecord, now: datetime
) -> Settlement:
    """The payment for ``stay`` of ``plate`` at ``now``; ``NoBillingRules`` and
    ``BadStay`` (``no_entry_time``) as ``fee_for_stay`` for a plate that pays a fee."""
    fee = 0
    if not classify(plate, stay.car_park, lists, now).free:
        fee = fee_for_stay(await store.billing_rules(stay.car_park), stay, now).total_fen
    return settle(plate, fee, await store.owed_debts(normalise(plate), stay.stay_id))
