"""A phone call's voice end to end with real peers: a lane agent streaming its camera
and microphone, a phone (an aiortc peer offering like the help page) sending a tone, and
the agent who answered watching the lane with the intercom on: the agent hears the
phone instead of the lane, the phone hears the agent, the lane's speaker hears nobody,
and a supervisor listening in hears both. Then every bad offer a phone can make."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from aiortc import RTCPeerConnection

from media.centre.peer import prefer_codec
from media.lane.camera import SyntheticCamera
from media.lane.publisher import Publisher
from media.lane.tones import MARK_HZ, RATE, find_bursts
from media.lane.voice import RecordingSpeaker, ToneMicrophone
from tests.conftest import Centre, Lane, LaneFactory
from tests.desks import Desk, desk
from tests.phones import Phone, phone, sticker, voice
from tests.test_media_live import AGENT_HZ, tone_only
from tests.viewers import ViewerPeer, mono, watch

LANE = "L1"
HEARD = 100.0  # RMS on the int16 scale: far above silence, far below a voice
CALLER_HZ = 800.0  # a caller's tone, told apart from an agent's


@contextlib.asynccontextmanager
async def speaking(peer: ViewerPeer, microphone: ToneMicrophone) -> AsyncIterator[None]:
    """``microphone``'s Opus packets sent from ``peer`` as they are made."""

    async def feed() -> None:
        async for unit in microphone.units():
            peer.speak(unit)

    task = asyncio.create_task(feed())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def lane_with_voice(centre: Centre, lanes: LaneFactory) -> tuple[Lane, Publisher]:
    """Lane L1 with the simulator's camera, voice and a recording speaker."""
    token = await centre.add_lane(LANE)
    publisher = Publisher(
        LANE,
        token,
        camera=lambda: SyntheticCamera(LANE, size=(320, 240), fps=15, gop=15),
        microphone=ToneMicrophone,
        speaker=RecordingSpeaker(),
    )
    return await lanes(LANE, publisher=publisher), publisher


def phone_closed(peer: ViewerPeer) -> asyncio.Event:
    """Set once the centre has closed ``peer``'s connection."""
    closed = asyncio.Event()

    def changed() -> None:
        if peer.pc.connectionState in ("closed", "failed"):
            closed.set()

    peer.pc.on("connectionstatechange", changed)
    return closed


async def answered_call(centre: Centre, page: Phone, alice: Desk) -> None:
    assert (await page.place()).status_code == 201
    await alice.next("ring")
    assert (await alice.post(f"/api/calls/{page.call_id}/accept")).status_code == 200


async def test_the_agent_hears_the_phone_and_the_phone_hears_the_agent(
    staffed: Centre, lanes: LaneFactory, peers: list[ViewerPeer]
) -> None:
    """Alice answers a phone call and opens the lane's view with the intercom: she sees
    the lane, hears the phone's tone (and not the lane: it is not even asked for its
    sound), and her voice reaches the phone, not the lane's speaker."""
    _, publisher = await lane_with_voice(staffed, lanes)
    speaker = publisher.speaker
    assert isinstance(speaker, RecordingSpeaker)
    async with phone(staffed, await sticker(staffed, LANE)) as page, desk(staffed, "alice") as a:
        await answered_call(staffed, page, a)
        handset = await voice(page)
        peers.append(handset)
        viewer = await watch(a.client, LANE, talk=True)
        peers.append(viewer)
        await viewer.wait_frames(3)
        caller = ToneMicrophone(seed=5)
        for _ in range(40):  # four seconds of marked bursts, back to back
            caller.mark()
        async with speaking(handset, caller), speaking(viewer, ToneMicrophone(seed=3)):
            await viewer.wait_tone(MARK_HZ)
            await handset.wait_audio(HEARD)
        assert publisher.wanted is not None and not publisher.wanted.audio
        assert speaker.heard == 0
        assert staffed.media.floor_holder(LANE) is None  # the lane's intercom stays free

        closed = phone_closed(handset)
        await a.post(f"/api/calls/{page.call_id}/end", {"category": "consultation"})
        async with asyncio.timeout(15):
            await closed.wait()
        # The call is over: Alice's view carries the lane's own voice again (after what
        # her browser's jitter buffer still held of the caller's).
        after = len(viewer.audio) + 25
        async with asyncio.timeout(15):
            while len(viewer.audio) < after + 50:
                viewer.audio_arrived.clear()
                await viewer.audio_arrived.wait()
        assert find_bursts(mono(viewer.audio[after:]), RATE, MARK_HZ) == []
        assert publisher.wanted is not None and publisher.wanted.audio


async def test_a_supervisor_listening_in_hears_the_caller_and_the_agent(
    staffed: Centre, lanes: LaneFactory, peers: list[ViewerPeer]
) -> None:
    """Sue listens in on Alice's phone call: the caller's tone on her first track (in
    place of the lane's sound, which is not even asked for), Alice's on the second."""
    _, publisher = await lane_with_voice(staffed, lanes)
    async with (
        phone(staffed, await sticker(staffed, LANE)) as page,
        desk(staffed, "alice") as a,
        staffed.client("sue") as sue,
    ):
        await answered_call(staffed, page, a)
        handset = await voice(page)
        peers.append(handset)
        agent = await watch(a.client, LANE, talk=True)
        peers.append(agent)
        listener = await watch(sue, LANE, listen=True)
        peers.append(listener)
        async with speaking(handset, tone_only(CALLER_HZ)), speaking(agent, tone_only(AGENT_HZ)):
            await listener.wait_tone(CALLER_HZ)
            await listener.wait_tone(AGENT_HZ, agent=True)
            await handset.wait_tone(AGENT_HZ)
        assert publisher.wanted is not None and not publisher.wanted.audio
    assert find_bursts(mono(listener.audio), RATE, AGENT_HZ) == []
    assert find_bursts(mono(listener.agent), RATE, CALLER_HZ) == []
    assert find_bursts(mono(agent.audio), RATE, AGENT_HZ) == []  # Alice hears the caller only


async def test_the_phones_voice_waits_for_the_agents_view(
    staffed: Centre, lanes: LaneFactory, peers: list[ViewerPeer]
) -> None:
    """Answered before the agent's view is open: the caller's voice reaches her once
    she opens it."""
    await lane_with_voice(staffed, lanes)
    async with phone(staffed, await sticker(staffed, LANE)) as page, desk(staffed, "alice") as a:
        assert (await page.place()).status_code == 201
        handset = await voice(page)  # before anyone answers
        peers.append(handset)
        caller = ToneMicrophone(seed=5)
        for _ in range(60):
            caller.mark()
        async with speaking(handset, caller):
            await a.next("ring")
            await a.post(f"/api/calls/{page.call_id}/accept")
            viewer = await watch(a.client, LANE, talk=True)
            peers.append(viewer)
            await viewer.wait_tone(MARK_HZ)


async def test_a_hang_up_closes_the_phones_connection(
    staffed: Centre, lanes: LaneFactory, peers: list[ViewerPeer]
) -> None:
    """The page hangs up: the centre closes the phone's peer connection."""
    await lane_with_voice(staffed, lanes)
    async with phone(staffed, await sticker(staffed, LANE)) as page:
        assert (await page.place()).status_code == 201
        handset = await voice(page)
        peers.append(handset)
        closed = phone_closed(handset)
        assert (await page.post("hangup")).json()["state"] == "ended"
        async with asyncio.timeout(15):
            await closed.wait()
        offered = await page.post("webrtc", {"sdp": "v=0", "type": "offer"})
        assert (offered.status_code, offered.json()["error"]) == (409, "call_ended")


# ------------------------------------------------------------------ bad offers


async def _offer(*, kinds: tuple[str, ...], direction: str = "sendrecv") -> str:
    """An aiortc offer with a section of each kind."""
    pc = RTCPeerConnection()
    try:
        for kind in kinds:
            transceiver = pc.addTransceiver(kind, direction=direction)
            if kind == "audio":
                prefer_codec(transceiver, "audio/opus")
        await pc.setLocalDescription(await pc.createOffer())
        sdp: str = pc.localDescription.sdp
        return sdp
    finally:
        await pc.close()


@pytest.mark.parametrize(
    ("offer", "status", "error"),
    [
        ({"kinds": ("video",)}, 400, "offer_mismatch"),
        ({"kinds": ("audio", "video")}, 400, "offer_mismatch"),
        ({"kinds": ("audio",), "direction": "recvonly"}, 400, "offer_mismatch"),
        ("PCMU", 400, "opus_required"),
        ("no-ice", 400, "malformed_sdp"),
        ({"sdp": "v=0\r\nm=audio x RTP/SAVPF 111\r\n", "type": "offer"}, 400, "malformed_sdp"),
        ({"sdp": "x" * 70_000, "type": "offer"}, 413, "too_large"),
        ({"sdp": "v=0", "type": "answer"}, 400, "bad_request"),
        ({"type": "offer"}, 400, "bad_request"),
    ],
)
async def test_bad_offers_are_refused_and_leave_no_peer(
    centre: Centre, offer: object, status: int, error: str
) -> None:
    """Offers without audio, with video, receive-only, without Opus or ICE, garbled,
    oversized or not offers: a clear error and nothing left behind."""
    await centre.add_lane(LANE)
    if isinstance(offer, dict) and "kinds" in offer:
        body: object = {"sdp": await _offer(**offer), "type": "offer"}
    elif offer == "PCMU":
        sdp = await _offer(kinds=("audio",))
        head, _, _ = sdp.partition("m=audio")
        ice = "".join(
            line + "\r\n"
            for line in sdp.splitlines()
            if line.startswith(("a=ice-", "a=fingerprint", "a=setup", "a=mid"))
        )
        pcmu = "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=sendrecv\r\n"
        body = {"sdp": head + pcmu + "a=rtpmap:0 PCMU/8000\r\n" + ice, "type": "offer"}
    elif offer == "no-ice":
        sdp = await _offer(kinds=("audio",))
        stripped = [line for line in sdp.splitlines() if not line.startswith("a=ice-")]
        body = {"sdp": "\r\n".join(stripped) + "\r\n", "type": "offer"}
    else:
        body = offer
    async with phone(centre, await sticker(centre, LANE)) as page:
        assert (await page.place()).status_code == 201
        response = await page.post("webrtc", body)
    assert (response.status_code, response.json()["error"]) == (status, error)


async def test_an_offer_needs_the_calls_secret(centre: Centre) -> None:
    """Another phone cannot put its voice on someone's call."""
    await centre.add_lane(LANE)
    async with phone(centre, await sticker(centre, LANE)) as page:
        assert (await page.place()).status_code == 201
        page.secret = "x" * 43
        response = await page.post("webrtc", {"sdp": "v=0", "type": "offer"})
    assert (response.status_code, response.json()["error"]) == (403, "wrong_secret")


async def test_a_flood_of_offers_for_one_call_is_limited(centre: Centre) -> None:
    """Each offer is a peer connection at the centre: after five, 429."""
    await centre.add_lane(LANE)
    async with phone(centre, await sticker(centre, LANE)) as page:
        assert (await page.place()).status_code == 201
        statuses = [
            (await page.post("webrtc", {"sdp": "v=0", "type": "offer"})).status_code
            for _ in range(8)
        ]
    assert statuses == [400] * 5 + [429] * 3
