"""Reading a camera or a file through FFmpeg (PyAV): blocking, for a worker thread.

``SourceReader`` opens the input, yields Annex-B access units at 90 kHz and closes it.
H.264 that browsers play is never decoded: MP4/MKV packets (length-prefixed, avcC
extradata starting with 0x01) go through FFmpeg's ``h264_mp4toannexb`` filter, which puts
SPS/PPS before each IDR; Annex-B sources (RTSP, MPEG-TS, raw ``.h264``) keep their bytes,
and IDR units that come without SPS/PPS get the last ones seen (``media.lane.annexb``). H.264
that browsers cannot play (B-frames, a profile beyond High: ``media.lane.h264``) and every
other codec are decoded and encoded once with ``media.lane.encoder``, and ``transcoding``
says why, so the installer can set the camera right.
"""

from __future__ import annotations

import fractions
import itertools
import logging
import threading
import time
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Final

import av
from av.container import InputContainer
from av.error import ExitError, FFmpegError, InvalidDataError
from av.video.stream import VideoStream

from media.errors import CameraError
from media.lane.annexb import ParameterSets
from media.lane.device_url import scrubbed, shown
from media.lane.encoder import H264Encoder
from media.lane.h264 import ADVICE, Vetting
from media.units import VIDEO_CLOCK

log = logging.getLogger("seat.media")

# An unreachable camera must fail in seconds, not hang the lane's video forever.
OPEN_TIMEOUT: Final = 5.0
READ_TIMEOUT: Final = 5.0
_RTSP: Final = {
    # TCP interleaving: UDP RTP is lost behind NAT and firewalls, and in big keyframes.
    # ``timeout`` is FFmpeg's socket I/O timeout in microseconds.
    "rtsp_transport": "tcp",
    "timeout": str(int(READ_TIMEOUT * 1e6)),
    # The SDP already names the codec and carries the SPS; with its default probe FFmpeg
    # reads about 2 s of video before the open returns (5 MB or 5 s at most) and then
    # hands it all out at once. Probing one packet opens a 720p camera in ~0.5 s and
    # leaves no backlog to burst.
    "probesize": "32",
}
_NETWORK_OPTIONS: Final[dict[str, dict[str, str]]] = {
    "rtsp": _RTSP,
    "rtsps": _RTSP,
    "http": {"timeout": str(int(READ_TIMEOUT * 1e6))},
    "https": {"timeout": str(int(READ_TIMEOUT * 1e6))},
}
_DEFAULT_FPS: Final = 15.0
_MAX_FPS: Final = 60.0


@dataclass(frozen=True, slots=True)
class Read:
    """One access unit; ``pts``/``dts`` at 90 kHz from 0, ``at`` the Unix time read."""

    data: bytes
    pts: int
    dts: int
    keyframe: bool
    at: float


def is_file(url: str) -> bool:
    """Whether ``url`` names a local file (paced at real time by default)."""
    return "://" not in url or url.startswith("file:")


def default_options(url: str) -> dict[str, str]:
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    return dict(_NETWORK_OPTIONS.get(scheme, {}))


class SourceReader:
    """Reads ``url`` from its first keyframe on, replayed forever if ``loop``.

    ``keyframe``, when set, makes the next transcoded frame an IDR (passthrough cannot:
    only the camera decides its keyframes). Blocking: iterate it in one worker thread.
    """

    def __init__(
        self,
        url: str,
        options: dict[str, str] | None = None,
        *,
        loop: bool = False,
        keyframe: threading.Event | None = None,
    ) -> None:
        self.url = url
        # What faults and logs name: the camera's password stays out of both.
        self.shown_url = shown(url)
        self.options = {**default_options(url), **(options or {})}
        self.loop = loop
        self.keyframe = keyframe or threading.Event()
        # Why the video is encoded again, naming what the camera sends and what to set
        # instead; None while it passes through. Set before the first unit it applies to.
        self.transcoding: str | None = None
        self._encoder: H264Encoder | None = None  # made at the first frame, kept across replays

    def units(self) -> Generator[Read, None, None]:
        """Raises ``CameraError`` naming the URL when the source cannot be read."""
        clock: _Clock | None = None
        while True:
            container = self._open()
            try:
                if not container.streams.video:
                    raise CameraError(f"{self.shown_url} has no video stream")
                stream = container.streams.video[0]
                fps = _frame_rate(stream)
                clock = clock or _Clock(round(VIDEO_CLOCK / fps))
                codec = stream.codec_context.name
                log.info("media.camera.opened url=%s codec=%s", self.shown_url, codec)
                first: av.Packet[VideoStream] | None = None
                if codec == "h264":
                    self.transcoding = None
                    vetting = Vetting()
                    first = yield from _passthrough(container, stream, clock, vetting)
                    if first is not None:
                        self._transcode_because(vetting.describe())
                else:
                    context = stream.codec_context
                    self._transcode_because(f"{codec.upper()}, {context.width}x{context.height}")
                if self.transcoding is not None:
                    yield from self._transcode(container, stream, clock, fps, first)
            except FFmpegError as exc:
                raise CameraError(f"{self.shown_url} failed: {self._reason(exc)}") from exc
            finally:
                container.close()
            if not self.loop:
                log.info("media.camera.ended url=%s", self.shown_url)
                return
            clock.restart()

    def _open(self) -> InputContainer:
        if is_file(self.url):
            try:
                return av.open(self.url, "r", options=self.options)
            except FFmpegError as exc:
                raise CameraError(f"cannot open {self.shown_url}: {self._reason(exc)}") from exc
        started = time.monotonic()
        try:
            return av.open(
                self.url, "r", options=self.options, timeout=(OPEN_TIMEOUT, READ_TIMEOUT)
            )
        except FFmpegError as exc:
            waited = time.monotonic() - started
            raise CameraError(
                f"cannot open {self.shown_url} (gave up after {waited:.1f} s): {self._reason(exc)}"
            ) from exc

    def _reason(self, exc: FFmpegError) -> str:
        if isinstance(exc, ExitError):
            return "no answer in time (timed out)"  # PyAV's timeout interrupted FFmpeg
        return exc.strerror or scrubbed(str(exc), self.url)

    def _transcode_because(self, sent: str) -> None:
        self.transcoding = (
            f"the camera sends {sent}, which browsers cannot play as it is: the lane "
            f"encodes it again, at a cost in CPU and picture quality; set the camera to "
            f"{ADVICE}"
        )
        log.warning("media.camera.transcoding url=%s sent=%r", self.shown_url, sent)

    def _transcode(
        self,
        container: InputContainer,
        stream: VideoStream,
        clock: _Clock,
        fps: float,
        first: av.Packet[VideoStream] | None,
    ) -> Iterator[Read]:
        """Decode and encode from ``first`` (a packet already demuxed) on; a decoder
        started mid-GOP shows nothing until the next keyframe."""
        demuxed = container.demux(stream)
        for packet in itertools.chain([first] if first else [], demuxed):
            at = time.time()
            try:
                # The empty end-of-stream packet flushes frames the decoder still holds.
                frames = stream.codec_context.decode(None if packet.size == 0 else packet)
            except InvalidDataError:
                # One torn JPEG from an HTTP camera must not take the picture down.
                log.warning("media.camera.bad_frame url=%s", self.shown_url)
                continue
            for frame in frames:
                if self._encoder is None:
                    gop = round(fps)  # one-second GOPs, as docs/media.md advises
                    self._encoder = H264Encoder(frame.width, frame.height, fps=fps, gop=gop)
                pts, _ = clock.stamp(frame.pts, None, frame.time_base or stream.time_base)
                idr = self.keyframe.is_set()
                self.keyframe.clear()
                for unit in self._encoder.encode(frame, pts, idr=idr):
                    yield Read(unit.data, unit.pts, unit.pts, unit.keyframe, at)


def _passthrough(
    container: InputContainer, stream: VideoStream, clock: _Clock, vetting: Vetting
) -> Generator[Read, None, av.Packet[VideoStream] | None]:
    """Units as the camera made them, until the end (returns None) or the first unit
    browsers could not play (returns its packet, to be decoded instead)."""
    extradata = stream.codec_context.extradata or b""
    avcc = extradata[:1] == b"\x01"  # ISO/IEC 14496-15 AVCDecoderConfigurationRecord
    annexb = av.BitStreamFilterContext("h264_mp4toannexb", stream) if avcc else None
    sets = ParameterSets(None if avcc else extradata)
    started = False
    for packet in container.demux(stream):
        if packet.size == 0:
            continue  # the demuxer's end-of-stream marker
        at = time.time()
        # The filter takes the packet's data; the decoder may need it after all.
        kept = _copy(packet) if annexb else packet
        for out in annexb.filter(packet) if annexb else [packet]:
            data, keyframe = sets.complete(bytes(out))
            started = started or keyframe
            if not started:  # a viewer cannot use anything before the first keyframe
                continue
            if vetting.check(data):
                return kept
            pts, dts = clock.stamp(out.pts, out.dts, out.time_base)
            yield Read(data, pts, dts, keyframe, at)
    return None


def _copy(packet: av.Packet[VideoStream]) -> av.Packet[VideoStream]:
    copy = av.Packet(bytes(packet))
    copy.pts, copy.dts, copy.time_base = packet.pts, packet.dts, packet.time_base
    return copy  # type: ignore[return-value]  # a bare Packet, as the decoder takes it


def _frame_rate(stream: VideoStream) -> float:
    """The stream's frame rate, within what a lane camera plausibly sends: RTSP streams
    often report the 90 kHz RTP clock instead, which would make a 90,000-frame GOP."""
    rate = float(stream.average_rate or stream.guessed_rate or _DEFAULT_FPS)
    return rate if 1 <= rate <= _MAX_FPS else _DEFAULT_FPS


class _Clock:
    """Maps a source's timestamps to the units' 90 kHz clock: from 0, carrying on across
    replays, and counting frames for streams that carry no timestamps (raw ``.h264``)."""

    def __init__(self, step: int) -> None:
        self.step = step  # one frame
        self._offset = 0
        self._base: int | None = None
        self._last = -step  # the latest pts handed out

    def stamp(
        self, pts: int | None, dts: int | None, time_base: fractions.Fraction | None
    ) -> tuple[int, int]:
        """(pts, dts) at 90 kHz. The first unit of a pass, a keyframe, is shown first, so
        its pts is the origin; dts may fall below it (B-frames) and only paces files."""
        shown = pts if pts is not None else dts
        if shown is None or time_base is None:
            self._last += self.step
            return self._last, self._last
        if self._base is None:
            # After units without timestamps (an RTSP camera's first), one frame on.
            self._base = shown
            self._offset = max(self._offset, self._last + self.step)
        scale = time_base * VIDEO_CLOCK
        out_pts = max(0, self._offset + round((shown - self._base) * scale))
        decode = dts if dts is not None else shown
        out_dts = self._offset + round((decode - self._base) * scale)
        self._last = max(self._last, out_pts)
        return out_pts, out_dts

    def restart(self) -> None:
        """The source starts over: continue one frame after the last unit."""
        self._offset = self._last + self.step
        self._base = None
