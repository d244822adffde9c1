"""The live view in a real headless Chromium: a lane agent streaming its synthetic camera
and microphone through the real centre, and the console's own WebRTC peer watching,
listening and talking (Chromium's fake microphone plays a beep)."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

import pytest
from playwright.async_api import Browser, Page, expect

from console.ledger import AuditAction
from media.centre.viewing import ViewerLeft
from media.lane.camera import Camera, FfmpegCamera, SyntheticCamera
from media.lane.publisher import Publisher
from media.lane.voice import RecordingSpeaker, ToneMicrophone
from media.units import MediaUnit
from tests.conftest import PASSWORD, Centre, Lane, LaneFactory
from tests.lanes import seen

pytestmark = pytest.mark.browser

# Speaker samples are floats in [-1, 1]: 0.01 is about -40 dBFS, far above the silence of
# a disabled microphone track and far below Chromium's fake beep.
HEARD = 0.01
MEDIA_MS = 20_000  # first frame, ICE and a failing camera take seconds on a loaded machine

# wait_for_function re-runs a predicate but does not await one, so each run reads the
# last getStats() answer and asks for the next: the inbound stream of the current peer
# connection of the kind given, with its codec's mimeType, once its `field` is above `floor`.
INBOUND = """([kind, field, floor]) => {
  const probe = (window.inboundProbe ??= {});
  const pc = window.seatLive.pc;
  if (pc && !probe.asking) {
    probe.asking = true;
    pc.getStats().then((report) => {
      for (const stat of report.values()) {
        if (stat.type !== "inbound-rtp") continue;
        const codec = report.get(stat.codecId);
        probe[stat.kind] = {...stat, codec: codec ? codec.mimeType : null, pc};
      }
    }).finally(() => { probe.asking = false; });
  }
  const s = probe[kind];
  if (!s || s.pc !== pc || !(s[field] > floor)) return null;
  const {pc: _, ...stats} = s;
  return stats;
}"""


class FreezingCamera:
    """The synthetic camera until ``freeze`` is set; then it sends nothing more and its
    stream stays open, as a hung camera or encoder does: no fault, no frames."""

    always_on = False  # opened when watched, as the synthetic camera it wraps
    transcoding = None

    def __init__(self, lane_id: str) -> None:
        self.camera = SyntheticCamera(lane_id, size=(640, 480), fps=15)
        self.freeze = asyncio.Event()

    def request_keyframe(self) -> None:
        self.camera.request_keyframe()

    async def units(self) -> AsyncGenerator[MediaUnit, None]:
        async with contextlib.aclosing(self.camera.units()) as units:
            async for unit in units:
                if self.freeze.is_set():
                    break
                yield unit
        await asyncio.get_running_loop().create_future()  # hung: open, silent


@dataclass
class MediaLane:
    lane: Lane
    speaker: RecordingSpeaker


class StartLane(Protocol):
    def __call__(
        self, lane_id: str = "L1", *, camera: Callable[[], Camera] | None = None
    ) -> Awaitable[MediaLane]: ...


async def start_media_lane(
    staffed: Centre,
    lanes: LaneFactory,
    lane_id: str,
    *,
    camera: Callable[[], Camera] | None = None,
    microphone: bool = True,
) -> MediaLane:
    """A lane agent with a camera (the synthetic one at 640x480 unless given), a
    recording speaker and, unless told otherwise, a microphone."""
    if lane_id not in staffed.tokens:
        await staffed.add_lane(lane_id)
    speaker = RecordingSpeaker()
    publisher = Publisher(
        lane_id,
        staffed.tokens[lane_id],
        camera=camera or (lambda: SyntheticCamera(lane_id, size=(640, 480), fps=15)),
        microphone=ToneMicrophone if microphone else None,
        speaker=speaker,
    )
    return MediaLane(await lanes(lane_id, publisher=publisher), speaker)


@pytest.fixture
async def media_lane(staffed: Centre, lanes: LaneFactory) -> StartLane:
    """Starts lane agents with a camera, a microphone and a recording speaker."""

    async def start(
        lane_id: str = "L1", *, camera: Callable[[], Camera] | None = None
    ) -> MediaLane:
        return await start_media_lane(staffed, lanes, lane_id, camera=camera)

    return start


async def logged_in(browser: Browser, centre: Centre, username: str) -> Page:
    context = await browser.new_context(permissions=["microphone"])
    page = await context.new_page()
    await page.goto(centre.url + "/")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("body")).to_have_attribute("data-view", "lanes")
    return page


async def watching(page: Page, lane: str) -> None:
    """Open ``lane``'s live view and wait for its peer connection."""
    await page.locator(f'[data-lane="{lane}"] [data-action="live"]').click()
    await expect(page.locator("#live")).to_have_attribute("data-lane", lane)
    await expect(page.locator("#live-state")).to_have_attribute(
        "data-state", "connected", timeout=MEDIA_MS
    )


async def inbound(page: Page, kind: str, field: str, floor: float) -> dict[str, Any]:
    """The inbound-rtp stats of ``kind`` once their ``field`` is above ``floor``."""
    handle = await page.wait_for_function(
        INBOUND, arg=[kind, field, floor], polling=200, timeout=MEDIA_MS
    )
    stats: dict[str, Any] = await handle.json_value()
    return stats


def first_video_codec(sdp: str) -> str:
    """The codec the offer's video section prefers (its first payload type)."""
    lines = sdp.splitlines()
    media = next(line for line in lines if line.startswith("m=video"))
    first = media.split()[3]
    rtpmap = next(line for line in lines if line.startswith(f"a=rtpmap:{first} "))
    return rtpmap.split()[1].split("/")[0]


async def heard(speaker: RecordingSpeaker, loud: bool, packets: int = 25) -> float:
    """Wait until the lane's speaker has played ``packets`` more packets and its last
    half second is (or, with ``loud=False``, is not) above the HEARD level."""
    async with asyncio.timeout(MEDIA_MS / 1000):
        await speaker.wait_heard(speaker.heard + packets)
        while (speaker.rms(0.5) > HEARD) is not loud:
            await speaker.wait_heard(speaker.heard + 1)
    return speaker.rms(0.5)


async def no_viewers(centre: Centre, lane: str, user: str | None = None) -> None:
    """Wait until ``lane`` has no viewer at the centre (of ``user``, if given)."""
    closed = asyncio.Event()
    unsubscribe = centre.media.subscribe(
        lambda event: closed.set() if isinstance(event, ViewerLeft) else None
    )

    def left() -> bool:
        viewers = centre.media.viewers(lane)
        return not [v for v in viewers if user is None or v.watcher.username == user]

    try:
        async with asyncio.timeout(10):
            while not left():
                closed.clear()
                await closed.wait()
    finally:
        unsubscribe()


# ----------------------------------------------------------------- watching


async def test_agent_sees_the_lane_camera_in_h264(
    browser: Browser, staffed: Centre, media_lane: StartLane
) -> None:
    """The live view decodes the lane's own H.264 at the camera's size, and says so."""
    await media_lane()
    page = await logged_in(browser, staffed, "alice")
    await watching(page, "L1")
    video = await inbound(page, "video", "framesDecoded", 10)
    assert video["codec"] == "video/H264"
    assert (
        first_video_codec(await page.evaluate("window.seatLive.pc.localDescription.sdp")) == "H264"
    )
    assert video["frameWidth"] == 640 and video["frameHeight"] == 480
    await expect(page.locator("#live-fresh")).to_have_attribute("data-state", "live")
    await expect(page.locator("#live")).to_have_attribute("data-mode", "watch")
    await expect(page.locator("#listen-toggle")).to_be_hidden()  # agents do not listen in
    frames = await page.locator("#live-video").get_attribute("data-frames")
    assert frames is not None and int(frames) > 0


async def test_intercom_carries_voice_both_ways_only_while_talking(
    browser: Browser, staffed: Centre, media_lane: StartLane
) -> None:
    """On the intercom the agent hears the lane; the lane hears the agent's microphone
    only while talk is latched, and the meters show both."""
    lane = await media_lane()
    page = await logged_in(browser, staffed, "alice")
    await watching(page, "L1")
    await page.click("#intercom-start")
    await expect(page.locator("#live")).to_have_attribute("data-mode", "intercom", timeout=MEDIA_MS)
    await expect(page.locator("#live")).to_have_attribute("data-talking", "false")
    assert await heard(lane.speaker, loud=False) <= HEARD  # the microphone starts disabled

    await page.click("#talk-latch")
    await expect(page.locator("#talk-latch")).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#live")).to_have_attribute("data-talking", "true")
    assert await heard(lane.speaker, loud=True) > HEARD
    audio = await inbound(page, "audio", "totalAudioEnergy", 0)
    assert audio["codec"] == "audio/opus"
    for meter in ("#meter-out", "#meter-in"):
        await page.wait_for_function(
            "id => Number(document.querySelector(id).dataset.level) > 0.2", arg=meter
        )

    await page.click("#talk-latch")
    await expect(page.locator("#live")).to_have_attribute("data-talking", "false")
    assert await heard(lane.speaker, loud=False) <= HEARD


async def test_push_to_talk_opens_the_microphone_only_while_held(
    browser: Browser, staffed: Centre, media_lane: StartLane
) -> None:
    """Space or the mouse held on the talk button makes the microphone live; released,
    it is off again."""
    lane = await media_lane()
    page = await logged_in(browser, staffed, "alice")
    await watching(page, "L1")
    await page.click("#intercom-start")
    await expect(page.locator("#talk-hold")).to_be_enabled(timeout=MEDIA_MS)
    await page.focus("#talk-hold")
    await page.keyboard.down("Space")
    await expect(page.locator("#live")).to_have_attribute("data-talking", "true")
    assert await heard(lane.speaker, loud=True) > HEARD
    await page.keyboard.up("Space")
    await expect(page.locator("#live")).to_have_attribute("data-talking", "false")
    assert await heard(lane.speaker, loud=False) <= HEARD

    await page.hover("#talk-hold")
    await page.mouse.down()
    await expect(page.locator("#live")).to_have_attribute("data-talking", "true")
    await page.mouse.up()
    await expect(page.locator("#live")).to_have_attribute("data-talking", "false")


async def test_a_busy_intercom_names_its_holder_and_keeps_the_picture(
    browser: Browser, staffed: Centre, media_lane: StartLane
) -> None:
    """A second agent asking for the intercom is told who has it and goes on watching."""
    await media_lane()
    alice = await logged_in(browser, staffed, "alice")
    await watching(alice, "L1")
    await alice.click("#intercom-start")
    await expect(alice.locator("#live")).to_have_attribute(
        "data-mode", "intercom", timeout=MEDIA_MS
    )

    bob = await logged_in(browser, staffed, "bob")
    await watching(bob, "L1")
    await bob.click("#intercom-start")
    await expect(bob.locator("#intercom-busy")).to_have_attribute("data-holder", "alice")
    await expect(bob.locator("#live")).to_have_attribute("data-mode", "watch")
    await expect(bob.locator("#live-state")).to_have_attribute("data-state", "connected")
    assert len(staffed.media.viewers("L1")) == 2


async def test_supervisor_listens_in_without_the_intercom(
    browser: Browser, staffed: Centre, media_lane: StartLane
) -> None:
    """A supervisor's listen toggle brings the lane's sound, with no microphone."""
    lane = await media_lane()
    page = await logged_in(browser, staffed, "sue")
    await watching(page, "L1")
    await page.click("#listen-toggle")
    await expect(page.locator("#listen-toggle")).to_have_attribute("aria-pressed", "true")
    await expect(page.locator("#live")).to_have_attribute("data-mode", "listen", timeout=MEDIA_MS)
    await inbound(page, "audio", "totalAudioEnergy", 0)
    [viewer] = staffed.media.viewers("L1")
    assert viewer.listen and not viewer.talk
    assert lane.speaker.heard == 0


# ----------------------------------------------------------------- releasing


async def test_closing_the_view_releases_the_viewer_and_the_ledger_shows_it(
    browser: Browser, staffed: Centre, media_lane: StartLane
) -> None:
    """Close ends the viewer at the centre at once, and watching and talking are in the
    audit log, live on the supervisor's screen too."""
    await media_lane()
    supervisor = await logged_in(browser, staffed, "sue")
    await supervisor.click("#tab-audit")
    page = await logged_in(browser, staffed, "alice")
    await watching(page, "L1")
    await page.click("#intercom-start")
    await expect(page.locator("#live")).to_have_attribute("data-mode", "intercom", timeout=MEDIA_MS)
    async with page.expect_response(lambda r: r.request.method == "DELETE") as deleted:
        await page.click("#live-close")
    assert (await deleted.value).status == 204
    await expect(page.locator("#live")).to_be_hidden()
    await expect(page.locator('[data-lane="L1"] [data-action="live"]')).to_be_focused()
    await no_viewers(staffed, "L1")
    assert await page.evaluate("window.seatLive.pc") is None

    actions = [
        AuditAction.WATCH_STARTED,
        AuditAction.INTERCOM_STARTED,
        AuditAction.WATCH_ENDED,
        AuditAction.INTERCOM_ENDED,
    ]
    for action in actions:
        row = supervisor.locator(f'#audit tr[data-action="{action.value}"]')
        await expect(row).to_have_count(1)
    entries = [e async for e in staffed.store.iter_audit() if e.lane == "L1"]
    # The intercom's connection is answered before the watching one is let go.
    assert [e.action for e in entries] == actions
    assert {e.actor for e in entries} == {"alice"}


async def test_closing_the_tab_releases_the_viewer_and_the_intercom(
    browser: Browser, staffed: Centre, media_lane: StartLane
) -> None:
    """A tab closed mid-intercom lets go of its viewer, and the lane's intercom is free
    for the next agent."""
    await media_lane()
    alice = await logged_in(browser, staffed, "alice")
    await watching(alice, "L1")
    await alice.click("#intercom-start")
    await expect(alice.locator("#live")).to_have_attribute(
        "data-mode", "intercom", timeout=MEDIA_MS
    )
    await alice.close()
    await no_viewers(staffed, "L1")

    bob = await logged_in(browser, staffed, "bob")
    await watching(bob, "L1")
    await bob.click("#intercom-start")
    await expect(bob.locator("#live")).to_have_attribute("data-mode", "intercom", timeout=MEDIA_MS)
    await expect(bob.locator("#intercom-busy")).to_be_hidden()


# ----------------------------------------------------------------- the lane's state


async def test_live_button_is_disabled_for_an_offline_lane(
    browser: Browser, staffed: Centre
) -> None:
    """A lane that is not connected cannot be watched."""
    await staffed.add_lane("L2")
    page = await logged_in(browser, staffed, "alice")
    row = page.locator('[data-lane="L2"]')
    await expect(row).to_have_attribute("data-online", "false")
    await expect(row.locator('[data-action="live"]')).to_be_disabled()


async def test_view_says_camera_down_when_the_lane_camera_fails(
    browser: Browser, staffed: Centre, media_lane: StartLane
) -> None:
    """A camera the lane cannot open shows as camera down, not as a frozen picture; the
    last snapshot stands in for the picture."""
    lane = await media_lane(camera=lambda: FfmpegCamera("rtsp://127.0.0.1:9/none"))
    lane.lane.driver.emit(seen())
    page = await logged_in(browser, staffed, "alice")
    row = page.locator('[data-lane="L1"]')
    await expect(row.locator('[data-field="plate"]')).to_have_text(seen().plate)
    await row.locator('[data-action="live"]').click()
    await expect(page.locator("#live-video")).to_have_attribute(
        "poster", re.compile(r"/api/lanes/L1/snapshot\?t=")
    )
    await expect(page.locator("#live-state")).to_have_attribute(
        "data-state", "camera_down", timeout=MEDIA_MS
    )
    await expect(page.locator("#live-message")).to_have_attribute("data-message", "camera_down")
    await expect(page.locator("#live-message")).to_be_visible()
    await expect(page.locator("#live-fresh")).to_have_attribute("data-state", "waiting")


async def test_view_reconnects_when_the_lane_comes_back(
    browser: Browser, staffed: Centre, media_lane: StartLane
) -> None:
    """The lane dropping shows offline and lets go of the viewer; its return brings the
    picture back with no click."""
    lane = await media_lane()
    page = await logged_in(browser, staffed, "alice")
    await watching(page, "L1")
    await inbound(page, "video", "framesDecoded", 0)
    await lane.lane.stop()
    await expect(page.locator("#live")).to_have_attribute("data-state", "offline")
    await expect(page.locator("#live-message")).to_have_attribute("data-message", "offline")
    await no_viewers(staffed, "L1")

    await media_lane()
    await expect(page.locator("#live-state")).to_have_attribute(
        "data-state", "connected", timeout=MEDIA_MS
    )
    await inbound(page, "video", "framesDecoded", 10)
    assert len(staffed.media.viewers("L1")) == 1


async def test_view_offers_again_when_its_connection_drops(
    browser: Browser, staffed: Centre, media_lane: StartLane
) -> None:
    """A connection lost for more than a moment (here the centre dropped the viewer) is
    replaced by a new offer with no click, and the picture comes back."""
    await media_lane()
    page = await logged_in(browser, staffed, "alice")
    await watching(page, "L1")
    [first] = staffed.media.viewers("L1")
    await staffed.media.release(first.id)
    await expect(page.locator("#live-state")).to_have_attribute(
        "data-state", "disconnected", timeout=MEDIA_MS
    )
    await expect(page.locator("#live-message")).to_have_attribute("data-message", "reconnecting")
    await expect(page.locator("#live-state")).to_have_attribute(
        "data-state", "connected", timeout=MEDIA_MS
    )
    await inbound(page, "video", "framesDecoded", 10)
    [second] = staffed.media.viewers("L1")
    assert second.id != first.id


# ----------------------------------------------------------------- the freshness badge

# Every (state, fps, text) the badge ever shows, so a test can look back at what an
# agent could have seen between two waits.
BADGE_HISTORY = """() => {
  const badge = document.getElementById("live-fresh");
  window.badgeHistory = [];
  const note = () => window.badgeHistory.push(
    {state: badge.dataset.state, fps: badge.dataset.fps ?? null, text: badge.textContent});
  new MutationObserver(note).observe(
    badge, {attributes: true, childList: true, characterData: true, subtree: true});
}"""


async def test_badge_says_the_picture_stopped_when_the_camera_hangs(
    browser: Browser, staffed: Centre, media_lane: StartLane
) -> None:
    """Frames that stop arriving while the lane stays online turn the badge from live to
    "picture interrupted, N s without a new frame", counting up."""
    camera = FreezingCamera("L1")
    await media_lane(camera=lambda: camera)
    page = await logged_in(browser, staffed, "alice")
    await watching(page, "L1")
    badge = page.locator("#live-fresh")
    await expect(badge).to_have_attribute("data-state", "live", timeout=MEDIA_MS)
    camera.freeze.set()
    await expect(badge).to_have_attribute("data-state", "stale")
    await expect(badge).to_have_text(re.compile(r"^画面中断 · [1-9]\d* 秒无新帧$"))
    await expect(badge).to_have_text(re.compile(r"^画面中断 · ([3-9]|\d\d+) 秒无新帧$"))
    await expect(page.locator("#live-state")).to_have_attribute("data-state", "connected")


async def test_badge_never_calls_a_picture_without_frames_live(
    browser: Browser, staffed: Centre, media_lane: StartLane
) -> None:
    """From the moment frames stop, the badge never shows "live" at 0 fps on its way to
    saying the picture is interrupted."""
    camera = FreezingCamera("L1")
    await media_lane(camera=lambda: camera)
    page = await logged_in(browser, staffed, "alice")
    await watching(page, "L1")
    badge = page.locator("#live-fresh")
    await expect(badge).to_have_attribute("data-fps", re.compile(r"^[1-9]"), timeout=MEDIA_MS)
    await page.evaluate(BADGE_HISTORY)
    camera.freeze.set()
    await expect(badge).to_have_attribute("data-state", "stale")
    history = await page.evaluate("window.badgeHistory")
    assert [h for h in history if h["state"] == "live" and h["fps"] == "0"] == []


async def test_badge_says_lane_offline_when_the_lane_stops(
    browser: Browser, staffed: Centre, media_lane: StartLane
) -> None:
    """A lane that stops while watched shows "lane offline" on the picture, not a live
    badge."""
    lane = await media_lane()
    page = await logged_in(browser, staffed, "alice")
    await watching(page, "L1")
    badge = page.locator("#live-fresh")
    await expect(badge).to_have_attribute("data-state", "live", timeout=MEDIA_MS)
    await lane.lane.stop()
    await expect(badge).to_have_attribute("data-state", "offline")
    await expect(badge).to_have_text("车道离线")
