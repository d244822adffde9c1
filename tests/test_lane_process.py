"""``seat lane`` as it runs at a car park: a real process against a real centre."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import sys
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from gates.lane.memory import INTERRUPTED
from gates.protocol import OpenGate
from gates.vocabulary import GateState
from media.lane.runner import press_call
from tests.conftest import Centre
from tests.lanes import ScriptedDriver

SEAT = [sys.executable, "-m", "console.cli"]


async def start_lane(
    server: str, lane: str, token: str, *options: str
) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        *SEAT, "lane", "--server", server, "--lane", lane, "--heartbeat-ms", "1000",
        "--lift-s", "0", "--camera", "none", "--microphone", "none", "--speaker", "none",
        *options,
        env={**os.environ, "SEAT_LANE_TOKEN": token, "SEAT_LOG_LEVEL": "WARNING"},
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
        await process.communicate()


async def test_lane_starts_on_a_torn_journal_and_refuses_the_torn_command(
    centre: Centre, tmp_path: Path
) -> None:
    """A journal whose last line a power cut tore still lets the lane come online; the
    command on that line, sent again, is refused as interrupted and not run."""
    token = await centre.add_lane("P9-OUT")
    journal = tmp_path / "P9.jsonl"
    journal.write_text(
        '{"id": "c-before", "running": false, "refused": null}\n{"id": "abc123", "runn'
    )
    lane = await start_lane(centre.url, "P9-OUT", token, "--state", str(journal))
    try:
        await centre.wait_status("P9-OUT", lambda s: s.online, 30)
        torn = await centre.hub.command("P9-OUT", OpenGate("abc123"), 10)
        assert (torn.outcome, torn.detail) == ("refused", INTERRUPTED)
        fresh = await centre.hub.command("P9-OUT", OpenGate("c-after"), 10)
        assert fresh.outcome == "done"
    finally:
        await stop(lane)


async def test_lane_refuses_to_start_on_a_journal_damaged_before_its_end(tmp_path: Path) -> None:
    """A bad record in the middle stops the lane with a message naming the file and the
    line, not a traceback, and leaves the journal as it was."""
    journal = tmp_path / "P9.jsonl"
    text = (
        '{"id": "c-1", "running": false, "refused": null}\n'
        "{not a record}\n"
        '{"id": "c-3", "running": false, "refused": null}\n'
    )
    journal.write_text(text)
    lane = await start_lane("http://127.0.0.1:9", "P9-OUT", "t", "--state", str(journal))
    async with asyncio.timeout(30):
        _, stderr = await lane.communicate()
    assert lane.returncode != 0
    assert f"{journal} line 2 is damaged" in stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert journal.read_text() == text


async def test_lane_replaced_by_another_connection_exits_naming_the_lane(
    centre: Centre,
) -> None:
    """A second client with the lane's token takes over; the replaced `seat lane` does
    not fight back: it exits non-zero saying which lane and why, and the lane stays
    with the newer connection."""
    token = await centre.add_lane("P9-OUT")
    lane = await start_lane(centre.url, "P9-OUT", token)
    try:
        await centre.wait_status("P9-OUT", lambda s: s.online, 30)
        async with connect(centre.link) as newer:
            await newer.send(
                json.dumps({"type": "hello", "v": 1, "lane": "P9-OUT", "token": token})
            )
            assert json.loads(await newer.recv())["type"] == "welcome"
            async with asyncio.timeout(30):
                _, stderr = await lane.communicate()
            assert lane.returncode != 0
            assert "lane P9-OUT" in stderr.decode() and "4409" in stderr.decode()
            assert "Traceback" not in stderr.decode()
            await newer.send('{"type":"gate","state":"up"}')
            status = await centre.wait_status("P9-OUT", lambda s: s.gate is GateState.UP)
            assert status.online
    finally:
        await stop(lane)


async def test_usr1_presses_the_simulated_lanes_call_button(centre: Centre) -> None:
    """`kill -USR1 PID` is a driver pressing call: the centre shows the lane calling, and
    the lane runs on. With seed 15 the simulation's first car comes after a minute, so
    no simulated driver presses first."""
    token = await centre.add_lane("P9-OUT")
    lane = await start_lane(centre.url, "P9-OUT", token, "--seed", "15")
    try:
        await centre.wait_status("P9-OUT", lambda s: s.online, 30)
        assert centre.hub.status("P9-OUT").last_call_at is None
        lane.send_signal(signal.SIGUSR1)
        status = await centre.wait_status("P9-OUT", lambda s: s.last_call_at is not None)
        assert status.online and lane.returncode is None
    finally:
        await stop(lane)


def test_a_real_drivers_lane_ignores_the_call_signal_and_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Only the simulator has a button a signal can press; another driver's lane logs
    that it was asked, and presses nothing."""
    with caplog.at_level(logging.WARNING, logger="seat.lane"):
        press_call("P9-OUT", ScriptedDriver())
    assert [record.getMessage() for record in caplog.records] == [
        "lane.call.signal_ignored lane=P9-OUT driver=ScriptedDriver"
    ]
