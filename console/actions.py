"""What an agent does to a lane, audited before and after.

Each action is written to the ledger durably before its command leaves for the lane and
its outcome is appended after (DESIGN.md, "Audit first"). The work runs in a task of
its own, so an agent who closes the page mid-command still leaves a complete record.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from gates.commands import Resolved
from gates.hub import LaneHub
from gates.protocol import Command, Display, DisplaySize, OpenGate

from .audit import AuditLog
from .errors import BadRequest, StoreError
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


NOTE_MAX = 500

log = logging.getLogger("seat.actions")


@dataclass(frozen=True, slots=True)
class OpenRequest:
    reason: OpenReason
    note: str


@dataclass(frozen=True, slots=True)
class DisplayRequest:
    lines: tuple[str, ...]


def _object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("bad_request", "the body must be a JSON object")
    return body


def parse_open(body: object) -> OpenRequest:
    fields = _object(body)
    try:
        parsed = OpenReason(str(fields.get("reason")))
    except ValueError:
        allowed = ", ".join(OpenReason)
        raise BadRequest("invalid_reason", f"reason must be one of {allowed}") from None
    note = fields.get("note") or ""
    if not isinstance(note, str):
        raise BadRequest("bad_request", "note must be a string")
    note = note.strip()
    if len(note) > NOTE_MAX:
        raise BadRequest("note_too_long", f"note is limited to {NOTE_MAX} characters")
    if parsed is OpenReason.OTHER and not note:
        raise BadRequest("note_required", "reason 'other' needs a note saying why")
    return OpenRequest(parsed, note)


def parse_display(body: object, size: DisplaySize) -> DisplayRequest:
    """``size`` is what the lane's display shows: more is refused here, before anything
    is ledgered or sent, rather than refused by the lane after the fact."""
    lines = _object(body).get("lines")
    if not isinstance(lines, list) or not lines or not all(isinstance(s, str) for s in lines):
        raise BadRequest("bad_request", "lines must be a non-empty list of strings")
    if not size.fits(lines):
        raise BadRequest(
            "display_too_large",
            f"this lane's display shows at most {size.lines} lines of {size.chars} characters",
        )
    return DisplayRequest(tuple(lines))


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts, as the ledger records it."""

    user: User
    remote: str


class Actions:
    def __init__(self, audit: AuditLog, hub: LaneHub, timeout_s: float) -> None:
        self.audit = audit
        self.hub = hub
        self.timeout_s = timeout_s
        # Strong references: the event loop keeps only weak ones to tasks.
        self._running: set[asyncio.Future[Resolved]] = set()

    async def open_gate(self, actor: Actor, lane: LaneRecord, request: OpenRequest) -> Resolved:
        command = OpenGate(command_id=uuid.uuid4().hex, reason=request.reason.value)
        detail = {"note": request.note} if request.note else {}
        return await self._run(
            actor,
            lane,
            command,
            (AuditAction.GATE_OPEN_REQUESTED, AuditAction.GATE_OPEN_OUTCOME),
            reason=request.reason.value,
            detail=detail,
        )

    async def display(self, actor: Actor, lane: LaneRecord, request: DisplayRequest) -> Resolved:
        command = Display(command_id=uuid.uuid4().hex, lines=request.lines)
        return await self._run(
            actor,
            lane,
            command,
            (AuditAction.DISPLAY_REQUESTED, AuditAction.DISPLAY_OUTCOME),
            reason=None,
            detail={"lines": list(request.lines)},
        )

    async def _run(
        self,
        actor: Actor,
        lane: LaneRecord,
        command: Command,
        actions: tuple[AuditAction, AuditAction],
        *,
        reason: str | None,
        detail: dict[str, Any],
    ) -> Resolved:
        async def audited() -> Resolved:
            requested, ended = actions
            try:
                await self.audit.record(
                    AuditRecord(
                        actor=actor.user.username,
                        action=requested,
                        lane=lane.id,
                        command_id=command.command_id,
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
            resolved = await self.hub.command(lane.id, command, self.timeout_s)
            outcome = AuditRecord(
                actor=actor.user.username,
                action=ended,
                lane=lane.id,
                command_id=command.command_id,
                reason=reason,
                outcome=resolved.outcome.value,
                detail={
                    "ms": round((time.perf_counter() - started) * 1000, 1),
                    **({"detail": resolved.detail} if resolved.detail else {}),
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
                    command.command_id,
                    resolved.outcome.value,
                    exc.detail,
                )
            return resolved

        return await self._detached(audited)

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
