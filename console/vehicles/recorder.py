"""Keeping what the lanes' cameras read: each ``vehicle`` message a lane sends becomes
a kept event, its snapshot a file, and its stay change a row (``console.stays.records``).

Messages are taken off the lane link as they arrive and recorded one at a time, in
arrival order, by one task: an entry and the exit that follows it are applied in that
order, and the lane link never waits for a disk. A read of a car already read
(``repeats``) is not recorded at all. For each event: the snapshot is written (on a
thread), then the row and the stay change in one transaction through the store's
writer. A failure is logged (``vehicles.event.unrecorded``) and the next event goes on;
a picture whose row failed is left to retention.

Snapshots older than ``SEAT_SNAPSHOT_DAYS`` go a whole day at a time, checked at the
start and hourly: their events' paths are forgotten first (the rows stay: that the car
passed is the evidence billing and disputes need; the API then shows no snapshot), then
the day's directory is removed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from gates.centre.hub import LaneHub
from gates.protocol import LaneMessage, Vehicle

from ..directory import Directory
from ..errors import Conflict, ConsoleError
from ..models import LaneRecord
from ..settings import Settings
from ..store import Store
from .model import Recorded, VehicleEvent
from .repeats import RepeatFilter
from .snapshots import (
    first_kept_day,
    paths_before,
    remove_days_before,
    snapshot_path,
    write_snapshot,
)

log = logging.getLogger("seat.vehicles")

# Events waiting for the disk, at most (each holds its JPEG, tens of KB). Beyond it the
# disk is far behind the lanes and an event is dropped, and logged, rather than the
# centre's memory.
BACKLOG_MAX = 1000
PRUNE_EVERY_S = 3600.0


def _utc_now() -> datetime:
    return datetime.now(UTC)


class VehicleRecorder:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        directory: Directory,
        hub: LaneHub,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.settings = settings
        self.store = store
        self.directory = directory
        self.hub = hub
        self._clock = clock
        self._repeats = RepeatFilter(settings.vehicle_repeat_s)
        self._backlog: asyncio.Queue[tuple[str, Vehicle] | None] = asyncio.Queue(BACKLOG_MAX)
        self.dropped = 0  # events dropped by a full backlog since the start (``/healthz``)
        self._listeners: set[Callable[[Recorded], None]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._unsubscribe = self.hub.subscribe_messages(self._lane_message)
        self._tasks = [asyncio.create_task(self._work()), asyncio.create_task(self._retain())]

    async def close(self) -> None:
        """Stops listening, records what already arrived, then stops."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        if not self._tasks:
            return
        worker, retention = self._tasks
        retention.cancel()
        await self._backlog.put(None)
        await worker
        with contextlib.suppress(asyncio.CancelledError):
            await retention

    def subscribe(self, listener: Callable[[Recorded], None]) -> Callable[[], None]:
        """Call ``listener`` after each event is recorded; returns the unsubscriber."""
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    # ------------------------------------------------------------- events

    def _lane_message(self, lane_id: str, message: LaneMessage) -> None:
        if not isinstance(message, Vehicle):
            return
        if self._repeats.is_repeat(lane_id, message.plate, message.at):
            log.info("vehicles.read.repeat lane=%s event_id=%s", lane_id, message.event_id)
            return
        try:
            self._backlog.put_nowait((lane_id, message))
        except asyncio.QueueFull:
            self.dropped += 1
            log.error("vehicles.event.dropped lane=%s event_id=%s", lane_id, message.event_id)

    async def _work(self) -> None:
        while (item := await self._backlog.get()) is not None:
            lane_id, message = item
            try:
                await self.record(lane_id, message)
            except (ConsoleError, OSError, ValueError) as exc:  # ValueError: a row unreadable
                log.error(
                    "vehicles.event.unrecorded lane=%s event_id=%s error=%r",
                    lane_id,
                    message.event_id,
                    exc,
                )

    async def record(self, lane_id: str, message: Vehicle) -> Recorded | None:
        """Keeps the event, its snapshot and its stay change, and tells the listeners;
        None for a lane no longer registered. An event kept already is not written
        again (``new`` False); one whose id another lane's event has is a ``Conflict``."""
        lane = await self.directory.lane(lane_id)
        if lane is None:
            log.warning(
                "vehicles.event.unknown_lane lane=%s event_id=%s", lane_id, message.event_id
            )
            return None
        known = await self.store.vehicle(message.event_id)
        if known is None:
            recorded = await self._keep(lane, message)
        elif known.event.lane != lane_id:  # its snapshot must not be overwritten
            raise Conflict("event_exists", "the event id came from another lane")
        else:
            recorded = Recorded(message.event_id, False, known.change, known.stay_id)
        log.info(
            "vehicles.event.recorded lane=%s event_id=%s direction=%s new=%s stay=%s change=%s",
            lane.id,
            message.event_id,
            lane.direction.value,
            recorded.new,
            recorded.stay_id,
            recorded.change.value,
        )
        for listener in list(self._listeners):
            listener(recorded)
        return recorded

    async def _keep(self, lane: LaneRecord, message: Vehicle) -> Recorded:
        received = self._clock()
        relative = snapshot_path(message.event_id, received)
        await asyncio.to_thread(write_snapshot, self.settings.data_dir, relative, message.snapshot)
        event = VehicleEvent(
            event_id=message.event_id,
            lane=lane.id,
            car_park=lane.car_park,
            direction=lane.direction,
            at=message.at,
            received_at=received,
            plate=message.plate,
            plate_colour=message.plate_colour,
            confidence=message.confidence,
            box=message.box,
            snapshot=relative,
        )
        return await self.store.record_vehicle(event)

    # ------------------------------------------------------------- retention

    async def _retain(self) -> None:
        while True:
            try:
                await self.prune(self._clock())
            except (ConsoleError, OSError) as exc:
                log.error("vehicles.snapshots.prune_failed error=%r", exc)
            await asyncio.sleep(PRUNE_EVERY_S)

    async def prune(self, now: datetime) -> list[str]:
        """Removes the snapshots of the days before the retention's first as of ``now``;
        returns the days removed."""
        first = first_kept_day(now, self.settings.snapshot_days)
        forgotten = await self.store.forget_snapshots(paths_before(first))
        removed = await asyncio.to_thread(remove_days_before, self.settings.data_dir, first)
        if forgotten or removed:
            log.info(
                "vehicles.snapshots.pruned before=%s days=%d events=%d",
                first.isoformat(),
                len(removed),
                forgotten,
            )
        return removed
