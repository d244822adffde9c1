"""A lane's event the centre has no room for is counted where monitoring looks
(``/healthz``), not only logged: the recorder's backlog full, the next read is dropped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from console.vehicles.recorder import BACKLOG_MAX
from gates.protocol import Vehicle
from gates.vocabulary import PlateColour
from tests.conftest import Centre


async def test_a_read_beyond_a_full_backlog_is_dropped_and_counted(centre: Centre) -> None:
    """The lane hub hands reads over without waiting: with no await in between the
    recorder's worker cannot take one, so its backlog fills and one more is dropped."""
    start = datetime.now(UTC)
    for n in range(BACKLOG_MAX + 1):
        read = Vehicle(
            event_id=f"flood-{n}",
            at=start + timedelta(minutes=n),  # each its own car, none a repeat
            plate=f"粤B{n:05d}",
            plate_colour=PlateColour.BLUE,
            confidence=0.9,
            box=(0, 0, 10, 10),
            snapshot=b"",
        )
        centre.vehicles._lane_message("NO-SUCH-LANE", read)
    assert centre.vehicles.dropped == 1
    async with centre.client() as client:
        health = (await client.get("/healthz")).json()
    assert health["events_dropped"] == 1
