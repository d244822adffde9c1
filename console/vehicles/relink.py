"""An agent's word on the stays: a misread plate corrected, an exit with no entry matched
to an open stay, and the open stays ranked for that (``console.stays.match``).

The ranking's index lives in memory: built from the store's open stays at the start,
before the recorder takes its first event, then kept in step with every change to the
stays, the recorder's (its ``Recorded.stays``) and this module's own. Each correction
and match is written with its ledger entry in one transaction, the entry first
(``Store.correct_plate``, ``Store.match_stay``): no entry, no change, and no entry for
a change that was refused.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from gates.vocabulary import Direction

from ..audit import AuditLog, written
from ..errors import Conflict, NotFound
from ..ledger import AuditAction, AuditRecord
from ..models import User
from ..stays.match import Candidate, StayIndex
from ..stays.records import StayChange, StayState, stay_key
from ..store import Store
from .model import Recorded, Relinked, VehicleRecord
from .recorder import VehicleRecorder

log = logging.getLogger("seat.vehicles")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Relinking:
    def __init__(
        self,
        store: Store,
        audit: AuditLog,
        recorder: VehicleRecorder,
        *,
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.store = store
        self.audit = audit
        self.recorder = recorder
        self.index = StayIndex()
        self._clock = clock
        self._unsubscribe: Callable[[], None] | None = None

    async def start(self) -> None:
        """Builds the index; call before the recorder starts, so no change is missed."""
        for stay in await self.store.open_stays():
            self.index.add(stay)
        self._unsubscribe = self.recorder.subscribe(self._recorded)
        log.info("stays.index.built open=%d", len(self.index))

    def close(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()

    def _recorded(self, recorded: Recorded) -> None:
        self.index.apply(recorded.stays)

    def candidates(self, plate: str, car_park: str, limit: int) -> list[Candidate]:
        """The open stays ``plate`` read at an exit of ``car_park`` most likely belongs
        to, best first."""
        return self.index.match(plate, car_park, self._clock(), limit)

    async def correct(
        self, user: User, event_id: str, plate: str, note: str, remote: str
    ) -> VehicleRecord:
        """Sets event ``event_id``'s plate to ``plate`` (normalised, valid) and re-links
        its stays (``console.sqlite_stays``). The plate it has already is a 409
        ``same_plate``: a second click changes nothing, and says so."""
        record = await self._vehicle(event_id)
        event = record.event
        old = stay_key(event.corrected_plate or event.plate)
        if plate == old:
            raise Conflict("same_plate", f"the event's plate is {old} already")
        entry = AuditRecord(
            actor=user.username,
            action=AuditAction.PLATE_CORRECTED,
            lane=event.lane,
            detail={
                "event": event_id,
                "car_park": event.car_park,
                "direction": event.direction.value,
                "read_plate": event.plate,
                "old_plate": old,
                "new_plate": plate,
                "stay": record.stay_id,
                "note": note,
                "role": user.role.value,
                "remote": remote,
            },
        )
        done = await written(self.store.correct_plate(entry, event_id, old, plate))
        self._relinked("stays.plate.corrected", event_id, done)
        return await self._vehicle(event_id)

    async def match(self, user: User, stay_id: int, event_id: str, remote: str) -> VehicleRecord:
        """Closes open stay ``stay_id`` by exit ``event_id``, which found no stay of its
        own (``no_entry``, or no plate read); its ``no_entry`` stay is deleted."""
        record = await self._vehicle(event_id)
        stay = await self.store.stay(stay_id)
        if stay is None:
            raise NotFound("unknown_stay", "no stay with that id")
        event = record.event
        if event.direction is not Direction.EXIT:
            raise Conflict("not_an_exit", "only an exit closes a stay")
        if record.change not in (StayChange.NO_ENTRY, StayChange.UNREAD):
            raise Conflict("already_matched", "this exit already closed a stay")
        if stay.state is not StayState.OPEN:
            raise Conflict("stay_not_open", f"that stay is {stay.state.value}, not open")
        old = stay_key(event.corrected_plate or event.plate)
        entry = AuditRecord(
            actor=user.username,
            action=AuditAction.STAY_MATCHED,
            lane=event.lane,
            detail={
                "event": event_id,
                "car_park": event.car_park,
                "stay": stay_id,
                "stay_car_park": stay.car_park,
                "entry_event": stay.entry_event,
                "removed_stay": record.stay_id,
                "old_plate": old,
                "new_plate": stay.plate,
                "role": user.role.value,
                "remote": remote,
            },
        )
        done = await written(self.store.match_stay(entry, stay_id, event_id, old, stay.plate))
        self._relinked("stays.exit.matched", event_id, done)
        return await self._vehicle(event_id)

    async def _vehicle(self, event_id: str) -> VehicleRecord:
        record = await self.store.vehicle(event_id)
        if record is None:
            raise NotFound("unknown_vehicle", "no vehicle event with that id")
        return record

    def _relinked(self, what: str, event_id: str, done: Relinked) -> None:
        self.audit.announce(list(done.entries))
        self.index.apply(done.stays)
        log.info(
            "%s event_id=%s stay=%s change=%s closed=%s opened=%s",
            what,
            event_id,
            done.stay_id,
            done.change.value,
            list(done.stays.closed),
            [stay.stay_id for stay in done.stays.opened],
        )
