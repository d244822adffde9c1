"""The lane's answer to an intercom's SDP offer (RFC 3264), without sockets.

The SIP stack negotiates the codec; what is ours is what an intercom's firmware does
that a softphone does not: an offer whose audio is ``m=audio 0`` (a stream the
intercom turned off, or a video-only call) is answered with that stream refused, port
0 again, and the call goes on without sound; an offer with no G.711 is refused
with 488. An offer's address is where our audio goes, so it must be the intercom's own:
a UDP source is easily forged on the lane's LAN, and an INVITE forged from the
intercom's address with another ``c=`` would take the agent's voice elsewhere and play
what came from there (refused with 488).
"""

from __future__ import annotations

from dataclasses import dataclass

from aiosipua import SdpMessage
from aiosipua.sdp import MediaDescription
from aiosipua.sdp_negotiate import SdpNegotiationError, build_sdp, negotiate_sdp

PCMU = 0
PCMA = 8
G711 = {PCMU: "PCMU", PCMA: "PCMA"}
HELD = "0.0.0.0"


class OfferRefused(Exception):
    """The offer cannot be answered; ``status`` is the SIP response that says so."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Answer:
    """``sdp`` goes back in the 200 OK. ``remote`` is where to send RTP and
    ``payload_type`` the G.711 law to send it in; both None when the audio stream was
    refused (``m=audio 0``)."""

    sdp: SdpMessage
    payload_type: int | None
    remote: tuple[str, int] | None


def answer(
    offer: SdpMessage | None,
    local_ip: str,
    rtp_port: int,
    session: str,
    version: int,
    intercom_ip: str,
) -> Answer:
    """Answer ``offer`` with our RTP at ``local_ip:rtp_port``. ``session`` is the
    dialog's ``o=`` session id and ``version`` the answer's, one more for each answer in
    the dialog (RFC 3264 §8); the audio must come from ``intercom_ip``."""
    if offer is None:
        raise OfferRefused(488, "an INVITE without an SDP offer")
    audio = offer.audio
    if audio is None:
        raise OfferRefused(488, "the offer has no audio stream")
    if audio.port == 0:
        sdp = build_sdp(local_ip, 0, PCMU, G711[PCMU], dtmf_payload_type=0)
        sdp.media = [_refused(m) for m in offer.media]
        return Answer(_versioned(sdp, session, version), None, None)
    try:
        sdp, payload_type = negotiate_sdp(
            offer, local_ip, rtp_port, supported_codecs=list(G711), session_id=session
        )
    except SdpNegotiationError as exc:
        raise OfferRefused(488, str(exc)) from None
    remote = offer.rtp_address
    if remote is None:
        raise OfferRefused(488, "the offer gives no address for its audio (no c= line)")
    if remote[0] == HELD:
        # A hold the old way (RFC 2543, still sent by door-station firmware, and RFC
        # 3264 §8.4 asks answerers to take it): no audio until the next offer.
        return Answer(_versioned(sdp, session, version), payload_type, None)
    if remote[0] != intercom_ip:
        raise OfferRefused(488, f"the offer's audio is at {remote[0]}, not the intercom's address")
    return Answer(_versioned(sdp, session, version), payload_type, remote)


def _refused(media: MediaDescription) -> MediaDescription:
    return MediaDescription(media=media.media, port=0, proto=media.proto, formats=media.formats)


def _versioned(sdp: SdpMessage, session: str, version: int) -> SdpMessage:
    sdp.origin.session_id = session
    sdp.origin.session_version = str(version)
    return sdp
