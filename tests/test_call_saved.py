"""The call service's saved state: the text a step writes, made from values kept
encoded until they change, reads back as the queue and commands it was made from."""

from __future__ import annotations

import json

from console.calls.commands import CallCommands
from console.calls.model import CallRequest, Settings, Source
from console.calls.queue import CallQueue
from console.calls.saved import StateText, parse_state
from gates.vocabulary import Direction


def desk() -> CallQueue:
    queue = CallQueue(Settings(), new_id=iter(f"c{n}" for n in range(100)).__next__)
    queue.login("alice", 0.0)
    queue.login("bob", 1.0, car_parks=["北门"])
    queue.place(CallRequest("L1", "南门", Direction.EXIT, event_id="e1"), 2.0)
    queue.place(CallRequest("L2", "北门", Direction.ENTRY, Source.HOTLINE, caller="400"), 3.0)
    return queue


def test_the_text_reads_back_as_the_queue_it_was_made_from() -> None:
    queue = desk()
    text = StateText()(queue, CallCommands())
    assert json.loads(text)["queue"] == queue.to_json()
    again, commands = parse_state(text, queue.settings)
    assert again.to_json() == queue.to_json() and commands.to_json() == {}


def test_a_value_changed_since_the_last_text_is_encoded_anew() -> None:
    """Calls and agents kept encoded from one step to the next: what a step changed
    shows in its text, what it did not is as before, and a call that finished leaves."""
    queue, state = desk(), StateText()
    state(queue, CallCommands())
    queue.accept("c0", "alice", 4.0)  # alice was rung for c0: now she holds it
    queue.end("c0", "alice", 5.0)
    text = state(queue, CallCommands())
    assert json.loads(text)["queue"] == queue.to_json()
    assert [call["id"] for call in json.loads(text)["queue"]["calls"]] == ["c1"]
