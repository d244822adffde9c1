"""A car park's billing rules and plate lists, set and shown from the ``seat`` CLI: read
strictly (``console.billing.rules``, ``console.billing.lists``), audited, then stored.

Plate lists are kept per car park. A car park's file holds its own monthly passes and
its whitelist and blacklist entries, each for that car park or (no ``car_park``) for
all of the operator's: the centre decides by every car park's lists together, so a
plate blacklisted everywhere by one car park's file is held at all of them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .accounts import cli_actor
from .billing.errors import BadPlateList, NoBillingRules
from .billing.lists import Entry, PlateLists
from .billing.rules import Rules
from .errors import BadRequest
from .ledger import AuditAction, AuditRecord
from .store import Store

# A rules file is a few kilobytes even with all 48 bands.
RULES_FILE_MAX = 256 * 1024
# A lists file of ``ENTRIES_MAX`` passes is some 10 MB.
LISTS_FILE_MAX = 16 * 1024 * 1024


def read_rules_file(path: Path) -> Rules:
    """The rules in the JSON file at ``path``; ``BadRules`` naming the field, or
    ``BadRequest`` for a file that is not there or not JSON."""
    return Rules.parse(_read_json(path, RULES_FILE_MAX))


def read_lists_file(path: Path, car_park: str) -> PlateLists:
    """The plate lists of ``car_park`` in the JSON file at ``path``: ``BadPlateList``
    naming the entry (``other_car_park`` for a pass or an entry of another car park,
    which belongs in that car park's file), or ``BadRequest`` as for rules."""
    lists = PlateLists.parse(_read_json(path, LISTS_FILE_MAX))
    named: list[tuple[str, Sequence[Entry]]] = [
        ("monthly_passes", lists.passes),
        ("whitelist", lists.whitelist),
        ("blacklist", lists.blacklist),
    ]
    for name, entries in named:
        for i, entry in enumerate(entries):
            if entry.car_park not in (car_park, None):
                raise BadPlateList(
                    "other_car_park",
                    f"{name}[{i}] is for car park {entry.car_park!r}, not {car_park!r}",
                )
    return lists


def _read_json(path: Path, limit: int) -> Any:
    try:
        with path.open("rb") as file:
            raw = file.read(limit + 1)
    except OSError as exc:
        raise BadRequest("unreadable_file", f"{path}: {exc.strerror}") from None
    if len(raw) > limit:
        raise BadRequest("file_too_large", f"{path}: more than {limit} bytes")
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError) as exc:
        raise BadRequest("bad_json", f"{path}: not JSON ({exc})") from None


async def _known(store: Store, car_park: str) -> None:
    known = {lane.car_park for lane in await store.list_lanes()}
    if car_park not in known:
        raise BadRequest("unknown_car_park", f"no lane is in car park {car_park!r}")


async def set_rules(store: Store, car_park: str, rules: Rules) -> None:
    """Audited before they are stored: no audit, no change."""
    await _known(store, car_park)
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


async def set_lists(store: Store, car_park: str, lists: PlateLists) -> None:
    """Audited before they are stored, whole (who was on the blacklist when is a
    question the ledger answers): no audit, no change."""
    await _known(store, car_park)
    await store.append(
        AuditRecord(
            actor=cli_actor(),
            action=AuditAction.PLATE_LISTS_SET,
            detail={
                "car_park": car_park,
                "monthly_passes": len(lists.passes),
                "whitelist": len(lists.whitelist),
                "blacklist": len(lists.blacklist),
                "lists": lists.to_json(),
            },
        )
    )
    await store.set_plate_lists(car_park, lists, datetime.now(UTC))


async def show_lists(store: Store, car_park: str) -> PlateLists:
    """The car park's lists; empty ones for a car park that has none set."""
    await _known(store, car_park)
    return await store.plate_lists(car_park) or PlateLists()
