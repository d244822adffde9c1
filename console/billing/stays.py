"""What a stay costs now: a car park's rules applied from the stay's entry to ``now``.

Pure: the rules (or None for a car park that has none) and the stay in, the fee out.
"""

from __future__ import annotations

from datetime import datetime

from ..vehicles.model import StayRecord
from .errors import BadStay, NoBillingRules
from .fees import Fee, fee
from .rules import Rules


def fee_for_stay(rules: Rules | None, stay: StayRecord, now: datetime) -> Fee:
    """The fee of ``stay`` from its entry to ``now``, by its car park's ``rules``.
    ``NoBillingRules`` when there are none; ``BadStay`` (``no_entry_time``) for a stay
    with no entry, which no rule can charge: an agent settles it by hand."""
    if rules is None:
        raise NoBillingRules(
            "no_billing_rules",
            f"car park {stay.car_park!r} has no billing rules: set them with"
            " `seat parks rules set`",
        )
    if stay.entered_at is None:
        raise BadStay("no_entry_time", f"stay {stay.stay_id} has no entry to charge from")
    return fee(rules, stay.entered_at, now)
