"""Vehicle events end to end: a real lane's camera read goes over the real lane link
and lands as an event, a snapshot file and a stay, read back over HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from websockets.asyncio.client import ClientConnection, connect

from console.models import Direction
from console.vehicles.model import Recorded
from gates.protocol import Vehicle
from tests.conftest import Centre, LaneFactory
from tests.lanes import AT, seen


@asynccontextmanager
async def recorded(centre: Centre) -> AsyncIterator[asyncio.Queue[Recorded]]:
    """Each event the centre records, as it is recorded."""
    done: asyncio.Queue[Recorded] = asyncio.Queue()
    unsubscribe = centre.vehicles.subscribe(done.put_nowait)
    try:
        yield done
    finally:
        unsubscribe()


async def next_recorded(done: asyncio.Queue[Recorded]) -> Recorded:
    async with asyncio.timeout(10):
        return await done.get()


async def test_an_entry_and_its_exit_land_as_events_snapshots_and_one_stay(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Each lane lists its car newest first with a snapshot URL serving the camera's
    JPEG; the entry's stay is the one the exit closed."""
    await staffed.add_lane("P1-IN", Direction.ENTRY)
    entry_lane, exit_lane = await lanes("P1-IN"), await lanes("P1-OUT")
    read = seen("粤B12345")
    async with recorded(staffed) as done:
        entry_lane.driver.emit(read)
        entered = await next_recorded(done)
        exit_lane.driver.emit(read)
        left = await next_recorded(done)
    assert (entered.change.value, left.change.value) == ("opened", "closed")
    assert left.stay_id == entered.stay_id
    async with staffed.client("alice") as client:
        [listed] = (await client.get("/api/lanes/P1-IN/vehicles")).json()["vehicles"]
        assert listed["event_id"] == entered.event_id
        assert (listed["plate"], listed["plate_valid"], listed["direction"]) == (
            "粤B12345",
            True,
            "entry",
        )
        assert (listed["at"], listed["box"]) == ("2026-11-23T11:32:04.123Z", list(read.box))
        assert (listed["stay_change"], listed["stay_state"]) == ("opened", "exited")
        snapshot = await client.get(listed["snapshot_url"])
        assert snapshot.headers["content-type"] == "image/jpeg"
        assert snapshot.content == read.snapshot_jpeg
        [out] = (await client.get("/api/lanes/P1-OUT/vehicles")).json()["vehicles"]
        assert (out["stay_id"], out["stay_change"]) == (entered.stay_id, "closed")
    files = list((staffed.settings.data_dir / "snapshots").glob("*/*.jpg"))
    assert sorted(path.name for path in files) == sorted(
        f"{event_id}.jpg" for event_id in (entered.event_id, left.event_id)
    )
    assert await staffed.store.open_stays() == []


async def test_repeated_reads_of_one_car_at_a_lane_are_one_event(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Three reads of one plate in a row are recorded once; the next car is its own."""
    lane = await lanes("P1-OUT")
    async with recorded(staffed) as done:
        for _ in range(3):
            lane.driver.emit(seen("粤B12345"))
        lane.driver.emit(seen("粤B67890"))
        first, second = await next_recorded(done), await next_recorded(done)
    async with staffed.client("alice") as client:
        listed = (await client.get("/api/lanes/P1-OUT/vehicles?limit=10")).json()["vehicles"]
    assert [item["event_id"] for item in listed] == [second.event_id, first.event_id]
    assert [item["plate"] for item in listed] == ["粤B67890", "粤B12345"]
    assert [item["stay_change"] for item in listed] == ["no_entry", "no_entry"]


@asynccontextmanager
async def raw_lane(centre: Centre, lane_id: str) -> AsyncIterator[ClientConnection]:
    """A lane speaking the link by hand, to send events with the ids it chooses."""
    token = await centre.add_lane(lane_id)
    async with connect(centre.link) as ws:
        await ws.send(json.dumps({"type": "hello", "v": 1, "lane": lane_id, "token": token}))
        assert json.loads(await ws.recv())["type"] == "welcome"
        yield ws


def vehicle(event_id: str, plate: str) -> Vehicle:
    read = seen(plate)
    return Vehicle(
        event_id=event_id,
        at=AT,
        plate=plate,
        plate_colour=read.plate_colour,
        confidence=read.confidence,
        box=read.box,
        snapshot=read.snapshot_jpeg,
    )


@pytest.mark.parametrize("settings", [{"vehicle_repeat_s": 0.0}], indirect=True)
async def test_an_event_sent_again_after_a_reconnect_is_one_event(staffed: Centre) -> None:
    """Even with no repeat window, the event id makes the second sending the same event."""
    message = vehicle("ev-1", "粤B12345")
    async with recorded(staffed) as done:
        async with raw_lane(staffed, "P1-OUT") as ws:
            await ws.send(message.encode())
            first = await next_recorded(done)
        async with connect(staffed.link) as ws:
            token = staffed.tokens["P1-OUT"]
            await ws.send(json.dumps({"type": "hello", "v": 1, "lane": "P1-OUT", "token": token}))
            assert json.loads(await ws.recv())["type"] == "welcome"
            await ws.send(message.encode())
            again = await next_recorded(done)
    assert (first.new, again.new) == (True, False)
    assert again.stay_id == first.stay_id
    assert len(await staffed.store.lane_vehicles("P1-OUT", 10)) == 1


async def test_an_event_that_cannot_be_written_is_logged_and_the_link_goes_on(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """With the snapshots' directory unusable the event is lost, said so in the log,
    and the lane stays connected; the next car, once the disk is back, is recorded."""
    lane = await lanes("P1-OUT")
    blocked = staffed.settings.data_dir / "snapshots"
    blocked.write_text("not a directory")
    failed = asyncio.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("vehicles.event.unrecorded lane=P1-OUT"):
                failed.set()

    watch = Watch(logging.ERROR)
    logging.getLogger("seat.vehicles").addHandler(watch)
    try:
        async with recorded(staffed) as done:
            lane.driver.emit(seen("粤B12345"))
            async with asyncio.timeout(10):
                await failed.wait()
            blocked.unlink()
            lane.driver.emit(seen("粤B67890"))
            later = await next_recorded(done)
    finally:
        logging.getLogger("seat.vehicles").removeHandler(watch)
    assert lane.agent.connected.is_set() and staffed.hub.status("P1-OUT").online
    listed = await staffed.store.lane_vehicles("P1-OUT", 10)
    assert [(r.event.event_id, r.event.plate) for r in listed] == [(later.event_id, "粤B67890")]


async def test_bad_requests_are_refused_with_their_codes(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Unknown ids 404, limits outside 1-200 or not integers 400, no login 401."""
    await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        for path, status, code in (
            ("/api/vehicles/nope/snapshot", 404, "unknown_vehicle"),
            ("/api/lanes/NOPE/vehicles", 404, "unknown_lane"),
            ("/api/lanes/P1-OUT/vehicles?limit=0", 400, "bad_request"),
            ("/api/lanes/P1-OUT/vehicles?limit=201", 400, "bad_request"),
            ("/api/lanes/P1-OUT/vehicles?limit=99999999999999999999", 400, "bad_request"),
            ("/api/lanes/P1-OUT/vehicles?limit=ten", 400, "bad_request"),
            ("/api/lanes/P1-OUT/vehicles?limit=1.5", 400, "bad_request"),
        ):
            response = await client.get(path)
            assert (response.status_code, response.json()["error"]) == (status, code), path
        listed = await client.get("/api/lanes/P1-OUT/vehicles?limit=200")
        assert listed.json() == {"vehicles": []}
    async with staffed.client() as anonymous:
        for path in ("/api/lanes/P1-OUT/vehicles", "/api/vehicles/nope/snapshot"):
            response = await anonymous.get(path)
            assert (response.status_code, response.json()["error"]) == (
                401,
                "not_authenticated",
            )


async def test_a_pruned_snapshot_is_gone_but_its_event_is_listed(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """After retention the event stays, its ``snapshot_url`` null, the URL 404."""
    lane = await lanes("P1-OUT")
    async with recorded(staffed) as done:
        lane.driver.emit(seen("粤B12345"))
        event = await next_recorded(done)
    record = await staffed.store.vehicle(event.event_id)
    assert record is not None and record.event.snapshot is not None
    day = record.event.snapshot.split("/")[1]
    await staffed.store.forget_snapshots(f"snapshots/{day}/~")
    async with staffed.client("alice") as client:
        [listed] = (await client.get("/api/lanes/P1-OUT/vehicles")).json()["vehicles"]
        assert listed["snapshot_url"] is None
        response = await client.get(f"/api/vehicles/{event.event_id}/snapshot")
        assert (response.status_code, response.json()["error"]) == (404, "no_snapshot")
