"""What a car passing a lane does to the stays: the pure rule, with literals."""

from __future__ import annotations

from console.stays.records import StayChange, StayState, StayStep, step
from gates.vocabulary import Direction


def test_an_entry_with_no_open_stay_opens_one() -> None:
    assert step(Direction.ENTRY, "粤B12345", None) == StayStep(
        StayChange.OPENED, new=StayState.OPEN
    )


def test_an_exit_closes_the_plates_open_stay() -> None:
    assert step(Direction.EXIT, "粤B12345", 7) == StayStep(
        StayChange.CLOSED, close=7, closed_as=StayState.EXITED
    )


def test_an_exit_with_no_open_stay_is_kept_as_no_entry() -> None:
    """无入场记录: kept for an agent to match to an entry read under another plate."""
    assert step(Direction.EXIT, "粤B12345", None) == StayStep(
        StayChange.NO_ENTRY, new=StayState.NO_ENTRY
    )


def test_a_second_entry_closes_the_open_stay_as_no_exit_and_opens_another() -> None:
    """The exit was missed; the car is in now, from this entry."""
    assert step(Direction.ENTRY, "粤B12345", 7) == StayStep(
        StayChange.REOPENED, close=7, closed_as=StayState.NO_EXIT, new=StayState.OPEN
    )


def test_a_read_with_no_plate_changes_no_stay() -> None:
    for direction in Direction:
        for open_stay in (None, 7):
            assert step(direction, "", open_stay) == StayStep(StayChange.UNREAD)
    assert step(Direction.ENTRY, " · ", None) == StayStep(StayChange.UNREAD)


def test_a_misread_plate_still_makes_a_stay() -> None:
    """Plates that break GA 36 are what re-matching is for: they are kept, not dropped."""
    assert step(Direction.ENTRY, "粤B1234", None).new is StayState.OPEN
