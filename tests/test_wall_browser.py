"""A city's lane wall in a real headless Chromium: hundreds of lanes, their snapshots
fetched only as their rows come near the screen, and a change far down still shown."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, Request, expect

from console.auth import new_token, token_hash
from console.models import Direction, LaneRecord
from tests.conftest import Centre, LaneFactory
from tests.lanes import seen
from tests.test_console_browser import log_in

pytestmark = pytest.mark.browser

CAR_PARKS = 10
LANES_PER_CAR_PARK = 50
WITH_CARS = 5  # lanes online with a car read, in the first car park and in the last


async def test_wall_of_500_lanes_fetches_snapshots_near_the_screen_and_shows_a_change_far_down(
    browser: Browser, staffed: Centre, lanes: LaneFactory
) -> None:
    """Every lane has its row at once; the first car park's snapshots are fetched and the
    last one's, 45 screens down, are not until its rows are scrolled to. A car read at
    the last lane shows in its row while it is off screen, and its picture once there."""
    tokens = {}
    for park in range(1, CAR_PARKS + 1):
        for n in range(1, LANES_PER_CAR_PARK + 1):
            lane_id = f"P{park:02d}-L{n:02d}"
            tokens[lane_id] = new_token()
            record = LaneRecord(
                lane_id, lane_id, f"停车场{park:02d}", Direction.EXIT, token_hash(tokens[lane_id])
            )
            await staffed.store.put_lane(record)
    await staffed.changes.poll()
    near = [f"P01-L{n:02d}" for n in range(1, WITH_CARS + 1)]
    far = [f"P{CAR_PARKS:02d}-L{n:02d}" for n in range(LANES_PER_CAR_PARK - WITH_CARS + 1, 51)]
    started = {lane_id: await lanes(lane_id, token=tokens[lane_id]) for lane_id in near + far}
    for lane_id, lane in started.items():
        lane.driver.emit(seen(plate="粤B12345"))
        await staffed.wait_status(lane_id, lambda s: s.last_vehicle is not None)

    page = await browser.new_page()
    fetched: list[str] = []  # lane ids whose snapshot the page asked for

    def asked(request: Request) -> None:
        if "/snapshot" in request.url:
            fetched.append(request.url.split("/api/lanes/", 1)[1].split("/", 1)[0])

    page.on("request", asked)
    await log_in(page, staffed, "alice")
    await expect(page.locator("#lanes tr[data-lane]")).to_have_count(500)
    first = page.locator(f'[data-lane="{near[0]}"] [data-field="snapshot"]')
    await page.wait_for_function(
        "img => img.complete && img.naturalWidth === 640", arg=await first.element_handle()
    )
    assert set(near) <= set(fetched)
    assert not set(far) & set(fetched)

    last = page.locator(f'[data-lane="{far[-1]}"]')
    started[far[-1]].driver.emit(seen(plate="粤B99999"))
    await expect(last.locator('[data-field="plate"]')).to_have_text("粤B99999")
    await last.scroll_into_view_if_needed()
    image = last.locator('[data-field="snapshot"]')
    await expect(image).to_be_visible()
    await page.wait_for_function(
        "img => img.complete && img.naturalWidth === 640", arg=await image.element_handle()
    )
    assert far[-1] in fetched
