"""A driver who paid and still faces a closed barrier is every console's news: when the
centre's own open for a paid order does not lift the gate, the desks are told with a
``order`` message with ``open_failed`` saying why, over a real centre paying in the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from playwright.async_api import expect

from console.ledger import AuditAction
from tests.conftest import Centre
from tests.desks import desk
from tests.test_calls_browser import OpenConsole, consoles  # noqa: F401
from tests.test_gatekeeping import heard
from tests.test_payments_api import PLATE, issue, pay_path, priced
from tests.test_payments_api import settings as settings  # a centre paying in the sandbox


async def test_a_paid_order_whose_lane_is_offline_tells_every_desk(staffed: Centre) -> None:
    """The exit lane is not connected: the open ends ``lane_offline``, and the desk sees
    the order paid but not lifted, with the order to open again."""
    await staffed.add_lane("P1-OUT")
    stay_id = await priced(staffed)
    async with staffed.client("alice") as client:
        issued = await issue(client, {"stay_id": stay_id})
        assert issued.status_code == 201, issued.text
    order_id = issued.json()["order_id"]
    async with desk(staffed, "bob") as bob, heard(staffed) as wait:
        async with httpx.AsyncClient(base_url=staffed.url) as phone:
            tapped = await phone.post(pay_path(issued.json()["url"]) + "/sandbox")
            assert tapped.status_code == 200, tapped.text
        told = (await bob.next("order", lambda m: "open_failed" in m["order"]))["order"]
        opened = await wait(lambda e: e.action is AuditAction.GATE_OPEN_OUTCOME)
    assert (told["order_id"], told["plate"], told["state"], told["amount_fen"]) == (
        order_id,
        PLATE,
        "paid",
        1500,
    )
    assert told["open_failed"]["error"] == "lane_offline"
    assert opened.outcome == "lane_offline"
    order = await staffed.store.payment_order(order_id)
    assert order is not None and order.paid_at is not None
    assert order.paid_at <= datetime.now(UTC)


@pytest.mark.browser
async def test_the_agents_console_keeps_a_paid_order_that_did_not_lift_up(
    staffed: Centre,
    consoles: OpenConsole,  # noqa: F811
) -> None:
    """The agent reads the lane, plate, sum, order and why, until the next news."""
    await staffed.add_lane("P1-OUT")
    stay_id = await priced(staffed)
    page = await consoles("alice")
    async with staffed.client("bob") as client:
        issued = (await issue(client, {"stay_id": stay_id})).json()
    async with httpx.AsyncClient(base_url=staffed.url) as phone:
        tapped = await phone.post(pay_path(issued["url"]) + "/sandbox")
        assert tapped.status_code == 200, tapped.text
    notice = page.locator("#desk-notice")
    await expect(notice).to_have_attribute("data-notice", "payment.open_failed")
    for shown in (PLATE, "15.00", issued["order_id"], "lane_offline"):
        await expect(notice).to_contain_text(shown)
