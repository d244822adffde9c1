"""The call queue's rules, driven with literals: times are numbers the test chooses, and
every effect the queue asks for is checked as a value."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import TypeVar

import pytest

from console.calls.effects import (
    AgentChanged,
    Alert,
    AlertKind,
    CallChanged,
    CallStep,
    Effect,
    QueueChanged,
    Ring,
    RingEnd,
    StopRinging,
)
from console.calls.model import (
    MISSED_RINGS,
    AgentState,
    Call,
    CallKind,
    CallRequest,
    CallState,
    Ending,
    Settings,
    Source,
    Transfer,
    TransferKind,
)
from console.calls.queue import CallQueue
from console.errors import (
    BadCallRequest,
    CallEnded,
    CallError,
    CallTaken,
    NotAvailable,
    NotYourCall,
    UnknownCall,
)
from gates.vocabulary import Direction

E = TypeVar("E")


def desk(settings: Settings | None = None) -> CallQueue:
    """A queue whose calls are numbered c1, c2, ... in the order they are placed."""
    numbers = itertools.count(1)
    return CallQueue(settings or Settings(), new_id=lambda: f"c{next(numbers)}")


def lane(
    lane_id: str = "L1",
    park: str = "A",
    direction: Direction = Direction.EXIT,
    event_id: str | None = None,
) -> CallRequest:
    return CallRequest(lane_id, park, direction, event_id=event_id)


def phone(lane_id: str = "L1", park: str = "A", caller: str = "13800000001") -> CallRequest:
    return CallRequest(lane_id, park, Direction.EXIT, Source.PHONE, caller=caller)


def hotline(lane_id: str = "L1", park: str = "A") -> CallRequest:
    return CallRequest(lane_id, park, Direction.ENTRY, Source.HOTLINE, caller="13800000002")


def only(effects: list[Effect], kind: type[E]) -> list[E]:
    return [effect for effect in effects if isinstance(effect, kind)]


def place(queue: CallQueue, request: CallRequest, now: float = 0.0) -> Call:
    return queue.place(request, now)[0]


def steps(effects: list[Effect]) -> list[tuple[str, CallStep]]:
    return [(change.call.id, change.step) for change in only(effects, CallChanged)]


def on_call(queue: CallQueue, name: str = "alice", now: float = 0.0) -> Call:
    """``name`` logs in alone and answers a fresh exit-lane call at ``now``."""
    queue.login(name, now)
    call = place(queue, lane(), now)
    queue.accept(call.id, name, now)
    return queue.call(call.id)


# ------------------------------------------------------------------ placing calls


def test_a_lane_call_waits_with_the_priority_of_its_direction() -> None:
    """A press at an exit lane makes a waiting call ranked as an exit-lane call."""
    queue = desk()
    call, effects = queue.place(lane(event_id="e1"), 5.0)
    assert (call.id, call.state, call.kind, call.priority) == (
        "c1",
        CallState.WAITING,
        CallKind.EXIT_LANE,
        4,
    )
    assert (call.created, call.event_id, call.presses, call.source) == (5.0, "e1", 1, Source.LANE)
    assert effects == [CallChanged(call, CallStep.PLACED)]


def test_a_repeated_event_id_is_the_same_call() -> None:
    """The lane sending its press again is not a second call, nor a second press."""
    queue = desk()
    first = place(queue, lane(event_id="e1"))
    again, effects = queue.place(lane(event_id="e1"), 3.0)
    assert again == first and effects == []
    assert len(queue.calls()) == 1


def test_the_same_event_id_from_another_lane_is_another_call() -> None:
    """Event ids are the lane's own: only (lane, event id) identifies a press."""
    queue = desk()
    place(queue, lane("L1", event_id="e1"))
    other = place(queue, lane("L2", event_id="e1"))
    assert other.id == "c2"


def test_a_press_replayed_after_its_call_ended_does_not_call_again() -> None:
    """A lane replays presses sent while its link was down; one already handled is done."""
    queue = desk()
    call = on_call(queue)
    queue.place(lane(event_id="e9"), 0.0)  # joins the active call
    queue.end(call.id, "alice", 10.0)
    again, effects = queue.place(lane(event_id="e9"), 20.0)
    assert again.id == call.id and again.state is CallState.ENDED and effects == []


def test_presses_while_a_lane_call_is_open_join_it() -> None:
    """Pressing again while waiting counts the press and keeps one call."""
    queue = desk()
    place(queue, lane(event_id="e1"))
    joined, effects = queue.place(lane(event_id="e2"), 4.0)
    assert (joined.id, joined.presses, joined.event_ids) == ("c1", 2, ("e1", "e2"))
    assert effects == [CallChanged(joined, CallStep.JOINED)]
    assert joined.created == 0.0


def test_a_press_during_the_active_call_joins_it() -> None:
    """The driver pressing again while talking to the agent is the same call."""
    queue = desk()
    call = on_call(queue)
    joined = place(queue, lane(), 30.0)
    assert joined.id == call.id and joined.presses == 2 and joined.state is CallState.ACTIVE


def test_a_press_after_the_call_ended_places_a_new_call() -> None:
    """Once the call is over, the next press is a new call."""
    queue = desk()
    call = on_call(queue)
    queue.end(call.id, "alice", 10.0)
    assert place(queue, lane(), 20.0).id == "c2"


def test_a_phone_call_for_a_lane_with_a_waiting_lane_call_is_its_own_call() -> None:
    """Only presses of the lane's button join the lane's call."""
    queue = desk()
    place(queue, lane())
    call = place(queue, phone())
    assert call.id == "c2" and call.kind is CallKind.PHONE and call.caller == "13800000001"


def test_settings_must_rank_every_kind_of_call() -> None:
    """A priority table missing a kind is refused when the settings are made."""
    with pytest.raises(ValueError, match="hotline"):
        Settings(priorities={CallKind.EXIT_LANE: 3, CallKind.ENTRY_LANE: 2, CallKind.PHONE: 1})


# ------------------------------------------------------------------ priority


def test_waiting_calls_are_ordered_exit_entry_phone_hotline() -> None:
    """By default an exit lane comes first, then an entry lane, a phone, the hotline."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.set_state("alice", AgentState.BREAK, 0.0, reason="lunch")
    place(queue, hotline("L4"), 1.0)
    place(queue, phone("L3"), 2.0)
    place(queue, lane("L2", direction=Direction.ENTRY), 3.0)
    place(queue, lane("L1"), 4.0)
    assert [call.lane_id for call in queue.queue_for("alice")] == ["L1", "L2", "L3", "L4"]


def test_within_a_priority_the_oldest_call_comes_first() -> None:
    """Two exit lanes: the one waiting longer is ahead."""
    queue = desk()
    place(queue, lane("L2"), 5.0)
    place(queue, lane("L1"), 7.0)
    assert [queue.position("c1"), queue.position("c2")] == [1, 2]


def test_a_priority_table_from_the_settings_reorders_the_queue() -> None:
    """A site that answers phones first says so in its settings."""
    priorities = {CallKind.PHONE: 9, CallKind.EXIT_LANE: 5, CallKind.ENTRY_LANE: 4}
    queue = CallQueue(Settings(priorities={**priorities, CallKind.HOTLINE: 1}))
    exit_call = place(queue, lane("L1"), 0.0)
    phone_call = place(queue, phone("L2"), 1.0)
    assert queue.position(phone_call.id) == 1 and queue.position(exit_call.id) == 2


def test_the_highest_priority_call_is_offered_first() -> None:
    """An agent coming online is rung for the most urgent of the waiting calls."""
    queue = desk()
    place(queue, phone("L3"), 0.0)
    place(queue, lane("L2", direction=Direction.ENTRY), 1.0)
    place(queue, lane("L1"), 2.0)
    effects = queue.login("alice", 3.0)
    assert only(effects, Ring) == [Ring("c3", "alice", 18.0)]


# ------------------------------------------------------------------ ringing


def test_a_call_rings_one_available_agent() -> None:
    """With two agents free, one is rung; the other is left alone."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.login("bob", 1.0)
    call, effects = queue.place(lane(), 2.0)
    assert only(effects, Ring) == [Ring(call.id, "alice", 17.0)]
    assert queue.agent("alice").state is AgentState.RINGING
    assert queue.agent("bob").state is AgentState.AVAILABLE
    assert queue.call(call.id).offered_to == "alice"


def test_the_agent_idle_longest_is_rung_first() -> None:
    """Idle time counts from when an agent last became available."""
    queue = desk()
    queue.login("alice", 10.0)
    queue.login("bob", 5.0)
    _, effects = queue.place(lane(), 20.0)
    assert only(effects, Ring)[0].agent == "bob"


def test_equal_idle_time_goes_to_the_first_name() -> None:
    """A tie is broken by name, so routing never depends on dict order."""
    queue = desk()
    queue.login("carol", 0.0)
    queue.login("alice", 0.0)
    queue.login("bob", 0.0)
    _, effects = queue.place(lane(), 1.0)
    assert only(effects, Ring)[0].agent == "alice"


def test_the_idle_clock_restarts_after_a_call() -> None:
    """An agent just back from wrap-up is rung after one who waited longer."""
    queue = desk(Settings(wrap_s=10))
    call = on_call(queue, "alice", 0.0)
    queue.login("bob", 5.0)
    queue.end(call.id, "alice", 20.0)
    queue.tick(30.0)  # alice available again, idle since 30
    _, effects = queue.place(lane("L2"), 40.0)
    assert only(effects, Ring)[0].agent == "bob"


def test_each_agent_is_rung_for_one_call_at_a_time() -> None:
    """Two calls and one agent: the second call waits unrung."""
    queue = desk()
    queue.login("alice", 0.0)
    place(queue, lane("L1"), 1.0)
    second, effects = queue.place(lane("L2"), 2.0)
    assert only(effects, Ring) == []
    assert second.state is CallState.WAITING


def test_an_agent_covering_only_park_a_is_never_rung_for_park_b() -> None:
    """Coverage holds through ring timeouts too: the park B call rings nobody."""
    queue = desk()
    queue.login("alice", 0.0, car_parks=["A"])
    call, effects = queue.place(lane("L9", park="B"), 1.0)
    later = queue.tick(100.0)
    assert only(effects, Ring) == [] and only(later, Ring) == []
    assert queue.call(call.id).state is CallState.WAITING
    assert queue.queue_for("alice") == []


def test_an_agent_covering_all_car_parks_is_rung_for_any() -> None:
    """No list of car parks means every car park."""
    queue = desk()
    queue.login("alice", 0.0, car_parks=["A"])
    queue.login("bob", 5.0)
    _, effects = queue.place(lane("L9", park="B"), 6.0)
    assert only(effects, Ring)[0].agent == "bob"


def test_the_ring_moves_on_after_the_ring_timeout() -> None:
    """Fifteen seconds unanswered: the next agent is rung, the first is free again."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.login("bob", 1.0)
    call = place(queue, lane(), 2.0)
    assert queue.next_deadline() == 17.0
    effects = queue.tick(17.0)
    assert only(effects, StopRinging) == [StopRinging(call.id, "alice", RingEnd.MISSED)]
    assert only(effects, Ring) == [Ring(call.id, "bob", 32.0)]
    assert steps(effects) == [(call.id, CallStep.MISSED), (call.id, CallStep.OFFERED)]
    assert queue.agent("alice").state is AgentState.AVAILABLE
    assert queue.agent("alice").missed == 1


def test_nothing_moves_before_the_ring_timeout() -> None:
    """A tick before the deadline does nothing."""
    queue = desk()
    queue.login("alice", 0.0)
    place(queue, lane(), 2.0)
    assert queue.tick(16.9) == []


def test_when_every_agent_missed_the_ring_the_round_starts_again() -> None:
    """After both agents let it ring out, the first is rung again."""
    queue = desk(Settings(missed_rings_break=3))
    queue.login("alice", 0.0)
    queue.login("bob", 1.0)
    call = place(queue, lane(), 2.0)
    queue.tick(17.0)  # alice missed, bob rung
    effects = queue.tick(32.0)  # bob missed
    assert only(effects, Ring) == [Ring(call.id, "alice", 47.0)]
    assert queue.call(call.id).tried == ()


def test_two_missed_rings_in_a_row_send_the_agent_on_a_break_with_an_alert() -> None:
    """An agent away from the desk stops being rung, and supervisors hear of it."""
    queue = desk()
    queue.login("alice", 0.0)
    place(queue, lane(), 0.0)
    queue.tick(15.0)  # first miss: rung again at once, being the only agent
    effects = queue.tick(30.0)
    alice = queue.agent("alice")
    assert (alice.state, alice.break_reason, alice.missed) == (AgentState.BREAK, MISSED_RINGS, 0)
    assert only(effects, Alert) == [
        Alert(AlertKind.MISSED_RINGS, "alice", "missed 2 rings in a row")
    ]
    assert queue.call("c1").state is CallState.WAITING


def test_an_accept_resets_the_count_of_missed_rings() -> None:
    """Misses must be in a row: answering in between starts the count again."""
    queue = desk(Settings(wrap_s=5))
    queue.login("alice", 0.0)
    call = place(queue, lane(), 0.0)
    queue.tick(15.0)  # missed once, rung again
    queue.accept(call.id, "alice", 16.0)
    assert queue.agent("alice").missed == 0
    queue.end(call.id, "alice", 20.0)
    queue.tick(25.0)
    place(queue, lane("L2"), 30.0)
    queue.tick(45.0)  # one miss after the accept: still available
    assert queue.agent("alice").state is AgentState.RINGING
    assert queue.agent("alice").missed == 1


def test_a_decline_moves_the_ring_on_and_is_not_a_miss() -> None:
    """The decliner is free again, owes no miss, and is not rung for that call again."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.login("bob", 1.0)
    call = place(queue, lane(), 2.0)
    effects = queue.decline(call.id, "alice", 3.0)
    assert only(effects, StopRinging) == [StopRinging(call.id, "alice", RingEnd.DECLINED)]
    assert only(effects, Ring) == [Ring(call.id, "bob", 18.0)]
    assert queue.agent("alice").missed == 0
    assert queue.decline(call.id, "bob", 4.0) != []
    assert queue.call(call.id).state is CallState.WAITING  # both declined: nobody rung
    assert queue.call(call.id).declined == ("alice", "bob")


def test_a_decliner_may_still_pick_the_call_from_their_queue() -> None:
    """Declining stops the ring, not the agent's right to the call."""
    queue = desk()
    queue.login("alice", 0.0)
    call = place(queue, lane(), 1.0)
    queue.decline(call.id, "alice", 2.0)
    assert [c.id for c in queue.queue_for("alice")] == [call.id]
    queue.accept(call.id, "alice", 3.0)
    assert queue.call(call.id).agent == "alice"


def test_declining_a_call_not_ringing_for_you_is_refused() -> None:
    """Only the rung agent can decline, and only while it rings."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.login("bob", 1.0)
    call = place(queue, lane(), 2.0)
    with pytest.raises(CallError) as caught:
        queue.decline(call.id, "bob", 3.0)
    assert caught.value.code == "not_ringing"


def test_going_on_a_break_while_rung_moves_the_ring_on_at_once() -> None:
    """The ring does not wait for its timeout when the agent steps away."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.login("bob", 1.0)
    call = place(queue, lane(), 2.0)
    effects = queue.set_state("alice", AgentState.BREAK, 3.0, reason="toilet")
    assert only(effects, StopRinging) == [StopRinging(call.id, "alice", RingEnd.AGENT_AWAY)]
    assert only(effects, Ring) == [Ring(call.id, "bob", 18.0)]
    assert queue.agent("alice").missed == 0


# ------------------------------------------------------------------ queues and positions


def test_a_waiting_call_shows_in_the_queue_of_every_agent_who_covers_it() -> None:
    """Rung to one agent or to nobody, the call is listed for all who could take it."""
    queue = desk()
    queue.login("alice", 0.0, car_parks=["A"])
    queue.login("bob", 1.0, car_parks=["A", "B"])
    queue.login("carol", 2.0, car_parks=["B"])
    call = place(queue, lane(), 3.0)
    assert [c.id for c in queue.queue_for("alice")] == [call.id]
    assert [c.id for c in queue.queue_for("bob")] == [call.id]
    assert queue.queue_for("carol") == []


def test_an_offline_agent_has_no_queue() -> None:
    """The queue is for agents on duty."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.logout("alice", 1.0)
    place(queue, lane(), 2.0)
    assert queue.queue_for("alice") == []


def test_a_new_call_names_the_agents_whose_queue_changed() -> None:
    """The driver learns whose list to refresh; agents of other parks are left alone."""
    queue = desk()
    queue.login("alice", 0.0, car_parks=["A"])
    queue.login("bob", 1.0, car_parks=["B"])
    _, effects = queue.place(lane(), 2.0)
    assert only(effects, QueueChanged) == [QueueChanged(("alice",))]


def test_position_counts_only_calls_competing_for_the_same_agents() -> None:
    """A call in park B with its own agents does not hold back a park A call."""
    queue = desk()
    queue.login("alice", 0.0, car_parks=["A"])
    queue.login("bob", 0.0, car_parks=["B"])
    queue.set_state("alice", AgentState.BREAK, 0.0)
    queue.set_state("bob", AgentState.BREAK, 0.0)
    place(queue, lane("L9", park="B"), 1.0)
    place(queue, lane("L2", park="A"), 2.0)
    phone_call = place(queue, phone("L1", park="A"), 3.0)
    assert queue.position(phone_call.id) == 2
    assert queue.position("c1") == 1


def test_position_with_nobody_online_counts_every_call_ahead() -> None:
    """With no agent to judge competition by, every call ahead counts."""
    queue = desk()
    place(queue, lane("L9", park="B"), 1.0)
    call = place(queue, phone("L1", park="A"), 2.0)
    assert queue.position(call.id) == 2


def test_an_answered_call_has_no_position() -> None:
    """Position is for the phone page while waiting."""
    queue = desk()
    call = on_call(queue)
    assert queue.position(call.id) is None


# ------------------------------------------------------------------ accepting


def test_accepting_a_ring_stops_it_and_puts_the_agent_on_the_call() -> None:
    """The call is the agent's, answered now, and no longer rings."""
    queue = desk()
    queue.login("alice", 0.0)
    call = place(queue, lane(), 2.0)
    effects = queue.accept(call.id, "alice", 9.0)
    held = queue.call(call.id)
    assert only(effects, StopRinging) == [StopRinging(call.id, "alice", RingEnd.ANSWERED)]
    assert (held.state, held.agent, held.answered, held.wait_s(50.0)) == (
        CallState.ACTIVE,
        "alice",
        9.0,
        7.0,
    )
    assert (queue.agent("alice").state, queue.agent("alice").call_id) == (
        AgentState.ON_CALL,
        call.id,
    )
    assert held.offered_to is None and held.ring_until is None


def test_picking_a_call_rung_to_someone_else_stops_their_ring() -> None:
    """Any covering agent may take a ringing call; the rung one is freed, no miss."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.login("bob", 1.0)
    call = place(queue, lane(), 2.0)
    effects = queue.accept(call.id, "bob", 3.0)
    assert only(effects, StopRinging) == [StopRinging(call.id, "alice", RingEnd.TAKEN)]
    assert queue.agent("alice").state is AgentState.AVAILABLE
    assert queue.agent("alice").missed == 0


def test_only_one_accept_wins_and_the_loser_learns_the_holder() -> None:
    """The second accept is refused with call_taken naming the first."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.login("bob", 1.0)
    call = place(queue, lane(), 2.0)
    queue.accept(call.id, "bob", 3.0)
    with pytest.raises(CallTaken) as caught:
        queue.accept(call.id, "alice", 3.0)
    assert (caught.value.code, caught.value.holder, caught.value.status) == (
        "call_taken",
        "bob",
        409,
    )
    assert caught.value.extra == {"holder": "bob"}


def test_accepting_ones_own_call_again_does_nothing() -> None:
    """A retried accept (a double click, a resent request) is harmless."""
    queue = desk()
    call = on_call(queue)
    assert queue.accept(call.id, "alice", 5.0) == []


def test_accepting_while_on_another_call_is_refused() -> None:
    """One call at a time."""
    queue = desk()
    on_call(queue)
    other = place(queue, lane("L2"), 1.0)
    with pytest.raises(NotAvailable) as caught:
        queue.accept(other.id, "alice", 2.0)
    assert caught.value.code == "on_call"


def test_accepting_on_a_break_is_refused() -> None:
    """An agent on a break must become available first."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.set_state("alice", "break", 0.0, reason="lunch")
    call = place(queue, lane(), 1.0)
    with pytest.raises(NotAvailable) as caught:
        queue.accept(call.id, "alice", 2.0)
    assert caught.value.code == "not_available"


def test_accepting_a_call_outside_ones_car_parks_is_refused() -> None:
    """Coverage binds picking from the queue as it binds ringing."""
    queue = desk()
    queue.login("alice", 0.0, car_parks=["A"])
    call = place(queue, lane(park="B"), 1.0)
    with pytest.raises(NotYourCall) as caught:
        queue.accept(call.id, "alice", 2.0)
    assert (caught.value.code, caught.value.status) == ("not_covered", 403)


def test_accepting_an_unknown_call_is_refused() -> None:
    """A call id the queue does not hold is a 404."""
    queue = desk()
    queue.login("alice", 0.0)
    with pytest.raises(UnknownCall) as caught:
        queue.accept("nope", "alice", 1.0)
    assert (caught.value.code, caught.value.status) == ("unknown_call", 404)


def test_an_agent_who_never_logged_in_is_unknown() -> None:
    """Steps by a name the queue has not seen are refused."""
    queue = desk()
    call = place(queue, lane(), 0.0)
    with pytest.raises(UnknownCall) as caught:
        queue.accept(call.id, "mallory", 1.0)
    assert caught.value.code == "unknown_agent"


def test_accepting_an_ended_call_is_refused() -> None:
    """An ended call stays ended."""
    queue = desk()
    call = on_call(queue)
    queue.end(call.id, "alice", 5.0)
    queue.login("bob", 6.0)
    with pytest.raises(CallEnded) as caught:
        queue.accept(call.id, "bob", 7.0)
    assert caught.value.code == "call_ended"


def test_accepting_an_abandoned_call_is_refused() -> None:
    """So does an abandoned one."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.set_state("alice", AgentState.BREAK, 0.0)
    call = place(queue, phone(), 1.0)
    queue.hang_up(call.id, 2.0)
    queue.set_state("alice", AgentState.AVAILABLE, 3.0)
    with pytest.raises(CallEnded):
        queue.accept(call.id, "alice", 4.0)


def test_picking_a_call_while_rung_for_another_moves_that_ring_on() -> None:
    """Taking a call from the queue gives up the ring of the other one."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.login("bob", 1.0)
    first = place(queue, lane("L1"), 2.0)  # rings alice
    second = place(queue, phone("L2"), 3.0)  # rings bob
    effects = queue.accept(second.id, "alice", 4.0)
    assert only(effects, StopRinging) == [
        StopRinging(first.id, "alice", RingEnd.AGENT_AWAY),
        StopRinging(second.id, "bob", RingEnd.TAKEN),
    ]
    assert only(effects, Ring) == [Ring(first.id, "bob", 19.0)]


def test_picking_a_call_during_wrap_up_ends_the_wrap_up() -> None:
    """An agent ready before the wrap-up is over may take the next call."""
    queue = desk()
    call = on_call(queue)
    queue.end(call.id, "alice", 10.0)
    waiting = place(queue, lane("L2"), 12.0)
    queue.accept(waiting.id, "alice", 15.0)
    assert queue.agent("alice").state is AgentState.ON_CALL
    assert queue.agent("alice").wrap_until is None
    assert queue.call(call.id).wrap_s == 5.0


def test_an_accepted_call_leaves_the_other_agents_queues() -> None:
    """The agents who listed the call are told their queue changed."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.login("bob", 1.0)
    queue.login("carol", 1.0, car_parks=["B"])
    call = place(queue, lane(), 2.0)
    effects = queue.accept(call.id, "alice", 3.0)
    assert only(effects, QueueChanged) == [QueueChanged(("alice", "bob"))]
    assert queue.queue_for("bob") == []


def test_a_refused_step_changes_nothing() -> None:
    """A rule that refuses raises before it touches the state."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.login("bob", 1.0)
    call = place(queue, lane(), 2.0)
    queue.accept(call.id, "bob", 3.0)
    before = queue.to_json()
    steps: list[Callable[[], object]] = [
        lambda: queue.accept(call.id, "alice", 4.0),
        lambda: queue.end(call.id, "alice", 4.0),
        lambda: queue.transfer(call.id, "alice", "bob", 4.0),
        lambda: queue.set_state("bob", AgentState.BREAK, 4.0),
    ]
    for step in steps:
        with pytest.raises(CallError):
            step()
    assert queue.to_json() == before


# ------------------------------------------------------------------ ending and wrap-up


def test_ending_puts_the_holder_in_wrap_up_then_available() -> None:
    """Wrap-up lasts wrap_s, then the tick makes the agent available."""
    queue = desk()
    call = on_call(queue)
    effects = queue.end(call.id, "alice", 60.0)
    ended = queue.call(call.id)
    assert (ended.state, ended.ended, ended.ending, ended.ended_by) == (
        CallState.ENDED,
        60.0,
        Ending.AGENT,
        "alice",
    )
    assert steps(effects) == [(call.id, CallStep.ENDED)]
    assert queue.agent("alice").state is AgentState.WRAP_UP
    assert queue.next_deadline() == 90.0
    later = queue.tick(90.0)
    assert queue.agent("alice").state is AgentState.AVAILABLE
    assert steps(later) == [(call.id, CallStep.WRAPPED)]
    assert queue.call(call.id).wrap_s == 30.0


def test_an_agent_may_end_wrap_up_early() -> None:
    """Choosing available during wrap-up ends it then."""
    queue = desk()
    call = on_call(queue)
    queue.end(call.id, "alice", 60.0)
    queue.set_state("alice", AgentState.AVAILABLE, 70.0)
    assert queue.agent("alice").state is AgentState.AVAILABLE
    assert queue.call(call.id).wrap_s == 10.0


def test_a_new_call_rings_an_agent_just_out_of_wrap_up() -> None:
    """The end of wrap-up routes the waiting calls."""
    queue = desk()
    call = on_call(queue)
    waiting = place(queue, lane("L2"), 10.0)
    queue.end(call.id, "alice", 20.0)
    effects = queue.tick(50.0)
    assert only(effects, Ring) == [Ring(waiting.id, "alice", 65.0)]


def test_only_the_holder_may_end_a_call() -> None:
    """Ending someone else's call is not_your_call."""
    queue = desk()
    call = on_call(queue)
    queue.login("bob", 1.0)
    with pytest.raises(NotYourCall) as caught:
        queue.end(call.id, "bob", 2.0)
    assert caught.value.code == "not_your_call"


def test_a_waiting_call_cannot_be_ended() -> None:
    """Nobody holds a waiting call, so nobody may end it."""
    queue = desk()
    queue.login("alice", 0.0)
    call = place(queue, lane(), 1.0)
    with pytest.raises(NotYourCall):
        queue.end(call.id, "alice", 2.0)


def test_a_supervisor_may_end_an_agents_call() -> None:
    """The holder goes to wrap-up as if they had ended it; the supervisor is untouched."""
    queue = desk()
    call = on_call(queue)
    queue.login("sue", 1.0, supervisor=True)
    queue.end(call.id, "sue", 2.0)
    assert queue.call(call.id).ended_by == "sue"
    assert queue.agent("alice").state is AgentState.WRAP_UP
    assert queue.agent("sue").state is AgentState.AVAILABLE


def test_an_ended_call_cannot_be_ended_again() -> None:
    """The second end is call_ended."""
    queue = desk()
    call = on_call(queue)
    queue.end(call.id, "alice", 5.0)
    with pytest.raises(CallEnded):
        queue.end(call.id, "alice", 6.0)


# ------------------------------------------------------------------ transfers


def test_a_named_transfer_rings_only_that_agent_and_wraps_up_the_holder() -> None:
    """The call rings the named agent, not the one idle longest; history records it."""
    queue = desk()
    call = on_call(queue, "alice", 0.0)
    queue.login("bob", 1.0)
    queue.login("carol", 2.0)
    effects = queue.transfer(call.id, "alice", "carol", 10.0, note="refund")
    assert only(effects, Ring) == [Ring(call.id, "carol", 25.0)]
    moved = queue.call(call.id)
    assert moved.transfers == (Transfer(10.0, TransferKind.AGENT, "alice", "carol", "refund"),)
    assert moved.for_agent == "carol" and moved.agent is None
    assert queue.agent("alice").state is AgentState.WRAP_UP
    assert [c.id for c in queue.queue_for("bob")] == []


def test_the_transfer_target_keeps_the_first_answer_time() -> None:
    """Wait and handle times run from the first answer, not the transfer."""
    queue = desk()
    call = on_call(queue, "alice", 5.0)
    queue.login("bob", 6.0)
    queue.transfer(call.id, "alice", "bob", 10.0)
    queue.accept(call.id, "bob", 12.0)
    held = queue.call(call.id)
    assert (held.agent, held.answered, held.for_agent) == ("bob", 5.0, None)


def test_an_unanswered_named_transfer_returns_to_the_queue_above_fresh_calls() -> None:
    """If the named agent lets it ring out, the call goes to the general queue first."""
    queue = desk()
    call = on_call(queue, "alice", 0.0)
    queue.login("bob", 1.0)
    queue.set_state("bob", AgentState.BREAK, 2.0)
    fresh = place(queue, lane("L2"), 3.0)
    queue.set_state("bob", AgentState.AVAILABLE, 4.0)  # rung for the fresh call
    queue.decline(fresh.id, "bob", 5.0)
    queue.transfer(call.id, "alice", "bob", 6.0)
    effects = queue.tick(21.0)
    back = queue.call(call.id)
    assert (back.for_agent, back.priority) == (None, 5)
    assert steps(effects)[0] == (call.id, CallStep.MISSED)
    assert queue.position(call.id) == 1 and queue.position(fresh.id) == 2
    # bob, the only one free, is rung for it again before the fresh call.
    assert only(effects, Ring) == [Ring(call.id, "bob", 36.0)]


def test_a_declined_named_transfer_goes_back_to_the_queue_at_once() -> None:
    """A decline by the named agent sends it to the others at once, not to him again."""
    queue = desk()
    call = on_call(queue, "alice", 0.0)
    queue.login("bob", 1.0)
    queue.login("carol", 2.0)
    queue.transfer(call.id, "alice", "bob", 10.0)
    effects = queue.decline(call.id, "bob", 11.0)
    back = queue.call(call.id)
    assert (back.for_agent, back.declined) == (None, ("bob",))
    assert only(effects, Ring) == [Ring(call.id, "carol", 26.0)]


def test_a_transfer_to_an_agent_who_is_not_available_is_refused() -> None:
    """The target must be free to take it now."""
    queue = desk()
    call = on_call(queue, "alice", 0.0)
    queue.login("bob", 1.0)
    queue.set_state("bob", AgentState.BREAK, 1.0)
    with pytest.raises(NotAvailable):
        queue.transfer(call.id, "alice", "bob", 2.0)


def test_a_transfer_to_an_agent_who_does_not_cover_the_car_park_is_refused() -> None:
    """A named transfer keeps to coverage."""
    queue = desk()
    call = on_call(queue, "alice", 0.0)
    queue.login("bob", 1.0, car_parks=["B"])
    with pytest.raises(NotYourCall) as caught:
        queue.transfer(call.id, "alice", "bob", 2.0)
    assert caught.value.code == "not_covered"


def test_a_transfer_to_oneself_is_refused() -> None:
    """Handing a call to its holder is a bad request."""
    queue = desk()
    call = on_call(queue)
    with pytest.raises(BadCallRequest) as caught:
        queue.transfer(call.id, "alice", "alice", 1.0)
    assert (caught.value.code, caught.value.status) == ("self_transfer", 400)


def test_only_the_holder_may_transfer() -> None:
    """Another agent cannot hand on a call they do not hold."""
    queue = desk()
    call = on_call(queue)
    queue.login("bob", 1.0)
    queue.login("carol", 1.0)
    with pytest.raises(NotYourCall):
        queue.transfer(call.id, "bob", "carol", 2.0)


def test_an_escalation_rings_only_supervisors() -> None:
    """The agent idle longest is skipped for the supervisor."""
    queue = desk()
    call = on_call(queue, "alice", 0.0)
    queue.login("bob", 1.0)
    queue.login("sue", 2.0, supervisor=True)
    effects = queue.escalate(call.id, "alice", 10.0, note="angry driver")
    assert only(effects, Ring) == [Ring(call.id, "sue", 25.0)]
    assert queue.call(call.id).transfers == (
        Transfer(10.0, TransferKind.SUPERVISORS, "alice", None, "angry driver"),
    )
    assert queue.agent("alice").state is AgentState.WRAP_UP


def test_an_escalation_waits_for_a_supervisor_and_shows_only_in_theirs_queues() -> None:
    """With no supervisor free the call waits; only supervisors see or take it."""
    queue = desk()
    call = on_call(queue, "alice", 0.0)
    queue.login("bob", 1.0)
    queue.login("sue", 2.0, supervisor=True)
    queue.set_state("sue", AgentState.BREAK, 3.0)
    queue.escalate(call.id, "alice", 10.0)
    assert queue.call(call.id).state is CallState.WAITING
    assert queue.queue_for("bob") == []
    assert [c.id for c in queue.queue_for("sue")] == [call.id]
    with pytest.raises(NotYourCall):
        queue.accept(call.id, "bob", 11.0)
    queue.set_state("sue", AgentState.AVAILABLE, 12.0)
    queue.accept(call.id, "sue", 13.0)
    assert queue.call(call.id).agent == "sue"


# ------------------------------------------------------------------ barge


def test_a_supervisor_barges_in_and_the_holder_wraps_up() -> None:
    """The supervisor holds the call; the barge is in its history."""
    queue = desk()
    call = on_call(queue, "alice", 0.0)
    queue.login("sue", 1.0, supervisor=True)
    queue.set_state("sue", AgentState.BREAK, 1.0, reason="monitoring")
    effects = queue.barge(call.id, "sue", 20.0)
    taken = queue.call(call.id)
    assert taken.agent == "sue" and taken.answered == 0.0
    assert taken.transfers == (Transfer(20.0, TransferKind.BARGE, "alice", "sue"),)
    assert steps(effects) == [(call.id, CallStep.BARGED)]
    assert queue.agent("alice").state is AgentState.WRAP_UP
    assert queue.agent("sue").state is AgentState.ON_CALL


def test_only_supervisors_may_barge() -> None:
    """An agent cannot take over a colleague's call."""
    queue = desk()
    call = on_call(queue, "alice", 0.0)
    queue.login("bob", 1.0)
    with pytest.raises(NotYourCall) as caught:
        queue.barge(call.id, "bob", 2.0)
    assert caught.value.code == "not_supervisor"


def test_barging_into_a_call_nobody_answered_is_refused() -> None:
    """A waiting call is accepted, not barged into."""
    queue = desk()
    queue.login("sue", 0.0, supervisor=True)
    queue.set_state("sue", AgentState.BREAK, 0.0)
    call = place(queue, lane(), 1.0)
    with pytest.raises(CallError) as caught:
        queue.barge(call.id, "sue", 2.0)
    assert caught.value.code == "not_answered"


# ------------------------------------------------------------------ abandoned calls


def test_a_lane_call_unanswered_for_abandon_s_is_abandoned() -> None:
    """After 300 s unanswered the lane call is abandoned, its wait recorded."""
    queue = desk()
    call = place(queue, lane(), 10.0)
    assert queue.next_deadline() == 310.0
    effects = queue.tick(310.0)
    gone = queue.call(call.id)
    assert (gone.state, gone.ending, gone.wait_s(999.0)) == (
        CallState.ABANDONED,
        Ending.TIMEOUT,
        300.0,
    )
    assert steps(effects) == [(call.id, CallStep.ABANDONED)]


def test_abandoning_a_ringing_call_frees_the_agent_without_a_miss() -> None:
    """The ring is cancelled, not missed."""
    queue = desk(Settings(abandon_s=10))
    queue.login("alice", 0.0)
    call = place(queue, lane(), 0.0)
    effects = queue.tick(10.0)
    assert only(effects, StopRinging) == [StopRinging(call.id, "alice", RingEnd.CANCELLED)]
    assert queue.agent("alice").state is AgentState.AVAILABLE
    assert queue.agent("alice").missed == 0


def test_a_phone_call_hung_up_before_an_answer_is_abandoned() -> None:
    """The phone page closing ends the wait."""
    queue = desk()
    queue.login("alice", 0.0)
    call = place(queue, phone(), 1.0)
    effects = queue.hang_up(call.id, 5.0)
    gone = queue.call(call.id)
    assert (gone.state, gone.ending, gone.ended) == (CallState.ABANDONED, Ending.CALLER, 5.0)
    assert only(effects, StopRinging) == [StopRinging(call.id, "alice", RingEnd.CANCELLED)]


def test_hanging_up_an_active_phone_call_ends_it() -> None:
    """An answered call the caller leaves is ended by the caller; the agent wraps up."""
    queue = desk()
    queue.login("alice", 0.0)
    call = place(queue, phone(), 1.0)
    queue.accept(call.id, "alice", 2.0)
    effects = queue.hang_up(call.id, 30.0)
    over = queue.call(call.id)
    assert (over.state, over.ending, over.ended_by) == (CallState.ENDED, Ending.CALLER, None)
    assert steps(effects) == [(call.id, CallStep.HUNG_UP)]
    assert queue.agent("alice").state is AgentState.WRAP_UP


def test_the_caller_leaving_an_escalated_call_ends_it() -> None:
    """A call answered once is ended by the caller, never abandoned, even while waiting."""
    queue = desk()
    queue.login("alice", 0.0)
    call = place(queue, phone(), 0.0)
    queue.accept(call.id, "alice", 1.0)
    queue.escalate(call.id, "alice", 10.0)
    queue.hang_up(call.id, 20.0)
    over = queue.call(call.id)
    assert (over.state, over.ending, over.handle_s(99.0)) == (CallState.ENDED, Ending.CALLER, 19.0)


def test_a_phone_call_is_not_abandoned_by_the_lane_timer() -> None:
    """The phone page is open: the driver is still waiting."""
    queue = desk()
    call = place(queue, phone(), 0.0)
    queue.tick(10_000.0)
    assert queue.call(call.id).state is CallState.WAITING


def test_an_answered_call_is_never_abandoned() -> None:
    """The abandon timer counts only until the first answer."""
    queue = desk()
    call = on_call(queue, "alice", 0.0)
    queue.tick(400.0)
    assert queue.call(call.id).state is CallState.ACTIVE


def test_hanging_up_a_finished_call_does_nothing() -> None:
    """The page closing after the call ended is no news."""
    queue = desk()
    call = on_call(queue)
    queue.end(call.id, "alice", 5.0)
    assert queue.hang_up(call.id, 6.0) == []


# ------------------------------------------------------------------ reconnect grace


def test_an_agent_back_within_the_grace_keeps_the_call() -> None:
    """A console that drops and returns within 30 s carries on as before."""
    queue = desk()
    call = on_call(queue)
    queue.agent_disconnected("alice", 10.0)
    assert queue.agent("alice").grace_until == 40.0
    assert queue.next_deadline() == 40.0
    queue.agent_connected("alice", 25.0)
    queue.tick(60.0)
    alice = queue.agent("alice")
    assert (alice.state, alice.call_id, alice.grace_until) == (AgentState.ON_CALL, call.id, None)
    assert queue.call(call.id).agent == "alice"


def test_a_console_that_comes_back_changes_no_queue() -> None:
    """Reconnecting within the grace only clears it."""
    queue = desk()
    on_call(queue)
    queue.agent_disconnected("alice", 10.0)
    effects = queue.agent_connected("alice", 12.0)
    assert effects == [AgentChanged(queue.agent("alice"))]
    assert queue.agent_connected("alice", 13.0) == []


def test_past_the_grace_the_call_goes_back_to_the_queue_with_its_queued_time() -> None:
    """The call waits again, ahead of later calls of its class; the agent is offline."""
    queue = desk()
    call = on_call(queue, "alice", 0.0)
    later = place(queue, lane("L2"), 5.0)
    queue.agent_disconnected("alice", 10.0)
    effects = queue.tick(40.0)
    back = queue.call(call.id)
    assert (back.state, back.agent, back.created) == (CallState.WAITING, None, 0.0)
    assert steps(effects) == [(call.id, CallStep.REQUEUED)]
    assert queue.agent("alice").state is AgentState.OFFLINE
    assert queue.position(call.id) == 1 and queue.position(later.id) == 2


def test_coming_back_after_the_grace_leaves_the_agent_offline() -> None:
    """The returning console finds the agent logged out and the call gone."""
    queue = desk()
    on_call(queue)
    queue.agent_disconnected("alice", 10.0)
    queue.tick(40.0)
    assert queue.agent_connected("alice", 41.0) == []
    assert queue.agent("alice").state is AgentState.OFFLINE


def test_a_second_drop_does_not_extend_the_grace() -> None:
    """The grace runs from the first drop."""
    queue = desk()
    on_call(queue)
    queue.agent_disconnected("alice", 10.0)
    assert queue.agent_disconnected("alice", 20.0) == []
    assert queue.agent("alice").grace_until == 40.0


def test_a_dropped_available_agent_goes_offline_at_once() -> None:
    """Without a call there is nothing to hold for them."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.agent_disconnected("alice", 5.0)
    assert queue.agent("alice").state is AgentState.OFFLINE


def test_a_dropped_ringing_agent_passes_the_ring_on_at_once() -> None:
    """Nobody waits out the ring timeout for a console that is gone."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.login("bob", 1.0)
    call = place(queue, lane(), 2.0)
    effects = queue.agent_disconnected("alice", 3.0)
    assert only(effects, Ring) == [Ring(call.id, "bob", 18.0)]
    assert queue.agent("alice").state is AgentState.OFFLINE


def test_ending_the_call_of_an_agent_who_is_away_sends_them_offline() -> None:
    """A supervisor ending it during the grace: no console to wrap up in."""
    queue = desk()
    call = on_call(queue)
    queue.login("sue", 1.0, supervisor=True)
    queue.agent_disconnected("alice", 10.0)
    queue.end(call.id, "sue", 12.0)
    assert queue.agent("alice").state is AgentState.OFFLINE
    assert queue.next_deadline() == 12.0 + 86400.0  # only forgetting the call is left


# ------------------------------------------------------------------ service target


def test_handle_time_past_warn_and_breach_marks_the_call() -> None:
    """At 240 s the call is warned, at 300 s breached; each once, each reported."""
    queue = desk()
    call = on_call(queue, "alice", 100.0)
    assert queue.next_deadline() == 340.0
    assert steps(queue.tick(340.0)) == [(call.id, CallStep.WARNED)]
    assert steps(queue.tick(400.0)) == [(call.id, CallStep.BREACHED)]
    assert queue.tick(500.0) == []
    marked = queue.call(call.id)
    assert marked.warned and marked.breached


def test_a_call_ended_in_time_is_never_breached() -> None:
    """Ending before the target stops its clock."""
    queue = desk()
    call = on_call(queue, "alice", 0.0)
    queue.end(call.id, "alice", 100.0)
    queue.tick(1000.0)
    assert not queue.call(call.id).breached and not queue.call(call.id).warned


def test_the_handle_clock_keeps_running_through_a_transfer() -> None:
    """The target is solving it within five minutes of the first answer."""
    queue = desk()
    call = on_call(queue, "alice", 0.0)
    queue.escalate(call.id, "alice", 100.0)
    queue.tick(300.0)
    assert queue.call(call.id).breached


# ------------------------------------------------------------------ time


def test_next_deadline_is_none_when_nothing_is_due() -> None:
    """An idle queue asks for no tick."""
    queue = desk()
    queue.login("alice", 0.0)
    assert queue.next_deadline() is None


def test_next_deadline_is_the_earliest_timer() -> None:
    """The ring timeout comes before the lane's abandonment."""
    queue = desk()
    queue.login("alice", 0.0)
    place(queue, lane(), 1.0)
    assert queue.next_deadline() == 16.0


def test_a_late_tick_records_the_times_things_fell_due() -> None:
    """Ticking long after the deadlines gives the same times as ticking on time."""
    queue = desk()
    call = on_call(queue, "alice", 0.0)
    queue.end(call.id, "alice", 10.0)
    queue.tick(1000.0)
    assert queue.call(call.id).wrap_ended == 40.0
    assert queue.agent("alice").idle_since == 40.0


def test_an_abandoned_lane_call_is_timed_at_its_deadline_even_when_ticked_late() -> None:
    """Its wait is exactly abandon_s, not however late the tick came."""
    queue = desk()
    call = place(queue, lane(), 0.0)
    queue.tick(1000.0)
    assert queue.call(call.id).ended == 300.0


def test_finished_calls_are_forgotten_after_keep_s() -> None:
    """Kept a day for dedup and today's figures, then dropped from memory: nothing to
    write or tell (the saved state never held it, its record stays)."""
    queue = desk(Settings(keep_s=100, wrap_s=0))
    call = on_call(queue)
    queue.end(call.id, "alice", 10.0)
    queue.tick(10.0)  # the wrap-up of no length ends
    assert queue.next_deadline() == 110.0
    assert queue.tick(110.0) == []
    with pytest.raises(UnknownCall):
        queue.call(call.id)
    assert queue.next_deadline() is None


def test_finished_calls_are_forgotten_in_the_order_they_finished() -> None:
    """The first to finish goes first, whenever each was placed."""
    queue = desk(Settings(keep_s=100, wrap_s=0))
    queue.login("alice", 0.0)
    early = place(queue, lane("L1"), 0.0)
    late = place(queue, lane("L2"), 1.0)
    queue.accept(late.id, "alice", 2.0)
    queue.end(late.id, "alice", 3.0)
    queue.accept(early.id, "alice", 4.0)
    queue.end(early.id, "alice", 5.0)
    queue.tick(103.0)
    assert [call.id for call in queue.calls()] == [early.id]
    assert queue.next_deadline() == 105.0


def test_a_press_replayed_after_its_call_was_forgotten_is_a_new_call() -> None:
    """What is forgotten is forgotten whole: its event ids no longer match a press."""
    queue = desk(Settings(keep_s=100, wrap_s=0))
    queue.login("alice", 0.0)
    first = place(queue, lane(event_id="e1"), 0.0)
    queue.accept(first.id, "alice", 1.0)
    queue.end(first.id, "alice", 10.0)
    queue.tick(110.0)
    again, _ = queue.place(lane(event_id="e1"), 120.0)
    assert again.id != first.id
    assert queue.call(again.id).state is CallState.RINGING


# ------------------------------------------------------------------ agent states


def test_login_makes_the_agent_available_and_logout_offline() -> None:
    """Going online and offline."""
    queue = desk()
    effects = queue.login("alice", 5.0, car_parks=["A"])
    alice = queue.agent("alice")
    assert effects == [AgentChanged(alice)]
    assert (alice.state, alice.since, alice.car_parks) == (AgentState.AVAILABLE, 5.0, ("A",))
    queue.logout("alice", 9.0)
    assert queue.agent("alice").state is AgentState.OFFLINE


def test_logging_in_again_during_the_grace_is_a_reconnect() -> None:
    """A fresh login of an agent holding a call keeps the call."""
    queue = desk()
    call = on_call(queue)
    queue.agent_disconnected("alice", 10.0)
    queue.login("alice", 15.0)
    alice = queue.agent("alice")
    assert (alice.state, alice.call_id, alice.grace_until) == (AgentState.ON_CALL, call.id, None)


def test_logging_out_while_on_a_call_is_refused() -> None:
    """The call must be ended or handed on first."""
    queue = desk()
    on_call(queue)
    with pytest.raises(NotAvailable) as caught:
        queue.logout("alice", 1.0)
    assert caught.value.code == "on_call"


def test_a_state_change_to_an_unknown_state_is_refused() -> None:
    """A word that is no agent state is a bad request."""
    queue = desk()
    queue.login("alice", 0.0)
    with pytest.raises(BadCallRequest) as caught:
        queue.set_state("alice", "asleep", 1.0)
    assert (caught.value.code, caught.value.status) == ("unknown_state", 400)


def test_states_that_follow_from_calls_cannot_be_chosen() -> None:
    """Nobody puts themselves on a call or in wrap-up."""
    queue = desk()
    queue.login("alice", 0.0)
    for state in ("on_call", "ringing", "wrap_up"):
        with pytest.raises(BadCallRequest) as caught:
            queue.set_state("alice", state, 1.0)
        assert caught.value.code == "bad_state"


def test_an_offline_agent_cannot_choose_available() -> None:
    """Logging in is how an agent comes online."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.logout("alice", 1.0)
    with pytest.raises(NotAvailable):
        queue.set_state("alice", AgentState.AVAILABLE, 2.0)


def test_a_break_carries_its_reason_and_returning_clears_it() -> None:
    """The reason shows while on the break and is gone after."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.set_state("alice", AgentState.BREAK, 10.0, reason="lunch")
    assert (queue.agent("alice").break_reason, queue.agent("alice").since) == ("lunch", 10.0)
    queue.set_state("alice", AgentState.AVAILABLE, 20.0)
    assert queue.agent("alice").break_reason == ""


def test_coming_back_from_a_missed_rings_break_starts_the_count_afresh() -> None:
    """One more miss after returning is not already two."""
    queue = desk()
    queue.login("alice", 0.0)
    place(queue, lane(), 0.0)
    queue.tick(15.0)
    queue.tick(30.0)  # on a break for missed rings
    queue.set_state("alice", AgentState.AVAILABLE, 40.0)
    queue.tick(55.0)
    assert queue.agent("alice").state is AgentState.RINGING


# ------------------------------------------------------------------ restart


def busy_desk() -> CallQueue:
    """alice on a call, bob rung for a second, carol in wrap-up, a third call waiting."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.login("bob", 1.0)
    queue.login("carol", 2.0, car_parks=["A"], supervisor=True)
    first = place(queue, lane("L1", event_id="e1"), 3.0)  # rings alice
    queue.accept(first.id, "alice", 4.0)
    other = place(queue, phone("L2"), 5.0)  # rings bob
    queue.accept(other.id, "carol", 6.0)
    queue.transfer(other.id, "carol", "bob", 7.0, note="for bob")
    place(queue, hotline("L3"), 8.0)
    return queue


def test_the_state_round_trips_through_json() -> None:
    """Everything, transfers and timers included, comes back equal: the open calls and
    agents from the state, the finished calls remembered apart."""
    queue = busy_desk()
    finished = place(queue, lane("L4"), 9.0)
    queue.accept(finished.id, "bob", 9.5)
    queue.end(finished.id, "bob", 10.0)
    text = json.dumps(queue.to_json())
    again = CallQueue.from_json(json.loads(text))
    again.remember(queue.finished())
    assert again.to_json() == queue.to_json()
    assert again.calls() == queue.calls() and again.agents() == queue.agents()
    assert again.next_deadline() == queue.next_deadline()


def test_the_saved_state_holds_the_open_calls_only() -> None:
    """What each step writes does not grow with the day's finished calls."""
    queue = busy_desk()
    finished = place(queue, lane("L4"), 9.0)
    queue.accept(finished.id, "bob", 9.5)
    queue.end(finished.id, "bob", 10.0)
    saved = {call["id"] for call in queue.to_json()["calls"]}
    assert saved == {call.id for call in queue.calls() if not call.finished}
    assert finished.id not in saved and [c.id for c in queue.finished()] == [finished.id]


def test_a_finished_call_remembered_after_a_restore_still_knows_its_press() -> None:
    """A press replayed after the restart is still the call it made, though it ended."""
    queue = desk(Settings(wrap_s=0))
    queue.login("alice", 0.0)
    call = place(queue, lane("L1", event_id="e1"), 1.0)
    queue.accept(call.id, "alice", 2.0)
    queue.end(call.id, "alice", 3.0)
    again = CallQueue.from_json(queue.to_json(), queue.settings)
    again.remember(queue.finished())
    again.restored(4.0)
    replayed, effects = again.place(lane("L1", event_id="e1"), 5.0)
    assert (replayed.id, replayed.state, effects) == (call.id, CallState.ENDED, [])


def test_a_finished_call_remembered_again_keeps_the_end_of_its_wrap_up() -> None:
    """Another server's news of the call's end and of its wrap-up's end may come in
    either order: the call held ends up with the wrap-up's end, in its place."""
    queue = desk(Settings(wrap_s=5))
    queue.login("alice", 0.0)
    call = place(queue, lane(), 1.0)
    queue.accept(call.id, "alice", 2.0)
    queue.end(call.id, "alice", 3.0)
    ended = queue.call(call.id)
    queue.tick(8.0)
    wrapped = queue.call(call.id)
    assert (ended.wrap_ended, wrapped.wrap_ended) == (None, 8.0)
    for told in ([ended, wrapped], [wrapped, ended]):
        other = desk()
        for one in told:
            other.remember([one])
        assert other.finished() == [wrapped]


def test_only_finished_calls_are_remembered() -> None:
    """An open call belongs to the saved state, not beside a record."""
    queue = desk()
    call = place(queue, lane(), 0.0)
    with pytest.raises(ValueError, match="only finished calls"):
        desk().remember([call])


def test_after_a_restore_an_agent_on_a_call_has_the_grace_and_the_rest_are_offline() -> None:
    """No console is connected after a restart; calls are held for the grace."""
    queue = CallQueue.from_json(busy_desk().to_json())
    queue.restored(100.0)
    states = {agent.name: agent.state for agent in queue.agents()}
    assert states == {
        "alice": AgentState.ON_CALL,
        "bob": AgentState.OFFLINE,
        "carol": AgentState.OFFLINE,
    }
    assert queue.agent("alice").grace_until == 130.0


def test_agents_with_a_console_open_on_another_server_keep_their_state() -> None:
    """A server starting, or finding a dead server's consoles gone, disconnects only the
    agents with no console anywhere: bob's ring stays with him."""
    queue = CallQueue.from_json(busy_desk().to_json())
    effects = queue.restored(100.0, present={"bob"})
    states = {agent.name: agent.state for agent in queue.agents()}
    assert states == {
        "alice": AgentState.ON_CALL,
        "bob": AgentState.RINGING,
        "carol": AgentState.OFFLINE,
    }
    assert only(effects, StopRinging) == []
    assert queue.restored(101.0, present={"alice", "bob", "carol"}) == []


def test_after_a_restore_ringing_calls_wait_again() -> None:
    """A ring nobody can hear any more goes back to the queue."""
    queue = CallQueue.from_json(busy_desk().to_json())
    effects = queue.restored(100.0)
    assert only(effects, StopRinging) == [StopRinging("c2", "bob", RingEnd.AGENT_AWAY)]
    assert queue.call("c2").state is CallState.WAITING


def test_after_a_restore_a_returning_agent_carries_on() -> None:
    """alice's console reconnects within the grace and keeps her call."""
    queue = CallQueue.from_json(busy_desk().to_json())
    queue.restored(100.0)
    queue.agent_connected("alice", 110.0)
    queue.tick(200.0)
    assert queue.call("c1").agent == "alice"
    assert queue.call("c1").state is CallState.ACTIVE


def test_a_restored_queue_still_knows_the_lanes_event_ids() -> None:
    """A press replayed after the restart is still the same call."""
    queue = CallQueue.from_json(busy_desk().to_json())
    again, effects = queue.place(lane("L1", event_id="e1"), 150.0)
    assert again.id == "c1" and effects == []


def test_an_unknown_state_version_is_refused() -> None:
    """State from another version of the rules is not guessed at."""
    with pytest.raises(ValueError, match="version"):
        CallQueue.from_json({"version": 99, "calls": [], "agents": []})


# ------------------------------------------------------------------ supervisors' view


def test_the_board_shows_agents_time_in_state_and_the_longest_wait() -> None:
    """Each agent with state and seconds in it; the queue's length and oldest wait."""
    queue = desk()
    queue.login("alice", 0.0)
    queue.set_state("alice", AgentState.BREAK, 10.0, reason="lunch")
    place(queue, lane("L1"), 20.0)
    place(queue, phone("L2"), 50.0)
    board = queue.board(100.0, since=0.0)
    assert [(row.name, row.state, row.in_state_s, row.break_reason) for row in board.agents] == [
        ("alice", AgentState.BREAK, 90.0, "lunch")
    ]
    assert (board.waiting, board.longest_wait_s) == (2, 80.0)


def test_service_level_counts_answers_within_twenty_seconds() -> None:
    """Two of three answered within 20 s is 66.7 %; abandoned calls are counted apart."""
    queue = desk(Settings(wrap_s=0))
    queue.login("alice", 0.0)
    for start, wait in ((0.0, 5.0), (100.0, 20.0), (200.0, 45.0)):
        call = place(queue, phone(), start)
        queue.accept(call.id, "alice", start + wait)
        queue.end(call.id, "alice", start + wait + 10)
        queue.tick(start + wait + 10)
    queue.set_state("alice", AgentState.BREAK, 300.0)
    place(queue, lane("L5"), 400.0)
    queue.tick(700.0)
    board = queue.board(800.0, since=0.0)
    assert (board.answered, board.answered_in_target, board.abandoned) == (3, 2, 1)
    assert board.service_level == pytest.approx(66.67, abs=0.01)


def test_the_board_counts_only_the_period_asked_for() -> None:
    """Calls before ``since`` (yesterday) are left out of the figures."""
    queue = desk()
    place(queue, lane(), 0.0)
    queue.tick(300.0)  # abandoned at 300
    board = queue.board(1000.0, since=500.0)
    assert (board.abandoned, board.answered, board.service_level) == (0, 0, None)


def test_the_board_shows_an_agent_away_during_the_grace_as_not_connected() -> None:
    """The supervisor sees who is on a call with no console."""
    queue = desk()
    on_call(queue)
    queue.agent_disconnected("alice", 5.0)
    row = queue.board(6.0, since=0.0).agents[0]
    assert (row.state, row.connected) == (AgentState.ON_CALL, False)


# ------------------------------------------------------------------ clocks


def test_a_call_has_wait_handle_and_wrap_clocks() -> None:
    """Queued to answered, answered to ended, ended to the end of wrap-up."""
    queue = desk()
    queue.login("alice", 0.0)
    call = place(queue, lane(), 10.0)
    queue.accept(call.id, "alice", 18.0)
    assert queue.call(call.id).handle_s(50.0) == 32.0
    queue.end(call.id, "alice", 100.0)
    queue.set_state("alice", AgentState.AVAILABLE, 112.0)
    done = queue.call(call.id)
    assert (done.wait_s(999.0), done.handle_s(999.0), done.wrap_s) == (8.0, 82.0, 12.0)


def test_an_unanswered_call_has_no_handle_time() -> None:
    """Handle time starts with an answer."""
    queue = desk()
    call = place(queue, lane(), 0.0)
    assert queue.call(call.id).handle_s(10.0) is None
    assert queue.call(call.id).wait_s(10.0) == 10.0
