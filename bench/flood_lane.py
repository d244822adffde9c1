"""A broken lane client that floods the centre, for the flood test and benchmark.

    SEAT_LANE_TOKEN=... python bench/flood_lane.py CENTRE_URL LANE

It says hello and then keeps quiet but for a heartbeat a second, answering nothing the
centre sends, until a line ``flood`` on stdin: from then on it sends gate events (up,
down, up, ...) as fast as the connection takes them. A line ``report`` prints
``{"sent": N, "seconds": S, "errors": {CODE: N}}`` (frames sent while flooding, for how
long, and the centre's error replies by code) and ends it; any other line is an error.
Also printed, one JSON line each: ``{"welcome": true}``, the first ``{"error": CODE}``
of each code, and ``{"closed": CODE}`` if the centre closes the link.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from gates.lane.agent import link_url

FRAMES = ('{"type":"gate","state":"up"}', '{"type":"gate","state":"down"}')


def say(line: dict[str, object]) -> None:
    print(json.dumps(line), flush=True)


async def heartbeat(ws: ClientConnection) -> None:
    while True:
        await ws.send('{"type":"heartbeat"}')
        await asyncio.sleep(1.0)  # the lane's heartbeat interval


async def flood(ws: ClientConnection, sent: list[int]) -> None:
    while True:
        await ws.send(FRAMES[sent[0] % 2])
        sent[0] += 1
        if sent[0] % 64 == 0:
            await asyncio.sleep(0)  # while the socket takes frames, send never yields


async def listen(ws: ClientConnection, errors: dict[str, int]) -> None:
    try:
        async for raw in ws:
            message = json.loads(raw)
            if message.get("type") == "error":
                code = message.get("code", "")
                errors[code] = errors.get(code, 0) + 1
                if errors[code] == 1:
                    say({"error": code})
    except ConnectionClosed as exc:
        say({"closed": exc.rcvd.code if exc.rcvd else None})


async def main(server: str, lane: str) -> None:
    # A flooding lane is on another machine; on a shared test machine it must not take
    # the CPU from the centre it floods, or the figures measure the machine instead.
    os.nice(19)
    token = os.environ["SEAT_LANE_TOKEN"]
    loop = asyncio.get_running_loop()
    async with connect(link_url(server), compression=None) as ws:
        hello = {"type": "hello", "v": 1, "lane": lane, "token": token, "heartbeat_ms": 5000}
        await ws.send(json.dumps(hello))
        if json.loads(await ws.recv()).get("type") != "welcome":
            raise SystemExit(f"the centre did not welcome lane {lane}")
        say({"welcome": True})
        sent = [0]
        errors: dict[str, int] = {}
        tasks = [asyncio.create_task(listen(ws, errors)), asyncio.create_task(heartbeat(ws))]
        started = time.perf_counter()
        while (line := (await loop.run_in_executor(None, sys.stdin.readline)).strip()) == "flood":
            tasks[1].cancel()  # heartbeats go only when nothing else does
            tasks.append(asyncio.create_task(flood(ws, sent)))
            started = time.perf_counter()
        if line != "report":
            raise SystemExit(f"flood_lane: expected flood or report, not {line!r}")
        seconds = time.perf_counter() - started
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        say({"sent": sent[0], "seconds": round(seconds, 3), "errors": errors})


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
