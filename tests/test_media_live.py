"""Live video and intercom end to end with real peers: a lane agent streaming its
synthetic camera and microphone over its media connection, the centre, and aiortc
viewers signing their offers through the HTTP API."""

from __future__ import annotations

import asyncio
import gc
import json
import sys
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Protocol

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection
from playwright.async_api import Browser
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from console.auth import new_token, token_hash
from console.ledger import AuditAction, AuditEntry
from console.models import Direction, LaneRecord, Session
from console.settings import Settings
from console.web import SESSION_COOKIE
from media.centre.peer import BUNDLE, prefer_codec
from media.centre.viewing import MediaEvent, StreamChanged, ViewerLeft
from media.lane.camera import Camera, FfmpegCamera, SyntheticCamera
from media.lane.publisher import Publisher
from media.lane.sources import CAMERA_FAULT, MIC_FAULT
from media.lane.tones import RATE, find_bursts
from media.lane.voice import DeviceMicrophone, Microphone, RecordingSpeaker, ToneMicrophone
from media.messages import CloseCode, MediaHello, media_url
from media.units import HEADER, MAX_UNIT_BYTES, Kind, MediaUnit
from tests.conftest import TEST_POLICY, Centre, Lane, LaneFactory
from tests.test_lane_link import closed_with, hello
from tests.viewers import ViewerPeer, mono, offer, watch

DRIVER_HZ = 600.0  # the lane's microphone, in tests of who hears whom
AGENT_HZ = 1000.0  # an agent's


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # A short grace so tests see the lane stop streaming after the last viewer, and a
    # connect time that reaps a vanished browser sooner than the default 10 s.
    return Settings(
        data_dir=tmp_path,
        port=0,
        command_timeout_s=3.0,
        heartbeat=TEST_POLICY,
        media_grace_s=0.3,
        media_connect_s=5.0,
    )


class MediaLane:
    def __init__(self, lane: Lane, publisher: Publisher, speaker: RecordingSpeaker) -> None:
        self.lane = lane
        self.publisher = publisher
        self.speaker = speaker


class StartLane(Protocol):
    def __call__(
        self,
        lane_id: str = "L1",
        *,
        camera_url: str | None = None,
        camera: Callable[[], Camera] | None = None,
        microphone: Callable[[], Microphone] = ToneMicrophone,
    ) -> Awaitable[MediaLane]: ...


@pytest.fixture
async def media_lane(staffed: Centre, lanes: LaneFactory) -> StartLane:
    async def start(
        lane_id: str = "L1",
        *,
        camera_url: str | None = None,
        camera: Callable[[], Camera] | None = None,
        microphone: Callable[[], Microphone] = ToneMicrophone,
    ) -> MediaLane:
        token = await staffed.add_lane(lane_id)
        speaker = RecordingSpeaker()
        publisher = Publisher(
            lane_id,
            token,
            camera=camera
            or (
                (lambda: FfmpegCamera(camera_url))
                if camera_url
                else (lambda: SyntheticCamera(lane_id, size=(320, 240), fps=15, gop=15))
            ),
            microphone=microphone,
            speaker=speaker,
        )
        return MediaLane(await lanes(lane_id, publisher=publisher), publisher, speaker)

    return start


def media_event(centre: Centre, check: Callable[[MediaEvent], bool]) -> asyncio.Future[MediaEvent]:
    """Resolves with the first change the centre's media announces from now on that
    passes ``check``."""
    seen: asyncio.Future[MediaEvent] = asyncio.get_running_loop().create_future()

    def look(event: MediaEvent) -> None:
        if check(event) and not seen.done():
            seen.set_result(event)
            unsubscribe()

    unsubscribe = centre.media.subscribe(look)
    return seen


def tone_only(hz: float, seconds: float = 30.0) -> ToneMicrophone:
    """A microphone that sends an ``hz`` tone and nothing else for ``seconds``: what
    reaches a listener is told apart by its frequency."""
    microphone = ToneMicrophone(mark_hz=hz, level=0.0)
    for _ in range(round(seconds / 0.1)):  # its marks are 100 ms, back to back
        microphone.mark()
    return microphone


def stopped(lane: str) -> Callable[[MediaEvent], bool]:
    return lambda e: isinstance(e, StreamChanged) and e.lane == lane and not e.streaming


async def hears(speaker: RecordingSpeaker, level: float) -> None:
    """Wait until the lane's speaker played sound of at least ``level`` RMS (its samples
    are floats in [-1, 1]: 0.01 is about -40 dBFS)."""
    async with asyncio.timeout(15):
        while speaker.rms(0.5) < level:
            await speaker.wait_heard(speaker.heard + 1)


async def fault_detail(centre: Centre, code: str) -> str:
    """Wait for lane L1 to report fault ``code``; its detail."""
    status = await centre.wait_status(
        "L1", lambda s: any(f.code == code for f in s.faults), timeout=20
    )
    return next(f.detail for f in status.faults if f.code == code)


def open_peer_connections() -> int:
    """Peer connections alive in this process that were never closed."""
    gc.collect()
    return sum(
        1
        for obj in gc.get_objects()
        if isinstance(obj, RTCPeerConnection) and obj.connectionState != "closed"
    )


# ----------------------------------------------------------------- watching


async def test_lane_streams_only_while_watched_and_viewer_sees_live_frames(
    staffed: Centre, media_lane: StartLane, peers: list[ViewerPeer]
) -> None:
    """Nothing streams until an agent watches; then decoded frames carry fresh stamps."""
    lane = await media_lane()
    assert not staffed.media.streaming("L1") and lane.publisher.wanted is None
    async with staffed.client("alice") as client:
        peer = await watch(client, "L1")
        peers.append(peer)
        frames = await peer.wait_frames(10)
    assert staffed.media.streaming("L1")
    assert (frames[-1].width, frames[-1].height) == (320, 240)
    stamped = [f for f in frames if f.stamp is not None]
    assert len(stamped) >= 8
    ages = [f.at - f.stamp for f in stamped if f.stamp is not None]
    assert all(-0.05 < age < 2.0 for age in ages)  # live, not replayed


async def test_many_viewers_share_one_upstream(
    staffed: Centre, media_lane: StartLane, peers: list[ViewerPeer]
) -> None:
    """Two agents and a supervisor watch one lane over one media connection."""
    lane = await media_lane()
    opened = []
    for user in ("alice", "bob", "sue"):
        async with staffed.client(user) as client:
            peer = await watch(client, "L1", listen=user == "sue")
            peers.append(peer)
            opened.append(peer)
    for peer in opened:
        await peer.wait_frames(5)
    assert len(staffed.media.viewers("L1")) == 3
    assert lane.publisher.wanted is not None and lane.publisher.wanted.audio  # sue listens
    await opened[2].wait_audio(100)
    assert opened[0].audio == []  # an agent not on the intercom hears nothing


async def test_intercom_carries_voice_both_ways_and_is_audited(
    staffed: Centre, media_lane: StartLane, peers: list[ViewerPeer]
) -> None:
    """The agent hears the lane and the lane's speaker hears the agent; the ledger says
    who talked to which lane, from when to when."""
    lane = await media_lane()
    microphone = ToneMicrophone(seed=3)
    async with staffed.client("alice") as client:
        peer = await watch(client, "L1", talk=True)
        peers.append(peer)
        feeding = asyncio.create_task(_feed(peer, microphone))
        try:
            await hears(lane.speaker, 0.01)
            await peer.wait_audio(100)
        finally:
            feeding.cancel()
        recorded = audit_of(staffed, AuditAction.INTERCOM_ENDED)
        response = await client.delete(f"/api/lanes/L1/webrtc/{peer.viewer_id}")
        assert response.status_code == 204
        await recorded
    entries = [e async for e in staffed.store.iter_audit() if e.lane == "L1"]
    assert [e.action for e in entries] == [AuditAction.INTERCOM_STARTED, AuditAction.INTERCOM_ENDED]
    assert all(e.actor == "alice" for e in entries)
    seconds = entries[1].detail["seconds"]
    assert isinstance(seconds, int | float) and seconds > 0


async def test_a_supervisor_listening_in_hears_the_driver_and_the_agent(
    staffed: Centre, media_lane: StartLane, peers: list[ViewerPeer]
) -> None:
    """Alice talks with the driver: Sue, listening in, hears the driver's tone on the
    lane's track and Alice's on the agent's; Alice hears the driver, not herself."""
    driver = tone_only(DRIVER_HZ)
    await media_lane(microphone=lambda: driver)
    async with staffed.client("alice") as alice, staffed.client("sue") as sue:
        agent = await watch(alice, "L1", talk=True)
        peers.append(agent)
        listener = await watch(sue, "L1", listen=True)
        peers.append(listener)
        feeding = asyncio.create_task(_feed(agent, tone_only(AGENT_HZ)))
        try:
            await listener.wait_tone(DRIVER_HZ)
            await listener.wait_tone(AGENT_HZ, agent=True)
            await agent.wait_tone(DRIVER_HZ)
        finally:
            feeding.cancel()
    assert find_bursts(mono(listener.audio), RATE, AGENT_HZ) == []
    assert find_bursts(mono(listener.agent), RATE, DRIVER_HZ) == []
    assert find_bursts(mono(agent.audio), RATE, AGENT_HZ) == []
    assert agent.agent == []


async def _feed(peer: ViewerPeer, microphone: ToneMicrophone) -> None:
    async for unit in microphone.units():
        peer.speak(unit)


def audit_of(centre: Centre, action: AuditAction) -> asyncio.Future[None]:
    """Resolves when the ledger records ``action``."""
    seen = asyncio.get_running_loop().create_future()

    def check(entry: AuditEntry) -> None:
        if entry.action is action and not seen.done():
            seen.set_result(None)
            unsubscribe()

    unsubscribe = centre.audit.subscribe(check)
    return seen


async def test_only_one_user_holds_the_intercom(
    staffed: Centre, media_lane: StartLane, peers: list[ViewerPeer]
) -> None:
    """A second talker gets 409 naming the holder, and no peer connection is left."""
    await media_lane()
    async with staffed.client("alice") as alice, staffed.client("bob") as bob:
        peers.append(await watch(alice, "L1", talk=True))
        before = open_peer_connections()
        second = await offer(talk=True)
        try:
            response = await bob.post(
                "/api/lanes/L1/webrtc",
                json={"sdp": second.pc.localDescription.sdp, "type": "offer", "intercom": True},
            )
        finally:
            await second.close()
    assert response.status_code == 409
    assert response.json()["error"] == "intercom_busy" and response.json()["holder"] == "alice"
    assert open_peer_connections() == before  # the refused offer left no peer behind
    assert len(staffed.media.viewers("L1")) == 1


async def test_listening_in_is_for_supervisors(staffed: Centre, media_lane: StartLane) -> None:
    """An agent asking to listen without the intercom is refused."""
    await media_lane()
    peer = await offer(listen=True)
    try:
        async with staffed.client("alice") as client:
            response = await client.post(
                "/api/lanes/L1/webrtc",
                json={"sdp": peer.pc.localDescription.sdp, "type": "offer", "listen": True},
            )
    finally:
        await peer.close()
    assert response.status_code == 403
    assert staffed.media.viewers() == []


async def test_last_viewer_leaving_stops_the_lane_after_the_grace_time(
    staffed: Centre, media_lane: StartLane, peers: list[ViewerPeer]
) -> None:
    """Closing the peer releases the viewer, and the lane's upstream ends soon after."""
    await media_lane()
    async with staffed.client("alice") as client:
        peer = await watch(client, "L1")
        await peer.wait_frames(3)
    stop = media_event(staffed, stopped("L1"))
    await peer.pc.close()  # the tab went away without a DELETE
    async with asyncio.timeout(10):
        await stop
    assert staffed.media.viewers("L1") == []
    assert open_peer_connections() == 0


async def test_logging_out_ends_that_users_viewers(
    staffed: Centre, media_lane: StartLane, peers: list[ViewerPeer]
) -> None:
    """A console session that ends takes its live views with it; others stay."""
    await media_lane()
    async with staffed.client("alice") as alice, staffed.client("bob") as bob:
        peers.append(await watch(alice, "L1", talk=True))
        peers.append(await watch(bob, "L1"))
        left = media_event(staffed, lambda e: isinstance(e, ViewerLeft))
        assert (await alice.post("/api/logout")).status_code == 204
    async with asyncio.timeout(10):
        event = await left
    assert isinstance(event, ViewerLeft) and event.viewing.watcher.username == "alice"
    assert [v.watcher.username for v in staffed.media.viewers("L1")] == ["bob"]


async def test_a_view_ends_when_its_login_does(
    staffed: Centre, media_lane: StartLane, peers: list[ViewerPeer]
) -> None:
    """A viewer opened by a session that ends (its 12 hours are up) is closed at that
    moment, even if the browser never says goodbye."""
    await media_lane()
    token = new_token()
    now = datetime.now(UTC)
    await staffed.store.create_session(
        Session(
            token_hash(token),
            "alice",
            "csrf",
            created_at=now,
            expires_at=now + timedelta(seconds=2),
        )
    )
    async with staffed.client() as client:
        client.cookies.set(SESSION_COOKIE, token)
        client.headers["X-CSRF-Token"] = "csrf"
        peer = await watch(client, "L1")
        peers.append(peer)
    assert len(staffed.media.viewers("L1")) == 1
    ended = audit_of(staffed, AuditAction.WATCH_ENDED)
    async with asyncio.timeout(10):
        await ended
    assert staffed.media.viewers("L1") == []


async def test_a_view_open_when_the_centre_stops_ends_in_the_ledger(
    staffed: Centre, media_lane: StartLane, peers: list[ViewerPeer]
) -> None:
    """Viewers the centre closes as it shuts down still get their end recorded."""
    await media_lane()
    async with staffed.client("alice") as client:
        peers.append(await watch(client, "L1"))
    ended = audit_of(staffed, AuditAction.WATCH_ENDED)
    await staffed.media.close()  # what the centre's shutdown does
    async with asyncio.timeout(10):
        await ended


async def test_a_lane_that_reconnects_streams_again_to_the_same_viewer(
    staffed: Centre, media_lane: StartLane, lanes: LaneFactory, peers: list[ViewerPeer]
) -> None:
    """When a lane agent restarts mid-view, the centre asks the new one to stream and
    the viewer's picture resumes without a new offer."""
    lane = await media_lane()
    async with staffed.client("alice") as client:
        peer = await watch(client, "L1")
        peers.append(peer)
        await peer.wait_frames(3)
    await lane.lane.stop()
    await staffed.wait_status("L1", lambda s: not s.online)
    publisher = Publisher(
        "L1",
        staffed.tokens["L1"],
        camera=lambda: SyntheticCamera("L1", size=(320, 240), fps=15, gop=15, seed=1),
        microphone=ToneMicrophone,
        speaker=RecordingSpeaker(),
    )
    await lanes("L1", publisher=publisher)
    seen = len(peer.frames)
    await peer.wait_frames(seen + 10, timeout=20)
    assert peer.frames[-1].stamp is not None and peer.frames[-1].at - peer.frames[-1].stamp < 2


# ----------------------------------------------------------------- failures


async def test_an_offline_lane_is_refused_with_no_peer_left(
    staffed: Centre, media_lane: StartLane
) -> None:
    """Watching a lane that is offline is 409 lane_offline."""
    lane = await media_lane()
    await lane.lane.stop()
    await staffed.wait_status("L1", lambda s: not s.online)
    peer = await offer()
    try:
        async with staffed.client("alice") as client:
            response = await client.post(
                "/api/lanes/L1/webrtc", json={"sdp": peer.pc.localDescription.sdp, "type": "offer"}
            )
    finally:
        await peer.close()
    assert response.status_code == 409 and response.json()["error"] == "lane_offline"
    assert open_peer_connections() == 0


VP8_ONLY = "m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n"


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        (
            {"sdp": "m=video 9 RTP/SAVPF 96\r\na=rtpmap:96\r\n", "type": "offer"},
            400,
            "malformed_sdp",
        ),
        ({"sdp": "v=0\r\nm=video x RTP/SAVPF 96\r\n", "type": "offer"}, 400, "malformed_sdp"),
        ({"sdp": "x", "type": "answer"}, 400, "bad_request"),
        ({"type": "offer"}, 400, "bad_request"),
        ({"sdp": "OFFER", "type": "offer", "intercom": "yes"}, 400, "bad_request"),
        ({"sdp": "OFFER", "type": "offer", "intercom": True}, 400, "offer_mismatch"),
        ({"sdp": "VP8", "type": "offer"}, 400, "h264_required"),
        ({"sdp": "x" * 70_000, "type": "offer"}, 413, "too_large"),
    ],
)
async def test_bad_offers_are_refused_and_change_nothing(
    staffed: Centre, media_lane: StartLane, body: dict[str, object], status: int, error: str
) -> None:
    """Malformed, mismatched, non-H.264 and oversized offers get a clear error."""
    await media_lane()
    peer = await offer()
    sdp = peer.pc.localDescription.sdp
    await peer.close()
    if body.get("sdp") == "OFFER":
        body = {**body, "sdp": sdp}
    elif body.get("sdp") == "VP8":
        head, _, _ = sdp.partition("m=video")
        body = {**body, "sdp": head + VP8_ONLY + _ice_lines(sdp)}
    async with staffed.client("alice") as client:
        response = await client.post("/api/lanes/L1/webrtc", json=body)
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert staffed.media.viewers() == [] and not staffed.media.streaming("L1")
    assert open_peer_connections() == 0


@pytest.mark.parametrize(
    ("sections", "flags"),
    [(1, {"listen": True}), (2, {"intercom": True}), (2, {}), (0, {"listen": True})],
)
async def test_an_offer_with_the_wrong_audio_sections_is_refused(
    staffed: Centre, media_lane: StartLane, sections: int, flags: dict[str, bool]
) -> None:
    """Listening in carries two audio sections (the lane's, then the agent's), talking
    one, watching none: any other count (an old console's one-section listen offer) is
    400 offer_mismatch, and nothing is left behind."""
    await media_lane()
    pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=BUNDLE))
    try:
        prefer_codec(pc.addTransceiver("video", direction="recvonly"), "video/H264")
        for _ in range(sections):
            prefer_codec(pc.addTransceiver("audio", direction="recvonly"), "audio/opus")
        await pc.setLocalDescription(await pc.createOffer())
        body = {"sdp": pc.localDescription.sdp, "type": "offer", **flags}
    finally:
        await pc.close()
    async with staffed.client("sue") as client:
        response = await client.post("/api/lanes/L1/webrtc", json=body)
    assert (response.status_code, response.json()["error"]) == (400, "offer_mismatch")
    assert staffed.media.viewers() == [] and not staffed.media.streaming("L1")
    assert open_peer_connections() == 0


def _ice_lines(sdp: str) -> str:
    return "".join(
        line + "\r\n"
        for line in sdp.splitlines()
        if line.startswith(("a=ice-", "a=fingerprint", "a=setup", "a=mid"))
    )


async def test_watching_needs_a_session_csrf_and_a_known_lane(
    staffed: Centre, media_lane: StartLane
) -> None:
    """No session is 401, a missing CSRF token 403, an unknown lane 404."""
    await media_lane()
    body = {"sdp": "v=0", "type": "offer"}
    async with staffed.client() as anonymous:
        assert (await anonymous.post("/api/lanes/L1/webrtc", json=body)).status_code == 401
    async with staffed.client("alice") as client:
        csrf = client.headers.pop("X-CSRF-Token")
        assert (await client.post("/api/lanes/L1/webrtc", json=body)).status_code == 403
        client.headers["X-CSRF-Token"] = csrf
        missing = await client.post("/api/lanes/NOPE/webrtc", json=body)
        assert missing.status_code == 404 and missing.json()["error"] == "unknown_lane"
        gone = await client.delete("/api/lanes/L1/webrtc/0123")
        assert gone.status_code == 404 and gone.json()["error"] == "unknown_viewer"


async def test_another_agent_cannot_close_my_viewer(
    staffed: Centre, media_lane: StartLane, peers: list[ViewerPeer]
) -> None:
    """Closing a viewer is for its own user (or an admin)."""
    await media_lane()
    async with staffed.client("alice") as alice, staffed.client("bob") as bob:
        peer = await watch(alice, "L1")
        peers.append(peer)
        response = await bob.delete(f"/api/lanes/L1/webrtc/{peer.viewer_id}")
    assert response.status_code == 403
    assert len(staffed.media.viewers("L1")) == 1


async def test_an_unreachable_camera_is_a_lane_fault(
    staffed: Centre, media_lane: StartLane, peers: list[ViewerPeer]
) -> None:
    """A camera the lane cannot open shows as a camera_unavailable fault, not a frozen
    picture; the intercom still works."""
    await media_lane(camera_url="rtsp://127.0.0.1:9/none")
    async with staffed.client("sue") as client:
        peer = await watch(client, "L1", listen=True)
        peers.append(peer)
        detail = await fault_detail(staffed, CAMERA_FAULT)
        await peer.wait_audio(100)
    assert "127.0.0.1:9" in detail
    assert peer.frames == []


async def test_a_microphone_that_cannot_open_is_a_lane_fault(
    staffed: Centre, media_lane: StartLane, peers: list[ViewerPeer]
) -> None:
    """A broken intercom microphone is reported as microphone_unavailable; the video
    still flows."""
    await media_lane(microphone=lambda: DeviceMicrophone("hw:99,0", "alsa"))
    async with staffed.client("sue") as client:
        peer = await watch(client, "L1", listen=True)
        peers.append(peer)
        detail = await fault_detail(staffed, MIC_FAULT)
        await peer.wait_frames(3)
    assert "hw:99,0" in detail


async def test_a_lane_without_a_camera_says_so(
    staffed: Centre, lanes: LaneFactory, peers: list[ViewerPeer]
) -> None:
    """Watching a lane run with --camera none gives a camera fault naming why, not a
    black picture."""
    token = await staffed.add_lane("L1")
    publisher = Publisher("L1", token, camera=None, microphone=None, speaker=None)
    await lanes("L1", publisher=publisher)
    async with staffed.client("alice") as client:
        peers.append(await watch(client, "L1"))
    assert "no video source" in await fault_detail(staffed, CAMERA_FAULT)


# ------------------------------------------------------- the media connection


async def _media_close(centre: Centre, first: str | bytes) -> int | None:
    async with connect(media_url(centre.link)) as ws:
        await ws.send(first)
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    return closed.value.rcvd.code if closed.value.rcvd else None


async def test_media_connection_refuses_bad_hellos(staffed: Centre, media_lane: StartLane) -> None:
    """A wrong token, a stream nobody asked for, binary or junk first: each closed with
    its code, and no stream starts."""
    await media_lane()
    token = staffed.tokens["L1"]
    wrong = MediaHello("L1", "not-the-token", "s1").encode()
    unwanted = MediaHello("L1", token, "s1").encode()
    assert await _media_close(staffed, wrong) == CloseCode.UNAUTHORISED
    assert await _media_close(staffed, unwanted) == CloseCode.NOT_WANTED
    assert await _media_close(staffed, HEADER.pack(1, 1, 1, 1.0) + b"x") == CloseCode.MALFORMED
    assert await _media_close(staffed, '{"type":"nope"}') == CloseCode.MALFORMED
    assert not staffed.media.streaming("L1")


async def test_a_malformed_unit_closes_the_upstream_and_the_lane_redials(
    staffed: Centre, media_lane: StartLane, peers: list[ViewerPeer]
) -> None:
    """A unit that breaks the rules ends that media connection; viewers carry on once
    the lane reconnects."""
    lane = await media_lane()
    async with staffed.client("alice") as client:
        peer = await watch(client, "L1")
        peers.append(peer)
        await peer.wait_frames(3)
    wanted = lane.publisher.wanted
    assert wanted is not None
    async with connect(media_url(staffed.link)) as ws:
        await ws.send(MediaHello("L1", staffed.tokens["L1"], wanted.stream).encode())
        await ws.send(b"\x80" + bytes(HEADER.size))
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.MALFORMED
    seen = len(peer.frames)
    started = time.monotonic()
    await peer.wait_frames(seen + 5, timeout=20)
    assert time.monotonic() - started < 20


async def _as_lane(centre: Centre, lane: MediaLane, *frames: str | bytes) -> tuple[int, str]:
    """Dial the media connection for the stream ``lane`` was asked for, as the lane,
    send ``frames``; the close code and reason the centre answered with."""
    wanted = lane.publisher.wanted
    assert wanted is not None
    async with connect(media_url(centre.link), max_size=None) as ws:
        await ws.send(MediaHello("L1", centre.tokens["L1"], wanted.stream).encode())
        for frame in frames:
            await ws.send(frame)
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await asyncio.wait_for(ws.recv(), 10)
    assert closed.value.rcvd is not None
    return closed.value.rcvd.code, closed.value.rcvd.reason


def _largest_unit(extra: int = 0) -> bytes:
    payload = b"\x00\x00\x00\x01\x65" + bytes(MAX_UNIT_BYTES - 5 + extra)
    return MediaUnit(Kind.VIDEO, 1, 0, time.time(), payload, keyframe=True).encode()


async def test_the_largest_legal_unit_is_taken(
    staffed: Centre, media_lane: StartLane, peers: list[ViewerPeer]
) -> None:
    """A unit of exactly the documented maximum reaches the code and passes: what ends
    the connection is the text frame sent after it, not the unit."""
    lane = await media_lane()
    async with staffed.client("alice") as client:
        peers.append(await watch(client, "L1"))
    code, reason = await _as_lane(staffed, lane, _largest_unit(), '{"type":"nope"}')
    assert (code, reason) == (CloseCode.MALFORMED, "after media_hello only units")


async def test_a_unit_one_byte_too_large_is_refused_by_the_centre(
    staffed: Centre, media_lane: StartLane, peers: list[ViewerPeer]
) -> None:
    """One byte past the maximum is refused with 4400 too_large naming its size, not cut
    off by the transport (1009)."""
    lane = await media_lane()
    async with staffed.client("alice") as client:
        peers.append(await watch(client, "L1"))
    code, reason = await _as_lane(staffed, lane, _largest_unit(extra=1))
    assert code == CloseCode.MALFORMED
    assert reason.startswith("too_large:") and str(MAX_UNIT_BYTES + HEADER.size + 1) in reason


async def test_rotated_token_closes_the_lane_link_and_its_media_connection(
    staffed: Centre, peers: list[ViewerPeer]
) -> None:
    """A lane controller that keeps its media connection up after its link was closed
    loses that too: the media connection's token is checked again and refused, 4401."""
    token = await staffed.add_lane("L1")
    async with connect(staffed.link) as link:
        await hello(link, "L1", token)
        async with staffed.client("alice") as client:
            peers.append(await watch(client, "L1"))
        async with asyncio.timeout(10):
            while (asked := json.loads(await link.recv()))["type"] != "media":
                pass
        async with connect(media_url(staffed.link)) as media:
            await media.send(MediaHello("L1", token, asked["stream"]).encode())
            await media_event(staffed, lambda e: isinstance(e, StreamChanged) and e.streaming)
            await staffed.store.put_lane(
                LaneRecord("L1", "L1", "人民路停车场", Direction.EXIT, token_hash(new_token()))
            )
            await staffed.changes.poll()
            assert await closed_with(link) == (4401, "unknown lane or wrong token")
            assert await closed_with(media) == (4401, "the lane's token was rotated")


# ------------------------------------------------------- peers that go away

ROOT = Path(__file__).resolve().parent.parent
# Consent checks drop a vanished peer in about 4 s; aioice's own defaults take ~30 s.
VANISHED_WAIT_S = 15.0


async def test_a_viewer_whose_browser_is_killed_is_dropped_by_consent_checks(
    staffed: Centre, media_lane: StartLane
) -> None:
    """A connected tab killed outright (no DTLS close, no DELETE) is dropped within a
    few consent checks: its watch ends in the ledger long before aioice's 30 s."""
    await media_lane()
    tab = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.viewers",
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert tab.stdin is not None and tab.stdout is not None
    try:
        sdp = json.loads(await asyncio.wait_for(tab.stdout.readline(), 30))["sdp"]
        async with staffed.client("alice") as client:
            response = await client.post("/api/lanes/L1/webrtc", json={"sdp": sdp, "type": "offer"})
        assert response.status_code == 200
        tab.stdin.write(json.dumps(response.json()).encode() + b"\n")
        await tab.stdin.drain()
        assert await asyncio.wait_for(tab.stdout.readline(), 30) == b"connected\n"
        ended = audit_of(staffed, AuditAction.WATCH_ENDED)
    finally:
        if tab.returncode is None:
            tab.kill()
        await tab.wait()
    async with asyncio.timeout(VANISHED_WAIT_S):
        await ended
    assert staffed.media.viewers("L1") == []


class WatchedCamera:
    """The simulator's camera, noting each keyframe request the lane passes on to it."""

    always_on = False  # opened when watched, as the synthetic camera it wraps
    transcoding = None

    def __init__(self) -> None:
        self.camera = SyntheticCamera("L1", size=(320, 240), fps=15, gop=15)
        self.asked = asyncio.Event()

    def units(self) -> AsyncGenerator[MediaUnit, None]:
        return self.camera.units()

    def request_keyframe(self) -> None:
        self.asked.set()
        self.camera.request_keyframe()


async def test_a_viewers_picture_loss_request_reaches_the_lane_camera(
    staffed: Centre, media_lane: StartLane, peers: list[ViewerPeer]
) -> None:
    """An RTCP PLI from a viewer (what a browser sends when it cannot decode) reaches
    the lane's camera as a keyframe request."""
    camera = WatchedCamera()
    await media_lane(camera=lambda: camera)
    async with staffed.client("alice") as client:
        peer = await watch(client, "L1")
        peers.append(peer)
    await peer.wait_frames(3)
    receiver = peer.pc.getTransceivers()[0].receiver
    ssrc = receiver.getSynchronizationSources()[0].source
    camera.asked.clear()
    await receiver._send_rtcp_pli(ssrc)
    async with asyncio.timeout(10):
        await camera.asked.wait()


# A browser's offer, gathered in full as the console sends it; the tab is then closed.
BROWSER_OFFER = """async () => {
  const pc = new RTCPeerConnection();
  pc.addTransceiver("video", {direction: "recvonly"});
  await pc.setLocalDescription(await pc.createOffer());
  while (pc.iceGatheringState !== "complete") {
    await new Promise((done) => pc.addEventListener("icegatheringstatechange", done, {once: true}));
  }
  return pc.localDescription.sdp;
}"""


@pytest.mark.browser
async def test_a_browser_gone_before_its_connection_is_up_is_reaped(
    staffed: Centre, media_lane: StartLane, browser: Browser
) -> None:
    """A tab closed after offering, before ICE completes, is dropped once the connect
    time is up: its watch ends in the ledger and the lane stops streaming."""
    await media_lane()
    page = await browser.new_page()
    sdp = await page.evaluate(BROWSER_OFFER)
    await page.close()
    ended = audit_of(staffed, AuditAction.WATCH_ENDED)
    stop = media_event(staffed, stopped("L1"))
    async with staffed.client("alice") as client:
        response = await client.post("/api/lanes/L1/webrtc", json={"sdp": sdp, "type": "offer"})
    assert response.status_code == 200
    async with asyncio.timeout(staffed.settings.media_connect_s + 20):
        await ended
        await stop
    assert staffed.media.viewers("L1") == []
