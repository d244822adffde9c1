"""The pay page in a real headless Chromium the size of a phone (360×640): the driver
sees the amount and plate, taps 支付 once, sees 已支付, and the lane's gate opens; a
tampered link shows the invalid page with nothing to pay."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, Page, expect

from tests.conftest import Centre, LaneFactory
from tests.test_payments_api import PLATE, Paid, issue, pay_path, settings  # noqa: F401

pytestmark = pytest.mark.browser


@pytest.fixture
async def phone_page(browser: Browser) -> AsyncIterator[Page]:
    context = await browser.new_context(
        viewport={"width": 360, "height": 640},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )
    yield await context.new_page()
    await context.close()


async def test_a_driver_pays_with_one_tap_and_the_gate_opens(
    staffed: Centre, lanes: LaneFactory, phone_page: Page
) -> None:
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        issued = (await issue(client, {"plate": PLATE, "amount_fen": 1500})).json()
    await phone_page.goto(staffed.url + pay_path(issued["url"]))
    await expect(phone_page.locator("#amount")).to_have_text("15.00元")
    await expect(phone_page.locator("#plate")).to_have_text(PLATE)
    # One column on a 360 px phone: nothing scrolls sideways.
    assert await phone_page.evaluate("document.documentElement.scrollWidth") <= 360
    paid = Paid(staffed)
    await phone_page.locator("#pay").tap()
    await expect(phone_page.get_by_role("heading", name="已支付")).to_be_visible()
    await expect(phone_page.locator("#pay")).to_be_hidden()
    await paid.wait()
    assert lane.driver.opens == 1


async def test_a_tampered_link_shows_the_invalid_page(
    staffed: Centre, lanes: LaneFactory, phone_page: Page
) -> None:
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        issued = (await issue(client, {"plate": PLATE, "amount_fen": 1500})).json()
    path = pay_path(issued["url"])
    await phone_page.goto(staffed.url + path[:-2] + ("AA" if path[-2:] != "AA" else "BB"))
    await expect(phone_page.get_by_role("heading", name="此二维码无效")).to_be_visible()
    await expect(phone_page.locator("#pay")).to_be_hidden()
    assert lane.driver.opens == 0
