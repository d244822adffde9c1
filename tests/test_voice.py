"""The lane's intercom audio: the simulated microphone and speaker, sound cards through
FFmpeg, and finding marked tone bursts, all checked on really decoded Opus."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
import wave
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from media.errors import AudioDeviceError
from media.lane.tones import RATE, VoiceSynth, find_bursts, tone
from media.lane.voice import (
    PACKET_SAMPLES,
    DeviceMicrophone,
    DeviceSpeaker,
    RecordingSpeaker,
    ToneMicrophone,
    decode_pcm,
    next_slot,
    opus_decoder,
    opus_encoder,
    pcm_frame,
)
from media.units import Kind, MediaUnit

Signal = npt.NDArray[np.float64]


async def take(microphone: ToneMicrophone | DeviceMicrophone, count: int) -> list[MediaUnit]:
    units: list[MediaUnit] = []
    async with contextlib.aclosing(microphone.units()) as stream:
        async for unit in stream:
            units.append(unit)
            if len(units) == count:
                break
    return units


def decode(units: list[MediaUnit]) -> Signal:
    decoder = opus_decoder()
    pcm = np.concatenate([decode_pcm(decoder, unit.data) for unit in units])
    return pcm.astype(np.float64) / 32768.0


def encode(signal: Signal) -> list[MediaUnit]:
    encoder = opus_encoder()
    units = []
    for n in range(len(signal) // PACKET_SAMPLES):
        frame = pcm_frame(signal[n * PACKET_SAMPLES : (n + 1) * PACKET_SAMPLES], n * PACKET_SAMPLES)
        for packet in encoder.encode(frame):
            units.append(MediaUnit(Kind.AUDIO, n, n * PACKET_SAMPLES, time.time(), bytes(packet)))
    return units


def rms(signal: Signal) -> float:
    return float(np.sqrt(np.mean(signal**2)))


def band_share(signal: Signal, low: float, high: float) -> float:
    power = np.abs(np.fft.rfft(signal)) ** 2
    freqs = np.fft.rfftfreq(len(signal), 1 / RATE)
    return float(power[(freqs >= low) & (freqs <= high)].sum() / power.sum())


def silence(seconds: float) -> Signal:
    return np.zeros(round(seconds * RATE))


# --- pacing -------------------------------------------------------------------------


def test_next_packet_is_the_one_after_the_last_when_on_time() -> None:
    """On time or early, the next packet is simply the following one."""
    assert next_slot(4, 0.081) == 5
    assert next_slot(4, 0.101) == 5


def test_next_packet_after_a_stall_skips_to_the_one_due_now() -> None:
    """A reader that stalled 400 ms gets the packet due now, not a burst of old ones."""
    assert next_slot(4, 0.5) == 25


# --- the simulated microphone -----------------------------------------------------------


async def test_tone_microphone_numbers_packets_960_ticks_apart() -> None:
    """Packets are 20 ms at 48 kHz: seq numbers the 20 ms slot and pts is 960 a slot.
    A packet the machine was too busy to make in time is skipped, as a sound card
    overrun drops one: the numbering then jumps, and never goes back."""
    before = time.time()
    units = await take(ToneMicrophone(seed=3), 10)
    assert [u.pts for u in units] == [960 * u.seq for u in units]
    assert units[0].seq == 0
    assert all(a.seq < b.seq for a, b in itertools.pairwise(units))
    assert all(u.kind is Kind.AUDIO for u in units)
    assert before <= units[0].captured <= units[-1].captured <= time.time()


async def test_tone_microphone_decodes_to_voice_band_sound() -> None:
    """Its packets decode to clearly audible sound, nearly all of it in 80-3400 Hz."""
    pcm = decode(await take(ToneMicrophone(seed=3), 25))
    assert len(pcm) == 25 * PACKET_SAMPLES
    assert rms(pcm) > 0.03
    assert band_share(pcm, 80, 3400) > 0.95


async def test_same_seed_gives_the_same_packets() -> None:
    """The simulated voice is reproducible: one seed, one byte stream."""
    first, again, other = await asyncio.gather(
        take(ToneMicrophone(seed=5), 8),
        take(ToneMicrophone(seed=5), 8),
        take(ToneMicrophone(seed=6), 8),
    )
    assert [u.data for u in first] == [u.data for u in again]
    assert [u.data for u in first] != [u.data for u in other]


async def test_marked_burst_is_found_where_it_was_sent() -> None:
    """A marked 1 kHz burst decodes at its packet's place, late only by Opus's lookahead."""
    microphone = ToneMicrophone(seed=2)
    units: list[MediaUnit] = []
    mark: asyncio.Future[float] | None = None
    async with contextlib.aclosing(microphone.units()) as stream:
        async for unit in stream:
            units.append(unit)
            if len(units) == 10:
                mark = microphone.mark()
            if len(units) == 25:
                break
    assert mark is not None and mark.done()
    sent = next(i for i, u in enumerate(units) if u.captured == mark.result())
    [found] = find_bursts(decode(units), RATE, 1000.0)
    # Where its packet sits in what was decoded: by place, not pts, which skips ahead
    # when a loaded machine makes the microphone drop a late packet.
    at = sent * PACKET_SAMPLES / RATE
    assert 0 <= found - at < 0.010  # libopus delays by 312 samples, 6.5 ms


def test_synthetic_voice_never_sounds_like_the_mark() -> None:
    """Ten seconds of simulated voice hold no burst at the mark frequency."""
    voice = VoiceSynth(seed=0).take(10 * RATE)
    assert rms(voice) > 0.03
    assert find_bursts(voice, RATE, 1000.0) == []


# --- the recording speaker --------------------------------------------------------------


def test_recording_speaker_hears_and_measures_a_tone() -> None:
    """A 440 Hz tone of amplitude 0.5 is recorded at about RMS 0.35; silence at ~0."""
    speaker = RecordingSpeaker()
    for unit in encode(np.concatenate([tone(440.0, 0.4), silence(0.2)])):
        speaker.play(unit)
    assert speaker.heard == 30
    assert len(speaker.samples()) == 30 * PACKET_SAMPLES
    assert speaker.rms(0.1) < 0.01
    assert 0.3 < float(np.sqrt(np.mean(speaker.samples()[4800:14400] ** 2))) < 0.4


def test_recording_speaker_keeps_only_the_last_seconds() -> None:
    """The ring holds its capacity; the newest sound is what remains."""
    speaker = RecordingSpeaker(seconds=0.1)
    for unit in encode(np.concatenate([tone(440.0, 0.4), silence(0.2)])):
        speaker.play(unit)
    assert speaker.heard == 30
    assert len(speaker.samples()) == 4800
    assert speaker.rms(0.1) < 0.01


def test_recording_speaker_tells_when_a_sample_arrived() -> None:
    """Each sample's arrival time is its packet's arrival plus its place in the packet."""
    speaker = RecordingSpeaker()
    before = time.time()
    for unit in encode(tone(440.0, 0.1)):
        speaker.play(unit)
    first, later = speaker.arrival_time(0.0), speaker.arrival_time(0.03)
    assert before <= first <= time.time()
    assert later >= first + 0.01
    with pytest.raises(ValueError):
        speaker.arrival_time(1.0)


async def test_recording_speaker_wakes_whoever_waits_for_packets() -> None:
    """wait_heard returns once the packets counted have been played."""
    speaker = RecordingSpeaker()
    waiter = asyncio.create_task(speaker.wait_heard(3))
    for unit in encode(tone(440.0, 0.06)):
        speaker.play(unit)
    await asyncio.wait_for(waiter, 5)
    assert speaker.heard == 3


# --- finding bursts in literal signals --------------------------------------------------


def test_find_bursts_locates_a_tone_burst_within_a_millisecond() -> None:
    """A 1 kHz burst starting at 0.5 s is found at 0.5 s."""
    signal = np.concatenate([silence(0.5), tone(1000.0, 0.1), silence(0.4)])
    [start] = find_bursts(signal, RATE, 1000.0)
    assert start == pytest.approx(0.5, abs=0.001)


def test_find_bursts_ignores_other_frequencies() -> None:
    """Bursts at 700 Hz and 1.2 kHz are not 1 kHz bursts."""
    signal = np.concatenate(
        [silence(0.2), tone(700.0, 0.1), silence(0.2), tone(1200.0, 0.1), silence(0.2)]
    )
    assert find_bursts(signal, RATE, 1000.0) == []
    assert find_bursts(signal, RATE, 700.0) == [pytest.approx(0.2, abs=0.001)]


def test_find_bursts_ignores_noise_but_finds_a_burst_in_it() -> None:
    """Loud white noise alone holds no burst; a burst over it is found on time."""
    noise = np.random.default_rng(7).normal(0.0, 0.1, RATE)
    assert find_bursts(noise, RATE, 1000.0) == []
    signal = noise.copy()
    signal[RATE // 2 : RATE // 2 + 4800] += tone(1000.0, 0.1)
    [start] = find_bursts(signal, RATE, 1000.0)
    assert start == pytest.approx(0.5, abs=0.003)


def test_find_bursts_finds_each_of_several_in_int16_pcm() -> None:
    """Every burst is reported, in order, from int16 samples as well."""
    signal = np.concatenate(
        [silence(0.1), tone(1000.0, 0.1), silence(0.3), tone(1000.0, 0.1), silence(0.1)]
    )
    pcm = np.round(signal * 32767).astype(np.int16)
    assert find_bursts(pcm, RATE, 1000.0) == [
        pytest.approx(0.1, abs=0.001),
        pytest.approx(0.5, abs=0.001),
    ]


def test_find_bursts_skips_blips_shorter_than_a_burst() -> None:
    """A 15 ms click of the right frequency is not a burst."""
    signal = np.concatenate([silence(0.2), tone(1000.0, 0.015), silence(0.2)])
    assert find_bursts(signal, RATE, 1000.0) == []


# --- sound cards through FFmpeg ----------------------------------------------------------


async def test_device_microphone_names_a_device_that_cannot_be_opened() -> None:
    """An unknown ALSA capture device raises AudioDeviceError with FFmpeg's reason."""
    with pytest.raises(AudioDeviceError) as caught:
        await take(DeviceMicrophone("no-such-card", "alsa"), 1)
    assert caught.value.code == "audio_device_unavailable"
    assert "'no-such-card'" in caught.value.detail
    assert "cannot open audio device" in caught.value.detail


def test_device_speaker_names_a_device_that_cannot_be_opened() -> None:
    """An unknown ALSA playback device raises AudioDeviceError with FFmpeg's reason."""
    with pytest.raises(AudioDeviceError) as caught:
        DeviceSpeaker("no-such-card", "alsa")
    assert "'no-such-card'" in caught.value.detail
    assert "cannot open audio device" in caught.value.detail


async def test_audio_devices_given_as_urls_are_named_without_their_password() -> None:
    """A camera's RTSP audio as the microphone, or an RTSP server as the speaker, that
    cannot be opened is named with its password masked: the fault reaches every console
    user."""
    closed = socket.socket()  # bound, not listening: a connection is refused
    closed.bind(("127.0.0.1", 0))
    url = f"rtsp://user:secret@127.0.0.1:{closed.getsockname()[1]}/audio"
    with closed:
        with pytest.raises(AudioDeviceError) as heard:
            await take(DeviceMicrophone(url, "rtsp", options={"rtsp_transport": "tcp"}), 1)
        with pytest.raises(AudioDeviceError) as played:
            DeviceSpeaker(url, "rtsp", options={"rtsp_transport": "tcp"})
    for caught in (heard, played):
        assert "rtsp://user:***@127.0.0.1:" in caught.value.detail
        assert "secret" not in caught.value.detail


def test_device_speaker_names_a_sound_system_ffmpeg_lacks() -> None:
    """A device format this FFmpeg was built without is named in the error."""
    with pytest.raises(AudioDeviceError, match="no 'pulse' format"):
        DeviceSpeaker("default", "pulse")


async def test_device_microphone_encodes_what_the_device_captures() -> None:
    """FFmpeg's real-time sine source, read as a device, arrives as a 1 kHz Opus stream."""
    source = "sine=frequency=1000:sample_rate=44100,arealtime"
    units = await take(DeviceMicrophone(source, "lavfi"), 10)
    assert [u.pts for u in units] == [960 * n for n in range(10)]
    pcm = decode(units)[PACKET_SAMPLES:]
    assert band_share(pcm, 950, 1050) > 0.9


def test_device_speaker_plays_what_it_is_given(tmp_path: Path) -> None:
    """Packets played to a device (a WAV file here) come out as the decoded tone."""
    path = tmp_path / "speaker.wav"
    speaker = DeviceSpeaker(str(path), "wav")
    for unit in encode(tone(440.0, 0.2)):
        speaker.play(unit)
    speaker.close()
    with av.open(str(path)) as played:
        pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in played.decode(audio=0)])
    assert len(pcm) == 10 * PACKET_SAMPLES
    assert band_share(pcm.astype(np.float64)[PACKET_SAMPLES:], 400, 480) > 0.9


def test_wav_speaker_can_be_read_while_it_plays(tmp_path: Path) -> None:
    """What a WAV speaker was given is on disk before it is closed, so what a running
    lane heard can be checked from outside it."""
    path = tmp_path / "speaker.wav"
    speaker = DeviceSpeaker(str(path), "wav")
    try:
        for unit in encode(tone(440.0, 0.2)):
            speaker.play(unit)
        speaker.flush()
        with av.open(str(path)) as played:
            pcm = np.concatenate([f.to_ndarray().reshape(-1) for f in played.decode(audio=0)])
    finally:
        speaker.close()
    assert len(pcm) == 10 * PACKET_SAMPLES
    assert band_share(pcm.astype(np.float64)[PACKET_SAMPLES:], 400, 480) > 0.9


SEAT = [sys.executable, "-m", "console.cli"]


def test_lane_help_tells_how_to_hear_what_the_lane_heard() -> None:
    """`seat lane --help` documents the WAV speaker."""
    result = subprocess.run([*SEAT, "lane", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    assert "wav:PATH" in " ".join(result.stdout.split())


async def test_lane_stopped_by_a_signal_leaves_a_complete_wav(tmp_path: Path) -> None:
    """`seat lane --speaker wav:PATH` stopped with SIGTERM leaves a WAV file any reader
    opens: its header is written as the lane stops."""
    path = tmp_path / "heard.wav"
    lane = await asyncio.create_subprocess_exec(
        *SEAT, "lane", "--server", "http://127.0.0.1:9", "--lane", "P1", "--camera", "none",
        "--microphone", "none", "--speaker", f"wav:{path}",
        env={**os.environ, "SEAT_LANE_TOKEN": "t", "SEAT_DATA_DIR": str(tmp_path)},
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert lane.stderr is not None
    async with asyncio.timeout(30):
        while b"lane.link.failed" not in await lane.stderr.readline():
            pass  # running, and redialling
        lane.send_signal(signal.SIGTERM)
        await lane.communicate()
    assert lane.returncode == 0
    with wave.open(str(path)) as heard:
        assert (heard.getframerate(), heard.getnchannels(), heard.getnframes()) == (RATE, 1, 0)
