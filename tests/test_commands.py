"""Commands and their one outcome, driven with literals and a fake clock."""

from __future__ import annotations

import pytest

from gates.centre.commands import CommandBook, Outcome, Resolved, Transmit
from gates.errors import OutOfOrder, UnknownCommand
from gates.protocol import OpenGate

OPEN = OpenGate("c1", "paid_not_lifted")


def online_book(*lanes: str) -> CommandBook:
    book = CommandBook()
    for lane in lanes:
        book.lane_up(lane)
    return book


def test_command_to_an_online_lane_is_transmitted() -> None:
    """Issuing sends the command to its lane and leaves it open."""
    book = online_book("L1")
    assert book.issue("L1", OPEN, deadline=10.0) == [Transmit("L1", OPEN)]
    assert book.is_open("c1")


def test_command_to_an_offline_lane_ends_at_once_as_lane_offline() -> None:
    """Nothing is queued for a lane that is not connected."""
    book = online_book()
    assert book.issue("L1", OPEN, 10.0) == [Resolved("L1", "c1", Outcome.LANE_OFFLINE)]
    assert not book.is_open("c1")


def test_ack_then_done_ends_the_command_once() -> None:
    """done after ack is the outcome; a second done is an unknown command."""
    book = online_book("L1")
    book.issue("L1", OPEN, 10.0)
    book.ack("L1", "c1")
    assert book.finish("L1", "c1", 1.0) == Resolved("L1", "c1", Outcome.DONE)
    with pytest.raises(UnknownCommand, match="already ended as done"):
        book.finish("L1", "c1", 1.0)


def test_refused_carries_the_lane_reason() -> None:
    """A refusal ends the command with the lane's reason."""
    book = online_book("L1")
    book.issue("L1", OPEN, 10.0)
    book.ack("L1", "c1")
    assert book.finish("L1", "c1", 1.0, "gate_motor_fault") == Resolved(
        "L1", "c1", Outcome.REFUSED, "gate_motor_fault"
    )


def test_done_before_ack_is_out_of_order_and_changes_nothing() -> None:
    """The lane must acknowledge before it reports an end."""
    book = online_book("L1")
    book.issue("L1", OPEN, 10.0)
    with pytest.raises(OutOfOrder):
        book.finish("L1", "c1", 1.0)
    assert book.is_open("c1")


def test_reply_from_another_lane_is_an_unknown_command() -> None:
    """A lane cannot end a command sent to a different lane."""
    book = online_book("L1", "L2")
    book.issue("L1", OPEN, 10.0)
    with pytest.raises(UnknownCommand):
        book.ack("L2", "c1")
    assert book.is_open("c1")


def test_unacknowledged_command_times_out_at_its_deadline() -> None:
    """No reply by the deadline is a timeout, exactly once."""
    book = online_book("L1")
    book.issue("L1", OPEN, 10.0)
    assert book.expire(9.9) == []
    assert book.expire(10.0) == [Resolved("L1", "c1", Outcome.TIMEOUT)]
    assert book.expire(11.0) == []


def test_end_read_at_or_after_the_deadline_is_a_timeout() -> None:
    """An outcome is never later than its deadline: a done the centre, busy, reads only
    after the deadline does not turn a command that ran out of time into done."""
    book = online_book("L1")
    book.issue("L1", OPEN, 10.0)
    book.ack("L1", "c1")
    assert book.finish("L1", "c1", 10.0) == Resolved("L1", "c1", Outcome.TIMEOUT)
    assert book.expire(11.0) == []
    assert not book.is_open("c1")


def test_lane_that_leaves_mid_command_and_stays_away_ends_as_lane_offline() -> None:
    """The deadline outcome says the lane is gone, not merely slow."""
    book = online_book("L1")
    book.issue("L1", OPEN, 10.0)
    book.lane_down("L1")
    assert book.expire(10.0) == [Resolved("L1", "c1", Outcome.LANE_OFFLINE)]


def test_open_command_is_sent_again_under_the_same_id_when_its_lane_returns() -> None:
    """A link blip does not lose a command: it is resent on reconnect."""
    book = online_book("L1")
    book.issue("L1", OPEN, 10.0)
    book.lane_down("L1")
    assert book.lane_up("L1") == [Transmit("L1", OPEN)]
    book.ack("L1", "c1")
    assert book.finish("L1", "c1", 1.0).outcome is Outcome.DONE


def test_repeated_id_joins_the_first_command_instead_of_sending_again() -> None:
    """Issuing an id twice sends once and reports the first outcome."""
    book = online_book("L1")
    book.issue("L1", OPEN, 10.0)
    assert book.issue("L1", OPEN, 10.0) == []
    book.ack("L1", "c1")
    book.finish("L1", "c1", 1.0)
    assert book.issue("L1", OPEN, 20.0) == [Resolved("L1", "c1", Outcome.DONE)]
