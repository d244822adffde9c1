"""A lane with a real RTSP camera (GStreamer's RTSP server and x264, ``tests/rtsp.py``):
passed through byte for byte when browsers can play it, encoded once and reported when
they cannot, kept open and watched for faults whether or not anyone views it, and its
clock carried on when it comes back."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path

import pytest

from console.settings import Settings
from gates.lane.drivers import FaultRaised, LaneEvent
from gates.lane.faults import Faults
from media.lane.annexb import IDR, nal_type, nal_units
from media.lane.camera import FfmpegCamera
from media.lane.feed import CameraFeed
from media.lane.h264 import SliceType, parse_sps, slice_type
from media.lane.publisher import Publisher
from media.lane.sources import CAMERA_FAULT, TRANSCODING_FAULT
from media.units import VIDEO_CLOCK, MediaUnit
from tests.conftest import TEST_POLICY, Centre, LaneFactory
from tests.rtsp import rtsp_camera, start_camera
from tests.test_camera import decode, take
from tests.viewers import watch

SMALL = ("--size", "320x240")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path, port=0, command_timeout_s=3.0, heartbeat=TEST_POLICY)


def slices(data: bytes) -> list[bytes]:
    return [nal for nal in nal_units(data) if nal_type(nal) in (1, IDR)]


async def lane_with_camera(centre: Centre, lanes: LaneFactory, url: str) -> Publisher:
    token = await centre.add_lane("L1")
    publisher = Publisher(
        "L1",
        token,
        camera=lambda: FfmpegCamera(url),
        microphone=None,
        speaker=None,
    )
    await lanes("L1", publisher=publisher)
    return publisher


async def fault_of(centre: Centre, code: str) -> str:
    status = await centre.wait_status(
        "L1", lambda s: any(f.code == code for f in s.faults), timeout=30
    )
    return next(f.detail for f in status.faults if f.code == code)


async def test_baseline_camera_passes_through_byte_for_byte(tmp_path: Path) -> None:
    """Every slice the lane sends is the camera encoder's own, in order: nothing decoded,
    nothing encoded again, and nothing reported."""
    record = tmp_path / "sent.h264"
    async with rtsp_camera(*SMALL, "--record", str(record)) as camera:
        source = FfmpegCamera(camera.url)
        units = await take(source, 40)
        assert source.transcoding is None
    sent = slices(record.read_bytes())
    passed = [nal for unit in units for nal in slices(unit.data)]
    start = sent.index(passed[0])
    assert passed == sent[start : start + len(passed)]
    assert units[0].keyframe
    sps = next(n for n in nal_units(units[0].data) if nal_type(n) == 7)
    assert parse_sps(sps).profile == "Constrained Baseline"


async def test_camera_units_arrive_as_filmed_not_in_a_burst() -> None:
    """The lane reads a camera as it films: no unit arrives half a second or more ahead
    of its timestamp, as FFmpeg's default probe made two seconds of them do."""
    async with rtsp_camera(*SMALL) as camera:
        units = await take(FfmpegCamera(camera.url), 30)
    first = units[0]
    ahead = [(u.pts - first.pts) / VIDEO_CLOCK - (u.captured - first.captured) for u in units[1:]]
    assert max(ahead) < 0.5


async def test_b_frame_camera_is_encoded_once_reported_and_plays(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A High-profile camera with B-frames is a camera_transcoding fault, with no viewer,
    naming what it sends and what to set; a viewer then decodes its picture."""
    async with rtsp_camera(*SMALL, "--profile", "high", "--bframes", "2") as camera:
        await lane_with_camera(staffed, lanes, camera.url)
        detail = await fault_of(staffed, TRANSCODING_FAULT)
        assert not staffed.media.streaming("L1")
        async with staffed.client("alice") as client:
            peer = await watch(client, "L1")
            try:
                frames = await peer.wait_frames(15, timeout=30)
            finally:
                await peer.close()
    assert "High profile" in detail and "B-frames" in detail and "Baseline" in detail
    assert {(f.width, f.height) for f in frames} == {(320, 240)}


async def test_b_frame_camera_units_are_constrained_baseline_without_b_slices() -> None:
    """What the lane makes of a B-frame camera decodes in order, with no B slice left."""
    async with rtsp_camera(*SMALL, "--profile", "high", "--bframes", "2") as camera:
        source = FfmpegCamera(camera.url)
        units = await take(source, 45)
    assert source.transcoding is not None
    keyframe = next(i for i, u in enumerate(units) if u.keyframe and i > 0)
    encoded = units[keyframe:]
    types = {slice_type(nal) for u in encoded for nal in slices(u.data)}
    assert SliceType.B not in types
    sps = next(n for n in nal_units(encoded[0].data) if nal_type(n) == 7)
    assert parse_sps(sps).profile == "Constrained Baseline"
    assert all(b.pts > a.pts for a, b in itertools.pairwise(encoded))
    assert len(decode(encoded)) == len(encoded)


async def test_wrong_camera_url_is_a_fault_with_no_viewer(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A lane started with a camera path the camera does not serve shows
    camera_unavailable in the console at once, though nobody opened the live view."""
    async with rtsp_camera(*SMALL) as camera:
        await lane_with_camera(staffed, lanes, camera.url.replace("/cam", "/wrong"))
        detail = await fault_of(staffed, CAMERA_FAULT)
    assert "/wrong" in detail and "404" in detail
    assert staffed.media.viewers("L1") == [] and not staffed.media.streaming("L1")


async def test_a_camera_that_comes_back_carries_its_clock_on() -> None:
    """Units after a camera's return go on from the pts before it failed by the time
    that passed, and the camera fault it raised is cleared."""
    events: list[LaneEvent] = []
    changed = asyncio.Event()
    faults = Faults()

    def report(event: LaneEvent) -> None:
        events.append(event)
        changed.set()

    faults.report = report
    units: list[MediaUnit] = []
    arrived = asyncio.Event()

    def push(unit: MediaUnit) -> None:
        units.append(unit)
        arrived.set()

    camera = await start_camera(*SMALL)
    feed = CameraFeed(lambda: FfmpegCamera(camera.url), "L1", faults)
    running = asyncio.create_task(feed.run())
    stop = feed.watch(push)
    try:
        async with asyncio.timeout(60):
            while len(units) < 10:
                arrived.clear()
                await arrived.wait()
            await camera.stop()
            while not any(isinstance(e, FaultRaised) and e.active for e in events):
                changed.clear()
                await changed.wait()
            before = units[-1]
            camera = await start_camera(*SMALL, "--port", str(camera.port))
            count = len(units)
            while len(units) < count + 10:
                arrived.clear()
                await arrived.wait()
    finally:
        stop()
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
        await camera.stop()
    after = units[count]
    assert after.keyframe
    assert all(b.pts > a.pts for a, b in itertools.pairwise(units))
    away = after.captured - before.captured
    assert abs((after.pts - before.pts) / VIDEO_CLOCK - away) < 0.25
    assert [(e.code, e.active) for e in events if isinstance(e, FaultRaised)] == [
        (CAMERA_FAULT, True),
        (CAMERA_FAULT, False),
    ]


async def test_a_new_viewer_starts_from_the_current_gop_stamped_to_decode_at_once() -> None:
    """Joining a kept-open camera gives the last keyframe and every unit since, at once,
    one tick apart, the last at its own time; live units carry on from it."""
    faults = Faults()
    faults.report = lambda event: None
    async with rtsp_camera(*SMALL, "--gop", "15") as camera:
        feed = CameraFeed(lambda: FfmpegCamera(camera.url), "L1", faults)
        running = asyncio.create_task(feed.run())
        seen: list[MediaUnit] = []
        arrived = asyncio.Event()

        def early(unit: MediaUnit) -> None:
            seen.append(unit)
            arrived.set()

        stop_early = feed.watch(early)
        joined: list[MediaUnit] = []
        try:
            async with asyncio.timeout(30):
                # Past a second keyframe and into its GOP: the cache holds part of a GOP.
                while sum(u.keyframe for u in seen) < 2 or seen[-1].keyframe:
                    arrived.clear()
                    await arrived.wait()
                live = seen[-1]
                gop = seen[max(i for i, u in enumerate(seen) if u.keyframe) :]
                stop_joined = feed.watch(joined.append)
                burst = list(joined)
                while len(joined) == len(burst):
                    arrived.clear()
                    await arrived.wait()
            stop_joined()
        finally:
            stop_early()
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    assert [u.data for u in burst] == [u.data for u in gop]
    assert burst[0].keyframe and not any(u.keyframe for u in burst[1:])
    assert [u.pts for u in burst] == [live.pts - len(burst) + 1 + i for i in range(len(burst))]
    assert joined[len(burst)].pts > live.pts
