"""A SIP intercom's call, end to end: the emulated door station calls the lane, the lane
agent's media connection carries the call to a real centre, and an agent's browser
peer (aiortc) hears the door station while the door station hears the agent."""

from __future__ import annotations

import asyncio
from typing import NoReturn

from gates.hardware.parts import LaneAudio
from media.lane.runner import NONE, MediaChoice, publisher
from tests.conftest import Centre, LaneFactory
from tests.test_media_live import _feed, tone_only
from tests.test_sip_intercom import AGENT_HZ, DOOR_HZ, lane_with_door
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
