"""The drop rules of media queues and the GOP cache, with literal units."""

from __future__ import annotations

import pytest

from gates.errors import Malformed, TooLarge
from media.buffers import GopCache, KeyframeQueue, Timeline
from media.units import HEADER, MAX_UNIT_BYTES, Kind, MediaUnit


def video(seq: int, *, key: bool = False, size: int = 100) -> MediaUnit:
    return MediaUnit(Kind.VIDEO, seq, seq * 6000, 1.0, bytes(size), keyframe=key)


def audio(seq: int) -> MediaUnit:
    return MediaUnit(Kind.AUDIO, seq, seq * 960, 1.0, b"\x01" * 40)


def drain(queue: KeyframeQueue) -> list[tuple[Kind, int]]:
    out = []
    while (unit := queue.pop()) is not None:
        out.append((unit.kind, unit.seq))
    return out


def test_unit_round_trips_through_its_wire_form() -> None:
    """A unit's header and payload come back exactly as encoded."""
    unit = MediaUnit(Kind.VIDEO, 7, 123456789, 1700000000.25, b"\x00\x00\x00\x01\x65", True)
    raw = unit.encode()
    assert raw[:1] == b"\x01" and len(raw) == HEADER.size + 5
    assert MediaUnit.parse(raw) == unit
    assert MediaUnit.parse(audio(3).encode()) == audio(3)


@pytest.mark.parametrize(
    ("raw", "error"),
    [
        (b"", Malformed),
        (HEADER.pack(0, 1, 1, 1.0), Malformed),  # header without payload
        (HEADER.pack(0x80, 1, 1, 1.0) + b"x", Malformed),  # unknown flag
        (HEADER.pack(0x03, 1, 1, 1.0) + b"x", Malformed),  # audio keyframe
        (HEADER.pack(0, 1, 1, float("nan")) + b"x", Malformed),
        (HEADER.pack(0, 1, 1, 1.0) + bytes(MAX_UNIT_BYTES + 1), TooLarge),
    ],
)
def test_broken_units_are_refused_by_rule(raw: bytes, error: type[Exception]) -> None:
    """Malformed or oversized binary messages raise the error naming the rule."""
    with pytest.raises(error):
        MediaUnit.parse(raw)


def test_queue_starts_at_a_keyframe() -> None:
    """Video before the first keyframe cannot decode and is never queued."""
    queue = KeyframeQueue(max_video_bytes=10_000)
    assert not queue.push(video(1))
    assert queue.push(video(2, key=True)) and queue.push(video(3))
    assert drain(queue) == [(Kind.VIDEO, 2), (Kind.VIDEO, 3)]
    assert queue.dropped.video == 1


def test_overflow_cuts_to_the_next_keyframe_and_keeps_audio() -> None:
    """A full queue drops all queued video and resumes only at a keyframe; audio stays."""
    queue = KeyframeQueue(max_video_bytes=300)
    queue.push(video(1, key=True))
    queue.push(audio(1))
    queue.push(video(2))
    queue.push(video(3))
    assert not queue.push(video(4))  # 400 bytes > 300: cut
    assert queue.wants_keyframe
    assert not queue.push(video(5))
    queue.push(audio(2))
    assert queue.push(video(6, key=True))
    assert not queue.wants_keyframe
    assert drain(queue) == [(Kind.AUDIO, 1), (Kind.AUDIO, 2), (Kind.VIDEO, 6)]
    assert queue.dropped.video == 5


def test_a_unit_lost_upstream_skips_to_the_next_keyframe() -> None:
    """After skip_to_keyframe nothing decodes until a keyframe, so nothing is queued."""
    queue = KeyframeQueue(max_video_bytes=10_000)
    queue.push(video(1, key=True))
    queue.skip_to_keyframe()
    assert not queue.push(video(2))
    assert queue.push(audio(1)) and queue.push(video(3, key=True))
    assert drain(queue) == [(Kind.AUDIO, 1), (Kind.VIDEO, 3)]


def test_an_overflowing_keyframe_replaces_the_queued_video() -> None:
    """A keyframe that overflows the queue is kept and everything older dropped."""
    queue = KeyframeQueue(max_video_bytes=250)
    queue.push(video(1, key=True))
    queue.push(video(2))
    assert queue.push(video(3, key=True))
    assert drain(queue) == [(Kind.VIDEO, 3)]


def test_audio_beyond_its_limit_drops_the_oldest_packet() -> None:
    """Late audio is worthless: the oldest packet goes first."""
    queue = KeyframeQueue(max_video_bytes=1000, max_audio=2)
    for seq in (1, 2, 3):
        queue.push(audio(seq))
    assert drain(queue) == [(Kind.AUDIO, 2), (Kind.AUDIO, 3)]
    assert queue.dropped.audio == 1


def test_gop_cache_holds_the_last_keyframe_and_what_followed() -> None:
    """The burst for a late joiner starts at the newest keyframe."""
    cache = GopCache()
    cache.add(video(1))  # nothing to build on yet
    assert cache.burst() == []
    for unit in (video(2, key=True), video(3), audio(1), video(4, key=True), video(5)):
        cache.add(unit)
    assert [u.seq for u in cache.burst()] == [4, 5]


def test_gop_cache_empties_rather_than_grows_past_its_limit() -> None:
    """A GOP longer than the cache allows is dropped until the next keyframe."""
    cache = GopCache(max_bytes=250)
    for unit in (video(1, key=True), video(2), video(3), video(4)):
        cache.add(unit)
    assert cache.burst() == []
    cache.add(video(5, key=True))
    assert [u.seq for u in cache.burst()] == [5]


def test_timeline_continues_across_upstreams() -> None:
    """A new upstream's pts continue one step after the last one sent."""
    timeline = Timeline(step=6000)
    assert [timeline.map(p) for p in (90_000, 96_000)] == [0, 6000]
    timeline.restart()
    assert [timeline.map(p) for p in (5, 6005)] == [12000, 18000]
    assert timeline.map(0) == 18001  # never backwards
