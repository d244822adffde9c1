"""RFC 3261 §17.1.2.2's timer E and timer F for the lane's OPTIONS and BYE over UDP,
without sockets: when a request is sent again, and when the transaction gives up."""

from __future__ import annotations

import pytest

from gates.hardware.sip.timers import T1, T2, TimerE, retransmits


def test_an_unanswered_request_is_sent_at_t1_doubling_to_t2_until_timer_f() -> None:
    waits = retransmits()

    # Sent at 0, 0.5, 1.5, 3.5, 7.5, ... 31.5 s: eleven sends, then timer F at 32 s.
    assert waits == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 0.5]
    assert sum(waits) == 64 * T1


def test_a_smaller_t1_scales_the_doubling_and_timer_f() -> None:
    waits = retransmits(0.05)

    assert waits[:6] == pytest.approx([0.05, 0.1, 0.2, 0.4, 0.8, 1.6])
    assert max(waits) <= T2
    assert sum(waits) == pytest.approx(64 * 0.05)


def test_a_provisional_answer_spaces_the_sends_at_t2() -> None:
    timer = TimerE()
    assert [timer.next(), timer.next()] == [0.5, 1.0]

    timer.proceeding = True  # a 1xx came during the second wait

    assert [timer.next(), timer.next()] == [T2, T2]


def test_a_shorter_timeout_cuts_the_last_wait() -> None:
    assert retransmits(timeout=1.0) == [0.5, 0.5]
    assert retransmits(timeout=0.2) == [0.2]


def test_a_timer_asked_after_timer_f_stays_expired() -> None:
    timer = TimerE(timeout=1.0)
    while timer.next() is not None:
        pass

    assert timer.next() is None


@pytest.mark.parametrize(
    ("t1", "t2", "timeout"), [(0.0, T2, None), (-0.5, T2, None), (5.0, T2, None), (T1, T2, 0.0)]
)
def test_timers_that_cannot_run_are_refused(t1: float, t2: float, timeout: float | None) -> None:
    with pytest.raises(ValueError, match=r"T1|timeout"):
        TimerE(t1, t2, timeout)
