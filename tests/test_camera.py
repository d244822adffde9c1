"""Lane cameras produce H.264 a browser can decode: synthetic, passed through, transcoded.

Everything here runs real libx264 and FFmpeg (PyAV) on small pictures; the checks read
the bytes (NAL units, SPS fields) and the decoded pixels (the burnt-in capture time).
"""

from __future__ import annotations

import contextlib
import itertools
import re
import socket
import time
from collections.abc import Iterable
from pathlib import Path

import av
import numpy as np
import numpy.typing as npt
import pytest

from media.errors import CameraError
from media.lane.annexb import ParameterSets
from media.lane.camera import FfmpegCamera, SyntheticCamera
from media.lane.encoder import H264Encoder
from media.lane.stamp import block_size, read_stamp, write_stamp
from media.units import VIDEO_CLOCK, Kind, MediaUnit

Image = npt.NDArray[np.uint8]
T0 = 1_750_000_000.0  # a capture time in 2025, for stamps burnt into test files


async def take(camera: SyntheticCamera | FfmpegCamera, count: int) -> list[MediaUnit]:
    units: list[MediaUnit] = []
    async with contextlib.aclosing(camera.units()) as stream:
        async for unit in stream:
            units.append(unit)
            if len(units) == count:
                break
    return units


def nals(data: bytes) -> list[bytes]:
    """NAL units between Annex-B start codes, split here independently of media.lane.annexb."""
    return [part.rstrip(b"\x00") for part in re.split(b"\x00\x00\x01", data)[1:]]


def nal_types(data: bytes) -> list[int]:
    return [unit[0] & 0x1F for unit in nals(data)]


def decode(units: Iterable[MediaUnit]) -> list[Image]:
    """Decode units with FFmpeg's H.264 decoder, as a viewer would."""
    decoder = av.CodecContext.create("h264", "r")
    frames: list[Image] = []
    for unit in units:
        for frame in decoder.decode(av.Packet(unit.data)):
            frames.append(np.asarray(frame.to_ndarray(format="bgr24"), np.uint8))
    return frames


def picture(i: int, size: tuple[int, int]) -> Image:
    """A gradient with a square moving across it: cheap to encode, different each frame."""
    width, height = size
    img = np.zeros((height, width, 3), np.uint8)
    img[:] = np.linspace(40, 200, width, dtype=np.uint8)[None, :, None]
    x = (i * 13) % (width - 40)
    img[height // 2 : height // 2 + 40, x : x + 40] = (30, 60, 220)
    return img


def assert_constrained_baseline(unit: bytes) -> None:
    sps = [n for n in nals(unit) if n[0] & 0x1F == 7]
    assert sps, "no SPS in the keyframe"
    profile_idc, constraints = sps[0][1], sps[0][2]
    assert profile_idc == 66, f"profile_idc {profile_idc}, not Baseline"
    assert constraints & 0x40, "constraint_set1_flag unset: not Constrained Baseline"
    assert 8 in nal_types(unit), "no PPS in the keyframe"


def write_video(
    path: Path,
    codec: str,
    frames: int,
    *,
    size: tuple[int, int] = (320, 240),
    fps: int = 25,
    profile: str = "baseline",
) -> None:
    """A short file whose frame i carries the stamp T0 + i; H.264 in ``profile`` with
    x264's defaults otherwise (B-frames, but for Baseline)."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height = size
        if codec == "libx264":
            stream.options = {
                "profile": profile,
                "x264-params": "keyint=5:min-keyint=5:scenecut=0",
            }
        else:
            stream.pix_fmt = "yuvj420p"
        for i in range(frames):
            img = picture(i, size)
            write_stamp(img, T0 + i)
            frame = av.VideoFrame.from_ndarray(img, format="bgr24")
            frame.pts = i
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))


def mp4toannexb(path: Path) -> list[bytes]:
    """What FFmpeg's h264_mp4toannexb filter makes of every packet of ``path``."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        bsf = av.BitStreamFilterContext("h264_mp4toannexb", stream)
        return [
            bytes(out)
            for packet in container.demux(stream)
            if packet.size
            for out in bsf.filter(packet)
        ]


@pytest.mark.parametrize("size", [(640, 480), (1280, 720)])
def test_stamp_survives_h264_encode_and_decode(size: tuple[int, int]) -> None:
    """The capture time reads back to the millisecond from decoded YUV 4:2:0 frames."""
    encoder = H264Encoder(*size, fps=15, gop=15)
    decoder = av.CodecContext.create("h264", "r")
    times = [T0 + i * 0.0667 + 0.0005 * i for i in range(8)]
    read: list[float | None] = []
    for i, t in enumerate(times):
        img = picture(i, size)
        write_stamp(img, t)
        for unit in encoder.encode(img, i * 6000):
            for frame in decoder.decode(av.Packet(unit.data)):
                read.append(read_stamp(np.asarray(frame.to_ndarray(format="bgr24"), np.uint8)))
    assert read == [round(t * 1000) / 1000 for t in times]


def test_frame_without_stamp_reads_none() -> None:
    """A picture that never had a stamp gives None, not a made-up time."""
    assert read_stamp(picture(0, (640, 480))) is None
    assert read_stamp(np.zeros((480, 640, 3), np.uint8)) is None
    assert read_stamp(np.full((480, 640, 3), 255, np.uint8)) is None


def test_damaged_stamp_is_rejected_by_its_check() -> None:
    """Flipping one time bit makes the CRC fail, so a damaged stamp reads as None."""
    img = picture(0, (640, 480))
    write_stamp(img, T0)
    assert read_stamp(img) == T0
    side = block_size(640)
    block = img[:side, 20 * side : 21 * side]  # a block of the time field
    block[:] = 255 - block
    assert read_stamp(img) is None


def make_camera(kind: str, tmp_path: Path) -> SyntheticCamera | FfmpegCamera:
    if kind == "synthetic":
        return SyntheticCamera("Lane 1", size=(320, 240), fps=60, gop=5)
    path = tmp_path / ("lane.mp4" if kind == "passthrough" else "lane.avi")
    write_video(path, "libx264" if kind == "passthrough" else "mjpeg", 12)
    return FfmpegCamera(str(path), realtime=False)


@pytest.mark.parametrize("kind", ["synthetic", "passthrough", "transcoded"])
async def test_every_camera_starts_at_a_self_contained_keyframe(kind: str, tmp_path: Path) -> None:
    """Each source's first unit is an Annex-B IDR with SPS and PPS, and what follows decodes."""
    units = await take(make_camera(kind, tmp_path), 12)
    assert [u.seq for u in units] == list(range(12))
    assert all(u.kind is Kind.VIDEO for u in units)
    first = units[0]
    assert first.keyframe and first.data.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01"))
    assert {5, 7, 8} <= set(nal_types(first.data))
    assert sorted(u.pts for u in units) == sorted(set(u.pts for u in units))  # no repeats
    assert {frame.shape for frame in decode(units)} == {(240, 320, 3)}


async def test_synthetic_camera_starts_with_a_constrained_baseline_keyframe() -> None:
    """The first unit is an Annex-B IDR carrying an SPS (Constrained Baseline) and a PPS."""
    units = await take(SyntheticCamera("Lane 1", size=(320, 240), fps=60, gop=5), 1)
    first = units[0]
    assert first.kind is Kind.VIDEO and first.keyframe and first.seq == 0
    assert first.data.startswith((b"\x00\x00\x00\x01", b"\x00\x00\x01"))
    assert 5 in nal_types(first.data)
    assert_constrained_baseline(first.data)


async def test_synthetic_camera_units_decode_with_a_keyframe_every_gop() -> None:
    """Units decode at the requested size; keyframes recur every gop frames; pts rise."""
    units = await take(SyntheticCamera("Lane 1", size=(320, 240), fps=60, gop=5), 12)
    assert [u.seq for u in units] == list(range(12))
    assert [i for i, u in enumerate(units) if u.keyframe] == [0, 5, 10]
    assert [i for i, u in enumerate(units) if 5 in nal_types(u.data)] == [0, 5, 10]
    assert all(b.pts > a.pts for a, b in itertools.pairwise(units))
    frames = decode(units)
    assert len(frames) == 12
    assert {frame.shape for frame in frames} == {(240, 320, 3)}


async def test_synthetic_camera_stamps_the_capture_time_into_the_picture() -> None:
    """The time read from each decoded frame is the unit's ``captured`` to the ms."""
    before = time.time()
    units = await take(SyntheticCamera("Lane 1", size=(640, 480), fps=60, gop=15), 6)
    stamps = [read_stamp(frame) for frame in decode(units)]
    assert all(s is not None for s in stamps)
    for unit, stamp in zip(units, stamps, strict=True):
        assert stamp is not None and abs(stamp - unit.captured) <= 0.0006
        assert before - 0.001 <= unit.captured <= time.time()


async def test_synthetic_camera_makes_a_keyframe_on_request() -> None:
    """A viewer asking for a keyframe gets one next, instead of waiting out the GOP."""
    camera = SyntheticCamera("Lane 1", size=(320, 240), fps=60, gop=50)
    keyframes = []
    async with contextlib.aclosing(camera.units()) as stream:
        async for unit in stream:
            keyframes.append(unit.keyframe)
            if len(keyframes) == 3:
                camera.request_keyframe()
            if len(keyframes) == 5:
                break
    assert keyframes == [True, False, False, True, False]


async def test_mp4_h264_passes_through_without_decoding(tmp_path: Path) -> None:
    """Units are exactly h264_mp4toannexb's output; every keyframe has SPS and PPS."""
    path = tmp_path / "lane.mp4"
    write_video(path, "libx264", 12)
    expected = mp4toannexb(path)
    units = await take(FfmpegCamera(str(path), realtime=False), 100)
    assert [u.data for u in units] == expected
    keyframes = [u for u in units if u.keyframe]
    assert len(keyframes) == 3  # keyint=5 over 12 frames
    for unit in keyframes:
        assert {5, 7, 8} <= set(nal_types(unit.data))
    # pts count frames at 90 kHz.
    assert sorted(u.pts for u in units) == [i * VIDEO_CLOCK // 25 for i in range(12)]


async def test_raw_h264_keyframes_get_the_parameter_sets_sent_once(tmp_path: Path) -> None:
    """SPS/PPS sent once in a raw stream reach every keyframe; slices pass byte for byte."""
    encoder = H264Encoder(320, 240, fps=25, gop=4)
    units_in = [e.data for i in range(10) for e in encoder.encode(picture(i, (320, 240)), i * 3600)]
    stripped = [units_in[0]] + [
        b"".join(b"\x00\x00\x00\x01" + n for n in nals(u) if n[0] & 0x1F not in (7, 8))
        for u in units_in[1:]
    ]
    path = tmp_path / "lane.h264"
    path.write_bytes(b"".join(stripped))
    assert nal_types(path.read_bytes()).count(7) == 1  # the file is what the test means

    units = await take(FfmpegCamera(str(path), realtime=False), 100)
    assert [i for i, u in enumerate(units) if u.keyframe] == [0, 4, 8]
    for unit in units:
        types = nal_types(unit.data)
        if 5 in types:
            assert unit.keyframe and types.index(7) < types.index(8) < types.index(5)

    def pictures(data: Iterable[bytes]) -> list[bytes]:
        return [n for d in data for n in nals(d) if n[0] & 0x1F not in (7, 8)]

    assert pictures(u.data for u in units) == pictures(stripped)
    assert len(decode(units)) == 10


def test_parameter_sets_go_after_an_access_unit_delimiter() -> None:
    """H.264 7.4.1.2.3: an AUD stays first when SPS/PPS are added to an IDR unit."""
    sets = ParameterSets(b"\x00\x00\x00\x01\x67\x42\xc0\x1f\x00\x00\x00\x01\x68\xce")
    aud_idr = b"\x00\x00\x00\x01\x09\xf0\x00\x00\x00\x01\x65\x88"
    data, keyframe = sets.complete(aud_idr)
    assert keyframe
    assert nal_types(data) == [9, 7, 8, 5]
    p_frame = b"\x00\x00\x01\x41\x9a"
    assert sets.complete(p_frame) == (p_frame, False)


async def test_mjpeg_file_is_transcoded_to_constrained_baseline(tmp_path: Path) -> None:
    """MJPEG becomes H.264 Constrained Baseline that decodes to the file's pictures."""
    path = tmp_path / "lane.avi"
    write_video(path, "mjpeg", 8)
    units = await take(FfmpegCamera(str(path), realtime=False), 100)
    assert len(units) == 8 and units[0].keyframe
    assert_constrained_baseline(units[0].data)
    frames = decode(units)
    assert {frame.shape for frame in frames} == {(240, 320, 3)}
    assert [read_stamp(frame) for frame in frames] == [T0 + i for i in range(8)]
    assert [u.pts for u in units] == [i * VIDEO_CLOCK // 25 for i in range(8)]


async def test_missing_file_raises_camera_error_naming_it(tmp_path: Path) -> None:
    """A file that is not there fails at once, and the detail says which and why."""
    path = tmp_path / "nowhere.mp4"
    with pytest.raises(CameraError) as caught:
        await take(FfmpegCamera(str(path)), 1)
    assert str(path) in caught.value.detail
    assert "No such file" in caught.value.detail
    assert caught.value.code == "camera_unavailable"


async def test_unreachable_rtsp_camera_fails_quickly() -> None:
    """A camera nobody listens for is reported in seconds, with the URL and the cause."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"rtsp://127.0.0.1:{port}/x"
    started = time.monotonic()
    with pytest.raises(CameraError) as caught:
        await take(FfmpegCamera(url), 1)
    assert time.monotonic() - started < 3.0
    assert url in caught.value.detail
    assert "refused" in caught.value.detail.lower()


async def test_looping_file_replays_with_rising_pts(tmp_path: Path) -> None:
    """loop=True starts the file over at its end; pts keep rising across replays."""
    path = tmp_path / "lane.mp4"
    write_video(path, "libx264", 6)
    units = await take(FfmpegCamera(str(path), realtime=False, loop=True), 15)
    assert len(units) == 15
    assert [u.data for u in units[:6]] == [u.data for u in units[6:12]]
    assert [i for i, u in enumerate(units) if u.keyframe] == [0, 5, 6, 11, 12]
    assert sorted(u.pts for u in units[:12]) == [i * VIDEO_CLOCK // 25 for i in range(12)]


async def test_file_is_paced_at_its_frame_rate(tmp_path: Path) -> None:
    """A file stands in for a live camera: 8 frames at 50 fps take at least 7/50 s."""
    path = tmp_path / "lane.avi"
    write_video(path, "mjpeg", 8, fps=50)
    started = time.monotonic()
    units = await take(FfmpegCamera(str(path)), 8)
    elapsed = time.monotonic() - started
    assert len(units) == 8
    assert elapsed >= 7 / 50 - 0.01
    # No frame comes before its time (a busy machine may make frames late, and late
    # frames then come together: only the lower bound is the camera's).
    first = units[0].captured
    assert all(unit.captured - first >= n / 50 - 0.01 for n, unit in enumerate(units))


async def test_mp4_with_b_frames_is_encoded_again_and_says_why(tmp_path: Path) -> None:
    """An MP4 of High profile with B-frames: from the next keyframe on, units are the
    lane's Constrained Baseline, every frame decodes, and ``transcoding`` names the cause."""
    path = tmp_path / "lane.mp4"
    write_video(path, "libx264", 20, profile="high")
    camera = FfmpegCamera(str(path), realtime=False)
    units = await take(camera, 100)
    assert camera.transcoding is not None
    assert "High profile, 320x240, with B-frames" in camera.transcoding
    encoded = units[next(i for i, u in enumerate(units) if i and u.keyframe) :]
    assert_constrained_baseline(encoded[0].data)
    frames = decode(encoded)
    assert len(frames) == len(encoded)
    assert [read_stamp(f) for f in frames] == [T0 + i for i in range(20 - len(encoded), 20)]
