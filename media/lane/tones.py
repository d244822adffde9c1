"""Test signals for the intercom, as pure functions on PCM: a voice-like source for the
simulated lane, and finding marked tone bursts to measure one-way delay.

A delay measurement sends a burst of a known frequency (1 kHz for 100 ms) at a known
time and looks for its start in what the far end decoded. The voice never carries that
frequency (``VoiceSynth`` leaves a notch around it), so a burst is unambiguous.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

RATE = 48_000
MARK_HZ = 1000.0
# The voice leaves this much room either side of the mark: wider than the detector's
# main lobe (a 10 ms Hann window is ±200 Hz to its first null, and the purity test
# already rejects a tone 150 Hz away).
NOTCH_HZ = 250.0
# Formants F1, F2 of /a/ /i/ /u/ /e/ /o/ (Peterson & Barney 1952, adult male).
_VOWELS = ((730.0, 1090.0), (270.0, 2290.0), (300.0, 870.0), (530.0, 1840.0), (570.0, 840.0))
_VOICE_TOP_HZ = 3400.0  # telephone band: what an intercom loudspeaker reproduces
_EDGE = int(0.02 * RATE)  # attack and release of a syllable


class VoiceSynth:
    """Syllables of a gliding 100–240 Hz fundamental with harmonics shaped by a vowel's
    two formants, separated by pauses; the same ``seed`` gives the same sound.

    ``take(n)`` continues the signal (phase-continuous), as float samples in [-1, 1].
    """

    def __init__(self, seed: int = 0, *, clear_hz: float = MARK_HZ, level: float = 0.3) -> None:
        self._rng = np.random.default_rng(seed)
        self._clear_hz = clear_hz
        self._level = level
        self._voiced = False  # the first segment started is a syllable
        self._length = 0
        self._pos = 0
        self._phase = 0.0
        self._f0 = (0.0, 0.0)
        self._harmonics = np.zeros(0)
        self._amplitudes = np.zeros(0)

    def take(self, count: int) -> npt.NDArray[np.float64]:
        out = np.zeros(count)
        done = 0
        while done < count:
            if self._pos >= self._length:
                self._next_segment()
            n = min(count - done, self._length - self._pos)
            if self._voiced:
                out[done : done + n] = self._syllable(n)
            self._pos += n
            done += n
        return out

    def _next_segment(self) -> None:
        self._voiced = not self._voiced
        self._pos = 0
        rng = self._rng
        if not self._voiced:
            self._length = int(rng.uniform(0.06, 0.3) * RATE)
            return
        self._length = int(rng.uniform(0.12, 0.35) * RATE)
        start = rng.uniform(100.0, 240.0)
        self._f0 = (start, start * rng.uniform(0.85, 1.15))
        low, high = min(self._f0), max(self._f0)
        f1, f2 = _VOWELS[int(rng.integers(len(_VOWELS)))]
        harmonics = np.arange(1, int(_VOICE_TOP_HZ // high) + 1, dtype=np.float64)
        centre = harmonics * (low + high) / 2
        shape = (
            np.exp(-(((centre - f1) / 150.0) ** 2))
            + 0.7 * np.exp(-(((centre - f2) / 200.0) ** 2))
            + 0.05
        ) / np.sqrt(harmonics)
        # Every harmonic sweeps k*low..k*high during the glide; none may cross the notch.
        clear = (harmonics * high < self._clear_hz - NOTCH_HZ) | (
            harmonics * low > self._clear_hz + NOTCH_HZ
        )
        self._harmonics = harmonics[clear]
        self._amplitudes = shape[clear] / shape[clear].sum()

    def _syllable(self, n: int) -> npt.NDArray[np.float64]:
        t = np.arange(self._pos, self._pos + n, dtype=np.float64)
        start, end = self._f0
        f0 = start + (end - start) * t / self._length
        phase = self._phase + np.cumsum(2 * np.pi * f0 / RATE)
        self._phase = float(phase[-1] % (2 * np.pi))
        edge = min(_EDGE, self._length // 2)
        envelope = np.minimum(1.0, np.minimum(t, self._length - 1 - t) / edge)
        envelope = 0.5 - 0.5 * np.cos(np.pi * np.clip(envelope, 0.0, 1.0))
        waves = np.sin(self._harmonics[:, None] * phase[None, :])
        result: npt.NDArray[np.float64] = self._level * envelope * (self._amplitudes @ waves)
        return result


def tone(freq: float, seconds: float, *, level: float = 0.5) -> npt.NDArray[np.float64]:
    """A pure tone starting at phase 0, as float samples at ``RATE``."""
    t = np.arange(round(seconds * RATE)) / RATE
    result: npt.NDArray[np.float64] = level * np.sin(2 * np.pi * freq * t)
    return result


def find_bursts(
    samples: npt.ArrayLike,
    rate: int,
    freq: float,
    *,
    window: float = 0.01,
    hop: float = 0.001,
    min_seconds: float = 0.04,
    purity: float = 0.5,
    floor: float = 0.01,
) -> list[float]:
    """Start times (s) of bursts of a ``freq`` tone in mono PCM (int16, or float in
    [-1, 1]).

    In Hann windows of ``window`` s every ``hop`` s, a window is tonal when the tone at
    ``freq`` carries at least ``purity`` of its power (so speech, noise and other tones
    do not count) and its amplitude reaches ``floor``. A run of tonal windows lasting
    ``min_seconds`` is a burst; it starts where the tone's amplitude first reaches half
    its peak, which for a symmetric window is when the window's centre crosses the
    onset, interpolated between hops.
    """
    x = np.asarray(samples)
    if x.ndim != 1:
        raise ValueError(f"find_bursts needs mono samples, not an array of shape {x.shape}")
    x = x / 32768.0 if x.dtype == np.int16 else x.astype(np.float64)
    size = round(window * rate)
    step = max(1, round(hop * rate))
    if size < 2 or len(x) < size:
        return []
    frames = sliding_window_view(x, size)[::step]
    weights = np.hanning(size)
    reference = weights * np.exp(-2j * np.pi * freq * np.arange(size) / rate)
    amplitude = 2 * np.abs(frames @ reference) / weights.sum()
    power = (frames**2) @ weights / weights.sum()
    tonal = (amplitude**2 / 2 >= purity * np.maximum(power, 1e-20)) & (amplitude >= floor)

    starts: list[float] = []
    bridge = size // step  # a dip shorter than one window does not split a burst
    for first, last in _runs(tonal, bridge):
        if (last - first) * step + size < min_seconds * rate:
            continue
        half = amplitude[first : last + 1].max() / 2
        j = max(0, first - bridge)
        while amplitude[j] < half:
            j += 1
        position = float(j)
        if j > 0:  # where the amplitude crossed half, between hop j-1 and hop j
            below, above = amplitude[j - 1], amplitude[j]
            position = j - 1 + float((half - below) / (above - below))
        starts.append((position * step + (size - 1) / 2) / rate)
    return starts


def _runs(flags: npt.NDArray[np.bool_], bridge: int) -> list[tuple[int, int]]:
    """Index ranges [first, last] where ``flags`` holds, joining gaps up to ``bridge``."""
    runs: list[tuple[int, int]] = []
    for index in np.flatnonzero(flags):
        i = int(index)
        if runs and i - runs[-1][1] <= bridge + 1:
            runs[-1] = (runs[-1][0], i)
        else:
            runs.append((i, i))
    return runs
