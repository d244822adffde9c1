"""The ledger's entries for the call queue's steps: what the rules did, who made them do
it, and to whom.

Pure: a step's effects in, ``AuditRecord`` values out, written by the driver in the
same transaction as the state they describe. Every change of a call's hands is
recorded (placed, offered, accepted, declined, missed, returned, transferred,
escalated, barged, requeued, ended, hung up, abandoned) and a breach of the service
target; a repeated press, a handle-time warning and the end of a wrap-up are not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.ledger import AuditAction, AuditRecord

from .effects import CallChanged, CallStep, Effect, StopRinging
from .model import Call, Ending
from .record import ActionTaken, Outcome

# Who did a step the centre took on its own (a ring moved on, a timer ran out).
CENTRE = "centre"

ACTIONS: Mapping[CallStep, AuditAction] = {
    CallStep.PLACED: AuditAction.CALL_PLACED,
    CallStep.OFFERED: AuditAction.CALL_OFFERED,
    CallStep.ACCEPTED: AuditAction.CALL_ACCEPTED,
    CallStep.DECLINED: AuditAction.CALL_DECLINED,
    CallStep.MISSED: AuditAction.CALL_MISSED,
    CallStep.RETURNED: AuditAction.CALL_RETURNED,
    CallStep.TRANSFERRED: AuditAction.CALL_TRANSFERRED,
    CallStep.ESCALATED: AuditAction.CALL_ESCALATED,
    CallStep.BARGED: AuditAction.CALL_BARGED,
    CallStep.REQUEUED: AuditAction.CALL_REQUEUED,
    CallStep.ENDED: AuditAction.CALL_ENDED,
    CallStep.HUNG_UP: AuditAction.CALL_HUNG_UP,
    CallStep.ABANDONED: AuditAction.CALL_ABANDONED,
    CallStep.BREACHED: AuditAction.CALL_BREACHED,
}

# Steps the rules take by themselves, whoever's step set them off.
_CENTRES = frozenset({CallStep.OFFERED, CallStep.MISSED, CallStep.REQUEUED, CallStep.BREACHED})


def entries(
    effects: list[Effect],
    actor: str,
    holders: Mapping[str, str],
    *,
    outcome: Outcome | None = None,
    actions: Mapping[str, tuple[ActionTaken, ...]] | None = None,
) -> list[AuditRecord]:
    """The entries for one step's ``effects``, made by ``actor``. ``holders`` maps each
    call answered before the step to its holder (a requeued call no longer names
    them). ``outcome`` is the form of a call this step ended; ``actions`` the commands
    sent during each call that finished."""
    records: list[AuditRecord] = []
    rung: dict[str, str] = {}  # call id -> the agent whose ring just stopped
    for effect in effects:
        if isinstance(effect, StopRinging):
            rung[effect.call_id] = effect.agent
        if not isinstance(effect, CallChanged) or effect.step not in ACTIONS:
            continue
        call, step = effect.call, effect.step
        detail = {"call": call.id, "source": call.source.value, **_detail(call, step)}
        if step in (CallStep.DECLINED, CallStep.MISSED, CallStep.RETURNED):
            detail["agent"] = rung.get(call.id)
        elif step is CallStep.REQUEUED:
            detail["agent"] = holders.get(call.id)
        if step is CallStep.ENDED and outcome is not None:
            detail["outcome"] = outcome.to_json()
        if call.finished and actions is not None:
            detail["actions"] = [action.to_json() for action in actions.get(call.id, ())]
        timed_out = step is CallStep.ABANDONED and call.ending is Ending.TIMEOUT
        records.append(
            AuditRecord(
                actor=CENTRE if step in _CENTRES or timed_out else actor,
                action=ACTIONS[step],
                lane=call.lane_id,
                reason=outcome.category.value if step is CallStep.ENDED and outcome else None,
                detail=detail,
            )
        )
    return records


def _detail(call: Call, step: CallStep) -> dict[str, Any]:
    if step is CallStep.PLACED:
        return {
            "car_park": call.car_park,
            "direction": call.direction.value,
            "priority": call.priority,
            "caller": call.caller,
            "note": call.note,
            "event_id": call.event_id,
        }
    if step is CallStep.OFFERED:
        return {"agent": call.offered_to, "ring_until": call.ring_until}
    if step in (CallStep.ACCEPTED, CallStep.BARGED):
        answered = call.answered if call.answered is not None else call.created
        detail: dict[str, Any] = {"agent": call.agent, "wait_s": _seconds(call.wait_s(answered))}
        if step is CallStep.BARGED:
            detail["from_agent"] = call.transfers[-1].from_agent
        return detail
    if step in (CallStep.TRANSFERRED, CallStep.ESCALATED):
        transfer = call.transfers[-1]
        return {
            "from_agent": transfer.from_agent,
            "to_agent": transfer.to_agent,
            "note": transfer.note,
        }
    if call.finished and call.ended is not None:
        handle = call.handle_s(call.ended)
        return {
            "agent": call.agent,
            "ending": None if call.ending is None else call.ending.value,
            "ended_by": call.ended_by,
            "wait_s": _seconds(call.wait_s(call.ended)),
            "handle_s": None if handle is None else _seconds(handle),
        }
    if step is CallStep.BREACHED:
        return {"agent": call.agent}
    return {}


def _seconds(value: float) -> float:
    return round(value, 1)
