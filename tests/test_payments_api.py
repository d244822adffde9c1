"""Payments end to end: a real centre, a real lane over the lane link, the sandbox
provider. An order is issued, paid on the pay page, the gate opens by itself, and the
ledger holds each step; forged, replayed and late notifications, and tampered,
expired and reused pay links, pay nothing."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from console.billing.rules import Rules
from console.ledger import AuditAction, AuditEntry
from console.payments.provider import PaymentNotice
from console.payments.sandbox import SIGNATURE_HEADER, SandboxProvider, sandbox_key
from console.settings import Settings
from console.vehicles.model import VehicleEvent
from gates.vocabulary import Direction, PlateColour
from tests.conftest import TEST_POLICY, Centre, LaneFactory
from tests.qr import qr_url

BASE = "https://seat.example.com"
PARK = "人民路停车场"
PLATE = "粤B12345"
HOURLY = Rules.parse(
    {
        "bands": [
            {
                "name": "全天",
                "start": "00:00",
                "end": "00:00",
                "period_minutes": 60,
                "fen_per_period": 500,
            }
        ]
    }
)


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """A centre that knows the address drivers' phones reach it at, and pays in the
    sandbox."""
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


async def parked(centre: Centre, minutes: float = 121) -> int:
    """A car that entered ``minutes`` ago and is parked still: its stay's id."""
    at = datetime.now(UTC) - timedelta(minutes=minutes)
    recorded = await centre.store.record_vehicle(
        VehicleEvent(
            event_id=f"in-{at.timestamp()}",
            lane="P1-IN",
            car_park=PARK,
            direction=Direction.ENTRY,
            at=at,
            received_at=at,
            plate=PLATE,
            plate_colour=PlateColour.BLUE,
            confidence=0.97,
            box=(120, 200, 140, 44),
            snapshot=None,
        )
    )
    assert recorded.stay_id is not None
    return recorded.stay_id


async def priced(centre: Centre) -> int:
    """The car park has rules (5 yuan an hour) and a car parked 2 h 1 min: 15 yuan."""
    await centre.store.set_billing_rules(PARK, HOURLY, datetime.now(UTC))
    return await parked(centre)


async def ledger(centre: Centre) -> list[AuditEntry]:
    """The ledger without the centre's start and the agents' logins."""
    skipped = (AuditAction.CENTRE_STARTED, AuditAction.LOGIN)
    return [e async for e in centre.store.iter_audit() if e.action not in skipped]


def pay_path(url: str) -> str:
    assert url.startswith(BASE + "/pay/")
    return urlsplit(url).path


async def issue(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post("/api/lanes/P1-OUT/payment", json=body)


class Paid:
    """Waits for the display to say an order was paid: the last step of a paid order,
    after its gate open and the open's record."""

    def __init__(self, centre: Centre) -> None:
        self.done = asyncio.Event()
        shown: set[str | None] = set()

        def heard(entry: AuditEntry) -> None:
            lines = entry.detail.get("lines")
            if (
                entry.action is AuditAction.DISPLAY_REQUESTED
                and isinstance(lines, list)
                and lines
                and lines[0] == "已缴费"
            ):
                shown.add(entry.command_id)
            elif entry.action is AuditAction.DISPLAY_OUTCOME and entry.command_id in shown:
                self.done.set()

        self.unsubscribe = centre.audit.subscribe(heard)

    async def wait(self) -> None:
        async with asyncio.timeout(10):
            await self.done.wait()
        self.unsubscribe()


async def test_an_order_paid_in_the_sandbox_opens_the_gate_and_the_ledger_holds_each_step(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """From the agent's order to the lifted barrier, nothing by hand."""
    lane = await lanes("P1-OUT")
    stay_id = await priced(staffed)
    async with staffed.client("alice") as client:
        response = await issue(client, {"stay_id": stay_id})
        assert response.status_code == 201, response.text
        issued = response.json()
        assert issued["amount_fen"] == 1500 and issued["rules_fen"] == 1500
        assert qr_url(base64.b64decode(issued["qr_png"])) == issued["url"]
        assert (lane.driver.shown, lane.driver.qr) == (
            ("请扫码缴费", PLATE, "15.00元"),
            issued["url"],
        )

        page = await client.get(pay_path(issued["url"]))
        assert page.status_code == 200 and 'data-page="pay"' in page.text
        assert "15.00元" in page.text and PLATE in page.text

        paid = Paid(staffed)
        tapped = await client.post(pay_path(issued["url"]) + "/sandbox")
        assert tapped.status_code == 200 and 'data-page="paid"' in tapped.text
        await paid.wait()
        assert lane.driver.opens == 1
        assert lane.driver.shown == ("已缴费", PLATE, "请通行")

        order = (await client.get(f"/api/payments/{issued['order_id']}")).json()
    assert order["state"] == "paid"
    assert [n["effect"] for n in order["notifications"]] == ["paid"]
    assert [(o["actor"], o["outcome"]) for o in order["gate_opens"]] == [("system", "done")]
    entries = await ledger(staffed)
    assert [e.action for e in entries] == [
        AuditAction.PAYMENT_ORDERED,
        AuditAction.DISPLAY_REQUESTED,
        AuditAction.DISPLAY_OUTCOME,
        AuditAction.PAYMENT_NOTIFIED,
        AuditAction.PAYMENT_RECORDED,
        AuditAction.GATE_OPEN_REQUESTED,
        AuditAction.GATE_OPEN_OUTCOME,
        AuditAction.DISPLAY_REQUESTED,
        AuditAction.DISPLAY_OUTCOME,
    ]
    opened = entries[5]
    assert (opened.actor, opened.reason, opened.detail["order"]) == (
        "system",
        "paid",
        issued["order_id"],
    )
    assert entries[4].outcome == "paid"


async def test_an_amount_other_than_the_rules_needs_a_reason_and_is_audited_with_both(
    staffed: Centre, lanes: LaneFactory
) -> None:
    await lanes("P1-OUT")
    stay_id = await priced(staffed)
    async with staffed.client("alice") as client:
        refused = await issue(client, {"stay_id": stay_id, "amount_fen": 1000})
        assert (refused.status_code, refused.json()["error"]) == (400, "reason_required")
        assert await ledger(staffed) == []
        response = await issue(
            client, {"stay_id": stay_id, "amount_fen": 1000, "reason": "车主出示优惠券"}
        )
    assert response.status_code == 201 and response.json()["amount_fen"] == 1000
    overridden = [
        e for e in await ledger(staffed) if e.action is AuditAction.PAYMENT_AMOUNT_OVERRIDDEN
    ]
    assert [
        (e.actor, e.reason, e.detail["rules_fen"], e.detail["amount_fen"]) for e in overridden
    ] == [("alice", "车主出示优惠券", 1500, 1000)]


@pytest.mark.parametrize("amount", [-1, 0, 10_000_001, 15.5, 1500.0, True, "1500", [1500]])
async def test_a_bad_amount_is_invalid_amount_and_records_nothing(
    staffed: Centre, lanes: LaneFactory, amount: object
) -> None:
    await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        response = await issue(client, {"plate": PLATE, "amount_fen": amount, "reason": "x"})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_amount")
    assert await ledger(staffed) == []


@pytest.mark.parametrize(
    ("path", "body", "status", "error"),
    [
        ("/api/lanes/NOPE/payment", {"plate": PLATE, "amount_fen": 100}, 404, "unknown_lane"),
        ("/api/lanes/P1-OUT/payment", {"stay_id": 999}, 404, "unknown_stay"),
        ("/api/lanes/P1-OUT/payment", {"stay_id": True}, 400, "invalid_stay_id"),
        ("/api/lanes/P1-OUT/payment", {"stay_id": "1"}, 400, "invalid_stay_id"),
        ("/api/lanes/P1-OUT/payment", {"plate": "粤B1"}, 400, "invalid_plate"),
        ("/api/lanes/P1-OUT/payment", {"plate": PLATE}, 400, "amount_required"),
        ("/api/lanes/P1-OUT/payment", {"amount_fen": 100}, 400, "plate_required"),
        ("/api/lanes/P1-OUT/payment", [1], 400, "bad_request"),
        ("/api/lanes/P1-IN/payment", {"plate": PLATE, "amount_fen": 100}, 409, "not_exit_lane"),
        ("/api/payments/0123/open", {}, 404, "unknown_order"),
    ],
)
async def test_bad_requests_are_refused_and_record_nothing(
    staffed: Centre, path: str, body: object, status: int, error: str
) -> None:
    await staffed.add_lane("P1-OUT")
    await staffed.add_lane("P1-IN", Direction.ENTRY)
    async with staffed.client("alice") as client:
        response = await client.post(path, json=body)
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert await ledger(staffed) == []


async def test_a_stay_in_a_car_park_without_rules_is_no_billing_rules(
    staffed: Centre, lanes: LaneFactory
) -> None:
    await lanes("P1-OUT")
    stay_id = await parked(staffed)
    async with staffed.client("alice") as client:
        response = await issue(client, {"stay_id": stay_id})
    assert (response.status_code, response.json()["error"]) == (503, "no_billing_rules")
    assert await ledger(staffed) == []


async def test_issuing_needs_a_session_and_the_csrf_header(staffed: Centre) -> None:
    await staffed.add_lane("P1-OUT")
    body = {"plate": PLATE, "amount_fen": 100}
    async with httpx.AsyncClient(base_url=staffed.url) as anonymous:
        response = await anonymous.post("/api/lanes/P1-OUT/payment", json=body)
        assert (response.status_code, response.json()["error"]) == (401, "not_authenticated")
        response = await anonymous.get("/api/payments/0123")
        assert response.status_code == 401
    async with staffed.client("alice") as client:
        client.headers.pop("x-csrf-token")
        response = await client.post("/api/lanes/P1-OUT/payment", json=body)
    assert (response.status_code, response.json()["error"]) == (403, "csrf")


async def sandbox_of(centre: Centre) -> SandboxProvider:
    """The sandbox as the centre keys it: what a genuine notification is signed with."""
    key = await centre.store.get_sticker_key()
    assert key is not None
    return SandboxProvider(sandbox_key(key))


async def test_a_forged_notification_is_refused_audited_and_pays_nothing(
    staffed: Centre, lanes: LaneFactory
) -> None:
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        issued = (await issue(client, {"plate": PLATE, "amount_fen": 800})).json()
        headers, body = (await sandbox_of(staffed)).notification(
            PaymentNotice(issued["order_id"], "sbx-forged", 800)
        )
        headers[SIGNATURE_HEADER] = "0" * 64
        response = await client.post("/pay/notify/sandbox", content=body, headers=headers)
        answer = response.json()
        assert (response.status_code, answer["error"], answer["code"]) == (
            400,
            "notification_forged",
            "FAIL",
        )
        order = (await client.get(f"/api/payments/{issued['order_id']}")).json()
    assert (order["state"], order["notifications"], lane.driver.opens) == ("open", [], 0)
    refused = (await ledger(staffed))[-1]
    assert (refused.action, refused.outcome) == (AuditAction.PAYMENT_REFUSED, "notification_forged")
    assert (refused.detail["remote"], refused.detail["sha256"]) == (
        "127.0.0.1",
        hashlib.sha256(body).hexdigest(),
    )


async def test_a_replayed_notification_is_harmless(staffed: Centre, lanes: LaneFactory) -> None:
    """The same transaction twice: recorded once, the gate lifted once."""
    lane = await lanes("P1-OUT")
    sandbox = await sandbox_of(staffed)
    async with staffed.client("alice") as client:
        issued = (await issue(client, {"plate": PLATE, "amount_fen": 800})).json()
        headers, body = sandbox.notification(PaymentNotice(issued["order_id"], "sbx-1", 800))
        paid = Paid(staffed)
        first = await client.post("/pay/notify/sandbox", content=body, headers=headers)
        assert first.json()["effect"] == "paid"
        await paid.wait()
        again = await client.post("/pay/notify/sandbox", content=body, headers=headers)
        assert (again.status_code, again.json()["effect"]) == (200, "replayed")
        order = (await client.get(f"/api/payments/{issued['order_id']}")).json()
    assert len(order["notifications"]) == 1 and len(order["gate_opens"]) == 1
    assert lane.driver.opens == 1


async def test_a_notification_of_another_sum_is_refused(
    staffed: Centre, lanes: LaneFactory
) -> None:
    lane = await lanes("P1-OUT")
    sandbox = await sandbox_of(staffed)
    async with staffed.client("alice") as client:
        issued = (await issue(client, {"plate": PLATE, "amount_fen": 800})).json()
        headers, body = sandbox.notification(PaymentNotice(issued["order_id"], "sbx-1", 1))
        response = await client.post("/pay/notify/sandbox", content=body, headers=headers)
    assert (response.status_code, response.json()["error"]) == (400, "amount_mismatch")
    assert lane.driver.opens == 0


@pytest.mark.parametrize("settings", [{"payment_sandbox": False}], indirect=True)
async def test_without_a_payment_provider_no_order_is_made(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The sandbox pays with a tap: a centre not told to offer it (a real one) refuses
    to issue orders through it, and a sandbox notification finds no provider."""
    lane = await lanes("P1-OUT")
    sandbox = SandboxProvider(sandbox_key(b"k" * 32))
    async with staffed.client("alice") as client:
        refused = await issue(client, {"plate": PLATE, "amount_fen": 800})
        headers, body = sandbox.notification(PaymentNotice("0" * 32, "sbx-1", 800))
        notified = await client.post("/pay/notify/sandbox", content=body, headers=headers)
    assert (refused.status_code, refused.json()["error"]) == (503, "no_payment_provider")
    assert (notified.status_code, notified.json()["error"]) == (404, "unknown_provider")
    assert (lane.driver.shown, lane.driver.opens) == ((), 0)
    assert await ledger(staffed) == []


@pytest.mark.parametrize("settings", [{"payment_expiry_s": 0.001}], indirect=True)
async def test_an_expired_order_shows_so_and_a_late_notification_opens_nothing(
    staffed: Centre, lanes: LaneFactory
) -> None:
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        issued = (await issue(client, {"plate": PLATE, "amount_fen": 800})).json()
        page = await client.get(pay_path(issued["url"]))
        assert page.status_code == 410 and 'data-page="expired"' in page.text
        tapped = await client.post(pay_path(issued["url"]) + "/sandbox")
        assert tapped.status_code == 409 and 'data-page="expired"' in tapped.text
        headers, body = (await sandbox_of(staffed)).notification(
            PaymentNotice(issued["order_id"], "sbx-late", 800)
        )
        late = await client.post("/pay/notify/sandbox", content=body, headers=headers)
        assert late.json()["effect"] == "late"
        order = (await client.get(f"/api/payments/{issued['order_id']}")).json()
    assert (order["state"], order["gate_opens"], lane.driver.opens) == ("expired", [], 0)


async def test_a_tampered_or_cross_site_pay_gets_the_invalid_page_and_pays_nothing(
    staffed: Centre, lanes: LaneFactory
) -> None:
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        issued = (await issue(client, {"plate": PLATE, "amount_fen": 800})).json()
        path = pay_path(issued["url"])
        tampered = path[:-1] + ("A" if path[-1] != "A" else "B")
        for url in (tampered, "/pay/nonsense"):
            page = await client.get(url)
            assert page.status_code == 404 and 'data-page="invalid"' in page.text
            tapped = await client.post(url + "/sandbox")
            assert tapped.status_code == 404 and 'data-page="invalid"' in tapped.text
        cross = await client.post(
            pay_path(issued["url"]) + "/sandbox", headers={"sec-fetch-site": "cross-site"}
        )
        assert cross.status_code == 403 and 'data-page="invalid"' in cross.text
        order = (await client.get(f"/api/payments/{issued['order_id']}")).json()
    assert (order["state"], lane.driver.opens) == ("open", 0)


async def test_a_reused_or_replaced_pay_link_pays_nothing_more(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A paid link shows it is paid; an open link replaced by a newer order at the lane
    shows it is cancelled."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        first = (await issue(client, {"plate": PLATE, "amount_fen": 800})).json()
        second = (await issue(client, {"plate": PLATE, "amount_fen": 900})).json()
        page = await client.get(pay_path(first["url"]))
        assert page.status_code == 410 and 'data-page="cancelled"' in page.text
        tapped = await client.post(pay_path(first["url"]) + "/sandbox")
        assert tapped.status_code == 409 and 'data-page="cancelled"' in tapped.text

        paid = Paid(staffed)
        await client.post(pay_path(second["url"]) + "/sandbox")
        await paid.wait()
        again = await client.post(pay_path(second["url"]) + "/sandbox")
        assert again.status_code == 409 and 'data-page="paid"' in again.text
        page = await client.get(pay_path(second["url"]))
        assert page.status_code == 200 and 'data-page="paid"' in page.text
        order = (await client.get(f"/api/payments/{second['order_id']}")).json()
    assert len(order["notifications"]) == 1 and lane.driver.opens == 1
    cancelled = [e for e in await ledger(staffed) if e.action is AuditAction.PAYMENT_CANCELLED]
    assert [e.detail["order"] for e in cancelled] == [first["order_id"]]


async def test_an_agent_opens_again_for_a_paid_order_that_did_not_lift(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The lane refused the first open; the agent's retry is tied to the same order."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        issued = (await issue(client, {"plate": PLATE, "amount_fen": 800})).json()
        unpaid = await client.post(f"/api/payments/{issued['order_id']}/open", json={})
        assert (unpaid.status_code, unpaid.json()["error"]) == (409, "order_not_paid")
        lane.driver.refuse = "gate_fault"
        paid = Paid(staffed)
        await client.post(pay_path(issued["url"]) + "/sandbox")
        await paid.wait()
        lane.driver.refuse = None
        retried = await client.post(
            f"/api/payments/{issued['order_id']}/open", json={"note": "复位"}
        )
        assert retried.json()["outcome"] == "done"
        order = (await client.get(f"/api/payments/{issued['order_id']}")).json()
    assert [(o["actor"], o["outcome"]) for o in order["gate_opens"]] == [
        ("system", "refused"),
        ("alice", "done"),
    ]
    assert lane.driver.opens == 1
    requested = [e for e in await ledger(staffed) if e.action is AuditAction.GATE_OPEN_REQUESTED]
    assert [(e.actor, e.reason, e.detail["order"]) for e in requested] == [
        ("system", "paid", issued["order_id"]),
        ("alice", "paid_not_lifted", issued["order_id"]),
    ]
