"""Opus through real aiortc peer connections on loopback: sent as packets, received as
packets by a passthrough receiver, while an ordinary receiver in the same process still
decodes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Protocol

import av
import numpy as np
import pytest
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamTrack

from media.centre.opus import opus_packets, opus_units, passthrough_opus
from media.lane.tones import RATE, find_bursts
from media.lane.voice import ToneMicrophone, decode_pcm, opus_decoder
from media.units import Kind, MediaUnit
from tests.packet_track import PacketTrack


@dataclass
class Call:
    """One direction of audio: ``track`` feeds the sender, ``heard`` is what arrived."""

    sender: RTCPeerConnection
    receiver: RTCPeerConnection
    track: PacketTrack
    heard: MediaStreamTrack


class Connect(Protocol):
    def __call__(self, *, passthrough: bool) -> Awaitable[Call]: ...


@pytest.fixture
async def connect() -> AsyncIterator[Connect]:
    peers: list[RTCPeerConnection] = []

    async def connect(*, passthrough: bool) -> Call:
        sender, receiver = RTCPeerConnection(), RTCPeerConnection()
        peers.extend([sender, receiver])
        track = PacketTrack(Kind.AUDIO, capacity=100)
        sender.addTransceiver(track, direction="sendonly")
        incoming = receiver.addTransceiver("audio", direction="recvonly")
        if passthrough:
            passthrough_opus(incoming.receiver)
        await sender.setLocalDescription(await sender.createOffer())
        await receiver.setRemoteDescription(sender.localDescription)
        await receiver.setLocalDescription(await receiver.createAnswer())
        await sender.setRemoteDescription(receiver.localDescription)
        return Call(sender, receiver, track, incoming.receiver.track)

    try:
        yield connect
    finally:
        for peer in peers:
            await peer.close()


async def spoken(count: int, *, mark_at: int | None = None) -> list[MediaUnit]:
    """``count`` packets from the simulated microphone, a marked burst from packet
    ``mark_at`` (counting from 0). It paces them at real time, so after a stall of the
    event loop (a loaded machine) it skips the slots it missed: their seq and pts jump."""
    microphone = ToneMicrophone(seed=4)
    units: list[MediaUnit] = []
    async with contextlib.aclosing(microphone.units()) as stream:
        async for unit in stream:
            units.append(unit)
            if len(units) == mark_at:
                microphone.mark()  # takes effect from the next packet
            if len(units) == count:
                return units
    return units


async def frames(track: MediaStreamTrack, count: int) -> list[av.AudioFrame]:
    got: list[av.AudioFrame] = []
    while len(got) < count:
        frame = await track.recv()
        assert isinstance(frame, av.AudioFrame)
        got.append(frame)
    return got


async def first(track: MediaStreamTrack, count: int) -> list[MediaUnit]:
    got: list[MediaUnit] = []
    async with contextlib.aclosing(opus_units(track)) as units:
        async for unit in units:
            got.append(unit)
            if len(got) == count:
                break
    return got


async def test_passthrough_receiver_gets_each_packet_before_the_next_is_sent(
    connect: Connect,
) -> None:
    """Each Opus packet arrives byte for byte as sent, and at once: nothing is held back."""
    call = await connect(passthrough=True)
    sent = await spoken(20)
    async with asyncio.timeout(10), contextlib.aclosing(opus_units(call.heard)) as heard:
        for number, unit in enumerate(sent):
            assert call.track.offer(unit)
            # aiortc's own receiver would hold this packet until four more came.
            arrived = await anext(heard)
            assert arrived.data == unit.data
            # seq numbers the packets as RTP did, one per packet sent; pts keeps the
            # microphone's clock, so a slot it skipped shows in pts alone. Both count
            # from the first packet.
            assert (arrived.seq, arrived.pts) == (number, unit.pts - sent[0].pts)
            assert arrived.kind is Kind.AUDIO


async def test_passthrough_keeps_the_sound_intact(connect: Connect) -> None:
    """The packets received decode to the microphone's sound, marked burst and all."""
    call = await connect(passthrough=True)
    sent = await spoken(30, mark_at=10)
    for unit in sent:
        assert call.track.offer(unit)
    received = []
    async with asyncio.timeout(10), contextlib.aclosing(opus_packets(call.heard)) as packets:
        async for packet in packets:
            received.append(packet)
            if len(received) == len(sent):
                break
    decoder = opus_decoder()
    pcm = np.concatenate([decode_pcm(decoder, packet) for packet in received])
    assert np.sqrt(np.mean((pcm / 32768) ** 2)) > 0.03
    [burst] = find_bursts(pcm, RATE, 1000.0)
    assert 0.2 <= burst < 0.21  # packet 10 of 20 ms, plus Opus's 6.5 ms lookahead


async def test_an_ordinary_receiver_alongside_still_decodes(connect: Connect) -> None:
    """Passthrough on one connection leaves another in the process decoding frames."""
    bridged = await connect(passthrough=True)
    ordinary = await connect(passthrough=False)
    sent = await spoken(15)
    for unit in sent:
        assert bridged.track.offer(unit)
        assert ordinary.track.offer(unit)
    async with asyncio.timeout(10):
        packets = await first(bridged.heard, 15)
        decoded = await frames(ordinary.heard, 11)  # aiortc holds the last four packets
    assert [p.data for p in packets] == [u.data for u in sent]
    assert [f.pts for f in decoded] == [u.pts - sent[0].pts for u in sent[:11]]
    pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in decoded]).astype(np.float64)
    assert np.sqrt(np.mean((pcm / 32768) ** 2)) > 0.03


async def test_packets_end_when_the_far_end_hangs_up(connect: Connect) -> None:
    """Closing the sending peer ends the passthrough track and its packet stream."""
    call = await connect(passthrough=True)
    sent = await spoken(3)
    for unit in sent:
        call.track.offer(unit)
    async with asyncio.timeout(10), contextlib.aclosing(opus_units(call.heard)) as heard:
        assert [(await anext(heard)).seq for _ in sent] == [0, 1, 2]
        await call.sender.close()
        assert [unit async for unit in heard] == []
    assert call.heard.readyState == "ended"


async def test_passthrough_refuses_a_receiver_that_has_started(connect: Connect) -> None:
    """Too late: once a receiver runs, its decoder thread holds the queue."""
    call = await connect(passthrough=False)
    for unit in await spoken(6):
        call.track.offer(unit)
    async with asyncio.timeout(10):
        await frames(call.heard, 1)
    [transceiver] = call.receiver.getTransceivers()
    with pytest.raises(RuntimeError, match="before the receiver starts"):
        passthrough_opus(transceiver.receiver)


async def test_passthrough_refuses_a_video_receiver() -> None:
    """Only audio receivers can pass Opus through."""
    peer = RTCPeerConnection()
    try:
        video = peer.addTransceiver("video", direction="recvonly")
        with pytest.raises(ValueError, match="audio receiver"):
            passthrough_opus(video.receiver)
    finally:
        await peer.close()


async def test_opus_units_refuses_a_decoding_track(connect: Connect) -> None:
    """Reading packets from an ordinary receiver's track is a loud mistake."""
    call = await connect(passthrough=False)
    for unit in await spoken(6):
        call.track.offer(unit)
    async with asyncio.timeout(10):
        with pytest.raises(TypeError, match="passthrough_opus"):
            await first(call.heard, 1)
