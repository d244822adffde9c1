"""The call queue's HTTP API (README, "HTTP API"): thin handlers over ``CallService``,
with the console's session, CSRF and body rules (``console.web``, ``console.fields``),
and the day's call ledger (``daybook``) read from the store."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..directory import Directory
from ..errors import NotFound, StoreError
from ..gatekeeping.holds import BEFORE_CALL
from ..ledger import AuditAction, AuditRecord
from ..models import Role, User
from ..web import (
    AuditedRead,
    JSONResponse,
    authenticate,
    check_csrf,
    client_address,
    read_json,
    require_role,
)
from .daybook import (
    LedgerFormat,
    LedgerQuery,
    day_window,
    ledger_json,
    parse_query,
    rows_of,
    summarise,
)
from .daybook_csv import attachment, csv_bytes
from .forms import parse_hotline, parse_outcome, parse_state, parse_transfer
from .model import Call
from .service import CallService


@dataclass
class CallsApi:
    calls: CallService
    directory: Directory
    max_body_bytes: int

    def routes(self) -> list[BaseRoute]:
        """Under ``/api``."""
        return [
            Route("/calls", self.list_calls),
            Route("/calls", self.place, methods=["POST"]),
            AuditedRead("/calls/records", self.records),
            Route("/calls/{call_id}/accept", self.accept, methods=["POST"]),
            Route("/calls/{call_id}/decline", self.decline, methods=["POST"]),
            Route("/calls/{call_id}/transfer", self.transfer, methods=["POST"]),
            Route("/calls/{call_id}/barge", self.barge, methods=["POST"]),
            Route("/calls/{call_id}/end", self.end, methods=["POST"]),
            Route("/agents", self.agents),
            Route("/agents/me/state", self.set_state, methods=["POST"]),
        ]

    async def list_calls(self, request: Request) -> Response:
        user, _ = await authenticate(request, self.directory)
        return JSONResponse({"calls": self.calls.calls_for(user)})

    async def place(self, request: Request) -> Response:
        """A hotline call, typed in by the agent who answered the phone."""
        user = await self._acting(request)
        parsed = parse_hotline(await read_json(request, self.max_body_bytes))
        call = await self.calls.place_hotline(
            user, parsed.lane_id, caller=parsed.caller, note=parsed.note
        )
        return self._call(user, call, status=201)

    async def accept(self, request: Request) -> Response:
        user = await self._acting(request)
        return self._call(user, await self.calls.accept(user, _call_id(request)))

    async def decline(self, request: Request) -> Response:
        user = await self._acting(request)
        return self._call(user, await self.calls.decline(user, _call_id(request)))

    async def transfer(self, request: Request) -> Response:
        user = await self._acting(request)
        parsed = parse_transfer(await read_json(request, self.max_body_bytes))
        call = await self.calls.transfer(user, _call_id(request), parsed.to, parsed.note)
        return self._call(user, call)

    async def barge(self, request: Request) -> Response:
        user = await self._acting(request)
        require_role(user, Role.SUPERVISOR)
        return self._call(user, await self.calls.barge(user, _call_id(request)))

    async def end(self, request: Request) -> Response:
        user = await self._acting(request)
        outcome = parse_outcome(await read_json(request, self.max_body_bytes))
        return self._call(user, await self.calls.end(user, _call_id(request), outcome))

    async def set_state(self, request: Request) -> Response:
        user = await self._acting(request)
        parsed = parse_state(await read_json(request, self.max_body_bytes))
        agent = await self.calls.set_state(user, parsed.state, parsed.reason)
        return JSONResponse(self.calls.agent_for(agent))

    async def agents(self, request: Request) -> Response:
        user, _ = await authenticate(request, self.directory)
        require_role(user, Role.SUPERVISOR)
        return JSONResponse(self.calls.agents_view())

    async def records(self, request: Request) -> Response:
        """The day's call ledger of a car park, or of all, as JSON or a CSV file. Every
        read is audited before a byte of it leaves: no audit, no data."""
        user, _ = await authenticate(request, self.directory)
        require_role(user, Role.SUPERVISOR)
        query = parse_query(request.query_params.multi_items(), len(request.scope["query_string"]))
        window = day_window(query.day)
        records = await self.calls.store.call_records(window.since, window.until)
        # A car park whose lanes have all moved elsewhere still has its past days.
        known = {lane.car_park for lane in self.directory.lanes()}
        known.update(record.car_park for record in records)
        if query.car_park is not None and query.car_park not in known:
            raise NotFound("unknown_car_park", "no lane is in that car park")
        holds = await self.calls.store.blacklist_holds(window.since - BEFORE_CALL, window.until)
        rows = rows_of(records, query.car_park, query.plates, holds)
        await self._exported(user, request, query, len(rows))
        if query.format is LedgerFormat.CSV:
            return Response(
                csv_bytes(rows),
                media_type="text/csv; charset=utf-8",
                headers={"Content-Disposition": attachment(query.day, query.car_park)},
            )
        summary = summarise(rows, self.calls.settings.answer_target_s)
        return JSONResponse(ledger_json(query, window, rows, summary))

    async def _exported(self, user: User, request: Request, query: LedgerQuery, rows: int) -> None:
        """The ledger's ``calls_exported`` entry, on disk before the export is sent."""
        try:
            await self.calls.audit.record(
                AuditRecord(
                    actor=user.username,
                    action=AuditAction.CALLS_EXPORTED,
                    detail={
                        "date": query.day.isoformat(),
                        "car_park": query.car_park,
                        "format": query.format.value,
                        "rows": rows,
                        "plates": query.plates.value,
                        "role": user.role.value,
                        "remote": client_address(request),
                    },
                )
            )
        except StoreError as exc:
            raise StoreError(
                "audit_failed", f"not sent: the audit ledger could not record it ({exc.detail})"
            ) from exc

    async def _acting(self, request: Request) -> User:
        """The user behind a state-changing request, its CSRF token checked."""
        user, session = await authenticate(request, self.directory)
        check_csrf(request, session)
        return user

    def _call(self, user: User, call: Call, status: int = 200) -> Response:
        return JSONResponse(self.calls.call_for(user, call), status_code=status)


def _call_id(request: Request) -> str:
    return str(request.path_params["call_id"])
