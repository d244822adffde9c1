"""Plate corrections and exit matches in the real SQLite store: how the stays are
re-linked, what the open stays' index is told, and that a refused one writes nothing,
its ledger entry included."""

from __future__ import annotations

import pytest

from console.errors import Conflict, NotFound
from console.ledger import AuditAction, AuditRecord
from console.sqlite_store import SQLiteStore
from console.stays.match import StayIndex
from console.stays.records import StayChange, StayState
from console.vehicles.model import Relinked
from gates.vocabulary import Direction
from tests.test_vehicle_store import event

pytestmark = pytest.mark.both_stores

EXIT = Direction.EXIT
RIGHT, MISREAD, OTHER = "粤B12345", "粤B1Z345", "粤A88888"


def entry_of(action: AuditAction = AuditAction.PLATE_CORRECTED) -> AuditRecord:
    return AuditRecord(actor="alice", action=action, detail={"test": True})


async def state_of(store: SQLiteStore, stay_id: int | None) -> tuple[str, StayState] | None:
    assert stay_id is not None
    stay = await store.stay(stay_id)
    return None if stay is None else (stay.plate, stay.state)


async def index_of(store: SQLiteStore) -> StayIndex:
    index = StayIndex()
    for stay in await store.open_stays():
        index.add(stay)
    return index


async def correct(store: SQLiteStore, event_id: str, old: str, new: str) -> Relinked:
    return await store.correct_plate(entry_of(), event_id, old, new)


def open_ids(index: StayIndex, *ids: int | None) -> list[bool]:
    return [stay_id in index for stay_id in ids]


async def test_a_corrected_exit_closes_the_right_stay_and_drops_its_no_entry(
    store: SQLiteStore,
) -> None:
    """The misread exit made a no_entry stay; corrected, it closes the car's open stay
    and the no_entry stay is gone."""
    entered = await store.record_vehicle(event("in", plate=RIGHT))
    left = await store.record_vehicle(event("out", EXIT, plate=MISREAD, minutes=90))
    assert left.change is StayChange.NO_ENTRY
    index = await index_of(store)
    done = await correct(store, "out", MISREAD, RIGHT)
    index.apply(done.stays)
    assert (done.stay_id, done.change) == (entered.stay_id, StayChange.CLOSED)
    assert await state_of(store, entered.stay_id) == (RIGHT, StayState.EXITED)
    assert await state_of(store, left.stay_id) is None
    record = await store.vehicle("out")
    assert record is not None and record.event.corrected_plate == RIGHT
    assert (record.change, record.stay_id) == (StayChange.CLOSED, entered.stay_id)
    assert len(index) == 0 and await store.open_stays() == []
    [ledgered] = done.entries
    assert ledgered.action is AuditAction.PLATE_CORRECTED


async def test_an_exit_that_closed_the_wrong_stay_opens_it_again(store: SQLiteStore) -> None:
    """A misread that happened to be another parked car's plate: corrected, that car's
    stay is open again and the right one closes."""
    mine = await store.record_vehicle(event("in1", plate=RIGHT))
    theirs = await store.record_vehicle(event("in2", plate=OTHER, minutes=5))
    wrong = await store.record_vehicle(event("out", EXIT, plate=OTHER, minutes=60))
    assert wrong.stay_id == theirs.stay_id
    index = await index_of(store)
    done = await correct(store, "out", OTHER, RIGHT)
    index.apply(done.stays)
    assert await state_of(store, theirs.stay_id) == (OTHER, StayState.OPEN)
    assert await state_of(store, mine.stay_id) == (RIGHT, StayState.EXITED)
    assert open_ids(index, theirs.stay_id, mine.stay_id) == [True, False]
    assert [stay.entry_event for stay in await store.open_stays()] == ["in2"]


async def test_a_corrected_exit_leaves_a_stay_entered_after_it_open(
    store: SQLiteStore,
) -> None:
    """The new plate's open stay began after the exit: the car came back, so that stay
    is its next visit and the exit stays no_entry."""
    left = await store.record_vehicle(event("out", EXIT, plate=MISREAD))
    back = await store.record_vehicle(event("in", plate=RIGHT, minutes=10))
    done = await correct(store, "out", MISREAD, RIGHT)
    assert (done.stay_id, done.change) == (left.stay_id, StayChange.NO_ENTRY)
    assert await state_of(store, back.stay_id) == (RIGHT, StayState.OPEN)


async def test_a_corrected_exit_with_no_stay_of_its_plate_stays_no_entry(
    store: SQLiteStore,
) -> None:
    """The no_entry stay keeps its id and takes the new plate."""
    left = await store.record_vehicle(event("out", EXIT, plate=MISREAD))
    done = await correct(store, "out", MISREAD, OTHER)
    assert (done.stay_id, done.change) == (left.stay_id, StayChange.NO_ENTRY)
    assert await state_of(store, left.stay_id) == (OTHER, StayState.NO_ENTRY)


async def test_an_exit_with_no_plate_read_gets_its_no_entry_stay_when_corrected(
    store: SQLiteStore,
) -> None:
    left = await store.record_vehicle(event("out", EXIT, plate=""))
    assert (left.change, left.stay_id) == (StayChange.UNREAD, None)
    done = await correct(store, "out", "", OTHER)
    assert done.change is StayChange.NO_ENTRY
    assert await state_of(store, done.stay_id) == (OTHER, StayState.NO_ENTRY)


async def test_a_corrected_entry_moves_its_open_stay_to_the_new_plate(
    store: SQLiteStore,
) -> None:
    """The index drops the misread plate and finds the stay under the right one, so the
    car's exit closes it."""
    entered = await store.record_vehicle(event("in", plate=MISREAD))
    index = await index_of(store)
    done = await correct(store, "in", MISREAD, RIGHT)
    index.apply(done.stays)
    assert await state_of(store, entered.stay_id) == (RIGHT, StayState.OPEN)
    [(stay, cost)] = [(c.stay, c.cost) for c in index.match(RIGHT, "人民路停车场", event("x").at)]
    assert (stay.stay_id, stay.plate, cost) == (entered.stay_id, RIGHT, 0)
    left = await store.record_vehicle(event("out", EXIT, plate=RIGHT, minutes=30))
    assert (left.change, left.stay_id) == (StayChange.CLOSED, entered.stay_id)


async def test_an_entry_corrected_to_a_plate_already_in_closes_the_earlier_as_no_exit(
    store: SQLiteStore,
) -> None:
    """Two open stays of one plate are one car entering twice unseen leaving: the
    earlier entry's stay closes as no_exit, whichever of the two was corrected."""
    earlier = await store.record_vehicle(event("in1", plate=MISREAD))
    later = await store.record_vehicle(event("in2", plate=RIGHT, minutes=60))
    index = await index_of(store)
    done = await correct(store, "in1", MISREAD, RIGHT)
    index.apply(done.stays)
    assert await state_of(store, earlier.stay_id) == (RIGHT, StayState.NO_EXIT)
    assert await state_of(store, later.stay_id) == (RIGHT, StayState.OPEN)
    assert open_ids(index, earlier.stay_id, later.stay_id) == [False, True]

    first = await store.record_vehicle(event("in3", plate=OTHER, minutes=70))
    second = await store.record_vehicle(event("in4", plate=MISREAD, minutes=80))
    done = await correct(store, "in4", MISREAD, OTHER)
    index.apply(done.stays)
    assert await state_of(store, first.stay_id) == (OTHER, StayState.NO_EXIT)
    assert await state_of(store, second.stay_id) == (OTHER, StayState.OPEN)
    assert open_ids(index, first.stay_id, second.stay_id) == [False, True]


async def test_a_match_closes_the_stay_and_drops_the_no_entry(store: SQLiteStore) -> None:
    entered = await store.record_vehicle(event("in", plate=RIGHT))
    left = await store.record_vehicle(event("out", EXIT, plate=MISREAD, minutes=90))
    assert entered.stay_id is not None
    done = await store.match_stay(
        entry_of(AuditAction.STAY_MATCHED), entered.stay_id, "out", MISREAD, RIGHT
    )
    assert (done.stay_id, done.change) == (entered.stay_id, StayChange.CLOSED)
    assert done.stays.closed == (entered.stay_id,)
    assert await state_of(store, entered.stay_id) == (RIGHT, StayState.EXITED)
    assert await state_of(store, left.stay_id) is None
    record = await store.vehicle("out")
    assert record is not None and record.event.corrected_plate is None


@pytest.mark.parametrize(
    ("stay", "event_id", "event_plate", "stay_plate", "code"),
    [
        ("open", "nope", MISREAD, RIGHT, "unknown_vehicle"),
        (999, "out", MISREAD, RIGHT, "unknown_stay"),
        ("open", "in", RIGHT, RIGHT, "not_an_exit"),
        ("closed", "out2", RIGHT, RIGHT, "already_matched"),
        ("closed", "out", MISREAD, RIGHT, "stay_not_open"),
        ("open", "out", "粤B99999", RIGHT, "plate_changed"),
        ("open", "out", MISREAD, OTHER, "plate_changed"),
        ("later", "out", MISREAD, "粤C55555", "entered_after_exit"),
    ],
)
async def test_a_refused_match_writes_nothing(
    store: SQLiteStore,
    stay: str | int,
    event_id: str,
    event_plate: str,
    stay_plate: str,
    code: str,
) -> None:
    """Nor its ledger entry: the entry and the change are one transaction."""
    opened = await store.record_vehicle(event("in", plate=RIGHT))
    await store.record_vehicle(event("in2", plate=OTHER, minutes=1))
    await store.record_vehicle(event("out2", EXIT, plate=OTHER, minutes=2))
    await store.record_vehicle(event("out", EXIT, plate=MISREAD, minutes=3))
    later = await store.record_vehicle(event("in3", plate="粤C55555", minutes=4))
    closed = await store.vehicle("out2")
    assert closed is not None
    stay_ids = {"open": opened.stay_id, "closed": closed.stay_id, "later": later.stay_id}
    stay_id = stay_ids[stay] if isinstance(stay, str) else stay
    assert stay_id is not None
    before = (await store.audit_count(), await store.open_stays(), await store.vehicle("out"))
    with pytest.raises((NotFound, Conflict)) as refused:
        await store.match_stay(
            entry_of(AuditAction.STAY_MATCHED), stay_id, event_id, event_plate, stay_plate
        )
    assert refused.value.code == code
    after = (await store.audit_count(), await store.open_stays(), await store.vehicle("out"))
    assert after == before


async def test_a_correction_of_a_plate_changed_meanwhile_writes_nothing(
    store: SQLiteStore,
) -> None:
    await store.record_vehicle(event("out", EXIT, plate=MISREAD))
    await correct(store, "out", MISREAD, OTHER)
    count = await store.audit_count()
    with pytest.raises(Conflict) as refused:
        await correct(store, "out", MISREAD, RIGHT)
    assert refused.value.code == "plate_changed"
    assert await store.audit_count() == count
    record = await store.vehicle("out")
    assert record is not None and record.event.corrected_plate == OTHER
