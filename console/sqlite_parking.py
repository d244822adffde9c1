"""The store's part that keeps the parking records: vehicle events and the
stays they make, an agent's corrections and matches that re-link them, the OCR's
readings, and the stays of cars without a plate. The jobs that write them are in
``sqlite_vehicles.py``, ``sqlite_stays.py`` and ``sqlite_noplate.py``; this part runs
them on the writer thread, with their ledger entry where an agent or a phone acted."""

from __future__ import annotations

from .ledger import AuditEntry, AuditRecord, parse_utc
from .noplate.model import NoPlateStay
from .sqlite_base import StoreBase
from .sqlite_noplate import (
    CODE_USED,
    ONE_NOPLATE,
    PARK_NOPLATE,
    PHONE_OPEN,
    enter_job,
    exit_job,
    noplate_of,
)
from .sqlite_rows import names_a_row
from .sqlite_stays import Job, correct_job, match_job
from .sqlite_vehicles import (
    LANE_VEHICLES,
    ONE_VEHICLE,
    OPEN_STAYS,
    forget_snapshots_job,
    open_stays_of,
    reading_job,
    record_job,
    records_of,
)
from .stays.match import OpenStay
from .stays.records import StayState
from .vehicles.model import (
    Reading,
    Recorded,
    Relinked,
    StayRecord,
    VehicleEvent,
    VehicleRecord,
)


class ParkingPart(StoreBase):
    """Vehicle events, stays and no-plate stays."""

    # -------------------------------------------------------------- vehicles

    async def record_vehicle(self, event: VehicleEvent) -> Recorded:
        """Keeps ``event`` and makes its stay change (``console.stays.records``) in one
        transaction. An event id kept already from the same lane changes nothing and says
        so (``new`` False); from another lane it is a ``Conflict``."""
        return await self._write(record_job(event))

    async def lane_vehicles(self, lane_id: str, limit: int) -> list[VehicleRecord]:
        """The lane's last ``limit`` events, newest (by the lane's time) first."""
        if limit < 1:
            raise ValueError(f"limit must be at least 1, not {limit}")
        return records_of(await self._read(LANE_VEHICLES, (lane_id, limit)))

    async def vehicle(self, event_id: str) -> VehicleRecord | None:
        rows = await self._read(ONE_VEHICLE, (event_id,))
        return records_of(rows)[0] if rows else None

    async def open_stays(self) -> list[OpenStay]:
        """Every open stay, oldest first: what ``console.stays.match`` ranks."""
        return open_stays_of(await self._read(OPEN_STAYS))

    async def forget_snapshots(self, before: str) -> int:
        """Forgets the snapshot paths that sort before ``before`` (their files are being
        removed); returns how many events lost theirs."""
        return await self._write(forget_snapshots_job(before))

    async def stay(self, stay_id: int) -> StayRecord | None:
        if not names_a_row(stay_id):
            return None
        rows = await self._read(
            "SELECT id, car_park, plate, state, entry_event, entered_at, closed_at"
            " FROM stays WHERE id = ?",
            (stay_id,),
        )
        if not rows:
            return None
        row = rows[0]
        entered = None if row[5] is None else parse_utc(row[5])
        closed = None if row[6] is None else parse_utc(row[6])
        return StayRecord(row[0], row[1], row[2], StayState(row[3]), row[4], entered, closed)

    async def correct_plate(
        self, record: AuditRecord, event_id: str, old: str, new: str
    ) -> Relinked:
        """Writes ``record``, then sets the event's corrected plate ``new`` and re-links
        its stays (``sqlite_stays``), together. ``NotFound`` for an unknown event,
        ``Conflict`` if its plate is no longer ``old``: then nothing is written."""
        return await self._relink(record, correct_job(event_id, old, new))

    async def match_stay(
        self, record: AuditRecord, stay_id: int, event_id: str, event_plate: str, stay_plate: str
    ) -> Relinked:
        """Writes ``record``, then closes open stay ``stay_id`` by exit ``event_id``,
        together; ``NotFound``/``Conflict`` as ``sqlite_stays.match_job`` says, and then
        nothing is written."""
        return await self._relink(record, match_job(stay_id, event_id, event_plate, stay_plate))

    async def keep_reading(
        self, record: AuditRecord, event_id: str, reading: Reading
    ) -> list[AuditEntry]:
        """Writes ``record``, then keeps the OCR's ``reading`` of the event's plate,
        together; ``NotFound`` for an unknown event, ``Conflict`` ``already_read`` when
        it has one: then nothing is written."""
        return await self._write_together((record,), reading_job(event_id, reading))

    async def _relink(self, record: AuditRecord, job: Job) -> Relinked:
        done, entries = await self._write_with(record, job)
        return Relinked(done.stay_id, done.change, done.stays, tuple(entries))

    # -------------------------------------------------------------- no-plate stays

    async def open_noplate_stay(
        self, record: AuditRecord, event: VehicleEvent, phone: str, nonce: str
    ) -> tuple[Recorded, list[AuditEntry]]:
        """Writes ``record``, then the entry ``event`` and its stay for ``phone``,
        together (``sqlite_noplate.enter_job``); a refusal writes nothing."""
        return await self._write_with(record, enter_job(event, phone, nonce))

    async def close_noplate_stay(
        self, record: AuditRecord, stay_id: int, event: VehicleEvent, nonce: str | None
    ) -> tuple[Recorded, list[AuditEntry]]:
        """Writes ``record``, then closes the stay by the exit ``event``, together."""
        return await self._write_with(record, exit_job(stay_id, event, nonce))

    async def noplate_stay(self, stay_id: int) -> NoPlateStay | None:
        if not names_a_row(stay_id):
            return None
        rows = await self._read(ONE_NOPLATE, (stay_id,))
        return noplate_of(rows[0]) if rows else None

    async def phone_stay(self, phone: str, car_park: str) -> NoPlateStay | None:
        """The phone's open no-plate stay in ``car_park``, if it holds one."""
        rows = await self._read(PHONE_OPEN, (phone, car_park))
        return noplate_of(rows[0]) if rows else None

    async def noplate_code_used(self, nonce: str) -> bool:
        """Whether the code with ``nonce`` has let a car in or out."""
        return bool(await self._read(CODE_USED, (nonce, nonce)))

    async def noplate_stays(self, car_park: str, limit: int) -> list[NoPlateStay]:
        """The car park's last ``limit`` no-plate stays, newest first."""
        return [noplate_of(row) for row in await self._read(PARK_NOPLATE, (car_park, limit))]
