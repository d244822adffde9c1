"""``POST /api/stays/{stay_id}/escape`` and ``GET /api/parks/{car_park}`` over a real
centre: what they keep and show, and every bad request refused with nothing kept."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from console.billing.lists import ListedPlate, MonthlyPass, PlateLists
from console.billing.rules import Rules
from console.ledger import AuditAction
from console.payments.orders import OrderState, new_order
from tests.conftest import Centre
from tests.details import at, each
from tests.test_gatekeeping import HOURLY, PARK, PLATE, left, parked
from tests.test_gatekeeping import settings as settings  # a centre paying in the sandbox

LISTS = PlateLists(
    passes=(MonthlyPass("粤B11111", PARK, date(2020, 1, 1), date(2099, 12, 31)),),
    blacklist=(ListedPlate("粤B44444", None, "被盗车辆"),),
)


async def escapes(centre: Centre) -> list[Any]:
    return [e async for e in centre.store.iter_audit() if e.action is AuditAction.ESCAPE_RECORDED]


async def escaped(centre: Centre, minutes: float = 200, plate: str = PLATE) -> int:
    """A stay of 2 h 1 min that ended ``minutes - 121`` minutes ago."""
    stay_id = await parked(centre, minutes, plate)
    await left(centre, minutes - 121, plate)
    return stay_id


async def post(client: httpx.AsyncClient, stay: object, body: object) -> httpx.Response:
    return await client.post(f"/api/stays/{stay}/escape", json=body)


async def test_an_escape_is_kept_as_a_debt_and_ledgered_with_the_stay_and_the_note(
    staffed: Centre,
) -> None:
    await staffed.add_lane("P1-OUT")
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    stay_id = await escaped(staffed)
    async with staffed.client("alice") as client:
        response = await post(client, stay_id, {"note": "抬杆故障时冲卡"})
    assert response.status_code == 201, response.text
    [entry] = await escapes(staffed)
    assert (entry.actor, entry.detail["stay"], entry.detail["note"]) == (
        "alice",
        stay_id,
        "抬杆故障时冲卡",
    )
    assert entry.detail["debt"] == {k: v for k, v in response.json().items() if k != "stay_id"}
    assert entry.detail["rules_fen"] == 1500


async def test_an_agent_may_name_the_sum_of_a_stay_the_rules_cannot_price(
    staffed: Centre,
) -> None:
    """No rules: the agent's sum, with the note saying why."""
    await staffed.add_lane("P1-OUT")
    stay_id = await escaped(staffed)
    async with staffed.client("alice") as client:
        refused = await post(client, stay_id, {"note": "冲卡"})
        assert (refused.status_code, refused.json()["error"]) == (503, "no_billing_rules")
        response = await post(client, stay_id, {"note": "冲卡", "amount_fen": 2000})
    assert response.status_code == 201 and response.json()["fen"] == 2000
    assert [e.detail["rules_fen"] for e in await escapes(staffed)] == [None]


BAD_BODIES: list[tuple[object, int, str]] = [
    ({}, 400, "note_required"),
    ({"note": "   "}, 400, "note_required"),
    ({"note": "x" * 501}, 400, "note_too_long"),
    ({"note": 7}, 400, "bad_request"),
    ({"note": "冲卡\u202e"}, 400, "bad_request"),
    ({"note": "冲卡", "amount_fen": -100}, 400, "invalid_amount"),
    ({"note": "冲卡", "amount_fen": 0}, 400, "invalid_amount"),
    ({"note": "冲卡", "amount_fen": 10_000_001}, 400, "invalid_amount"),
    ({"note": "冲卡", "amount_fen": 2**70}, 400, "invalid_amount"),
    ({"note": "冲卡", "amount_fen": 12.5}, 400, "invalid_amount"),
    ({"note": "冲卡", "amount_fen": 100.0}, 400, "invalid_amount"),
    ({"note": "冲卡", "amount_fen": "100"}, 400, "invalid_amount"),
    ({"note": "冲卡", "amount_fen": True}, 400, "invalid_amount"),
    (["note"], 400, "bad_request"),
    ("冲卡", 400, "bad_request"),
]


@pytest.mark.parametrize(("body", "status", "code"), BAD_BODIES)
async def test_bad_escapes_are_refused_and_keep_nothing(
    staffed: Centre, body: object, status: int, code: str
) -> None:
    await staffed.add_lane("P1-OUT")
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    stay_id = await escaped(staffed)
    async with staffed.client("alice") as client:
        response = await post(client, stay_id, body)
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert await escapes(staffed) == []
    assert await staffed.store.owed_debts(PLATE) == []


async def test_escapes_of_stays_that_are_not_there_or_owe_nothing_are_refused(
    staffed: Centre,
) -> None:
    """Unknown and absurd ids, a second escape of one stay, a stay paid for, a pass
    holder's stay and one within its free minutes."""
    await staffed.add_lane("P1-OUT")
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    await staffed.store.set_plate_lists(PARK, LISTS, datetime.now(UTC))
    once = await escaped(staffed)
    paid = await escaped(staffed, plate="粤B22222")
    passed = await escaped(staffed, plate="粤B11111")
    short = await parked(staffed, 20, "粤B66666")
    await left(staffed, 10, "粤B66666")
    now = datetime.now(UTC)
    order = new_order(
        "order-1",
        car_park=PARK,
        lane="P1-OUT",
        plate="粤B22222",
        stay_id=paid,
        amount_fen=1500,
        rules_fen=1500,
        reason=None,
        provider="sandbox",
        now=now,
        expiry=timedelta(minutes=5),
    )
    await staffed.store.add_payment_order(order, [])
    settled = await staffed.store.record_payment("order-1", "tx-1", 1500, now)
    assert settled.order.state is OrderState.PAID
    note = {"note": "冲卡"}
    async with staffed.client("alice") as client:
        assert (await post(client, once, note)).status_code == 201
        for stay, status, code in [
            (once, 409, "escape_recorded"),
            (paid, 409, "stay_paid"),
            (passed, 409, "nothing_owed"),
            (short, 409, "nothing_owed"),
            (999_999, 404, "unknown_stay"),
            (2**63, 404, "unknown_stay"),
            (10**30, 404, "unknown_stay"),
        ]:
            response = await post(client, stay, note)
            assert (response.status_code, response.json()["error"]) == (status, code), stay
        for path in ("-1", "abc", "1.5"):
            response = await client.post(f"/api/stays/{path}/escape", json=note)
            assert response.status_code in (404, 405), path
    assert len(await escapes(staffed)) == 1


async def test_escapes_need_an_agent_signed_in_with_the_csrf_token(staffed: Centre) -> None:
    await staffed.add_lane("P1-OUT")
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    stay_id = await escaped(staffed)
    async with staffed.client() as stranger:
        response = await post(stranger, stay_id, {"note": "冲卡"})
        assert response.status_code == 401
    async with staffed.client("alice") as client:
        del client.headers["X-CSRF-Token"]
        response = await post(client, stay_id, {"note": "冲卡"})
        assert response.status_code == 403
    assert await escapes(staffed) == []


async def test_a_car_parks_rules_and_lists_are_shown_to_agents(staffed: Centre) -> None:
    await staffed.add_lane("P1-OUT")
    async with staffed.client("alice") as client:
        bare = (await client.get(f"/api/parks/{quote(PARK)}")).json()
        assert bare == {
            "car_park": PARK,
            "rules": None,
            "lists": {"monthly_passes": [], "whitelist": [], "blacklist": []},
        }
        await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
        await staffed.store.set_plate_lists(PARK, LISTS, datetime.now(UTC))
        shown = (await client.get(f"/api/parks/{quote(PARK)}")).json()
        assert shown["rules"] == Rules.parse(HOURLY).to_json()
        assert shown["lists"] == LISTS.to_json()
        for name in ("人民路停车", "x" * 300, "%E2%80%AE"):
            response = await client.get(f"/api/parks/{quote(name)}")
            assert (response.status_code, response.json()["error"]) == (404, "unknown_car_park")
    async with staffed.client() as stranger:
        assert (await stranger.get(f"/api/parks/{quote(PARK)}")).status_code == 401


async def test_an_oversized_or_non_json_escape_is_refused(staffed: Centre) -> None:
    await staffed.add_lane("P1-OUT")
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    stay_id = await escaped(staffed)
    async with staffed.client("alice") as client:
        huge = await post(client, stay_id, {"note": "冲卡", "pad": "x" * 20_000})
        assert (huge.status_code, huge.json()["error"]) == (413, "too_large")
        form = await client.post(f"/api/stays/{stay_id}/escape", content=b"note=x")
        assert form.status_code == 415
    assert await escapes(staffed) == []


async def test_an_agents_order_for_a_stay_asks_its_fee_and_the_plates_debts(
    staffed: Centre,
) -> None:
    """The debt from an escape at this car park joins the next order, whoever issues it,
    and the order's ledger entry names it; a pass holder's order asks the debt alone."""
    await staffed.add_lane("P1-OUT")
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    await staffed.store.set_plate_lists(PARK, LISTS, datetime.now(UTC))
    owed = await escaped(staffed)
    passed = await escaped(staffed, plate="粤B11111")
    async with staffed.client("alice") as client:
        debt = (await post(client, owed, {"note": "冲卡"})).json()
        held = (await post(client, passed, {"note": "冲卡", "amount_fen": 700})).json()
        stay_id = await parked(staffed, 121)
        issued = await client.post("/api/lanes/P1-OUT/payment", json={"stay_id": stay_id})
        assert issued.status_code == 201, issued.text
        assert (issued.json()["amount_fen"], issued.json()["rules_fen"]) == (3000, 3000)
        free = await parked(staffed, 121, "粤B11111")
        pass_order = await client.post("/api/lanes/P1-OUT/payment", json={"stay_id": free})
        assert pass_order.status_code == 201, pass_order.text
        assert pass_order.json()["amount_fen"] == 700
    ordered = [
        e async for e in staffed.store.iter_audit() if e.action is AuditAction.PAYMENT_ORDERED
    ]
    assert [[at(d, "id") for d in each(e.detail, "settlement", "debts")] for e in ordered] == [
        [debt["id"]],
        [held["id"]],
    ]
    assert [d.id for d in await staffed.store.order_debts(issued.json()["order_id"])] == [
        debt["id"]
    ]


async def test_a_stay_shows_the_debts_its_order_will_ask_and_nothing_for_a_pass(
    staffed: Centre,
) -> None:
    """What the call workspace shows beside an exit is what the order will ask."""
    await staffed.add_lane("P1-OUT")
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    await staffed.store.set_plate_lists(PARK, LISTS, datetime.now(UTC))
    async with staffed.client("alice") as client:
        debt = (await post(client, await escaped(staffed), {"note": "冲卡"})).json()
        owed = (await client.get(f"/api/stays/{await parked(staffed, 121)}")).json()
        free = (await client.get(f"/api/stays/{await parked(staffed, 121, '粤B11111')}")).json()
    assert (owed["fee_fen"], owed["debts_fen"]) == (1500, 1500)
    assert [d["id"] for d in owed["debts"]] == [debt["id"]]
    assert (free["fee_fen"], free["debts_fen"], free["debts"]) == (0, 0, [])
