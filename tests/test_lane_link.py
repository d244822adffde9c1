"""The lane link end to end: a real centre under uvicorn, real WebSocket clients."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from console.settings import Settings
from console.sqlite_store import SQLiteStore
from gates.backoff import Backoff
from gates.lane.agent import LaneAgent, LaneReplaced
from gates.lane.session import LaneSession
from gates.lane.targets import Target
from gates.protocol import MAX_MESSAGE_BYTES, Display, OpenGate
from gates.vocabulary import GateState
from tests.conftest import Centre, LaneFactory, lane_behind_proxy, start_centre, wait_status
from tests.lanes import ScriptedDriver
from tests.services import free_port


async def hello(
    ws: ClientConnection, lane: str, token: str, heartbeat_ms: int = 1000
) -> dict[str, Any]:
    await ws.send(
        json.dumps(
            {"type": "hello", "v": 1, "lane": lane, "token": token, "heartbeat_ms": heartbeat_ms}
        )
    )
    welcome: dict[str, Any] = json.loads(await ws.recv())
    return welcome


async def closed_with(ws: ClientConnection) -> tuple[int | None, str]:
    with pytest.raises(ConnectionClosed) as caught:
        async with asyncio.timeout(10):
            while True:
                await ws.recv()
    received = caught.value.rcvd
    return (received.code, received.reason) if received else (None, "")


async def test_lane_with_valid_token_is_welcomed_and_shown_online(centre: Centre) -> None:
    """hello with the right token gets welcome, and the lane turns online with its gate."""
    token = await centre.add_lane("P1-IN")
    async with connect(centre.link) as ws:
        welcome = await hello(ws, "P1-IN", token, heartbeat_ms=1000)
        assert welcome == {"type": "welcome", "v": 1, "lane": "P1-IN", "heartbeat_ms": 1000}
        await ws.send('{"type":"gate","state":"down"}')
        status = await centre.wait_status("P1-IN", lambda s: s.gate is GateState.DOWN)
        assert status.online


@pytest.mark.parametrize("lane", ["P1-IN", "NO-SUCH-LANE"])
async def test_wrong_token_or_unknown_lane_is_refused_with_4401(centre: Centre, lane: str) -> None:
    """A bad credential closes with 4401 and one reason for both cases; nothing goes online."""
    await centre.add_lane("P1-IN")
    async with connect(centre.link) as ws:
        await ws.send(json.dumps({"type": "hello", "v": 1, "lane": lane, "token": "guess"}))
        assert await closed_with(ws) == (4401, "unknown lane or wrong token")
    assert centre.hub.online() == []


async def test_first_message_must_be_hello(centre: Centre) -> None:
    """Anything before hello closes with 4400 and says why."""
    async with connect(centre.link) as ws:
        await ws.send('{"type":"gate","state":"up"}')
        assert await closed_with(ws) == (4400, "the first message must be hello")


async def test_unsupported_version_is_refused_with_4426(centre: Centre) -> None:
    """A lane speaking another version learns which one the centre speaks."""
    token = await centre.add_lane("P1-IN")
    async with connect(centre.link) as ws:
        await ws.send(json.dumps({"type": "hello", "v": 9, "lane": "P1-IN", "token": token}))
        assert await closed_with(ws) == (4426, "protocol version 1 only")


async def test_silent_connection_is_closed_for_want_of_hello(centre: Centre) -> None:
    """A connection that never introduces itself is closed with 4408."""
    async with connect(centre.link) as ws:
        assert await closed_with(ws) == (4408, "no hello in time")


async def test_lane_missing_heartbeats_goes_offline(centre: Centre) -> None:
    """After grace x interval of silence the centre closes with 4408 and shows offline."""
    token = await centre.add_lane("P1-IN")
    async with connect(centre.link) as ws:
        await hello(ws, "P1-IN", token, heartbeat_ms=100)
        await centre.wait_status("P1-IN", lambda s: s.online)
        assert await closed_with(ws) == (4408, "heartbeat missed")
    status = await centre.wait_status("P1-IN", lambda s: not s.online)
    assert status.gate is GateState.UNKNOWN


@pytest.mark.parametrize(
    ("frame", "code", "ref"),
    [
        ("{not json", "malformed", ""),
        ('{"type":"teleport"}', "unknown_type", "teleport"),
        ('{"type":"gate","state":"sideways"}', "malformed", "gate"),
        ('{"type":"call","event_id":"\\ud800"}', "malformed", "call"),
        ('{"type":"ack","command_id":"never-sent"}', "unknown_command", "ack"),
        ('{"type":"done","command_id":"never-sent"}', "unknown_command", "done"),
        ('{"type":"hello","v":1,"lane":"P2","token":"x"}', "out_of_order", "hello"),
        (b"\x00\x01binary", "malformed", ""),
        ('{"type":"gate","pad":"' + "x" * MAX_MESSAGE_BYTES + '"}', "too_large", ""),
    ],
)
async def test_bad_message_gets_an_error_and_changes_nothing(
    centre: Centre, frame: str | bytes, code: str, ref: str
) -> None:
    """Each bad message is answered with its error code; the lane stays online, gate as was."""
    token = await centre.add_lane("P1-IN")
    async with connect(centre.link, max_size=None) as ws:
        await hello(ws, "P1-IN", token)
        await ws.send('{"type":"gate","state":"down"}')
        await centre.wait_status("P1-IN", lambda s: s.gate is GateState.DOWN)
        await ws.send(frame)
        error = json.loads(await ws.recv())
        assert (error["type"], error["code"], error["ref"]) == ("error", code, ref)
        assert error["detail"]
        status = centre.hub.status("P1-IN")
        assert status.online and status.gate is GateState.DOWN
        # Still served: a valid message after the bad one is acted on.
        await ws.send('{"type":"gate","state":"up"}')
        await centre.wait_status("P1-IN", lambda s: s.gate is GateState.UP)


async def test_newer_connection_for_a_lane_replaces_the_older(centre: Centre) -> None:
    """Rule: the newest connection wins; the older is closed with 4409 and the lane stays online."""
    token = await centre.add_lane("P1-IN")
    async with connect(centre.link) as old, connect(centre.link) as new:
        await hello(old, "P1-IN", token)
        await hello(new, "P1-IN", token)
        assert await closed_with(old) == (4409, "another connection claimed this lane")
        await new.send('{"type":"gate","state":"up"}')
        status = await centre.wait_status("P1-IN", lambda s: s.gate is GateState.UP)
        assert status.online and centre.hub.online() == ["P1-IN"]


async def test_open_gate_command_is_done_once(centre: Centre, lanes: LaneFactory) -> None:
    """A command to a connected lane is executed once and ends done."""
    lane = await lanes("P1-OUT")
    resolved = await centre.hub.command("P1-OUT", OpenGate("c-1", "free_release"), 5.0)
    assert resolved.outcome == "done"
    assert lane.driver.opens == 1
    await centre.wait_status("P1-OUT", lambda s: s.gate is GateState.UP)


async def test_command_to_unconnected_lane_is_lane_offline(centre: Centre) -> None:
    """Nothing waits for a lane that is not there."""
    await centre.add_lane("P1-OUT")
    resolved = await centre.hub.command("P1-OUT", OpenGate("c-1"), 5.0)
    assert resolved.outcome == "lane_offline"


async def test_a_driver_that_fails_ends_the_command_refused_as_unknown(
    centre: Centre, lanes: LaneFactory
) -> None:
    """A bug in a device adapter still ends the command, or the centre would wait on it
    for ever: refused, with the reason saying the lane's own code failed."""
    lane = await lanes("P1-OUT")
    lane.driver.fail = KeyError("adapter bug")
    resolved = await centre.hub.command("P1-OUT", OpenGate("c-1"), 5.0)
    assert (resolved.outcome, resolved.detail) == ("refused", "lane_agent_failed")


async def test_driver_refusal_ends_the_command_refused(centre: Centre, lanes: LaneFactory) -> None:
    """The lane's reason reaches the centre."""
    lane = await lanes("P1-OUT")
    lane.driver.refuse = "gate_motor_fault"
    resolved = await centre.hub.command("P1-OUT", OpenGate("c-1"), 5.0)
    assert (resolved.outcome, resolved.detail) == ("refused", "gate_motor_fault")


async def test_lane_that_never_finishes_times_out(centre: Centre, lanes: LaneFactory) -> None:
    """A stuck lift ends as timeout at the deadline, not never."""
    lane = await lanes("P1-OUT")
    lane.driver.hold = asyncio.Event()
    resolved = await centre.hub.command("P1-OUT", OpenGate("c-1"), 0.5)
    assert resolved.outcome == "timeout"
    assert lane.driver.opens == 1


async def test_command_survives_a_link_cut_mid_execution_and_runs_once(centre: Centre) -> None:
    """Cut while lifting: the centre resends the same id after reconnect; the lane, still
    lifting, only acks; the outcome is done and the barrier lifted once."""
    async with lane_behind_proxy(centre) as (driver, proxy):
        command = asyncio.create_task(centre.hub.command("P1-OUT", OpenGate("c-cut"), 10.0))
        await asyncio.wait_for(driver.lifting.wait(), 10)
        await proxy.cut()
        await centre.wait_status("P1-OUT", lambda s: not s.online)
        await centre.wait_status("P1-OUT", lambda s: s.online)
        assert driver.hold is not None
        driver.hold.set()
        resolved = await command
        assert resolved.outcome == "done"
        assert driver.opens == 1


async def test_command_finished_while_link_was_down_is_answered_from_memory(
    centre: Centre,
) -> None:
    """The lane lifted while cut off; the resent id is answered done without a second lift."""
    async with lane_behind_proxy(centre) as (driver, proxy):
        command = asyncio.create_task(centre.hub.command("P1-OUT", OpenGate("c-mem"), 10.0))
        await asyncio.wait_for(driver.lifting.wait(), 10)
        await proxy.cut(stay_down=True)
        await centre.wait_status("P1-OUT", lambda s: not s.online)
        assert driver.hold is not None
        driver.hold.set()  # the lift ends with no link to report it on
        await asyncio.wait_for(driver.lifted.wait(), 10)
        proxy.restore()
        resolved = await command
        assert resolved.outcome == "done"
        assert driver.opens == 1


async def test_lane_reconnects_after_a_centre_restart(
    settings: Settings, store: SQLiteStore
) -> None:
    """The lane redials on its own; the new centre shows it online again."""
    first = await start_centre(settings, store)
    port = first.port
    centre = first.centre(store, settings)
    token = await centre.add_lane("P1-IN")
    driver = ScriptedDriver()
    agent = LaneAgent(
        [centre.link], LaneSession("P1-IN", token, heartbeat_ms=1000), driver, Backoff(0.05, 0.2)
    )
    running = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.connected.wait(), 10)
        await first.stop()
        second = await start_centre(settings, store, port=port)
        try:
            status = await wait_status(second.hub, "P1-IN", lambda s: s.gate is GateState.DOWN)
            assert status.online
        finally:
            await second.stop()
    finally:
        running.cancel()


async def test_a_dead_centre_costs_no_backoff_before_the_next(centre: Centre) -> None:
    """Given first a centre nobody listens at, the lane dials the next at once: with a
    backoff of an hour it is online, at the live one, without waiting one."""
    token = await centre.add_lane("P1-IN")
    dead = f"ws://127.0.0.1:{free_port()}/link"
    agent = LaneAgent(
        [dead, centre.link],
        LaneSession("P1-IN", token, heartbeat_ms=1000),
        ScriptedDriver(),
        Backoff(first=3600, cap=3600),
    )
    running = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.connected.wait(), 10)
        assert agent.target == Target(centre.link, "127.0.0.1")
        assert agent.backoff.attempts == 0
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_agent_stops_when_its_driver_fails(centre: Centre) -> None:
    """Dead hardware is not hidden behind a live link: the agent ends with the error."""

    class BrokenDriver(ScriptedDriver):
        async def run(self, emit: object) -> None:
            raise OSError("relay board not found on /dev/ttyUSB0")

    token = await centre.add_lane("P1-OUT")
    agent = LaneAgent([centre.link], LaneSession("P1-OUT", token), BrokenDriver())
    with pytest.raises(ExceptionGroup) as caught:
        await asyncio.wait_for(agent.run(), 10)
    assert caught.group_contains(OSError, match="relay board")


async def test_stopping_centre_closes_lanes_with_service_restart(
    settings: Settings, store: SQLiteStore
) -> None:
    """On shutdown every lane hears 1012 and may reconnect elsewhere at once."""
    running = await start_centre(settings, store)
    centre = running.centre(store, settings)
    token = await centre.add_lane("P1-IN")
    async with connect(centre.link) as ws:
        await hello(ws, "P1-IN", token)
        stopping = asyncio.create_task(running.stop())
        assert (await closed_with(ws))[0] == 1012
        await stopping


async def test_two_agents_on_one_token_take_over_once_and_the_newer_keeps_the_lane(
    staffed: Centre, lanes: LaneFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The agent a newer one replaced stops with an error naming its lane instead of
    redialling; the newer holds the lane, and the console shows the takeover."""
    older = await lanes("P1-OUT")
    newer = await lanes("P1-OUT")
    with pytest.raises(ExceptionGroup) as caught:
        async with asyncio.timeout(10):
            await older.task
    [replaced] = caught.value.exceptions
    assert isinstance(replaced, LaneReplaced) and "P1-OUT" in str(replaced)
    assert newer.agent.connected.is_set()
    assert caplog.text.count("lane.link.replaced lane=P1-OUT") == 1
    async with staffed.client("sue") as client:
        [lane] = (await client.get("/api/lanes")).json()["lanes"]
    assert lane["online"] and lane["fault"]["code"] == "link_replaced"
    assert lane["fault"]["detail"].startswith("1 takeover in the last 10 min")
    resolved = await staffed.hub.command("P1-OUT", OpenGate("c-1"), 5.0)
    assert resolved.outcome == "done"
    assert (older.driver.opens, newer.driver.opens) == (0, 1)


async def test_lane_given_many_commands_at_once_answers_them_all(
    centre: Centre, lanes: LaneFactory
) -> None:
    """A lane's acks and ends of the centre's own commands are never refused as over
    its rate, even for more commands at once than its burst allows frames."""
    lane = await lanes("P1-OUT")
    burst = centre.hub.rate.burst
    resolved = await asyncio.gather(
        *(
            centre.hub.command("P1-OUT", Display(f"c-{n}", (f"第{n}行",)), 10.0)
            for n in range(burst)
        )
    )
    assert {r.outcome for r in resolved} == {"done"}
    assert lane.driver.shown
