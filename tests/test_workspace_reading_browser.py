"""The OCR's second reading in the call workspace, in a real headless Chromium with the
real model: an exit the camera misread, the agent asks for the second reading, the
OCR's plate shows beside the camera's with the mismatch marked in the pair and in the
lane's list, one click puts it into the correction field and the agent sends it; a
vehicle read before shows its reading without asking; a busy reader says so, and the
agent asks again; a picture with no plate is said, one retention removed not offered."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import cv2
import numpy as np
import pytest
from playwright.async_api import Locator, Page, expect

from console.ledger import AuditAction, AuditEntry
from console.settings import Settings
from tests.conftest import TEST_POLICY, Centre, LaneFactory
from tests.lanes import seen
from tests.test_calls_browser import WAIT_MS, OpenConsole, consoles  # noqa: F401
from tests.test_plate_reading_api import HeldReader, held, model  # noqa: F401
from tests.test_vehicle_records import next_recorded, recorded
from tests.test_workspace_browser import EXIT_READ, RIGHT, answer, car_in_and_out

pytestmark = pytest.mark.browser


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """No event may wait for the OCR while it reads one: a second ask is refused at once."""
    return Settings(
        data_dir=tmp_path,
        port=0,
        command_timeout_s=3.0,
        heartbeat=TEST_POLICY,
        call_ring_s=60.0,
        ocr_queue=0,
    )


async def read_and_corrected(centre: Centre) -> list[AuditEntry]:
    wanted = (AuditAction.PLATE_READ, AuditAction.PLATE_CORRECTED)
    return [e async for e in centre.store.iter_audit() if e.action in wanted]


def row(page: Page, event_id: str) -> Locator:
    """The lane's list row of event ``event_id``."""
    return page.locator(f'#ws-vehicles [data-event="{event_id}"]')


async def test_a_misread_exit_read_again_is_marked_and_the_agent_sends_the_ocrs_plate(
    staffed: Centre,
    lanes: LaneFactory,
    consoles: OpenConsole,  # noqa: F811
    held: HeldReader,  # noqa: F811
) -> None:
    """The camera read 粤B1Z345; asked, the OCR reads the picture's 粤B12345: the pair and
    the list row are marked, "use it" fills the correction field (nothing corrected
    yet), and the agent's submit with a note corrects it; the ledger holds the reading,
    then the correction."""
    held.gate.set()
    exit_event, stay_id, exit_lane = await car_in_and_out(staffed, lanes, RIGHT, EXIT_READ)
    alice = await consoles("alice")
    await answer(alice, exit_lane)
    await expect(alice.locator("#ws-pair")).to_have_attribute(
        "data-event", exit_event, timeout=WAIT_MS
    )
    reading, ask = alice.locator("#ws-reading"), alice.locator("#ws-read")
    await expect(reading).to_have_attribute("data-verdict", "none")
    await expect(ask).to_have_text("二次识别")
    await expect(alice.locator("#ws-reading-result")).to_be_hidden()
    await expect(row(alice, exit_event)).to_have_attribute("data-disagrees", "false")

    await ask.click()
    await expect(reading).to_have_attribute("data-verdict", "disagrees", timeout=WAIT_MS)
    await expect(alice.locator("#ws-reading-plate")).to_have_attribute("data-plate", RIGHT)
    await expect(alice.locator("#ws-reading-plate")).to_have_text(RIGHT)
    await expect(alice.locator("#ws-reading-confidence")).to_contain_text("置信度")
    await expect(alice.locator("#ws-reading-verdict")).to_have_text("与摄像机不一致")
    await expect(ask).to_be_hidden()
    # The camera's plate stays beside it, and the pair and the list row are marked.
    await expect(alice.locator("#ws-exit-plate")).to_have_attribute("data-plate", EXIT_READ)
    await expect(alice.locator("#ws-exit")).to_have_attribute("data-disagrees", "true")
    await expect(row(alice, exit_event)).to_have_attribute("data-disagrees", "true")
    await expect(row(alice, exit_event).locator(".ws-reading-mark")).to_have_text("二次识别不一致")
    # Nothing corrected by itself: the field holds the camera's plate, nothing to send.
    await expect(alice.locator("#ws-plate")).to_have_value(EXIT_READ)
    await expect(alice.locator("#ws-plate-submit")).to_be_disabled()

    await alice.click("#ws-reading-use")
    await expect(alice.locator("#ws-plate")).to_have_value(RIGHT)
    await expect(alice.locator("#ws-plate-check")).to_have_attribute("data-valid", "true")
    await expect(alice.locator("#ws-plate-note")).to_be_focused()
    await expect(alice.locator("#ws-plate-submit")).to_be_enabled()
    assert [e.action for e in await read_and_corrected(staffed)] == [AuditAction.PLATE_READ]

    await alice.fill("#ws-plate-note", "二次识别与截图一致")
    await alice.click("#ws-plate-submit")
    await expect(alice.locator("#ws-exit-confidence")).to_contain_text(
        f"已更正为 {RIGHT}", timeout=WAIT_MS
    )
    # The corrected exit found the car's entry; the OCR's plate is the one that counts.
    await expect(alice.locator("#ws-entry")).to_have_attribute("data-stay", str(stay_id))
    await expect(alice.locator("#ws-reading-use")).to_be_hidden()

    read, corrected = await read_and_corrected(staffed)
    assert (read.action, read.actor, read.lane) == (AuditAction.PLATE_READ, "alice", "P1-OUT")
    assert (read.detail["event"], read.detail["plate"], read.detail["read_plate"]) == (
        exit_event,
        EXIT_READ,
        RIGHT,
    )
    assert read.detail["disagrees"] is True
    assert (corrected.action, corrected.actor) == (AuditAction.PLATE_CORRECTED, "alice")
    assert (corrected.detail["old_plate"], corrected.detail["new_plate"]) == (EXIT_READ, RIGHT)
    assert corrected.detail["note"] == "二次识别与截图一致"

    # In English too, the mark included.
    await alice.click("#lang-switch")
    await expect(alice.locator("#ws-reading-verdict")).to_have_text("differs from the camera")
    await expect(row(alice, exit_event).locator(".ws-reading-mark")).to_have_text("readings differ")


async def test_a_vehicle_read_before_shows_its_reading_without_asking(
    staffed: Centre,
    lanes: LaneFactory,
    consoles: OpenConsole,  # noqa: F811
    held: HeldReader,  # noqa: F811
) -> None:
    """Bob had the exit read (the camera was right): Alice's workspace shows the
    agreeing reading at once, no button, no mark, nothing to use, no second read."""
    held.gate.set()
    exit_event, _, exit_lane = await car_in_and_out(staffed, lanes, RIGHT, RIGHT)
    async with staffed.client("bob") as bob:
        response = await bob.post(f"/api/vehicles/{exit_event}/reading")
        assert response.status_code == 200, response.text
    alice = await consoles("alice")
    await answer(alice, exit_lane)
    await expect(alice.locator("#ws-pair")).to_have_attribute(
        "data-event", exit_event, timeout=WAIT_MS
    )
    await expect(alice.locator("#ws-reading")).to_have_attribute("data-verdict", "agrees")
    await expect(alice.locator("#ws-reading-plate")).to_have_attribute("data-plate", RIGHT)
    await expect(alice.locator("#ws-reading-verdict")).to_have_text("与摄像机一致")
    await expect(alice.locator("#ws-read")).to_be_hidden()
    await expect(alice.locator("#ws-reading-use")).to_be_hidden()
    await expect(alice.locator("#ws-exit")).to_have_attribute("data-disagrees", "false")
    await expect(row(alice, exit_event).locator(".ws-reading-mark")).to_have_count(0)
    assert held.reads == 1
    assert [e.actor for e in await read_and_corrected(staffed)] == ["bob"]


async def test_a_busy_reader_is_said_and_the_agent_asks_again(
    staffed: Centre,
    lanes: LaneFactory,
    consoles: OpenConsole,  # noqa: F811
    held: HeldReader,  # noqa: F811
) -> None:
    """While Bob's ask holds the OCR's one thread, Alice's is refused with reader_busy
    beside the workspace and nothing kept; once it is free she asks again, the button
    busy while the plate is read, and the reading shows."""
    exit_event, _, exit_lane = await car_in_and_out(staffed, lanes, RIGHT, EXIT_READ)
    alice = await consoles("alice")
    await answer(alice, exit_lane)
    await expect(alice.locator("#ws-pair")).to_have_attribute(
        "data-event", exit_event, timeout=WAIT_MS
    )
    [entry_event] = [v.event.event_id for v in await staffed.store.lane_vehicles("P1-IN", 1)]
    async with staffed.client("bob") as bob:
        bobs = asyncio.create_task(bob.post(f"/api/vehicles/{entry_event}/reading"))
        await held.wait_began()

        ask, error = alice.locator("#ws-read"), alice.locator("#ws-error")
        await ask.click()
        await expect(error).to_have_attribute("data-error", "reader_busy", timeout=WAIT_MS)
        await expect(error).to_contain_text("正在识别的车牌太多，请稍后重试")
        await expect(ask).to_have_text("重新二次识别")
        await expect(ask).to_be_enabled()
        await expect(alice.locator("#ws-reading")).to_have_attribute("data-verdict", "none")
        held.gate.set()
        assert (await bobs).status_code == 200

    held.gate.clear()
    await ask.click()
    await held.wait_began()
    await expect(ask).to_have_text("识别中…")
    await expect(ask).to_be_disabled()
    await expect(ask).to_have_attribute("aria-busy", "true")
    await expect(error).to_be_hidden()
    held.gate.set()
    await expect(alice.locator("#ws-reading")).to_have_attribute(
        "data-verdict", "disagrees", timeout=WAIT_MS
    )
    await expect(alice.locator("#ws-reading-plate")).to_have_attribute("data-plate", RIGHT)
    assert [(e.actor, e.detail["event"]) for e in await read_and_corrected(staffed)] == [
        ("bob", entry_event),
        ("alice", exit_event),
    ]


async def test_a_picture_without_a_plate_is_said_and_a_pruned_one_is_not_offered(
    staffed: Centre,
    lanes: LaneFactory,
    consoles: OpenConsole,  # noqa: F811
    held: HeldReader,  # noqa: F811
) -> None:
    """The car at the barrier was snapped as a grey frame with no box: asked, the
    workspace says no plate was found and keeps nothing. The car before it lost its
    snapshot to retention: no crop, so no second reading is offered for it."""
    held.gate.set()
    exit_lane = await lanes("P1-OUT")
    ok, grey = cv2.imencode(".jpg", np.full((360, 640, 3), 128, np.uint8))
    assert ok
    now = datetime.now(UTC)
    async with recorded(staffed) as done:
        exit_lane.driver.emit(replace(seen("粤B66666"), at=now - timedelta(seconds=60)))
        pruned = await next_recorded(done)
        await staffed.store.forget_snapshots("snapshots/9999-12-31")
        blank = replace(seen(RIGHT), at=now - timedelta(seconds=10), box=(0, 0, 0, 0))
        exit_lane.driver.emit(replace(blank, snapshot_jpeg=grey.tobytes()))
        grey_car = await next_recorded(done)
    alice = await consoles("alice")
    await answer(alice, exit_lane)
    await expect(alice.locator("#ws-pair")).to_have_attribute(
        "data-event", grey_car.event_id, timeout=WAIT_MS
    )

    await alice.click("#ws-read")
    error = alice.locator("#ws-error")
    await expect(error).to_have_attribute("data-error", "no_plate", timeout=WAIT_MS)
    await expect(error).to_contain_text("图片中找不到车牌")
    await expect(alice.locator("#ws-reading")).to_have_attribute("data-verdict", "none")
    await expect(alice.locator("#ws-read")).to_have_text("重新二次识别")

    await row(alice, pruned.event_id).locator("button").click()
    await expect(alice.locator("#ws-pair")).to_have_attribute("data-event", pruned.event_id)
    await expect(alice.locator("#ws-exit-plate")).to_have_attribute("data-plate", "粤B66666")
    await expect(alice.locator("#ws-read")).to_be_hidden()
    await expect(alice.locator("#ws-reading-result")).to_be_hidden()
    assert held.reads == 0
    assert await read_and_corrected(staffed) == []
