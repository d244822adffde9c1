"""The centre as a plain aiortc relay would run it: each lane's video decoded once, and
encoded again for every viewer. The baseline of the passthrough CPU figure only; the
centre itself never decodes (docs/media.md).

    SEAT_DATA_DIR=... SEAT_PORT=... python -m bench.transcoding_centre

It serves the app ``console.app.create_app`` builds, with one change: the viewers the
media bridge creates send their video from a ``DecodedTrack`` instead of the lane's own
H.264 units. All the viewers of a lane share one ``LaneDecoder`` (PyAV's h264, the
decoder aiortc uses), which decodes each unit once, however many viewers offer it; each
track hands the newest decoded ``av.VideoFrame`` to aiortc, whose sender runs its own
libx264 encoder (aiortc's settings) per viewer, as ``MediaRelay`` would have it.
"""

from __future__ import annotations

import asyncio
import fractions
import logging
import os
from collections.abc import Callable
from typing import Any

import av
from aiortc import RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

import media.centre.bridge
from console.server import serve
from console.service import run_fast
from console.settings import Settings
from media.centre.viewer import Viewer
from media.units import VIDEO_CLOCK, MediaUnit

log = logging.getLogger("seat.bench")

TIME_BASE = fractions.Fraction(1, VIDEO_CLOCK)


class LaneDecoder:
    """Decodes one lane's units once; ``frame`` is the newest picture, ``count`` how
    many there have been."""

    def __init__(self) -> None:
        self.codec = av.CodecContext.create("h264", "r")
        self.frame: av.VideoFrame | None = None
        self.count = 0
        self._last_pts = -1
        self._changed = asyncio.Event()

    def feed(self, unit: MediaUnit) -> None:
        # Every viewer offers the same unit, and a joining one the GOP already decoded.
        if unit.pts <= self._last_pts:
            return
        self._last_pts = unit.pts
        try:
            frames = self.codec.decode(av.Packet(unit.data))
        except av.FFmpegError as exc:
            log.warning("bench.transcode.decode_failed error=%s", exc)
            return
        for frame in frames:
            frame.pts = unit.pts
            frame.time_base = TIME_BASE
            self.frame = frame
            self.count += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def newer_than(self, count: int) -> av.VideoFrame:
        while self.count <= count or self.frame is None:
            await self._changed.wait()
        return self.frame


class DecodedTrack(MediaStreamTrack):
    """A viewer's video as decoded frames: aiortc encodes each one for this viewer."""

    kind = "video"

    def __init__(self, decoder: LaneDecoder) -> None:
        super().__init__()
        self.decoder = decoder
        self._sent = 0
        self._stopped = asyncio.Event()

    def offer(self, unit: MediaUnit) -> bool:
        self.decoder.feed(unit)
        return True

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        newer = asyncio.ensure_future(self.decoder.newer_than(self._sent))
        stopped = asyncio.ensure_future(self._stopped.wait())
        await asyncio.wait([newer, stopped], return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not newer.done():
            newer.cancel()
            raise MediaStreamError
        self._sent = self.decoder.count
        return newer.result()

    def stop(self) -> None:
        super().stop()
        self._stopped.set()


def transcoding(decoders: dict[str, LaneDecoder]) -> Callable[..., Viewer]:
    """Stands in for ``Viewer`` in the media bridge: the same viewer, its video track
    swapped for a ``DecodedTrack`` of its lane's shared decoder."""

    def viewer(viewer_id: str, lane: str, *args: Any, **kwargs: Any) -> Viewer:
        made = Viewer(viewer_id, lane, *args, **kwargs)
        track = DecodedTrack(decoders.setdefault(lane, LaneDecoder()))
        sender = made.pc.getTransceivers()[0].sender
        # aiortc's own sender again, whose loop encodes the track's frames for this viewer.
        sender.__class__ = RTCRtpSender
        sender.replaceTrack(track)
        # Picture-loss requests go to this viewer's own encoder again, as in aiortc.
        del sender._send_keyframe
        made.video = track  # type: ignore[assignment]
        return made

    return viewer


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("SEAT_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    media.centre.bridge.Viewer = transcoding({})  # type: ignore[attr-defined,assignment]
    run_fast(serve(Settings.from_env()))


if __name__ == "__main__":
    main()
