"""No audit, no action, for the stays', plates' and payments' actions: with the real
database refusing one kind of ledger entry, as a full disk would, each request that needs
that entry is 503 ``audit_failed`` and nothing it would have done is done: no row
written, no entry, nothing at the lane."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from console.ledger import AuditAction
from console.payments.provider import PaymentNotice
from console.payments.sandbox import SIGNATURE_HEADER
from console.vehicles.model import Recorded
from gates.vocabulary import Direction
from tests.conftest import Centre, Lane, LaneFactory
from tests.noplate import Heard, action, code_path, page_of
from tests.tables import allow_ledger_inserts, kept
from tests.test_api import refuse_ledger_inserts
from tests.test_escape_api import escaped
from tests.test_noplate_api import FREE_HOUR, enter
from tests.test_payments_api import HOURLY, PLATE, Paid, pay_path, priced, sandbox_of
from tests.test_payments_api import settings as settings  # a centre paying in the sandbox
from tests.test_plate_correction import PARK, RIGHT, entered_and_misread_exit

ISSUE = "/api/lanes/P1-OUT/payment"


def audit_failed(response: httpx.Response) -> None:
    assert (response.status_code, response.json()["error"]) == (503, "audit_failed"), response.text
    assert response.json()["detail"]


def untouched(lane: Lane) -> None:
    assert (lane.driver.shown, lane.driver.qr, lane.driver.opens) == ((), None, 0)


# ------------------------------------------------------------------ payment orders


@pytest.mark.parametrize(
    ("action", "amount"),
    [
        (AuditAction.PAYMENT_ORDERED, None),
        (AuditAction.PAYMENT_AMOUNT_OVERRIDDEN, 1000),
        (AuditAction.PAYMENT_ORDERED, 1000),
    ],
)
async def test_an_order_the_ledger_cannot_hold_is_not_issued(
    staffed: Centre, lanes: LaneFactory, action: AuditAction, amount: int | None
) -> None:
    """Nor shown at the lane: the display's entry failing is the order's failing too."""
    lane = await lanes("P1-OUT")
    stay_id = await priced(staffed)
    refuse_ledger_inserts(staffed, action)
    before = kept(staffed)
    body = {"stay_id": stay_id, "amount_fen": amount, "reason": "车主出示优惠券"}
    async with staffed.client("alice") as client:
        response = await client.post(ISSUE, json=body)
    audit_failed(response)
    assert kept(staffed) == before
    untouched(lane)


async def test_an_order_whose_display_the_ledger_cannot_hold_is_kept_but_not_shown(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The order is ledgered and kept before the lane is asked to show it: the display's
    entry failing is 503 with the order open and nothing on the display, which the
    agent's next order at the lane replaces."""
    lane = await lanes("P1-OUT")
    stay_id = await priced(staffed)
    refuse_ledger_inserts(staffed, AuditAction.DISPLAY_REQUESTED)
    async with staffed.client("alice") as client:
        audit_failed(await client.post(ISSUE, json={"stay_id": stay_id}))
        untouched(lane)
        [order] = kept(staffed)["payment_orders"]
        allow_ledger_inserts(staffed)
        again = await client.post(ISSUE, json={"stay_id": stay_id})
        assert again.status_code == 201, again.text
        first = (await client.get(f"/api/payments/{order[0]}")).json()
    assert first["state"] == "cancelled"
    assert lane.driver.qr == again.json()["url"]


async def test_a_new_order_the_ledger_cannot_hold_leaves_the_lanes_open_order_open(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The replaced order's cancellation is ledgered only with the order replacing it."""
    lane = await lanes("P1-OUT")
    stay_id = await priced(staffed)
    async with staffed.client("alice") as client:
        first = (await client.post(ISSUE, json={"stay_id": stay_id})).json()
        refuse_ledger_inserts(staffed, AuditAction.PAYMENT_ORDERED)
        before = kept(staffed)
        audit_failed(await client.post(ISSUE, json={"stay_id": stay_id}))
        order = (await client.get(f"/api/payments/{first['order_id']}")).json()
    assert order["state"] == "open"
    assert lane.driver.qr == first["url"]
    assert kept(staffed) == before


# ------------------------------------------------------------------ notifications and opens


async def test_a_notification_the_ledger_cannot_hold_pays_nothing_until_it_comes_again(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """503 asks the provider to send it again; sent again, once the ledger takes it,
    the order is paid and the gate lifts once."""
    lane = await lanes("P1-OUT")
    sandbox = await sandbox_of(staffed)
    async with staffed.client("alice") as client:
        issued = (await client.post(ISSUE, json={"plate": PLATE, "amount_fen": 800})).json()
        headers, body = sandbox.notification(PaymentNotice(issued["order_id"], "sbx-1", 800))
        refuse_ledger_inserts(staffed, AuditAction.PAYMENT_NOTIFIED)
        before = kept(staffed)
        response = await client.post("/pay/notify/sandbox", content=body, headers=headers)
        audit_failed(response)
        assert response.json()["code"] == "FAIL"
        assert kept(staffed) == before
        assert lane.driver.opens == 0
        allow_ledger_inserts(staffed)
        paid = Paid(staffed)
        again = await client.post("/pay/notify/sandbox", content=body, headers=headers)
        assert (again.status_code, again.json()["effect"]) == (200, "paid")
        await paid.wait()
    assert lane.driver.opens == 1


async def test_a_payment_whose_record_the_ledger_cannot_hold_still_lifts_when_sent_again(
    staffed: Centre, lanes: LaneFactory
) -> None:
    lane = await lanes("P1-OUT")
    sandbox = await sandbox_of(staffed)
    async with staffed.client("alice") as client:
        issued = (await client.post(ISSUE, json={"plate": PLATE, "amount_fen": 800})).json()
        headers, body = sandbox.notification(PaymentNotice(issued["order_id"], "sbx-1", 800))
        refuse_ledger_inserts(staffed, AuditAction.PAYMENT_RECORDED)
        audit_failed(await client.post("/pay/notify/sandbox", content=body, headers=headers))
        allow_ledger_inserts(staffed)
        paid = Paid(staffed)
        again = await client.post("/pay/notify/sandbox", content=body, headers=headers)
        assert (again.status_code, again.json()["effect"]) == (200, "paid")
        await paid.wait()
    assert lane.driver.opens == 1


async def test_a_forged_notification_the_ledger_cannot_hold_is_still_refused(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Its refusal unrecorded, it is 503 (send again), and pays nothing."""
    lane = await lanes("P1-OUT")
    sandbox = await sandbox_of(staffed)
    async with staffed.client("alice") as client:
        issued = (await client.post(ISSUE, json={"plate": PLATE, "amount_fen": 800})).json()
        headers, body = sandbox.notification(PaymentNotice(issued["order_id"], "sbx-1", 800))
        headers[SIGNATURE_HEADER] = "0" * 64
        refuse_ledger_inserts(staffed, AuditAction.PAYMENT_REFUSED)
        before = kept(staffed)
        response = await client.post("/pay/notify/sandbox", content=body, headers=headers)
    audit_failed(response)
    assert kept(staffed) == before
    assert lane.driver.opens == 0


async def test_an_agents_open_for_a_paid_order_the_ledger_cannot_hold_lifts_nothing(
    staffed: Centre, lanes: LaneFactory
) -> None:
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        issued = (await client.post(ISSUE, json={"plate": PLATE, "amount_fen": 800})).json()
        paid = Paid(staffed)
        await client.post(pay_path(issued["url"]) + "/sandbox")
        await paid.wait()
        refuse_ledger_inserts(staffed, AuditAction.GATE_OPEN_REQUESTED)
        before = kept(staffed)
        response = await client.post(f"/api/payments/{issued['order_id']}/open", json={})
    audit_failed(response)
    assert kept(staffed) == before
    assert lane.driver.opens == 1


# ------------------------------------------------------------------ plates and stays


async def misread_exit(centre: Centre, lanes: LaneFactory) -> tuple[Recorded, Recorded]:
    """``entered_and_misread_exit``, once the centre has let the car in (its own open's
    outcome ledgered), so that nothing but the request under test writes after it."""
    let_in = Heard(centre, action(AuditAction.GATE_OPEN_OUTCOME))
    entered, left = await entered_and_misread_exit(centre, lanes)
    await let_in.wait()
    return entered, left


async def test_a_correction_the_ledger_cannot_hold_changes_no_plate(
    staffed: Centre, lanes: LaneFactory
) -> None:
    _, left = await misread_exit(staffed, lanes)
    refuse_ledger_inserts(staffed, AuditAction.PLATE_CORRECTED)
    before = kept(staffed)
    async with staffed.client("alice") as client:
        response = await client.post(f"/api/vehicles/{left.event_id}/plate", json={"plate": RIGHT})
    audit_failed(response)
    assert kept(staffed) == before


async def test_a_match_the_ledger_cannot_hold_links_no_stay(
    staffed: Centre, lanes: LaneFactory
) -> None:
    entered, left = await misread_exit(staffed, lanes)
    refuse_ledger_inserts(staffed, AuditAction.STAY_MATCHED)
    before = kept(staffed)
    async with staffed.client("alice") as client:
        response = await client.post(
            f"/api/stays/{entered.stay_id}/match", json={"event_id": left.event_id}
        )
    audit_failed(response)
    assert kept(staffed) == before


async def test_an_escape_the_ledger_cannot_hold_owes_nothing(staffed: Centre) -> None:
    await staffed.add_lane("P1-OUT")
    await staffed.store.set_billing_rules(PARK, HOURLY, datetime.now(UTC))
    stay_id = await escaped(staffed)
    refuse_ledger_inserts(staffed, AuditAction.ESCAPE_RECORDED)
    before = kept(staffed)
    async with staffed.client("alice") as client:
        response = await client.post(f"/api/stays/{stay_id}/escape", json={"note": "冲卡"})
    audit_failed(response)
    assert kept(staffed) == before
    assert await staffed.store.owed_debts(PLATE) == []


# ------------------------------------------------------------------ cars without a plate


async def no_plate_lanes(centre: Centre, lanes: LaneFactory) -> tuple[Lane, Lane]:
    await centre.add_lane("P1-IN", Direction.ENTRY)
    return await lanes("P1-IN"), await lanes("P1-OUT")


async def test_a_no_plate_code_the_ledger_cannot_hold_is_not_shown(
    staffed: Centre, lanes: LaneFactory
) -> None:
    entry, _ = await no_plate_lanes(staffed, lanes)
    refuse_ledger_inserts(staffed, AuditAction.DISPLAY_REQUESTED)
    before = kept(staffed)
    async with staffed.client("alice") as client:
        response = await client.post("/api/lanes/P1-IN/noplate", json={})
    audit_failed(response)
    assert kept(staffed) == before
    untouched(entry)


async def test_a_no_plate_entry_the_ledger_cannot_hold_opens_no_stay_and_no_gate(
    staffed: Centre, lanes: LaneFactory
) -> None:
    entry, _ = await no_plate_lanes(staffed, lanes)
    async with staffed.client("alice") as agent:
        path = await code_path(agent, "P1-IN")
    refuse_ledger_inserts(staffed, AuditAction.NOPLATE_ENTERED)
    before = kept(staffed)
    async with staffed.client() as phone:
        response = await phone.post(path + "/enter")
        assert (response.status_code, page_of(response)) == (503, "call")
        assert "seat_noplate_phone" not in response.headers.get("set-cookie", "")
    assert kept(staffed) == before
    assert entry.driver.opens == 0


async def test_a_no_plate_exit_the_ledger_cannot_hold_keeps_the_stay_open(
    staffed: Centre, lanes: LaneFactory
) -> None:
    await staffed.store.set_billing_rules(PARK, FREE_HOUR, datetime.now(UTC))
    _, exit_lane = await no_plate_lanes(staffed, lanes)
    async with staffed.client() as phone:
        await enter(staffed, phone)
        async with staffed.client("alice") as agent:
            path = await code_path(agent, "P1-OUT")
        refuse_ledger_inserts(staffed, AuditAction.NOPLATE_EXITED)
        before = kept(staffed)
        response = await phone.post(path + "/leave")
    assert (response.status_code, page_of(response)) == (503, "call")
    assert kept(staffed) == before
    assert exit_lane.driver.opens == 0


async def test_a_no_plate_link_the_ledger_cannot_hold_keeps_the_identity(
    staffed: Centre, lanes: LaneFactory
) -> None:
    await no_plate_lanes(staffed, lanes)
    async with staffed.client() as phone:
        await enter(staffed, phone)
    [stay] = await staffed.store.noplate_stays(PARK, 10)
    refuse_ledger_inserts(staffed, AuditAction.PLATE_CORRECTED)
    before = kept(staffed)
    async with staffed.client("alice") as agent:
        response = await agent.post(
            f"/api/noplate/stays/{stay.stay_id}/plate", json={"plate": PLATE}
        )
    audit_failed(response)
    assert kept(staffed) == before
