"""The day's call ledger of a car park: which calls a local calendar day holds, the rows
the operator's contract asks for, and the day's figures.

The day is a calendar day in Asia/Shanghai (00:00 to 24:00, +08:00), whatever the
centre's own clock zone. China has kept +08:00 without summer time since 1991, so the
zone is that fixed offset: no tz database to be missing or stale on the centre. A call
belongs to the day it *finished* in (its record's ``ended_at``, the store's index): a day
that is over never changes again, even for a call that ran past midnight, which shows its
queued time on the day before.

Two cases are called out:

- **free release** (免费放行): the call's holder opened its lane's barrier with the
  reason ``free_release``, and that open did not certainly fail: its outcome is ``done``,
  ``timeout`` (the lane's answer never came, so it may have lifted) or not yet known when
  the call ended. ``refused`` and ``lane_offline`` lifted nothing. The other reasons are
  not free releases: ``paid_not_lifted`` and ``escape_recovered`` were paid, after
  ``no_entry_record`` and ``plate_misread`` the fee is settled as usual, and
  ``emergency``, ``equipment_fault`` and ``other`` say nothing about payment; they show
  in the row's actions with their reasons, for a reader to judge;
- **escape** (逃费): the agent filed the call under the category ``escape``.

- **blacklist hit** (黑名单): the centre held a blacklisted car at the call's lane
  shortly before the call came in or while it lasted (``console.gatekeeping.holds``).

Plates are personal data: masked unless the reader asks for them in full.

Pure: the HTTP handler reads the records and writes the ledger's entry.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

from gates.centre.commands import Outcome as CommandOutcome

from ..actions import OpenReason
from ..errors import BadRequest
from ..fields import query_fields
from ..gatekeeping.holds import BlacklistHold, held_for_call
from .model import CallState
from .record import ActionKind, ActionTaken, CallRecord, Category

SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
# Days outside these are refused: nothing was recorded before the first, and the day
# after the last would not fit in a ``datetime``.
FIRST_DAY = date(2000, 1, 1)
LAST_DAY = date(9998, 12, 31)
# A query string this long is not a ledger request (the longest car park name is 64
# characters, 576 bytes percent-encoded).

CATEGORY_LABELS: dict[Category, str] = {
    Category.PAID_NOT_LIFTED: "缴费不抬杆",
    Category.NO_ENTRY_RECORD: "无入场记录",
    Category.PLATE_MISREAD: "车牌识别错误",
    Category.NO_PLATE: "无牌车",
    Category.PAYMENT_HELP: "缴费求助",
    Category.EQUIPMENT_FAULT: "设备故障",
    Category.CONSULTATION: "咨询",
    Category.COMPLAINT: "投诉",
    Category.ESCAPE: "逃费",
    Category.OTHER: "其他",
}

# The outcomes of an open after which the barrier certainly did not lift.
_NOT_LIFTED = frozenset({CommandOutcome.REFUSED.value, CommandOutcome.LANE_OFFLINE.value})
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class LedgerFormat(enum.StrEnum):
    JSON = "json"
    CSV = "csv"


class PlateView(enum.StrEnum):
    MASKED = "masked"  # 粤B1***5
    FULL = "full"


@dataclass(frozen=True, slots=True)
class LedgerQuery:
    """A request for a day's ledger; ``car_park`` None means every car park."""

    day: date
    car_park: str | None
    format: LedgerFormat
    plates: PlateView


@dataclass(frozen=True, slots=True)
class DayWindow:
    """A local day as the UTC instants the store is asked for: ``since`` included,
    ``until`` not."""

    day: date
    since: datetime
    until: datetime


@dataclass(frozen=True, slots=True)
class LedgerRow:
    """A finished call as the ledger shows it; ``plate`` is as the reader may see it."""

    record: CallRecord
    plate: str
    free_release: bool
    escape: bool
    blacklist: bool = False

    @property
    def category(self) -> Category | None:
        outcome = self.record.outcome
        return None if outcome is None else outcome.category

    @property
    def amount_fen(self) -> int | None:
        outcome = self.record.outcome
        return None if outcome is None else outcome.amount_fen

    @property
    def note(self) -> str:
        outcome = self.record.outcome
        return "" if outcome is None else outcome.note


@dataclass(frozen=True, slots=True)
class Summary:
    calls: int
    answered: int
    abandoned: int
    answered_in_target: int  # answered within the service level's target wait
    breaches: int
    free_releases: int
    escapes: int
    blacklist_hits: int
    amount_fen: int  # the calls' amounts added up: paid, waived and owed alike
    by_category: dict[Category, int]  # every category, 0 included
    uncategorised: int  # finished without the form: abandoned, or hung up on the agent

    @property
    def service_level(self) -> float | None:
        """Percent of the answered calls answered within the target, to 0.1."""
        if not self.answered:
            return None
        return round(100 * self.answered_in_target / self.answered, 1)


# ------------------------------------------------------------------ the request


def parse_day(text: str) -> date:
    """``YYYY-MM-DD`` in ASCII digits, a real calendar day from ``FIRST_DAY`` to
    ``LAST_DAY``. ``date.fromisoformat`` alone would also take ``20260301`` and
    ``2026-W09-1``; the pattern would take ``２０２６`` if it said ``\\d``."""
    if _DATE.fullmatch(text) is None:
        raise BadRequest("invalid_date", "date must be YYYY-MM-DD")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise BadRequest("invalid_date", f"{text} is not a calendar day") from None
    if not FIRST_DAY <= day <= LAST_DAY:
        raise BadRequest("invalid_date", f"date must be from {FIRST_DAY} to {LAST_DAY}")
    return day


def parse_query(params: Sequence[tuple[str, str]], length: int) -> LedgerQuery:
    """The ledger request's query: ``date`` (required), ``car_park`` (empty or absent:
    every car park), ``format`` ``json``|``csv``, ``plates`` ``masked``|``full``.
    ``length`` is the raw query string's, in bytes. A parameter given twice is
    refused rather than one of its values picked."""
    values = query_fields(params, length, ("date", "car_park", "format", "plates"))
    if "date" not in values:
        raise BadRequest("invalid_date", "date=YYYY-MM-DD is required")
    day = parse_day(values["date"])
    try:
        format_ = LedgerFormat(values.get("format", LedgerFormat.JSON.value))
    except ValueError:
        raise BadRequest("invalid_format", "format must be json or csv") from None
    try:
        plates = PlateView(values.get("plates", PlateView.MASKED.value))
    except ValueError:
        raise BadRequest("invalid_plates", "plates must be masked or full") from None
    return LedgerQuery(day, values.get("car_park") or None, format_, plates)


def day_window(day: date) -> DayWindow:
    start = datetime.combine(day, time(), SHANGHAI)
    return DayWindow(day, start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC))


def local(at: datetime) -> datetime:
    """A stored (UTC) time as the car park's clock shows it."""
    return at.astimezone(SHANGHAI)


# ------------------------------------------------------------------ rows


def mask_plate(plate: str) -> str:
    """The province, the issuing letter, the first and the last character: ``粤B12345``
    is ``粤B1***5``, a new-energy ``粤BD12345`` is ``粤BD****5``. A stored plate is
    always 7 or 8 characters; anything shorter is masked whole."""
    if len(plate) < 5:
        return "*" * len(plate)
    return plate[:3] + "*" * (len(plate) - 4) + plate[-1]


def is_free_release(actions: Iterable[ActionTaken]) -> bool:
    """See the module's rule: an open for ``free_release`` not known to have failed."""
    return any(
        action.kind is ActionKind.OPEN_GATE
        and action.reason == OpenReason.FREE_RELEASE.value
        and action.outcome not in _NOT_LIFTED
        for action in actions
    )


def rows_of(
    records: Iterable[CallRecord],
    car_park: str | None,
    plates: PlateView,
    holds: Sequence[BlacklistHold] = (),
) -> list[LedgerRow]:
    """The rows of ``car_park`` (None: all), in the order the calls came in; ``holds``
    are the blacklisted cars held from ``BEFORE_CALL`` before the day on."""
    chosen = (r for r in records if car_park is None or r.car_park == car_park)
    return [
        _row(record, plates, holds)
        for record in sorted(chosen, key=lambda r: (r.queued_at, r.call_id))
    ]


def _row(record: CallRecord, plates: PlateView, holds: Sequence[BlacklistHold]) -> LedgerRow:
    outcome = record.outcome
    plate = "" if outcome is None else outcome.plate
    return LedgerRow(
        record=record,
        plate=plate if plates is PlateView.FULL else mask_plate(plate),
        free_release=is_free_release(record.actions),
        escape=outcome is not None and outcome.category is Category.ESCAPE,
        blacklist=held_for_call(record.lane_id, record.queued_at, record.ended_at, holds),
    )


def summarise(rows: Sequence[LedgerRow], answer_target_s: float) -> Summary:
    answered = [row.record for row in rows if row.record.answered_at is not None]
    categories = [row.category for row in rows]
    return Summary(
        calls=len(rows),
        answered=len(answered),
        abandoned=sum(1 for row in rows if row.record.state is CallState.ABANDONED),
        answered_in_target=sum(1 for record in answered if record.wait_s <= answer_target_s),
        breaches=sum(1 for row in rows if row.record.breached),
        free_releases=sum(1 for row in rows if row.free_release),
        escapes=sum(1 for row in rows if row.escape),
        blacklist_hits=sum(1 for row in rows if row.blacklist),
        amount_fen=sum(row.amount_fen or 0 for row in rows),
        by_category={category: categories.count(category) for category in Category},
        uncategorised=categories.count(None),
    )


# ------------------------------------------------------------------ JSON


def _local_iso(at: datetime | None) -> str | None:
    return None if at is None else local(at).isoformat(timespec="seconds")


def row_json(row: LedgerRow) -> dict[str, Any]:
    record = row.record
    category = row.category
    return {
        "call_id": record.call_id,
        "time": _local_iso(record.queued_at),
        "answered_at": _local_iso(record.answered_at),
        "ended_at": _local_iso(record.ended_at),
        "car_park": record.car_park,
        "lane": record.lane_id,
        "direction": record.direction.value,
        "source": record.source.value,
        "state": record.state.value,
        "ending": record.ending.value,
        "agent": record.agent,
        "wait_s": record.wait_s,
        "handle_s": record.handle_s,
        "category": (
            None
            if category is None
            else {"code": category.value, "label": CATEGORY_LABELS[category]}
        ),
        "plate": row.plate,
        "amount_fen": row.amount_fen,
        "note": row.note,
        "actions": [action.to_json() for action in record.actions],
        "breached": record.breached,
        "free_release": row.free_release,
        "escape": row.escape,
        "blacklist": row.blacklist,
    }


def summary_json(summary: Summary) -> dict[str, Any]:
    return {
        "calls": summary.calls,
        "answered": summary.answered,
        "abandoned": summary.abandoned,
        "answered_in_target": summary.answered_in_target,
        "service_level": summary.service_level,
        "breaches": summary.breaches,
        "free_releases": summary.free_releases,
        "escapes": summary.escapes,
        "blacklist_hits": summary.blacklist_hits,
        "amount_fen": summary.amount_fen,
        "by_category": {category.value: n for category, n in summary.by_category.items()},
        "uncategorised": summary.uncategorised,
    }


def ledger_json(
    query: LedgerQuery, window: DayWindow, rows: Sequence[LedgerRow], summary: Summary
) -> dict[str, Any]:
    return {
        "date": window.day.isoformat(),
        "time_zone": "Asia/Shanghai",
        "since": _local_iso(window.since),
        "until": _local_iso(window.until),
        "car_park": query.car_park,
        "plates": query.plates.value,
        "rows": [row_json(row) for row in rows],
        "summary": summary_json(summary),
    }
