"""No-plate stays in the SQLite store, with no centre: each step written with its ledger
entry or not at all, and the rules the database keeps (one use of a code, one open stay
per phone, a stay closed once) holding inside the transaction."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.ledger import AuditAction, AuditRecord
from console.noplate.errors import CodeExpired, StayRefused
from console.sqlite_store import SQLiteStore
from console.stays.records import StayChange, StayState
from console.vehicles.model import VehicleEvent
from gates.vocabulary import Direction, PlateColour

pytestmark = pytest.mark.both_stores

AT = datetime(2026, 11, 29, 3, 0, tzinfo=UTC)
IDENTITY = "无牌0123456789"


def event(n: int, plate: str = IDENTITY, direction: Direction = Direction.ENTRY) -> VehicleEvent:
    at = AT + timedelta(minutes=n)
    return VehicleEvent(
        event_id=f"noplate-{n}",
        lane="P1-IN" if direction is Direction.ENTRY else "P1-OUT",
        car_park="P1",
        direction=direction,
        at=at,
        received_at=at,
        plate=plate,
        plate_colour=PlateColour.UNKNOWN,
        confidence=1.0,
        box=(0, 0, 0, 0),
        snapshot=None,
    )


def entry(action: AuditAction = AuditAction.NOPLATE_ENTERED) -> AuditRecord:
    return AuditRecord(actor="phone:abc", action=action, lane="P1-IN", detail={})


async def kept(store: SQLiteStore) -> tuple[int, int]:
    """The ledger's entries and the vehicle events kept."""
    return await store.audit_count(), len(await store.lane_vehicles("P1-IN", 100))


async def test_an_entry_opens_a_stay_with_its_ledger_entry(store: SQLiteStore) -> None:
    recorded, entries = await store.open_noplate_stay(entry(), event(1), "phone-a", "a" * 16)
    assert recorded.change is StayChange.OPENED and recorded.stay_id is not None
    assert [e.action for e in entries] == [AuditAction.NOPLATE_ENTERED]
    stay = await store.phone_stay("phone-a", "P1")
    assert stay is not None and (stay.identity, stay.plate, stay.state) == (
        IDENTITY,
        IDENTITY,
        StayState.OPEN,
    )
    assert await store.phone_stay("phone-a", "P2") is None
    assert await store.phone_stay("phone-b", "P1") is None


async def test_a_second_stay_for_a_phone_or_a_used_code_writes_nothing(
    store: SQLiteStore,
) -> None:
    await store.open_noplate_stay(entry(), event(1), "phone-a", "a" * 16)
    before = await kept(store)
    with pytest.raises(StayRefused) as held:
        await store.open_noplate_stay(entry(), event(2, "无牌BBBBBBBBBB"), "phone-a", "b" * 16)
    assert held.value.code == "phone_has_stay"
    with pytest.raises(CodeExpired) as used:
        await store.open_noplate_stay(entry(), event(3, "无牌CCCCCCCCCC"), "phone-c", "a" * 16)
    assert used.value.code == "noplate_code_used"
    assert await kept(store) == before


async def test_an_exit_closes_the_stay_once(store: SQLiteStore) -> None:
    recorded, _ = await store.open_noplate_stay(entry(), event(1), "phone-a", "a" * 16)
    assert recorded.stay_id is not None
    out = event(2, direction=Direction.EXIT)
    closed, entries = await store.close_noplate_stay(
        entry(AuditAction.NOPLATE_EXITED), recorded.stay_id, out, "b" * 16
    )
    assert (closed.change, closed.stay_id) == (StayChange.CLOSED, recorded.stay_id)
    assert [e.action for e in entries] == [AuditAction.NOPLATE_EXITED]
    before = await store.audit_count()
    with pytest.raises(StayRefused) as again:
        await store.close_noplate_stay(
            entry(AuditAction.NOPLATE_EXITED),
            recorded.stay_id,
            event(3, direction=Direction.EXIT),
            None,
        )
    assert again.value.code == "stay_not_open"
    assert await store.audit_count() == before
    stay = await store.noplate_stay(recorded.stay_id)
    assert stay is not None and stay.state is StayState.EXITED and stay.closed_at is not None


async def test_an_exit_code_used_once_does_not_close_another_stay(store: SQLiteStore) -> None:
    first, _ = await store.open_noplate_stay(entry(), event(1), "phone-a", "a" * 16)
    second, _ = await store.open_noplate_stay(
        entry(), event(2, "无牌BBBBBBBBBB"), "phone-b", "b" * 16
    )
    assert first.stay_id is not None and second.stay_id is not None
    exited = entry(AuditAction.NOPLATE_EXITED)
    await store.close_noplate_stay(
        exited, first.stay_id, event(3, direction=Direction.EXIT), "c" * 16
    )
    with pytest.raises(CodeExpired):
        await store.close_noplate_stay(
            exited, second.stay_id, event(4, "无牌BBBBBBBBBB", Direction.EXIT), "c" * 16
        )
    stay = await store.noplate_stay(second.stay_id)
    assert stay is not None and stay.state is StayState.OPEN
