"""The centre's RTP sender: units in, RTP out through aiortc's sender, read by a real
aiortc peer (decoded frames, its statistics, its retransmission requests)."""

from __future__ import annotations

import asyncio
import fractions
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpTransceiver
from aiortc.mediastreams import MediaStreamError
from aiortc.rtp import AnyRtcpPacket, RtcpSrPacket, is_rtcp

from media.buffers import KeyframeQueue
from media.centre import rtp
from media.centre.peer import prefer_codec
from media.centre.sender import UnitFeed, UnitSender, attach
from media.lane.voice import opus_encoder
from media.units import Kind, MediaUnit
from tests.packet_track import PacketTrack

MIME = {Kind.VIDEO: "video/H264", Kind.AUDIO: "audio/opus"}


def video(seq: int, data: bytes = b"\x00\x00\x00\x01\x65", *, key: bool = False) -> MediaUnit:
    return MediaUnit(Kind.VIDEO, seq, seq * 6000, 1.0, data, keyframe=key)


def audio(seq: int) -> MediaUnit:
    return MediaUnit(Kind.AUDIO, seq, seq * 960, 1.0, bytes([seq]) * 40)


def h264_units(count: int, size: tuple[int, int] = (320, 240)) -> list[MediaUnit]:
    """Real H.264 access units (a keyframe every 5), as a lane sends them."""
    width, height = size
    encoder = av.VideoCodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 90000)
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "x264-params": "keyint=5"}
    units: list[MediaUnit] = []
    for n in range(count):
        # Some noise, so frames take several packets; not so much that they are huge.
        image = np.full((height, width, 3), n * 20 % 256, np.uint8)
        image[:64, :64] = np.random.default_rng(n).integers(0, 255, (64, 64, 3), np.uint8)
        frame = av.VideoFrame.from_ndarray(image, "rgb24")
        frame.pts = n * 6000
        for packet in encoder.encode(frame.reformat(format="yuv420p")):
            units.append(video(len(units), bytes(packet), key=packet.is_keyframe))
    return units


def opus_units(count: int) -> list[MediaUnit]:
    """Real Opus packets of a 440 Hz tone, 20 ms each."""
    encoder = opus_encoder()
    tone = (np.sin(np.arange(960 * count) * 2 * np.pi * 440 / 48000) * 8000).astype(np.int16)
    units: list[MediaUnit] = []
    for n in range(count):
        frame = av.AudioFrame.from_ndarray(tone[None, n * 960 : (n + 1) * 960], "s16", "mono")
        frame.sample_rate, frame.pts = 48000, n * 960
        for packet in encoder.encode(frame):
            units.append(MediaUnit(Kind.AUDIO, len(units), len(units) * 960, 1.0, bytes(packet)))
    return units


@dataclass
class Pair:
    feed: UnitFeed
    sender: UnitSender
    incoming: RTCRtpTransceiver
    receiver_pc: RTCPeerConnection


class Connect(Protocol):
    def __call__(
        self, kind: Kind, *, drop: Callable[[int, int], bool] | None = None
    ) -> Awaitable[Pair]: ...


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    """A centre-side peer sending a ``UnitFeed`` and a viewer-side aiortc peer."""
    peers: list[RTCPeerConnection] = []

    async def make(kind: Kind, *, drop: Callable[[int, int], bool] | None = None) -> Pair:
        centre, viewer = RTCPeerConnection(), RTCPeerConnection()
        peers.extend((centre, viewer))
        feed = UnitFeed(kind, KeyframeQueue(8 << 20, max_audio=500))
        outgoing = centre.addTransceiver(kind.value, direction="sendonly")
        prefer_codec(outgoing, MIME[kind])
        attach(outgoing.sender, feed)
        incoming = viewer.addTransceiver(kind.value, direction="recvonly")
        if drop is not None:
            lose(incoming, drop)
        await centre.setLocalDescription(await centre.createOffer())
        await viewer.setRemoteDescription(centre.localDescription)
        await viewer.setLocalDescription(await viewer.createAnswer())
        await centre.setRemoteDescription(viewer.localDescription)
        assert isinstance(outgoing.sender, UnitSender)
        return Pair(feed, outgoing.sender, incoming, viewer)

    yield make
    for pc in peers:
        await pc.close()


def lose(transceiver: RTCRtpTransceiver, drop: Callable[[int, int], bool]) -> None:
    """Make the viewer's network lose the RTP packets ``drop(ssrc, sequence)`` picks,
    before SRTP sees them (the RTP header is in the clear), as a lossy path would."""
    ice = transceiver.receiver.transport.transport
    receive = ice._recv

    async def receive_or_lose() -> bytes:
        while True:
            data: bytes = await receive()
            rtp_packet = len(data) >= 12 and data[0] >> 6 == 2 and not is_rtcp(data)
            if not (rtp_packet and drop(int.from_bytes(data[8:12]), int.from_bytes(data[2:4]))):
                return data

    ice._recv = receive_or_lose


async def test_units_wait_in_order_for_the_sender() -> None:
    """What is offered comes out in order."""
    feed = UnitFeed(Kind.AUDIO, KeyframeQueue(0))
    for seq in range(3):
        assert feed.offer(audio(seq))
    assert [(await feed.next()).seq for _ in range(3)] == [0, 1, 2]


def test_a_feed_carries_one_kind_only() -> None:
    """An audio unit offered to a video feed is a mistake, not a drop."""
    with pytest.raises(ValueError, match="video feed cannot carry audio"):
        UnitFeed(Kind.VIDEO, KeyframeQueue(1000)).offer(audio(0))


def test_a_feed_starts_video_at_a_keyframe() -> None:
    """The viewer's queue decides what is dropped: video before the first keyframe."""
    feed = UnitFeed(Kind.VIDEO, KeyframeQueue(1000))
    assert not feed.offer(video(0))
    assert feed.offer(video(1, key=True))
    assert feed.offer(video(2))


async def test_stopping_ends_a_waiting_sender() -> None:
    """stop() wakes a sender waiting for a unit with MediaStreamError; offers then fail."""
    feed = UnitFeed(Kind.AUDIO, KeyframeQueue(0))
    waiting = asyncio.ensure_future(feed.next())
    await asyncio.sleep(0)  # let next() start waiting: the case under test
    feed.stop()
    with pytest.raises(MediaStreamError):
        await waiting
    assert not feed.offer(audio(0))


async def test_attach_refuses_a_sender_with_a_track_or_of_another_kind() -> None:
    """The feed is the sender's only source, and of its kind."""
    pc = RTCPeerConnection()
    try:
        with_track = pc.addTransceiver(PacketTrack(Kind.AUDIO, capacity=1))
        with pytest.raises(ValueError, match="no track"):
            attach(with_track.sender, UnitFeed(Kind.AUDIO, KeyframeQueue(0)))
        video_sender = pc.addTransceiver("video").sender
        with pytest.raises(ValueError, match="video sender cannot send audio"):
            attach(video_sender, UnitFeed(Kind.AUDIO, KeyframeQueue(0)))
        attach(video_sender, UnitFeed(Kind.VIDEO, KeyframeQueue(1000)))
        with pytest.raises(TypeError, match="plain aiortc RTCRtpSender"):
            attach(video_sender, UnitFeed(Kind.VIDEO, KeyframeQueue(1000)))
    finally:
        await pc.close()


async def test_h264_units_decode_at_the_viewer_one_frame_apart(connect: Connect) -> None:
    """Annex-B access units leave as RTP that an aiortc peer decodes, 6000 ticks of
    90 kHz apart as the lane stamped them."""
    pair: Pair = await connect(Kind.VIDEO)
    for unit in h264_units(10):
        assert pair.feed.offer(unit)
    frames: list[av.VideoFrame] = []
    async with asyncio.timeout(10):
        while len(frames) < 3:
            frame = await pair.incoming.receiver.track.recv()
            assert isinstance(frame, av.VideoFrame)
            frames.append(frame)
    assert (frames[0].width, frames[0].height) == (320, 240)
    stamps = [frame.pts for frame in frames if frame.pts is not None]
    assert len(stamps) == 3
    assert [b - a for a, b in itertools.pairwise(stamps)] == [6000, 6000]


async def test_opus_units_decode_at_the_viewer_as_the_tone(connect: Connect) -> None:
    """Opus packets leave one per RTP packet and decode to the tone they carry."""
    pair: Pair = await connect(Kind.AUDIO)
    for unit in opus_units(25):
        assert pair.feed.offer(unit)
    samples: list[np.ndarray] = []
    async with asyncio.timeout(10):
        while sum(len(s) for s in samples) < 48000 * 0.2:
            frame = await pair.incoming.receiver.track.recv()
            assert isinstance(frame, av.AudioFrame)
            samples.append(frame.to_ndarray().reshape(-1))
    heard = np.concatenate(samples).astype(np.float64)
    assert np.sqrt(np.mean(heard**2)) > 2000


async def test_sender_reports_count_every_packet_sent(connect: Connect) -> None:
    """The viewer's remote-outbound statistics, from the centre's RTCP sender reports,
    count exactly the RTP packets and payload bytes the units became."""
    pair: Pair = await connect(Kind.VIDEO)
    units = h264_units(10, (640, 480))
    parts = [part for unit in units for part in rtp.payloads(unit)]
    reported = asyncio.Queue[RtcpSrPacket]()
    hear_reports(pair.incoming, reported.put_nowait)
    for unit in units:
        assert pair.feed.offer(unit)
    async with asyncio.timeout(10):
        while True:
            # Sender reports come every 0.5 to 1.5 s: the first may leave before the
            # last unit, so each is read until one counts them all.
            await reported.get()
            stats = await pair.receiver_pc.getStats()
            reports = [s for s in stats.values() if s.type == "remote-outbound-rtp"]
            if reports and reports[0].packetsSent == len(parts):
                break
    assert reports[0].bytesSent == sum(len(part) for part in parts)


def hear_reports(transceiver: RTCRtpTransceiver, heard: Callable[[RtcpSrPacket], None]) -> None:
    """Call ``heard`` with each sender report the viewer's receiver has taken in."""
    receiver = transceiver.receiver
    handle = receiver._handle_rtcp_packet

    async def handle_and_tell(packet: AnyRtcpPacket) -> None:
        await handle(packet)
        if isinstance(packet, RtcpSrPacket):
            heard(packet)

    receiver._handle_rtcp_packet = handle_and_tell  # type: ignore[method-assign]


async def test_a_lost_video_packet_is_sent_again_when_the_viewer_asks(connect: Connect) -> None:
    """The viewer's network loses one packet; its receiver asks for it (NACK) and gets
    it again from the sender's history (the console negotiates no RTX, so it comes
    back as it was)."""
    media_ssrc: list[int] = []
    arrived = itertools.count()
    lost: list[int] = []
    again = asyncio.Event()

    def drop(ssrc: int, sequence: int) -> bool:
        if ssrc not in media_ssrc:
            return False
        # Not the first packet: a receiver learns where the stream starts from the
        # first one it sees, so a first packet lost is never missed.
        if not lost and next(arrived) == 10:
            lost.append(sequence)
            return True
        if lost and sequence == lost[0]:
            again.set()
        return False

    pair: Pair = await connect(Kind.VIDEO, drop=drop)
    media_ssrc.append(pair.sender._ssrc)
    async with asyncio.timeout(10):
        for unit in h264_units(30, (640, 480)):
            # At a camera's pace: the history holds the last 128 packets, not a burst.
            assert pair.feed.offer(unit)
            await asyncio.sleep(1 / 15)
        await again.wait()
    assert len(lost) == 1
