"""A WebRTC track that sends encoded units as they are, for video and audio alike.

When a track's ``recv()`` returns an ``av.Packet`` instead of a frame, aiortc's
``RTCRtpSender`` packetises it with the codec's ``pack()`` and never runs an encoder
(docs/media.md): the lane's H.264 and Opus leave the centre byte for byte, and the
centre spends no CPU on codecs. The RTP timestamp is the unit's pts converted from the
packet's time base, so pts must be in the unit's own clock (90 kHz video, 48 kHz audio).

Each track owns one bounded queue, so a slow peer connection holds up nobody else. What
to drop when it is full depends on the media (video must resume at a keyframe), so the
queue is chosen by the caller: ``capacity=`` gives a plain FIFO that refuses units when
full, or any ``UnitQueue`` (``media.buffers.KeyframeQueue``) brings its own policy.
"""

from __future__ import annotations

import asyncio
import fractions
from collections import deque
from typing import Any, Protocol

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.units import AUDIO_CLOCK, VIDEO_CLOCK, Kind, MediaUnit

TIME_BASES = {
    Kind.VIDEO: fractions.Fraction(1, VIDEO_CLOCK),
    Kind.AUDIO: fractions.Fraction(1, AUDIO_CLOCK),
}


class UnitQueue(Protocol):
    """Where a track's units wait; ``push`` returns False when it dropped the unit."""

    def push(self, unit: MediaUnit) -> bool: ...

    def pop(self) -> MediaUnit | None: ...

    def __len__(self) -> int: ...


class BoundedQueue:
    """A FIFO of at most ``capacity`` units that refuses new ones when full, leaving
    the choice of what to drop to the caller."""

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"a queue holds at least one unit, not {capacity}")
        self.capacity = capacity
        self._units: deque[MediaUnit] = deque()

    def __len__(self) -> int:
        return len(self._units)

    def push(self, unit: MediaUnit) -> bool:
        if len(self._units) >= self.capacity:
            return False
        self._units.append(unit)
        return True

    def pop(self) -> MediaUnit | None:
        return self._units.popleft() if self._units else None

    def clear(self) -> int:
        """Drop everything queued (a video caller skipping to the next keyframe);
        returns how many units went."""
        dropped = len(self._units)
        self._units.clear()
        return dropped


class PacketTrack(MediaStreamTrack):
    """A track fed with ``offer(unit)`` whose ``recv()`` returns ``av.Packet``s.

    Give either ``capacity`` (a ``BoundedQueue``) or a ``queue`` of your own. After
    ``stop()`` a waiting ``recv()`` raises ``MediaStreamError``, which ends the sender.
    """

    def __init__(
        self, kind: Kind, queue: UnitQueue | None = None, *, capacity: int | None = None
    ) -> None:
        super().__init__()
        if (queue is None) == (capacity is None):
            raise TypeError("give a PacketTrack either a queue or a capacity")
        self.kind = kind.value
        self.media = kind
        self.queue: UnitQueue = queue if queue is not None else BoundedQueue(capacity or 0)
        self._time_base = TIME_BASES[kind]
        self._ready = asyncio.Event()

    def offer(self, unit: MediaUnit) -> bool:
        """Queue ``unit`` for sending; False when the queue refused it or the track has
        ended (``readyState`` tells which)."""
        if unit.kind is not self.media:
            raise ValueError(f"a {self.kind} track cannot carry {unit.kind.value} units")
        if self.readyState != "live" or not self.queue.push(unit):
            return False
        self._ready.set()
        return True

    async def recv(self) -> av.Packet[Any]:
        while (unit := self.queue.pop()) is None:
            if self.readyState != "live":
                raise MediaStreamError
            self._ready.clear()
            await self._ready.wait()
        if self.readyState != "live":
            raise MediaStreamError
        packet = av.Packet(unit.data)
        packet.pts = packet.dts = unit.pts
        packet.time_base = self._time_base
        return packet

    def stop(self) -> None:
        super().stop()
        self._ready.set()  # wake a waiting recv() so it sees the track has ended
