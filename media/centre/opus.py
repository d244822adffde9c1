"""Receiving Opus over WebRTC without decoding it, for the centre's intercom bridge.

The centre forwards the agent's speech to the lane (and supervisors) as the Opus packets
the browser sent: only the far end decodes. aiortc has no public way to receive encoded
media, and its receive path adds delay the bridge does not need (docs/media.md,
"Intercom"): each audio ``RTCRtpReceiver`` holds packets in a
``JitterBuffer(capacity=16, prefetch=4)``, about 80 ms, then hands them to a decoder
thread. ``passthrough_opus(receiver)`` changes ONE receiver, before it starts:

* its jitter buffer becomes ``_ImmediateRelease``: each packet leaves as it arrives
  (Opus is one packet per frame, so there is nothing to reassemble); duplicates and
  late packets are dropped instead of re-ordered, acceptable on the centre's LAN side
  and harmless to the far end's decoder, which conceals a lost packet;
* its decoder queue becomes ``_Bypass``: packets go straight to the receiver's track
  as ``av.Packet``s (pts at 48 kHz, the ``MediaUnit`` as ``packet.opaque``), never
  through the decoder thread.

No module-level function of aiortc is replaced, so every other peer connection in the
process decodes as before. This relies on private names of aiortc 1.16 (the
name-mangled ``RTCRtpReceiver.__jitter_buffer``, ``__decoder_queue`` and ``__started``,
and ``RemoteStreamTrack._queue``). Importing this module checks that aiortc's code
still uses them and raises ``ImportError`` otherwise, so an aiortc upgrade that moves
them fails at start-up rather than making the intercom silently decode (or go mute).
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import queue
import time
from collections.abc import AsyncGenerator
from typing import Any

import aiortc
import av
from aiortc.jitterbuffer import JitterFrame
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpreceiver import RemoteStreamTrack, RTCRtpReceiver
from aiortc.rtp import RtpPacket

from media.centre.internals import require
from media.units import AUDIO_CLOCK, Kind, MediaUnit

log = logging.getLogger("seat.media")

WRITTEN_FOR = "1.16"
_JITTER = "_RTCRtpReceiver__jitter_buffer"
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"
_STARTED = "_RTCRtpReceiver__started"
_KIND = "_RTCRtpReceiver__kind"
# aiortc's own jitter buffer resynchronises after this much misorder (MAX_MISORDER).
_RESYNC = 100
# Speech nobody reads goes stale: beyond a second queued, the oldest packet is dropped.
_MAX_QUEUED = 50
_TIME_BASE = fractions.Fraction(1, AUDIO_CLOCK)


require(
    "media.opus",
    "aiortc",
    aiortc.__version__,
    WRITTEN_FOR,
    {
        "RTCRtpReceiver.__init__": (RTCRtpReceiver.__init__, {_JITTER, _DECODER_QUEUE, _STARTED}),
        "RTCRtpReceiver._handle_rtp_packet": (
            getattr(RTCRtpReceiver, "_handle_rtp_packet", None),
            {_JITTER, _DECODER_QUEUE, "add", "put"},
        ),
        "RTCRtpReceiver.receive": (
            getattr(RTCRtpReceiver, "receive", None),
            {_DECODER_QUEUE, _STARTED, "_track", "_queue"},
        ),
        "RemoteStreamTrack.__init__": (RemoteStreamTrack.__init__, {"_queue"}),
    },
    "Opus passthrough cannot work",
)


class _ImmediateRelease:
    """A jitter buffer that releases each Opus packet as it arrives, numbering them
    with the RTP sequence number unwrapped to a counter (gaps mean lost packets)."""

    def __init__(self) -> None:
        self._last: int | None = None  # RTP sequence number of the last released packet
        self._count = 0
        self._misordered = 0

    def add(self, packet: RtpPacket) -> tuple[bool, JitterFrame | None]:
        if self._last is not None:
            delta = (packet.sequence_number - self._last) & 0xFFFF
            if delta == 0 or delta >= 0x8000:  # a duplicate, or later than one released
                self._misordered += 1
                if self._misordered < _RESYNC:
                    return False, None
                delta = 1  # the sender restarted its numbering: follow it
            self._count += delta
        self._last = packet.sequence_number
        self._misordered = 0
        if not packet.payload:
            return False, None
        return False, _SequencedFrame(packet.payload, packet.timestamp, self._count)


class _SequencedFrame(JitterFrame):
    def __init__(self, data: bytes, timestamp: int, sequence: int) -> None:
        super().__init__(data, timestamp)
        self.sequence = sequence


class _Bypass(queue.Queue[Any]):
    """Stands in for a receiver's decoder queue. ``RTCRtpReceiver`` puts
    ``(codec, frame)`` on the event loop's thread; they go to the track at once. The
    ``None`` that stops the decoder thread still reaches it, and the thread then ends
    the track after every packet already delivered."""

    def __init__(self, receiver: RTCRtpReceiver) -> None:
        super().__init__()
        self._receiver = receiver
        self._warned = False
        self.stale = 0

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(item, block, timeout)
            return
        codec, frame = item
        if codec.mimeType.lower() != "audio/opus" or not isinstance(frame, _SequencedFrame):
            if not self._warned:
                log.warning("media.intercom.not_opus codec=%s dropped=true", codec.mimeType)
                self._warned = True
            return
        unit = MediaUnit(
            kind=Kind.AUDIO,
            seq=frame.sequence,
            pts=frame.timestamp,  # the receiver has mapped it to start at 0
            captured=time.time(),  # arrival here: the browser's capture time is unknown
            data=frame.data,
        )
        packet = av.Packet(unit.data)
        packet.pts = packet.dts = unit.pts
        packet.time_base = _TIME_BASE
        packet.opaque = unit
        track_queue: asyncio.Queue[Any] = self._receiver._track._queue  # type: ignore[union-attr]
        if track_queue.qsize() >= _MAX_QUEUED:
            track_queue.get_nowait()
            self.stale += 1
            if self.stale % _MAX_QUEUED == 1:  # once a second while nobody reads
                log.warning("media.intercom.stale dropped=%d queued=%d", self.stale, _MAX_QUEUED)
        track_queue.put_nowait(packet)


def passthrough_opus(receiver: RTCRtpReceiver) -> None:
    """Make ``receiver``'s track yield Opus ``av.Packet``s, each released on arrival.

    Call it after creating the audio transceiver and before ``setRemoteDescription``
    (at the latest in the ``track`` event): the receiver must not have started, since
    its decoder thread takes the queue when it starts. Negotiate Opus only on that
    transceiver (``setCodecPreferences``); packets of another codec are dropped.
    """
    if not isinstance(receiver, RTCRtpReceiver):
        raise TypeError(f"passthrough_opus needs an RTCRtpReceiver, not {type(receiver)}")
    state = vars(receiver)
    for name in (_JITTER, _DECODER_QUEUE, _STARTED, _KIND):
        if name not in state:
            raise RuntimeError(
                f"aiortc {aiortc.__version__}'s RTCRtpReceiver has no {name} (media.centre.opus "
                f"was written against aiortc {WRITTEN_FOR})"
            )
    if state[_KIND] != "audio":
        raise ValueError(f"Opus passthrough needs an audio receiver, not {state[_KIND]}")
    if state[_STARTED]:
        raise RuntimeError(
            "passthrough_opus must be called before the receiver starts "
            "(before setRemoteDescription): its decoder thread already holds the queue"
        )
    setattr(receiver, _JITTER, _ImmediateRelease())
    setattr(receiver, _DECODER_QUEUE, _Bypass(receiver))
    log.info("media.intercom.passthrough receiver=%x", id(receiver))


async def opus_units(track: MediaStreamTrack) -> AsyncGenerator[MediaUnit, None]:
    """The Opus packets of a ``passthrough_opus`` receiver's track as ``MediaUnit``s
    (pts from 0 at 48 kHz, seq from the RTP numbering, captured = arrival time here),
    until the track ends."""
    while True:
        try:
            packet = await track.recv()
        except MediaStreamError:
            return
        unit = getattr(packet, "opaque", None)
        if not isinstance(unit, MediaUnit):
            raise TypeError(
                f"the track yields {type(packet).__name__}, not Opus packets: "
                "was passthrough_opus called on its receiver before it started?"
            )
        yield unit


async def opus_packets(track: MediaStreamTrack) -> AsyncGenerator[bytes, None]:
    """The Opus payloads of a ``passthrough_opus`` receiver's track, until it ends."""
    async for unit in opus_units(track):
        yield unit.data
