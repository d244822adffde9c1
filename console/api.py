"""The public HTTP API (README, "HTTP API"): thin handlers over the console's parts."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route, WebSocketRoute

from gates.plates import PLATE_MAX, check, normalise

from .actions import Actions, Actor, parse_display, parse_open
from .audit import AuditLog
from .auth import new_token, token_hash
from .cluster.told import ToldChanges
from .directory import Directory
from .errors import BadRequest, NotFound
from .fields import json_object, plate_fault, query_fields, text_field
from .lane_view import LaneView
from .ledger import AuditAction, AuditRecord
from .live import LiveLogins
from .login import Logins
from .metrics import CONTENT_TYPE, Metrics, access_refusal
from .models import ChangeKind, LaneRecord, Role, Session
from .readiness import Readiness
from .settings import Settings
from .sticker_format import StickerFormat
from .stickers import Issuer, print_sticker, sticker_filename
from .store import Store
from .streams import Streams
from .views import lane_json, outcome_json
from .watching import Watching, parse_watch
from .web import (
    SESSION_COOKIE,
    AuditedRead,
    JSONResponse,
    authenticate,
    check_csrf,
    client_address,
    error_response,
    int_param,
    read_json,
    require_role,
)

AUDIT_PAGE_MAX = 500


@dataclass
class Api:
    settings: Settings
    store: Store
    directory: Directory
    live: LiveLogins
    hub: LaneView
    audit: AuditLog
    actions: Actions
    streams: Streams
    watching: Watching
    logins: Logins
    told: ToldChanges
    # Lanes' events the centre dropped, its backlogs full: recorded or decided never.
    events_dropped: Callable[[], int]
    readiness: Readiness
    metrics: Metrics

    def routes(self) -> list[BaseRoute]:
        """Under ``/api``; a path there that matches nothing is an API 404/405, never
        a fall-through to the static console files."""
        return [
            Route("/login", self.login, methods=["POST"]),
            Route("/logout", self.logout, methods=["POST"]),
            Route("/me", self.me),
            Route("/lanes", self.lanes),
            Route("/lanes/{lane_id}/snapshot", self.snapshot),
            AuditedRead("/lanes/{lane_id}/sticker", self.sticker),
            Route("/lanes/{lane_id}/open", self.open_gate, methods=["POST"]),
            Route("/lanes/{lane_id}/display", self.display, methods=["POST"]),
            Route("/lanes/{lane_id}/webrtc", self.watch, methods=["POST"]),
            Route("/lanes/{lane_id}/webrtc/{viewer}", self.unwatch, methods=["DELETE"]),
            Route("/media", self.media_config),
            Route("/plates/check", self.check_plate),
            Route("/audit", self.audit_page),
            WebSocketRoute("/stream", self.streams.serve),
        ]

    async def healthz(self, request: Request) -> Response:
        return JSONResponse(
            {
                "status": "ok",
                "lanes_online": len(self.hub.online()),
                "events_dropped": self.events_dropped(),
            }
        )

    async def readyz(self, request: Request) -> Response:
        """No login: a load balancer has none. It names the checks and their error
        codes, nothing more (``console.readiness``)."""
        report = await self.readiness.report()
        return JSONResponse(report.to_json(), status_code=200 if report.ready else 503)

    async def metrics_text(self, request: Request) -> Response:
        refusal = access_refusal(
            self.settings.metrics_token,
            request.headers.getlist("authorization"),
            client_address(request),
        )
        if refusal is not None:
            response = error_response(refusal)
            if refusal.status == 401:
                response.headers["WWW-Authenticate"] = 'Bearer realm="seat metrics"'
            return response
        return Response(self.metrics.exposition(), media_type=CONTENT_TYPE)

    # ------------------------------------------------------------ sessions

    async def login(self, request: Request) -> Response:
        body = json_object(await read_json(request, self.settings.max_body_bytes))
        username, password = body.get("username"), body.get("password")
        if not isinstance(username, str) or not isinstance(password, str):
            raise BadRequest("bad_request", "username and password must be strings")
        if len(password) > 1024:
            raise BadRequest("bad_request", "the password is too long")
        remote = client_address(request)
        user = await self.logins.verify(username, password, remote)
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
        self.directory.session_created(session)
        # Logins are rare and already write; sweeping ended sessions here needs no timer.
        await self.store.delete_expired_sessions(issued)
        self.directory.forget_expired(issued)
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
        user, session = await authenticate(request, self.directory)
        check_csrf(request, session)
        await self.store.delete_session(session.token_hash)
        self.directory.session_ended(session.token_hash)
        self.live.end_session(session.token_hash, "logged out")
        await self.told.tell(ChangeKind.SESSION, session.token_hash)
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
        user, session = await authenticate(request, self.directory)
        return JSONResponse(
            {"username": user.username, "role": user.role.value, "csrf_token": session.csrf_token}
        )

    # --------------------------------------------------------------- lanes

    async def lanes(self, request: Request) -> Response:
        await authenticate(request, self.directory)
        lanes = self.directory.lanes()
        return JSONResponse(
            {"lanes": [lane_json(lane, self.hub.status(lane.id)) for lane in lanes]}
        )

    async def _lane(self, request: Request) -> LaneRecord:
        lane = await self.directory.lane(request.path_params["lane_id"])
        if lane is None:
            raise NotFound("unknown_lane", "no lane with that id")
        return lane

    async def snapshot(self, request: Request) -> Response:
        await authenticate(request, self.directory)
        lane = await self._lane(request)
        jpeg = await self.hub.snapshot(lane.id)
        if jpeg is None:
            raise NotFound("no_snapshot", "this lane has not seen a vehicle yet")
        return Response(jpeg, media_type="image/jpeg")

    async def sticker(self, request: Request) -> Response:
        """The lane's current help sticker as a file, for a supervisor to print: what
        ``seat lanes sticker`` writes, made and audited by the same code. A GET, like an
        export, since it changes nothing but the ledger."""
        user, _ = await authenticate(request, self.directory)
        require_role(user, Role.SUPERVISOR)
        fmt = _sticker_format(request)
        lane = await self._lane(request)
        context = {"role": user.role.value, "remote": client_address(request)}
        issuer = Issuer(user.username, self.audit.record, context)
        printed = await print_sticker(self.store, self.settings, lane.id, fmt, issuer)
        # Lane ids are letters, digits and _ . : - (the lane link's rule): no quoting needed.
        disposition = f'attachment; filename="{sticker_filename(lane.id, fmt)}"'
        return Response(
            printed.data,
            media_type=fmt.media_type,
            headers={"Content-Disposition": disposition},
        )

    async def check_plate(self, request: Request) -> Response:
        """Whether a plate as typed is one the car park accepts, and if not what is wrong
        and where, so a correction can be checked as it is typed. A plate that is not
        one is an answer (200), not an error; only a request without one is refused."""
        await authenticate(request, self.directory)
        query = request.query_params.multi_items()
        fields = query_fields(query, len(request.scope["query_string"]), ("plate",))
        plate = normalise(text_field(fields, "plate", max_len=PLATE_MAX))
        if not plate:
            raise BadRequest("bad_request", "'plate' is empty")
        verdict = check(plate)
        return JSONResponse(
            {
                "plate": plate,
                "valid": verdict.valid,
                "kind": verdict.kind.value if verdict.kind else None,
                "error": verdict.error.value if verdict.error else None,
                "position": verdict.position,
                "detail": None if verdict.valid else plate_fault(plate, verdict),
            }
        )

    async def open_gate(self, request: Request) -> Response:
        user, session = await authenticate(request, self.directory)
        check_csrf(request, session)
        lane = await self._lane(request)
        parsed = parse_open(await read_json(request, self.settings.max_body_bytes))
        result = await self.actions.open_gate(Actor(user, client_address(request)), lane, parsed)
        return JSONResponse(outcome_json(result))

    async def display(self, request: Request) -> Response:
        user, session = await authenticate(request, self.directory)
        check_csrf(request, session)
        lane = await self._lane(request)
        body = await read_json(request, self.settings.max_body_bytes)
        parsed = parse_display(body, self.hub.status(lane.id).display)
        result = await self.actions.display(Actor(user, client_address(request)), lane, parsed)
        return JSONResponse(outcome_json(result))

    # --------------------------------------------------------------- media

    async def media_config(self, request: Request) -> Response:
        await authenticate(request, self.directory)
        return JSONResponse({"ice_servers": list(self.settings.ice_servers)})

    async def watch(self, request: Request) -> Response:
        user, session = await authenticate(request, self.directory)
        check_csrf(request, session)
        lane = await self._lane(request)
        # An offer with a few dozen candidates is ~10 KB; the default body limit is tight.
        parsed = parse_watch(await read_json(request, 4 * self.settings.max_body_bytes))
        actor = Actor(user, client_address(request))
        return JSONResponse(await self.watching.open(actor, session, lane, parsed))

    async def unwatch(self, request: Request) -> Response:
        user, session = await authenticate(request, self.directory)
        check_csrf(request, session)
        lane = await self._lane(request)
        actor = Actor(user, client_address(request))
        await self.watching.close(actor, lane, request.path_params["viewer"])
        return Response(status_code=204)

    # --------------------------------------------------------------- audit

    async def audit_page(self, request: Request) -> Response:
        user, _ = await authenticate(request, self.directory)
        require_role(user, Role.SUPERVISOR)
        limit = int_param(request, "limit", 50, 1, AUDIT_PAGE_MAX)
        before = int_param(request, "before", 0, 1, 2**62) or None
        entries = await self.store.audit_page(limit, before)
        next_before = entries[-1].seq if len(entries) == limit and entries[-1].seq > 1 else None
        return JSONResponse(
            {"entries": [entry.to_json() for entry in entries], "next_before": next_before}
        )


def _sticker_format(request: Request) -> StickerFormat:
    """``format``: png (the default) or pdf, given at most once."""
    given = request.query_params.getlist("format")
    if len(given) > 1:
        raise BadRequest("bad_request", "format is given more than once")
    try:
        return StickerFormat(given[0] if given else StickerFormat.PNG)
    except ValueError:
        raise BadRequest("invalid_format", "format must be png or pdf") from None
