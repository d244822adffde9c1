"""A hotline call typed in at the console, in a real headless Chromium against a real
centre: the agent finds the lane among car parks by what they know of it, the call
joins every console's queue as a hotline call with its caller, it is in the centre's
queue and ledger, and the agent answers it; a refusal shows in the form and places
nothing."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from console.auth import new_token, token_hash
from console.ledger import AuditAction
from console.models import Direction, LaneRecord
from console.settings import Settings
from tests.conftest import TEST_POLICY, Centre
from tests.test_calls import call_entries
from tests.test_calls_browser import WAIT_MS, OpenConsole, consoles  # noqa: F401

pytestmark = pytest.mark.browser

CALLER = "138 0013 8000"
NOTE = "车主来电：出口道闸不抬杆"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A ring long enough for a loaded machine's browser to answer within it."""
    return Settings(
        data_dir=tmp_path, port=0, command_timeout_s=3.0, heartbeat=TEST_POLICY, call_ring_s=60.0
    )


async def car_parks(centre: Centre) -> None:
    """Lanes in two car parks, as `seat lanes add` would make them."""
    for lane_id, name, park, direction in [
        ("P1-OUT", "人民路 出口", "人民路停车场", Direction.EXIT),
        ("P1-IN", "人民路 入口", "人民路停车场", Direction.ENTRY),
        ("J7-OUT", "解放路 出口", "解放路停车场", Direction.EXIT),
    ]:
        record = LaneRecord(lane_id, name, park, direction, token_hash(new_token()))
        await centre.store.put_lane(record)
    await centre.changes.poll()


async def choose(page: Page, search: str, lane_id: str) -> None:
    """Type ``search`` and see ``lane_id`` alone left, and chosen."""
    await page.fill("#hotline-search", search)
    await expect(page.locator("#hotline-matches")).to_have_attribute("data-matches", "1")
    await expect(page.locator("#hotline-lane")).to_have_value(lane_id)


async def test_a_hotline_call_typed_in_queues_everywhere_and_is_answered(
    staffed: Centre,
    consoles: OpenConsole,  # noqa: F811
) -> None:
    """H, the lane found by its car park and then by its id, the caller and a note: the
    call is in both agents' queues as 热线 with the caller, in GET /api/calls and the
    ledger as alice's, and alice answers it from her queue."""
    await car_parks(staffed)
    alice = await consoles("alice")
    bob = await consoles("bob")
    await expect(alice.locator('#lanes [data-lane="J7-OUT"]')).to_be_visible()

    await alice.keyboard.press("h")
    dialog = alice.locator("#hotline-dialog")
    await expect(dialog).to_be_visible()
    await expect(alice.locator("#hotline-search")).to_be_focused()
    await expect(alice.locator("#hotline-matches")).to_have_attribute("data-matches", "3")
    await choose(alice, "解放路", "J7-OUT")
    await alice.fill("#hotline-search", "nowhere")
    await expect(alice.locator("#hotline-matches")).to_have_attribute("data-matches", "0")
    await choose(alice, "p1-out", "P1-OUT")
    await alice.fill("#hotline-caller", CALLER)
    await alice.fill("#hotline-note", NOTE)
    await alice.click("#hotline-confirm")
    await expect(dialog).to_be_hidden()
    await expect(alice.locator("#desk-notice")).to_have_attribute("data-notice", "hotline.placed")

    for page in (alice, bob):
        row = page.locator('#queue li[data-source="hotline"]')
        await expect(row).to_have_count(1, timeout=WAIT_MS)
        await expect(row.locator(".src")).to_have_text("热线")
        await expect(row).to_contain_text(CALLER)
        await expect(row).to_contain_text("人民路 出口")
    call_id = await alice.locator("#queue li").get_attribute("data-call")
    assert call_id
    await expect(bob.locator(f'#queue li[data-call="{call_id}"]')).to_be_visible()

    async with staffed.client("bob") as client:
        [call] = (await client.get("/api/calls")).json()["calls"]
    assert (call["id"], call["source"], call["lane_id"]) == (call_id, "hotline", "P1-OUT")
    assert (call["caller"], call["note"]) == (CALLER, NOTE)
    [placed] = [e for e in await call_entries(staffed) if e.action is AuditAction.CALL_PLACED]
    assert (placed.actor, placed.lane, placed.detail["call"]) == ("alice", "P1-OUT", call_id)

    await alice.click(f'#queue li[data-call="{call_id}"] button[data-action="pick"]')
    card = alice.locator("#call-card")
    await expect(card).to_have_attribute("data-call", call_id)
    await expect(alice.locator("#call-source")).to_have_attribute("data-source", "hotline")
    await expect(alice.locator("#agent-state")).to_have_attribute("data-state", "on_call")
    await expect(bob.locator(f'#queue li[data-call="{call_id}"]')).to_have_count(0)


async def test_a_refused_hotline_call_shows_in_the_form_and_places_nothing(
    staffed: Centre,
    consoles: OpenConsole,  # noqa: F811
) -> None:
    """A note over 500 characters is refused by the centre beside the note, and no
    lane chosen is caught before asking; nothing is queued or ledgered until the note
    is put right."""
    await car_parks(staffed)
    alice = await consoles("alice")
    await alice.click("#hotline-open")
    await choose(alice, "人民路 入口", "P1-IN")
    await alice.fill("#hotline-note", "长" * 501)
    await expect(alice.locator("#hotline-note-count")).to_have_text("501/500")
    await alice.click("#hotline-confirm")
    error = alice.locator("#hotline-note-error")
    await expect(error).to_have_attribute("data-error", "note_too_long")
    await expect(error).to_be_visible()
    await expect(alice.locator("#hotline-note")).to_have_attribute("aria-invalid", "true")
    await expect(alice.locator("#hotline-dialog")).to_be_visible()

    await alice.fill("#hotline-search", "no such lane")
    await alice.click("#hotline-confirm")
    await expect(alice.locator("#hotline-lane-error")).to_have_attribute("data-error", "missing")
    await expect(error).to_be_hidden()

    async with staffed.client("alice") as client:
        assert (await client.get("/api/calls")).json() == {"calls": []}
    assert [e for e in await call_entries(staffed) if e.action is AuditAction.CALL_PLACED] == []
    await expect(alice.locator("#queue li")).to_have_count(0)

    await choose(alice, "P1-IN", "P1-IN")
    await alice.fill("#hotline-note", "长" * 500)
    await alice.click("#hotline-confirm")
    await expect(alice.locator("#hotline-dialog")).to_be_hidden()
    await expect(alice.locator('#queue li[data-source="hotline"]')).to_have_count(1)
