"""One browser watching one lane: its peer connection and the tracks the centre feeds.

The centre answers the browser's offer. Video leaves as the lane's own H.264 access
units (``media.centre.sender``: packetised, never encoded), so the answer must
negotiate H.264: the H.264-only transceiver is added *before* ``setRemoteDescription``,
which is when aiortc fixes the codec list, and an answer without H.264 is refused
rather than sending bytes the browser silently drops (docs/media.md). Intercom audio is
Opus both ways and is never decoded here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import aioice
import aioice.ice
import aiortc
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription

from media.buffers import KeyframeQueue
from media.centre.internals import require
from media.centre.opus import opus_packets, passthrough_opus
from media.centre.sender import UnitFeed, attach
from media.centre.viewing import Watcher
from media.errors import OfferRefused
from media.units import Kind, MediaUnit

log = logging.getLogger("seat.media")

MAX_SDP_BYTES = 64 * 1024
# A viewer may fall about two seconds of 1.5 Mbit/s video behind before its queue is cut
# back to the next keyframe; beyond that, late video is no use to an agent.
VIDEO_QUEUE_BYTES = 384 * 1024

# aioice checks an idle pair's consent every 5 s and gives up after 6 misses: a killed
# browser would hold its viewer (and the lane's upstream) for ~30 s. Once a second and 3
# misses ends it in ~4 s (RFC 7675 allows any interval under 30 s). aioice has no
# per-connection setting: ``Connection.query_consent`` reads these module constants on
# each round, so this sets them for the whole centre process.
CONSENT_INTERVAL_S = 1
CONSENT_FAILURES = 3
# aiortc only flags a keyframe for an encoder it runs; the lane makes the keyframes, so
# each viewer's video sender has its ``_send_keyframe``, which the sender's RTCP handler
# calls on a browser's PLI or FIR, replaced by a request to the lane.
_KEYFRAME_HOOK = "_send_keyframe"

require(
    "media.viewer",
    "aioice",
    aioice.__version__,
    "0.13",
    {
        "ice.Connection.query_consent": (
            getattr(aioice.ice.Connection, "query_consent", None),
            {"CONSENT_INTERVAL", "CONSENT_FAILURES"},
        )
    },
    "a vanished browser would hold its viewer for aioice's default ~30 s",
)
require(
    "media.viewer",
    "aiortc",
    aiortc.__version__,
    "1.16",
    {
        "RTCRtpSender._handle_rtcp_packet": (
            getattr(RTCRtpSender, "_handle_rtcp_packet", None),
            {_KEYFRAME_HOOK, "RTCP_PSFB_PLI", "RTCP_PSFB_FIR"},
        )
    },
    "a browser's picture-loss request would never reach the lane",
)
aioice.ice.CONSENT_INTERVAL = CONSENT_INTERVAL_S
aioice.ice.CONSENT_FAILURES = CONSENT_FAILURES


def parse_offer(sdp: str, *, audio: bool) -> RTCSessionDescription:
    """Check a browser's offer before any peer connection exists; raises
    ``OfferRefused`` naming what is wrong."""
    if len(sdp.encode("utf-8")) > MAX_SDP_BYTES:
        raise OfferRefused("sdp_too_large", f"an offer is at most {MAX_SDP_BYTES} bytes")
    try:
        parsed = SessionDescription.parse(sdp)
    except (ValueError, IndexError, KeyError, AttributeError, TypeError, AssertionError) as exc:
        raise OfferRefused("malformed_sdp", f"the offer is not valid SDP: {exc}") from None
    kinds = [media.kind for media in parsed.media]
    wanted = ["video", "audio"] if audio else ["video"]
    if kinds != wanted:
        raise OfferRefused(
            "offer_mismatch",
            f"the offer must carry media sections {wanted} in that order, not {kinds}",
        )
    if not any(codec.mimeType.lower() == "video/h264" for codec in parsed.media[0].rtp.codecs):
        raise OfferRefused("h264_required", "the browser offered no H.264 for video")
    if any(media.ice is None or not media.ice.usernameFragment for media in parsed.media):
        raise OfferRefused("malformed_sdp", "the offer carries no ICE credentials")
    return RTCSessionDescription(sdp=sdp, type="offer")


class Viewer:
    """A peer connection carrying one lane's video, and intercom audio when ``talk`` or
    ``listen``. ``on_connected`` runs when ICE and DTLS are up; ``on_closed`` runs once,
    however the connection ends."""

    def __init__(
        self,
        viewer_id: str,
        lane: str,
        watcher: Watcher,
        *,
        talk: bool,
        listen: bool,
        ice_servers: list[RTCIceServer],
        on_keyframe: Callable[[], None],
        on_speech: Callable[[bytes], Awaitable[None]],
        on_closed: Callable[[Viewer], None],
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        self.id = viewer_id
        self.lane = lane
        self.watcher = watcher
        self.talk = talk
        self.listen = listen or talk
        self._on_speech = on_speech
        self._on_closed = on_closed
        self._on_connected = on_connected
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._speech: RTCRtpTransceiver | None = None
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers))
        self.video_queue = KeyframeQueue(VIDEO_QUEUE_BYTES)
        self.video = UnitFeed(Kind.VIDEO, self.video_queue)
        # Audio only: the queue keeps the newest half second of the lane's microphone.
        self.audio = UnitFeed(Kind.AUDIO, KeyframeQueue(0)) if self.listen else None
        video = self.pc.addTransceiver("video", direction="sendonly")
        prefer_codec(video, "video/H264")
        attach(video.sender, self.video)
        setattr(video.sender, _KEYFRAME_HOOK, on_keyframe)
        if self.audio is not None:
            audio = self.pc.addTransceiver("audio", direction="sendrecv" if talk else "sendonly")
            prefer_codec(audio, "audio/opus")
            attach(audio.sender, self.audio)
            if talk:
                passthrough_opus(audio.receiver)
                self._speech = audio
        self.pc.on("connectionstatechange", self._state_changed)

    async def answer(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        await self.pc.setRemoteDescription(offer)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        answer = self.pc.localDescription
        negotiated = SessionDescription.parse(answer.sdp).media[0].rtp.codecs
        if not negotiated or negotiated[0].mimeType.lower() != "video/h264":
            raise OfferRefused("h264_required", "H.264 could not be negotiated for video")
        if self._speech is not None:
            # The browser's track exists once the offer is applied. It is always read:
            # a received track nobody reads queues frames without bound.
            self._spawn(self._relay_speech(self._speech.receiver.track))
        return answer

    def send(self, unit: MediaUnit) -> None:
        feed = self.video if unit.kind is Kind.VIDEO else self.audio
        if feed is not None:
            feed.offer(unit)

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        self.video.stop()
        if self.audio is not None:
            self.audio.stop()
        await self.pc.close()
        self._on_closed(self)

    async def _state_changed(self) -> None:
        state = self.pc.connectionState
        log.info("media.viewer.state viewer=%s lane=%s state=%s", self.id, self.lane, state)
        if state == "connected" and self._on_connected is not None:
            self._on_connected()
        elif state in ("failed", "closed"):
            await self.close()

    async def _relay_speech(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            async for packet in opus_packets(track):
                await self._on_speech(packet)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def prefer_codec(transceiver: RTCRtpTransceiver, mime: str) -> None:
    """Offer or answer only ``mime`` on this transceiver (e.g. "video/H264"): a peer
    that negotiates anything else cannot use the lane's passed-through units."""
    codecs = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType.lower() == mime.lower()])
