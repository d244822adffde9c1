"""JSON shapes of calls and agents that the HTTP API and the live stream share, and who
may see which call.

An agent sees the calls of the car parks they cover (waiting, rung or answered by
anyone), and any call rung to, held by or transferred to them; a supervisor sees every
call. Seeing a call is not taking it: ``may_accept`` says whether they may pick it now.
"""

from __future__ import annotations

from typing import Any

from gates.wire import format_time

from .board import Board
from .model import Agent, Call, Settings
from .record import utc
from .state import may_take


def may_see(agent: Agent, call: Call) -> bool:
    return (
        agent.supervisor
        or agent.covers(call.car_park)
        or agent.name in (call.agent, call.offered_to, call.for_agent)
    )


def call_json(
    call: Call,
    now: float,
    settings: Settings,
    viewer: Agent,
    *,
    position: int | None,
    intercom: str | None,
) -> dict[str, Any]:
    """``call`` as ``viewer`` sees it at ``now``: its clocks so far (seconds), its place
    in the queue (1 answers next; None once answered), and who holds its lane's intercom."""
    handle = call.handle_s(now)
    return {
        "id": call.id,
        "lane_id": call.lane_id,
        "car_park": call.car_park,
        "direction": call.direction.value,
        "source": call.source.value,
        "caller": call.caller,
        "note": call.note,
        "priority": call.priority,
        "state": call.state.value,
        "agent": call.agent,
        "offered_to": call.offered_to,
        "for_agent": call.for_agent,
        "for_supervisors": call.for_supervisors,
        "presses": call.presses,
        "queued_at": _time(call.created),
        "ring_until": _time(call.ring_until),
        "answered_at": _time(call.answered),
        "ended_at": _time(call.ended),
        "ending": None if call.ending is None else call.ending.value,
        "ended_by": call.ended_by,
        "wait_s": round(call.wait_s(now), 1),
        "handle_s": None if handle is None else round(handle, 1),
        "warned": call.warned or (handle is not None and handle >= settings.warn_s),
        "breached": call.breached or (handle is not None and handle >= settings.breach_s),
        "position": position,
        "transfers": [
            {
                "at": _time(transfer.at),
                "kind": transfer.kind.value,
                "from_agent": transfer.from_agent,
                "to_agent": transfer.to_agent,
                "note": transfer.note,
            }
            for transfer in call.transfers
        ],
        "intercom": intercom,
        "may_accept": may_accept(viewer, call),
    }


def may_accept(viewer: Agent, call: Call) -> bool:
    """The one way ``call_json`` shows a call differently to different viewers."""
    return call.pending and viewer.online and may_take(viewer, call)


def agent_json(agent: Agent, now: float) -> dict[str, Any]:
    return {
        "name": agent.name,
        "state": agent.state.value,
        "since": _time(agent.since),
        "in_state_s": round(now - agent.since, 1),
        "call_id": agent.call_id,
        "break_reason": agent.break_reason,
        "supervisor": agent.supervisor,
        "car_parks": None if agent.car_parks is None else list(agent.car_parks),
        "connected": agent.online and agent.grace_until is None,
        "grace_until": _time(agent.grace_until),
        "wrap_until": _time(agent.wrap_until),
        "missed": agent.missed,
    }


def board_json(board: Board) -> dict[str, Any]:
    level = board.service_level
    return {
        "waiting": board.waiting,
        "longest_wait_s": round(board.longest_wait_s, 1),
        "answered": board.answered,
        "answered_in_target": board.answered_in_target,
        "service_level": None if level is None else round(level, 1),
        "abandoned": board.abandoned,
    }


def _time(seconds: float | None) -> str | None:
    return None if seconds is None else format_time(utc(seconds))
