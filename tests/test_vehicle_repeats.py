"""Which camera reads are one car: the repeat rule, with literal times, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.errors import BadRequest
from console.vehicles.repeats import RepeatFilter

T0 = datetime(2026, 11, 29, 8, 0, 0, tzinfo=UTC)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_three_reads_of_a_plate_within_seconds_at_a_lane_are_one_car() -> None:
    """The first read is new; the next two, 2 s and 5 s later, repeat it."""
    reads = RepeatFilter(window_s=10)
    verdicts = [reads.is_repeat("P1-IN", "粤B12345", at(s)) for s in (0, 2, 5)]
    assert verdicts == [False, True, True]


def test_the_window_runs_from_the_latest_read_so_a_waiting_car_stays_one() -> None:
    """Reads every 8 s for 40 s with a 10 s window: one car, though it spans 40 s."""
    reads = RepeatFilter(window_s=10)
    verdicts = [reads.is_repeat("P1-OUT", "粤B12345", at(s)) for s in range(0, 41, 8)]
    assert verdicts == [False, True, True, True, True, True]


def test_a_read_after_the_window_is_a_new_car() -> None:
    reads = RepeatFilter(window_s=10)
    assert not reads.is_repeat("P1-IN", "粤B12345", at(0))
    assert not reads.is_repeat("P1-IN", "粤B12345", at(10.5))


def test_the_same_plate_at_another_lane_is_another_event() -> None:
    """The car's exit right after its entry (a U-turn) is not its entry again."""
    reads = RepeatFilter(window_s=10)
    assert not reads.is_repeat("P1-IN", "粤B12345", at(0))
    assert not reads.is_repeat("P1-OUT", "粤B12345", at(3))


def test_two_cars_read_in_turn_at_one_lane_each_count_once() -> None:
    """A queue: the car behind is read between reads of the first; neither repeats the
    other, and each repeats itself."""
    reads = RepeatFilter(window_s=10)
    verdicts = [
        reads.is_repeat("P1-IN", plate, at(s))
        for plate, s in (("粤B12345", 0), ("粤B67890", 1), ("粤B12345", 2), ("粤B67890", 3))
    ]
    assert verdicts == [False, False, True, True]


def test_plates_compare_as_normalised() -> None:
    """The camera's spacing and full-width letters do not make another car."""
    reads = RepeatFilter(window_s=10)
    assert not reads.is_repeat("P1-IN", "粤B12345", at(0))
    assert reads.is_repeat("P1-IN", "粤Ｂ 12345", at(1))


def test_reads_with_no_plate_never_repeat() -> None:
    """Two unread vehicles cannot be told to be one car."""
    reads = RepeatFilter(window_s=10)
    assert [reads.is_repeat("P1-IN", "", at(s)) for s in (0, 1)] == [False, False]


def test_a_lane_clock_stepping_back_within_the_window_still_repeats() -> None:
    reads = RepeatFilter(window_s=10)
    assert not reads.is_repeat("P1-IN", "粤B12345", at(5))
    assert reads.is_repeat("P1-IN", "粤B12345", at(1))


def test_a_read_the_whole_window_after_is_a_new_car() -> None:
    reads = RepeatFilter(window_s=10)
    assert not reads.is_repeat("P1-IN", "粤B12345", at(0))
    assert not reads.is_repeat("P1-IN", "粤B12345", at(10))


def test_a_zero_window_keeps_every_read() -> None:
    """Even two reads stamped the same instant."""
    reads = RepeatFilter(window_s=0)
    assert not reads.is_repeat("P1-IN", "粤B12345", at(0))
    assert not reads.is_repeat("P1-IN", "粤B12345", at(0))


def test_a_naive_time_or_a_negative_window_is_refused() -> None:
    with pytest.raises(BadRequest):
        RepeatFilter(window_s=-1)
    with pytest.raises(BadRequest):
        RepeatFilter(window_s=10).is_repeat("P1-IN", "粤B12345", datetime(2026, 11, 29, 8))
