"""A second reading of a vehicle event's plate, on an agent's demand: the OCR model
(``media.plates.ocr``) reads the event's enhanced crop, and the reading is kept on the
event with its ledger entry, the entry first (``Store.keep_reading``): no entry, no
reading. Where it disagrees with the camera's plate the event is marked
(``VehicleEvent.reading_disagrees``) in the vehicles API.

A read is 50-80 ms of a core (more wall-clock time on a busy machine), and the first
one loads the model (about half a second), so reads run on one thread of their own,
never on the event loop, one at a time. Two agents asking for the same event's reading
wait for the one read; beyond ``capacity`` events being read or waiting, a request is
refused with 503 ``reader_busy`` and when to try again, rather than queued without
limit: a storm of clicks cannot pile up minutes of work on a core the lanes' media need.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from media.errors import OcrUnavailable
from media.plates.crop import Box
from media.plates.ocr import PlateReader
from media.plates.reading import PlateReading

from ..audit import AuditLog
from ..errors import Busy, Conflict, NotConfigured, NotFound, StoreError
from ..ledger import AuditAction, AuditRecord
from ..models import User
from ..store import Store
from .crops import plate_image
from .model import Reading, VehicleRecord

log = logging.getLogger("seat.vehicles")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class PlateReadings:
    """Reads events' plates with ``reader`` on one thread, ``queue`` more waiting."""

    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        data_dir: Path,
        reader: PlateReader,
        queue: int,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        if queue < 0:
            raise ValueError(f"the OCR's queue cannot be negative, not {queue}")
        self.store = store
        self.audit = audit
        self.data_dir = data_dir
        self.reader = reader
        self.capacity = 1 + queue
        self._clock = clock
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="seat-ocr")
        self._reads: dict[str, asyncio.Task[VehicleRecord]] = {}
        # Seconds one read takes, as measured (moving average); the first includes loading.
        self._read_s = 1.0

    @property
    def admitted(self) -> int:
        """Events being read or waiting for the thread."""
        return len(self._reads)

    async def read(self, user: User, event_id: str, remote: str) -> VehicleRecord:
        """Event ``event_id`` with its plate's reading: read now, or the one kept (a
        reading is made once: the same crop gives the same text). 404
        ``unknown_vehicle``, ``no_snapshot`` (retention removed it), ``no_plate``; 503
        ``reader_busy``, ``ocr_unavailable``."""
        running = self._reads.get(event_id)
        if running is None:
            record = await self._vehicle(event_id)
            if record.event.reading is not None:
                return record
            if record.event.snapshot is None:
                raise NotFound("no_snapshot", "this event's snapshot was removed by retention")
            # Another request may have started it while the store was read.
            running = self._reads.get(event_id)
            if running is None:
                running = self._start(user, record, remote)
        # Shielded: an agent who gives up waiting does not cancel the read for another.
        return await asyncio.shield(running)

    def _start(self, user: User, record: VehicleRecord, remote: str) -> asyncio.Task[VehicleRecord]:
        if len(self._reads) >= self.capacity:
            raise Busy(
                "reader_busy",
                "too many plates are being read; try again shortly",
                retry_after=max(1, math.ceil(len(self._reads) * self._read_s)),
            )
        event_id = record.event.event_id
        task = asyncio.create_task(self._read(user, record, remote))
        self._reads[event_id] = task
        task.add_done_callback(lambda _: self._reads.pop(event_id, None))
        return task

    async def _read(self, user: User, record: VehicleRecord, remote: str) -> VehicleRecord:
        event = record.event
        assert event.snapshot is not None
        loop = asyncio.get_running_loop()
        started = time.perf_counter()
        try:
            reading = await loop.run_in_executor(self._pool, self._work, event.snapshot, event.box)
        except OcrUnavailable as exc:
            raise NotConfigured("ocr_unavailable", exc.detail) from exc
        seconds = time.perf_counter() - started
        self._read_s += 0.2 * (seconds - self._read_s)
        kept = Reading(reading, self._clock())
        entry = AuditRecord(
            actor=user.username,
            action=AuditAction.PLATE_READ,
            lane=event.lane,
            detail={
                "event": event.event_id,
                "car_park": event.car_park,
                "plate": event.plate,
                "read_plate": reading.plate,
                "confidence": reading.confidence,
                "disagrees": replace(event, reading=kept).reading_disagrees,
                "role": user.role.value,
                "remote": remote,
            },
        )
        try:
            entries = await self.store.keep_reading(entry, event.event_id, kept)
        except Conflict:
            # Another centre on the same database read it first: its reading stands.
            return await self._vehicle(event.event_id)
        except StoreError as exc:
            raise StoreError(
                "audit_failed", f"not done: the ledger could not record it ({exc.detail})"
            ) from exc
        self.audit.announce(entries)
        log.info(
            "vehicles.plate.read event_id=%s plate=%s read_plate=%s confidence=%s ms=%d",
            event.event_id,
            event.plate,
            reading.plate,
            reading.confidence,
            round(seconds * 1000),
        )
        return await self._vehicle(event.event_id)

    def _work(self, snapshot: str, box: Box) -> PlateReading:
        """On the OCR's thread: the crop, then its reading."""
        return self.reader.read(plate_image(self.data_dir, snapshot, box))

    async def _vehicle(self, event_id: str) -> VehicleRecord:
        record = await self.store.vehicle(event_id)
        if record is None:
            raise NotFound("unknown_vehicle", "no vehicle event with that id")
        return record

    async def close(self) -> None:
        """Stops the reads under way and the thread; a read already on the thread ends
        there, and its result is dropped."""
        for task in list(self._reads.values()):
            task.cancel()
        await asyncio.gather(*self._reads.values(), return_exceptions=True)
        self._pool.shutdown(wait=False, cancel_futures=True)
