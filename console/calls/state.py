"""The call queue's state, what can be asked of it, and the moves every rule is made of.

``QueueState`` holds the calls and agents (plain values, JSON both ways) and the moves
the rules in ``console.calls.queue`` combine: store a value and report it, move an agent
to a state (clearing what belonged to the one it left), ring an agent, stop a ring,
route the waiting calls to free agents. A move changes state only when called by a rule
that has already checked everything it needs; a rule that refuses raises first.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any, Self

from console.errors import CallEnded, NotYourCall, UnknownCall

from .board import Board, summarise
from .effects import (
    AgentChanged,
    CallChanged,
    CallStep,
    Effect,
    QueueChanged,
    Ring,
    RingEnd,
    StopRinging,
)
from .model import Agent, AgentState, Call, CallState, Ending, Settings

STATE_VERSION = 1

# What an agent's queue shows of each call, to tell when it changed.
_QueueView = tuple[tuple[str, CallState, str | None], ...]


def _new_id() -> str:
    return uuid.uuid4().hex


def answer_order(call: Call) -> tuple[int, float, str]:
    """Sorts calls first to be answered first: by priority, then oldest first."""
    return (-call.priority, call.created, call.id)


class QueueState:
    def __init__(
        self, settings: Settings | None = None, *, new_id: Callable[[], str] = _new_id
    ) -> None:
        self.settings = settings or Settings()
        self._new_id = new_id
        self._calls: dict[str, Call] = {}
        self._agents: dict[str, Agent] = {}
        # Indexes over ``_calls``, kept by ``_put_call``/``_drop_call``: finished calls
        # stay a day (``keep_s``), so every step that scanned them all grew with the
        # day's calls. The calls not finished, and which call each lane event made.
        self._unfinished: dict[str, Call] = {}
        # The finished ones in the order they finished: the first is forgotten first.
        self._finished: dict[str, Call] = {}
        self._events: dict[tuple[str, str], str] = {}
        # The waiting and ringing calls' answer orders, kept sorted: an agent's queue is
        # these, filtered, never sorted again.
        self._pending: list[tuple[int, float, str]] = []
        # Each online agent's queue as ``_settled`` last saw it, and what changed since:
        # only the agents those changes could concern have their queue made again, so a
        # step does not cost every agent's queue of every call waiting (a storm of them).
        self._views: dict[str, _QueueView] = {}
        self._touched_calls: dict[str, Call | None] = {}  # id -> as it was before
        self._touched_agents: set[str] = set()

    # ------------------------------------------------------------- state

    def to_json(self) -> dict[str, Any]:
        """The open calls and the agents. Finished calls are not in it: each is saved
        once beside its record (``Call.to_json``), and ``remember`` takes them back, so
        what a step writes does not grow with the day's calls."""
        return {
            "version": STATE_VERSION,
            "calls": [call.to_json() for call in self.open_calls()],
            "agents": [agent.to_json() for agent in self.agents()],
        }

    def remember(self, calls: Iterable[Call]) -> None:
        """Hold again finished calls saved apart from the state, or finished by another
        server; call it before ``restored``. A call already held stays as it is, unless
        the one given has the end of its wrap-up and the one held not yet (the one
        change a finished call sees), so one told out of order is never older."""
        for call in sorted(calls, key=lambda call: (call.ended or 0.0, call.id)):
            if not call.finished:
                raise ValueError(f"call {call.id} is {call.state}: only finished calls are kept")
            held = self._calls.get(call.id)
            if held is None or (held.wrap_ended is None and call.wrap_ended is not None):
                self._store_call(call)

    def finished(self) -> list[Call]:
        """The finished calls held, in the order they finished."""
        return list(self._finished.values())

    @classmethod
    def from_json(
        cls,
        data: Mapping[str, Any],
        settings: Settings | None = None,
        *,
        new_id: Callable[[], str] = _new_id,
    ) -> Self:
        """The queue as ``to_json`` left it; call ``restored`` next."""
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"call queue state version {data.get('version')!r} is unknown")
        queue = cls(settings, new_id=new_id)
        # A state saved by an older version holds finished calls too: in finishing order.
        for call in sorted(map(Call.from_json, data["calls"]), key=lambda c: c.ended or 0.0):
            queue._store_call(call)
        queue._agents = {agent.name: agent for agent in map(Agent.from_json, data["agents"])}
        queue._requeued()  # the queues as saved: what the steps after are compared with
        return queue

    # ------------------------------------------------------------- queries

    def call(self, call_id: str) -> Call:
        call = self._calls.get(call_id)
        if call is None:
            raise UnknownCall("unknown_call", f"no call {call_id!r}")
        return call

    def agent(self, name: str) -> Agent:
        agent = self._agents.get(name)
        if agent is None:
            raise UnknownCall("unknown_agent", f"no agent {name!r} has logged in")
        return agent

    def calls(self) -> list[Call]:
        """Every call held: open ones, and finished ones for ``keep_s``."""
        return sorted(self._calls.values(), key=lambda call: (call.created, call.id))

    def held(self, call_id: str) -> Call | None:
        """The call, or None if the queue does not hold it (never did, or forgot it)."""
        return self._calls.get(call_id)

    def open_calls(self) -> list[Call]:
        """The calls not finished, in the order they came."""
        return list(self._unfinished.values())

    def agents(self) -> list[Agent]:
        return sorted(self._agents.values(), key=lambda agent: agent.name)

    def waiting(self) -> int:
        """The calls waiting or being rung, as the supervisors' board counts them."""
        return len(self._pending)

    def queue_for(self, name: str) -> list[Call]:
        """The waiting and ringing calls this agent may pick, first to be answered first;
        nothing while they are offline."""
        agent = self.agent(name)
        if not agent.online:
            return []
        pending = (self._calls[call_id] for _, _, call_id in self._pending)
        return [call for call in pending if may_take(agent, call)]

    def position(self, call_id: str) -> int | None:
        """1 for the next call to be answered. Only calls competing for the same agents
        count: those that an online agent who may take this call may also take (all
        pending calls, when nobody online may take it). None once it is answered."""
        call = self.call(call_id)
        if not call.pending:
            return None
        takers = [a for a in self._agents.values() if a.online and may_take(a, call)]
        ahead = [
            other
            for other in self._unfinished.values()
            if other.pending
            and answer_order(other) < answer_order(call)
            and (not takers or any(may_take(a, other) for a in takers))
        ]
        return len(ahead) + 1

    def board(self, now: float, since: float) -> Board:
        """The supervisors' view; ``since`` starts the period of the figures (the
        driver's local midnight for "today")."""
        return summarise(self._calls.values(), self._agents.values(), self.settings, now, since)

    # ------------------------------------------------------------- moves

    def _open(self, call_id: str) -> Call:
        call = self.call(call_id)
        if call.finished:
            raise CallEnded("call_ended", f"call {call_id} is {call.state}")
        return call

    def _held(self, call_id: str, name: str) -> Call:
        call = self._open(call_id)
        self.agent(name)
        if call.state is not CallState.ACTIVE or call.agent != name:
            raise NotYourCall("not_your_call", f"call {call_id} is not held by {name}")
        return call

    def _abandon(self, call: Call, ending: Ending, at: float) -> list[Effect]:
        effects: list[Effect] = []
        if call.state is CallState.RINGING:
            call, effects = self._unring_to_free(call, RingEnd.CANCELLED, at)
        gone = replace(call, state=CallState.ABANDONED, ended=at, ending=ending)
        effects.append(self._put_call(gone, CallStep.ABANDONED))
        return effects

    def _route(self, now: float) -> list[Effect]:
        """Rings free agents: each waiting call, first to be answered first, to the
        eligible agent idle longest, preferring those not yet rung for it this round."""
        effects: list[Effect] = []
        if not any(agent.state is AgentState.AVAILABLE for agent in self._agents.values()):
            return effects  # nobody to ring: a storm's calls wait without being looked at
        waiting = [c for c in self._unfinished.values() if c.state is CallState.WAITING]
        for call in sorted(waiting, key=answer_order):
            free = [
                agent
                for agent in self._agents.values()
                if agent.state is AgentState.AVAILABLE
                and may_take(agent, call)
                and agent.name not in call.declined
            ]
            fresh = [agent for agent in free if agent.name not in call.tried]
            pick = min(fresh or free, key=lambda a: (a.idle_since, a.name), default=None)
            if pick is not None:
                effects += self._ring(call, pick, now)
        return effects

    def _ring(self, call: Call, agent: Agent, now: float) -> list[Effect]:
        until = now + self.settings.ring_s
        rung = replace(
            call,
            state=CallState.RINGING,
            offered_to=agent.name,
            ring_until=until,
            # Ringing someone already tried starts a new round.
            tried=() if agent.name in call.tried else call.tried,
        )
        effects: list[Effect] = [self._put_call(rung, CallStep.OFFERED)]
        effects += self._set_agent(agent, AgentState.RINGING, now, call_id=call.id)
        effects.append(Ring(call.id, agent.name, until))
        return effects

    def _unring_to_free(self, call: Call, reason: RingEnd, at: float) -> tuple[Call, list[Effect]]:
        """Stops the ring for a reason that leaves the rung agent free: available again."""
        agent = self._agents[str(call.offered_to)]
        call, effects = unring(call, reason)
        return call, effects + self._set_agent(agent, AgentState.AVAILABLE, at)

    def _ring_over(self, call: Call, reason: RingEnd) -> list[Effect]:
        """The rung agent did not take the call: it goes back to the queue (a named
        transfer to the general queue, above fresh calls). The agent is left to the caller."""
        name = str(call.offered_to)
        call, effects = unring(call, reason)
        if reason is RingEnd.DECLINED:
            call = replace(call, declined=(*call.declined, name))
        elif reason is RingEnd.MISSED:
            call = replace(call, tried=(*call.tried, name))
        if call.for_agent is not None:
            call = replace(call, for_agent=None, priority=self.settings.returned_priority)
        steps = {RingEnd.DECLINED: CallStep.DECLINED, RingEnd.MISSED: CallStep.MISSED}
        effects.append(self._put_call(call, steps.get(reason, CallStep.RETURNED)))
        return effects

    def _drop_other_ring(self, agent: Agent, call_id: str) -> list[Effect]:
        """An agent taking ``call_id`` gives up the ring of any other call."""
        if agent.state is not AgentState.RINGING or agent.call_id == call_id:
            return []
        return self._ring_over(self._calls[str(agent.call_id)], RingEnd.AGENT_AWAY)

    def _release(self, name: str, call_id: str, at: float) -> list[Effect]:
        """The holder lets go of the call: wrap-up, or offline if their console is gone."""
        agent = self._agents[name]
        if agent.grace_until is not None:
            return self._set_agent(agent, AgentState.OFFLINE, at)
        return self._set_agent(agent, AgentState.WRAP_UP, at, call_id=call_id)

    def _leave(
        self, agent: Agent, state: AgentState, at: float, *, reason: str = ""
    ) -> list[Effect]:
        """To a break or offline; a ring to the agent moves on."""
        effects: list[Effect] = []
        if agent.state is AgentState.RINGING:
            effects += self._ring_over(self._calls[str(agent.call_id)], RingEnd.AGENT_AWAY)
        return effects + self._set_agent(agent, state, at, break_reason=reason)

    def _disconnect(self, agent: Agent, now: float) -> list[Effect]:
        if agent.state is AgentState.ON_CALL:
            if agent.grace_until is not None:
                return []  # the first drop's grace still runs
            until = now + self.settings.reconnect_s
            return [self._put_agent(replace(agent, grace_until=until))]
        if not agent.online:
            return []
        return self._leave(agent, AgentState.OFFLINE, now)

    def _set_agent(
        self,
        agent: Agent,
        state: AgentState,
        at: float,
        *,
        call_id: str | None = None,
        break_reason: str = "",
        missed: int | None = None,
    ) -> list[Effect]:
        """The agent moves to ``state`` at ``at``, and everything tied to the state they
        left is cleared; leaving wrap-up records its end on the call that ended."""
        effects: list[Effect] = []
        if agent.state is AgentState.WRAP_UP and state is not AgentState.WRAP_UP:
            effects += self._wrapped(agent, at)
        was_idle = agent.state in (AgentState.AVAILABLE, AgentState.RINGING)
        moved = replace(
            agent,
            state=state,
            since=agent.since if state is agent.state else at,
            idle_since=at if state is AgentState.AVAILABLE and not was_idle else agent.idle_since,
            call_id=call_id,
            break_reason=break_reason if state is AgentState.BREAK else "",
            missed=agent.missed if missed is None else missed,
            wrap_until=at + self.settings.wrap_s if state is AgentState.WRAP_UP else None,
            grace_until=None,
        )
        effects.append(self._put_agent(moved))
        return effects

    def _wrapped(self, agent: Agent, at: float) -> list[Effect]:
        call = self._calls.get(str(agent.call_id))
        if call is None or call.state is not CallState.ENDED or call.agent != agent.name:
            return []  # a wrap-up after a transfer or barge: the call went on without them
        return [self._put_call(replace(call, wrap_ended=at), CallStep.WRAPPED)]

    def _put_call(self, call: Call, step: CallStep) -> CallChanged:
        self._store_call(call)
        return CallChanged(call, step)

    def _store_call(self, call: Call) -> None:
        before = self._calls.get(call.id)
        self._touched_calls.setdefault(call.id, before)
        if before is not None and before.pending:
            self._pending.pop(bisect.bisect_left(self._pending, answer_order(before)))
        if call.pending:
            bisect.insort(self._pending, answer_order(call))
        self._calls[call.id] = call
        if call.finished:
            self._unfinished.pop(call.id, None)
            self._finished[call.id] = call  # a call finishes once: its place stays
        else:
            self._unfinished[call.id] = call
        for event_id in call.event_ids:
            self._events[(call.lane_id, event_id)] = call.id

    def _drop_call(self, call_id: str) -> None:
        """Only a finished call is dropped: it was in no queue."""
        call = self._calls.pop(call_id)
        self._unfinished.pop(call_id, None)
        self._finished.pop(call_id, None)
        for event_id in call.event_ids:
            if self._events.get((call.lane_id, event_id)) == call_id:
                del self._events[(call.lane_id, event_id)]

    def _put_agent(self, agent: Agent) -> AgentChanged:
        self._agents[agent.name] = agent
        self._touched_agents.add(agent.name)
        return AgentChanged(agent)

    def _settled(self, effects: list[Effect], now: float) -> list[Effect]:
        """Every step ends here: free agents are rung, and the agents whose queue now
        looks different are named."""
        effects += self._route(now)
        changed = self._requeued()
        if changed:
            effects.append(QueueChanged(tuple(changed)))
        return effects

    def _requeued(self) -> list[str]:
        """The agents whose queue differs from when ``_settled`` last looked. Only an
        agent changed since, or one who may take a call changed since (as it was or as
        it is), can have a queue that differs; the others' is not made again."""
        calls = [
            call
            for call_id, before in self._touched_calls.items()
            for call in (before, self._calls.get(call_id))
            if call is not None and call.pending
        ]
        changed = []
        for name, agent in self._agents.items():
            if name not in self._touched_agents and not any(may_take(agent, c) for c in calls):
                continue
            view = tuple((call.id, call.state, call.offered_to) for call in self.queue_for(name))
            if view != self._views.get(name, ()):
                changed.append(name)
            if view:
                self._views[name] = view
            else:
                self._views.pop(name, None)
        self._touched_calls.clear()
        self._touched_agents.clear()
        return sorted(changed)


def may_take(agent: Agent, call: Call) -> bool:
    return (
        agent.covers(call.car_park)
        and call.for_agent in (None, agent.name)
        and (agent.supervisor or not call.for_supervisors)
    )


def unring(call: Call, reason: RingEnd) -> tuple[Call, list[Effect]]:
    """The call without its ring, not yet stored, and the instruction to stop it."""
    stop: list[Effect] = [StopRinging(call.id, str(call.offered_to), reason)]
    return replace(call, state=CallState.WAITING, offered_to=None, ring_until=None), stop
