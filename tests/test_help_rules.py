"""The help page's rules with literals: the limits on placing calls and offering voice,
the phone's secret, when a page counts as gone, and what the page is told."""

from __future__ import annotations

from console.calls.model import Call, CallState, Ending, Source
from console.help_rules import (
    Buckets,
    HelpLimits,
    Limit,
    Presence,
    call_secret,
    phone_view,
    retry_after,
    secret_matches,
)
from gates.vocabulary import Direction

KEY = bytes(range(32))


def call(
    state: CallState = CallState.WAITING,
    agent: str | None = None,
    offered_to: str | None = None,
    ending: Ending | None = None,
) -> Call:
    return Call(
        "c1", "P1-OUT", "人民路停车场", Source.PHONE, Direction.EXIT, 2, created=0.0,
        state=state, agent=agent, offered_to=offered_to, ending=ending,
    )  # fmt: skip


# ------------------------------------------------------------------ limits


def test_an_address_gets_its_burst_then_one_call_a_minute() -> None:
    """Three at once; the fourth waits for the bucket, and is let in when it refilled."""
    limits = HelpLimits()
    assert [limits.place("10.0.0.1", "P1-OUT", now=0) for _ in range(3)] == [0, 0, 0]
    assert limits.place("10.0.0.1", "P1-OUT", now=0) == 60
    assert limits.place("10.0.0.1", "P1-OUT", now=59) == 1
    assert limits.place("10.0.0.1", "P1-OUT", now=60) == 0


def test_a_lane_gets_its_burst_from_any_addresses() -> None:
    """Five calls at one lane from five addresses; the sixth waits, the next lane not."""
    limits = HelpLimits()
    assert [limits.place(f"10.0.0.{n}", "P1-OUT", now=0) for n in range(5)] == [0] * 5
    assert limits.place("10.0.0.9", "P1-OUT", now=0) == 12
    assert limits.place("10.0.0.9", "P2-IN", now=0) == 0


def test_a_refused_call_counts_against_nothing() -> None:
    """A call refused for its lane takes nothing from its address, and the other way."""
    limits = HelpLimits()
    for n in range(5):
        limits.place(f"10.0.0.{n}", "P1-OUT", now=0)
    for _ in range(10):
        assert limits.place("10.0.0.9", "P1-OUT", now=0) > 0
    assert [limits.place("10.0.0.9", "P2-IN", now=0) for _ in range(3)] == [0, 0, 0]


def test_offers_for_one_call_are_limited() -> None:
    """A page may offer its voice again a few times; a flood of offers waits."""
    limits = HelpLimits()
    assert [limits.offer("c1", now=0) for _ in range(5)] == [0] * 5
    assert limits.offer("c1", now=0) == 10
    assert limits.offer("c2", now=0) == 0


def test_buckets_that_refilled_are_forgotten() -> None:
    """A table of every address ever seen would grow without bound; full ones go."""
    buckets = Buckets(Limit(burst=2, every_s=1.0))
    for n in range(100):
        buckets.take(f"10.0.{n}.1", now=0)
    assert len(buckets) == 100
    buckets.take("10.9.9.9", now=120)
    assert len(buckets) == 1


def test_retry_after_is_a_whole_second_at_least() -> None:
    assert [retry_after(0.01), retry_after(1.0), retry_after(1.2)] == [1, 1, 2]


# ------------------------------------------------------------------ the secret


def test_the_secret_is_the_calls_and_the_keys() -> None:
    """Derived from both: another call's or another key's secret does not match."""
    secret = call_secret(KEY, "c1")
    assert len(secret) == 43 and call_secret(KEY, "c1") == secret
    assert secret_matches(KEY, "c1", secret)
    assert not secret_matches(KEY, "c2", secret)
    assert not secret_matches(bytes(32), "c1", secret)
    assert not secret_matches(KEY, "c1", "")


# ------------------------------------------------------------------ presence


def test_a_call_whose_page_never_came_is_due_after_the_time() -> None:
    presence = Presence(gone_s=10)
    presence.expect("c1", now=0)
    assert presence.deadline == 10
    assert presence.due(9) == []
    assert presence.due(10) == ["c1"]
    assert presence.deadline is None


def test_an_open_stream_holds_the_call_and_its_close_starts_the_time() -> None:
    presence = Presence(gone_s=10)
    presence.expect("c1", now=0)
    presence.opened("c1")
    assert presence.deadline is None and presence.due(100) == []
    presence.closed("c1", now=100)
    assert presence.due(109) == [] and presence.due(110) == ["c1"]


def test_a_page_in_two_tabs_is_there_until_both_close() -> None:
    presence = Presence(gone_s=10)
    presence.expect("c1", now=0)
    presence.opened("c1")
    presence.opened("c1")
    presence.closed("c1", now=5)
    assert presence.streams("c1") == 1 and presence.deadline is None
    presence.closed("c1", now=6)
    assert presence.deadline == 16


def test_a_reopened_stream_stops_the_time() -> None:
    presence = Presence(gone_s=10)
    presence.expect("c1", now=0)
    presence.opened("c1")
    presence.closed("c1", now=1)
    presence.opened("c1")
    assert presence.due(50) == []


def test_a_call_that_is_over_is_not_hung_up_again() -> None:
    presence = Presence(gone_s=10)
    presence.expect("c1", now=0)
    presence.forget("c1")
    assert presence.due(50) == [] and presence.deadline is None


# ------------------------------------------------------------------ the page's view


def test_the_page_is_told_queued_answered_ended_never_who() -> None:
    """Waiting and ringing are both 排队中, with the place; the agent is not named."""
    assert phone_view(call(), 2) == {
        "call_id": "c1",
        "state": "queued",
        "position": 2,
        "ending": None,
    }
    assert phone_view(call(state=CallState.RINGING, offered_to="alice"), 1)["state"] == "queued"
    answered = phone_view(call(state=CallState.ACTIVE, agent="alice"), None)
    assert answered["state"] == "answered" and "alice" not in str(answered)
    over = call(state=CallState.ABANDONED, ending=Ending.CALLER)
    assert phone_view(over, None)["state"] == "ended"
    assert phone_view(over, None)["ending"] == "caller"
