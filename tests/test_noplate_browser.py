"""A car without a plate enters and leaves with a phone-sized page, in a real headless
Chromium (360×640): the lane's camera reads no plate, the display shows the no-plate
code, the phone (its QR code decoded off a picture of the display) opens a stay and the
entry gate lifts; at the exit the same phone sees its fee, pays on the pay page, and
the exit gate lifts. Another phone finds no stay. The ledger holds each step."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from console.ledger import AuditAction
from console.stays.records import StayState
from gates.vocabulary import Direction
from tests.conftest import Centre, LaneFactory
from tests.lanes import ScriptedDriver, seen
from tests.noplate import Heard, action, code_path
from tests.qr import read_qr
from tests.test_calls_browser import WAIT_MS, OpenConsole, consoles  # noqa: F401
from tests.test_lane_panel import filmed
from tests.test_payments_api import BASE, HOURLY, PARK, Paid, ledger, settings  # noqa: F401
from tests.test_workspace_browser import answer

pytestmark = pytest.mark.browser


async def phone(browser: Browser) -> BrowserContext:
    return await browser.new_context(
        viewport={"width": 360, "height": 640},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
    )


@pytest.fixture
async def phones(browser: Browser) -> AsyncIterator[tuple[Page, Page]]:
    mine, other = await phone(browser), await phone(browser)
    yield await mine.new_page(), await other.new_page()
    await mine.close()
    await other.close()


async def scanned(centre: Centre, driver: ScriptedDriver) -> str:
    """A car the camera reads no plate of stops at the lane: the path of the code a
    phone reads off the lane's display, as the camera films it."""
    shown = Heard(centre, action(AuditAction.DISPLAY_OUTCOME))
    driver.emit(seen(""))
    assert (await shown.wait()).outcome == "done"
    url = read_qr(await filmed(driver.shown, driver.qr))
    assert url.startswith(BASE + "/noplate/")
    return urlsplit(url).path


async def test_a_car_without_a_plate_enters_and_pays_its_way_out_with_a_phone(
    staffed: Centre, lanes: LaneFactory, phones: tuple[Page, Page]
) -> None:
    page, stranger = phones
    await staffed.store.set_billing_rules(PARK, HOURLY, datetime.now(UTC))
    await staffed.add_lane("P1-IN", Direction.ENTRY)
    entry, exit_lane = await lanes("P1-IN"), await lanes("P1-OUT")

    await page.goto(staffed.url + await scanned(staffed, entry.driver))
    await expect(page.get_by_role("heading", name="无牌车入场")).to_be_visible()
    assert await page.evaluate("document.documentElement.scrollWidth") <= 360
    assert entry.driver.opens == 0
    await page.locator("#enter").tap()
    await expect(page.get_by_role("heading", name="已入场")).to_be_visible()
    identity = (await page.locator("#identity").inner_text()).strip()
    assert identity.startswith("无牌")
    assert entry.driver.opens == 1

    out = staffed.url + await scanned(staffed, exit_lane.driver)
    await stranger.goto(out)
    await expect(stranger.get_by_role("heading", name="未找到停车记录")).to_be_visible()
    await page.goto(out)
    await expect(page.locator("#identity-leave")).to_have_text(identity)
    await expect(page.locator("#fee")).to_have_text("5.00元")
    await page.locator("#leave").tap()
    await expect(page.locator("#amount")).to_have_text("5.00元")  # the pay page
    await expect(page.locator("#plate")).to_have_text(identity)
    assert exit_lane.driver.opens == 0
    paid, closed = Paid(staffed), Heard(staffed, action(AuditAction.NOPLATE_EXITED))
    await page.locator("#pay").tap()
    await expect(page.get_by_role("heading", name="已支付")).to_be_visible()
    await paid.wait()
    await closed.wait()
    assert exit_lane.driver.opens == 1

    [stay] = await staffed.store.noplate_stays(PARK, 10)
    assert (stay.identity, stay.state) == (identity, StayState.EXITED)
    steps = [(e.action, e.reason) for e in await ledger(staffed)]
    wanted = [
        (AuditAction.NOPLATE_ENTERED, None),
        (AuditAction.GATE_OPEN_REQUESTED, "no_plate_entry"),
        (AuditAction.GATE_OPEN_OUTCOME, "no_plate_entry"),
        (AuditAction.PAYMENT_ORDERED, None),
        (AuditAction.PAYMENT_RECORDED, None),
        (AuditAction.GATE_OPEN_REQUESTED, "paid"),
        (AuditAction.NOPLATE_EXITED, None),
    ]
    found = [step for step in steps if step in wanted]
    assert [step for step in wanted if step in found] == wanted
    assert found.index(wanted[0]) < found.index(wanted[1]) < found.index(wanted[3])


async def test_the_call_workspace_marks_a_car_without_a_plate(
    staffed: Centre,
    lanes: LaneFactory,
    consoles: OpenConsole,  # noqa: F811
) -> None:
    """A driver who entered by phone calls from the lane: the agent sees the car under
    its temporary identity, said to have no plate."""
    await staffed.add_lane("P1-IN", Direction.ENTRY)
    entry = await lanes("P1-IN")
    async with staffed.client("alice") as agent, staffed.client() as phone:
        path = await code_path(agent, "P1-IN")
        assert (await phone.post(path + "/enter")).status_code == 201
    [stay] = await staffed.store.noplate_stays(PARK, 10)
    alice = await consoles("alice")
    await answer(alice, entry)
    await expect(alice.locator("#ws-exit-plate")).to_have_attribute(
        "data-plate", stay.identity, timeout=WAIT_MS
    )
    await expect(alice.locator("#ws-exit-confidence")).to_contain_text("无牌车")
