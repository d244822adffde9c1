"""The console in a real headless Chromium against a real centre: what an agent sees."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from playwright.async_api import Browser, Page, expect

from console.billing.lists import ListedPlate, PlateLists
from console.models import Direction
from gates.lane.drivers import FaultRaised, GateChanged
from gates.protocol import DeviceInfo, DisplaySize
from gates.vocabulary import GateState
from tests.conftest import PASSWORD, Centre, LaneFactory
from tests.lanes import seen

pytestmark = pytest.mark.browser


async def logged_in(browser: Browser, centre: Centre, username: str) -> Page:
    return await log_in(await browser.new_page(), centre, username)


async def log_in(page: Page, centre: Centre, username: str) -> Page:
    """``page`` on the console, logged in as ``username``."""
    await page.goto(centre.url + "/")
    await expect(page.locator("body")).to_have_attribute("data-view", "login")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("body")).to_have_attribute("data-view", "lanes")
    return page


async def test_agent_logs_in_sees_lanes_live_and_opens_a_gate(
    browser: Browser, staffed: Centre, lanes: LaneFactory
) -> None:
    """Login, the lane online with its gate, an open with a reason that lifts the
    barrier once, and the gate change arriving on the page without a reload."""
    lane = await lanes("P1-OUT")
    await staffed.wait_status("P1-OUT", lambda s: s.gate is GateState.DOWN)
    page = await logged_in(browser, staffed, "alice")
    row = page.locator('[data-lane="P1-OUT"]')
    await expect(row).to_have_attribute("data-online", "true")
    await expect(row).to_have_attribute("data-gate", "down")
    await expect(page.locator("#tab-audit")).to_be_hidden()

    await row.locator('[data-action="open"]').click()
    await page.select_option("#open-reason", "paid_not_lifted")
    await page.fill("#open-note", "已核对缴费记录")
    await page.click("#open-confirm")
    await expect(page.locator("#outcome")).to_have_attribute("data-outcome", "done")
    await expect(row).to_have_attribute("data-gate", "up")
    assert lane.driver.opens == 1

    lane.driver.emit(GateChanged(GateState.FALLING))
    await expect(row).to_have_attribute("data-gate", "falling")


async def test_display_dialog_takes_what_the_lanes_display_shows(
    browser: Browser, staffed: Centre, lanes: LaneFactory
) -> None:
    """For a 4x32 lane the dialog has four lines that stop taking text at 32 characters,
    and what it sends is shown; a lane stating no size gets the protocol's 8 of 64."""
    small = await lanes("P1-IN", display=DisplaySize(lines=4, chars=32))
    await lanes("P1-OUT")
    page = await logged_in(browser, staffed, "alice")
    lines = page.locator("#display-dialog input.led-line")

    await page.locator('[data-lane="P1-IN"] [data-action="display"]').click()
    await expect(lines).to_have_count(4)
    await expect(page.locator("#display-hint")).to_have_text("最多 4 行，每行不超过 32 个字")
    for n in range(4):
        await expect(lines.nth(n)).to_have_attribute("maxlength", "32")
    await lines.nth(0).press_sequentially("请" * 40)
    await expect(lines.nth(0)).to_have_value("请" * 32)
    await lines.nth(3).press_sequentially("粤B12345")
    await page.click("#display-confirm")
    await expect(page.locator("#display-outcome")).to_have_attribute("data-outcome", "done")
    assert small.driver.shown == ("请" * 32, "", "", "粤B12345")
    await page.click("#display-cancel")

    await page.locator('[data-lane="P1-OUT"] [data-action="display"]').click()
    await expect(lines).to_have_count(8)
    for n in range(8):
        await expect(lines.nth(n)).to_have_attribute("maxlength", "64")


async def test_a_lanes_devices_read_in_words_in_its_row_as_text(
    browser: Browser, staffed: Centre, lanes: LaneFactory
) -> None:
    """Each device the lane named: its name, its family and parts in words, where it is;
    what the lane sent is shown as text, never made into markup. A lane that named none
    shows no devices."""
    await lanes(
        "P1-IN",
        devices=(
            DeviceInfo("cam", "alarminfo", ("plates", "gate"), "192.168.1.64"),
            DeviceInfo("led", "rs485", ("display", "voice"), "cam:rs485-1"),
            DeviceInfo("box", "acme-9", (), "<i>b</i>"),
        ),
    )
    await lanes("P1-OUT")
    page = await logged_in(browser, staffed, "alice")
    devices = page.locator('[data-lane="P1-IN"] [data-field="devices"]')
    await expect(devices.locator("summary")).to_have_text("设备（3）")
    await expect(devices.locator("li").first).to_be_hidden()
    await devices.locator("summary").click()
    await expect(devices.locator("li")).to_have_text(
        [
            "cam · AlarmInfoPlate 相机 · 192.168.1.64 · 车牌识别、开闸",
            "led · RS485 显示屏/语音板 · cam:rs485-1 · 显示屏、语音播报",
            "box · acme-9 · <i>b</i>",
        ]
    )
    assert await devices.locator("i").count() == 0
    await expect(page.locator('[data-lane="P1-OUT"] [data-field="devices"]')).to_be_hidden()

    await page.click("#lang-switch")
    await expect(devices.locator("summary")).to_have_text("Devices (3)")
    await expect(devices.locator('[data-device="cam"]')).to_have_text(
        "cam · AlarmInfoPlate camera · 192.168.1.64 · plates, gate"
    )


async def test_stopped_lane_turns_offline_on_the_page(
    browser: Browser, staffed: Centre, lanes: LaneFactory
) -> None:
    """A lane process that stops shows offline, and its open button is disabled."""
    lane = await lanes("P1-OUT")
    page = await logged_in(browser, staffed, "alice")
    row = page.locator('[data-lane="P1-OUT"]')
    await expect(row).to_have_attribute("data-online", "true")
    await lane.stop()
    await expect(row).to_have_attribute("data-online", "false")
    await expect(row.locator('[data-action="open"]')).to_be_disabled()


async def test_wrong_password_shows_an_error_and_stays_on_login(
    browser: Browser, staffed: Centre
) -> None:
    """The page names the failure and does not let the user in."""
    page = await browser.new_page()
    await page.goto(staffed.url + "/")
    await page.fill("#username", "alice")
    await page.fill("#password", "wrong password")
    await page.click("#login-submit")
    await expect(page.locator("#login-error")).to_have_attribute("data-error", "bad_credentials")
    await expect(page.locator("body")).to_have_attribute("data-view", "login")


async def test_throttled_login_counts_down_with_the_form_shut(
    browser: Browser, staffed: Centre
) -> None:
    """After five wrong passwords the centre's 429 keeps the button disabled and the page
    counts its retry_after down, even against the right password."""
    page = await browser.new_page()
    await page.goto(staffed.url + "/")
    await page.fill("#username", "alice")
    for _ in range(5):
        await page.fill("#password", "wrong password")
        async with page.expect_response("**/api/login") as answer:
            await page.click("#login-submit")
        assert (await answer.value).status == 401
    await page.fill("#password", PASSWORD)
    async with page.expect_response("**/api/login") as answer:
        await page.click("#login-submit")
    assert (await answer.value).status == 429
    await expect(page.locator("#login-error")).to_have_attribute("data-error", "throttled")
    await expect(page.locator("#login-error")).to_contain_text(re.compile(r"\d"))
    await expect(page.locator("#login-submit")).to_be_disabled()
    await expect(page.locator("body")).to_have_attribute("data-view", "login")


async def test_supervisor_sees_the_audit_trail_of_an_open(
    browser: Browser, staffed: Centre, lanes: LaneFactory
) -> None:
    """The agent's open appears in the supervisor's audit view, request and outcome."""
    await lanes("P1-OUT")
    agent = await logged_in(browser, staffed, "alice")
    supervisor = await logged_in(browser, staffed, "sue")
    await supervisor.click("#tab-audit")
    await expect(supervisor.locator("body")).to_have_attribute("data-view", "audit")

    row = agent.locator('[data-lane="P1-OUT"]')
    await row.locator('[data-action="open"]').click()
    await agent.select_option("#open-reason", "emergency")
    await agent.click("#open-confirm")
    await expect(agent.locator("#outcome")).to_have_attribute("data-outcome", "done")

    outcome = supervisor.locator('#audit tr[data-action="gate_open_outcome"]')
    await expect(outcome).to_have_count(1)
    await expect(supervisor.locator('#audit tr[data-action="gate_open_requested"]')).to_have_count(
        1
    )


async def test_language_switch_turns_the_page_english_and_back(
    browser: Browser, staffed: Centre
) -> None:
    """Chinese first; one click for English, remembered."""
    page = await logged_in(browser, staffed, "alice")
    await expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    await page.click("#lang-switch")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.reload()
    await expect(page.locator("html")).to_have_attribute("lang", "en")


async def test_vehicle_appears_with_plate_and_snapshot_image(
    browser: Browser, staffed: Centre, lanes: LaneFactory
) -> None:
    """A car read at the lane shows its plate and a snapshot the browser really decoded."""
    lane = await lanes("P1-OUT")
    page = await logged_in(browser, staffed, "alice")
    lane.driver.emit(seen(plate="粤BD12345"))
    row = page.locator('[data-lane="P1-OUT"]')
    await expect(row.locator('[data-field="plate"]')).to_have_text("粤BD12345")
    image = row.locator('[data-field="snapshot"]')
    await expect(image).to_be_visible()
    await page.wait_for_function(
        "img => img.complete && img.naturalWidth === 640", arg=await image.element_handle()
    )


async def test_logout_shows_a_neutral_logged_out_notice(browser: Browser, staffed: Centre) -> None:
    """A deliberate logout says "logged out" as a notice, not an expired-session error."""
    page = await logged_in(browser, staffed, "alice")
    await page.click("#logout")
    await expect(page.locator("body")).to_have_attribute("data-view", "login")
    notice = page.locator("#login-notice")
    await expect(notice).to_be_visible()
    await expect(notice).to_have_attribute("data-notice", "logged_out")
    await expect(notice).to_have_attribute("role", "status")
    await expect(notice).to_have_text("已退出登录")
    await expect(page.locator("#login-error")).to_be_hidden()


async def test_revoked_session_shows_the_expired_error(
    browser: Browser, staffed: Centre, lanes: LaneFactory
) -> None:
    """A session ended at the centre (as `seat user passwd` does) is an error the agent
    must notice, not a logged-out notice: the centre closes the page's stream as soon as
    it reads the change, and the page says why."""
    await lanes("P1-OUT")
    page = await logged_in(browser, staffed, "alice")
    await staffed.store.delete_user_sessions("alice")
    # Read the change now rather than at the next poll, which the page's own clicks
    # would otherwise race.
    await staffed.changes.poll()
    await expect(page.locator("body")).to_have_attribute("data-view", "login")
    error = page.locator("#login-error")
    await expect(error).to_be_visible()
    await expect(error).to_have_attribute("data-error", "expired")
    await expect(error).to_have_text("登录已失效，请重新登录")
    await expect(page.locator("#login-notice")).to_be_hidden()


async def test_a_blacklisted_car_held_at_the_entry_is_a_notice_that_stays(
    browser: Browser, staffed: Centre, lanes: LaneFactory
) -> None:
    """The centre holds the car and the consoles of its car park say so, until the next notice."""
    await staffed.store.set_plate_lists(
        "人民路停车场",
        PlateLists(blacklist=(ListedPlate("粤B44444", None, "被盗车辆"),)),
        datetime.now(UTC),
    )
    await staffed.add_lane("P1-IN", Direction.ENTRY)
    lane = await lanes("P1-IN")
    page = await logged_in(browser, staffed, "alice")
    lane.driver.emit(seen(plate="粤B44444"))
    notice = page.locator("#desk-notice")
    await expect(notice).to_have_attribute("data-notice", "plate_alert.blacklist")
    await expect(notice).to_be_visible()
    await expect(notice).to_contain_text("粤B44444")
    await expect(notice).to_contain_text("P1-IN name")
    assert lane.driver.opens == 0


async def test_a_lane_fault_and_a_refusal_read_in_words_and_a_dones_detail_shows(
    browser: Browser, staffed: Centre, lanes: LaneFactory
) -> None:
    """A device that stopped answering is named in words in the lane's row, with the
    lane's own detail; a refusal's reason too; a done the lane could not fully confirm
    says what it could not."""
    lane = await lanes("P1-OUT")
    page = await logged_in(browser, staffed, "alice")
    row = page.locator('[data-lane="P1-OUT"]')
    lane.driver.emit(FaultRaised("camera_unreachable", "no push or poll for 15 s"))
    await expect(row).to_have_attribute("data-fault", "camera_unreachable")
    await expect(row.locator('[data-field="fault"]')).to_have_text(
        "车牌识别相机无响应：no push or poll for 15 s"
    )

    lane.driver.refuse = "gate_did_not_move"
    await row.locator('[data-action="open"]').click()
    await page.select_option("#open-reason", "paid_not_lifted")
    await page.click("#open-confirm")
    outcome = page.locator("#outcome")
    await expect(outcome).to_have_attribute("data-outcome", "refused")
    await expect(outcome).to_have_text(
        "车道控制器拒绝执行：道闸接受了开闸命令但闸杆未抬起（可能被锁定）"
    )
    await page.click("#open-cancel")

    lane.driver.refuse = None
    lane.driver.detail = "no gate sensor: the arm was not seen to move"
    await row.locator('[data-action="open"]').click()
    await page.select_option("#open-reason", "paid_not_lifted")
    await page.click("#open-confirm")
    await expect(outcome).to_have_attribute("data-outcome", "done")
    await expect(outcome).to_have_text("已开闸：no gate sensor: the arm was not seen to move")
