"""A SIP intercom's call, end to end: the emulated door station calls the lane, the lane
agent's media connection carries the call to a real centre, and an agent's browser
peer (aiortc) hears the door station while the door station hears the agent."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from pathlib import Path
from typing import NoReturn

from gates.hardware.assembly import assemble
from gates.hardware.parts import LaneAudio
from media.lane.runner import NONE, MediaChoice, publisher, run_lane
from tests.conftest import Centre, LaneFactory
from tests.desks import desk
from tests.emulators.sip_intercom import SipIntercom as DoorStation
from tests.test_media_live import _feed, tone_only
from tests.test_sip_intercom import AGENT_HZ, DOOR_HZ, free_udp_port, lane_with_door
from tests.viewers import ViewerPeer, watch


def no_view(_: float) -> NoReturn:
    raise AssertionError("a lane without a simulated camera draws no scene")


async def test_the_door_station_and_the_agent_hear_each_other(
    staffed: Centre, lanes: LaneFactory, peers: list[ViewerPeer]
) -> None:
    async with lane_with_door() as sip:
        assert isinstance(sip.device, LaneAudio)
        token = await staffed.add_lane("L1")
        media = publisher("L1", token, MediaChoice(camera=NONE), no_view, audio=sip.device)
        await lanes("L1", publisher=media)
        assert (await sip.door.call()).status == 200

        async with staffed.client("alice") as alice:
            agent = await watch(alice, "L1", talk=True)
            peers.append(agent)
            feeding = asyncio.create_task(_feed(agent, tone_only(AGENT_HZ)))
            try:
                await agent.wait_tone(DOOR_HZ)  # the driver, heard by the agent
                await sip.door.wait_tone(AGENT_HZ)  # the agent, heard at the door
            finally:
                feeding.cancel()


@contextlib.asynccontextmanager
async def lane_file_door(centre: Centre, tmp_path: Path) -> AsyncIterator[DoorStation]:
    """``seat lane --config`` with a SIP door station as the intercom part, online at
    ``centre``; the door station it answers."""
    listen = free_udp_port()
    door = DoorStation(("127.0.0.1", listen), tone_hz=DOOR_HZ)
    await door.start()
    base = random.randrange(20_000, 60_000, 2)
    path = tmp_path / "L1.toml"
    path.write_text(
        f"""
[lane]
id = "L1"

[devices.door]
family = "sip"
intercom = "127.0.0.1:{door.port}"
listen = "127.0.0.1:{listen}"
rtp_ports = "{base}-{base + 40}"

[parts]
intercom = "door"
""",
        encoding="utf-8",
    )
    token = await centre.add_lane("L1")
    running = asyncio.create_task(
        run_lane(
            [centre.url],
            "L1",
            token,
            hardware=assemble(path),
            media=MediaChoice(camera=NONE, microphone=NONE, speaker=NONE),
        )
    )
    try:
        await centre.wait_status("L1", lambda status: status.online)
        yield door
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
        await door.close()


async def test_a_lane_file_s_sip_intercom_rings_the_seat_and_carries_the_voices(
    staffed: Centre, peers: list[ViewerPeer], tmp_path: Path
) -> None:
    """The door's call rings an agent's desk as the lane's call, and the agent who
    watches the lane hears the door and is heard there, through the lane the file
    describes."""
    async with lane_file_door(staffed, tmp_path) as door, desk(staffed, "alice") as alice:
        assert (await door.call()).status == 200
        ring = await alice.next("ring")
        assert ring["call"]["lane_id"] == "L1"
        async with staffed.client("alice") as client:
            agent = await watch(client, "L1", talk=True)
            peers.append(agent)
            feeding = asyncio.create_task(_feed(agent, tone_only(AGENT_HZ)))
            try:
                await agent.wait_tone(DOOR_HZ)
                await door.wait_tone(AGENT_HZ)
            finally:
                feeding.cancel()


async def test_the_agent_hanging_up_at_the_desk_hangs_up_the_door_station(
    staffed: Centre, peers: list[ViewerPeer], tmp_path: Path
) -> None:
    """The agent answers, watches and talks, then ends the call: the door station gets
    the lane's BYE in the call it made, and the console holds no call."""
    async with lane_file_door(staffed, tmp_path) as door, desk(staffed, "alice") as alice:
        answer = await door.call()
        call_id = (await alice.next("ring"))["call_id"]
        assert (await alice.post(f"/api/calls/{call_id}/accept")).status_code == 200
        async with staffed.client("alice") as client:
            agent = await watch(client, "L1", talk=True)
            peers.append(agent)
            await agent.wait_tone(DOOR_HZ)
        await agent.close()

        ended = await alice.post(f"/api/calls/{call_id}/end", {"category": "consultation"})
        assert ended.status_code == 200
        async with asyncio.timeout(10):
            await door.lane_hung_up.wait()
        [bye] = [message for message in door.received if message.method == "BYE"]
        assert bye.header("call-id") == answer.header("call-id")
        assert bye.header("from") == answer.header("to")
        open_calls = (await alice.client.get("/api/calls")).json()["calls"]
        assert [call["id"] for call in open_calls] == []


async def test_the_door_station_hanging_up_ends_the_call_at_the_desk(
    staffed: Centre, tmp_path: Path
) -> None:
    """The driver gives up: the door's BYE ends the lane's call at the console, answered
    or not, and the lane sends no BYE of its own back."""
    async with lane_file_door(staffed, tmp_path) as door, desk(staffed, "alice") as alice:
        assert (await door.call()).status == 200
        call_id = (await alice.next("ring"))["call_id"]
        assert (await door.hang_up()).status == 200
        await alice.call(call_id, "abandoned")

        assert (await door.call()).status == 200
        call_id = (await alice.next("ring"))["call_id"]
        assert (await alice.post(f"/api/calls/{call_id}/accept")).status_code == 200
        assert (await door.hang_up()).status == 200
        ended = await alice.call(call_id, "ended")
        assert ended["ending"] == "caller"
        assert [message for message in door.received if message.method == "BYE"] == []
