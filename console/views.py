"""JSON shapes the API and the live stream share, so a lane looks the same in both."""

from __future__ import annotations

from typing import Any

from gates.centre.status import LaneStatus

from .actions import ActionResult
from .models import LaneRecord


def lane_json(lane: LaneRecord, status: LaneStatus) -> dict[str, Any]:
    return {
        "id": lane.id,
        "name": lane.name,
        "car_park": lane.car_park,
        "direction": lane.direction.value,
        **status.to_json(),
    }


def outcome_json(result: ActionResult) -> dict[str, Any]:
    resolved = result.resolved
    body = {"command_id": resolved.command_id, "outcome": resolved.outcome.value}
    if resolved.detail:
        body["detail"] = resolved.detail
    if result.joined is not None:
        body["joined"] = result.joined
    return body
