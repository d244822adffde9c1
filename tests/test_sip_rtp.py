"""A call's RTP at the lane, over real UDP: a stranger on the LAN who sends RTP to the
call's port is not heard, and an intercom that vanishes mid-call without BYE has its
call ended when its RTP stops."""

from __future__ import annotations

import asyncio

import numpy as np

from gates.lane.drivers import CallPressed
from media.lane.tones import RATE
from tests.emulators.sip_intercom import SipIntercom as DoorStation
from tests.emulators.sip_intercom import media_of
from tests.test_sip_intercom import DOOR_HZ, lane_with_door, microphone_pcm, peak_hz, talk

STRANGER_HZ = 1500.0


async def test_rtp_from_another_address_never_reaches_the_microphone() -> None:
    async with lane_with_door() as lane:
        lane.door.silence = True  # the driver says nothing: whatever is heard is the stranger
        answer = await lane.door.call()
        host, port, _ = media_of(answer.body)
        stranger = DoorStation(lane.door.lane, host="127.0.0.2", tone_hz=STRANGER_HZ)
        await stranger.start()
        try:
            await stranger.send_rtp((host, port))
            heard = (await microphone_pcm(lane.device, 50)).astype(np.float64) / 32768.0
        finally:
            await stranger.close()
    # A second of the call, the stranger's tone sent into it all along: silence.
    assert np.sqrt(np.mean(heard**2)) < 0.01


async def test_the_intercom_is_heard_while_a_stranger_sends_too() -> None:
    async with lane_with_door() as lane:
        answer = await lane.door.call()
        host, port, _ = media_of(answer.body)
        stranger = DoorStation(lane.door.lane, host="127.0.0.2", tone_hz=STRANGER_HZ)
        await stranger.start()
        try:
            await stranger.send_rtp((host, port))
            heard = await microphone_pcm(lane.device, 40)
        finally:
            await stranger.close()
    assert abs(peak_hz(heard[RATE // 10 :], RATE) - DOOR_HZ) < 10


async def test_an_intercom_gone_without_bye_has_its_call_ended_when_its_rtp_stops() -> None:
    async with lane_with_door(rtp_timeout_s=1.0) as lane:
        assert (await lane.door.call()).status == 200
        lane.door.vanish()
        async with asyncio.timeout(10):
            await lane.door.lane_hung_up.wait()  # the lane's BYE, as if to a deaf station
        # The call's audio is gone, as after a BYE: what the agent says goes nowhere.
        dropped = lane.device.audio.dropped
        talk(lane.device, 0.2)
        assert lane.device.audio.dropped > dropped
        # And the station, back, rings again with a new call.
        assert (await lane.door.call()).status == 200
        await lane.events.wait(lambda event: isinstance(event, CallPressed), count=2)
