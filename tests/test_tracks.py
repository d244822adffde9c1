"""PacketTrack: encoded units in, av.Packets out for aiortc to send without encoding."""

from __future__ import annotations

import asyncio
import fractions

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamError

from media.centre.tracks import BoundedQueue, PacketTrack
from media.units import Kind, MediaUnit


def video(seq: int, data: bytes = b"\x00\x00\x00\x01\x65", *, key: bool = False) -> MediaUnit:
    return MediaUnit(Kind.VIDEO, seq, seq * 6000, 1.0, data, keyframe=key)


def audio(seq: int) -> MediaUnit:
    return MediaUnit(Kind.AUDIO, seq, seq * 960, 1.0, bytes([seq]) * 40)


async def test_video_units_leave_as_packets_in_90_khz() -> None:
    """A video unit becomes an av.Packet with its bytes, its pts and a 1/90000 time base."""
    track = PacketTrack(Kind.VIDEO, capacity=4)
    assert track.kind == "video"
    assert track.offer(video(3, b"\x00\x00\x00\x01\x65\x88"))
    packet = await track.recv()
    assert bytes(packet) == b"\x00\x00\x00\x01\x65\x88"
    assert (packet.pts, packet.dts) == (18000, 18000)
    assert packet.time_base == fractions.Fraction(1, 90000)


async def test_audio_units_leave_as_packets_in_48_khz() -> None:
    """An audio unit becomes an av.Packet with a 1/48000 time base, in offer order."""
    track = PacketTrack(Kind.AUDIO, capacity=4)
    assert track.kind == "audio"
    for seq in range(3):
        assert track.offer(audio(seq))
    packets = [await track.recv() for _ in range(3)]
    assert [bytes(p) for p in packets] == [audio(seq).data for seq in range(3)]
    assert [p.pts for p in packets] == [0, 960, 1920]
    assert packets[0].time_base == fractions.Fraction(1, 48000)


def test_a_full_track_refuses_units_and_keeps_what_it_has() -> None:
    """Past its capacity offer() returns False; the caller decides what to drop."""
    track = PacketTrack(Kind.VIDEO, capacity=2)
    assert [track.offer(video(n)) for n in range(3)] == [True, True, False]
    assert [unit.seq for unit in iter(track.queue.pop, None)] == [0, 1]


def test_a_track_carries_one_kind_only() -> None:
    """An audio unit offered to a video track is a mistake, not a drop."""
    with pytest.raises(ValueError, match="video track cannot carry audio"):
        PacketTrack(Kind.VIDEO, capacity=2).offer(audio(0))


def test_a_track_takes_either_a_queue_or_a_capacity() -> None:
    """Both, or neither, is ambiguous."""
    with pytest.raises(TypeError):
        PacketTrack(Kind.VIDEO)
    with pytest.raises(TypeError):
        PacketTrack(Kind.VIDEO, BoundedQueue(2), capacity=2)


async def test_a_queue_of_its_own_decides_what_is_sent() -> None:
    """A track given a queue sends what that queue pops."""
    queue = BoundedQueue(3)
    track = PacketTrack(Kind.VIDEO, queue)
    for n in range(3):
        track.offer(video(n))
    assert queue.clear() == 3
    track.offer(video(7, key=True))
    assert (await track.recv()).pts == 7 * 6000


async def test_stopping_ends_a_waiting_recv() -> None:
    """stop() wakes a recv() that waits for a unit, with MediaStreamError; offers fail."""
    track = PacketTrack(Kind.AUDIO, capacity=2)
    waiting = asyncio.ensure_future(track.recv())
    await asyncio.sleep(0)  # let recv() start waiting: the case under test
    track.stop()
    with pytest.raises(MediaStreamError):
        await waiting
    assert not track.offer(audio(0))


async def test_h264_units_reach_a_peer_and_decode() -> None:
    """Annex-B access units sent by PacketTrack decode at an aiortc peer as video."""
    encoder = av.VideoCodecContext.create("libx264", "w")
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.time_base = fractions.Fraction(1, 90000)
    encoder.options = {"preset": "ultrafast", "tune": "zerolatency", "x264-params": "keyint=5"}
    units = []
    for n in range(12):
        frame = av.VideoFrame.from_ndarray(np.full((240, 320, 3), n * 20, np.uint8), "rgb24")
        frame.pts = n * 6000
        for packet in encoder.encode(frame.reformat(format="yuv420p")):
            units.append(video(len(units), bytes(packet), key=packet.is_keyframe))
    sender, receiver = RTCPeerConnection(), RTCPeerConnection()
    try:
        track = PacketTrack(Kind.VIDEO, capacity=len(units))
        outgoing = sender.addTransceiver(track, direction="sendonly")
        outgoing.setCodecPreferences(
            [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/H264"]
        )
        incoming = receiver.addTransceiver("video", direction="recvonly")
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        for unit in units:
            assert track.offer(unit)
        async with asyncio.timeout(10):
            frame = await incoming.receiver.track.recv()
        assert isinstance(frame, av.VideoFrame)
        assert (frame.width, frame.height) == (320, 240)
    finally:
        await sender.close()
        await receiver.close()
