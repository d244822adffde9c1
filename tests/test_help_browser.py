"""The help page in a real headless Chromium the size of a phone (360×640): a driver
presses 呼叫, Chromium's fake microphone (a beeping tone) reaches the agent who answered,
the agent's voice reaches the page, and hanging up (or closing the page) ends the call.

Set ``SEAT_SCREENSHOTS`` to a directory (``docs/screenshots``) to keep the pictures of
the page the README shows; they are always taken."""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from console.models import Role
from console.settings import Settings
from media.lane.voice import ToneMicrophone
from tests.conftest import Centre, LaneFactory
from tests.desks import desk
from tests.phones import sticker
from tests.test_calls import centre_with
from tests.test_help_voice import LANE, lane_with_voice, speaking
from tests.viewers import ViewerPeer, watch

pytestmark = pytest.mark.browser

PHONE = ViewportSize(width=360, height=640)
MEDIA_MS = 20_000  # ICE and the first packets take seconds on a loaded machine

# wait_for_function re-runs a predicate but does not await one: each run reads the last
# getStats() answer and asks for the next. Truthy once the page's peer connection has
# received audio with energy in it (the agent's voice).
HEARS_AGENT = """() => {
  const probe = (window.helpProbe ??= {});
  const pc = window.seatHelp.pc;
  if (pc && !probe.asking) {
    probe.asking = true;
    pc.getStats().then((report) => {
      for (const stat of report.values()) {
        if (stat.type !== "inbound-rtp" || stat.kind !== "audio") continue;
        probe.energy = stat.totalAudioEnergy;
      }
    }).finally(() => { probe.asking = false; });
  }
  return probe.energy > 0 ? probe.energy : null;
}"""


@pytest.fixture
async def phone_page(browser: Browser) -> AsyncIterator[Page]:
    """A phone-sized page that may use the (fake) microphone."""
    context = await browser.new_context(
        viewport=PHONE,
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        permissions=["microphone"],
        locale="zh-CN",
    )
    yield await context.new_page()
    await context.close()


async def snapshot(page: Page, tmp_path: Path, name: str) -> None:
    """A picture of the page as the driver sees it, kept where SEAT_SCREENSHOTS says."""
    picture = await page.screenshot(full_page=False)
    await asyncio.to_thread((tmp_path / f"{name}.png").write_bytes, picture)
    keep = os.environ.get("SEAT_SCREENSHOTS")
    if keep:
        await asyncio.to_thread(Path(keep).mkdir, parents=True, exist_ok=True)
        await asyncio.to_thread((Path(keep) / f"{name}.png").write_bytes, picture)


async def test_a_driver_calls_talks_with_the_agent_and_hangs_up(
    staffed: Centre, lanes: LaneFactory, phone_page: Page, tmp_path: Path
) -> None:
    """呼叫 → 排队中（第 1 位） → 已接通, the fake microphone heard by the agent and the
    agent heard by the page → 挂断 → 已结束."""
    _, publisher = await lane_with_voice(staffed, lanes)
    token = await sticker(staffed, LANE)
    page = phone_page
    await page.goto(f"{staffed.url}/help/{token}")
    await expect(page.locator("#lane-name")).to_have_text(f"{LANE} name")
    await expect(page.locator("#call")).to_be_visible()
    await snapshot(page, tmp_path, "help-phone")
    viewers: list[ViewerPeer] = []
    try:
        async with desk(staffed, "alice") as alice:
            await page.locator("#call").tap()
            await expect(page.locator("body")).to_have_attribute("data-state", "queued")
            await expect(page.locator("#status")).to_have_text("排队中（第 1 位）")
            await snapshot(page, tmp_path, "help-phone-queued")
            ring = await alice.next("ring")
            call_id = ring["call_id"]
            assert ring["call"]["source"] == "phone"
            assert (await alice.post(f"/api/calls/{call_id}/accept")).status_code == 200
            await expect(page.locator("body")).to_have_attribute("data-state", "answered")
            await expect(page.locator("#status")).to_have_text("已接通")
            await expect(page.locator("#hangup")).to_be_visible()
            await snapshot(page, tmp_path, "help-phone-answered")

            viewer = await watch(alice.client, LANE, talk=True)
            viewers.append(viewer)
            async with speaking(viewer, ToneMicrophone(seed=3)):
                await viewer.wait_audio(100, timeout=MEDIA_MS / 1000)  # the fake microphone
                await page.wait_for_function(HEARS_AGENT, polling=200, timeout=MEDIA_MS)
            # What Alice heard was the phone: the lane was never asked for its sound.
            assert publisher.wanted is not None and not publisher.wanted.audio

            await page.locator("#hangup").tap()
            await expect(page.locator("body")).to_have_attribute("data-state", "ended")
            await expect(page.locator("#status")).to_have_text("已结束")
            await expect(page.locator("#call")).to_be_enabled()
            assert (await alice.call(call_id, "ended"))["ending"] == "caller"
            await snapshot(page, tmp_path, "help-phone-ended")
    finally:
        for viewer in viewers:
            await viewer.close()


async def test_closing_the_page_hangs_up(
    settings: Settings, browser: Browser, tmp_path: Path
) -> None:
    """The driver closes the tab while waiting: the call is abandoned at once (the page
    says so as it goes), long before the centre would notice the page gone."""
    async with centre_with(dataclasses.replace(settings, help_gone_s=60)) as centre:
        await centre.add_user("bob", Role.AGENT)
        await centre.add_lane(LANE)
        token = await sticker(centre, LANE)
        context = await browser.new_context(viewport=PHONE, permissions=["microphone"])
        page = await context.new_page()
        try:
            await page.goto(f"{centre.url}/help/{token}")
            async with desk(centre, "bob") as bob:
                await page.locator("#call").click()
                await expect(page.locator("body")).to_have_attribute("data-state", "queued")
                call_id = (await bob.next("ring"))["call_id"]
                await page.close(run_before_unload=True)
                gone = await bob.call(call_id, "abandoned", timeout=20)
                assert gone["ending"] == "caller"
        finally:
            await context.close()


async def test_a_void_sticker_shows_the_void_page(
    centre: Centre, phone_page: Page, tmp_path: Path
) -> None:
    """A revoked sticker's page says so in Chinese and offers no call button."""
    await centre.add_lane(LANE)
    old = await sticker(centre, LANE)
    await sticker(centre, LANE, revoke=True)
    response = await phone_page.goto(f"{centre.url}/help/{old}")
    assert response is not None and response.status == 404
    await expect(phone_page.locator("#help-invalid")).to_contain_text("此二维码无效或已停用")
    await expect(phone_page.locator("#call")).to_be_hidden()
    await snapshot(phone_page, tmp_path, "help-phone-void")
    assert list(centre.calls.queue.calls()) == []
