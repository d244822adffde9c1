"""A car park's billing rules, set and shown from the ``seat`` CLI: read strictly
(``console.billing.rules``), audited, then stored."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from .accounts import cli_actor
from .billing.errors import NoBillingRules
from .billing.rules import Rules
from .errors import BadRequest
from .ledger import AuditAction, AuditRecord
from .store import Store

# A rules file is a few kilobytes even with all 48 bands.
RULES_FILE_MAX = 256 * 1024


def read_rules_file(path: Path) -> Rules:
    """The rules in the JSON file at ``path``; ``BadRules`` naming the field, or
    ``BadRequest`` for a file that is not there or not JSON."""
    try:
        with path.open("rb") as file:
            raw = file.read(RULES_FILE_MAX + 1)
    except OSError as exc:
        raise BadRequest("unreadable_file", f"{path}: {exc.strerror}") from None
    if len(raw) > RULES_FILE_MAX:
        raise BadRequest("file_too_large", f"{path}: more than {RULES_FILE_MAX} bytes")
    try:
        value = json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("bad_json", f"{path}: not JSON ({exc})") from None
    return Rules.parse(value)


async def set_rules(store: Store, car_park: str, rules: Rules) -> None:
    """Audited before they are stored: no audit, no change."""
    known = {lane.car_park for lane in await store.list_lanes()}
    if car_park not in known:
        raise BadRequest("unknown_car_park", f"no lane is in car park {car_park!r}")
    await store.append(
        AuditRecord(
            actor=cli_actor(),
            action=AuditAction.BILLING_RULES_SET,
            detail={"car_park": car_park, "rules": rules.to_json()},
        )
    )
    await store.set_billing_rules(car_park, rules, datetime.now(UTC))


async def show_rules(store: Store, car_park: str) -> Rules:
    rules = await store.billing_rules(car_park)
    if rules is None:
        raise NoBillingRules("no_billing_rules", f"car park {car_park!r} has no billing rules")
    return rules
