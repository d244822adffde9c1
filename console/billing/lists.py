"""Which plates a car park lets go free and which it holds: monthly passes (月卡) and the
whitelist (白名单) go free, the blacklist (黑名单) is never released by the system, and
every other plate pays its fee.

The decision is pure: the caller passes the plate as read (or corrected), the car park,
the lists and the time. Plates are compared as ``gates.plates.normalise`` spells them,
so "粤b·12345" on a list matches a camera's "粤B12345". A list's plate need not pass
GA 36-2018: the plates.py rules leave out embassy, military and Hong Kong plates, which
an operator still whitelists.
"""

from __future__ import annotations

import enum
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, TypeVar

from gates.plates import PLATE_MAX, normalise

from .errors import BadPlateList
from .localtime import local
from .reading import Reader

# A car park's name as a lane keeps it.
CAR_PARK_MAX = 64
NOTE_MAX = 200
ENTRIES_MAX = 100_000

_PASS_KEYS = ("plate", "car_park", "valid_from", "valid_until")
_LISTED_KEYS = ("plate", "car_park", "note")
_LISTS_KEYS = ("monthly_passes", "whitelist", "blacklist")


class Decision(enum.StrEnum):
    """What the exit does with a plate."""

    CHARGE = "charge"  # pay the fee; the gate opens once it is paid
    MONTHLY_PASS = "monthly_pass"  # free: a pass for this car park, valid that day
    WHITELIST = "whitelist"  # free
    BLACKLIST = "blacklist"  # never released by the system: alert the seat


@dataclass(frozen=True, slots=True)
class MonthlyPass:
    """A pass for one car park, valid from ``valid_from`` to ``valid_until`` inclusive,
    as calendar days in Asia/Shanghai (the days an operator sells)."""

    plate: str
    car_park: str
    valid_from: date
    valid_until: date

    def valid_on(self, day: date) -> bool:
        return self.valid_from <= day <= self.valid_until

    def to_json(self) -> dict[str, Any]:
        return {
            "plate": self.plate,
            "car_park": self.car_park,
            "valid_from": self.valid_from.isoformat(),
            "valid_until": self.valid_until.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class ListedPlate:
    """A whitelist or blacklist entry, for one car park or (``car_park`` None) for all
    of the operator's car parks; the note says why, for the seat."""

    plate: str
    car_park: str | None = None
    note: str = ""

    def covers(self, car_park: str) -> bool:
        return self.car_park is None or self.car_park == car_park

    def to_json(self) -> dict[str, Any]:
        return {"plate": self.plate, "car_park": self.car_park, "note": self.note}


Entry = MonthlyPass | ListedPlate
E = TypeVar("E", MonthlyPass, ListedPlate)


@dataclass(frozen=True, slots=True)
class Classification:
    """The decision, the entry that made it (None for ``CHARGE``), and for a plate that
    pays, this car park's pass for it that is not valid that day (the latest ending),
    so the seat can tell the driver the pass ran out rather than that there is none."""

    decision: Decision
    entry: Entry | None = None
    lapsed_pass: MonthlyPass | None = None

    @property
    def free(self) -> bool:
        return self.decision in (Decision.MONTHLY_PASS, Decision.WHITELIST)

    @property
    def alert_seat(self) -> bool:
        return self.decision is Decision.BLACKLIST


@dataclass(frozen=True, slots=True)
class PlateLists:
    passes: tuple[MonthlyPass, ...] = ()
    whitelist: tuple[ListedPlate, ...] = ()
    blacklist: tuple[ListedPlate, ...] = ()
    # Each list's entries under their normalised plate, so a decision reads a handful.
    _passes: dict[str, tuple[MonthlyPass, ...]] = field(init=False, repr=False, compare=False)
    _white: dict[str, tuple[ListedPlate, ...]] = field(init=False, repr=False, compare=False)
    _black: dict[str, tuple[ListedPlate, ...]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_passes", _by_plate(self.passes))
        object.__setattr__(self, "_white", _by_plate(self.whitelist))
        object.__setattr__(self, "_black", _by_plate(self.blacklist))

    def passes_of(self, plate: str) -> tuple[MonthlyPass, ...]:
        """The passes held by ``plate`` (normalised), for any car park."""
        return self._passes.get(plate, ())

    def whitelisted(self, plate: str) -> tuple[ListedPlate, ...]:
        return self._white.get(plate, ())

    def blacklisted(self, plate: str) -> tuple[ListedPlate, ...]:
        return self._black.get(plate, ())

    @classmethod
    def parse(cls, value: object) -> PlateLists:
        fields = Reader.of(value, "", _LISTS_KEYS, BadPlateList)
        return cls(
            passes=tuple(
                _parse_pass(item, f"monthly_passes[{i}]")
                for i, item in enumerate(_items(fields, "monthly_passes"))
            ),
            whitelist=tuple(
                _parse_listed(item, f"whitelist[{i}]")
                for i, item in enumerate(_items(fields, "whitelist"))
            ),
            blacklist=tuple(
                _parse_listed(item, f"blacklist[{i}]")
                for i, item in enumerate(_items(fields, "blacklist"))
            ),
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "monthly_passes": [entry.to_json() for entry in self.passes],
            "whitelist": [entry.to_json() for entry in self.whitelist],
            "blacklist": [entry.to_json() for entry in self.blacklist],
        }


def classify(plate: str, car_park: str, lists: PlateLists, at: datetime) -> Classification:
    """What the exit of ``car_park`` does with ``plate`` at ``at`` (aware). The
    blacklist comes first: a held car stays held whatever pass it carries, since only a
    person may decide to let it go; then the whitelist, then a pass valid that day."""
    key = normalise(plate)
    day = local("at", at).date()
    for listed in lists.blacklisted(key):
        if listed.covers(car_park):
            return Classification(Decision.BLACKLIST, listed)
    for listed in lists.whitelisted(key):
        if listed.covers(car_park):
            return Classification(Decision.WHITELIST, listed)
    passes = [held for held in lists.passes_of(key) if held.car_park == car_park]
    for held in passes:
        if held.valid_on(day):
            return Classification(Decision.MONTHLY_PASS, held)
    lapsed = max(passes, key=lambda held: held.valid_until, default=None)
    return Classification(Decision.CHARGE, lapsed_pass=lapsed)


def _by_plate(entries: tuple[E, ...]) -> dict[str, tuple[E, ...]]:
    index: defaultdict[str, list[E]] = defaultdict(list)
    for entry in entries:
        index[normalise(entry.plate)].append(entry)
    return {plate: tuple(found) for plate, found in index.items()}


def _items(fields: Reader, name: str) -> list[Any]:
    return fields.items(name, max_len=ENTRIES_MAX) if fields.has(name) else []


def _plate(fields: Reader) -> str:
    plate = normalise(fields.text("plate", max_len=PLATE_MAX, code="bad_plate"))
    if not plate:
        raise BadPlateList("bad_plate", f"{fields.path('plate')} holds no plate")
    return plate


def _parse_pass(value: object, where: str) -> MonthlyPass:
    fields = Reader.of(value, where, _PASS_KEYS, BadPlateList)
    entry = MonthlyPass(
        plate=_plate(fields),
        car_park=fields.text("car_park", max_len=CAR_PARK_MAX),
        valid_from=fields.day("valid_from"),
        valid_until=fields.day("valid_until"),
    )
    if entry.valid_until < entry.valid_from:
        raise BadPlateList(
            "bad_dates",
            f"{where} ends on {entry.valid_until}, before it starts on {entry.valid_from}",
        )
    return entry


def _parse_listed(value: object, where: str) -> ListedPlate:
    fields = Reader.of(value, where, _LISTED_KEYS, BadPlateList)
    car_park = fields.text("car_park", max_len=CAR_PARK_MAX) if fields.has("car_park") else None
    # An empty note is what ``to_json`` writes for none.
    note = (
        fields.text("note", max_len=NOTE_MAX, code="bad_note") if fields.fields.get("note") else ""
    )
    return ListedPlate(plate=_plate(fields), car_park=car_park, note=note)
