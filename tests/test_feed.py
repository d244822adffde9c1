"""The lane camera feed's two clocks, pure: pts carried across camera reopens, and the
GOP a new viewer starts from."""

from __future__ import annotations

from media.lane.feed import LaneClock, catch_up
from media.units import VIDEO_CLOCK, Kind, MediaUnit


def unit(pts: int, keyframe: bool = False) -> MediaUnit:
    return MediaUnit(Kind.VIDEO, 0, pts, 0.0, b"\x00\x00\x00\x01\x41", keyframe)


def test_camera_reopened_continues_by_the_time_it_was_away() -> None:
    """A camera back after 5 s with its pts from 0 again goes on 5 s after its last."""
    clock = LaneClock()
    assert [clock.map(pts, 100.0 + pts / VIDEO_CLOCK) for pts in (0, 6000, 12000)] == [
        0,
        6000,
        12000,
    ]
    clock.restart()
    back = clock.map(0, 100.0 + 12000 / VIDEO_CLOCK + 5.0)
    assert back == 12000 + 5 * VIDEO_CLOCK
    assert clock.map(6000, 0.0) == back + 6000


def test_reopened_at_once_never_repeats_a_timestamp() -> None:
    """A camera back in the same instant still moves its clock on by a tick."""
    clock = LaneClock()
    clock.map(90_000, 1.0)
    clock.restart()
    assert clock.map(0, 1.0) == 90_001


def test_pts_never_go_back_within_a_run() -> None:
    """A unit stamped before the previous one (a camera's glitch) is moved after it."""
    clock = LaneClock()
    clock.map(6000, 0.0)
    assert clock.map(3000, 0.1) == 6001


def test_catch_up_stamps_a_gop_one_tick_apart_ending_at_its_last() -> None:
    """The GOP keeps its bytes and order; only pts change, the last unit's kept."""
    gop = [unit(90_000, True), unit(96_000), unit(102_000)]
    assert [u.pts for u in catch_up(gop)] == [101_998, 101_999, 102_000]
    assert [(u.data, u.keyframe) for u in catch_up(gop)] == [(u.data, u.keyframe) for u in gop]
    assert catch_up([]) == []
