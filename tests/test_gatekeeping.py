"""The centre's decisions at the lanes end to end: a real centre, real lanes over the
lane link, the sandbox provider. Entries are let in by the centre, a blacklisted car is
held and alerted, passes and free stays go out, an owed exit shows its QR code by
itself, and an escape's debt alerts the plate's next entry and joins its next payment."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from console.auth import new_token, token_hash
from console.billing.lists import ListedPlate, MonthlyPass, PlateLists
from console.billing.rules import Rules
from console.ledger import AuditAction, AuditEntry
from console.models import Direction, LaneRecord
from console.payments.orders import new_order
from console.settings import Settings
from console.vehicles.model import VehicleEvent
from gates.lane.drivers import EscapeSeen, VehicleSeen
from gates.lane.snapshot import render
from gates.vocabulary import PlateColour
from tests.conftest import TEST_POLICY, Centre, Lane, LaneFactory
from tests.desks import desk
from tests.details import at, each

BASE = "https://seat.example.com"
PARK = "人民路停车场"
ELSEWHERE = "解放路停车场"
PLATE = "粤B12345"
HOURLY = {
    "bands": [
        {
            "name": "全天",
            "start": "00:00",
            "end": "00:00",
            "period_minutes": 60,
            "fen_per_period": 500,
        }
    ],
    "free_minutes": 15,
}


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    changed: dict[str, Any] = getattr(request, "param", {})
    base = Settings(
        data_dir=tmp_path,
        port=0,
        command_timeout_s=3.0,
        heartbeat=TEST_POLICY,
        public_url=BASE,
        payment_sandbox=True,
    )
    return replace(base, **changed)


def read(plate: str, at: datetime | None = None) -> VehicleSeen:
    """A camera read of ``plate`` at ``at`` (now), with a real rendered snapshot."""
    when = at or datetime.now(UTC)
    snap = render(plate, PlateColour.BLUE, gate_angle=0.0, at=when, seed=1, size=(640, 360))
    return VehicleSeen(when, plate, PlateColour.BLUE, 0.97, snap.box, snap.jpeg)


async def parked(centre: Centre, minutes: float, plate: str = PLATE) -> int:
    """A car that entered ``minutes`` ago, recorded as the store would keep it."""
    at = datetime.now(UTC) - timedelta(minutes=minutes)
    recorded = await centre.store.record_vehicle(
        VehicleEvent(
            event_id=f"in-{plate}-{at.timestamp()}",
            lane="P1-IN",
            car_park=PARK,
            direction=Direction.ENTRY,
            at=at,
            received_at=at,
            plate=plate,
            plate_colour=PlateColour.BLUE,
            confidence=0.97,
            box=(120, 200, 140, 44),
            snapshot=None,
        )
    )
    assert recorded.stay_id is not None
    return recorded.stay_id


async def left(centre: Centre, minutes_ago: float, plate: str = PLATE) -> None:
    """The exit of ``plate`` ``minutes_ago``, recorded as the store would keep it."""
    at = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    await centre.store.record_vehicle(
        VehicleEvent(
            event_id=f"out-{plate}-{at.timestamp()}",
            lane="P1-OUT",
            car_park=PARK,
            direction=Direction.EXIT,
            at=at,
            received_at=at,
            plate=plate,
            plate_colour=PlateColour.BLUE,
            confidence=0.97,
            box=(120, 200, 140, 44),
            snapshot=None,
        )
    )


async def with_lists(centre: Centre) -> None:
    today = datetime.now(UTC).date()
    await centre.store.set_plate_lists(
        PARK,
        PlateLists(
            passes=(MonthlyPass("粤B11111", PARK, date(2020, 1, 1), today + timedelta(days=30)),),
            whitelist=(ListedPlate("粤B33333", PARK, "消防"),),
            blacklist=(ListedPlate("粤B44444", None, "被盗车辆"),),
        ),
        datetime.now(UTC),
    )


@contextlib.asynccontextmanager
async def heard(
    centre: Centre,
) -> AsyncIterator[Callable[[Callable[[AuditEntry], bool]], Awaitable[AuditEntry]]]:
    """``wait(check)``: the next ledger entry, from now on, that passes ``check``."""
    entries: asyncio.Queue[AuditEntry] = asyncio.Queue()
    unsubscribe = centre.audit.subscribe(entries.put_nowait)

    async def wait(check: Callable[[AuditEntry], bool]) -> AuditEntry:
        async with asyncio.timeout(10):
            while True:
                entry = await entries.get()
                if check(entry):
                    return entry

    try:
        yield wait
    finally:
        unsubscribe()


def opened_by_system(entry: AuditEntry) -> bool:
    return entry.action is AuditAction.GATE_OPEN_OUTCOME and entry.actor == "system"


async def system_opens(centre: Centre) -> list[tuple[str | None, str | None]]:
    """(lane, reason) of each open the centre asked for by itself."""
    return [
        (e.lane, e.reason)
        async for e in centre.store.iter_audit()
        if e.action is AuditAction.GATE_OPEN_REQUESTED and e.actor == "system"
    ]


async def entry_lane(centre: Centre, lanes: LaneFactory, lane_id: str = "P1-IN") -> Lane:
    await centre.add_lane(lane_id, Direction.ENTRY)
    return await lanes(lane_id)


async def test_the_centre_lets_in_a_car_it_read_well(staffed: Centre, lanes: LaneFactory) -> None:
    """The lane's own controller no longer opens: the centre does, as ``system``."""
    lane = await entry_lane(staffed, lanes)
    async with heard(staffed) as wait:
        lane.driver.emit(read(PLATE))
        await wait(opened_by_system)
    assert lane.driver.opens == 1
    assert await system_opens(staffed) == [("P1-IN", "entry")]


async def test_a_blacklisted_car_is_held_at_the_entry_and_the_car_parks_consoles_alerted(
    staffed: Centre, lanes: LaneFactory
) -> None:
    await with_lists(staffed)
    lane = await entry_lane(staffed, lanes)
    async with desk(staffed, "alice") as alice, heard(staffed) as wait:
        lane.driver.emit(read("粤B44444"))
        alert = (await alice.next("plate_alert"))["alert"]
        assert (alert["kind"], alert["plate"], alert["lane"], alert["note"]) == (
            "blacklist",
            "粤B44444",
            "P1-IN",
            "被盗车辆",
        )
        # The next car is let in: the held one was decided, and no open was sent for it.
        lane.driver.emit(read("粤B55555"))
        await wait(opened_by_system)
    assert lane.driver.opens == 1
    held = [e async for e in staffed.store.iter_audit() if e.action is AuditAction.BLACKLIST_HELD]
    assert [(e.actor, e.lane, e.detail["plate"]) for e in held] == [("system", "P1-IN", "粤B44444")]
    # Kept for the day's call ledger, which flags the calls about it.
    now = datetime.now(UTC)
    holds = await staffed.store.blacklist_holds(now - timedelta(hours=1), now)
    assert [(h.lane, h.plate, h.event_id) for h in holds] == [
        ("P1-IN", "粤B44444", held[0].detail["event_id"])
    ]


async def test_a_blacklisted_car_is_never_released_at_the_exit_even_with_a_pass(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Blacklisted everywhere beats this car park's pass."""
    today = datetime.now(UTC).date()
    await staffed.store.set_plate_lists(
        PARK,
        PlateLists(
            passes=(MonthlyPass("粤B44444", PARK, today, today),),
            blacklist=(ListedPlate("粤B44444"),),
        ),
        datetime.now(UTC),
    )
    lane = await lanes("P1-OUT")
    async with desk(staffed, "bob") as bob:
        lane.driver.emit(read("粤B44444"))
        alert = (await bob.next("plate_alert"))["alert"]
    assert (alert["kind"], alert["direction"]) == ("blacklist", "exit")
    assert lane.driver.opens == 0 and lane.driver.qr is None
    assert await system_opens(staffed) == []


@pytest.mark.parametrize(
    ("plate", "reason"), [("粤B11111", "monthly_pass"), ("粤B33333", "whitelist")]
)
async def test_a_pass_or_the_whitelist_goes_out_free(
    staffed: Centre, lanes: LaneFactory, plate: str, reason: str
) -> None:
    await with_lists(staffed)
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    await parked(staffed, 300, plate)
    lane = await lanes("P1-OUT")
    async with heard(staffed) as wait:
        lane.driver.emit(read(plate))
        await wait(opened_by_system)
    assert await system_opens(staffed) == [("P1-OUT", reason)]
    assert lane.driver.qr is None


async def test_a_stay_within_its_free_minutes_goes_out_free(
    staffed: Centre, lanes: LaneFactory
) -> None:
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    await parked(staffed, 5)
    lane = await lanes("P1-OUT")
    async with heard(staffed) as wait:
        lane.driver.emit(read(PLATE))
        await wait(opened_by_system)
    assert await system_opens(staffed) == [("P1-OUT", "free_minutes")]


async def test_an_owed_exit_shows_its_qr_code_by_itself_and_paying_opens_it(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Two hours and a minute at 5 yuan an hour: the exit asks 15 yuan, unasked."""
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    stay_id = await parked(staffed, 121)
    lane = await lanes("P1-OUT")
    async with heard(staffed) as wait:
        lane.driver.emit(read(PLATE))
        ordered = await wait(lambda e: e.action is AuditAction.PAYMENT_ORDERED)
        await wait(lambda e: e.action is AuditAction.DISPLAY_OUTCOME)
    assert (ordered.actor, ordered.detail["stay_id"], ordered.detail["amount_fen"]) == (
        "system",
        stay_id,
        1500,
    )
    assert lane.driver.shown == ("请扫码缴费", PLATE, "15.00元")
    assert lane.driver.qr is not None and lane.driver.opens == 0
    async with httpx.AsyncClient(base_url=staffed.url) as phone, heard(staffed) as wait:
        tapped = await phone.post(urlsplit(lane.driver.qr).path + "/sandbox")
        assert tapped.status_code == 200, tapped.text
        await wait(opened_by_system)
    assert lane.driver.opens == 1
    assert await system_opens(staffed) == [("P1-OUT", "paid")]


async def test_an_exit_with_no_rules_or_no_entry_is_left_to_the_seat(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Nothing is opened or ordered; a later car shows the first was decided."""
    await parked(staffed, 121)
    lane = await lanes("P1-OUT")
    await with_lists(staffed)
    async with heard(staffed) as wait:
        lane.driver.emit(read(PLATE))  # no rules: no fee
        lane.driver.emit(read("粤B77777"))  # no entry
        lane.driver.emit(read("粤B33333"))  # whitelisted: decided after the two
        await wait(opened_by_system)
    assert await system_opens(staffed) == [("P1-OUT", "whitelist")]
    assert lane.driver.qr is None


async def test_an_escape_is_owed_alerted_at_the_next_entry_anywhere_and_paid_with_the_next_fee(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The agent records the escape; the plate's next entry, at another car park, alerts
    the seat; its next exit asks fee plus debt in one QR code, and paying clears it."""
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    await staffed.store.set_billing_rules(ELSEWHERE, Rules.parse(HOURLY), datetime.now(UTC))
    stay_id = await parked(staffed, 200)
    await left(staffed, 79)  # 2 h 1 min: 15 yuan it did not pay
    async with staffed.client("alice") as client:
        response = await client.post(
            f"/api/stays/{stay_id}/escape", json={"note": "跟车出场，未缴费"}
        )
    assert response.status_code == 201, response.text
    debt = response.json()
    assert (debt["plate"], debt["car_park"], debt["fen"], debt["stay_id"]) == (
        PLATE,
        PARK,
        1500,
        stay_id,
    )
    assert [d.id for d in await staffed.store.owed_debts(PLATE)] == [debt["id"]]

    token = new_token()
    for lane_id, direction in (("P2-IN", Direction.ENTRY), ("P2-OUT", Direction.EXIT)):
        await staffed.store.put_lane(
            LaneRecord(lane_id, lane_id, ELSEWHERE, direction, token_hash(token))
        )
    await staffed.changes.poll()
    entry, exit_ = await lanes("P2-IN", token=token), await lanes("P2-OUT", token=token)
    async with desk(staffed, "bob") as bob, heard(staffed) as wait:
        entry.driver.emit(read(PLATE, datetime.now(UTC) - timedelta(minutes=5)))
        alert = (await bob.next("plate_alert"))["alert"]
        assert (alert["kind"], alert["car_park"], alert["debts_fen"]) == (
            "debtor",
            ELSEWHERE,
            1500,
        )
        await wait(opened_by_system)  # owing, it is still let in
        exit_.driver.emit(read(PLATE))  # within the free minutes: the debt alone
        ordered = await wait(lambda e: e.action is AuditAction.PAYMENT_ORDERED)
        await wait(lambda e: e.action is AuditAction.DISPLAY_OUTCOME)
    settlement = at(ordered.detail, "settlement")
    assert (at(settlement, "fee_fen"), at(settlement, "total_fen")) == (0, 1500)
    assert [at(d, "id") for d in each(settlement, "debts")] == [debt["id"]]
    assert exit_.driver.shown == ("请扫码缴费", PLATE, "15.00元")
    assert exit_.driver.qr is not None
    async with httpx.AsyncClient(base_url=staffed.url) as phone, heard(staffed) as wait:
        tapped = await phone.post(urlsplit(exit_.driver.qr).path + "/sandbox")
        assert tapped.status_code == 200, tapped.text
        await wait(opened_by_system)
    assert await staffed.store.owed_debts(PLATE) == []
    actions = [e.action async for e in staffed.store.iter_audit()]
    for earlier, later in [
        (AuditAction.ESCAPE_RECORDED, AuditAction.DEBTOR_ENTERED),
        (AuditAction.PAYMENT_RECORDED, AuditAction.DEBTS_CLEARED),
    ]:
        assert actions.index(earlier) < actions.index(later)
    cleared = [e async for e in staffed.store.iter_audit() if e.action is AuditAction.DEBTS_CLEARED]
    assert [[at(d, "id") for d in each(e.detail, "debts")] for e in cleared] == [[debt["id"]]]
    assert await system_opens(staffed) == [("P2-IN", "entry"), ("P2-OUT", "paid")]


async def test_an_exit_lanes_own_escape_report_is_owed_once_and_an_unowed_one_still_ledgered(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The lane saw a car leave unpaid: its plate's stay is owed, as the lane's word; the
    same plate reported again, and a plate with no stay, are kept with why, owing nothing."""
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    stay_id = await parked(staffed, 200)
    await left(staffed, 79)
    lane = await lanes("P1-OUT")
    entry = await entry_lane(staffed, lanes)

    def escape_entry(entry: AuditEntry) -> bool:
        return entry.action is AuditAction.ESCAPE_RECORDED

    async with heard(staffed) as wait:
        entry.driver.emit(EscapeSeen(datetime.now(UTC), PLATE))  # an entry: no exit to escape
        lane.driver.emit(EscapeSeen(datetime.now(UTC), PLATE))
        owed = await wait(escape_entry)
        lane.driver.emit(EscapeSeen(datetime.now(UTC), "粤b·12345"))
        again = await wait(escape_entry)
        lane.driver.emit(EscapeSeen(datetime.now(UTC), "粤B99999"))
        unknown = await wait(escape_entry)
    assert (owed.actor, owed.lane, owed.outcome, owed.detail["stay"]) == (
        "lane:P1-OUT",
        "P1-OUT",
        None,
        stay_id,
    )
    assert at(owed.detail, "debt", "fen") == 1500
    assert (again.outcome, again.detail["stay"]) == ("escape_recorded", stay_id)
    assert (unknown.outcome, unknown.detail["stay"]) == ("unknown_stay", None)
    assert [d.fen for d in await staffed.store.owed_debts(PLATE)] == [1500]
    assert len([e async for e in staffed.store.iter_audit() if escape_entry(e)]) == 3


async def test_a_stay_paid_before_its_exit_read_goes_out_for_that_order_not_charged_twice(
    staffed: Centre, lanes: LaneFactory
) -> None:
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    stay_id = await parked(staffed, 121)
    now = datetime.now(UTC)
    order = new_order(
        "order-paid",
        car_park=PARK,
        lane="P1-OUT",
        plate=PLATE,
        stay_id=stay_id,
        amount_fen=1500,
        rules_fen=1500,
        reason=None,
        provider="sandbox",
        now=now,
        expiry=timedelta(minutes=5),
    )
    await staffed.store.add_payment_order(order, [])
    await staffed.store.record_payment("order-paid", "tx-1", 1500, now)
    lane = await lanes("P1-OUT")
    async with heard(staffed) as wait:
        lane.driver.emit(read(PLATE))
        await wait(opened_by_system)
    [requested] = [
        e async for e in staffed.store.iter_audit() if e.action is AuditAction.GATE_OPEN_REQUESTED
    ]
    assert requested.detail["order"] == "order-paid"
    assert await system_opens(staffed) == [("P1-OUT", "paid")]
    ordered = [
        e async for e in staffed.store.iter_audit() if e.action is AuditAction.PAYMENT_ORDERED
    ]
    assert ordered == [] and lane.driver.qr is None


@pytest.mark.parametrize("settings", [{"command_timeout_s": 60.0}], indirect=True)
async def test_a_lane_slow_to_lift_holds_up_no_other_lanes_car(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The first entry's barrier is stuck mid-lift, its open waiting for an answer; the
    second entry's car is let in meanwhile, not a command timeout later."""
    slow = await entry_lane(staffed, lanes, "P1-IN")
    quick = await entry_lane(staffed, lanes, "P2-IN")
    slow.driver.hold = asyncio.Event()
    slow.driver.emit(read(PLATE))
    async with asyncio.timeout(10):
        await slow.driver.lifting.wait()
    quick.driver.emit(read("粤B54321"))
    async with asyncio.timeout(10):
        await quick.driver.lifted.wait()
    assert slow.driver.opens == 1 and not slow.driver.lifted.is_set()
    slow.driver.hold.set()
    async with asyncio.timeout(10):
        await slow.driver.lifted.wait()
