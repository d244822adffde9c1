"""The console's live feed over a real WebSocket: who may listen and what they hear."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Origin

from gates.lane.drivers import GateChanged
from gates.protocol import DeviceInfo, DisplaySize
from gates.vocabulary import GateState
from tests.conftest import Centre, LaneFactory


def stream_url(centre: Centre) -> str:
    return centre.url.replace("http://", "ws://") + "/api/stream"


async def next_message(ws: ClientConnection, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(10):
        while True:
            message: dict[str, Any] = json.loads(await ws.recv())
            if message["type"] == kind:
                return message


async def close_code(ws: ClientConnection) -> int | None:
    with pytest.raises(ConnectionClosed) as caught:
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    return caught.value.rcvd.code if caught.value.rcvd else None


async def session_cookie(centre: Centre, username: str) -> tuple[str, str]:
    async with centre.client(username) as client:
        return client.cookies["seat_session"], client.headers["X-CSRF-Token"]


async def test_stream_sends_all_lanes_then_each_change(staffed: Centre, lanes: LaneFactory) -> None:
    """A tab gets the lane list on connect, then a message when a gate moves."""
    lane = await lanes("P1-OUT")
    await staffed.wait_status("P1-OUT", lambda s: s.gate is GateState.DOWN)
    cookie, _ = await session_cookie(staffed, "alice")
    async with connect(
        stream_url(staffed), additional_headers={"cookie": f"seat_session={cookie}"}
    ) as ws:
        first = await next_message(ws, "lanes")
        assert [(lane["id"], lane["online"], lane["gate"]) for lane in first["lanes"]] == [
            ("P1-OUT", True, "down")
        ]
        lane.driver.emit(GateChanged(GateState.RISING))
        change = await next_message(ws, "lane")
        assert change["lane"]["id"] == "P1-OUT" and change["lane"]["gate"] == "rising"


async def test_stream_declines_compression_a_browser_offers(staffed: Centre) -> None:
    """Browsers offer permessage-deflate; the centre declines it, so each message to
    many tabs is sent as it was encoded once, not compressed once per tab."""
    cookie, _ = await session_cookie(staffed, "alice")
    async with connect(
        stream_url(staffed),
        additional_headers={"cookie": f"seat_session={cookie}"},
        compression="deflate",
    ) as ws:
        assert ws.response is not None
        assert "Sec-WebSocket-Extensions" not in ws.response.headers
        assert (await next_message(ws, "lanes"))["lanes"] == []


async def test_stream_shows_the_display_size_a_lane_states_when_it_connects(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A lane that comes online with a 4x32 display and a camera arrives on an open tab
    with that size and that camera."""
    cookie, _ = await session_cookie(staffed, "alice")
    await staffed.add_lane("P1-IN")
    async with connect(
        stream_url(staffed), additional_headers={"cookie": f"seat_session={cookie}"}
    ) as ws:
        [offline] = (await next_message(ws, "lanes"))["lanes"]
        assert offline["display"] == {"lines": 8, "chars": 64}
        assert offline["devices"] == []
        cam = DeviceInfo("cam", "alarminfo", ("plates", "gate"), "192.168.1.64")
        await lanes("P1-IN", display=DisplaySize(lines=4, chars=32), devices=(cam,))
        change = await next_message(ws, "lane")
        assert change["lane"]["online"] is True
        assert change["lane"]["display"] == {"lines": 4, "chars": 32}
        assert change["lane"]["devices"] == [cam.to_json()]


async def test_stream_without_a_session_is_closed_4401(centre: Centre) -> None:
    """No cookie, no feed: the console goes back to its login page."""
    async with connect(stream_url(centre)) as ws:
        assert await close_code(ws) == 4401


async def test_stream_from_another_site_is_closed_4403(staffed: Centre) -> None:
    """A page on another origin cannot ride the agent's cookie into the feed."""
    cookie, _ = await session_cookie(staffed, "alice")
    async with connect(
        stream_url(staffed),
        additional_headers={"cookie": f"seat_session={cookie}"},
        origin=Origin("https://evil.example"),
    ) as ws:
        assert await close_code(ws) == 4403


async def test_supervisor_hears_new_audit_entries_and_agent_does_not(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The ledger feed follows the ledger's read permission."""
    lane = await lanes("P1-OUT")
    sue, _ = await session_cookie(staffed, "sue")
    alice, csrf = await session_cookie(staffed, "alice")
    async with (
        connect(stream_url(staffed), additional_headers={"cookie": f"seat_session={sue}"}) as sup,
        connect(
            stream_url(staffed), additional_headers={"cookie": f"seat_session={alice}"}
        ) as agent,
    ):
        await next_message(sup, "lanes")
        await next_message(agent, "lanes")
        async with staffed.client() as client:
            response = await client.post(
                "/api/lanes/P1-OUT/open",
                json={"reason": "emergency"},
                headers={"cookie": f"seat_session={alice}", "X-CSRF-Token": csrf},
            )
        assert response.json()["outcome"] == "done"
        entry = (await next_message(sup, "audit"))["entry"]
        assert (entry["action"], entry["actor"]) == ("gate_open_requested", "alice")
        # Everything the agent's feed carried up to a later marker event: no audit entry.
        lane.driver.emit(GateChanged(GateState.FALLING))
        kinds = []
        async with asyncio.timeout(10):
            while True:
                message = json.loads(await agent.recv())
                kinds.append(message["type"])
                if message["type"] == "lane" and message["lane"]["gate"] == "falling":
                    break
        assert "audit" not in kinds


async def test_logout_closes_that_sessions_stream(staffed: Centre) -> None:
    """Logging out in one tab ends the feed in every tab of that session."""
    cookie, csrf = await session_cookie(staffed, "alice")
    async with connect(
        stream_url(staffed), additional_headers={"cookie": f"seat_session={cookie}"}
    ) as ws:
        await next_message(ws, "lanes")
        async with staffed.client() as client:
            response = await client.post(
                "/api/logout", headers={"cookie": f"seat_session={cookie}", "X-CSRF-Token": csrf}
            )
        assert response.status_code == 204
        assert await close_code(ws) == 4401


async def test_lane_registered_after_connect_appears_in_the_stream(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A lane added while the console is open shows up without a reload, registered
    first, then online when its controller connects."""
    cookie, _ = await session_cookie(staffed, "alice")
    async with connect(
        stream_url(staffed), additional_headers={"cookie": f"seat_session={cookie}"}
    ) as ws:
        assert (await next_message(ws, "lanes"))["lanes"] == []
        await lanes("P7-IN")
        registered = await next_message(ws, "lane")
        assert (registered["lane"]["id"], registered["lane"]["online"]) == ("P7-IN", False)
        online = await next_message(ws, "lane")
        assert (online["lane"]["id"], online["lane"]["online"]) == ("P7-IN", True)
