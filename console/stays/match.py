"""Which open stay a plate read at an exit belongs to, when no entry has that plate.

A car with no entry record (无入场记录) usually has one under a misread plate: the entry
camera, or the exit camera, took a 0 for a D, dropped a character to dirt, or read 京 as
津. Candidates are ranked by one score, lower first:

- the plate's **edit cost** from the exit read to the entry's plate: a look-alike
  substitution (two characters of one ``gates.plates.LOOKALIKES`` group) costs
  ``LOOKALIKE_COST``, any other ``SUBSTITUTION_COST``, a character dropped or added
  ``GAP_COST``; stays costing more than ``MAX_COST`` are not candidates at all;
- ``OTHER_CAR_PARK_COST`` for a stay in another car park: more than any plate cost, so
  the car park the car is leaving comes first, and other car parks only fill the list;
- the entry's age ``a`` as ``a / (a + AGE_SCALE_S)``, under 1: between equal plate
  costs the more recent entry is likelier, but age never outweighs a character.

Ties go to the lower ``stay_id``, so a ranking is one list, whoever computes it.

With these costs, a stay within ``MAX_COST`` (3) differs from the read by at most one
edit that is not a look-alike substitution: a gap (2) leaves room for one look-alike
more, a substitution (3) for none, and two gaps (4) are over. So once each character is
folded to its look-alike group (``gates.plates.fold``), the stay's plate and the read are
at most one insertion, deletion or substitution apart. ``StayIndex`` keeps stays in
buckets by folded plate, and a query visits only the buckets one folded edit from the
read, through the characters actually present at each position of the stays' plates:
a few hundred dictionary look-ups, however many stays are open. Within ``MAX_COST`` it
finds exactly the candidates a scan of every stay finds (``scan``, the reference the
tests and ``bench/plates.py`` compare it with), scored alike.

Pure: plates, car parks and times in, a ranking out; the caller brings ``now``.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Final

from console.errors import BadRequest, Conflict, NotFound
from gates.plates import fold, lookalike, normalise

LOOKALIKE_COST: Final = 1
SUBSTITUTION_COST: Final = 3
GAP_COST: Final = 2
# The index, and plate_cost's short way, are exact while two edits that are not
# look-alikes cost more than this bound (2 × min(GAP_COST, SUBSTITUTION_COST) > MAX_COST)
# and a substitution costs no more than a gap on each side (SUBSTITUTION_COST ≤ 2 ×
# GAP_COST); a larger bound needs a neighbourhood of two folded edits.
MAX_COST: Final = 3
OTHER_CAR_PARK_COST: Final = 10.0
AGE_SCALE_S: Final = 86_400.0  # an entry a day old costs half a look-alike
DEFAULT_LIMIT: Final = 5


@dataclass(frozen=True, slots=True)
class OpenStay:
    """A car parked and not yet out: the plate its entry was recorded with (normalised,
    valid or not: misread entries are what gets re-matched), where and when."""

    stay_id: int
    plate: str
    car_park: str
    entered_at: datetime
    entry_event: str | None = None  # the read that opened it, whose crop an agent compares


@dataclass(frozen=True, slots=True)
class StayDelta:
    """What one change to the stays did to the open ones: the ids no longer open, then
    the stays open now with their plate (a corrected entry's stay is closed and opened
    again under its new plate)."""

    closed: tuple[int, ...] = ()
    opened: tuple[OpenStay, ...] = ()


@dataclass(frozen=True, slots=True)
class Candidate:
    stay: OpenStay
    cost: int  # the plate's edit cost
    score: float


def plate_cost(read: str, entered: str) -> int | None:
    """The edit cost from the exit's ``read`` to an ``entered`` plate, ``None`` past
    ``MAX_COST``: the weighted edit distance, computed the short way its bound allows
    (equal lengths cannot be helped by gaps, two gaps are already over)."""
    if len(read) == len(entered):
        cost = 0
        for x, y in zip(read, entered, strict=True):
            if x != y:
                cost += LOOKALIKE_COST if lookalike(x, y) else SUBSTITUTION_COST
                if cost > MAX_COST:
                    return None
        return cost
    if len(read) == len(entered) + 1:
        return _one_gap(read, entered)
    if len(entered) == len(read) + 1:
        return _one_gap(entered, read)
    return None


def _one_gap(longer: str, shorter: str) -> int | None:
    """The cost when one character of ``longer`` has no counterpart: the gap, and the
    cheapest substitutions around it (``before[j]`` those left of a gap at ``j``,
    ``after[j]`` those right of it)."""
    budget = MAX_COST - GAP_COST
    n = len(shorter)
    before = [0] * (n + 1)
    for j in range(n):
        before[j + 1] = before[j] + _substitution(longer[j], shorter[j])
    after = [0] * (n + 1)
    for j in range(n - 1, -1, -1):
        after[j] = after[j + 1] + _substitution(longer[j + 1], shorter[j])
    best = min(b + a for b, a in zip(before, after, strict=True))
    return None if best > budget else best + GAP_COST


def _substitution(x: str, y: str) -> int:
    if x == y:
        return 0
    return LOOKALIKE_COST if lookalike(x, y) else SUBSTITUTION_COST


def _score(cost: int, same_car_park: bool, entered_ts: float, now_ts: float) -> float:
    age = max(0.0, now_ts - entered_ts)
    park = 0.0 if same_car_park else OTHER_CAR_PARK_COST
    return cost + park + age / (age + AGE_SCALE_S)


def _checked_query(plate: str, now: datetime, limit: int) -> str:
    if now.tzinfo is None:
        raise BadRequest("naive_time", "now must be an aware datetime")
    if limit < 1:
        raise BadRequest("invalid_limit", f"limit must be at least 1, not {limit}")
    return normalise(plate)


def _best(found: Iterable[tuple[float, int, int, OpenStay]], limit: int) -> list[Candidate]:
    ranked = heapq.nsmallest(limit, found, key=lambda item: (item[0], item[1]))
    return [Candidate(stay=stay, cost=cost, score=score) for score, _, cost, stay in ranked]


def scan(
    stays: Iterable[OpenStay],
    plate: str,
    car_park: str,
    now: datetime,
    limit: int = DEFAULT_LIMIT,
) -> list[Candidate]:
    """The ranking by a plain scan of every stay: what ``StayIndex.match`` must equal."""
    read = _checked_query(plate, now, limit)
    now_ts = now.timestamp()
    found: list[tuple[float, int, int, OpenStay]] = []
    for stay in stays:
        cost = plate_cost(read, stay.plate)
        if cost is not None:
            ts = stay.entered_at.timestamp()
            score = _score(cost, stay.car_park == car_park, ts, now_ts)
            found.append((score, stay.stay_id, cost, stay))
    return _best(found, limit)


class StayIndex:
    """The open stays, bucketed for matching; stays are added at entry, removed at exit."""

    def __init__(self) -> None:
        # folded plate -> the stays with it, each with its entry as a timestamp
        self._buckets: dict[str, dict[int, tuple[OpenStay, float]]] = {}
        self._folded: dict[int, str] = {}
        # (plate length, position) -> folded character -> how many stays have it there
        self._alphabet: dict[tuple[int, int], dict[str, int]] = {}

    def __len__(self) -> int:
        return len(self._folded)

    def __contains__(self, stay_id: object) -> bool:
        return stay_id in self._folded

    def add(self, stay: OpenStay) -> None:
        """Open ``stay``; a stay id already open, a plate not spelled as ``normalise``
        spells it, or a naive time is refused and changes nothing."""
        if stay.stay_id in self._folded:
            raise Conflict("stay_exists", f"stay {stay.stay_id} is already open")
        if normalise(stay.plate) != stay.plate:
            raise BadRequest("invalid_plate", f"plate {stay.plate!r} is not normalised")
        if stay.entered_at.tzinfo is None:
            raise BadRequest("naive_time", "entered_at must be an aware datetime")
        folded = fold(stay.plate)
        self._folded[stay.stay_id] = folded
        bucket = self._buckets.setdefault(folded, {})
        bucket[stay.stay_id] = (stay, stay.entered_at.timestamp())
        for i, ch in enumerate(folded):
            counts = self._alphabet.setdefault((len(folded), i), {})
            counts[ch] = counts.get(ch, 0) + 1

    def remove(self, stay_id: int) -> OpenStay:
        """Close a stay and give it back; an id not open is refused."""
        folded = self._folded.pop(stay_id, None)
        if folded is None:
            raise NotFound("unknown_stay", f"no open stay {stay_id}")
        bucket = self._buckets[folded]
        stay, _ = bucket.pop(stay_id)
        if not bucket:
            del self._buckets[folded]
        for i, ch in enumerate(folded):
            counts = self._alphabet[(len(folded), i)]
            counts[ch] -= 1
            if not counts[ch]:
                del counts[ch]
        return stay

    def apply(self, delta: StayDelta) -> None:
        """Follow a change the store made: a stay closed that is not here (opened before
        the index was built, or already followed) is no error, nor is one opened again."""
        for stay_id in (*delta.closed, *(stay.stay_id for stay in delta.opened)):
            if stay_id in self._folded:
                self.remove(stay_id)
        for stay in delta.opened:
            self.add(stay)

    def match(
        self, plate: str, car_park: str, now: datetime, limit: int = DEFAULT_LIMIT
    ) -> list[Candidate]:
        """The ``limit`` best open stays for ``plate`` read at an exit of ``car_park``."""
        read = _checked_query(plate, now, limit)
        now_ts = now.timestamp()
        found: list[tuple[float, int, int, OpenStay]] = []
        for key in self._neighbourhood(fold(read)):
            bucket = self._buckets.get(key)
            if bucket is None:
                continue  # most keys: the neighbourhood spans plates nobody has
            for stay, ts in bucket.values():
                cost = plate_cost(read, stay.plate)
                if cost is not None:
                    score = _score(cost, stay.car_park == car_park, ts, now_ts)
                    found.append((score, stay.stay_id, cost, stay))
        return _best(found, limit)

    def _neighbourhood(self, folded: str) -> set[str]:
        """The folded plates of open stays that could be one edit from ``folded``."""
        n = len(folded)
        keys = {folded}
        for i in range(n):
            head, tail = folded[:i], folded[i + 1 :]
            keys.add(head + tail)
            keys.update(head + ch + tail for ch in self._alphabet.get((n, i), ()))
        for i in range(n + 1):
            head, tail = folded[:i], folded[i:]
            keys.update(head + ch + tail for ch in self._alphabet.get((n + 1, i), ()))
        return keys
