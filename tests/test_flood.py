"""One lane flooding the centre, from another process: it is held to its rate, and
the rest of the centre carries on."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gates.lane.drivers import GateChanged
from gates.vocabulary import GateState
from tests.conftest import Centre, LaneFactory
from tests.test_stream import session_cookie, stream_url

FLOOD_LANE = Path(__file__).resolve().parent.parent / "bench" / "flood_lane.py"


async def read_tab(tab: ClientConnection, seen: asyncio.Queue[dict[str, Any]]) -> int | None:
    """Everything a console tab receives, until it is closed; returns the close code."""
    try:
        async for raw in tab:
            seen.put_nowait(json.loads(raw))
    except ConnectionClosed as exc:
        return exc.rcvd.code if exc.rcvd else None
    return tab.close_code


async def test_flooding_lane_is_rate_limited_while_other_lanes_and_consoles_are_served(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A lane sending as fast as it can gets rate_limited errors; meanwhile another
    lane's open-gate ends done (so within its deadline), /healthz answers, and a console
    tab open all along stays open and live."""
    token = await staffed.add_lane("P9-FLOOD")
    other = await lanes("P1-OUT")
    cookie, csrf = await session_cookie(staffed, "alice")
    headers = {"cookie": f"seat_session={cookie}"}
    async with connect(stream_url(staffed), additional_headers=headers) as tab:
        seen: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        reader = asyncio.create_task(read_tab(tab, seen))
        flood = await asyncio.create_subprocess_exec(
            sys.executable, str(FLOOD_LANE), staffed.url, "P9-FLOOD",
            env={**os.environ, "SEAT_LANE_TOKEN": token},
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert flood.stdin is not None and flood.stdout is not None
        try:
            async with asyncio.timeout(30):
                assert json.loads(await flood.stdout.readline()) == {"welcome": True}
                flood.stdin.write(b"flood\n")
                while json.loads(await flood.stdout.readline()).get("error") != "rate_limited":
                    pass
            async with staffed.client() as client:
                opened = await client.post(
                    "/api/lanes/P1-OUT/open",
                    json={"reason": "equipment_fault"},
                    headers={**headers, "X-CSRF-Token": csrf},
                )
                assert opened.json()["outcome"] == "done"
                health = await client.get("/healthz")
                assert (health.status_code, health.json()["status"]) == (200, "ok")
            other.driver.emit(GateChanged(GateState.FALLING))
            async with asyncio.timeout(10):
                while True:
                    lane = (await seen.get()).get("lane", {})
                    if lane.get("id") == "P1-OUT" and lane.get("gate") == "falling":
                        break
            assert not reader.done()
            flood.stdin.write(b"report\n")
            async with asyncio.timeout(30):
                while "sent" not in (report := json.loads(await flood.stdout.readline())):
                    pass
            assert report["errors"]["rate_limited"] > 0
        finally:
            if flood.returncode is None:
                flood.kill()
            await flood.wait()
            reader.cancel()
