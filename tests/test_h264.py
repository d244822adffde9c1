"""Reading what an H.264 stream says about itself, on streams real libx264 made."""

from __future__ import annotations

import fractions

import av
import numpy as np
import pytest

from media.lane.annexb import nal_type, nal_units
from media.lane.h264 import SliceType, Vetting, parse_sps, slice_type


def encode(
    frames: int = 8,
    *,
    pix_fmt: str = "yuv420p",
    profile: str | None = None,
    x264_params: str | None = None,
) -> list[bytes]:
    """Annex-B access units of a small moving picture, x264 with ``profile`` and
    ``x264_params`` when given, its defaults otherwise."""
    context = av.CodecContext.create("libx264", "w")
    context.width, context.height, context.pix_fmt = 176, 144, pix_fmt
    context.time_base = fractions.Fraction(1, 25)
    options = {"preset": "veryfast"}
    if profile is not None:
        options["profile"] = profile
    if x264_params is not None:
        options["x264-params"] = x264_params
    context.options = options
    units = []
    for i in range(frames):
        img = np.zeros((144, 176, 3), np.uint8)
        img[:, (i * 9) % 150 : (i * 9) % 150 + 20] = (200, 80, 30)
        frame = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format=pix_fmt)
        frame.pts = i
        units += [bytes(p) for p in context.encode(frame)]
    units += [bytes(p) for p in context.encode(None)]
    return units


def sps_of(units: list[bytes]) -> bytes:
    return next(n for u in units for n in nal_units(u) if nal_type(n) == 7)


@pytest.mark.parametrize(
    ("profile", "name"),
    [("baseline", "Constrained Baseline"), ("main", "Main"), ("high", "High")],
)
def test_sps_names_the_profile_and_size_browsers_take(profile: str, name: str) -> None:
    """Baseline, Main and High SPS read back with their size, and nothing to refuse."""
    sps = parse_sps(sps_of(encode(profile=profile)))
    assert (sps.profile, sps.width, sps.height) == (name, 176, 144)
    assert sps.webrtc_problem() is None


def test_high_444_and_interlaced_are_refused() -> None:
    """A 4:4:4 profile and interlaced pictures are named as what browsers cannot play."""
    full = parse_sps(sps_of(encode(pix_fmt="yuv444p")))
    assert full.webrtc_problem() == "High 4:4:4 Predictive profile"
    fields = parse_sps(sps_of(encode(x264_params="interlaced=1")))
    assert (fields.width, fields.height) == (176, 144)
    assert fields.webrtc_problem() == "interlaced"


def test_b_slices_are_seen_in_slice_headers() -> None:
    """x264's default GOP has B slices; Baseline has only I and P."""
    with_b = {slice_type(n) for u in encode(16, profile="high") for n in nal_units(u)}
    without = {slice_type(n) for u in encode(16, profile="baseline") for n in nal_units(u)}
    assert SliceType.B in with_b
    assert without - {None} == {SliceType.I, SliceType.P}


def test_vetting_names_what_the_camera_sends() -> None:
    """The first B slice makes the problem, described with the SPS's profile and size."""
    vetting = Vetting()
    problems = [vetting.check(unit) for unit in encode(16, profile="high")]
    assert problems[0] is None and problems[-1] == "with B-frames"
    assert vetting.describe() == "H.264 High profile, 176x144, with B-frames"
    assert all(Vetting().check(u) is None for u in encode(16, profile="baseline"))


def test_a_truncated_sps_is_an_error_not_a_guess() -> None:
    """An SPS cut short raises ValueError rather than reporting made-up fields."""
    with pytest.raises(ValueError, match="ends in the middle"):
        parse_sps(sps_of(encode(profile="high"))[:6])
