"""The emulators' HTTP Digest (RFC 7616), against httpx's client over a real socket: the
right password passes, an expired nonce is answered ``stale`` and the client goes on
without a new password, a wrong one is challenged for ever, a replayed count refused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.emulators.digest import DigestGuard, Guarded, params
from tests.emulators.server import DeviceServer


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def hello(request: Request) -> PlainTextResponse:
    return PlainTextResponse("OK")


@pytest.fixture
async def guarded() -> AsyncIterator[tuple[DeviceServer, DigestGuard, Clock]]:
    clock = Clock()
    guard = DigestGuard("cam", "admin", "secret", nonce_ttl=10.0, clock=clock)
    server = DeviceServer(Guarded(Starlette(routes=[Route("/x", hello)]), guard, lambda: 0.0))
    await server.start()
    yield server, guard, clock
    await server.stop()


async def test_a_stale_nonce_is_renewed_without_a_refusal(
    guarded: tuple[DeviceServer, DigestGuard, Clock],
) -> None:
    server, guard, clock = guarded
    statuses: list[int] = []

    async def seen(response: httpx.Response) -> None:
        statuses.append(response.status_code)

    auth = httpx.DigestAuth("admin", "secret")
    async with httpx.AsyncClient(auth=auth, event_hooks={"response": [seen]}) as client:
        assert (await client.get(f"{server.url}/x?a=[1]")).text == "OK"
        assert (await client.get(f"{server.url}/x")).text == "OK"  # the nonce kept, nc 2
        clock.now = 11.0
        assert (await client.get(f"{server.url}/x")).text == "OK"
    assert statuses == [401, 200, 200, 401, 200]
    assert guard.refused == 0


async def test_a_wrong_password_is_challenged_and_counted(
    guarded: tuple[DeviceServer, DigestGuard, Clock],
) -> None:
    server, guard, _ = guarded
    async with httpx.AsyncClient(auth=httpx.DigestAuth("admin", "guess")) as client:
        reply = await client.get(f"{server.url}/x")
    assert reply.status_code == 401
    assert params(reply.headers["www-authenticate"])["qop"] == "auth"
    assert guard.refused == 1


def test_a_replayed_nonce_count_is_refused() -> None:
    guard = DigestGuard("cam", "admin", "secret")
    challenge = params(guard.challenge()[7:])
    flow = httpx.DigestAuth("admin", "secret").auth_flow(httpx.Request("GET", "http://cam/x"))
    next(flow)
    challenged = httpx.Response(
        401,
        headers={
            "WWW-Authenticate": f'Digest realm="cam", qop="auth", nonce="{challenge["nonce"]}"'
        },
        request=httpx.Request("GET", "http://cam/x"),
    )
    authorization = flow.send(challenged).headers["Authorization"]
    assert guard.check("GET", "/x", authorization) is None
    assert guard.check("GET", "/x", authorization) is not None
    assert guard.refused == 1
