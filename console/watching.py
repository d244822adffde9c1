"""Live media from the console's side: who may watch, talk and listen, and the ledger
of it (who watched and who talked to which lane, from when to when).

Any signed-in user may watch a lane and take its intercom when it is free; listening in
without holding the intercom is for supervisors and above. Watching is recorded before
the answer leaves, like every action: no audit, no media.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from media.centre.bridge import MediaBridge
from media.centre.viewing import MediaEvent, ViewerLeft, Viewing, Watcher
from media.errors import IntercomBusy, LaneOffline, MediaError, OfferRefused

from .actions import Actor
from .audit import AuditLog
from .cluster.views import Views
from .errors import BadRequest, Conflict, ConsoleError, Forbidden, NotFound, StoreError
from .fields import json_object
from .ledger import AuditAction, AuditRecord
from .live import LiveLogins
from .models import LaneRecord, Role, Session

log = logging.getLogger("seat.console")


@dataclass(frozen=True, slots=True)
class WatchRequest:
    sdp: str
    talk: bool
    listen: bool


def parse_watch(body: object) -> WatchRequest:
    body = json_object(body)
    sdp, kind = body.get("sdp"), body.get("type")
    if not isinstance(sdp, str) or not sdp:
        raise BadRequest("bad_request", "'sdp' must be the browser's offer SDP")
    if kind != "offer":
        raise BadRequest("bad_request", "'type' must be \"offer\"")
    flags = {name: body.get(name, False) for name in ("intercom", "listen")}
    for name, value in flags.items():
        if not isinstance(value, bool):
            raise BadRequest("bad_request", f"'{name}' must be true or false")
    return WatchRequest(sdp, talk=flags["intercom"], listen=flags["listen"])


_STATUS: dict[type[MediaError], type[ConsoleError]] = {
    OfferRefused: BadRequest,
    LaneOffline: Conflict,
    IntercomBusy: Conflict,
}


class Watching:
    """``bridge`` is this server's; ``views`` reaches the bridge of whichever server
    holds a lane."""

    def __init__(
        self, bridge: MediaBridge, views: Views, audit: AuditLog, live: LiveLogins
    ) -> None:
        self.bridge = bridge
        self.views = views
        self.audit = audit
        self.live = live
        self._writes: set[asyncio.Task[object]] = set()
        self._ends: dict[str, asyncio.TimerHandle] = {}
        self._releases: dict[str, Callable[[], None]] = {}
        bridge.subscribe(self._changed)

    async def open(
        self, actor: Actor, session: Session, lane: LaneRecord, request: WatchRequest
    ) -> dict[str, Any]:
        user = actor.user
        if request.listen and not request.talk and user.role.rank < Role.SUPERVISOR.rank:
            raise Forbidden("forbidden", "listening in is for supervisors")
        watcher = Watcher(user.username, user.role.value, actor.remote)
        try:
            viewing, answer = await self.views.watch(
                lane.id, request.sdp, watcher, talk=request.talk, listen=request.listen
            )
        except MediaError as exc:
            family = next(v for k, v in _STATUS.items() if isinstance(exc, k))
            raise family(exc.code, exc.detail, **exc.extra) from exc
        try:
            await self.audit.record(_record(viewing, started=True))
        except StoreError as exc:
            with contextlib.suppress(MediaError):  # its server's grace ends it then
                await self.views.release(lane.id, viewing.id)
            raise StoreError(
                "audit_failed", f"not started: the audit ledger could not record it ({exc.detail})"
            ) from exc
        # A view lasts no longer than the login that opened it (a 12-hour shift). One
        # another server answered is asked after there; its end is that server's to
        # hear, so its timer and hold here last until the login ends.
        remaining = (session.expires_at - datetime.now(UTC)).total_seconds()
        try:
            still_open = await self.views.find(lane.id, viewing.id) is not None
        except MediaError:
            still_open = False
        if still_open:
            loop = asyncio.get_running_loop()
            self._ends[viewing.id] = loop.call_later(max(remaining, 0.0), self._expire, viewing)
            # ...and ends with it: a logout, a disabled account, a changed role.
            self._releases[viewing.id] = self.live.hold(
                session, user, lambda why: self._ended_login(viewing, why)
            )
        return {"type": "answer", "sdp": answer, "viewer": viewing.id}

    async def close(self, actor: Actor, lane: LaneRecord, viewer_id: str) -> None:
        try:
            viewing = await self.views.find(lane.id, viewer_id)
        except MediaError:
            viewing = None
        if viewing is None or viewing.lane != lane.id:
            raise NotFound("unknown_viewer", "no such viewer of this lane")
        if viewing.watcher.username != actor.user.username and actor.user.role is not Role.ADMIN:
            raise Forbidden("forbidden", "only its own user or an admin can close a viewer")
        try:
            await self.views.release(lane.id, viewer_id)
        except MediaError as exc:
            raise Conflict(exc.code, exc.detail) from exc

    def _expire(self, viewing: Viewing) -> None:
        log.info("media.viewer.session_ended viewer=%s lane=%s", viewing.id, viewing.lane)
        self._track(self._end(viewing))

    def _ended_login(self, viewing: Viewing, reason: str) -> None:
        log.info(
            "media.viewer.login_ended viewer=%s lane=%s reason=%s", viewing.id, viewing.lane, reason
        )
        self._track(self._end(viewing))

    async def _end(self, viewing: Viewing) -> None:
        self._forget(viewing.id)
        try:
            await self.views.release(viewing.lane, viewing.id)
        except MediaError as exc:
            # Its server is gone, and the view with it.
            log.info("media.viewer.unreleased viewer=%s error=%s", viewing.id, exc.detail)

    def _changed(self, event: MediaEvent) -> None:
        if not isinstance(event, ViewerLeft):
            return
        self._forget(event.viewing.id)
        self._track(self._record_end(event))

    def _forget(self, viewer_id: str) -> None:
        end = self._ends.pop(viewer_id, None)
        if end is not None:
            end.cancel()
        release = self._releases.pop(viewer_id, None)
        if release is not None:
            release()

    def _track(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.create_task(work)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _record_end(self, left: ViewerLeft) -> None:
        try:
            await self.audit.record(_record(left.viewing, started=False, seconds=left.seconds))
        except StoreError as exc:
            log.error(
                "audit.watch_end_unrecorded lane=%s viewer=%s error=%s",
                left.viewing.lane,
                left.viewing.id,
                exc.detail,
            )

    async def drain(self) -> None:
        """Wait for the end records under way, so shutdown loses none."""
        if self._writes:
            await asyncio.wait(self._writes)


def _record(viewing: Viewing, *, started: bool, seconds: float | None = None) -> AuditRecord:
    if viewing.talk:
        action = AuditAction.INTERCOM_STARTED if started else AuditAction.INTERCOM_ENDED
    else:
        action = AuditAction.WATCH_STARTED if started else AuditAction.WATCH_ENDED
    detail: dict[str, Any] = {
        "viewer": viewing.id,
        "listen": viewing.listen,
        "role": viewing.watcher.role,
        "remote": viewing.watcher.remote,
    }
    if seconds is not None:
        detail["seconds"] = round(seconds, 1)
    return AuditRecord(
        actor=viewing.watcher.username, action=action, lane=viewing.lane, detail=detail
    )
