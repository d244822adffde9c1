"""Cars without a plate carried out: a lane's code shown on its display, a driver's
phone opening a stay under a temporary identity at the entry and closing it at the
exit, free or paid, and an agent linking such a stay to the car's real plate.

The rules are ``rules.py`` and ``codes.py``; this is their driver. Every step is in the
ledger before it takes effect: the stay is written with its ``noplate_entered`` or
``noplate_exited`` entry in one transaction, and the gate's open is the usual audited
action, by ``system`` (reason ``no_plate_entry`` at the entry; ``free_minutes`` for a
free exit; a paid exit's is the payment's own, ``paid``). The stays' in-memory index
(``console.vehicles.relink``) is kept in step with each change.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from gates.vocabulary import Direction, PlateColour

from ..actions import Actions, Actor, DisplayRequest, OpenReason, OpenRequest
from ..audit import AuditLog, written
from ..billing.stays import fee_for_stay
from ..directory import Directory
from ..errors import ConsoleError, Throttled
from ..help_rules import Buckets, Limit
from ..ledger import AuditAction, AuditEntry, AuditRecord
from ..models import LaneRecord, User
from ..payments.lifting import SYSTEM
from ..payments.service import OrderRequest, Payments
from ..payments.shown import Shown, qr_png
from ..settings import Settings
from ..stays.records import StayChange, StayState
from ..stickers import public_base, sticker_key
from ..store import Store
from ..vehicles.model import Recorded, VehicleEvent, VehicleRecord
from ..vehicles.recorder import VehicleRecorder
from ..vehicles.relink import Relinking
from .codes import (
    LaneCode,
    Phone,
    code_key,
    code_url,
    make_code,
    make_phone,
    new_nonce,
    new_phone_id,
    phone_key,
    read_code,
    read_phone,
    temporary_identity,
)
from .errors import CodeExpired, CodeRefused, NoStay
from .model import NoPlateStay
from .rules import ExitWay, Page, Showings, check_entry, check_exit, exit_way, page_for

log = logging.getLogger("seat.noplate")

# One driver scans once, perhaps twice; an address behind a carrier's NAT may be several
# drivers, but rarely at one moment. A lane lets one car through every few seconds.
PER_ADDRESS = Limit(burst=4, every_s=30.0)
PER_LANE = Limit(burst=4, every_s=10.0)


@dataclass(frozen=True, slots=True)
class View:
    """What a phone sees for a lane's code: the page, and the stay with its fee."""

    lane: LaneRecord
    page: Page
    stay: NoPlateStay | None = None
    fee_fen: int | None = None


@dataclass(frozen=True, slots=True)
class Left:
    stay: NoPlateStay
    way: ExitWay
    pay_url: str | None = None  # the order's pay link, when the exit is paid


class NoPlate:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        audit: AuditLog,
        actions: Actions,
        directory: Directory,
        recorder: VehicleRecorder,
        relinking: Relinking,
        payments: Payments,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.store = store
        self.audit = audit
        self.actions = actions
        self.directory = directory
        self.recorder = recorder
        self.relinking = relinking
        self.payments = payments
        self._clock = clock
        self._code_key = b""
        self._phone_key = b""
        self.lifetime = timedelta(seconds=settings.noplate_code_s)
        self.phone_lifetime = timedelta(days=settings.noplate_phone_days)
        self._per_address = Buckets(PER_ADDRESS)
        self._per_lane = Buckets(PER_LANE)
        self._showings = Showings()
        self._unsubscribe: list[Callable[[], None]] = []
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        key = await sticker_key(self.store, self.settings)
        self._code_key, self._phone_key = code_key(key), phone_key(key)
        self._unsubscribe = [
            self.recorder.subscribe(self._recorded),
            self.audit.subscribe(self._audited),
        ]

    async def close(self) -> None:
        """Stops listening; what is under way finishes, so its outcome is kept."""
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        if self._tasks:
            await asyncio.wait(self._tasks)

    # ------------------------------------------------------------- codes

    def code(self, lane: LaneRecord) -> tuple[str, datetime]:
        """A fresh code of ``lane``: its URL and when it stops working."""
        now = self._clock()
        token = make_code(self._code_key, LaneCode(lane.id, now, new_nonce()))
        issued = datetime.fromtimestamp(int(now.timestamp()), UTC)
        return code_url(public_base(self.settings), token), issued + self.lifetime

    async def show_code(self, actor: Actor, lane: LaneRecord) -> Shown:
        """A fresh code on the lane's display, with words for the driver."""
        url, expires_at = self.code(lane)
        words = "无牌车请扫码入场" if lane.direction is Direction.ENTRY else "无牌车请扫码离场"
        shown = await self.actions.display(actor, lane, DisplayRequest((words,), qr=url))
        log.info("noplate.code.shown lane=%s outcome=%s", lane.id, shown.resolved.outcome.value)
        return Shown(url, qr_png(url), expires_at, shown.resolved.outcome.value)

    def _recorded(self, recorded: Recorded) -> None:
        """A car the camera read no plate of gets the lane's code on the display."""
        if recorded.new and recorded.change is StayChange.UNREAD:
            self._later(self._show_for(recorded.event_id))

    async def _show_for(self, event_id: str) -> None:
        try:
            record = await self.store.vehicle(event_id)
            lane = None if record is None else await self.directory.lane(record.event.lane)
            if lane is None or not self._showings.due(lane.id, time.monotonic()):
                return
            await self.show_code(SYSTEM, lane)
        except ConsoleError as exc:  # no public URL, the ledger failing: the seat helps
            log.error("noplate.code.unshown event_id=%s error=%s", event_id, exc.code)

    async def lane_of(self, token: str) -> tuple[LaneCode, LaneRecord]:
        """The code ``token`` is and its lane; ``CodeRefused`` or ``CodeExpired``."""
        code = read_code(self._code_key, token, self._clock(), self.lifetime)
        lane = await self.directory.lane(code.lane_id)
        if lane is None:
            raise CodeRefused("noplate_unknown_lane", f"no lane {code.lane_id!r}")
        return code, lane

    # ------------------------------------------------------------- phones

    def phone(self, cookie: str | None) -> Phone | None:
        if not cookie:
            return None
        return read_phone(self._phone_key, cookie, self._clock(), self.phone_lifetime)

    def new_phone(self) -> tuple[Phone, str]:
        """A phone the centre has not seen, and its cookie's value."""
        phone = Phone(new_phone_id(), self._clock())
        return phone, make_phone(self._phone_key, phone)

    async def view(self, token: str, phone: Phone | None) -> View:
        code, lane = await self.lane_of(token)
        held = None if phone is None else await self.store.phone_stay(phone.phone_id, lane.car_park)
        page = page_for(lane.direction, held)
        if page is Page.ENTER and await self.store.noplate_code_used(code.nonce):
            raise CodeExpired("noplate_code_used", "this code has let a car in already")
        fee = await self._fee(held) if page is Page.LEAVE and held is not None else None
        return View(lane, page, held, fee)

    async def _fee(self, stay: NoPlateStay) -> int:
        """The stay's fee now. A car park with no rules charges no one by itself:
        ``NoBillingRules``, and the phone is asked to call the seat, as an exit with a
        plate there is left to the seat (``console.gatekeeping``)."""
        record = await self.store.stay(stay.stay_id)
        if record is None:
            raise NoStay("noplate_no_stay", f"stay {stay.stay_id} is gone")
        rules = await self.store.billing_rules(stay.car_park)
        return fee_for_stay(rules, record, self._clock()).total_fen

    def _admit(self, address: str, lane: LaneRecord) -> None:
        now = time.monotonic()
        wait = max(self._per_address.wait(address, now), self._per_lane.wait(lane.id, now))
        if wait > 0:
            raise Throttled(
                "too_many_scans", "too many scans: try again shortly", retry_after=round(wait, 1)
            )
        self._per_address.take(address, now)
        self._per_lane.take(lane.id, now)

    # ------------------------------------------------------------- entry and exit

    async def enter(self, token: str, phone: Phone, remote: str) -> NoPlateStay:
        """Opens a stay for ``phone`` at the entry the code names, then lifts its gate."""
        code, lane = await self.lane_of(token)
        check_entry(lane.direction)
        self._admit(remote, lane)
        identity = temporary_identity(code.nonce)
        event = self._event(lane, identity)
        record = AuditRecord(
            actor=_phone_actor(phone),
            action=AuditAction.NOPLATE_ENTERED,
            lane=lane.id,
            detail={
                "car_park": lane.car_park,
                "identity": identity,
                "event": event.event_id,
                "nonce": code.nonce,
                "remote": remote,
            },
        )
        recorded, entries = await written(
            self.store.open_noplate_stay(record, event, phone.phone_id, code.nonce)
        )
        self._changed(entries, recorded)
        assert recorded.stay_id is not None  # enter_job refuses anything but an opened stay
        log.info("noplate.entered lane=%s stay=%d", lane.id, recorded.stay_id)
        await self.actions.open_gate(
            Actor(SYSTEM.user, remote), lane, OpenRequest(OpenReason.NO_PLATE_ENTRY, identity)
        )
        return await self._stay(recorded.stay_id)

    async def leave(self, token: str, phone: Phone, remote: str) -> Left:
        """The phone's stay at the exit the code names: closed and the gate lifted when
        it is free; otherwise a payment order at the exit, whose link the phone follows
        (the stay closes once it is paid)."""
        code, lane = await self.lane_of(token)
        held = await self.store.phone_stay(phone.phone_id, lane.car_park)
        stay = check_exit(lane.direction, held)
        self._admit(remote, lane)
        way = exit_way(await self._fee(stay))
        actor = Actor(SYSTEM.user, remote)
        if way is ExitWay.PAY:
            issued = await self.payments.issue(
                actor, lane, OrderRequest(None, stay.stay_id, None, "")
            )
            log.info("noplate.exit.ordered lane=%s stay=%d", lane.id, stay.stay_id)
            return Left(stay, way, issued.url)
        await self._exit(_phone_actor(phone), lane, stay, code.nonce, {"remote": remote})
        await self.actions.open_gate(
            actor, lane, OpenRequest(OpenReason.FREE_MINUTES, f"{stay.identity} 无牌车免费离场")
        )
        return Left(await self._stay(stay.stay_id), way)

    async def _exit(
        self,
        actor: str,
        lane: LaneRecord,
        stay: NoPlateStay,
        nonce: str | None,
        detail: dict[str, Any],
    ) -> None:
        event = self._event(lane, stay.plate)
        record = AuditRecord(
            actor=actor,
            action=AuditAction.NOPLATE_EXITED,
            lane=lane.id,
            detail={
                "car_park": lane.car_park,
                "stay": stay.stay_id,
                "identity": stay.identity,
                "plate": stay.plate,
                "event": event.event_id,
                "nonce": nonce,
                **detail,
            },
        )
        recorded, entries = await written(
            self.store.close_noplate_stay(record, stay.stay_id, event, nonce)
        )
        self._changed(entries, recorded)
        log.info("noplate.exited lane=%s stay=%d", lane.id, stay.stay_id)

    def _audited(self, entry: AuditEntry) -> None:
        """A paid order of a no-plate stay closes the stay (its gate is the payment's)."""
        if entry.action is AuditAction.PAYMENT_RECORDED and entry.outcome == "paid":
            self._later(self._close_paid(str(entry.detail.get("order"))))

    async def _close_paid(self, order_id: str) -> None:
        try:
            order = await self.store.payment_order(order_id)
            if order is None or order.stay_id is None:
                return
            stay = await self.store.noplate_stay(order.stay_id)
            lane = await self.directory.lane(order.lane)
            if stay is None or stay.state is not StayState.OPEN or lane is None:
                return
            await self._exit(SYSTEM.user.username, lane, stay, None, {"order": order_id})
        except ConsoleError as exc:  # the car left paid; the open stay is an error to see
            log.error("noplate.exit.unrecorded order=%s error=%s", order_id, exc.code)

    # ------------------------------------------------------------- agents

    async def stays(self, car_park: str, limit: int) -> list[NoPlateStay]:
        return await self.store.noplate_stays(car_park, limit)

    async def link(
        self, user: User, stay_id: int, plate: str, note: str, remote: str
    ) -> VehicleRecord:
        """Gives no-plate stay ``stay_id`` the car's real ``plate``: its entry event's
        plate corrected, through the relink path, which ledgers the old identity and the
        new plate and re-links the stays as for any correction."""
        stay = await self._stay(stay_id)
        return await self.relinking.correct(user, stay.entry_event, plate, note, remote)

    # ------------------------------------------------------------- plumbing

    async def _stay(self, stay_id: int) -> NoPlateStay:
        stay = await self.store.noplate_stay(stay_id)
        if stay is None:
            raise NoStay("unknown_stay", f"no no-plate stay {stay_id}")
        return stay

    def _event(self, lane: LaneRecord, plate: str) -> VehicleEvent:
        """The event a phone's scan stands for: the car at ``lane`` under ``plate``, with
        no picture (the camera's own read, if it made one, is its own event)."""
        now = self._clock()
        return VehicleEvent(
            event_id=f"noplate-{uuid.uuid4().hex}",
            lane=lane.id,
            car_park=lane.car_park,
            direction=lane.direction,
            at=now,
            received_at=now,
            plate=plate,
            plate_colour=PlateColour.UNKNOWN,
            confidence=1.0,
            box=(0, 0, 0, 0),
            snapshot=None,
        )

    def _changed(self, entries: list[AuditEntry], recorded: Recorded) -> None:
        self.audit.announce(entries)
        self.relinking.index.apply(recorded.stays)

    def _later(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _phone_actor(phone: Phone) -> str:
    """The ledger's name for a phone: a digest of its id, which is the cookie's secret
    half and never written down."""
    return "phone:" + hashlib.sha256(phone.phone_id.encode()).hexdigest()[:16]
