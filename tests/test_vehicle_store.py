"""Vehicle events and stays in the real SQLite store: round trips, the stay rules as
stored, an event sent twice, and the upgrade from schema v5."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from console.errors import Conflict
from console.sqlite_schema import _MIGRATIONS, SCHEMA_VERSION
from console.sqlite_store import SQLiteStore
from console.stays.match import OpenStay, StayDelta
from console.stays.records import StayChange, StayState
from console.vehicles.model import VehicleEvent
from gates.vocabulary import Direction, PlateColour

pytestmark = pytest.mark.both_stores

T0 = datetime(2026, 11, 29, 8, 0, 0, 250000, tzinfo=UTC)
PARK = "人民路停车场"


def event(
    event_id: str,
    direction: Direction = Direction.ENTRY,
    plate: str = "粤B12345",
    minutes: float = 0,
    lane: str | None = None,
    car_park: str = PARK,
) -> VehicleEvent:
    at = T0 + timedelta(minutes=minutes)
    return VehicleEvent(
        event_id=event_id,
        lane=lane or ("P1-IN" if direction is Direction.ENTRY else "P1-OUT"),
        car_park=car_park,
        direction=direction,
        at=at,
        received_at=at + timedelta(seconds=1),
        plate=plate,
        plate_colour=PlateColour.BLUE,
        confidence=0.97,
        box=(120, 200, 140, 44),
        snapshot=f"snapshots/2026-11-29/{event_id}.jpg",
    )


async def test_an_event_is_read_back_as_it_was_kept(store: SQLiteStore) -> None:
    """Every field, the stay it opened, and that stay open."""
    kept = event("e1")
    recorded = await store.record_vehicle(kept)
    assert recorded.new and recorded.change is StayChange.OPENED
    record = await store.vehicle("e1")
    assert record is not None
    assert record.event == kept
    assert (record.change, record.stay_id, record.stay_state) == (
        StayChange.OPENED,
        recorded.stay_id,
        StayState.OPEN,
    )
    assert await store.vehicle("nope") is None


async def test_an_entry_then_its_exit_make_one_closed_stay(store: SQLiteStore) -> None:
    entry = await store.record_vehicle(event("e1"))
    leaving = await store.record_vehicle(event("x1", Direction.EXIT, minutes=90))
    assert leaving.change is StayChange.CLOSED and leaving.stay_id == entry.stay_id
    entered = await store.vehicle("e1")
    assert entered is not None and entered.stay_state is StayState.EXITED
    assert await store.open_stays() == []


async def test_an_exit_with_no_entry_is_kept_as_such(store: SQLiteStore) -> None:
    """无入场记录: the exit's stay is there, and no open stay was touched."""
    await store.record_vehicle(event("e1", plate="粤B0D123"))
    leaving = await store.record_vehicle(event("x1", Direction.EXIT, plate="粤B00123"))
    assert leaving.change is StayChange.NO_ENTRY
    record = await store.vehicle("x1")
    assert record is not None and record.stay_state is StayState.NO_ENTRY
    assert [stay.plate for stay in await store.open_stays()] == ["粤B0D123"]


async def test_a_second_entry_closes_the_first_as_no_exit(store: SQLiteStore) -> None:
    first = await store.record_vehicle(event("e1"))
    second = await store.record_vehicle(event("e2", minutes=600))
    assert second.change is StayChange.REOPENED and second.stay_id != first.stay_id
    old = await store.vehicle("e1")
    assert old is not None and old.stay_state is StayState.NO_EXIT
    assert await store.open_stays() == [
        OpenStay(second.stay_id or 0, "粤B12345", PARK, T0 + timedelta(minutes=600), "e2")
    ]


@pytest.mark.sqlite_only
async def test_the_database_itself_refuses_a_second_open_stay(store: SQLiteStore) -> None:
    """Whatever writes to the file: one open stay per plate per car park."""
    await store.record_vehicle(event("e1"))
    with closing(sqlite3.connect(store.path)) as conn, pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO stays (car_park, plate, state, entry_event, entered_at)"
            " VALUES (?, '粤B12345', 'open', 'e1', '2026-11-29T08:00:00.000000Z')",
            (PARK,),
        )


async def test_stays_are_per_car_park_and_per_normalised_plate(store: SQLiteStore) -> None:
    """The same plate in two car parks is two cars' worth of stays; spacing is no plate."""
    await store.record_vehicle(event("e1"))
    await store.record_vehicle(event("e2", car_park="解放路停车场", lane="P2-IN"))
    leaving = await store.record_vehicle(event("x1", Direction.EXIT, plate="粤b 12345"))
    assert leaving.change is StayChange.CLOSED
    assert [stay.car_park for stay in await store.open_stays()] == ["解放路停车场"]


async def test_a_read_with_no_plate_is_kept_without_a_stay(store: SQLiteStore) -> None:
    recorded = await store.record_vehicle(event("e1", plate=""))
    assert (recorded.change, recorded.stay_id) == (StayChange.UNREAD, None)
    record = await store.vehicle("e1")
    assert record is not None and record.stay_state is None
    assert await store.open_stays() == []


async def test_an_event_sent_again_is_one_event(store: SQLiteStore) -> None:
    """A lane resends after a reconnect: nothing changes, and the answer says so."""
    first = await store.record_vehicle(event("e1"))
    again = await store.record_vehicle(event("e1"))
    assert again == replace(first, new=False, stays=StayDelta())
    assert len(await store.lane_vehicles("P1-IN", 10)) == 1
    assert len(await store.open_stays()) == 1


async def test_an_event_id_from_another_lane_is_refused_and_changes_nothing(
    store: SQLiteStore,
) -> None:
    await store.record_vehicle(event("e1"))
    with pytest.raises(Conflict):
        await store.record_vehicle(event("e1", lane="P9-IN", plate="粤B99999"))
    assert await store.lane_vehicles("P9-IN", 10) == []
    assert len(await store.open_stays()) == 1


async def test_a_lanes_vehicles_come_newest_first_up_to_the_limit(store: SQLiteStore) -> None:
    """By the lane's time of the read, whatever order they arrived in."""
    for event_id, minutes in (("e2", 2), ("e1", 1), ("e3", 3)):
        await store.record_vehicle(event(event_id, plate=f"粤B1234{minutes}", minutes=minutes))
    await store.record_vehicle(event("x1", Direction.EXIT))
    newest = await store.lane_vehicles("P1-IN", 2)
    assert [record.event.event_id for record in newest] == ["e3", "e2"]


async def test_forgetting_snapshots_clears_only_older_days(store: SQLiteStore) -> None:
    await store.record_vehicle(replace(event("e1"), snapshot="snapshots/2026-10-30/e1.jpg"))
    await store.record_vehicle(replace(event("e2"), snapshot="snapshots/2026-10-31/e2.jpg"))
    assert await store.forget_snapshots("snapshots/2026-10-31/") == 1
    old, kept = await store.vehicle("e1"), await store.vehicle("e2")
    assert old is not None and old.event.snapshot is None
    assert old.stay_state is StayState.NO_EXIT  # the row and its stay stay
    assert kept is not None and kept.event.snapshot == "snapshots/2026-10-31/e2.jpg"


@pytest.mark.sqlite_only
async def test_a_v5_database_is_upgraded_and_keeps_its_calls(tmp_path: Path) -> None:
    """Its accounts are untouched; vehicle events and stays can be kept at once."""
    path = tmp_path / "seat.db"
    with closing(sqlite3.connect(path)) as conn:
        for version, statements in enumerate(_MIGRATIONS[:5], 1):
            for statement in statements:
                conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {version}")
        conn.execute(
            "INSERT INTO users VALUES"
            " ('alice', 'agent', 'x', '2024-05-01T08:00:00.000000Z', 0, NULL)"
        )
        conn.commit()
    store = await SQLiteStore.open(path)
    try:
        assert (await store.get_user("alice")) is not None
        assert (await store.record_vehicle(event("e1"))).change is StayChange.OPENED
        assert [stay.plate for stay in await store.open_stays()] == ["粤B12345"]
    finally:
        await store.close()
    with closing(sqlite3.connect(path)) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


@pytest.mark.parametrize("stay_id", [2**63, -(2**63) - 1, 10**30, -(10**30)])
async def test_a_stay_id_beyond_sqlites_integers_names_no_stay(
    store: SQLiteStore, stay_id: int
) -> None:
    """A client's id past 64 bits is no stay, not an OverflowError from the binding."""
    assert await store.stay(stay_id) is None
    assert await store.noplate_stay(stay_id) is None
    assert await store.paid_order_of_stay(stay_id) is None
