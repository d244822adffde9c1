"""The one H.264 encoder of the lane, for pictures that are not H.264 already.

Every browser must be able to decode what the lane sends without the centre touching
it, so the settings are the ones docs/media.md measured: libx264 Constrained Baseline
(SPS ``42c0..``), SPS/PPS repeated before every IDR so a viewer can start at any
keyframe, a fixed GOP, no B-frames (WebRTC's baseline profile has none) and no
lookahead (``zerolatency``: one frame in, one access unit out).
"""

from __future__ import annotations

import fractions
from dataclasses import dataclass
from typing import Final

import av
import numpy as np
import numpy.typing as npt
from av.video.frame import PictureType

from media.units import VIDEO_CLOCK

Image = npt.NDArray[np.uint8]

# docs/media.md: about 1.5 Mbit/s at 1280x720 15 fps; smaller frames get proportionally
# less, with a floor below which x264 smears a plate beyond reading.
_BITS_PER_PIXEL_SECOND: Final = 1_500_000 / (1280 * 720)
_MIN_BIT_RATE: Final = 250_000
_TIME_BASE: Final = fractions.Fraction(1, VIDEO_CLOCK)


def bit_rate_for(width: int, height: int) -> int:
    """The target bit rate for a frame size: 1.5 Mbit/s at 720p, scaled by area."""
    return max(_MIN_BIT_RATE, round(width * height * _BITS_PER_PIXEL_SECOND))


def x264_options(gop: int) -> dict[str, str]:
    """Encoder options measured in docs/media.md. ``profile`` must be given here: setting
    ``codec_context.profile = "baseline"`` is silently ignored and yields High profile."""
    return {
        "preset": "veryfast",
        "tune": "zerolatency",
        "profile": "baseline",
        "forced-idr": "1",
        "x264-params": f"repeat-headers=1:scenecut=0:keyint={gop}:min-keyint={gop}:bframes=0",
    }


@dataclass(frozen=True, slots=True)
class Encoded:
    """One Annex-B access unit; ``pts`` on the 90 kHz clock."""

    data: bytes
    pts: int
    keyframe: bool


class H264Encoder:
    """libx264 for frames of one size; pictures of another size or pixel format are
    scaled and converted on the way in. Not thread-safe: one thread encodes."""

    def __init__(self, width: int, height: int, *, fps: float, gop: int) -> None:
        if width < 16 or height < 16:
            raise ValueError(f"cannot encode {width}x{height} frames")
        self.width = width - width % 2  # 4:2:0 needs even sides
        self.height = height - height % 2
        self.gop = gop
        context = av.CodecContext.create("libx264", "w")
        context.width = self.width
        context.height = self.height
        context.pix_fmt = "yuv420p"
        context.time_base = _TIME_BASE
        context.framerate = fractions.Fraction(fps).limit_denominator(1001)
        rate = bit_rate_for(self.width, self.height)
        context.bit_rate = rate
        # x264's one-pass ABR alone overshoots by a quarter on a noisy lane (every IDR is
        # ~200 KB at 720p); a one-second VBV holds 1.5 Mbit/s and IDRs near 60 KB, which
        # the lane's send queue and the centre's GOP cache are sized for (units.py).
        context.options = {**x264_options(gop), "maxrate": str(rate), "bufsize": str(rate)}
        self._context = context

    def encode(
        self, picture: av.VideoFrame | Image, pts: int, *, idr: bool = False
    ) -> list[Encoded]:
        """Encode one picture (a decoded frame, or a BGR image) shown at ``pts`` (90 kHz).

        ``idr`` makes it a keyframe now, for a viewer that cannot wait out the GOP.
        """
        if isinstance(picture, av.VideoFrame):
            frame = picture
        else:
            frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
        frame.pts = pts
        frame.time_base = _TIME_BASE
        frame.pict_type = PictureType.I if idr else PictureType.NONE
        return [
            Encoded(
                bytes(packet), packet.pts if packet.pts is not None else pts, packet.is_keyframe
            )
            for packet in self._context.encode(frame)
        ]
