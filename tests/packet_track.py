"""A browser's side of the intercom for tests: a WebRTC track that sends encoded Opus
(or H.264) units through aiortc's own ``RTCRtpSender``, as a browser's microphone does.

When a track's ``recv()`` returns an ``av.Packet`` instead of a frame, aiortc packetises
it with the codec's ``pack()`` and never runs an encoder. The RTP timestamp is the
unit's pts converted from the packet's time base, so pts must be in the unit's own clock
(90 kHz video, 48 kHz audio). The centre sends with ``media.centre.sender`` instead.
"""

from __future__ import annotations

import asyncio
import fractions
from collections import deque
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.units import AUDIO_CLOCK, VIDEO_CLOCK, Kind, MediaUnit

TIME_BASES = {
    Kind.VIDEO: fractions.Fraction(1, VIDEO_CLOCK),
    Kind.AUDIO: fractions.Fraction(1, AUDIO_CLOCK),
}


class PacketTrack(MediaStreamTrack):
    """A track fed with ``offer(unit)`` whose ``recv()`` returns ``av.Packet``s, holding
    at most ``capacity`` units. After ``stop()`` a waiting ``recv()`` raises
    ``MediaStreamError``, which ends the sender."""

    def __init__(self, kind: Kind, *, capacity: int) -> None:
        super().__init__()
        self.kind = kind.value
        self.media = kind
        self.capacity = capacity
        self.queue: deque[MediaUnit] = deque()
        self._time_base = TIME_BASES[kind]
        self._ready = asyncio.Event()

    def offer(self, unit: MediaUnit) -> bool:
        """Queue ``unit`` for sending; False when the track is full or has ended."""
        if unit.kind is not self.media:
            raise ValueError(f"a {self.kind} track cannot carry {unit.kind.value} units")
        if self.readyState != "live" or len(self.queue) >= self.capacity:
            return False
        self.queue.append(unit)
        self._ready.set()
        return True

    async def recv(self) -> av.Packet[Any]:
        while not self.queue:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        if self.readyState != "live":
            raise MediaStreamError
        unit = self.queue.popleft()
        packet = av.Packet(unit.data)
        packet.pts = packet.dts = unit.pts
        packet.time_base = self._time_base
        return packet

    def stop(self) -> None:
        super().stop()
        self._ready.set()  # wake a waiting recv() so it sees the track has ended
