"""One browser watching one lane: its peer connection and the tracks the centre feeds.

The centre answers the browser's offer. Video leaves as the lane's own H.264 access
units (``media.centre.sender``: packetised, never encoded), so the answer must
negotiate H.264: the H.264-only transceiver is added *before* ``setRemoteDescription``,
which is when aiortc fixes the codec list, and an answer without H.264 is refused
rather than sending bytes the browser silently drops (docs/media.md). Intercom audio is
Opus both ways and is never decoded here.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import aiortc
from aiortc import RTCIceServer, RTCRtpSender, RTCRtpTransceiver, RTCSessionDescription
from aiortc.sdp import SessionDescription

from media.buffers import KeyframeQueue
from media.centre.internals import require
from media.centre.opus import passthrough_opus
from media.centre.peer import Peer, prefer_codec, read_offer, require_ice
from media.centre.sender import UnitFeed, attach
from media.centre.viewing import Watcher
from media.errors import OfferRefused
from media.units import Kind, MediaUnit

# A viewer may fall about two seconds of 1.5 Mbit/s video behind before its queue is cut
# back to the next keyframe; beyond that, late video is no use to an agent.
VIDEO_QUEUE_BYTES = 384 * 1024

# aiortc only flags a keyframe for an encoder it runs; the lane makes the keyframes, so
# each viewer's video sender has its ``_send_keyframe``, which the sender's RTCP handler
# calls on a browser's PLI or FIR, replaced by a request to the lane.
_KEYFRAME_HOOK = "_send_keyframe"

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


def parse_offer(sdp: str, *, talk: bool, listen: bool) -> RTCSessionDescription:
    """Check a browser's offer before any peer connection exists: a video section, then
    one audio section to talk, or two to listen in (the customer, then the agent).
    Raises ``OfferRefused`` naming what is wrong."""
    parsed = read_offer(sdp)
    kinds = [media.kind for media in parsed.media]
    audio = ["audio"] if talk else ["audio", "audio"] if listen else []
    wanted = ["video", *audio]
    if kinds != wanted:
        raise OfferRefused(
            "offer_mismatch",
            f"the offer must carry media sections {wanted} in that order, not {kinds}",
        )
    if not any(codec.mimeType.lower() == "video/h264" for codec in parsed.media[0].rtp.codecs):
        raise OfferRefused("h264_required", "the browser offered no H.264 for video")
    require_ice(parsed)
    return RTCSessionDescription(sdp=sdp, type="offer")


class Viewer(Peer):
    """A peer connection carrying one lane's video, and intercom audio when ``talk`` or
    ``listen``; listening in without talking, the agent's voice on a second track.
    ``on_connected`` runs when ICE and DTLS are up; ``on_closed`` runs once, however the
    connection ends."""

    role = "viewer"

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
        super().__init__(viewer_id, ice_servers=ice_servers, on_connected=on_connected)
        self.lane = lane
        self.watcher = watcher
        self.talk = talk
        self.listen = listen or talk
        self._on_speech = on_speech
        self._on_closed = on_closed
        self._speech: RTCRtpTransceiver | None = None
        self.video_queue = KeyframeQueue(VIDEO_QUEUE_BYTES)
        self.video = UnitFeed(Kind.VIDEO, self.video_queue)
        # Audio only: the queue keeps the newest half second of the lane's microphone.
        self.audio = UnitFeed(Kind.AUDIO, KeyframeQueue(0)) if self.listen else None
        # Listening in: the agent's voice, on a track of its own (the browser mixes).
        self.agent = UnitFeed(Kind.AUDIO, KeyframeQueue(0)) if listen and not talk else None
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
        if self.agent is not None:
            agent = self.pc.addTransceiver("audio", direction="sendonly")
            prefer_codec(agent, "audio/opus")
            attach(agent.sender, self.agent)

    async def answer(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        await self.pc.setRemoteDescription(offer)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        answer = self.pc.localDescription
        negotiated = SessionDescription.parse(answer.sdp).media[0].rtp.codecs
        if not negotiated or negotiated[0].mimeType.lower() != "video/h264":
            raise OfferRefused("h264_required", "H.264 could not be negotiated for video")
        if self._speech is not None:
            # The browser's track exists once the offer is applied.
            self._relay(self._speech.receiver.track, self._spoke)
        return answer

    def send(self, unit: MediaUnit) -> None:
        feed = self.video if unit.kind is Kind.VIDEO else self.audio
        if feed is not None:
            feed.offer(unit)

    def hear_agent(self, unit: MediaUnit) -> None:
        """The agent's Opus packet, for a viewer listening in."""
        if self.agent is not None:
            self.agent.offer(unit)

    async def _spoke(self, unit: MediaUnit) -> None:
        await self._on_speech(unit.data)

    def _stop_sending(self) -> None:
        self.video.stop()
        for feed in (self.audio, self.agent):
            if feed is not None:
                feed.stop()

    def _ended(self) -> None:
        self._on_closed(self)

    def _names(self) -> str:
        return f"viewer={self.id} lane={self.lane}"
