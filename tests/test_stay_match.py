"""Re-matching an exit's plate read to its open stay, allowing for the camera's misreads."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from console.errors import BadRequest, Conflict, NotFound
from console.stays.match import (
    GAP_COST,
    LOOKALIKE_COST,
    MAX_COST,
    SUBSTITUTION_COST,
    OpenStay,
    StayIndex,
    plate_cost,
    scan,
)
from gates.plates import LOOKALIKES, misread, random_plate

NOW = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)


def stay(stay_id: int, plate: str, car_park: str = "东门", minutes_ago: float = 30) -> OpenStay:
    return OpenStay(stay_id, plate, car_park, NOW - timedelta(minutes=minutes_ago))


def index_of(*stays: OpenStay) -> StayIndex:
    index = StayIndex()
    for s in stays:
        index.add(s)
    return index


def ids(index: StayIndex, plate: str, car_park: str = "东门", limit: int = 5) -> list[int]:
    return [c.stay.stay_id for c in index.match(plate, car_park, NOW, limit)]


def reference_cost(a: str, b: str) -> int:
    """The weighted edit distance by the textbook dynamic programme, no bound."""

    def substitution(x: str, y: str) -> int:
        if x == y:
            return 0
        same = any(x in group and y in group for group in LOOKALIKES)
        return LOOKALIKE_COST if same else SUBSTITUTION_COST

    row = [j * GAP_COST for j in range(len(b) + 1)]
    for i, x in enumerate(a, 1):
        previous, row = row, [i * GAP_COST]
        for j, y in enumerate(b, 1):
            row.append(
                min(
                    previous[j] + GAP_COST,
                    row[j - 1] + GAP_COST,
                    previous[j - 1] + substitution(x, y),
                )
            )
    return row[-1]


def variant(plate: str, rng: random.Random, edits: int) -> str:
    """``plate`` after up to ``edits`` misreads, look-alike or not."""
    for _ in range(edits):
        if rng.random() < 0.2 and plate:
            i = rng.randrange(len(plate))
            plate = plate[:i] + rng.choice("0123456789ABCXYZ京粤") + plate[i + 1 :]
        else:
            plate = misread(plate, rng) if plate else "粤"
    return plate


@pytest.mark.parametrize(
    ("read", "entered", "cost"),
    [
        ("粤B12345", "粤B12345", 0),
        ("粤B1234D", "粤B12340", LOOKALIKE_COST),  # 0/D
        ("津A8O1Z5", "京AB0125", None),  # four look-alikes: past the bound
        ("京AB0125", "京A80125", LOOKALIKE_COST),
        ("粤B12345", "粤B12375", SUBSTITUTION_COST),  # 4 and 7 are not alike
        ("粤B1245", "粤B12345", GAP_COST),  # a character dropped
        ("粤B123345", "粤B12345", GAP_COST),  # a character doubled
        ("粤B1Z45", "粤B12345", GAP_COST + LOOKALIKE_COST),  # dropped, and 2 read as Z
        ("粤B1245", "粤B12375", None),  # dropped and an unlike substitution
        ("粤B145", "粤B12345", None),  # two dropped
        ("", "粤B12345", None),
    ],
)
def test_plate_cost_prices_each_kind_of_misread(read: str, entered: str, cost: int | None) -> None:
    """Look-alikes are cheap, other substitutions dear, a dropped or added character between."""
    assert plate_cost(read, entered) == cost
    assert plate_cost(entered, read) == cost


def test_plate_cost_is_the_weighted_edit_distance_within_the_bound() -> None:
    """On thousands of random pairs the short way agrees with the full dynamic programme."""
    rng = random.Random(5)
    for _ in range(4000):
        entered = random_plate(rng, new_energy=rng.random() < 0.3)
        read = variant(entered, rng, rng.randint(0, 3))
        expected = reference_cost(read, entered)
        assert plate_cost(read, entered) == (expected if expected <= MAX_COST else None)


def test_the_costs_keep_the_short_ways_exact() -> None:
    """Within the bound, at most one edit is not a look-alike, and no substitution is
    cheaper done as a drop and an add: what the index and ``plate_cost`` rely on."""
    assert 2 * min(GAP_COST, SUBSTITUTION_COST) > MAX_COST
    assert SUBSTITUTION_COST <= 2 * GAP_COST


def test_an_exit_read_finds_its_entry_despite_a_lookalike() -> None:
    """The entry camera read 粤B0D125 for 粤BDD125: the exit's true read still finds it."""
    index = index_of(stay(1, "粤B0D125"), stay(2, "粤B77125"), stay(3, "京A12345"))
    [best] = index.match("粤BDD125", "东门", NOW, limit=1)
    assert (best.stay.stay_id, best.cost) == (1, LOOKALIKE_COST)


def test_a_dropped_or_added_character_is_found() -> None:
    """Cameras drop a character to dirt or a tow bar, or read one twice."""
    index = index_of(stay(1, "粤B1245"), stay(2, "粤BD123345"))
    assert ids(index, "粤B12345") == [1]
    assert ids(index, "粤BD12345") == [2]


def test_lookalike_beats_an_unlike_substitution_and_a_gap() -> None:
    """A 0 read as D is likelier than a 0 read as 7, or a character gone."""
    index = index_of(stay(1, "粤B17345"), stay(2, "粤B1345"), stay(3, "粤BT2345"))
    assert ids(index, "粤B12345") == [3, 2, 1]


def test_the_car_park_being_left_comes_first() -> None:
    """Even an exact plate elsewhere ranks below a misread one here: the car is here."""
    index = index_of(stay(1, "粤B12345", car_park="西门"), stay(2, "粤B1234S", car_park="东门"))
    assert ids(index, "粤B12345", car_park="东门") == [2, 1]
    assert ids(index, "粤B12345", car_park="西门") == [1, 2]


def test_between_equal_plates_the_recent_entry_ranks_first() -> None:
    """A car that came in an hour ago is likelier than one parked for a week."""
    index = index_of(
        stay(1, "粤B1234D", minutes_ago=7 * 24 * 60),
        stay(2, "粤B1234Q", minutes_ago=60),
    )
    ranked = index.match("粤B12340", "东门", NOW)
    assert [c.stay.stay_id for c in ranked] == [2, 1]
    assert ranked[0].cost == ranked[1].cost == LOOKALIKE_COST
    assert ranked[0].score < ranked[1].score < LOOKALIKE_COST + 1


def test_equal_scores_rank_by_stay_id() -> None:
    """Two identical entries at the same moment rank the same way every time."""
    index = index_of(stay(9, "粤B12345"), stay(4, "粤B12345"))
    assert ids(index, "粤B12345") == [4, 9]


def test_plates_past_the_bound_are_not_candidates() -> None:
    """Two unlike substitutions make another car, not a misread."""
    index = index_of(stay(1, "粤B12399"))
    assert index.match("粤B12345", "东门", NOW) == []


def test_the_exit_read_is_normalised() -> None:
    """An exit read with a separator and lower case matches its stored entry."""
    index = index_of(stay(1, "粤B12345"))
    assert ids(index, "粤b·12345") == [1]


def test_a_closed_stay_is_no_longer_matched() -> None:
    """Stays close all day: once out, a car is nobody's candidate."""
    index = index_of(stay(1, "粤B12345"), stay(2, "粤B1234S"))
    assert index.remove(1) == stay(1, "粤B12345")
    assert ids(index, "粤B12345") == [2]
    assert 1 not in index
    assert len(index) == 1


def test_a_stay_opened_twice_is_refused_and_changes_nothing() -> None:
    """A repeated stay id is a conflict; the stay first opened keeps its plate."""
    index = index_of(stay(1, "粤B12345"))
    with pytest.raises(Conflict) as caught:
        index.add(stay(1, "京A99999"))
    assert caught.value.code == "stay_exists"
    assert ids(index, "粤B12345") == [1]
    assert index.match("京A99999", "东门", NOW) == []


def test_closing_a_stay_not_open_is_refused() -> None:
    """Closing twice, or a stay never opened, names the stay."""
    index = index_of(stay(1, "粤B12345"))
    index.remove(1)
    with pytest.raises(NotFound, match="no open stay 1") as caught:
        index.remove(1)
    assert caught.value.code == "unknown_stay"


@pytest.mark.parametrize(
    ("bad", "code"),
    [
        (stay(1, "粤b12345"), "invalid_plate"),
        (OpenStay(1, "粤B12345", "东门", datetime(2026, 11, 29, 9)), "naive_time"),
    ],
)
def test_a_malformed_stay_is_refused_and_changes_nothing(bad: OpenStay, code: str) -> None:
    """Stays are stored as ``normalise`` spells them, with aware times."""
    index = StayIndex()
    with pytest.raises(BadRequest) as caught:
        index.add(bad)
    assert caught.value.code == code
    assert len(index) == 0


def test_a_malformed_query_is_refused() -> None:
    """A naive ``now`` or an empty list asked for is an error, not an empty answer."""
    index = index_of(stay(1, "粤B12345"))
    with pytest.raises(BadRequest, match="aware"):
        index.match("粤B12345", "东门", datetime(2026, 11, 29, 9))
    with pytest.raises(BadRequest, match="limit"):
        index.match("粤B12345", "东门", NOW, limit=0)


def random_stays(rng: random.Random, count: int) -> list[OpenStay]:
    """Stays crowded around a few hundred cars, each entered under several misreads,
    in four car parks over three days: many candidates per read, of every cost."""
    cars = [random_plate(rng, new_energy=rng.random() < 0.3) for _ in range(count // 8)]
    return [
        OpenStay(
            n,
            variant(rng.choice(cars), rng, rng.randint(0, 3)),
            rng.choice(("东门", "西门", "南门", "北门")),
            NOW - timedelta(seconds=rng.uniform(0, 3 * 86_400)),
        )
        for n in range(count)
    ]


def test_the_index_ranks_exactly_as_a_scan_of_every_stay() -> None:
    """Same top candidates with the same scores, on crowded random stays and reads."""
    rng = random.Random(17)
    stays = random_stays(rng, 2000)
    index = index_of(*stays)
    crowded = 0
    for _ in range(150):
        read = variant(rng.choice(stays).plate, rng, rng.randint(0, 3))
        car_park = rng.choice(("东门", "西门", "南门", "北门"))
        expected = scan(stays, read, car_park, NOW, limit=10)
        assert index.match(read, car_park, NOW, limit=10) == expected
        crowded += len(expected) >= 5
    assert crowded > 30  # the data does test the ranking, not just the finding


def test_the_index_stays_exact_as_stays_open_and_close() -> None:
    """After a day of entries and exits the index still ranks as a scan of what is open."""
    rng = random.Random(23)
    stays = random_stays(rng, 2000)
    index = StayIndex()
    open_stays: dict[int, OpenStay] = {}
    for s in stays:
        index.add(s)
        open_stays[s.stay_id] = s
        if rng.random() < 0.4:
            gone = rng.choice(list(open_stays))
            assert index.remove(gone) == open_stays.pop(gone)
    assert len(index) == len(open_stays)
    for _ in range(150):
        read = variant(rng.choice(stays).plate, rng, rng.randint(0, 2))
        expected = scan(open_stays.values(), read, "西门", NOW, limit=8)
        assert index.match(read, "西门", NOW, limit=8) == expected
