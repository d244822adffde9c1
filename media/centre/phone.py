"""A caller's phone on the help page: its peer connection at the centre.

One audio section, Opus both ways, never decoded here: the phone's microphone arrives
as Opus packets (``passthrough_opus``) for the switchboard to route to the agent who
holds the call, and the agent's Opus packets leave through the centre's own RTP sender
(``media.centre.sender``), as a viewer's lane audio does.
"""

from __future__ import annotations

from collections.abc import Callable

from aiortc import RTCIceServer, RTCSessionDescription
from aiortc.sdp import SessionDescription

from media.buffers import KeyframeQueue
from media.centre.opus import passthrough_opus
from media.centre.peer import Peer, prefer_codec, read_offer, require_ice
from media.centre.sender import UnitFeed, attach
from media.errors import OfferRefused
from media.units import Kind, MediaUnit


def parse_phone_offer(sdp: str) -> RTCSessionDescription:
    """Check a phone's offer before any peer connection exists: one audio section that
    sends and receives, with Opus. Raises ``OfferRefused`` naming what is wrong."""
    parsed = read_offer(sdp)
    kinds = [media.kind for media in parsed.media]
    if kinds != ["audio"]:
        raise OfferRefused(
            "offer_mismatch", f"a phone's offer carries one audio section, not {kinds}"
        )
    audio = parsed.media[0]
    if audio.direction != "sendrecv":
        raise OfferRefused(
            "offer_mismatch",
            f"a phone's audio is sendrecv (its microphone, the agent's voice), not "
            f"{audio.direction}",
        )
    if not any(codec.mimeType.lower() == "audio/opus" for codec in audio.rtp.codecs):
        raise OfferRefused("opus_required", "the phone offered no Opus")
    require_ice(parsed)
    return RTCSessionDescription(sdp=sdp, type="offer")


class PhonePeer(Peer):
    """The phone of call ``line``: ``on_voice`` gets each Opus packet it sends,
    ``send`` queues the agent's; ``on_closed`` runs once, however it ends."""

    role = "phone"

    def __init__(
        self,
        phone_id: str,
        line: str,
        *,
        ice_servers: list[RTCIceServer],
        on_voice: Callable[[MediaUnit], None],
        on_closed: Callable[[PhonePeer], None],
    ) -> None:
        super().__init__(phone_id, ice_servers=ice_servers)
        self.line = line
        self._on_voice = on_voice
        self._on_closed = on_closed
        # The agent's voice: the queue keeps the newest half second.
        self.voice = UnitFeed(Kind.AUDIO, KeyframeQueue(0))
        self._audio = self.pc.addTransceiver("audio", direction="sendrecv")
        prefer_codec(self._audio, "audio/opus")
        attach(self._audio.sender, self.voice)
        passthrough_opus(self._audio.receiver)

    async def answer(self, offer: RTCSessionDescription) -> RTCSessionDescription:
        await self.pc.setRemoteDescription(offer)
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        answer = self.pc.localDescription
        negotiated = SessionDescription.parse(answer.sdp).media[0].rtp.codecs
        if not negotiated or negotiated[0].mimeType.lower() != "audio/opus":
            raise OfferRefused("opus_required", "Opus could not be negotiated")
        self._relay(self._audio.receiver.track, self._heard)
        return answer

    def send(self, unit: MediaUnit) -> None:
        self.voice.offer(unit)

    async def _heard(self, unit: MediaUnit) -> None:
        self._on_voice(unit)

    def _stop_sending(self) -> None:
        self.voice.stop()

    def _ended(self) -> None:
        self._on_closed(self)

    def _names(self) -> str:
        return f"phone={self.id} call={self.line}"
