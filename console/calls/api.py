"""The call queue's HTTP API (README, "HTTP API"): thin handlers over ``CallService``,
with the console's session, CSRF and body rules (``console.web``, ``console.fields``)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from ..directory import Directory
from ..models import Role, User
from ..web import JSONResponse, authenticate, check_csrf, read_json, require_role
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

    async def _acting(self, request: Request) -> User:
        """The user behind a state-changing request, its CSRF token checked."""
        user, session = await authenticate(request, self.directory)
        check_csrf(request, session)
        return user

    def _call(self, user: User, call: Call, status: int = 200) -> Response:
        return JSONResponse(self.calls.call_for(user, call), status_code=status)


def _call_id(request: Request) -> str:
    return str(request.path_params["call_id"])
