"""The OCR's second reading over HTTP: real lanes send their camera reads with real
snapshots, an agent asks for the reading, and the event, the lane's vehicles list and
the ledger show it, with the disagreement marked where the camera misread. The model is
loaded once for the module and lent to each test's centre."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from console.errors import Conflict, NotFound
from console.ledger import AuditAction, AuditEntry, AuditRecord
from console.models import Direction
from console.settings import Settings
from console.sqlite_store import SQLiteStore
from console.vehicles.model import Reading, Recorded, VehicleEvent
from gates.vocabulary import PlateColour
from media.plates.crop import Image
from media.plates.ocr import PlateReader
from media.plates.reading import PlateReading
from tests.conftest import Centre, LaneFactory
from tests.lanes import AT, seen
from tests.tables import allow_ledger_inserts
from tests.tables import kept as kept_rows
from tests.test_api import refuse_ledger_inserts
from tests.test_plate_correction import MISREAD, RIGHT, entered_and_misread_exit
from tests.test_vehicle_records import next_recorded, recorded
from tests.test_vehicle_store import event as vehicle


class HeldReader(PlateReader):
    """The module's model behind a gate the test opens: each read says it began, then
    waits for the gate, so a test holds the OCR's one thread as long as it needs."""

    def __init__(self, model: PlateReader) -> None:
        super().__init__()
        self.model = model
        self.began = threading.Semaphore(0)
        self.gate = threading.Event()
        self.reads = 0

    def read(self, plate: Image) -> PlateReading:
        self.reads += 1
        self.began.release()
        if not self.gate.wait(30):
            raise TimeoutError("the test never opened the gate")
        return self.model.read(plate)

    async def wait_began(self) -> None:
        if not await asyncio.to_thread(self.began.acquire, True, 10):
            raise TimeoutError("no read began")


@pytest.fixture(scope="module")
def model() -> Iterator[PlateReader]:
    yield PlateReader()


@pytest.fixture
def held(staffed: Centre, model: PlateReader) -> Iterator[HeldReader]:
    reader = HeldReader(model)
    staffed.readings.reader = reader
    yield reader
    reader.gate.set()


@pytest.fixture
def reading(staffed: Centre, held: HeldReader) -> Centre:
    """The staffed centre reading with the module's model, the gate open."""
    held.gate.set()
    return staffed


async def ledgered(centre: Centre) -> list[AuditEntry]:
    return [e async for e in centre.store.iter_audit() if e.action is AuditAction.PLATE_READ]


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert (response.status_code, response.json()["error"]) == (status, code), response.text
    body: dict[str, Any] = response.json()
    return body


async def cars_out(centre: Centre, lanes: LaneFactory, *plates: str) -> list[Recorded]:
    """Each of ``plates`` read right at the exit P1-OUT, one car after another."""
    lane = await lanes("P1-OUT")
    out = []
    async with recorded(centre) as done:
        for plate in plates:
            lane.driver.emit(seen(plate))
            out.append(await next_recorded(done))
    return out


# ------------------------------------------------------------------ readings


async def test_the_reading_of_a_misread_exit_is_kept_marked_and_ledgered(
    reading: Centre, lanes: LaneFactory
) -> None:
    """The camera read 粤B1Z345; the OCR reads the picture's 粤B12345, and the event is
    marked in its answer and in the lane's list."""
    _, left = await entered_and_misread_exit(reading, lanes)
    async with reading.client("alice") as client:
        [before] = (await client.get("/api/lanes/P1-OUT/vehicles")).json()["vehicles"]
        assert (before["reading"], before["reading_disagrees"]) == (None, False)
        response = await client.post(f"/api/vehicles/{left.event_id}/reading")
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["plate"] == MISREAD
        assert (body["reading"]["plate"], body["reading"]["plate_valid"]) == (RIGHT, True)
        assert 0.5 <= body["reading"]["confidence"] <= 1.0
        assert body["reading_disagrees"] is True
        [listed] = (await client.get("/api/lanes/P1-OUT/vehicles")).json()["vehicles"]
        assert (listed["reading"], listed["reading_disagrees"]) == (body["reading"], True)
    [entry] = await ledgered(reading)
    assert (entry.actor, entry.lane) == ("alice", "P1-OUT")
    detail = entry.detail
    assert (detail["event"], detail["plate"], detail["read_plate"]) == (
        left.event_id,
        MISREAD,
        RIGHT,
    )
    assert (detail["disagrees"], detail["confidence"]) == (True, body["reading"]["confidence"])
    kept = await reading.store.vehicle(left.event_id)
    assert kept is not None and kept.event.reading is not None
    assert kept.event.reading.plate.plate == RIGHT


async def test_a_reading_that_agrees_with_the_camera_leaves_the_event_unmarked(
    reading: Centre, lanes: LaneFactory
) -> None:
    [car] = await cars_out(reading, lanes, "粤BD12345")
    async with reading.client("bob") as client:
        body = (await client.post(f"/api/vehicles/{car.event_id}/reading")).json()
    assert (body["reading"]["plate"], body["reading_disagrees"]) == ("粤BD12345", False)


async def test_asking_again_answers_the_kept_reading_without_reading_again(
    reading: Centre, lanes: LaneFactory, held: HeldReader
) -> None:
    [car] = await cars_out(reading, lanes, RIGHT)
    async with reading.client("alice") as client:
        first = (await client.post(f"/api/vehicles/{car.event_id}/reading")).json()
    async with reading.client("bob") as client:
        again = (await client.post(f"/api/vehicles/{car.event_id}/reading")).json()
    assert again == first
    assert held.reads == 1
    assert [entry.actor for entry in await ledgered(reading)] == ["alice"]


async def test_two_asking_at_once_share_one_read(
    staffed: Centre, lanes: LaneFactory, held: HeldReader
) -> None:
    """The second ask, made while the first is on the model, waits for it: one read,
    one ledger entry, the same answer to both."""
    [car] = await cars_out(staffed, lanes, RIGHT)
    alice, bob = await staffed.store.get_user("alice"), await staffed.store.get_user("bob")
    assert alice is not None and bob is not None
    first = asyncio.create_task(staffed.readings.read(alice, car.event_id, "127.0.0.1"))
    await held.wait_began()
    second = asyncio.create_task(staffed.readings.read(bob, car.event_id, "127.0.0.1"))
    await asyncio.sleep(0)  # one turn of the loop: the second ask's first step runs
    assert staffed.readings.admitted == 1 and not second.done()
    held.gate.set()
    assert await first == await second
    assert held.reads == 1
    assert [entry.actor for entry in await ledgered(staffed)] == ["alice"]


@pytest.mark.parametrize("settings", [{"ocr_queue": 1}], indirect=True)
async def test_a_storm_of_asks_is_refused_beyond_the_queue_not_queued(
    staffed: Centre, lanes: LaneFactory, held: HeldReader
) -> None:
    """One read on the model and one waiting: asks for three more events are refused
    at once with 503 and when to try again, and none of them is read."""
    plates = ["粤B12345", "粤B22345", "粤B32345", "粤B42345", "粤B52345"]
    cars = await cars_out(staffed, lanes, *plates)
    async with staffed.client("alice") as client:

        def ask(car: Recorded) -> asyncio.Task[httpx.Response]:
            return asyncio.create_task(client.post(f"/api/vehicles/{car.event_id}/reading"))

        on_model = ask(cars[0])
        await held.wait_began()
        rest = [ask(car) for car in cars[1:]]
        refusals: set[asyncio.Task[httpx.Response]] = set()
        while len(refusals) < 3:  # the one admitted cannot answer while the gate is shut
            done, _ = await asyncio.wait(
                set(rest) - refusals, timeout=20, return_when=asyncio.FIRST_COMPLETED
            )
            assert done, "the refusals never came"
            refusals |= done
        for task in refusals:
            response = task.result()
            body = refused(response, 503, "reader_busy")
            assert int(response.headers["Retry-After"]) == body["retry_after"] >= 1
        held.gate.set()
        [waited] = [task for task in rest if task not in refusals]
        answers = [await on_model, await waited]
    assert [answer.status_code for answer in answers] == [200, 200]
    assert held.reads == 2
    read = {answer.json()["event_id"] for answer in answers}
    assert len(await ledgered(staffed)) == 2
    for car in cars:
        kept = await staffed.store.vehicle(car.event_id)
        assert kept is not None
        assert (kept.event.reading is not None) == (car.event_id in read)


# ------------------------------------------------------------------ bad asks


async def test_an_unknown_event_or_one_retention_pruned_is_404_and_reads_nothing(
    reading: Centre, lanes: LaneFactory, held: HeldReader
) -> None:
    [pruned] = await cars_out(reading, lanes, RIGHT)
    await reading.store.forget_snapshots("snapshots/9999-12-31")
    async with reading.client("alice") as client:
        for event_id, code in (
            ("nope", "unknown_vehicle"),
            ("x" * 300, "unknown_vehicle"),
            (pruned.event_id, "no_snapshot"),
        ):
            refused(await client.post(f"/api/vehicles/{event_id}/reading"), 404, code)
    assert (held.reads, await ledgered(reading)) == (0, [])


async def test_a_snapshot_with_no_plate_in_it_is_404_and_keeps_no_reading(
    reading: Centre, lanes: LaneFactory, held: HeldReader
) -> None:
    """No box and nothing like a plate in the picture: nothing for the model to read."""
    ok, grey = cv2.imencode(".jpg", np.full((360, 640, 3), 128, np.uint8))
    assert ok
    lane = await lanes("P1-OUT")
    async with recorded(reading) as done:
        lane.driver.emit(replace(seen(RIGHT), box=(0, 0, 0, 0), snapshot_jpeg=grey.tobytes()))
        blank = await next_recorded(done)
    async with reading.client("alice") as client:
        response = await client.post(f"/api/vehicles/{blank.event_id}/reading")
    refused(response, 404, "no_plate")
    kept = await reading.store.vehicle(blank.event_id)
    assert kept is not None and kept.event.reading is None
    assert (held.reads, await ledgered(reading)) == (0, [])


async def test_a_reading_needs_a_login_its_csrf_token_and_a_post(
    reading: Centre, lanes: LaneFactory, held: HeldReader
) -> None:
    [car] = await cars_out(reading, lanes, RIGHT)
    path = f"/api/vehicles/{car.event_id}/reading"
    async with reading.client() as anonymous:
        refused(await anonymous.post(path), 401, "not_authenticated")
    async with reading.client("alice") as client:
        refused(await client.get(path), 405, "method_not_allowed")
        del client.headers["X-CSRF-Token"]
        refused(await client.post(path), 403, "csrf")
    assert (held.reads, await ledgered(reading)) == (0, [])
    kept = await reading.store.vehicle(car.event_id)
    assert kept is not None and kept.event.reading is None


async def test_a_reading_the_ledger_cannot_hold_keeps_none_and_is_read_again_later(
    reading: Centre, lanes: LaneFactory, held: HeldReader
) -> None:
    """No audit, no reading: 503 ``audit_failed``, the event without one, and the next
    ask (the disk has room again) reads it afresh."""
    [car] = await cars_out(reading, lanes, RIGHT)
    refuse_ledger_inserts(reading, AuditAction.PLATE_READ)
    before = kept_rows(reading)
    async with reading.client("alice") as client:
        refused(await client.post(f"/api/vehicles/{car.event_id}/reading"), 503, "audit_failed")
        assert kept_rows(reading) == before
        allow_ledger_inserts(reading)
        again = await client.post(f"/api/vehicles/{car.event_id}/reading")
    assert again.status_code == 200 and again.json()["reading"]["plate"] == RIGHT
    assert held.reads == 2
    assert [entry.actor for entry in await ledgered(reading)] == ["alice"]


# ------------------------------------------------------------------ the store


def read_entry(event_id: str) -> AuditRecord:
    return AuditRecord(actor="alice", action=AuditAction.PLATE_READ, detail={"event": event_id})


async def test_the_store_keeps_a_reading_once_with_its_entry(store: SQLiteStore) -> None:
    """Read back as kept; a second reading is refused, and so is its entry."""
    await store.record_vehicle(vehicle("out", Direction.EXIT, plate=MISREAD))
    kept = Reading(PlateReading(RIGHT, 0.987), AT)
    [entry] = await store.keep_reading(read_entry("out"), "out", kept)
    assert entry.action is AuditAction.PLATE_READ
    record = await store.vehicle("out")
    assert record is not None and record.event.reading == kept
    assert record.event.reading_disagrees
    with pytest.raises(Conflict) as refused_twice:
        await store.keep_reading(read_entry("out"), "out", Reading(PlateReading("", 0.0), AT))
    assert refused_twice.value.code == "already_read"
    with pytest.raises(NotFound) as unknown:
        await store.keep_reading(read_entry("nope"), "nope", kept)
    assert unknown.value.code == "unknown_vehicle"
    assert [e.action async for e in store.iter_audit()] == [AuditAction.PLATE_READ]
    record = await store.vehicle("out")
    assert record is not None and record.event.reading == kept


# ------------------------------------------------------------------ the mark


@pytest.mark.parametrize(
    ("camera", "read", "disagrees"),
    [
        ("粤B1Z345", "粤B12345", True),
        ("粤b·12345", "粤B12345", False),  # the camera's spelling, the same plate
        ("", "粤B12345", True),  # the camera read nothing, the OCR a plate
        ("粤B12345", "", False),  # the OCR read nothing: it says nothing
        ("京A1234警", "京A1234窖", True),
    ],
)
def test_an_event_is_marked_where_the_ocr_read_another_plate(
    camera: str, read: str, disagrees: bool
) -> None:
    event = VehicleEvent(
        "e1", "P1-OUT", "人民路停车场", Direction.EXIT, AT, AT, camera,
        PlateColour.BLUE, 0.9, (0, 0, 0, 0), None,
    )  # fmt: skip
    assert not event.reading_disagrees
    confidence = 0.9 if read else 0.0
    reading = Reading(PlateReading(read, confidence), AT)
    assert replace(event, reading=reading).reading_disagrees is disagrees


# ------------------------------------------------------------------ settings


def test_the_queue_and_threads_are_settings_with_a_floor() -> None:
    """Four may wait on one thread by default; no queue is allowed, no thread is not."""
    default = Settings.from_env({})
    assert (default.ocr_queue, default.ocr_threads) == (4, 1)
    changed = Settings.from_env({"SEAT_OCR_QUEUE": "0", "SEAT_OCR_THREADS": "2"})
    assert (changed.ocr_queue, changed.ocr_threads) == (0, 2)
    for bad, message in (
        ({"SEAT_OCR_QUEUE": "-1"}, "SEAT_OCR_QUEUE must be at least 0"),
        ({"SEAT_OCR_QUEUE": "lots"}, "SEAT_OCR_QUEUE must be a number"),
        ({"SEAT_OCR_QUEUE": "1.5"}, "SEAT_OCR_QUEUE must be a number"),
        ({"SEAT_OCR_THREADS": "0"}, "SEAT_OCR_THREADS must be at least 1"),
        ({"SEAT_OCR_THREADS": ""}, "SEAT_OCR_THREADS must be a number"),
    ):
        with pytest.raises(ValueError, match=message):
            Settings.from_env(bad)
