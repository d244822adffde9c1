"""The lane answering a SIP intercom, over real UDP: the emulated door station calls,
its G.711 tone reaches the lane's microphone as Opus, the agent's Opus reaches the
door station as G.711, and the firmware's quirks (hang-up, re-INVITE, ``m=audio 0``,
silence, going deaf) and strangers on the LAN are handled."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
import pytest

from gates.hardware.parts import DeviceFault
from gates.hardware.sip.intercom import SipIntercom
from gates.hardware.sip.timers import T1
from gates.lane.drivers import CallEnded, CallPressed, FaultRaised, LaneEvent
from media.lane.g711 import PhoneMicrophone, PhoneSpeaker
from media.lane.tones import RATE, tone
from media.lane.voice import PACKET_SAMPLES, decode_pcm, opus_decoder, opus_encoder, pcm_frame
from media.units import Kind, MediaUnit
from tests.emulators.sip_intercom import SipIntercom as DoorStation
from tests.emulators.sip_intercom import media_of

DOOR_HZ = 700.0  # the door station's tone
AGENT_HZ = 1100.0  # the agent's, played to the lane's speaker


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def peak_hz(samples: npt.NDArray[np.generic], rate: int) -> float:
    signal = samples.astype(np.float64)
    spectrum = np.abs(np.fft.rfft(signal * np.hanning(len(signal))))
    return float(np.fft.rfftfreq(len(signal), 1 / rate)[int(np.argmax(spectrum))])


@dataclass
class Events:
    """What the device emitted, as the lane agent would receive it."""

    seen: list[LaneEvent] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, event: LaneEvent) -> None:
        self.seen.append(event)
        self.changed.set()

    async def wait(self, wanted: Callable[[LaneEvent], bool], count: int = 1) -> None:
        async with asyncio.timeout(10):
            while sum(1 for event in self.seen if wanted(event)) < count:
                self.changed.clear()
                await self.changed.wait()

    def calls(self) -> int:
        return sum(1 for event in self.seen if isinstance(event, CallPressed))


@dataclass
class Lane:
    device: SipIntercom
    door: DoorStation
    events: Events


@contextlib.asynccontextmanager
async def lane_with_door(
    *,
    deaf: bool = False,
    keepalive_s: float = 30.0,
    rtp_timeout_s: float = 30.0,
    rtp_pairs: int = 20,
    t1_s: float = T1,
) -> AsyncIterator[Lane]:
    port = free_udp_port()
    door = DoorStation(("127.0.0.1", port), tone_hz=DOOR_HZ)
    door.deaf = deaf
    await door.start()
    base = random.randrange(20_000, 60_000, 2)
    device = SipIntercom(
        "intercom",
        listen=("127.0.0.1", port),
        intercom=("127.0.0.1", door.port),
        rtp_ports=(base, base + 2 * rtp_pairs),
        keepalive_s=keepalive_s,
        answer_s=1.0,
        rtp_timeout_s=rtp_timeout_s,
        t1_s=t1_s,
    )
    events = Events()
    running = asyncio.create_task(device.run(events))
    try:
        async with asyncio.timeout(10):
            await door.pinged.wait()  # the lane's first OPTIONS: it is listening
        yield Lane(device, door, events)
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await door.close()


@pytest.fixture
async def lane() -> AsyncIterator[Lane]:
    async with lane_with_door() as lane:
        yield lane


async def microphone_pcm(device: SipIntercom, packets: int) -> npt.NDArray[np.int16]:
    """What the lane's microphone gave the media connection, decoded as the agent's
    browser decodes it."""
    decoder = opus_decoder()
    units = PhoneMicrophone(device).units()
    chunks = []
    try:
        async with asyncio.timeout(10):
            async for unit in units:
                assert unit.kind is Kind.AUDIO
                chunks.append(decode_pcm(decoder, unit.data))
                if len(chunks) == packets:
                    break
    finally:
        await units.aclose()
    return np.concatenate(chunks)


def agent_voice(seconds: float) -> list[MediaUnit]:
    """The agent's speech as the centre sends it down: Opus packets of 20 ms."""
    encoder = opus_encoder()
    samples = tone(AGENT_HZ, seconds, level=0.4)
    units = []
    for n in range(len(samples) // PACKET_SAMPLES):
        frame = pcm_frame(
            samples[n * PACKET_SAMPLES : (n + 1) * PACKET_SAMPLES], n * PACKET_SAMPLES
        )
        for packet in encoder.encode(frame):
            units.append(MediaUnit(Kind.AUDIO, n, n * PACKET_SAMPLES, 0.0, bytes(packet)))
    return units


def talk(device: SipIntercom, seconds: float) -> None:
    """The agent speaks: the centre's Opus played to the lane's speaker."""
    speaker = PhoneSpeaker(device)
    for unit in agent_voice(seconds):
        speaker.play(unit)


async def test_a_call_is_the_lanes_call_and_its_tone_reaches_the_microphone(lane: Lane) -> None:
    listening = asyncio.create_task(microphone_pcm(lane.device, 40))
    answer = await lane.door.call()

    assert answer.status == 200
    host, port, payload_type = media_of(answer.body)
    assert (host, payload_type) == ("127.0.0.1", 0) and port != 0
    await lane.events.wait(lambda event: isinstance(event, CallPressed))
    heard = await listening
    # Past the resampler's and encoder's start-up, the driver's voice is the tone.
    assert abs(peak_hz(heard[RATE // 10 :], RATE) - DOOR_HZ) < 10
    assert np.sqrt(np.mean((heard[RATE // 10 :] / 32768.0) ** 2)) > 0.1


async def test_the_agents_voice_reaches_the_intercom_as_g711(lane: Lane) -> None:
    await lane.door.call()
    talk(lane.device, 0.6)

    heard = await lane.door.wait_heard(lane.door.rtp_port, 4000)
    assert abs(peak_hz(heard[800:], 8000) - AGENT_HZ) < 10


async def test_pcma_is_answered_in_pcma(lane: Lane) -> None:
    answer = await lane.door.call(law="PCMA")
    assert media_of(answer.body)[2] == 8
    talk(lane.device, 0.4)
    heard = await lane.door.wait_heard(lane.door.rtp_port, 2400)
    assert abs(peak_hz(heard[800:], 8000) - AGENT_HZ) < 10


async def test_a_call_without_g711_is_refused_and_the_next_one_answered(lane: Lane) -> None:
    refused = await lane.door.call(law="G722")

    assert refused.status == 488
    assert lane.events.calls() == 0
    assert (await lane.door.call()).status == 200


async def test_the_intercom_hanging_up_ends_the_call_and_the_next_press_rings_again(
    lane: Lane,
) -> None:
    await lane.door.call()
    await lane.events.wait(lambda event: isinstance(event, CallPressed))
    bye = await lane.door.hang_up()
    assert bye.status == 200
    # The centre is told the driver has gone, under the press's own id.
    [press] = [event for event in lane.events.seen if isinstance(event, CallPressed)]
    await lane.events.wait(lambda event: event == CallEnded(press.event_id))

    again = await lane.door.call()
    assert again.status == 200
    await lane.events.wait(lambda event: isinstance(event, CallPressed), count=2)


async def test_a_reinvite_keeps_the_call_and_moves_its_audio(lane: Lane) -> None:
    first = await lane.door.call()
    old_port = lane.door.rtp_port
    moved = await lane.door.reinvite()

    assert moved.status == 200
    assert lane.door.rtp_port != old_port
    # The lane's end of the media stays where it was; the call is the same call.
    assert media_of(moved.body)[:2] == media_of(first.body)[:2]
    talk(lane.device, 0.4)
    heard = await lane.door.wait_heard(lane.door.rtp_port, 2400)
    assert abs(peak_hz(heard[800:], 8000) - AGENT_HZ) < 10
    assert lane.events.calls() == 1


async def test_a_reoffer_the_lane_cannot_take_leaves_the_call_as_it_was(lane: Lane) -> None:
    await lane.door.call()
    kept = lane.door.rtp_port
    refused = await lane.door.reinvite(law="G722")

    assert refused.status == 488
    talk(lane.device, 0.4)
    heard = await lane.door.wait_heard(kept, 2400)
    assert abs(peak_hz(heard[800:], 8000) - AGENT_HZ) < 10
    assert (await lane.door.hang_up()).status == 200  # the dialog is still there


async def test_an_offer_with_audio_off_is_answered_with_the_stream_refused(lane: Lane) -> None:
    answer = await lane.door.call(audio_off=True)

    assert answer.status == 200
    assert media_of(answer.body)[1] == 0  # RFC 3264 §6: refused, port 0
    await lane.events.wait(lambda event: isinstance(event, CallPressed))
    # A later offer with sound turns it on within the same call.
    on = await lane.door.reinvite()
    assert on.status == 200 and media_of(on.body)[1] != 0
    talk(lane.device, 0.4)
    heard = await lane.door.wait_heard(lane.door.rtp_port, 2400)
    assert abs(peak_hz(heard[800:], 8000) - AGENT_HZ) < 10


async def test_a_reinvite_turning_audio_off_stops_the_lanes_audio(lane: Lane) -> None:
    await lane.door.call()
    off = await lane.door.reinvite(audio_off=True)

    assert off.status == 200 and media_of(off.body)[1] == 0
    dropped = lane.device.audio.dropped
    talk(lane.device, 0.2)
    assert lane.device.audio.dropped > dropped


async def test_silence_from_the_intercom_is_silence_at_the_lane(lane: Lane) -> None:
    lane.door.silence = True
    listening = asyncio.create_task(microphone_pcm(lane.device, 25))
    await lane.door.call()
    heard = (await listening).astype(np.float64) / 32768.0
    assert np.sqrt(np.mean(heard**2)) < 0.01


async def test_a_new_call_from_the_intercom_replaces_the_one_it_lost(lane: Lane) -> None:
    await lane.door.call()
    # The door station rebooted mid-call: it dials again from a new port, having
    # forgotten the old call and never said BYE.
    rebooted = DoorStation(lane.door.lane, tone_hz=DOOR_HZ)
    await rebooted.start()
    try:
        again = await rebooted.call()
        assert again.status == 200
        await lane.events.wait(lambda event: isinstance(event, CallPressed), count=2)
        async with asyncio.timeout(10):
            await lane.door.lane_hung_up.wait()  # the lost call was hung up
        talk(lane.device, 0.4)
        heard = await rebooted.wait_heard(rebooted.rtp_port, 2400)
        assert abs(peak_hz(heard[800:], 8000) - AGENT_HZ) < 10
    finally:
        await rebooted.close()


async def test_a_call_from_another_address_is_refused(lane: Lane) -> None:
    refused = await lane.door.call_from("127.0.0.2")

    assert refused.status == 403
    assert lane.events.calls() == 0


async def test_an_intercom_registering_with_the_lane_is_taken_for_at_most_an_hour(
    lane: Lane,
) -> None:
    registered = await lane.door.register(expires=7200)

    assert registered.status == 200
    assert registered.header("expires") == "3600"
    assert registered.header("contact").endswith(";expires=3600")
    assert (await lane.door.register(expires=120)).header("expires") == "120"


def unregistered(active: bool) -> Callable[[LaneEvent], bool]:
    return lambda event: (
        isinstance(event, FaultRaised)
        and event.code == DeviceFault.INTERCOM_UNREGISTERED
        and event.active is active
    )


async def test_an_intercom_that_stops_answering_is_a_lane_fault_until_it_answers() -> None:
    async with lane_with_door(deaf=True, keepalive_s=1.0) as lane:
        await lane.events.wait(unregistered(True))
        fault = next(event for event in lane.events.seen if unregistered(True)(event))
        assert isinstance(fault, FaultRaised) and "did not answer OPTIONS" in fault.detail

        lane.door.deaf = False
        await lane.events.wait(unregistered(False))
