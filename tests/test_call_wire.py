"""What one server tells the others of a step it saved, without sockets: the message
reads back as the step's effects; a malformed one is refused; a ring or its end that a
later step overtook is not told again."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from console.calls.effects import (
    AgentChanged,
    Alert,
    AlertKind,
    CallChanged,
    Effect,
    QueueChanged,
    Ring,
    RingEnd,
    StopRinging,
)
from console.calls.model import CallRequest, Settings
from console.calls.queue import CallQueue
from console.calls.wire import SavedStep, current, finished_calls, saved_step
from console.cluster.envelope import EnvelopeError, open_as, seal
from gates.vocabulary import Direction


def desk() -> CallQueue:
    numbers = itertools.count(1)
    queue = CallQueue(Settings(ring_s=10.0, wrap_s=0.0), new_id=lambda: f"c{next(numbers)}")
    queue.login("alice", 0.0)
    queue.login("bob", 1.0)
    return queue


def press(queue: CallQueue, now: float) -> tuple[str, list[Effect]]:
    call, effects = queue.place(CallRequest("L1", "A", Direction.EXIT), now)
    return call.id, effects


def test_a_step_reads_back_as_its_effects() -> None:
    """Every kind of effect, with the calls and agents whole."""
    queue = desk()
    call_id, placed = press(queue, 2.0)
    accepted = queue.accept(call_id, "alice", 3.0)
    ended = queue.end(call_id, "alice", 9.0)
    alert = Alert(AlertKind.MISSED_RINGS, "bob", "missed 3 rings in a row")
    effects = [*placed, *accepted, *ended, alert, QueueChanged(("alice", "bob"))]
    kinds = {type(effect) for effect in effects}
    assert kinds == {Ring, StopRinging, CallChanged, AgentChanged, Alert, QueueChanged}
    step = saved_step(7, effects, {call_id: "alice", "other": "bob"})
    assert step.holders == {call_id: "alice"}  # only the calls it changed
    heard = open_as(seal("s1", step), SavedStep)
    assert (heard.sender, heard.body) == ("s1", step)
    assert [call.id for call in finished_calls(step.effects)] == [call_id]


@pytest.mark.parametrize(
    ("body", "why"),
    [
        ({"effects": [], "holders": {}}, "no 'version'"),
        ({"version": "1", "effects": [], "holders": {}}, "'version' is not an integer"),
        ({"version": 1, "effects": {}, "holders": {}}, "'effects' is not a list"),
        ({"version": 1, "effects": [], "holders": {"c1": 7}}, "a holder is not a string"),
        ({"version": 1, "effects": [{"x": 1}], "holders": {}}, "unknown call effect"),
        ({"version": 1, "effects": [5], "holders": {}}, r"effects\[0\]"),
        (
            {
                "version": 1,
                "effects": [{"stop": {"call": "c", "agent": "a", "reason": "bored"}}],
                "holders": {},
            },
            "bored",
        ),
    ],
)
def test_a_malformed_step_is_refused(body: dict[str, Any], why: str) -> None:
    data = json.dumps({"v": 1, "kind": "call_step", "from": "s1", "body": body}).encode()
    with pytest.raises(EnvelopeError, match=why):
        open_as(data, SavedStep)


def test_a_ring_still_ringing_is_told() -> None:
    queue = desk()
    _, effects = press(queue, 2.0)
    assert current(queue, effects) == [Ring("c1", "alice", 12.0)]


def test_a_ring_a_later_step_ended_is_not_told_but_its_end_is() -> None:
    """Another server's ring arrives after the step that ran it out was read."""
    queue = desk()
    _, rang = press(queue, 2.0)
    ran_out = queue.tick(12.0)  # alice missed it: bob is rung
    assert current(queue, rang) == []
    assert current(queue, ran_out) == [
        StopRinging("c1", "alice", RingEnd.MISSED),
        Ring("c1", "bob", 22.0),
    ]


def test_the_end_of_a_ring_is_not_told_to_an_agent_rung_again_since() -> None:
    """alice alone: her missed ring comes round to her again in a later step; the end
    of the first, heard late, must not stop the second."""
    numbers = itertools.count(1)
    settings = Settings(ring_s=10.0, missed_rings_break=5)
    queue = CallQueue(settings, new_id=lambda: f"c{next(numbers)}")
    queue.login("alice", 0.0)
    press(queue, 2.0)
    first = queue.tick(12.0)  # ends alice's ring and rings her again, until 22
    assert current(queue, first) == [
        StopRinging("c1", "alice", RingEnd.MISSED),
        Ring("c1", "alice", 22.0),
    ]
    queue.tick(22.0)  # and again, until 32
    assert current(queue, first) == []
