"""The store's part that keeps what each car park charges and whom it lets
through: billing rules, plate lists, the blacklist holds made by them, and the debts of
cars that left without paying. The jobs and queries are in ``sqlite_payments.py``
(rules) and ``sqlite_debts.py`` (lists, holds, debts)."""

from __future__ import annotations

from datetime import datetime

from .billing.debts import Debt
from .billing.lists import PlateLists
from .billing.rules import Rules
from .gatekeeping.holds import BlacklistHold
from .ledger import AuditEntry, AuditRecord, format_utc
from .sqlite_base import StoreBase
from .sqlite_debts import (
    ALL_PLATE_LISTS,
    HOLDS,
    LATEST_STAY,
    ORDER_DEBTS,
    OWED_DEBTS,
    PLATE_LIST_STAMPS,
    PLATE_LISTS,
    STAY_DEBT,
    add_debt_job,
    add_hold_job,
    clear_debts_job,
    debt_of,
    hold_of,
    lists_of,
    set_lists_job,
)
from .sqlite_payments import BILLING_RULES, rules_of, set_rules_job


class BillingPart(StoreBase):
    """Billing rules, plate lists, blacklist holds and escape debts."""

    # -------------------------------------------------------------- billing

    async def set_billing_rules(self, car_park: str, rules: Rules, now: datetime) -> None:
        """Replaces the car park's rules (or sets its first)."""
        await self._write(set_rules_job(car_park, rules, now))

    async def billing_rules(self, car_park: str) -> Rules | None:
        return rules_of(await self._read(BILLING_RULES, (car_park,)))

    async def set_plate_lists(self, car_park: str, lists: PlateLists, now: datetime) -> None:
        """Replaces the car park's plate lists (or sets its first)."""
        await self._write(set_lists_job(car_park, lists, now))

    async def plate_lists(self, car_park: str) -> PlateLists | None:
        found = lists_of(await self._read(PLATE_LISTS, (car_park,)))
        return found[0] if found else None

    async def plate_list_stamps(self) -> list[tuple[str, str]]:
        """Each car park with lists and when they were set: cheap to compare, so a
        reader of every list parses them again only once one changed."""
        return [(row[0], row[1]) for row in await self._read(PLATE_LIST_STAMPS)]

    async def all_plate_lists(self) -> list[PlateLists]:
        return lists_of(await self._read(ALL_PLATE_LISTS))

    async def add_blacklist_hold(
        self, record: AuditRecord, hold: BlacklistHold
    ) -> list[AuditEntry]:
        """Writes ``record``, then the hold, together."""
        return await self._write_together((record,), add_hold_job(hold))

    async def blacklist_holds(self, since: datetime, until: datetime) -> list[BlacklistHold]:
        """The holds of reads from ``since`` (included) to ``until``, oldest first."""
        rows = await self._read(HOLDS, (format_utc(since), format_utc(until)))
        return [hold_of(row) for row in rows]

    # -------------------------------------------------------------- debts

    async def add_debt(
        self, record: AuditRecord, debt: Debt, stay_id: int, note: str
    ) -> list[AuditEntry]:
        """Writes ``record``, then the debt of stay ``stay_id``'s escape, together;
        ``NotFound``/``Conflict`` as ``sqlite_debts.add_debt_job`` says, and then
        nothing is written."""
        return await self._write_together(
            (record,), add_debt_job(debt, stay_id, record.actor, note)
        )

    async def latest_stay(self, car_park: str, plate: str, before: datetime) -> int | None:
        """The id of ``plate``'s latest stay at ``car_park`` entered at or before
        ``before``, whatever its state."""
        rows = await self._read(LATEST_STAY, (car_park, plate, format_utc(before)))
        return rows[0][0] if rows else None

    async def owed_debts(self, plate: str, besides: int | None = None) -> list[Debt]:
        """What ``plate`` (normalised) owes at any car park, oldest first, but the debt
        of stay ``besides``."""
        return [debt_of(row) for row in await self._read(OWED_DEBTS, (plate, besides))]

    async def stay_debt(self, stay_id: int) -> Debt | None:
        """The debt of stay ``stay_id``'s escape while it is owed; None if none is."""
        rows = await self._read(STAY_DEBT, (stay_id,))
        return debt_of(rows[0]) if rows else None

    async def order_debts(self, order_id: str) -> list[Debt]:
        """The debts order ``order_id`` settles once paid, cleared or not: those it
        asked for beside its fee, and its own stay's."""
        return [debt_of(row) for row in await self._read(ORDER_DEBTS, (order_id, order_id))]

    async def clear_debts(self, order_id: str, now: datetime) -> list[str]:
        """Clears the debts paid order ``order_id`` named; returns their ids."""
        return await self._write(clear_debts_job(order_id, now))
