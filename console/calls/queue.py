"""The call queue's rules, with no I/O: which call rings which agent, who holds it, when
it is abandoned or breached.

The driver feeds each step in with the time (``now``, ``time.time()`` seconds), carries
out the effects that come back (``console.calls.effects``), and calls ``tick`` again at
``next_deadline()``: every timer is a time stored on a call or an agent, so the whole
state is the ``Call`` and ``Agent`` values and survives a restart: the open calls and
the agents through ``to_json``, each finished call saved once as it is (``remember``).
A step that breaks a rule raises a ``CallError`` and changes nothing.

Routing: waiting calls are taken highest priority first, oldest first within a priority;
each is rung to one available agent who covers its car park, the one idle longest (by
name on a tie). An agent is rung for one call at a time. A ring that runs out moves to
the next such agent; when every one has let it run out, the round starts again, so an
agent alone on duty is rung again, and after ``missed_rings_break`` misses in a row goes
on a break. A decline is an answer, not a miss: that agent is not rung for the call
again (but may still pick it from their queue), and their count of misses starts over.
Any agent who covers a waiting or ringing call may pick it from their queue.

Transfers: a named transfer rings that agent only; if they decline or let it ring out,
the call goes back to the general queue above every fresh call. Not back to the agent
who transferred it: they are in wrap-up and may be on another call by then, and the
caller has waited enough. An escalation rings only supervisors, one at a time, and waits
for one of them. A supervisor may barge in on any active call (not only in their car
parks: that is oversight, not routing) from any state but on another call, even a
break; the holder goes to wrap-up.

A lane's press while a lane call from it is open joins that call; a repeat of the same
lane event id is the same call even after it ended, since a lane replays presses it
sent while its link was down.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Collection, Iterator
from dataclasses import replace

from console.errors import BadCallRequest, CallError, CallTaken, NotAvailable, NotYourCall

from .effects import Alert, AlertKind, CallStep, Effect, RingEnd
from .model import (
    CHOSEN_STATES,
    MISSED_RINGS,
    Agent,
    AgentState,
    Call,
    CallRequest,
    CallState,
    Ending,
    Source,
    Transfer,
    TransferKind,
    kind_of,
)
from .state import QueueState, may_take, unring


class _Due(enum.IntEnum):
    """Timers, in the order they are carried out when due at the same moment."""

    GRACE = 0
    RING = 1
    WRAP = 2
    ABANDON = 3
    WARN = 4
    BREACH = 5
    FORGET = 6


class CallQueue(QueueState):
    """The rules, one public method per step; the state and queries are ``QueueState``'s."""

    def restored(self, now: float, present: Collection[str] = ()) -> list[Effect]:
        """After a restart no console is connected but those of the agents ``present``
        (open on another server of the centre): each other agent on a call keeps it for
        the reconnect grace, the others go offline, and calls being rung to them go back
        to waiting. Also what a server does when a dead server's consoles are gone."""
        effects: list[Effect] = []
        for name in sorted(self._agents.keys() - set(present)):
            effects += self._disconnect(self._agents[name], now)
        return self._settled(effects, now)

    def next_deadline(self) -> float | None:
        """When ``tick`` next has something to do."""
        return min((at for at, _, _ in self._timers()), default=None)

    # ------------------------------------------------------------- callers

    def place(self, request: CallRequest, now: float) -> tuple[Call, list[Effect]]:
        """A call arrives. Returns the call it became: a new one, or the open lane call
        it joined, or (with no effects) the call a repeated lane event id already made."""
        call, effects = self._place(request, now)
        return call, self._settled(effects, now)

    def hang_up(self, call_id: str, now: float) -> list[Effect]:
        """The caller's side ended (the phone page closed): abandoned if unanswered,
        ended if answered; nothing if it was over already."""
        call = self.call(call_id)
        if call.finished:
            return []
        if call.answered is None:
            return self._settled(self._abandon(call, Ending.CALLER, now), now)
        effects: list[Effect] = []
        if call.state is CallState.RINGING:
            call, effects = self._unring_to_free(call, RingEnd.CANCELLED, now)
        holder = call.agent if call.state is CallState.ACTIVE else None
        ended = replace(call, state=CallState.ENDED, ended=now, ending=Ending.CALLER)
        effects.append(self._put_call(ended, CallStep.HUNG_UP))
        if holder is not None:
            effects += self._release(holder, call.id, now)
        return self._settled(effects, now)

    def lane_hung_up(self, lane_id: str, event_ids: tuple[str, ...], now: float) -> list[Effect]:
        """The lane's intercom hung up the call its press made: that call ends as a
        caller's hang-up (``hang_up``); nothing if no call of the lane has those
        presses (forgotten, or never placed)."""
        for event_id in event_ids:
            call_id = self._events.get((lane_id, event_id))
            if call_id is not None:
                return self.hang_up(call_id, now)
        return []

    # ------------------------------------------------------------- agents

    def login(
        self,
        name: str,
        now: float,
        *,
        car_parks: Collection[str] | None = None,
        supervisor: bool = False,
    ) -> list[Effect]:
        """The agent goes online, available, covering ``car_parks`` (None: all). Logging
        in again only updates what they cover, and is a reconnect if they hold a call."""
        agent = self._agents.get(name) or Agent(name, since=now, idle_since=now)
        agent = replace(
            agent,
            car_parks=None if car_parks is None else tuple(car_parks),
            supervisor=supervisor,
        )
        if agent.online:
            effects: list[Effect] = [self._put_agent(replace(agent, grace_until=None))]
        else:
            effects = self._set_agent(agent, AgentState.AVAILABLE, now, missed=0)
        return self._settled(effects, now)

    def logout(self, name: str, now: float) -> list[Effect]:
        return self.set_state(name, AgentState.OFFLINE, now)

    def set_state(
        self, name: str, state: AgentState | str, now: float, *, reason: str = ""
    ) -> list[Effect]:
        """The agent chooses available, a break (with ``reason``) or offline. Refused
        while on a call; leaving a ring moves it on; choosing available ends wrap-up
        early and clears the count of missed rings."""
        agent = self.agent(name)
        try:
            wanted = AgentState(state)
        except ValueError:
            raise BadCallRequest("unknown_state", f"no agent state {state!r}") from None
        if wanted not in CHOSEN_STATES:
            raise BadCallRequest("bad_state", f"{wanted} follows from calls, it is not chosen")
        if agent.state is AgentState.ON_CALL:
            raise NotAvailable("on_call", f"{name} is on call {agent.call_id}: end it first")
        if not agent.online and wanted is not AgentState.OFFLINE:
            raise NotAvailable("not_available", f"{name} is offline: log in first")
        unchanged = agent.state is wanted and agent.break_reason == reason
        if unchanged or (wanted, agent.state) == (AgentState.AVAILABLE, AgentState.RINGING):
            return []
        if wanted is AgentState.AVAILABLE:
            effects = self._set_agent(agent, wanted, now, missed=0)
        else:
            effects = self._leave(agent, wanted, now, reason=reason)
        return self._settled(effects, now)

    def agent_disconnected(self, name: str, now: float) -> list[Effect]:
        """The agent's console dropped: a call they hold is kept for ``reconnect_s``;
        otherwise they go offline at once, and a ring to them moves on."""
        return self._settled(self._disconnect(self.agent(name), now), now)

    def agent_connected(self, name: str, now: float) -> list[Effect]:
        """The console is back: within the grace the agent carries on with their call.
        An agent the grace ran out for stays offline until they log in."""
        agent = self.agent(name)
        if agent.grace_until is None:
            return []
        return [self._put_agent(replace(agent, grace_until=None))]

    # ------------------------------------------------------------- handling

    def accept(self, call_id: str, name: str, now: float) -> list[Effect]:
        """The agent takes the call, rung to them or picked from their queue (which ends
        a wrap-up early). Exactly one agent wins; accepting one's own call again does
        nothing. The checks come before anything else: in a race every loser is refused
        at the cost of a lookup, not of a look at every queue."""
        call = self._open(call_id)
        agent = self.agent(name)
        if call.state is CallState.ACTIVE:
            if call.agent == name:
                return []
            raise CallTaken(call_id, str(call.agent))
        _check_free(agent, allow_break=False)
        if not may_take(agent, call):
            raise NotYourCall("not_covered", f"call {call_id} is not for {name}")
        effects = self._drop_other_ring(agent, call_id)
        if call.state is CallState.RINGING:
            if call.offered_to == name:
                call, stopped = unring(call, RingEnd.ANSWERED)
            else:
                call, stopped = self._unring_to_free(call, RingEnd.TAKEN, now)
            effects += stopped
        answered = replace(
            call,
            state=CallState.ACTIVE,
            agent=name,
            answered=now if call.answered is None else call.answered,
            for_agent=None,
            for_supervisors=False,
            tried=(),
            declined=(),
        )
        effects.append(self._put_call(answered, CallStep.ACCEPTED))
        effects += self._set_agent(
            self._agents[name], AgentState.ON_CALL, now, call_id=call_id, missed=0
        )
        return self._settled(effects, now)

    def decline(self, call_id: str, name: str, now: float) -> list[Effect]:
        """The rung agent turns the ring down: it moves on, and is not a miss."""
        call = self._open(call_id)
        agent = self.agent(name)
        if call.state is not CallState.RINGING or call.offered_to != name:
            raise CallError("not_ringing", f"call {call_id} is not ringing for {name}")
        effects = self._ring_over(call, RingEnd.DECLINED)
        effects += self._set_agent(agent, AgentState.AVAILABLE, now, missed=0)
        return self._settled(effects, now)

    def end(self, call_id: str, name: str, now: float) -> list[Effect]:
        """The holder (or any supervisor) ends the call; the holder goes to wrap-up.
        The outcome form is checked and recorded by the caller of this."""
        call = self._open(call_id)
        actor = self.agent(name)
        if call.state is not CallState.ACTIVE or (call.agent != name and not actor.supervisor):
            raise NotYourCall("not_your_call", f"call {call_id} is not held by {name}")
        ended = replace(call, state=CallState.ENDED, ended=now, ending=Ending.AGENT, ended_by=name)
        effects: list[Effect] = [self._put_call(ended, CallStep.ENDED)]
        effects += self._release(str(call.agent), call_id, now)
        return self._settled(effects, now)

    def transfer(
        self, call_id: str, name: str, to: str, now: float, *, note: str = ""
    ) -> list[Effect]:
        """The holder hands the call to agent ``to``, who must be available and cover
        its car park; it rings them only, and the holder goes to wrap-up."""
        call = self._held(call_id, name)
        if to == name:
            raise BadCallRequest("self_transfer", f"{name} already holds call {call_id}")
        target = self.agent(to)
        if target.state is not AgentState.AVAILABLE:
            raise NotAvailable("not_available", f"{to} is {target.state}")
        if not target.covers(call.car_park):
            raise NotYourCall("not_covered", f"{to} does not cover {call.car_park}")
        handed = replace(
            call,
            state=CallState.WAITING,
            agent=None,
            for_agent=to,
            transfers=(*call.transfers, Transfer(now, TransferKind.AGENT, name, to, note)),
        )
        effects: list[Effect] = [self._put_call(handed, CallStep.TRANSFERRED)]
        effects += self._release(name, call_id, now)
        # Rung here, not by the routing, which could give the target a call of higher
        # priority first and leave this one waiting with no time limit.
        effects += self._ring(handed, target, now)
        return self._settled(effects, now)

    def escalate(self, call_id: str, name: str, now: float, *, note: str = "") -> list[Effect]:
        """The holder hands the call to the supervisors: it waits for one of them,
        rung to available ones in turn; the holder goes to wrap-up."""
        call = self._held(call_id, name)
        handed = replace(
            call,
            state=CallState.WAITING,
            agent=None,
            for_supervisors=True,
            transfers=(*call.transfers, Transfer(now, TransferKind.SUPERVISORS, name, None, note)),
        )
        effects: list[Effect] = [self._put_call(handed, CallStep.ESCALATED)]
        effects += self._release(name, call_id, now)
        return self._settled(effects, now)

    def barge(self, call_id: str, name: str, now: float) -> list[Effect]:
        """A supervisor takes over an active call; its holder goes to wrap-up."""
        call = self._open(call_id)
        supervisor = self.agent(name)
        if not supervisor.supervisor:
            raise NotYourCall("not_supervisor", f"{name} is not a supervisor")
        if call.state is not CallState.ACTIVE:
            raise CallError("not_answered", f"call {call_id} is {call.state}: accept it")
        if call.agent == name:
            raise CallError("already_holder", f"{name} already holds call {call_id}")
        _check_free(supervisor, allow_break=True)
        holder = str(call.agent)
        effects = self._drop_other_ring(supervisor, call_id)
        taken = replace(
            call,
            agent=name,
            transfers=(*call.transfers, Transfer(now, TransferKind.BARGE, holder, name)),
        )
        effects.append(self._put_call(taken, CallStep.BARGED))
        effects += self._release(holder, call_id, now)
        effects += self._set_agent(
            self._agents[name], AgentState.ON_CALL, now, call_id=call_id, missed=0
        )
        return self._settled(effects, now)

    # ------------------------------------------------------------- time

    def tick(self, now: float) -> list[Effect]:
        """Carries out every timer due by ``now``, in the order they fell due and each at
        its own time (a late tick records the same times as a punctual one), then rings
        whoever is free. Rings start at ``now``: none is made up for a past nobody heard."""
        handlers: dict[_Due, Callable[[str, float], list[Effect]]] = {
            _Due.GRACE: self._grace_over,
            _Due.RING: self._ring_out,
            _Due.WRAP: self._wrap_over,
            _Due.ABANDON: lambda call_id, at: self._abandon(
                self._calls[call_id], Ending.TIMEOUT, at
            ),
            _Due.WARN: self._warn,
            _Due.BREACH: self._breach,
            _Due.FORGET: self._forget,
        }
        effects: list[Effect] = []
        while (due := min(self._timers(), default=None)) is not None and due[0] <= now:
            at, what, key = due
            effects += handlers[what](key, at)
        return self._settled(effects, now)

    def _timers(self) -> Iterator[tuple[float, _Due, str]]:
        for agent in self._agents.values():
            if agent.grace_until is not None:
                yield agent.grace_until, _Due.GRACE, agent.name
            if agent.wrap_until is not None:
                yield agent.wrap_until, _Due.WRAP, agent.name
        settings = self.settings
        for call in self._unfinished.values():
            if call.ring_until is not None:
                yield call.ring_until, _Due.RING, call.id
            if call.source is Source.LANE and call.answered is None and call.pending:
                yield call.created + settings.abandon_s, _Due.ABANDON, call.id
            if call.answered is not None and not call.finished:
                if not call.warned:
                    yield call.answered + settings.warn_s, _Due.WARN, call.id
                if not call.breached:
                    yield call.answered + settings.breach_s, _Due.BREACH, call.id
        # Only the first to finish: the rest are forgotten after it (the clock going
        # back could keep one a little longer, never shorter).
        oldest = next(iter(self._finished.values()), None)
        if oldest is not None and oldest.ended is not None:
            yield oldest.ended + settings.keep_s, _Due.FORGET, oldest.id

    def _grace_over(self, name: str, at: float) -> list[Effect]:
        """The console did not come back: the call returns to the queue with its first
        queued time, so it is answered before calls of its priority that came later."""
        agent = self._agents[name]
        call = self._calls[str(agent.call_id)]
        back = replace(call, state=CallState.WAITING, agent=None)
        effects: list[Effect] = [self._put_call(back, CallStep.REQUEUED)]
        return effects + self._set_agent(agent, AgentState.OFFLINE, at)

    def _ring_out(self, call_id: str, at: float) -> list[Effect]:
        call = self._calls[call_id]
        agent = self._agents[str(call.offered_to)]
        effects = self._ring_over(call, RingEnd.MISSED)
        missed = agent.missed + 1
        if missed < self.settings.missed_rings_break:
            return effects + self._set_agent(agent, AgentState.AVAILABLE, at, missed=missed)
        effects += self._set_agent(agent, AgentState.BREAK, at, break_reason=MISSED_RINGS, missed=0)
        effects.append(Alert(AlertKind.MISSED_RINGS, agent.name, f"missed {missed} rings in a row"))
        return effects

    def _wrap_over(self, name: str, at: float) -> list[Effect]:
        return self._set_agent(self._agents[name], AgentState.AVAILABLE, at)

    def _warn(self, call_id: str, at: float) -> list[Effect]:
        return [self._put_call(replace(self._calls[call_id], warned=True), CallStep.WARNED)]

    def _breach(self, call_id: str, at: float) -> list[Effect]:
        return [self._put_call(replace(self._calls[call_id], breached=True), CallStep.BREACHED)]

    def _forget(self, call_id: str, at: float) -> list[Effect]:
        """Out of memory only: the state never held it, and its record stays."""
        self._drop_call(call_id)
        return []

    # ------------------------------------------------------------- the steps' parts

    def _place(self, request: CallRequest, now: float) -> tuple[Call, list[Effect]]:
        lane, event_id = request.lane_id, request.event_id
        if event_id is not None and (lane, event_id) in self._events:
            return self._calls[self._events[(lane, event_id)]], []
        events = () if event_id is None else (event_id,)
        if request.source is Source.LANE:
            for call in self._unfinished.values():
                if call.lane_id == lane and call.source is Source.LANE and not call.finished:
                    joined = replace(
                        call, presses=call.presses + 1, event_ids=call.event_ids + events
                    )
                    return joined, [self._put_call(joined, CallStep.JOINED)]
        call = Call(
            id=self._new_id(),
            lane_id=lane,
            car_park=request.car_park,
            source=request.source,
            direction=request.direction,
            priority=self.settings.priorities[kind_of(request.source, request.direction)],
            created=now,
            caller=request.caller,
            note=request.note,
            event_ids=events,
        )
        return call, [self._put_call(call, CallStep.PLACED)]


def _check_free(agent: Agent, *, allow_break: bool) -> None:
    if agent.state is AgentState.ON_CALL:
        raise NotAvailable("on_call", f"{agent.name} is on call {agent.call_id}")
    if agent.state is AgentState.OFFLINE or (agent.state is AgentState.BREAK and not allow_break):
        raise NotAvailable("not_available", f"{agent.name} is {agent.state}")
