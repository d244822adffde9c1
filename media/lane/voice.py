"""The lane's side of the intercom: a microphone that yields Opus packets, a speaker
that plays them, and the simulator's versions of both.

Speech stays Opus from the lane's microphone to the agent's browser and back (docs/
media.md): the lane encodes once with libopus (PyAV's bundled one) and only the far end
decodes, so the centre adds no codec delay. A packet is 20 ms at 48 kHz, the WebRTC
default ptime, sent as ``MediaUnit(kind=Kind.AUDIO)`` with pts in 48 kHz ticks.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import fractions
import logging
import os
import queue
import threading
import time
from collections import deque
from collections.abc import AsyncGenerator, Iterator
from typing import Protocol

import av
import av.logging
import numpy as np
import numpy.typing as npt

from media.errors import AudioDeviceError
from media.lane.device_url import scrubbed, shown
from media.lane.tones import MARK_HZ, RATE, VoiceSynth, tone
from media.units import Kind, MediaUnit

log = logging.getLogger("seat.media")

PACKET_SAMPLES = 960
PACKET_SECONDS = PACKET_SAMPLES / RATE
BIT_RATE = 32_000  # wideband speech; what browsers send for a mono microphone
# Speech queued longer than this is stale: a late word is worse than a lost one.
MAX_QUEUED = 25
TIME_BASE = fractions.Fraction(1, RATE)


class Microphone(Protocol):
    def units(self) -> AsyncGenerator[MediaUnit, None]:
        """Opus packets of 20 ms as they are captured, until the caller stops."""
        ...


class Speaker(Protocol):
    def play(self, unit: MediaUnit) -> None:
        """Play one Opus packet; returns at once (decoding one costs ~0.1 ms)."""
        ...


def opus_encoder() -> av.AudioCodecContext:
    """A libopus encoder for 48 kHz mono s16 frames of 960 samples, tuned for speech."""
    encoder = av.AudioCodecContext.create("libopus", "w")
    encoder.sample_rate = RATE
    encoder.layout = "mono"
    encoder.format = "s16"
    encoder.bit_rate = BIT_RATE
    encoder.time_base = TIME_BASE
    encoder.options = {"application": "voip"}
    return encoder


def opus_decoder() -> av.AudioCodecContext:
    """A libopus decoder to 48 kHz mono s16 (a stereo stream is downmixed)."""
    decoder = av.AudioCodecContext.create("libopus", "r")
    decoder.sample_rate = RATE
    decoder.layout = "mono"
    decoder.format = "s16"
    return decoder


def pcm_frame(samples: npt.NDArray[np.float64], pts: int) -> av.AudioFrame:
    """Float samples in [-1, 1] as an s16 mono frame the encoder takes."""
    pcm = np.clip(np.round(samples * 32767), -32768, 32767).astype(np.int16)
    frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
    frame.sample_rate = RATE
    frame.pts = pts
    frame.time_base = TIME_BASE
    return frame


def decode_pcm(decoder: av.AudioCodecContext, data: bytes) -> npt.NDArray[np.int16]:
    """One Opus packet as mono int16 samples."""
    chunks = [frame.to_ndarray().reshape(-1) for frame in decoder.decode(av.Packet(data))]
    return np.concatenate(chunks).astype(np.int16) if chunks else np.zeros(0, np.int16)


def next_slot(last: int, elapsed: float) -> int:
    """The packet to send next, ``elapsed`` seconds after the first was due: the one
    after ``last``, or after a stall the one due now, skipping what the stall missed.

    Packet n is due at start + n*20 ms, so pacing never drifts; a late reader gets one
    late packet, not a burst of stale ones to catch up with.
    """
    return max(last + 1, int(elapsed / PACKET_SECONDS))


class ToneMicrophone:
    """The simulator's microphone: voice-like sound (``VoiceSynth``) encoded with
    libopus as it is paced out at real time from the event loop's clock.

    ``mark()`` replaces the voice with a 1 kHz burst of 100 ms from the next packet on
    and resolves to the burst's capture time, so a benchmark can find the burst at the
    far end (``find_bursts``) and measure one-way delay.
    """

    def __init__(
        self,
        *,
        seed: int = 0,
        mark_hz: float = MARK_HZ,
        mark_seconds: float = 0.1,
        level: float = 0.3,
    ) -> None:
        self.seed = seed
        self.mark_hz = mark_hz
        self._voice = VoiceSynth(seed, clear_hz=mark_hz, level=level)
        self._mark = tone(mark_hz, mark_seconds, level=0.5)
        self._marks: deque[asyncio.Future[float]] = deque()

    def mark(self) -> asyncio.Future[float]:
        """Ask for a marked burst; the future gives the Unix time its first packet was
        captured. Bursts asked for together follow one another."""
        future = asyncio.get_running_loop().create_future()
        self._marks.append(future)
        return future

    async def units(self) -> AsyncGenerator[MediaUnit, None]:
        loop = asyncio.get_running_loop()
        encoder = opus_encoder()
        start = loop.time()
        slot = -1
        burst = np.zeros(0)
        while True:
            slot = next_slot(slot, loop.time() - start)
            wait = start + slot * PACKET_SECONDS - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # pacing at real time is this source's job
            captured = time.time()
            if not len(burst) and self._marks:
                burst = self._mark
                future = self._marks.popleft()
                if not future.done():
                    future.set_result(captured)
                log.info("media.intercom.mark pts=%d hz=%.0f", slot * PACKET_SAMPLES, self.mark_hz)
            pcm = np.zeros(PACKET_SAMPLES)
            if len(burst):
                pcm[: min(len(burst), PACKET_SAMPLES)] = burst[:PACKET_SAMPLES]
                burst = burst[PACKET_SAMPLES:]
            else:
                pcm = self._voice.take(PACKET_SAMPLES)
            for packet in encoder.encode(pcm_frame(pcm, slot * PACKET_SAMPLES)):
                yield MediaUnit(Kind.AUDIO, slot, slot * PACKET_SAMPLES, captured, bytes(packet))


class RecordingSpeaker:
    """The simulator's speaker: decodes what it hears into a ring of the last
    ``seconds`` of mono PCM at 48 kHz, noting when each packet arrived. Tests read it to
    prove what reached the lane.

    Lost packets leave no gap in the recording (a real speaker would conceal them).
    """

    def __init__(self, seconds: float = 30.0) -> None:
        self.heard = 0
        self._capacity = int(seconds * RATE)
        self._ring = np.zeros(self._capacity, dtype=np.float32)
        self._written = 0  # samples ever recorded
        self._arrivals: deque[tuple[int, float]] = deque(
            maxlen=self._capacity // PACKET_SAMPLES + 2
        )
        self._decoder = opus_decoder()
        self._changed = asyncio.Event()

    def play(self, unit: MediaUnit) -> None:
        pcm = decode_pcm(self._decoder, unit.data).astype(np.float32) / 32768.0
        self._arrivals.append((self._written, time.time()))
        pcm = pcm[-self._capacity :]
        at = self._written % self._capacity
        head = min(len(pcm), self._capacity - at)
        self._ring[at : at + head] = pcm[:head]
        self._ring[: len(pcm) - head] = pcm[head:]
        self._written += len(pcm)
        self.heard += 1
        self._changed.set()

    async def wait_heard(self, count: int) -> None:
        """Return once ``count`` packets have been heard in all."""
        while self.heard < count:
            self._changed.clear()
            await self._changed.wait()

    def samples(self) -> npt.NDArray[np.float32]:
        """The recording, oldest first, as float samples in [-1, 1]."""
        if self._written <= self._capacity:
            return self._ring[: self._written].copy()
        at = self._written % self._capacity
        return np.concatenate((self._ring[at:], self._ring[:at]))

    def rms(self, last_s: float) -> float:
        """RMS of the last ``last_s`` seconds recorded (full scale is 1.0)."""
        tail = self.samples()[-max(1, int(last_s * RATE)) :]
        return float(np.sqrt(np.mean(tail.astype(np.float64) ** 2))) if len(tail) else 0.0

    def arrival_time(self, offset_s: float) -> float:
        """Unix time the sample ``offset_s`` seconds into ``samples()`` arrived: its
        packet's arrival plus its place in the packet."""
        first = max(0, self._written - self._capacity)
        index = first + round(offset_s * RATE)
        starts = [start for start, _ in self._arrivals]
        at = bisect.bisect_right(starts, index) - 1
        if at < 0 or not 0 <= index < self._written:
            raise ValueError(f"no recorded sample at {offset_s:.3f} s")
        start, arrived = self._arrivals[at]
        return arrived + (index - start) / RATE


class DeviceMicrophone:
    """A sound card's capture device through an FFmpeg input device: ``fmt`` "alsa"
    with ``device`` "default" or "hw:1,0" (PyAV's bundled FFmpeg has alsa and oss, not
    pulse). The card paces the packets.

    The device is opened each time ``units()`` starts and closed when it is closed
    (``contextlib.aclosing``), so no stale audio waits in the card between calls. A
    device that cannot be opened raises ``AudioDeviceError`` naming it and FFmpeg's
    reason.
    """

    def __init__(self, device: str, fmt: str, *, options: dict[str, str] | None = None) -> None:
        self.device = device
        self.shown_device = shown(device)  # FFmpeg's "rtsp" format takes a camera's URL
        self.fmt = fmt
        self.options = options if options is not None else _card_options(fmt)

    async def units(self) -> AsyncGenerator[MediaUnit, None]:
        container = await asyncio.to_thread(self._open)
        loop = asyncio.get_running_loop()
        ready: asyncio.Queue[MediaUnit | Exception | None] = asyncio.Queue()
        stop = threading.Event()

        def deliver(item: MediaUnit | Exception | None) -> None:
            if isinstance(item, MediaUnit) and ready.qsize() >= MAX_QUEUED:
                ready.get_nowait()
            ready.put_nowait(item)

        def capture() -> None:
            resampler = av.AudioResampler(
                format="s16", layout="mono", rate=RATE, frame_size=PACKET_SAMPLES
            )
            encoder = opus_encoder()
            count = 0
            outcome: Exception | None = None
            try:
                for captured in container.decode(audio=0):
                    if stop.is_set():
                        break
                    for frame in resampler.resample(captured):
                        frame.pts = count * PACKET_SAMPLES
                        for packet in encoder.encode(frame):
                            pts = count * PACKET_SAMPLES
                            unit = MediaUnit(Kind.AUDIO, count, pts, time.time(), bytes(packet))
                            loop.call_soon_threadsafe(deliver, unit)
                            count += 1
            except (av.FFmpegError, OSError) as exc:
                outcome = exc
            finally:
                container.close()
                with contextlib.suppress(RuntimeError):  # the loop has already closed
                    loop.call_soon_threadsafe(deliver, outcome)

        thread = threading.Thread(
            target=capture, name=f"microphone-{self.shown_device}", daemon=True
        )
        thread.start()
        log.info("media.intercom.microphone.open device=%s fmt=%s", self.shown_device, self.fmt)
        try:
            while (item := await ready.get()) is not None:
                if isinstance(item, Exception):
                    raise AudioDeviceError(
                        f"{self.fmt} device {self.shown_device!r} failed: "
                        f"{scrubbed(str(item), self.device)}"
                    )
                yield item
        finally:
            stop.set()
            await asyncio.to_thread(thread.join)
            log.info("media.intercom.microphone.closed device=%s", self.shown_device)

    def _open(self) -> av.container.InputContainer:
        with _device_errors(self.device, self.fmt):
            return av.open(self.device, mode="r", format=self.fmt, options=self.options)


class DeviceSpeaker:
    """A sound card's playback device through an FFmpeg output device (``fmt``
    "alsa", device "default" or "hw:1,0"; any muxer works, e.g. "wav" to a file).

    It is opened on construction, so a wrong device fails when the lane starts, with
    ``AudioDeviceError`` naming it and FFmpeg's reason. ``play()`` decodes at once and
    hands PCM to a writer thread, since writing to a card blocks at its pace; beyond
    half a second queued, packets are dropped. ``close()`` releases the device. A file
    (``wav`` to a path) is flushed packet by packet, so what the lane heard can be read
    while it runs; its header gets the final length at ``close()``.
    """

    def __init__(self, device: str, fmt: str, *, options: dict[str, str] | None = None) -> None:
        self.device = device
        self.shown_device = shown(device)
        self.fmt = fmt
        with _device_errors(device, fmt):
            self._container = av.open(
                device, mode="w", format=fmt, options={"flush_packets": "1", **(options or {})}
            )
            self._stream = self._container.add_stream("pcm_s16le", rate=RATE, layout="mono")
            self._container.start_encoding()  # opens the device
        self.dropped = 0
        self._decoder = opus_decoder()
        self._pcm: queue.Queue[npt.NDArray[np.int16] | None] = queue.Queue()
        self._closed = False
        # Blocks of PCM handed to the writer, and written out or given up by it.
        self._queued = self._written = 0
        self._writing = True
        self._progress = threading.Condition()
        self._thread = threading.Thread(
            target=self._write, name=f"speaker-{self.shown_device}", daemon=True
        )
        self._thread.start()
        log.info("media.intercom.speaker.open device=%s fmt=%s", self.shown_device, fmt)

    def play(self, unit: MediaUnit) -> None:
        if self._closed:
            return
        if self._pcm.qsize() >= MAX_QUEUED:
            self.dropped += 1
            return
        self._queued += 1
        self._pcm.put(decode_pcm(self._decoder, unit.data))

    def flush(self) -> None:
        """Block until what was played so far is written out (on disk, for a file)."""
        target = self._queued
        with self._progress:
            self._progress.wait_for(lambda: self._written >= target or not self._writing)

    def close(self) -> None:
        """Play what is queued, then release the device (blocks until it is done)."""
        if self._closed:
            return
        self._closed = True
        self._pcm.put(None)
        self._thread.join()
        self._container.close()
        log.info(
            "media.intercom.speaker.closed device=%s dropped=%d", self.shown_device, self.dropped
        )

    def _write(self) -> None:
        written = 0
        try:
            while (pcm := self._pcm.get()) is not None:
                frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
                frame.sample_rate = RATE
                frame.pts = written
                written += len(pcm)
                for packet in self._stream.encode(frame):
                    self._container.mux(packet)
                with self._progress:
                    self._written += 1
                    self._progress.notify_all()
            for packet in self._stream.encode(None):
                self._container.mux(packet)
        except (av.FFmpegError, OSError) as exc:
            self._closed = True
            log.error(
                "media.intercom.speaker.failed device=%s error=%s",
                self.shown_device,
                scrubbed(str(exc), self.device),
            )
        finally:
            with self._progress:
                self._writing = False
                self._progress.notify_all()


def _card_options(fmt: str) -> dict[str, str]:
    # Ask the card for what the encoder wants; the resampler covers a card that cannot.
    return {"sample_rate": str(RATE), "channels": "1"} if fmt in ("alsa", "oss") else {}


@contextlib.contextmanager
def _device_errors(device: str, fmt: str) -> Iterator[None]:
    """Turn FFmpeg's failure to open ``device`` into ``AudioDeviceError``, with
    FFmpeg's own reason: PyAV adds the last logged error to its exception only while
    FFmpeg's logging is on, so it is on (and captured, not printed) for the open."""
    if fmt not in av.formats_available:
        raise AudioDeviceError(
            f"cannot open {fmt} device {shown(device)!r}: PyAV's FFmpeg has no {fmt!r} format"
        )
    previous = av.logging.get_level()
    av.logging.set_level(av.logging.ERROR)
    try:
        with av.logging.Capture():
            yield
    except (av.FFmpegError, OSError, ValueError) as exc:
        hint = ""
        if fmt == "alsa" and "ALSA_CONFIG_DIR" not in os.environ:
            # PyAV's wheels bundle an alsa-lib that looks for its configuration under its
            # build prefix, so without this not even "hw:0,0" is a known device name.
            hint = " (PyAV's alsa-lib needs ALSA_CONFIG_DIR=/usr/share/alsa to know device names)"
        raise AudioDeviceError(
            f"cannot open {fmt} device {shown(device)!r}: {scrubbed(str(exc), device)}{hint}"
        ) from exc
    finally:
        av.logging.set_level(previous)
