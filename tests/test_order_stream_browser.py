"""The call workspace follows its order from the live stream, in a real headless
Chromium: paid and lifted with no request for the order; a change missed while the
stream was down read once when it is back; money paid after the order expired shown
with the button that opens for that order, in the workspace and on the desk."""

from __future__ import annotations

import httpx
import pytest
from playwright.async_api import Page, Request, WebSocketRoute, expect

from console.ledger import AuditAction
from console.payments.provider import PaymentNotice
from tests.conftest import Centre, Lane, LaneFactory
from tests.test_calls_browser import WAIT_MS, OpenConsole, consoles  # noqa: F401
from tests.test_pay_browser import phone_page  # noqa: F401
from tests.test_payments_api import ledger, sandbox_of
from tests.test_workspace_browser import (  # noqa: F401
    RIGHT,
    answer,
    car_in_and_out,
    issue_and_read_qr,
    pay,
    settings,
)

pytestmark = pytest.mark.browser


def order_reads(page: Page) -> list[str]:
    """The URLs of the page's requests for an order, from now on."""
    reads: list[str] = []

    def heard(request: Request) -> None:
        if request.method == "GET" and "/api/payments/" in request.url:
            reads.append(request.url)

    page.on("request", heard)
    return reads


async def ready_to_pay(centre: Centre, lanes: LaneFactory, page: Page) -> tuple[str, Lane]:
    """The car at the exit has called, the agent answered and issued the order: the
    URL its QR code holds, and the exit lane."""
    _, _, exit_lane = await car_in_and_out(centre, lanes, RIGHT, RIGHT)
    await answer(page, exit_lane)
    await expect(page.locator("#ws-fee")).to_have_attribute("data-fee-fen", "1500", timeout=WAIT_MS)
    return await issue_and_read_qr(page), exit_lane


async def test_the_workspace_follows_its_order_paid_and_lifted_without_asking_for_it(
    staffed: Centre,
    lanes: LaneFactory,
    consoles: OpenConsole,  # noqa: F811
    phone_page: Page,  # noqa: F811
) -> None:
    alice = await consoles("alice")
    reads = order_reads(alice)
    url, exit_lane = await ready_to_pay(staffed, lanes, alice)
    await pay(phone_page, staffed, url)
    await expect(alice.locator("#ws-order")).to_have_attribute(
        "data-state", "paid", timeout=WAIT_MS
    )
    await expect(alice.locator("#ws-step-notice")).to_have_attribute("data-state", "paid")
    await expect(alice.locator("#ws-step-gate")).to_have_attribute("data-state", "done")
    await expect(alice.locator("#ws-reopen")).to_be_hidden()
    assert exit_lane.driver.opens == 1
    assert reads == []


async def test_a_change_missed_while_the_stream_was_down_is_read_once_when_it_is_back(
    staffed: Centre,
    lanes: LaneFactory,
    consoles: OpenConsole,  # noqa: F811
    phone_page: Page,  # noqa: F811
) -> None:
    """The stream loses the order's messages, then drops; the tab reconnects and reads
    the order once, paid and lifted."""
    streams: list[WebSocketRoute] = []
    deaf = {"on": False}

    def relay(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        streams.append(ws)

        def to_page(message: str | bytes) -> None:
            if not (deaf["on"] and '"type":"order"' in str(message)):
                ws.send(message)

        server.on_message(to_page)

    async def routed(page: Page) -> None:
        await page.route_web_socket("**/api/stream", relay)

    alice = await consoles("alice", before=routed)
    url, _ = await ready_to_pay(staffed, lanes, alice)
    reads = order_reads(alice)
    deaf["on"] = True
    await pay(phone_page, staffed, url)
    await expect(alice.locator("#ws-order")).to_have_attribute("data-state", "open")
    deaf["on"] = False
    await streams[-1].close(code=1011)
    await expect(alice.locator("#ws-step-gate")).to_have_attribute(
        "data-state", "done", timeout=WAIT_MS
    )
    await expect(alice.locator("#ws-order")).to_have_attribute("data-state", "paid")
    assert len(streams) == 2
    assert len(reads) == 1


@pytest.mark.parametrize("settings", [{"payment_expiry_s": 5.0}], indirect=True)
async def test_money_paid_after_the_order_expired_is_shown_with_an_open_for_that_order(
    staffed: Centre,
    lanes: LaneFactory,
    consoles: OpenConsole,  # noqa: F811
) -> None:
    """The order expires on screen; the late payment shows in the workspace and on the
    desk, each with the button that opens for that order; the desk's opens it, audited
    as an agent's open for the order, and both show the barrier up."""
    alice = await consoles("alice")
    _, exit_lane = await ready_to_pay(staffed, lanes, alice)
    box = alice.locator("#ws-order")
    await expect(box).to_have_attribute("data-state", "expired", timeout=WAIT_MS)
    order_id = await box.get_attribute("data-order")
    assert order_id
    reopen = alice.locator("#ws-reopen")
    await expect(reopen).to_be_hidden()

    headers, body = (await sandbox_of(staffed)).notification(
        PaymentNotice(order_id, "sbx-late", 1500)
    )
    async with httpx.AsyncClient(base_url=staffed.url) as driver_bank:
        late = await driver_bank.post("/pay/notify/sandbox", content=body, headers=headers)
    assert late.json()["effect"] == "late"

    await expect(alice.locator("#ws-step-notice")).to_have_attribute(
        "data-state", "late", timeout=WAIT_MS
    )
    await expect(reopen).to_be_visible()
    await expect(reopen).to_have_text("为此订单开闸")
    notice = alice.locator("#desk-notice")
    await expect(notice).to_have_attribute("data-notice", "payment.late")
    await expect(notice).to_contain_text(order_id)
    assert exit_lane.driver.opens == 0

    await alice.locator("#desk-notice-action").click()
    await expect(alice.locator("#ws-step-gate")).to_have_attribute(
        "data-state", "done", timeout=WAIT_MS
    )
    await expect(reopen).to_be_hidden()
    await expect(notice).to_be_hidden()
    assert exit_lane.driver.opens == 1
    requested = [
        e
        for e in await ledger(staffed)
        if e.action is AuditAction.GATE_OPEN_REQUESTED and e.detail.get("order") == order_id
    ]
    assert [(e.actor, e.reason, e.detail["note"]) for e in requested] == [
        ("alice", "paid_not_lifted", "逾期支付，坐席核实后开闸")
    ]
