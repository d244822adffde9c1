"""An escape's stay is charged once: the escape ends a stay still open, the stay's own
debt never joins its own fee, and paying an order for the stay clears that debt, even
one recorded while the order was open. Over a real centre paying in the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx

from console.billing.rules import Rules
from console.ledger import AuditAction
from tests.conftest import Centre, LaneFactory
from tests.details import at, each
from tests.test_gatekeeping import HOURLY, PARK, PLATE, heard, parked
from tests.test_gatekeeping import settings as settings  # a centre paying in the sandbox
from tests.test_plate_correction import MISREAD, candidates, entered_and_misread_exit

ESCAPED = {"note": "跟车出场，未缴费"}


async def test_an_escape_ends_an_open_stay_whose_order_then_asks_its_fee_once(
    staffed: Centre,
) -> None:
    """2 h 1 min parked, 15 yuan: the stay shows it as its fee and its escape, not twice."""
    await staffed.add_lane("P1-OUT")
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    stay_id = await parked(staffed, 121)
    async with staffed.client("alice") as client:
        escaped = await client.post(f"/api/stays/{stay_id}/escape", json=ESCAPED)
        assert escaped.status_code == 201, escaped.text
        debt = escaped.json()
        shown = (await client.get(f"/api/stays/{stay_id}")).json()
        issued = await client.post("/api/lanes/P1-OUT/payment", json={"stay_id": stay_id})
    assert debt["fen"] == 1500
    assert (shown["state"], shown["fee_fen"], shown["debts_fen"], shown["debts"]) == (
        "no_exit",
        1500,
        0,
        [],
    )
    assert shown["escape"] == {k: v for k, v in debt.items() if k != "stay_id"}
    assert issued.status_code == 201, issued.text
    assert (issued.json()["amount_fen"], issued.json()["rules_fen"]) == (1500, 1500)
    stay = await staffed.store.stay(stay_id)
    assert stay is not None and stay.closed_at is not None
    [entry] = [
        e async for e in staffed.store.iter_audit() if e.action is AuditAction.ESCAPE_RECORDED
    ]
    assert (entry.detail["state"], entry.detail["ends_stay"]) == ("open", True)


async def test_paying_the_order_open_when_the_escape_was_recorded_clears_the_debt(
    staffed: Centre,
) -> None:
    """The driver paid after all: the stay's fee is paid, so its debt is owed no more,
    and the ledger says which debt the order cleared."""
    await staffed.add_lane("P1-OUT")
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    stay_id = await parked(staffed, 121)
    async with staffed.client("alice") as client:
        issued = await client.post("/api/lanes/P1-OUT/payment", json={"stay_id": stay_id})
        assert issued.status_code == 201, issued.text
        escaped = await client.post(f"/api/stays/{stay_id}/escape", json=ESCAPED)
        assert escaped.status_code == 201, escaped.text
    assert [d.id for d in await staffed.store.owed_debts(PLATE)] == [escaped.json()["id"]]
    async with httpx.AsyncClient(base_url=staffed.url) as phone, heard(staffed) as wait:
        tapped = await phone.post(urlsplit(issued.json()["url"]).path + "/sandbox")
        assert tapped.status_code == 200, tapped.text
        cleared = await wait(lambda e: e.action is AuditAction.DEBTS_CLEARED)
    assert await staffed.store.owed_debts(PLATE) == []
    assert [at(d, "id") for d in each(cleared.detail, "debts")] == [escaped.json()["id"]]
    async with staffed.client("alice") as client:
        shown = (await client.get(f"/api/stays/{stay_id}")).json()
    assert (shown["escape"], shown["debts_fen"]) == (None, 0)


async def test_an_order_for_an_escaped_stay_still_asks_the_plates_other_debts(
    staffed: Centre,
) -> None:
    """Only the stay's own debt is left out: an older escape of the plate is still asked."""
    await staffed.add_lane("P1-OUT")
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    older = await parked(staffed, 600)
    async with staffed.client("alice") as client:
        owed = {**ESCAPED, "amount_fen": 700}
        first = await client.post(f"/api/stays/{older}/escape", json=owed)
        assert first.status_code == 201, first.text
        stay_id = await parked(staffed, 121)
        second = await client.post(f"/api/stays/{stay_id}/escape", json=ESCAPED)
        assert second.status_code == 201, second.text
        shown = (await client.get(f"/api/stays/{stay_id}")).json()
        issued = await client.post("/api/lanes/P1-OUT/payment", json={"stay_id": stay_id})
    assert (shown["fee_fen"], shown["debts_fen"]) == (1500, 700)
    assert [d["id"] for d in shown["debts"]] == [first.json()["id"]]
    assert issued.json()["amount_fen"] == 2200
    assert [d.id for d in await staffed.store.order_debts(issued.json()["order_id"])] == [
        first.json()["id"],
        second.json()["id"],
    ]


async def test_an_escaped_stay_is_no_longer_a_candidate_for_an_exit(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The car is gone: a misread exit is not matched to the stay it escaped from."""
    entered, _ = await entered_and_misread_exit(staffed, lanes)
    async with staffed.client("alice") as client:
        before = [c["stay_id"] for c in await candidates(client, MISREAD)]
        owed = {**ESCAPED, "amount_fen": 1000}
        escaped = await client.post(f"/api/stays/{entered.stay_id}/escape", json=owed)
        assert escaped.status_code == 201, escaped.text
        after = [c["stay_id"] for c in await candidates(client, MISREAD)]
    assert (before, after) == ([entered.stay_id], [])
