"""Lane events end to end: from the lane's driver to what the console's API shows."""

from __future__ import annotations

import json
import logging
import re

import pytest
from websockets.asyncio.client import connect

from console.models import Role
from gates.lane.drivers import CallPressed, FaultRaised
from tests.conftest import Centre, LaneFactory, lane_behind_proxy
from tests.lanes import seen
from tests.pictures import decoded


async def test_vehicle_shows_in_the_lane_list_with_its_snapshot(
    centre: Centre, lanes: LaneFactory
) -> None:
    """The plate, colour, time and box are listed; the snapshot decodes as the same image."""
    await centre.add_user("alice", Role.AGENT)
    lane = await lanes("P1-OUT")
    event = seen()
    lane.driver.emit(event)
    await centre.wait_status("P1-OUT", lambda s: s.last_vehicle is not None)
    async with centre.client("alice") as client:
        listed = (await client.get("/api/lanes")).json()["lanes"][0]["last_vehicle"]
        response = await client.get("/api/lanes/P1-OUT/snapshot")
    assert listed == {
        "plate": "粤B12345",
        "plate_colour": "blue",
        "confidence": 0.97,
        "at": "2026-11-23T11:32:04.123Z",
        "box": list(event.box),
        "plate_valid": True,
    }
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == event.snapshot_jpeg
    image = decoded(response.content)
    assert image.shape == (360, 640, 3)


async def test_misread_plate_is_flagged_invalid(centre: Centre, lanes: LaneFactory) -> None:
    """A read that breaks GA 36 is shown as such, for the agent to correct."""
    lane = await lanes("P1-OUT")
    lane.driver.emit(seen(plate="粤BI2345", confidence=0.41))
    status = await centre.wait_status("P1-OUT", lambda s: s.last_vehicle is not None)
    assert status.to_json()["last_vehicle"]["plate_valid"] is False


async def test_call_button_and_fault_reach_the_lane_status(
    centre: Centre, lanes: LaneFactory
) -> None:
    """A call is timestamped; a fault shows until the lane clears it."""
    lane = await lanes("P1-OUT")
    lane.driver.emit(CallPressed())
    await centre.wait_status("P1-OUT", lambda s: s.last_call_at is not None)
    lane.driver.emit(FaultRaised("gate_motor", "motor current high"))
    status = await centre.wait_status("P1-OUT", lambda s: bool(s.faults))
    fault = status.to_json()["fault"]
    assert (fault["code"], fault["detail"]) == ("gate_motor", "motor current high")
    lane.driver.emit(FaultRaised("gate_motor", "", active=False))
    await centre.wait_status("P1-OUT", lambda s: not s.faults)


async def test_lane_logs_each_press_with_its_event_id(
    centre: Centre, lanes: LaneFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The lane's log names the press the call carries, when it is pressed."""
    lane = await lanes("P1-OUT")
    with caplog.at_level(logging.INFO, logger="seat.lane"):
        lane.driver.emit(CallPressed())
    [pressed] = [r.getMessage() for r in caplog.records if "lane.call.pressed" in r.getMessage()]
    assert re.fullmatch(r"lane\.call\.pressed lane=P1-OUT event_id=[0-9a-f]{32}", pressed)


async def test_bare_call_of_an_older_lane_still_flags_the_lane_calling(centre: Centre) -> None:
    """A lane that names no press is shown calling as before event ids."""
    await centre.add_user("alice", Role.AGENT)
    token = await centre.add_lane("P1-OUT")
    async with connect(centre.link) as ws:
        await ws.send(json.dumps({"type": "hello", "v": 1, "lane": "P1-OUT", "token": token}))
        assert json.loads(await ws.recv())["type"] == "welcome"
        await ws.send('{"type":"call"}')
        await centre.wait_status("P1-OUT", lambda s: s.last_call_at is not None)
        async with centre.client("alice") as client:
            [listed] = (await client.get("/api/lanes")).json()["lanes"]
    assert listed["last_call_at"] is not None


async def test_standing_fault_is_shown_again_after_a_link_blip(centre: Centre) -> None:
    """The centre forgets a lane's faults when its link drops; the lane tells it again."""
    async with lane_behind_proxy(centre) as (driver, proxy):
        driver.emit(FaultRaised("camera_dirty", "lens dirty"))
        await centre.wait_status("P1-OUT", lambda s: bool(s.faults))
        await proxy.cut()
        await centre.wait_status("P1-OUT", lambda s: not s.online and not s.faults)
        status = await centre.wait_status("P1-OUT", lambda s: s.online and bool(s.faults))
        assert status.faults[0].code == "camera_dirty"
