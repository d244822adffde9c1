"""The intercom's call as the lane's sound: PCM at 8 kHz, in 20 ms frames, each way.

With a SIP intercom the lane has no sound card of its own: the driver speaks into the
intercom, and the agent's voice must come out of it. While a call is up, what the
intercom sends is handed to whoever listens (the media publisher's microphone, which
makes Opus of it: ``media.lane.g711``) and what the lane says goes into the call;
between calls listeners wait, and what is said has nowhere to go, so it is dropped
and counted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

# Sound queued longer than this is stale: a late word is worse than a lost one.
MAX_QUEUED = 25

Send = Callable[[bytes], object]


class CallAudio:
    """``gates.hardware.parts.LaneAudio`` over the call that is up: ``heard`` is the
    call's audio arriving, ``connect`` gives where the lane's speech goes until
    ``disconnect``."""

    def __init__(self) -> None:
        self._listeners: set[asyncio.Queue[bytes]] = set()
        self._send: Send | None = None
        self.dropped = 0

    def heard(self, pcm: bytes) -> None:
        for queue in self._listeners:
            if queue.qsize() >= MAX_QUEUED:
                queue.get_nowait()
            queue.put_nowait(pcm)

    def connect(self, send: Send) -> None:
        self._send = send

    def disconnect(self, send: Send) -> None:
        """Stop sending to ``send``; a call that replaced it keeps its own."""
        if self._send == send:
            self._send = None

    def listen(self) -> asyncio.Queue[bytes]:
        queue: asyncio.Queue[bytes] = asyncio.Queue()
        self._listeners.add(queue)
        return queue

    def unlisten(self, queue: asyncio.Queue[bytes]) -> None:
        self._listeners.discard(queue)

    def say(self, pcm: bytes) -> None:
        if self._send is None:
            self.dropped += 1
            return
        self._send(pcm)
