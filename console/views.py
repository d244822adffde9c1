"""JSON shapes the API and the live stream share, so a lane looks the same in both."""

from __future__ import annotations

from typing import Any

from gates.commands import Resolved
from gates.status import LaneStatus

from .models import LaneRecord


def lane_json(lane: LaneRecord, status: LaneStatus) -> dict[str, Any]:
    return {
        "id": lane.id,
        "name": lane.name,
        "car_park": lane.car_park,
        "direction": lane.direction.value,
        **status.to_json(),
    }


def outcome_json(resolved: Resolved) -> dict[str, Any]:
    body = {"command_id": resolved.command_id, "outcome": resolved.outcome.value}
    if resolved.detail:
        body["detail"] = resolved.detail
    return body
