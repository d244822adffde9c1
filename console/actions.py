"""What an agent does to a lane, audited before and after.

Each action is written to the ledger durably before its command leaves for the lane and
its outcome is appended after: no audit, no action (README, "The audit ledger"). The
work runs in a task of its own, so an agent who closes the page mid-command still
leaves a complete record.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gates.centre.commands import Outcome, Resolved
from gates.protocol import MAX_DISPLAY_QR, Display, DisplaySize, OpenGate
from gates.textrules import visible

from .audit import AuditLog
from .errors import BadRequest, StoreError
from .fields import json_object, note_field, text_field, url_field
from .lane_view import LaneView
from .ledger import AuditAction, AuditRecord
from .models import LaneRecord, User


class OpenReason(enum.StrEnum):
    """Why an agent lifts a barrier by hand: the seat's recurring cases (tender 2.2)."""

    PAID_NOT_LIFTED = "paid_not_lifted"  # 缴费不抬杆
    NO_ENTRY_RECORD = "no_entry_record"  # 无入场记录
    FREE_RELEASE = "free_release"  # 免费放行
    PLATE_MISREAD = "plate_misread"  # 车牌识别错误
    EQUIPMENT_FAULT = "equipment_fault"  # 设备故障
    EMERGENCY = "emergency"  # 救护、消防等紧急情况
    ESCAPE_RECOVERED = "escape_recovered"  # 逃逸追缴已处理
    OTHER = "other"  # 其他，须备注
    # The centre's own reasons, when it lifts a barrier itself.
    PAID = "paid"  # 已支付：a payment order of the lane was paid
    # 无牌车入场：the centre lifts it for a car without a plate whose driver's phone
    # opened a stay (console.noplate).
    NO_PLATE_ENTRY = "no_plate_entry"
    # ``console.gatekeeping``'s decisions at the lanes:
    ENTRY = "entry"  # 入场放行：an entry read a plate the lists do not hold
    MONTHLY_PASS = "monthly_pass"  # 月卡：an exit of a plate with a pass valid today
    WHITELIST = "whitelist"  # 白名单
    FREE_MINUTES = "free_minutes"  # 免费时长内：the rules charge the stay nothing

    @property
    def by_agent(self) -> bool:
        """An agent may give this reason; the centre's own are not an agent's to give."""
        return self not in _CENTRE_REASONS


_CENTRE_REASONS = frozenset(
    {
        OpenReason.PAID,
        OpenReason.NO_PLATE_ENTRY,
        OpenReason.ENTRY,
        OpenReason.MONTHLY_PASS,
        OpenReason.WHITELIST,
        OpenReason.FREE_MINUTES,
    }
)


log = logging.getLogger("seat.actions")


@dataclass(frozen=True, slots=True)
class OpenRequest:
    reason: OpenReason
    note: str
    order_id: str | None = None  # the payment order the open is for


@dataclass(frozen=True, slots=True)
class DisplayRequest:
    lines: tuple[str, ...]
    qr: str | None = None  # a payment link the display shows as a QR code


def parse_open(body: object) -> OpenRequest:
    fields = json_object(body)
    try:
        parsed = OpenReason(str(fields.get("reason")))
        if not parsed.by_agent:
            raise ValueError(parsed)
    except ValueError:
        allowed = ", ".join(reason for reason in OpenReason if reason.by_agent)
        raise BadRequest("invalid_reason", f"reason must be one of {allowed}") from None
    note = note_field(fields)
    if parsed is OpenReason.OTHER and not visible(note):
        raise BadRequest("note_required", "reason 'other' needs a note saying why")
    return OpenRequest(parsed, note)


def parse_display(body: object, size: DisplaySize) -> DisplayRequest:
    """``size`` is what the lane's display shows: more is refused here, before anything
    is ledgered or sent, rather than refused by the lane after the fact. ``qr``, when
    given, follows the lane link's rules for it, so the lane never refuses it as
    malformed."""
    fields = json_object(body)
    lines = fields.get("lines")
    if not isinstance(lines, list) or not lines or not all(isinstance(s, str) for s in lines):
        raise BadRequest("bad_request", "lines must be a non-empty list of strings")
    if not size.fits(lines):
        raise BadRequest(
            "display_too_large",
            f"this lane's display shows at most {size.lines} lines of {size.chars} characters",
        )
    numbered = {f"line {n}": line for n, line in enumerate(lines, 1)}
    return DisplayRequest(
        tuple(text_field(numbered, name, max_len=size.chars) for name in numbered),
        url_field(fields, "qr", max_len=MAX_DISPLAY_QR),
    )


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, as the ledger records it."""

    user: User
    remote: str


@dataclass(frozen=True, slots=True)
class ActionResult:
    """How an action ended for the agent who asked. ``joined`` names the command an
    open was joined to instead of being sent (see ``Actions.open_gate``)."""

    resolved: Resolved
    joined: str | None = None


Resolver = Callable[[], Awaitable[Resolved]]


@dataclass(slots=True)
class _LastOpen:
    lane: str
    command_id: str
    done: asyncio.Event
    resolved: Resolved | None = None  # None: it ended without reaching the lane
    ended_at: float = -math.inf


class Actions:
    def __init__(self, audit: AuditLog, hub: LaneView, timeout_s: float, join_s: float) -> None:
        self.audit = audit
        self.hub = hub
        self.timeout_s = timeout_s
        self.join_s = join_s
        # Strong references: the event loop keeps only weak ones to tasks.
        self._running: set[asyncio.Future[Resolved]] = set()
        self._last_open: dict[str, _LastOpen] = {}

    async def open_gate(
        self,
        actor: Actor,
        lane: LaneRecord,
        request: OpenRequest,
        on_requested: Callable[[str], Awaitable[None]] | None = None,
    ) -> ActionResult:
        """Open the barrier. Two agents answering one driver must not lift it twice (a
        second lift lets a second car through): an open of a lane whose open is still
        under way, or ended ``done`` less than ``join_s`` ago, is joined to that one.
        It is not sent; it is audited as its own request (with ``joins``) and outcome
        (with ``joined``), and it ends as the first ended.

        ``on_requested(command_id)`` is awaited once the request is on record, before
        the command goes or waits for the one it joins (a payment order keeps its open
        as asked); it must not raise."""
        now = asyncio.get_running_loop().time()
        command = OpenGate(command_id=uuid.uuid4().hex, reason=request.reason.value)

        def told(resolve: Resolver) -> Resolver:
            if on_requested is None:
                return resolve

            async def after_telling() -> Resolved:
                await on_requested(command.command_id)
                return await resolve()

            return after_telling

        detail: dict[str, Any] = {"note": request.note} if request.note else {}
        if request.order_id is not None:
            detail["order"] = request.order_id
        requested = (AuditAction.GATE_OPEN_REQUESTED, AuditAction.GATE_OPEN_OUTCOME)
        first = self._last_open.get(lane.id)
        if first is not None and _joinable(first, now, self.join_s):
            joined = first

            async def as_first_ends() -> Resolved:
                await joined.done.wait()
                if joined.resolved is None:
                    # It never reached the lane (its request could not be recorded):
                    # this one goes instead, and later opens join it.
                    return await self._lift(self._opening(lane, command), command)
                ended = joined.resolved
                return Resolved(lane.id, command.command_id, ended.outcome, ended.detail)

            resolved = await self._detached(
                lambda: self._audited(
                    actor,
                    lane,
                    command.command_id,
                    requested,
                    told(as_first_ends),
                    reason=command.reason,
                    detail={**detail, "joins": joined.command_id},
                    ended={"joined": joined.command_id},
                )
            )
            return ActionResult(resolved, joined=joined.command_id)

        # Joinable from now, before its request is even recorded.
        current = self._opening(lane, command)

        async def tracked() -> Resolved:
            try:
                return await self._audited(
                    actor,
                    lane,
                    command.command_id,
                    requested,
                    told(lambda: self._lift(current, command)),
                    reason=command.reason,
                    detail=detail,
                )
            finally:
                current.done.set()  # also when its request could not be recorded

        return ActionResult(await self._detached(tracked))

    def _opening(self, lane: LaneRecord, command: OpenGate) -> _LastOpen:
        """``command`` is now the lane's open that others join."""
        current = _LastOpen(lane.id, command.command_id, asyncio.Event())
        self._last_open[lane.id] = current
        return current

    async def _lift(self, current: _LastOpen, command: OpenGate) -> Resolved:
        """Send the open and keep how it ended for those who joined it."""
        try:
            current.resolved = await self.hub.command(current.lane, command, self.timeout_s)
            current.ended_at = asyncio.get_running_loop().time()
            return current.resolved
        finally:
            current.done.set()

    async def display(
        self, actor: Actor, lane: LaneRecord, request: DisplayRequest
    ) -> ActionResult:
        command = Display(command_id=uuid.uuid4().hex, lines=request.lines, qr=request.qr)
        detail: dict[str, Any] = {"lines": list(request.lines)}
        if request.qr is not None:
            detail["qr"] = request.qr
        resolved = await self._detached(
            lambda: self._audited(
                actor,
                lane,
                command.command_id,
                (AuditAction.DISPLAY_REQUESTED, AuditAction.DISPLAY_OUTCOME),
                lambda: self.hub.command(lane.id, command, self.timeout_s),
                reason=None,
                detail=detail,
            )
        )
        return ActionResult(resolved)

    async def _audited(
        self,
        actor: Actor,
        lane: LaneRecord,
        command_id: str,
        actions: tuple[AuditAction, AuditAction],
        resolve: Resolver,
        *,
        reason: str | None,
        detail: dict[str, Any],
        ended: dict[str, Any] | None = None,
    ) -> Resolved:
        """Record the request, then ``resolve`` it (send the command, or wait for the
        one it joined), then record the outcome: no audit, no action."""
        requested, finished = actions
        try:
            await self.audit.record(
                AuditRecord(
                    actor=actor.user.username,
                    action=requested,
                    lane=lane.id,
                    command_id=command_id,
                    reason=reason,
                    detail={**detail, "role": actor.user.role.value, "remote": actor.remote},
                )
            )
        except StoreError as exc:
            # No audit, no action: the command never leaves.
            raise StoreError(
                "audit_failed",
                f"not carried out: the audit ledger could not record it ({exc.detail})",
            ) from exc
        started = time.perf_counter()
        resolved = await resolve()
        outcome = AuditRecord(
            actor=actor.user.username,
            action=finished,
            lane=lane.id,
            command_id=command_id,
            reason=reason,
            outcome=resolved.outcome.value,
            detail={
                "ms": round((time.perf_counter() - started) * 1000, 1),
                **({"detail": resolved.detail} if resolved.detail else {}),
                **(ended or {}),
            },
        )
        try:
            await self.audit.record(outcome)
        except StoreError as exc:
            # The lane has acted; hiding that from the agent would invite a second
            # open. The request is on record, and the next start of the centre
            # closes it; meanwhile this is an operator's alarm.
            log.error(
                "audit.outcome_unrecorded lane=%s command_id=%s outcome=%s error=%s",
                lane.id,
                command_id,
                resolved.outcome.value,
                exc.detail,
            )
        return resolved

    async def _detached(self, work: Callable[[], Awaitable[Resolved]]) -> Resolved:
        """Run ``work`` to its end even if the caller is cancelled (a closed browser tab)."""
        task = asyncio.ensure_future(work())
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        return await asyncio.shield(task)

    async def drain(self) -> None:
        """Wait for every action under way, so shutdown leaves no outcome unwritten."""
        if self._running:
            await asyncio.wait(self._running)


def _joinable(first: _LastOpen, now: float, window: float) -> bool:
    """Join an open still under way, or one that ended done within ``window``."""
    if not first.done.is_set():
        return True
    ended = first.resolved
    return ended is not None and ended.outcome is Outcome.DONE and now - first.ended_at <= window
