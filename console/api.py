"""The public HTTP API (README, "HTTP API"): thin handlers over the console's parts."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from gates.hub import LaneHub

from .actions import Actions, Actor, parse_display, parse_open
from .audit import AuditLog
from .auth import LoginThrottle, check_password, new_token, token_hash
from .errors import BadRequest, NotAuthenticated, NotFound, Throttled
from .ledger import AuditAction, AuditRecord
from .models import LaneRecord, Role, Session
from .settings import Settings
from .store import Store
from .streams import Streams
from .views import lane_json, outcome_json
from .watching import Watching, parse_watch
from .web import (
    SESSION_COOKIE,
    authenticate,
    check_csrf,
    client_address,
    read_json,
    require_role,
)

AUDIT_PAGE_MAX = 500


@dataclass
class Api:
    settings: Settings
    store: Store
    hub: LaneHub
    audit: AuditLog
    actions: Actions
    streams: Streams
    watching: Watching
    throttle: LoginThrottle

    def routes(self) -> list[BaseRoute]:
        """Under ``/api``; a path there that matches nothing is an API 404/405, never
        a fall-through to the static console files."""
        return [
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/me", self.me),
            Route("/lanes", self.lanes),
            Route("/lanes/{lane_id}/snapshot", self.snapshot),
            Route("/lanes/{lane_id}/open", self.open_gate, methods=["POST"]),
            Route("/lanes/{lane_id}/display", self.display, methods=["POST"]),
            Route("/lanes/{lane_id}/webrtc", self.watch, methods=["POST"]),
            Route("/lanes/{lane_id}/webrtc/{viewer}", self.unwatch, methods=["DELETE"]),
            Route("/media", self.media_config),
            Route("/audit", self.audit_page),
            WebSocketRoute("/stream", self.streams.serve),
        ]

    async def healthz(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "lanes_online": len(self.hub.online())})

    # ------------------------------------------------------------ sessions

    async def login(self, request: Request) -> Response:
        body = await read_json(request, self.settings.max_body_bytes)
        if not isinstance(body, dict):
            raise BadRequest("bad_request", "the body must be a JSON object")
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise BadRequest("bad_request", "username and password must be strings")
        if not username or len(username) > 64 or len(password) > 1024:
            raise BadRequest("bad_request", "username or password out of range")
        remote = client_address(request)
        keys = (f"user:{username}", f"addr:{remote}")
        now = time.monotonic()
        wait = self.throttle.retry_after(keys, now)
        if wait > 0:
            raise Throttled("throttled", "too many failed logins; wait", retry_after=int(wait) + 1)
        user = await self.store.get_user(username)
        ok = check_password(user.password_hash if user else None, password)
        if user is None or not ok or user.disabled:
            self.throttle.failed(keys, now)
            self.throttle.forget_before(now)
            await self.audit.record(
                AuditRecord(
                    actor=username, action=AuditAction.LOGIN_FAILED, detail={"remote": remote}
                )
            )
            raise NotAuthenticated("bad_credentials", "wrong username or password")
        self.throttle.succeeded(keys[0])
        token = new_token()
        issued = datetime.now(UTC)
        session = Session(
            token_hash=token_hash(token),
            username=user.username,
            csrf_token=secrets.token_urlsafe(24),
            created_at=issued,
            expires_at=issued + timedelta(seconds=self.settings.session_ttl_s),
        )
        await self.store.create_session(session)
        # Logins are rare and already write; sweeping ended sessions here needs no timer.
        await self.store.delete_expired_sessions(issued)
        await self.audit.record(
            AuditRecord(
                actor=user.username,
                action=AuditAction.LOGIN,
                detail={"remote": remote, "role": user.role.value},
            )
        )
        response = JSONResponse(
            {"username": user.username, "role": user.role.value, "csrf_token": session.csrf_token}
        )
        response.set_cookie(
            SESSION_COOKIE,
            token,
            max_age=self.settings.session_ttl_s,
            httponly=True,
            samesite="strict",
            secure=self.settings.secure_cookies,
            path="/",
        )
        return response

    async def logout(self, request: Request) -> Response:
        user, session = await authenticate(request, self.store)
        check_csrf(request, session)
        await self.store.delete_session(session.token_hash)
        self.streams.end_session(session.token_hash)
        await self.watching.bridge.end_session(session.token_hash)
        await self.audit.record(
            AuditRecord(
                actor=user.username,
                action=AuditAction.LOGOUT,
                detail={"remote": client_address(request)},
            )
        )
        response = Response(status_code=204)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    async def me(self, request: Request) -> Response:
        user, session = await authenticate(request, self.store)
        return JSONResponse(
            {"username": user.username, "role": user.role.value, "csrf_token": session.csrf_token}
        )

    # --------------------------------------------------------------- lanes

    async def lanes(self, request: Request) -> Response:
        await authenticate(request, self.store)
        lanes = await self.store.list_lanes()
        return JSONResponse(
            {"lanes": [lane_json(lane, self.hub.status(lane.id)) for lane in lanes]}
        )

    async def _lane(self, request: Request) -> LaneRecord:
        lane = await self.store.get_lane(request.path_params["lane_id"])
        if lane is None:
            raise NotFound("unknown_lane", "no lane with that id")
        return lane

    async def snapshot(self, request: Request) -> Response:
        await authenticate(request, self.store)
        lane = await self._lane(request)
        jpeg = self.hub.status(lane.id).snapshot
        if jpeg is None:
            raise NotFound("no_snapshot", "this lane has not seen a vehicle yet")
        return Response(jpeg, media_type="image/jpeg")

    async def open_gate(self, request: Request) -> Response:
        user, session = await authenticate(request, self.store)
        check_csrf(request, session)
        lane = await self._lane(request)
        parsed = parse_open(await read_json(request, self.settings.max_body_bytes))
        resolved = await self.actions.open_gate(Actor(user, client_address(request)), lane, parsed)
        return JSONResponse(outcome_json(resolved))

    async def display(self, request: Request) -> Response:
        user, session = await authenticate(request, self.store)
        check_csrf(request, session)
        lane = await self._lane(request)
        body = await read_json(request, self.settings.max_body_bytes)
        parsed = parse_display(body, self.hub.status(lane.id).display)
        resolved = await self.actions.display(Actor(user, client_address(request)), lane, parsed)
        return JSONResponse(outcome_json(resolved))

    # --------------------------------------------------------------- media

    async def media_config(self, request: Request) -> Response:
        await authenticate(request, self.store)
        return JSONResponse({"ice_servers": list(self.settings.ice_servers)})

    async def watch(self, request: Request) -> Response:
        user, session = await authenticate(request, self.store)
        check_csrf(request, session)
        lane = await self._lane(request)
        # An offer with a few dozen candidates is ~10 KB; the default body limit is tight.
        parsed = parse_watch(await read_json(request, 4 * self.settings.max_body_bytes))
        actor = Actor(user, client_address(request))
        return JSONResponse(await self.watching.open(actor, session, lane, parsed))

    async def unwatch(self, request: Request) -> Response:
        user, session = await authenticate(request, self.store)
        check_csrf(request, session)
        lane = await self._lane(request)
        actor = Actor(user, client_address(request))
        await self.watching.close(actor, lane, request.path_params["viewer"])
        return Response(status_code=204)

    # --------------------------------------------------------------- audit

    async def audit_page(self, request: Request) -> Response:
        user, _ = await authenticate(request, self.store)
        require_role(user, Role.SUPERVISOR)
        limit = _int_param(request, "limit", 50, 1, AUDIT_PAGE_MAX)
        before = _int_param(request, "before", 0, 1, 2**62) or None
        entries = await self.store.audit_page(limit, before)
        next_before = entries[-1].seq if len(entries) == limit and entries[-1].seq > 1 else None
        return JSONResponse(
            {"entries": [entry.to_json() for entry in entries], "next_before": next_before}
        )


def _int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        raise BadRequest("bad_request", f"{name} must be an integer from {low} to {high}")
    return int(raw)
