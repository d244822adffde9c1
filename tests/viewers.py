"""An agent's viewer as a real aiortc peer: it offers like the console does (H.264 put
first, the intercom's audio sendrecv, a listener's two audio sections recvonly), signs
the offer through the HTTP API and keeps what arrives: decoded video frames, decoded
lane audio and, listening in, the agent's decoded voice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from dataclasses import dataclass, field

import av
import httpx
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from media.centre.peer import BUNDLE, prefer_codec
from media.lane.stamp import read_stamp
from media.lane.tones import RATE, find_bursts
from media.units import Kind, MediaUnit
from tests.packet_track import PacketTrack


@dataclass
class Seen:
    """A decoded frame: when it was shown and the capture time stamped in it."""

    at: float
    stamp: float | None
    width: int
    height: int


@dataclass
class ViewerPeer:
    pc: RTCPeerConnection
    viewer_id: str = ""
    frames: list[Seen] = field(default_factory=list)
    audio: list[np.ndarray] = field(default_factory=list)
    agent: list[np.ndarray] = field(default_factory=list)  # listening in: the agent's voice
    frame_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    audio_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    agent_arrived: asyncio.Event = field(default_factory=asyncio.Event)
    voice: PacketTrack | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.pc.close()

    async def wait_frames(self, count: int, timeout: float = 15.0) -> list[Seen]:
        async with asyncio.timeout(timeout):
            while len(self.frames) < count:
                self.frame_arrived.clear()
                await self.frame_arrived.wait()
        return self.frames

    async def wait_audio(self, rms: float, timeout: float = 15.0) -> None:
        """Wait until what this viewer heard has at least ``rms`` (int16 scale)."""
        async with asyncio.timeout(timeout):
            while self.audio_rms() < rms:
                self.audio_arrived.clear()
                await self.audio_arrived.wait()

    async def wait_tone(self, hz: float, *, agent: bool = False, timeout: float = 20.0) -> None:
        """Wait until a burst of ``hz`` was heard on the lane's track (or, with
        ``agent``, on the agent's)."""
        chunks, arrived = (
            (self.agent, self.agent_arrived) if agent else (self.audio, self.audio_arrived)
        )
        async with asyncio.timeout(timeout):
            while not find_bursts(mono(chunks), RATE, hz):
                for _ in range(25):  # half a second of packets between searches
                    arrived.clear()
                    await arrived.wait()

    def speak(self, unit: MediaUnit) -> None:
        assert self.voice is not None
        self.voice.offer(unit)

    def audio_rms(self) -> float:
        if not self.audio:
            return 0.0
        samples = np.concatenate(self.audio).astype(np.float64)
        return float(np.sqrt(np.mean(samples**2)))

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "video":
            work = self._watch(track)
        else:
            # The second audio section (a listener's) carries the agent.
            audio = [t for t in self.pc.getTransceivers() if t.kind == "audio"]
            if len(audio) == 2 and audio[1].receiver.track is track:
                work = self._hear(track, self.agent, self.agent_arrived)
            else:
                work = self._hear(track, self.audio, self.audio_arrived)
        self._tasks.append(asyncio.create_task(work))

    async def _watch(self, track: MediaStreamTrack) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.VideoFrame)
                image = np.asarray(frame.to_ndarray(format="bgr24"), np.uint8)
                self.frames.append(Seen(time.time(), read_stamp(image), frame.width, frame.height))
                self.frame_arrived.set()

    async def _hear(
        self, track: MediaStreamTrack, chunks: list[np.ndarray], arrived: asyncio.Event
    ) -> None:
        with contextlib.suppress(MediaStreamError):
            while True:
                frame = await track.recv()
                assert isinstance(frame, av.AudioFrame)
                chunks.append(frame.to_ndarray().reshape(-1))
                arrived.set()


def mono(chunks: list[np.ndarray]) -> np.ndarray:
    """One channel of what a track decoded to (aiortc decodes Opus to interleaved stereo)."""
    return np.concatenate(chunks)[::2] if chunks else np.zeros(0, np.int16)


async def offer(*, talk: bool = False, listen: bool = False) -> ViewerPeer:
    """A viewer peer with its offer set as local description (candidates gathered)."""
    # One transport for every section, as a browser does (media.centre.peer.BUNDLE).
    peer = ViewerPeer(RTCPeerConnection(RTCConfiguration(bundlePolicy=BUNDLE)))
    peer.pc.on("track", peer._on_track)
    prefer_codec(peer.pc.addTransceiver("video", direction="recvonly"), "video/H264")
    if talk:
        peer.voice = PacketTrack(Kind.AUDIO, capacity=100)
        prefer_codec(peer.pc.addTransceiver(peer.voice, direction="sendrecv"), "audio/opus")
    elif listen:  # the lane's (or a phone caller's) sound, then the agent's voice
        for _ in range(2):
            prefer_codec(peer.pc.addTransceiver("audio", direction="recvonly"), "audio/opus")
    await peer.pc.setLocalDescription(await peer.pc.createOffer())
    return peer


async def watch(
    client: httpx.AsyncClient, lane: str, *, talk: bool = False, listen: bool = False
) -> ViewerPeer:
    """Offer, sign through ``POST /api/lanes/{lane}/webrtc`` and apply the answer."""
    peer = await offer(talk=talk, listen=listen)
    try:
        response = await client.post(
            f"/api/lanes/{lane}/webrtc",
            json={
                "sdp": peer.pc.localDescription.sdp,
                "type": "offer",
                "intercom": talk,
                "listen": listen,
            },
        )
        response.raise_for_status()
        body = response.json()
        peer.viewer_id = body["viewer"]
        await peer.pc.setRemoteDescription(RTCSessionDescription(body["sdp"], body["type"]))
    except BaseException:
        await peer.close()
        raise
    return peer


async def _vanishing_tab() -> None:
    """``python -m tests.viewers``: a viewer peer in a process of its own, a browser tab
    a test can kill outright. It prints its offer as a JSON line, reads the answer as
    one, then prints ``connected`` once it has a frame and waits to be killed."""
    peer = await offer()
    print(json.dumps({"sdp": peer.pc.localDescription.sdp}), flush=True)
    answer = json.loads(await asyncio.to_thread(sys.stdin.readline))
    await peer.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
    await peer.wait_frames(1)  # both ends are up: the centre is sending
    print("connected", flush=True)
    await asyncio.Event().wait()  # until killed: a vanished tab says no goodbye


if __name__ == "__main__":
    asyncio.run(_vanishing_tab())
