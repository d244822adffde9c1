"""What the lanes of a busy wall send, as lane-link frames: cars read with their plates
and snapshots, barriers moving, call buttons pressed, faults raised and cleared.

Pure apart from the clock: ``LaneChanges`` picks which lane changes and how from its
own seeded generator, and remembers what each lane last said, so a benchmark can check
that a console shows every lane as it now is. Snapshots are drawn once, a few of them,
and reused: drawing one per car would cost the lane processes more than the centre.
"""

from __future__ import annotations

import base64
import json
import random
from dataclasses import dataclass
from datetime import UTC, datetime

from gates.lane.snapshot import render
from gates.plates import colour_of, random_plate
from gates.vocabulary import GateState, PlateColour
from gates.wire import format_time

SNAPSHOTS = 6
SNAPSHOT_SIZE = (640, 360)
# What a change is, by weight: mostly cars and their barriers, now and then a fault,
# and a call button pressed every other second of a 50-a-second churn: a busy city.
KINDS = ("vehicle", "gate", "call", "fault")
WEIGHTS = (47, 46, 1, 6)
GATE_CYCLE = (GateState.DOWN, GateState.RISING, GateState.UP, GateState.FALLING)


@dataclass
class Shown:
    """What a lane last said that its row on the wall shows."""

    gate: str = GateState.DOWN.value
    plate: str | None = None


class LaneChanges:
    def __init__(self, lanes: list[str], seed: str) -> None:
        self.lanes = lanes
        self.rng = random.Random(seed)
        self.shown = {lane: Shown() for lane in lanes}
        self._faulty: set[str] = set()
        self._count = 0
        at = datetime.now(UTC)
        self._snapshots = [self._snapshot(at, n) for n in range(SNAPSHOTS)]

    def _snapshot(self, at: datetime, seed: int) -> str:
        plate = random_plate(self.rng)
        drawn = render(plate, PlateColour.BLUE, gate_angle=0, at=at, seed=seed, size=SNAPSHOT_SIZE)
        return base64.b64encode(drawn.jpeg).decode("ascii")

    def prime(self, lane: str) -> list[str]:
        """``lane``'s barrier down and a car read there: every row has a snapshot."""
        self.shown[lane].gate = GateState.DOWN.value
        return [json.dumps({"type": "gate", "state": GateState.DOWN.value}), self.vehicle(lane)]

    def vehicle(self, lane: str) -> str:
        """A car read at ``lane``, with a plate and a snapshot."""
        self._count += 1
        plate = random_plate(self.rng, new_energy=self.rng.random() < 0.2)
        self.shown[lane].plate = plate
        return json.dumps(
            {
                "type": "vehicle",
                "event_id": f"{lane}-v{self._count}",
                "at": format_time(datetime.now(UTC)),
                "plate": plate,
                "plate_colour": colour_of(plate).value,
                "confidence": round(self.rng.uniform(0.7, 0.99), 2),
                "box": [200, 200, 160, 50],
                "snapshot": self.rng.choice(self._snapshots),
            }
        )

    def change(self) -> tuple[str, str]:
        """One lane's change: the lane and the frame it sends."""
        lane = self.rng.choice(self.lanes)
        kind = self.rng.choices(KINDS, WEIGHTS)[0]
        if kind == "vehicle":
            return lane, self.vehicle(lane)
        if kind == "gate":
            shown = self.shown[lane]
            now = GATE_CYCLE.index(GateState(shown.gate))
            shown.gate = GATE_CYCLE[(now + 1) % len(GATE_CYCLE)].value
            return lane, json.dumps({"type": "gate", "state": shown.gate})
        self._count += 1
        if kind == "call":
            return lane, json.dumps({"type": "call", "event_id": f"{lane}-c{self._count}"})
        active = lane not in self._faulty
        (self._faulty.add if active else self._faulty.discard)(lane)
        fault = {"code": "camera_offline", "detail": "镜头无信号", "active": active}
        return lane, json.dumps({"type": "fault", **fault})
