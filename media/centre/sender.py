"""Sending a viewer's units as RTP through aiortc's sender, without its media loop.

aiortc's ``RTCRtpSender`` pulls each frame from a track, wraps it in an ``av.Packet``,
converts its timestamp through ``Fraction``s, packs it with the codec, builds an
``RtpPacket`` per RTP packet and reads the clock through ``datetime`` twice per packet.
For the centre, whose units arrive encoded, that work is waste: profiled with four
listeners it was about a quarter of the centre's time, beside SRTP and the socket
(docs/media.md, "What a viewer costs, per packet"). ``UnitSender`` keeps everything
else of aiortc's sender (negotiation, SRTP through the DTLS transport, RTCP sender
reports, NACK and RTX retransmission, statistics) and replaces only its RTP loop: units
come from the viewer's own ``KeyframeQueue``, and each becomes its packets with
``media.centre.rtp``.

``attach(sender, feed)`` makes a sender created by ``addTransceiver(kind)`` (no track)
a ``UnitSender``; call it before ``setRemoteDescription``. The loop keeps aiortc's
bookkeeping in private, name-mangled attributes of aiortc 1.16; importing this module
checks that aiortc's own code still uses them and raises ``ImportError`` otherwise
(``media.centre.internals``), so an upgrade that renames one fails at start-up instead
of sending sender reports with no packets counted or losing retransmissions.
"""

from __future__ import annotations

import asyncio
import logging
import random
from typing import Any, cast

import aiortc
from aiortc import RTCRtpCodecParameters, RTCRtpSender
from aiortc.mediastreams import MediaStreamError
from aiortc.rtcrtpparameters import RTCRtpSendParameters
from aiortc.rtp import RTP_HISTORY_SIZE, RtpPacket

from media.buffers import KeyframeQueue
from media.centre import rtp
from media.centre.internals import require
from media.units import AUDIO_CLOCK, VIDEO_CLOCK, Kind, MediaUnit

log = logging.getLogger("seat.media")

_STARTED = "_RTCRtpSender__rtp_started"
_EXITED = "_RTCRtpSender__rtp_exited"
_HISTORY = "_RTCRtpSender__rtp_history"
_NTP = "_RTCRtpSender__ntp_timestamp"
_RTP_TIMESTAMP = "_RTCRtpSender__rtp_timestamp"
_OCTETS = "_RTCRtpSender__octet_count"
_PACKETS = "_RTCRtpSender__packet_count"
_MID = "_RTCRtpSender__mid"
CLOCKS = {Kind.VIDEO: VIDEO_CLOCK, Kind.AUDIO: AUDIO_CLOCK}

require(
    "media.centre.sender",
    "aiortc",
    aiortc.__version__,
    "1.16",
    {
        "RTCRtpSender.send": (RTCRtpSender.send, {"_run_rtp", _MID}),
        "RTCRtpSender._run_rtp": (
            RTCRtpSender._run_rtp,
            {_STARTED, _EXITED, _HISTORY, _NTP, _RTP_TIMESTAMP, _OCTETS, _PACKETS, "_send_rtp"},
        ),
        "RTCRtpSender._run_rtcp": (
            RTCRtpSender._run_rtcp,
            {_NTP, _RTP_TIMESTAMP, _OCTETS, _PACKETS},
        ),
        "RTCRtpSender._retransmit": (RTCRtpSender._retransmit, {_HISTORY}),
        "RTCRtpSender.stop": (RTCRtpSender.stop, {_EXITED}),
    },
    "the centre's RTP would not be counted in sender reports or could not be retransmitted",
)


class UnitFeed:
    """The units waiting for one sender, in the viewer's ``KeyframeQueue`` (which
    decides what a slow viewer loses), and the wake-up for the sender's loop."""

    def __init__(self, kind: Kind, queue: KeyframeQueue) -> None:
        self.kind = kind
        self.queue = queue
        self._ready = asyncio.Event()
        self._stopped = False

    def offer(self, unit: MediaUnit) -> bool:
        """Queue ``unit``; False when the queue dropped it or the feed has stopped."""
        if unit.kind is not self.kind:
            raise ValueError(f"a {self.kind.value} feed cannot carry {unit.kind.value} units")
        if self._stopped or not self.queue.push(unit):
            return False
        self._ready.set()
        return True

    async def next(self) -> MediaUnit:
        """The next unit; raises ``MediaStreamError`` once the feed has stopped."""
        while not self._stopped:
            unit = self.queue.pop()
            if unit is not None:
                return unit
            self._ready.clear()
            await self._ready.wait()
        raise MediaStreamError

    def stop(self) -> None:
        self._stopped = True
        self._ready.set()  # a waiting sender sees it at once


class UnitSender(RTCRtpSender):
    """An ``RTCRtpSender`` whose RTP comes from a ``UnitFeed``; made by ``attach``."""

    _feed: UnitFeed
    _extension_ids: rtp.ExtensionIds

    async def send(self, parameters: RTCRtpSendParameters) -> None:
        self._extension_ids = rtp.ExtensionIds.negotiated(
            {extension.uri: extension.id for extension in parameters.headerExtensions}
        )
        await super().send(parameters)

    async def _run_rtp(self, codec: RTCRtpCodecParameters) -> None:
        state = vars(self)
        state[_STARTED].set()
        try:
            await self._send_units(codec, state)
        except (asyncio.CancelledError, ConnectionError, MediaStreamError):
            pass
        except Exception:
            # aiortc's stop() waits for the loop to say it has exited: say so whatever
            # happened, and leave the trace.
            log.exception("media.sender.failed kind=%s", self._feed.kind.value)
        state[_EXITED].set()

    async def _send_units(self, codec: RTCRtpCodecParameters, state: dict[str, Any]) -> None:
        feed = self._feed
        if codec.clockRate != CLOCKS[feed.kind]:
            raise ValueError(
                f"{codec.mimeType} runs at {codec.clockRate} Hz; {feed.kind.value} units "
                f"are stamped at {CLOCKS[feed.kind]} Hz"
            )
        payload_type = codec.payloadType
        if payload_type is None:
            raise ValueError(f"{codec.mimeType} was negotiated with no payload type")
        ssrc = self._ssrc
        mid: str | None = state[_MID]
        ids = self._extension_ids
        history: dict[int, RtpPacket] = state[_HISTORY]
        # Only a stream whose peer asked for NACK is ever retransmitted (video).
        keep = any(feedback.type == "nack" for feedback in codec.rtcpFeedback)
        # RFC 3550 5.1: both start at random values.
        sequence = random.getrandbits(16)
        origin = random.getrandbits(32)
        while True:
            unit = await feed.next()
            if not self._enabled:
                continue
            timestamp = (origin + unit.pts) & 0xFFFFFFFF
            ntp = rtp.ntp_now()
            send_time = rtp.abs_send_time(ntp)
            extensions = rtp.extension_block(ids, mid, send_time)
            parts = rtp.payloads(unit)
            last = len(parts) - 1
            for index, payload in enumerate(parts):
                marker = index == last
                if keep:
                    kept = RtpPacket(payload_type, marker, sequence, timestamp, ssrc, payload)
                    kept.extensions.mid = mid
                    kept.extensions.abs_send_time = send_time
                    history[sequence % RTP_HISTORY_SIZE] = kept
                await self.transport._send_rtp(
                    rtp.packet(payload_type, marker, sequence, timestamp, ssrc, extensions, payload)
                )
                sequence = (sequence + 1) & 0xFFFF
            # What the next sender report says: the last packet's times and the totals.
            state[_NTP] = ntp
            state[_RTP_TIMESTAMP] = timestamp
            state[_OCTETS] += sum(len(payload) for payload in parts)
            state[_PACKETS] += len(parts)


def attach(sender: RTCRtpSender, feed: UnitFeed) -> None:
    """Make ``sender`` send ``feed``'s units. It must have no track and not have
    started: call this after ``addTransceiver(kind)`` and before the offer is applied."""
    if type(sender) is not RTCRtpSender:
        raise TypeError(f"attach needs a plain aiortc RTCRtpSender, not {type(sender).__name__}")
    if sender.track is not None:
        raise ValueError("attach needs a sender with no track: its units come from the feed")
    if sender.kind != feed.kind.value:
        raise ValueError(f"a {sender.kind} sender cannot send {feed.kind.value} units")
    if vars(sender)[_STARTED].is_set():
        raise RuntimeError("attach must come before the sender starts (setRemoteDescription)")
    sender.__class__ = UnitSender
    cast(UnitSender, sender)._feed = feed
