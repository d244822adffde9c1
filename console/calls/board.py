"""The supervisors' view of the queue: who is doing what, and how the period went.

The figures come from the calls the queue still holds, which keeps finished calls for
``keep_s`` (a day by default) so that "today" is covered; anything longer is the
reports' business, read from the audit. The service level is the share of answered
calls answered within ``answer_target_s``; abandoned calls are counted apart.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .model import Agent, AgentState, Call, CallState, Settings


@dataclass(frozen=True, slots=True)
class AgentRow:
    name: str
    state: AgentState
    in_state_s: float
    call_id: str | None
    break_reason: str
    supervisor: bool
    connected: bool  # False while their console is away during the reconnect grace


@dataclass(frozen=True, slots=True)
class Board:
    agents: tuple[AgentRow, ...]
    waiting: int  # calls waiting or ringing now
    longest_wait_s: float  # of those, the longest since queued; 0 with none
    answered: int  # first answered in the period
    answered_in_target: int
    abandoned: int  # abandoned in the period

    @property
    def service_level(self) -> float | None:
        """Percent of the period's answered calls answered within the target."""
        return None if not self.answered else 100.0 * self.answered_in_target / self.answered


def summarise(
    calls: Iterable[Call], agents: Iterable[Agent], settings: Settings, now: float, since: float
) -> Board:
    held = list(calls)
    pending = [call for call in held if call.pending]
    waits = [
        call.wait_s(now) for call in held if call.answered is not None and call.answered >= since
    ]
    rows = tuple(
        AgentRow(
            name=agent.name,
            state=agent.state,
            in_state_s=now - agent.since,
            call_id=agent.call_id,
            break_reason=agent.break_reason,
            supervisor=agent.supervisor,
            connected=agent.online and agent.grace_until is None,
        )
        for agent in sorted(agents, key=lambda agent: agent.name)
    )
    return Board(
        agents=rows,
        waiting=len(pending),
        longest_wait_s=max((now - call.created for call in pending), default=0.0),
        answered=len(waits),
        answered_in_target=sum(1 for wait in waits if wait <= settings.answer_target_s),
        abandoned=sum(
            1
            for call in held
            if call.state is CallState.ABANDONED and call.ended is not None and call.ended >= since
        ),
    )
