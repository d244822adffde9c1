"""Lane cameras: where the video the lane streams comes from.

A camera yields H.264 Annex-B access units (``MediaUnit``, ``Kind.VIDEO``, pts at
90 kHz, ``captured`` in Unix time, ``keyframe`` on IDR units that carry their SPS/PPS),
starting at a keyframe. There are two: the simulator's ``SyntheticCamera``, which draws
and encodes what a lane's camera would see, and ``FfmpegCamera``, which reads a real
camera (RTSP, HTTP) or a file. Pixels are encoded at most once on the lane and never
after it: H.264 that browsers play passes through as is; anything else is encoded once
with ``media.lane.encoder``'s settings, so every browser can decode it without the centre's
help, and ``transcoding`` says why (the lane reports it as a fault to fix at the camera).

Drawing, decoding and encoding take milliseconds of CPU and FFmpeg's I/O blocks, so they
run in a worker thread; the event loop only paces frames and hands units on.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Final, Protocol, TypeVar

from gates.lane.snapshot import View
from media.lane.encoder import Encoded, H264Encoder
from media.lane.ffmpeg import Read, SourceReader, is_file
from media.lane.scene import LaneScene, film
from media.units import VIDEO_CLOCK, Kind, MediaUnit

log = logging.getLogger("seat.media")

T = TypeVar("T")

# A file stands in for a live camera: when reading falls this far behind the file's own
# clock, its schedule restarts from now instead of bursting to catch up.
_BEHIND: Final = 0.1


class Camera(Protocol):
    @property
    def always_on(self) -> bool:
        """Whether the lane keeps it open while nobody watches (``media.lane.feed``)."""
        ...

    @property
    def transcoding(self) -> str | None:
        """Why the lane encodes this camera's video again, naming what it sends and what
        to set instead; None while it passes through untouched."""
        ...

    def units(self) -> AsyncGenerator[MediaUnit, None]:
        """Encoded video until the source ends; raises ``CameraError`` when the source
        cannot be opened or fails."""
        ...

    def request_keyframe(self) -> None:
        """Make the next unit a keyframe if the source can (a viewer is waiting for
        one); a source that cannot ignores it, and the viewer waits for the next GOP."""
        ...


class SyntheticCamera:
    """The simulator's camera: what ``view`` says the camera sees at each moment (the
    simulated lane's barrier and car, or ``media.lane.scene.film``), with a running clock and
    a capture-time stamp (``media.lane.scene``), encoded at ``fps`` with a keyframe every
    ``gop`` frames. It starts in milliseconds, at a keyframe, so it runs only while
    watched.

    Frame n is due at start + n/fps on the loop's clock. When encoding falls behind, the
    frames it missed are skipped rather than rushed out, as a real sensor drops them, so
    the picture and its pts stay on real time.
    """

    always_on = False
    transcoding = None

    def __init__(
        self,
        caption: str,
        *,
        view: Callable[[float], View] | None = None,
        size: tuple[int, int] = (1280, 720),
        fps: float = 15,
        gop: int = 15,
        seed: int = 0,
    ) -> None:
        if fps <= 0 or gop < 1:
            raise ValueError(f"fps must be positive and gop at least 1, not {fps} and {gop}")
        self.scene = LaneScene(size, caption, seed)  # refuses a size it cannot draw
        self.view = view or film(seed)
        self.fps = fps
        self.gop = gop
        self._keyframe = False

    def request_keyframe(self) -> None:
        self._keyframe = True

    async def units(self) -> AsyncGenerator[MediaUnit, None]:
        scene = self.scene
        encoder = H264Encoder(scene.width, scene.height, fps=self.fps, gop=self.gop)
        log.info(
            "media.camera.opened url=synthetic codec=h264 size=%dx%d fps=%s gop=%d",
            scene.width,
            scene.height,
            self.fps,
            self.gop,
        )
        loop = asyncio.get_running_loop()
        period = 1 / self.fps
        start = loop.time()
        slot = seq = 0
        while True:
            late = loop.time() - (start + slot * period)
            if late < 0:
                await asyncio.sleep(-late)  # a live source's pace: real time is the point
            elif late > period:
                slot = int((loop.time() - start) / period)  # skip the frames missed
            idr, self._keyframe = self._keyframe, False
            captured = time.time()
            pts = round(slot * VIDEO_CLOCK / self.fps)
            view = self.view(loop.time())  # on the loop: the lane's state is read here
            encoded = await asyncio.to_thread(_film, scene, encoder, view, captured, pts, idr)
            for unit in encoded:
                yield MediaUnit(Kind.VIDEO, seq, unit.pts, captured, unit.data, unit.keyframe)
                seq += 1
            slot += 1


def _film(
    scene: LaneScene, encoder: H264Encoder, view: View, captured: float, pts: int, idr: bool
) -> list[Encoded]:
    return encoder.encode(scene.draw(view, captured), pts, idr=idr)


class FfmpegCamera:
    """Any input FFmpeg opens: ``rtsp://`` and ``http(s)://`` cameras, or a file.

    H.264 passes through undecoded; other codecs (MJPEG, MPEG-4, HEVC, ...) are decoded
    and encoded once (``media.lane.ffmpeg``). ``options`` go to FFmpeg's demuxer over the
    defaults there (TCP for RTSP, socket timeouts). A file stands in for a live camera:
    it is paced at real time by its timestamps (``realtime`` defaults to on for files,
    off for network sources, which pace themselves) and ``loop`` replays it forever.

    ``captured`` is the wall-clock time a unit was read from the source, or for a paced
    file the time it became due, when a live camera would have delivered it.
    """

    always_on = True

    def __init__(
        self,
        url: str,
        *,
        options: dict[str, str] | None = None,
        realtime: bool | None = None,
        loop: bool = False,
    ) -> None:
        self.url = url
        self.options = options
        self.loop = loop
        self.realtime = is_file(url) if realtime is None else realtime
        self._keyframe = threading.Event()  # read by the worker thread
        self._source: SourceReader | None = None

    @property
    def transcoding(self) -> str | None:
        # Written by the worker thread before it hands over the unit it applies to.
        return self._source.transcoding if self._source is not None else None

    def request_keyframe(self) -> None:
        self._keyframe.set()

    async def units(self) -> AsyncGenerator[MediaUnit, None]:
        loop = asyncio.get_running_loop()
        # One thread per camera, so reading and closing the source never overlap.
        worker = ThreadPoolExecutor(1, thread_name_prefix="camera")
        source = self._source = SourceReader(
            self.url, self.options, loop=self.loop, keyframe=self._keyframe
        )
        reader = source.units()
        anchor: tuple[float, int] | None = None
        seq = 0
        try:
            while (read := await loop.run_in_executor(worker, _next, reader)) is not None:
                captured = read.at
                if self.realtime:
                    anchor = await _pace(loop, anchor, read)
                    captured = time.time()
                yield MediaUnit(Kind.VIDEO, seq, read.pts, captured, read.data, read.keyframe)
                seq += 1
        finally:
            # Runs after any read in progress, which the source's timeouts bound.
            worker.submit(reader.close)
            worker.shutdown(wait=False)


async def _pace(
    loop: asyncio.AbstractEventLoop, anchor: tuple[float, int] | None, read: Read
) -> tuple[float, int]:
    """Wait until ``read`` is due by the file's decode clock; returns the clock's anchor
    (a loop time and the dts due then), restarted from now when far behind."""
    now = loop.time()
    if anchor is None:
        return (now, read.dts)
    wait = anchor[0] + (read.dts - anchor[1]) / VIDEO_CLOCK - now
    if wait > 0:
        await asyncio.sleep(wait)  # a file played as a live camera: real time is the point
    elif wait < -_BEHIND:
        return (now, read.dts)
    return anchor


def _next(items: Iterator[T]) -> T | None:
    # StopIteration cannot be raised into a Future; None marks the end instead.
    return next(items, None)
