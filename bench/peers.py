"""Viewer peers for the media benchmarks, and the two ways they get an answer.

A ``ViewerPeer`` offers like the console (H.264 only for video; with ``talk``, Opus
sendrecv for the intercom) and either decodes its video, noting when each frame was
shown and the capture time stamped in it, or only counts the frames aiortc reassembles
(``decode=False``: many viewers in one process then cost the machine RTP and SRTP, not
one H.264 decoder each). Intercom audio it receives is kept as Opus packets
(``media.centre.opus``) and decoded by a ``RecordingSpeaker``, exactly as the lane's speaker
decodes the agent's voice, so both directions of the intercom are timed the same way.

An offer is answered either by the centre (``CentreLane``: ``POST /api/login``, then
``POST /api/lanes/{id}/webrtc`` with the ``X-CSRF-Token`` header) or by a ``DirectLane``
(``bench.direct_lane``) in this process; both take the offer and return the answer.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import av
import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCRtpTransceiver, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.centre.opus import opus_units, passthrough_opus
from media.centre.peer import BUNDLE, prefer_codec
from media.lane.stamp import read_stamp
from media.lane.voice import RecordingSpeaker, ToneMicrophone
from media.units import Kind, MediaUnit
from tests.packet_track import PacketTrack

# aiortc 1.16's receiver hands each reassembled frame to its decoder thread through this
# queue (media/centre/opus.py relies on the same name).
_DECODER_QUEUE = "_RTCRtpReceiver__decoder_queue"


class Answerer(Protocol):
    """Whatever answers a viewer's offer for one lane."""

    async def watch(self, sdp: str, *, talk: bool = False, listen: bool = False) -> tuple[str, str]:
        """The viewer's id and the answer SDP."""
        ...

    async def unwatch(self, viewer_id: str) -> None: ...


@dataclass(frozen=True, slots=True)
class Shown:
    """A decoded frame: when it reached the viewer (Unix time), its stamped capture time
    and whether it was a keyframe."""

    at: float
    stamp: float | None
    keyframe: bool


class FrameCounter(queue.Queue[Any]):
    """Stands in for a video receiver's decoder queue: counts the H.264 frames aiortc
    reassembled and drops them. The ``None`` that stops the decoder thread still reaches
    it, so the receiver shuts down as usual."""

    def __init__(self, on_frame: Callable[[], None]) -> None:
        super().__init__()
        self.frames = 0
        self._on_frame = on_frame

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if item is None:
            super().put(item, block, timeout)
            return
        self.frames += 1
        self._on_frame()  # the receiver puts on the event loop's thread


def stamp_of(frame: av.VideoFrame) -> float | None:
    """The capture time stamped in a decoded frame, read from its luma plane without
    converting the picture (a 1280x720 BGR conversion costs more than the decode)."""
    if frame.format.name not in ("yuv420p", "yuvj420p"):
        return read_stamp(frame.to_ndarray(format="gray").astype(np.uint8))
    plane = frame.planes[0]
    luma = np.frombuffer(memoryview(plane), np.uint8).reshape(-1, plane.line_size)
    return read_stamp(luma[: frame.height, : frame.width])


class ViewerPeer:
    """An agent's viewer: one peer connection, offering; ``first_frame`` resolves to
    ``perf_counter()`` when its first video frame was decoded (or, not decoding, was
    reassembled)."""

    def __init__(self, *, decode: bool = True, talk: bool = False, listen: bool = False) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(bundlePolicy=BUNDLE))
        self.viewer_id = ""
        self.listen = listen and not talk
        self.shown: list[Shown] = []
        self.first_frame: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self.counter: FrameCounter | None = None
        self.voice: PacketTrack | None = None
        self.heard: RecordingSpeaker | None = None
        self._tasks: list[asyncio.Task[None]] = []
        video = self.pc.addTransceiver("video", direction="recvonly")
        prefer_codec(video, "video/H264")
        if not decode:
            self.counter = FrameCounter(self._frame_arrived)
            setattr(video.receiver, _DECODER_QUEUE, self.counter)
        if talk or listen:
            # Kept as Opus packets: a speaker decodes them when there is one, a
            # listener that only counts them costs this process no decoder.
            self.voice = PacketTrack(Kind.AUDIO, capacity=50) if talk else None
            direction = "sendrecv" if talk else "recvonly"
            audio = self.pc.addTransceiver(self.voice or "audio", direction=direction)
            prefer_codec(audio, "audio/opus")
            passthrough_opus(audio.receiver)
            self.heard = RecordingSpeaker() if decode else None
        self._agent: RTCRtpTransceiver | None = None
        if self.listen:
            # A listener's offer carries the agent's voice as well: read, never decoded.
            self._agent = self.pc.addTransceiver("audio", direction="recvonly")
            prefer_codec(self._agent, "audio/opus")
            passthrough_opus(self._agent.receiver)
        self.pc.on("track", self._on_track)

    async def offer(self) -> str:
        """The offer SDP, with every host candidate gathered (as a browser's non-trickle
        offer to the centre)."""
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return str(self.pc.localDescription.sdp)

    async def accept(self, viewer_id: str, answer: str) -> None:
        self.viewer_id = viewer_id
        await self.pc.setRemoteDescription(RTCSessionDescription(answer, "answer"))

    async def connect(self, lane: Answerer) -> float:
        """Offer, get the answer, apply it; returns ``perf_counter()`` when the offer
        left, the start of the first-frame figure."""
        sdp = await self.offer()
        started = time.perf_counter()
        viewer_id, answer = await lane.watch(sdp, talk=self.voice is not None, listen=self.listen)
        await self.accept(viewer_id, answer)
        return started

    async def speak(self, microphone: ToneMicrophone) -> None:
        """Send the microphone's packets as the agent's voice until cancelled."""
        assert self.voice is not None
        async for unit in microphone.units():
            self.voice.offer(unit)

    def keep_speaking(self, microphone: ToneMicrophone) -> None:
        """``speak`` until this peer closes."""
        self._tasks.append(asyncio.create_task(self.speak(microphone)))

    async def packets(self) -> dict[str, int]:
        """RTP packets received so far, by kind, from the peer connection's stats."""
        stats = await self.pc.getStats()
        counts = {"video": 0, "audio": 0}
        for stat in stats.values():
            if stat.type == "inbound-rtp":
                counts[stat.kind] += stat.packetsReceived
        return counts

    def frames_since_join(self) -> list[Shown]:
        """Frames after the first GOP this viewer decoded: the catch-up burst a joining
        viewer is sent is up to a GOP old by design, and so is the rest of that GOP's
        decoding order, so frame age starts at the second keyframe."""
        keyframes = [i for i, frame in enumerate(self.shown) if frame.keyframe]
        return self.shown[keyframes[1] :] if len(keyframes) > 1 else []

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pc.close()

    def _frame_arrived(self) -> None:
        if not self.first_frame.done():
            self.first_frame.set_result(time.perf_counter())

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video" and self.counter is None:
            self._tasks.append(asyncio.create_task(self._watch(track)))
        elif track.kind == "audio":
            agent = self._agent is not None and self._agent.receiver.track is track
            speaker = None if agent else self.heard
            self._tasks.append(asyncio.create_task(self._hear(track, speaker)))

    async def _watch(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)
                self._frame_arrived()
                self.shown.append(Shown(time.time(), stamp_of(frame), frame.key_frame))

    async def _hear(self, track: MediaStreamTrack, speaker: RecordingSpeaker | None) -> None:
        async for unit in opus_units(track):  # read even unheard: an unread track queues
            if speaker is not None:
                speaker.play(unit)


class CentreLane:
    """One lane on the centre, through its HTTP API as a logged-in agent."""

    def __init__(self, client: httpx.AsyncClient, lane: str) -> None:
        self.client = client
        self.lane = lane

    @staticmethod
    async def login(base_url: str, username: str, password: str) -> httpx.AsyncClient:
        client = httpx.AsyncClient(base_url=base_url, timeout=30)
        try:
            response = await client.post(
                "/api/login", json={"username": username, "password": password}
            )
            response.raise_for_status()
        except BaseException:
            await client.aclose()
            raise
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        return client

    async def watch(self, sdp: str, *, talk: bool = False, listen: bool = False) -> tuple[str, str]:
        response = await self.client.post(
            f"/api/lanes/{self.lane}/webrtc",
            json={"sdp": sdp, "type": "offer", "intercom": talk, "listen": listen},
        )
        response.raise_for_status()
        body = response.json()
        return str(body["viewer"]), str(body["sdp"])

    async def unwatch(self, viewer_id: str) -> None:
        response = await self.client.delete(f"/api/lanes/{self.lane}/webrtc/{viewer_id}")
        response.raise_for_status()


async def leave(peer: ViewerPeer, lane: Answerer) -> None:
    """Close a viewer the way the console does: tell the answering side, then hang up."""
    try:
        if peer.viewer_id:
            await lane.unwatch(peer.viewer_id)
    finally:
        await peer.close()


def speech_unit(seq: int, packet: bytes) -> MediaUnit:
    """An Opus packet as the lane's speaker takes it (it reads the payload only)."""
    return MediaUnit(Kind.AUDIO, seq, seq * 960, time.time(), packet)
