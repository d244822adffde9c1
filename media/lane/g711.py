"""Speech between a G.711 telephone call and the lane's Opus media: the microphone and
speaker of a lane whose sound is a device's (``gates.hardware.parts.LaneAudio``, a SIP
intercom's calls).

A SIP intercom speaks G.711 (8 kHz, 20 ms frames of 160 samples), the lane's media
connection carries Opus at 48 kHz in 20 ms packets (``media.lane.voice``). The lane
transcodes at its end so the centre and the agent's browser never meet G.711. The
G.711 companding itself is the RTP session's (``aiortp``); here is only linear PCM
at 8 kHz on one side and Opus on the other, resampled by FFmpeg's resampler.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator

import av
import numpy as np

from gates.hardware.parts import LaneAudio
from media.lane.tones import RATE
from media.lane.voice import PACKET_SAMPLES, decode_pcm, opus_decoder, opus_encoder
from media.units import Kind, MediaUnit

PHONE_RATE = 8000
PHONE_FRAME = 160  # samples in 20 ms at 8 kHz, the G.711 ptime intercoms use


def _frame(pcm: np.ndarray, rate: int) -> av.AudioFrame:
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = rate
    return frame


class PhoneToOpus:
    """8 kHz s16 PCM from the call in, Opus packets of 20 ms at 48 kHz out, numbered
    on from the last so a stream that outlives one call stays in order."""

    def __init__(self) -> None:
        self._resampler = av.AudioResampler(
            format="s16", layout="mono", rate=RATE, frame_size=PACKET_SAMPLES
        )
        self._encoder = opus_encoder()
        self._count = 0

    def push(self, pcm: bytes) -> list[MediaUnit]:
        """The Opus packets ``pcm`` (s16le at 8 kHz) completes; none until 20 ms are in."""
        samples = np.frombuffer(pcm[: len(pcm) // 2 * 2], dtype="<i2").astype(np.int16)
        if not len(samples):
            return []
        units = []
        captured = time.time()
        for frame in self._resampler.resample(_frame(samples, PHONE_RATE)):
            frame.pts = self._count * PACKET_SAMPLES
            for packet in self._encoder.encode(frame):
                pts = self._count * PACKET_SAMPLES
                units.append(MediaUnit(Kind.AUDIO, self._count, pts, captured, bytes(packet)))
                self._count += 1
        return units


class OpusToPhone:
    """Opus packets from the agent in, 20 ms frames of 8 kHz s16le PCM out, ready for
    the call's G.711 encoder."""

    def __init__(self) -> None:
        self._decoder = opus_decoder()
        self._resampler = av.AudioResampler(
            format="s16", layout="mono", rate=PHONE_RATE, frame_size=PHONE_FRAME
        )

    def push(self, opus: bytes) -> list[bytes]:
        """The 160-sample frames one Opus packet completes."""
        pcm = decode_pcm(self._decoder, opus)
        if not len(pcm):
            return []
        return [
            frame.to_ndarray().reshape(-1).astype("<i2").tobytes()
            for frame in self._resampler.resample(_frame(pcm, RATE))
        ]


class PhoneMicrophone:
    """``media.lane.voice.Microphone`` over a ``LaneAudio``: Opus of whatever call is
    up, waiting through the gaps between calls. It never ends on its own, so the media
    publisher does not take a quiet lane for a broken microphone."""

    def __init__(self, audio: LaneAudio) -> None:
        self.audio = audio

    async def units(self) -> AsyncGenerator[MediaUnit, None]:
        queue = self.audio.listen()
        transcoder = PhoneToOpus()
        try:
            while True:
                for unit in transcoder.push(await queue.get()):
                    yield unit
        finally:
            self.audio.unlisten(queue)


class PhoneSpeaker:
    """``media.lane.voice.Speaker`` into a ``LaneAudio``."""

    def __init__(self, audio: LaneAudio) -> None:
        self.audio = audio
        self._transcoder = OpusToPhone()

    def play(self, unit: MediaUnit) -> None:
        for frame in self._transcoder.push(unit.data):
            self.audio.say(frame)
