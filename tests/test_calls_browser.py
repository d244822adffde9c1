"""The agent's call workspace in a real headless Chromium: a lane presses its call
button over the real lane link, the console rings (Web Audio, the title, the ringing
card), the agent answers from the keyboard into the lane's live view with the intercom
already on, opens the gate, files the outcome, and the store holds the record."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Protocol

import pytest
from playwright.async_api import Browser, Locator, Page, ViewportSize, expect

from console.calls.record import ActionKind, Category, Outcome
from console.ledger import AuditAction
from console.models import Role
from console.settings import Settings
from gates.lane.drivers import CallPressed
from media.lane.camera import SyntheticCamera
from tests.conftest import PASSWORD, TEST_POLICY, Centre, Lane, LaneFactory
from tests.desks import desk
from tests.lanes import seen
from tests.phones import sticker
from tests.test_call_ledger import today
from tests.test_calls import call_entries, centre_with, lane_at, records
from tests.test_help_browser import HEARS_AGENT, PHONE
from tests.test_live_browser import (
    HEARD,
    MEDIA_MS,
    MediaLane,
    heard,
    inbound,
    no_viewers,
    start_media_lane,
)

pytestmark = pytest.mark.browser

# The two screens a shift is worked on; the README's screenshots are the smaller.
SHIFT_SCREEN = ViewportSize(width=1366, height=768)
SCREENSHOTS = Path(__file__).resolve().parent.parent / "docs" / "screenshots"
WAIT_MS = 30_000  # the machine is shared and loaded: generous, never a sleep

# The page's ringer, as window.seatRing shows it: a tone started and playing, and the
# AudioContext it plays on running (not suspended waiting for a gesture).
SOUNDING = """() => {
  const ring = window.seatRing;
  return ring.started > 0 && ring.sounding && ring.context?.state === "running";
}"""
# What the browser reports when the agent is looking at another tab or window.
HIDE_TAB = """() => {
  Object.defineProperty(document, "visibilityState", {configurable: true, get: () => "hidden"});
  Object.defineProperty(document, "hidden", {configurable: true, get: () => true});
  document.hasFocus = () => false;
  document.dispatchEvent(new Event("visibilitychange"));
}"""
# The received audio track `which` of the live view's connection ("audio": the lane's,
# "agent": the agent's voice when listening in), once its inbound-rtp totalAudioEnergy
# is above `floor`: read like INBOUND, one getStats() answer per run, of that track's
# own receiver (a listener's connection has two inbound audio streams).
HEARD_ON = """([which, floor]) => {
  const probe = (window.heardProbe ??= {});
  const conn = window.seatLive.watch?.conn;
  const track = conn?.[which];
  const receiver = track ? conn.pc.getReceivers().find((r) => r.track === track) : null;
  if (receiver && !probe[which]?.asking) {
    const asked = (probe[which] = {...probe[which], asking: true});
    receiver.getStats().then((report) => {
      for (const stat of report.values()) {
        if (stat.type === "inbound-rtp") asked.stat = {receiver, energy: stat.totalAudioEnergy};
      }
    }).finally(() => { asked.asking = false; });
  }
  const got = probe[which]?.stat;
  return got && got.receiver === receiver && got.energy > floor ? got.energy : null;
}"""


async def heard_on(page: Page, which: str) -> float:
    """The energy received on the live view's ``which`` track, once there is some."""
    handle = await page.wait_for_function(HEARD_ON, arg=[which, 0], polling=200, timeout=MEDIA_MS)
    energy: float = await handle.json_value()
    return energy


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A ring long enough for a loaded machine's browser to answer within it."""
    return Settings(
        data_dir=tmp_path, port=0, command_timeout_s=3.0, heartbeat=TEST_POLICY, call_ring_s=60.0
    )


class StartLane(Protocol):
    def __call__(self, lane_id: str, *, microphone: bool = True) -> Awaitable[MediaLane]: ...


@pytest.fixture
async def call_lane(staffed: Centre, lanes: LaneFactory) -> StartLane:
    """Starts a lane agent with a camera, a recording speaker and (unless told
    otherwise) a microphone."""

    async def start(lane_id: str, *, microphone: bool = True) -> MediaLane:
        def camera() -> SyntheticCamera:
            return SyntheticCamera(lane_id, size=(640, 360), fps=15)

        return await start_media_lane(staffed, lanes, lane_id, camera=camera, microphone=microphone)

    return start


class OpenConsole(Protocol):
    def __call__(
        self,
        username: str,
        centre: Centre | None = None,
        before: Callable[[Page], Awaitable[None]] | None = None,
    ) -> Awaitable[Page]: ...


@pytest.fixture
async def consoles(browser: Browser, staffed: Centre) -> AsyncIterator[OpenConsole]:
    """Logs users in (to ``staffed`` unless told another centre), each in a browser
    context of their own at 1366x768 with the microphone and notifications allowed;
    the test fails if any page threw an uncaught error. ``before`` is done to the page
    before it loads the console (a route of its requests)."""
    errors: list[str] = []

    async def open_console(
        username: str,
        centre: Centre | None = None,
        before: Callable[[Page], Awaitable[None]] | None = None,
    ) -> Page:
        centre = centre or staffed
        context = await browser.new_context(
            viewport=SHIFT_SCREEN, permissions=["microphone", "notifications"]
        )
        page = await context.new_page()
        if before is not None:
            await before(page)
        page.on("pageerror", lambda error: errors.append(f"{username}: {error}"))
        await page.goto(centre.url + "/")
        await page.fill("#username", username)
        await page.fill("#password", PASSWORD)
        await page.click("#login-submit")  # the gesture that lets the page sound
        await expect(page.locator("body")).to_have_attribute("data-view", "lanes")
        await expect(page.locator("#agent-state")).to_have_attribute("data-state", "available")
        return page

    yield open_console
    assert errors == []


async def screenshot(page: Page, name: str) -> None:
    """The README's pictures: written to docs/screenshots/ when SEAT_SCREENSHOTS=1, so
    a test run does not change the working tree otherwise."""
    shot = await page.screenshot()
    if os.environ.get("SEAT_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(shot)


async def test_a_call_answered_from_the_keyboard_opens_the_lane_talking_and_ends_recorded(
    staffed: Centre, call_lane: StartLane, consoles: OpenConsole
) -> None:
    """Ring, Enter, the lane's picture and voice with no click, O to open the gate, E to
    file the outcome; the record, the ledger, and the other agent's queue agree."""
    lane = await call_lane("P1-OUT")
    lane.lane.driver.emit(seen(plate="粤B12345"))
    alice = await consoles("alice")  # first in: idle longest, rung first
    bob = await consoles("bob")

    lane.lane.driver.emit(CallPressed())
    ring = alice.locator("#ring-card")
    await expect(ring).to_be_visible(timeout=WAIT_MS)
    call_id = await ring.get_attribute("data-call")
    assert call_id
    await expect(ring.locator("#ring-source")).to_have_attribute("data-source", "lane")
    await alice.wait_for_function("document.title.startsWith('【来电】')", timeout=WAIT_MS)
    await alice.wait_for_function(SOUNDING, timeout=WAIT_MS)
    await expect(bob.locator(f'#queue [data-call="{call_id}"]')).to_be_visible()
    await expect(alice.locator(f'#queue [data-call="{call_id}"]')).to_have_attribute(
        "data-state", "ringing"
    )
    await screenshot(alice, "console-ringing")

    await alice.keyboard.press("Enter")
    await expect(alice.locator("#call-card")).to_have_attribute("data-call", call_id)
    await expect(ring).to_be_hidden()
    assert await alice.evaluate("window.seatRing.sounding") is False
    live = alice.locator("#live")
    await expect(live).to_have_attribute("data-lane", "P1-OUT")
    await expect(live).to_have_attribute("data-mode", "intercom", timeout=MEDIA_MS)
    await expect(live).to_have_attribute("data-talking", "true")
    await inbound(alice, "video", "framesDecoded", 10)
    assert await heard(lane.speaker, loud=True) > HEARD
    await expect(bob.locator(f'#queue [data-call="{call_id}"]')).to_have_count(0)
    await expect(bob.locator("#desk-notice")).to_have_attribute("data-notice", "queue.taken")
    await expect(bob.locator("#desk-notice")).to_contain_text("alice")

    await alice.keyboard.press("m")  # muted: Space is push-to-talk
    await expect(live).to_have_attribute("data-talking", "false")
    await alice.keyboard.down("Space")
    await expect(live).to_have_attribute("data-talking", "true")
    await alice.keyboard.up("Space")
    await expect(live).to_have_attribute("data-talking", "false")
    await alice.keyboard.press("m")
    await expect(live).to_have_attribute("data-talking", "true")

    await alice.keyboard.press("o")
    await expect(alice.locator("#open-dialog")).to_be_visible()
    await alice.select_option("#open-reason", "paid_not_lifted")
    await alice.fill("#open-note", "已核对缴费记录")
    await alice.click("#open-confirm")
    await expect(alice.locator("#outcome")).to_have_attribute("data-outcome", "done")
    await alice.keyboard.press("Escape")
    await expect(alice.locator("#open-dialog")).to_be_hidden()
    assert lane.lane.driver.opens == 1
    await screenshot(alice, "console-call")

    await alice.keyboard.press("e")
    await expect(alice.locator("#outcome-form")).to_be_visible()
    await expect(alice.locator("#outcome-plate")).to_have_value("粤B12345")  # the lane's read
    await alice.select_option("#outcome-category", "paid_not_lifted")
    await alice.fill("#outcome-amount", "12.5")
    await alice.fill("#outcome-note", "已缴费未抬杆，远程开闸")
    await alice.click("#outcome-submit")
    await expect(alice.locator("#call-card")).to_be_hidden()
    await expect(live).to_be_hidden()
    await expect(alice.locator("#agent-state")).to_have_attribute("data-state", "wrap_up")
    await expect(alice.locator("#desk-notice")).to_have_attribute("data-notice", "call.ended")
    await no_viewers(staffed, "P1-OUT")
    assert staffed.media.floor_holder("P1-OUT") is None

    [record] = await records(staffed)
    assert (record.call_id, record.agent, record.state.value) == (call_id, "alice", "ended")
    assert record.outcome == Outcome(
        Category.PAID_NOT_LIFTED, "粤B12345", 1250, "已缴费未抬杆，远程开闸"
    )
    opens = AuditAction.GATE_OPEN_REQUESTED
    [opened] = [e async for e in staffed.store.iter_audit() if e.action is opens]
    [action] = record.actions
    assert (action.kind, action.agent, action.outcome) == (ActionKind.OPEN_GATE, "alice", "done")
    assert action.command_id == opened.command_id
    steps = [e.action for e in await call_entries(staffed) if e.detail["call"] == call_id]
    for step in (AuditAction.CALL_OFFERED, AuditAction.CALL_ACCEPTED, AuditAction.CALL_ENDED):
        assert step in steps


async def test_the_console_rings_in_a_background_tab_and_stops_when_declined(
    staffed: Centre, lanes: LaneFactory, consoles: OpenConsole
) -> None:
    """With the agent looking elsewhere the tone still plays, the title and icon flash
    and a notification is shown; D declines, and the ringing stops."""
    lane = await lanes("P1-OUT")
    alice = await consoles("alice")
    await alice.evaluate(HIDE_TAB)
    assert await alice.evaluate("document.visibilityState") == "hidden"

    lane.driver.emit(CallPressed())
    await expect(alice.locator("#ring-card")).to_be_visible(timeout=WAIT_MS)
    await alice.wait_for_function(SOUNDING, timeout=WAIT_MS)
    # The title flashes: the call's, then the page's own, then the call's again.
    for title in ("【来电】", "远程坐席", "【来电】"):
        await alice.wait_for_function(
            "t => document.title.startsWith(t)", arg=title, timeout=WAIT_MS
        )
    await alice.wait_for_function(
        "() => document.getElementById('favicon').href.includes('%23d93025')", timeout=WAIT_MS
    )
    assert await alice.evaluate("window.seatRing.notified") == 1

    call_id = await alice.locator("#ring-card").get_attribute("data-call")
    await alice.keyboard.press("d")
    await expect(alice.locator("#ring-card")).to_be_hidden()
    assert await alice.evaluate("window.seatRing.sounding") is False
    await expect(alice).to_have_title("远程坐席")
    await expect(alice.locator(f'#queue [data-call="{call_id}"]')).to_have_attribute(
        "data-state", "waiting"
    )
    declined = [e for e in await call_entries(staffed) if e.action is AuditAction.CALL_DECLINED]
    assert [e.actor for e in declined] == ["alice"]


async def test_the_supervisor_sees_every_agent_their_state_and_the_queue(
    staffed: Centre, lanes: LaneFactory, consoles: OpenConsole
) -> None:
    """The floor: who is on a call and where, who is on a break and why, who is being
    rung, the queue, and the day's figures."""
    exit_lane = await lanes("P1-OUT")
    other_lane = await lanes("P2-OUT")
    async with desk(staffed, "alice") as alice, desk(staffed, "bob") as bob:
        await bob.post("/api/agents/me/state", {"state": "break", "reason": "meal"})
        exit_lane.driver.emit(CallPressed())
        call_id = (await alice.next("ring"))["call_id"]
        assert (await alice.post(f"/api/calls/{call_id}/accept")).status_code == 200

        sue = await consoles("sue")
        await sue.click("#tab-agents")
        await expect(sue.locator("body")).to_have_attribute("data-view", "agents")
        row = sue.locator("#agents-table tbody tr")
        await expect(row).to_have_count(3)
        await expect(row.nth(0)).to_have_attribute("data-agent", "alice")
        await expect(row.nth(0)).to_have_attribute("data-state", "on_call")
        await expect(row.nth(0)).to_contain_text("P1-OUT name")
        await expect(row.nth(1)).to_have_attribute("data-state", "break")
        await expect(row.nth(1)).to_contain_text("休息（用餐）")
        await expect(row.nth(2)).to_have_attribute("data-state", "available")
        await expect(sue.locator("#board-answered")).to_have_text("1")
        await expect(sue.locator("#board-level")).to_have_text("100%")

        other_lane.driver.emit(CallPressed())  # sue is the one agent free: she is rung
        await expect(row.nth(2)).to_have_attribute("data-state", "ringing", timeout=WAIT_MS)
        await expect(sue.locator("#board-waiting")).to_have_text("1")
        await expect(sue.locator("#ring-card")).to_be_visible()
        await screenshot(sue, "supervisor")


async def test_a_supervisor_on_a_break_is_alerted_when_an_agent_misses_rings(
    settings: Settings, consoles: OpenConsole, tmp_path: Path
) -> None:
    """The break switch with its reason, then an agent who lets two rings run out: the
    supervisor's floor shows the alert and the agent put on a break."""
    (tmp_path / "short-rings").mkdir()
    async with centre_with(
        dataclasses.replace(settings, call_ring_s=0.5, data_dir=tmp_path / "short-rings")
    ) as centre:
        await centre.add_user("alice", Role.AGENT)
        await centre.add_user("sue", Role.SUPERVISOR)
        sue = await consoles("sue", centre)
        await sue.click("#state-break")
        await sue.check('#break-dialog input[value="training"]')
        await sue.click("#break-confirm")
        state = sue.locator("#agent-state")
        await expect(state).to_have_attribute("data-state", "break")
        await expect(state).to_have_text("休息（培训）")
        await sue.click("#tab-agents")
        async with lane_at(centre, "P1-OUT") as lane, desk(centre, "alice") as alice:
            lane.driver.emit(CallPressed())
            await alice.next("alert")
            alert = sue.locator('#alerts li[data-agent="alice"]')
            await expect(alert).to_have_attribute("data-kind", "missed_rings")
            await expect(alert).to_contain_text("alice 连续未接来电，已被置为休息")
            row = sue.locator('#agents-table tr[data-agent="alice"]')
            await expect(row).to_have_attribute("data-state", "break")
            await expect(row).to_contain_text("休息（连续未接）")
        await sue.click("#state-available")
        await expect(state).to_have_attribute("data-state", re.compile("^(available|ringing)$"))


async def answered(page: Page, lane: Lane) -> tuple[Locator, str]:
    """``lane`` presses its call button and the console answers from the ring card:
    the call's card, shown, and the call's id."""
    lane.driver.emit(CallPressed())
    await page.click("#ring-accept", timeout=WAIT_MS)
    card = page.locator("#call-card")
    await expect(card).to_be_visible()
    return card, str(await card.get_attribute("data-call"))


async def test_an_invalid_plate_is_shown_at_its_field_and_the_call_stays_on(
    staffed: Centre, lanes: LaneFactory, consoles: OpenConsole
) -> None:
    """The centre refuses the outcome form; its reason shows beside the plate with the
    wrong character picked out, the call is still the agent's, and nothing is recorded
    until the plate is put right."""
    lane = await lanes("P1-OUT")
    alice = await consoles("alice")
    card, call_id = await answered(alice, lane)

    await alice.click("#call-end")
    await alice.select_option("#outcome-category", "plate_misread")
    await alice.fill("#outcome-plate", "粤b·I2345")
    await alice.click("#outcome-submit")
    error = alice.locator("#outcome-plate-error")
    await expect(error).to_have_attribute("data-error", "invalid_plate")
    await expect(error).to_be_visible()
    await expect(error).to_contain_text("第 3 个字符「I」有误")
    plate = alice.locator("#outcome-plate")
    await expect(plate).to_have_attribute("aria-invalid", "true")
    await expect(plate).to_be_focused()
    # The plate as the centre reads it, the wrong character selected to be typed over.
    await expect(plate).to_have_value("粤BI2345")
    selected = await plate.evaluate("el => el.value.slice(el.selectionStart, el.selectionEnd)")
    assert selected == "I"
    await expect(card).to_have_attribute("data-call", call_id)
    assert staffed.calls.queue.call(call_id).state.value == "active"
    assert await records(staffed) == []

    await alice.fill("#outcome-plate", "粤b·12345")
    await alice.click("#outcome-submit")
    await expect(card).to_be_hidden()
    [record] = await records(staffed)
    assert record.outcome is not None and record.outcome.plate == "粤B12345"


async def test_a_call_transferred_by_name_leaves_the_desk_and_rings_that_agent(
    staffed: Centre, lanes: LaneFactory, consoles: OpenConsole
) -> None:
    """A name nobody has is refused beside the field; bob's name hands the call on with
    the note, and the desk lets it go."""
    lane = await lanes("P1-OUT")
    alice = await consoles("alice")
    async with desk(staffed, "bob") as bob:
        card, call_id = await answered(alice, lane)

        await alice.click("#call-transfer")
        await alice.fill("#transfer-agent", "nobody")
        await alice.click("#transfer-confirm")
        error = alice.locator("#transfer-agent-error")
        await expect(error).to_have_attribute("data-error", "unknown_agent")
        await expect(card).to_be_visible()

        await alice.fill("#transfer-agent", "bob")
        await alice.fill("#transfer-note", "月卡续费问题")
        await alice.click("#transfer-confirm")
        ring = await bob.next("ring")
        assert ring["call_id"] == call_id
        assert ring["call"]["transfers"][0]["note"] == "月卡续费问题"
        await expect(card).to_be_hidden()
        await expect(alice.locator("#transfer-dialog")).to_be_hidden()
        notice = alice.locator("#desk-notice")
        await expect(notice).to_have_attribute("data-notice", "call.transferred")
        await expect(notice).to_contain_text("bob")
        await expect(alice.locator("#agent-state")).to_have_attribute("data-state", "wrap_up")
        await expect(alice.locator("#live")).to_be_hidden()


async def test_question_mark_lists_the_shortcuts_and_keys_typed_in_a_field_stay_there(
    staffed: Centre, lanes: LaneFactory, consoles: OpenConsole
) -> None:
    """`?` opens the help overlay; the same letters typed into the outcome form's note
    are text, not commands."""
    lane = await lanes("P1-OUT")
    alice = await consoles("alice")
    await alice.keyboard.press("?")
    help_dialog = alice.locator("#keys-dialog")
    await expect(help_dialog).to_be_visible()
    await expect(help_dialog.locator("dt")).to_have_count(9)
    await expect(help_dialog).to_contain_text("按住说话")
    await alice.keyboard.press("Escape")
    await expect(help_dialog).to_be_hidden()

    lane.driver.emit(CallPressed())
    await alice.click("#ring-accept", timeout=WAIT_MS)
    await alice.click("#call-end")
    await alice.click("#outcome-note")
    await alice.keyboard.type("one ?")
    await expect(alice.locator("#outcome-note")).to_have_value("one ?")
    await expect(alice.locator("#open-dialog")).to_be_hidden()
    await expect(help_dialog).to_be_hidden()
    await expect(alice.locator("#call-card")).to_be_visible()


async def test_a_supervisor_listens_in_on_a_call_then_barges_in_and_takes_the_intercom(
    staffed: Centre, call_lane: StartLane, consoles: OpenConsole
) -> None:
    """From the floor: 监听 brings the lane's picture and both sides of the call into
    the supervisor's view with no microphone: the lane's tone microphone on one track,
    the agent's (Chromium's fake microphone) on the other, metered as 坐席话音; 强插,
    once confirmed, makes the call the supervisor's with the intercom on, and the
    agent's console says so and lets its intercom go."""
    lane = await call_lane("P1-OUT")
    alice = await consoles("alice")  # first in: rung first
    sue = await consoles("sue")
    lane.lane.driver.emit(CallPressed())
    await expect(alice.locator("#ring-card")).to_be_visible(timeout=WAIT_MS)
    call_id = await alice.locator("#ring-card").get_attribute("data-call")
    assert call_id
    await alice.keyboard.press("Enter")
    alice_live = alice.locator("#live")
    await expect(alice_live).to_have_attribute("data-mode", "intercom", timeout=MEDIA_MS)

    await sue.click("#tab-agents")
    row = sue.locator('#agents-table tr[data-agent="alice"]')
    await expect(row).to_have_attribute("data-state", "on_call")
    listen, barge = row.locator('[data-action="listen"]'), row.locator('[data-action="barge"]')
    await expect(listen).to_have_attribute("data-call", call_id)
    await expect(barge).to_have_attribute("data-call", call_id)
    idle = sue.locator('#agents-table tr[data-agent="sue"]')
    await expect(idle.locator('[data-action="listen"]')).to_be_hidden()
    await expect(idle.locator('[data-action="barge"]')).to_be_hidden()

    await listen.click()
    live = sue.locator("#live")
    await expect(live).to_have_attribute("data-lane", "P1-OUT")
    await expect(live).to_have_attribute("data-mode", "listen", timeout=MEDIA_MS)
    await expect(listen).to_have_attribute("aria-pressed", "true")
    await inbound(sue, "video", "framesDecoded", 10)
    await heard_on(sue, "audio")  # the lane's tone microphone
    await heard_on(sue, "agent")  # alice's fake microphone
    await expect(sue.locator("#meter-out-label")).to_have_text("坐席话音")
    await sue.wait_for_function(
        "() => Number(document.getElementById('meter-out').dataset.level) > 0",
        polling=100,
        timeout=MEDIA_MS,
    )
    [listener] = [v for v in staffed.media.viewers("P1-OUT") if v.watcher.username == "sue"]
    assert listener.listen and not listener.talk
    assert staffed.media.floor_holder("P1-OUT") == "alice"

    await barge.click()  # asked first: cancelled, nothing changes
    dialog = sue.locator("#barge-dialog")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_have_attribute("data-call", call_id)
    await expect(sue.locator("#barge-text")).to_contain_text("alice")
    await sue.click("#barge-cancel")
    await expect(dialog).to_be_hidden()
    assert staffed.calls.queue.call(call_id).agent == "alice"

    await barge.click()
    await expect(sue.locator("#barge-confirm")).to_be_focused()
    await sue.keyboard.press("Enter")
    await expect(dialog).to_be_hidden()
    await expect(sue.locator("#call-card")).to_have_attribute("data-call", call_id)
    await expect(sue.locator("#agent-state")).to_have_attribute("data-state", "on_call")
    await expect(live).to_have_attribute("data-mode", "intercom", timeout=MEDIA_MS)
    await expect(live).to_have_attribute("data-talking", "true")
    notice = alice.locator("#desk-notice")
    await expect(notice).to_have_attribute("data-notice", "call.barged")
    await expect(notice).to_contain_text("sue")
    await expect(alice_live).to_be_hidden()
    await expect(alice.locator("#call-card")).to_be_hidden()
    await expect(alice.locator("#agent-state")).to_have_attribute("data-state", "wrap_up")
    assert staffed.media.floor_holder("P1-OUT") == "sue"
    await no_viewers(staffed, "P1-OUT", "alice")
    assert await heard(lane.speaker, loud=True) > HEARD  # sue's fake microphone

    async with staffed.client("sue") as client:
        calls = (await client.get("/api/calls")).json()["calls"]
    [call] = [c for c in calls if c["id"] == call_id]
    assert (call["state"], call["agent"]) == ("active", "sue")
    [barged] = [e for e in await call_entries(staffed) if e.action is AuditAction.CALL_BARGED]
    assert (barged.actor, barged.detail["call"]) == ("sue", call_id)


async def answered_phone_call(
    staffed: Centre, call_lane: StartLane, consoles: OpenConsole, browser: Browser
) -> tuple[Page, Page, str]:
    """A driver's phone (the help page, Chromium's fake microphone) calls from lane
    P1-OUT, which has no microphone; Alice's console rings and Enter answers into the
    lane's picture with the caller's voice, and the page hears her. Her page, the
    phone's and the call's id."""
    await call_lane("P1-OUT", microphone=False)
    token = await sticker(staffed, "P1-OUT")
    alice = await consoles("alice")
    context = await browser.new_context(
        viewport=PHONE, is_mobile=True, has_touch=True, permissions=["microphone"]
    )
    phone = await context.new_page()
    await phone.goto(f"{staffed.url}/help/{token}")
    await phone.locator("#call").tap()
    await expect(phone.locator("body")).to_have_attribute("data-state", "queued")

    ring = alice.locator("#ring-card")
    await expect(ring).to_be_visible(timeout=WAIT_MS)
    await expect(ring).to_have_attribute("data-source", "phone")
    call_id = await ring.get_attribute("data-call")
    assert call_id
    await alice.keyboard.press("Enter")
    await expect(alice.locator("#call-card")).to_have_attribute("data-call", call_id)
    live = alice.locator("#live")
    await expect(live).to_have_attribute("data-lane", "P1-OUT")
    await expect(live).to_have_attribute("data-mode", "intercom", timeout=MEDIA_MS)
    await expect(live).to_have_attribute("data-talking", "true")
    await expect(phone.locator("body")).to_have_attribute("data-state", "answered")
    await expect(phone.locator("#status")).to_have_text("已接通")
    await inbound(alice, "video", "framesDecoded", 10)
    audio = await inbound(alice, "audio", "totalAudioEnergy", 0)  # the phone's microphone
    assert audio["codec"] == "audio/opus"
    await phone.wait_for_function(HEARS_AGENT, polling=200, timeout=MEDIA_MS)
    return alice, phone, call_id


async def test_a_phone_call_is_answered_from_the_keyboard_heard_and_ended_recorded(
    staffed: Centre, call_lane: StartLane, consoles: OpenConsole, browser: Browser
) -> None:
    """A driver's phone (the help page, Chromium's fake microphone) calls; the console
    rings, Enter answers into the lane's picture with the caller's voice (the lane has
    no microphone: what the agent hears is the phone), the page says 已接通 and hears
    the agent; the outcome form ends it, the page says 已结束, and the day's ledger
    holds a phone call."""
    alice, phone, call_id = await answered_phone_call(staffed, call_lane, consoles, browser)
    live = alice.locator("#live")

    await alice.keyboard.press("e")
    await alice.select_option("#outcome-category", "payment_help")
    await alice.fill("#outcome-note", "手机呼叫，已指导扫码缴费")
    await alice.click("#outcome-submit")
    await expect(alice.locator("#call-card")).to_be_hidden()
    await expect(live).to_be_hidden()
    await expect(phone.locator("body")).to_have_attribute("data-state", "ended")
    await expect(phone.locator("#status")).to_have_text("已结束")
    await no_viewers(staffed, "P1-OUT")

    async with staffed.client("sue") as client:
        response = await client.get("/api/calls/records", params={"date": today()})
    assert response.status_code == 200
    [row] = response.json()["rows"]
    assert (row["call_id"], row["source"], row["agent"]) == (call_id, "phone", "alice")
    assert (row["state"], row["ending"], row["category"]["code"]) == (
        "ended",
        "agent",
        "payment_help",
    )
    await phone.context.close()


async def test_a_supervisor_listens_in_on_a_phone_call_and_hears_both_sides(
    staffed: Centre, call_lane: StartLane, consoles: OpenConsole, browser: Browser
) -> None:
    """监听 is offered for a phone call too: the supervisor's view carries the caller
    (the page's fake microphone; the lane has none) in place of the lane's sound, and
    Alice's voice (her fake microphone) on the agent's track."""
    alice, phone, call_id = await answered_phone_call(staffed, call_lane, consoles, browser)
    sue = await consoles("sue")
    await sue.click("#tab-agents")
    listen = sue.locator('#agents-table tr[data-agent="alice"] [data-action="listen"]')
    await expect(listen).to_have_attribute("data-call", call_id)
    await listen.click()
    live = sue.locator("#live")
    await expect(live).to_have_attribute("data-lane", "P1-OUT")
    await expect(live).to_have_attribute("data-mode", "listen", timeout=MEDIA_MS)
    await heard_on(sue, "audio")  # the caller
    await heard_on(sue, "agent")  # alice
    [listener] = [v for v in staffed.media.viewers("P1-OUT") if v.watcher.username == "sue"]
    assert listener.listen and not listener.talk
    await expect(alice.locator("#live")).to_have_attribute("data-mode", "intercom")
    await phone.context.close()


async def test_a_barge_refused_shows_why_in_the_dialog_and_changes_nothing(
    staffed: Centre, lanes: LaneFactory, consoles: OpenConsole
) -> None:
    """The call ends while the supervisor's confirmation is open: 强插 is refused with
    its reason beside the buttons, and the supervisor holds nothing."""
    lane = await lanes("P1-OUT")
    async with desk(staffed, "alice") as alice:
        lane.driver.emit(CallPressed())
        call_id = (await alice.next("ring"))["call_id"]
        assert (await alice.post(f"/api/calls/{call_id}/accept")).status_code == 200
        sue = await consoles("sue")
        await sue.click("#tab-agents")
        row = sue.locator('#agents-table tr[data-agent="alice"]')
        await expect(row.locator('[data-action="listen"]')).to_be_visible()
        await row.locator('[data-action="barge"]').click()
        await expect(sue.locator("#barge-dialog")).to_be_visible()

        form = {"category": "payment_help"}
        assert (await alice.post(f"/api/calls/{call_id}/end", form)).status_code == 200
        await expect(row.locator('[data-action="barge"]')).to_be_hidden()
        await sue.click("#barge-confirm")
        error = sue.locator("#barge-error")
        await expect(error).to_have_attribute("data-error", "call_ended")
        await expect(error).to_be_visible()
        await expect(sue.locator("#barge-dialog")).to_be_visible()
        await expect(sue.locator("#call-card")).to_be_hidden()
        await expect(sue.locator("#live")).to_be_hidden()
        await sue.click("#barge-cancel")
        await expect(sue.locator("#barge-dialog")).to_be_hidden()
    assert [e for e in await call_entries(staffed) if e.action is AuditAction.CALL_BARGED] == []
    [record] = await records(staffed)
    assert (record.agent, record.state.value) == ("alice", "ended")
