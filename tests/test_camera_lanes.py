"""Hikvision and Dahua cameras' lanes, end to end: a lane file names the emulated camera,
the lane built from it links to a real centre, and what the camera sees and does is
what an agent at the console sees and does: the plate and its snapshot, the open and
what the camera could confirm of it, the camera unplugged and plugged back."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from console.ledger import AuditAction
from gates.hardware.assembly import NO_SENSOR
from gates.vocabulary import PlateColour
from tests.camera_lanes import dahua_lane, hikvision_lane
from tests.conftest import Centre
from tests.desks import Desk, Message, desk
from tests.emulators.dahua import DahuaCamera
from tests.emulators.digest import Fault
from tests.emulators.hikvision import Car, HikvisionCamera, car

LANE = "P1-IN"
FAMILIES = ["hikvision", "dahua"]


@dataclass
class Camera:
    emulated: HikvisionCamera | DahuaCamera
    see: Callable[[Car], Awaitable[None]]  # a car in front of it, as the family tells it


@contextlib.asynccontextmanager
async def camera_at(
    family: str,
    centre: Centre,
    tmp_path: Path,
    *,
    locked: bool = False,
    reports_barrier: bool = True,
) -> AsyncIterator[Camera]:
    token = await centre.add_lane(LANE)
    if family == "hikvision":
        hik = HikvisionCamera(locked=locked, reports_barrier=reports_barrier)
        async with hikvision_lane(centre.link, LANE, token, tmp_path, hik, 0.2) as lane:

            async def push(seen: Car) -> None:
                assert await hik.push(lane.push_url, seen) == 200

            yield Camera(hik, push)
    else:
        dahua = DahuaCamera()
        async with dahua_lane(centre.link, LANE, token, tmp_path, dahua):

            async def stream(seen: Car) -> None:
                dahua.see(seen, colour=seen.colour.capitalize())

            yield Camera(dahua, stream)


def lane_row(check: Callable[[Message], bool]) -> Callable[[Message], bool]:
    return lambda m: m["lane"]["id"] == LANE and check(m["lane"])


async def plate_shown(alice: Desk, plate: str) -> Message:
    """The console's lane row's vehicle once it is ``plate``."""
    shown = await alice.next(
        "lane", lane_row(lambda r: (r["last_vehicle"] or {}).get("plate") == plate)
    )
    vehicle: Message = shown["lane"]["last_vehicle"]
    return vehicle


async def opened(alice: Desk) -> Message:
    response = await alice.post(f"/api/lanes/{LANE}/open", {"reason": "paid_not_lifted"})
    assert response.status_code == 200
    body: Message = response.json()
    return body


@pytest.mark.parametrize("family", FAMILIES)
async def test_a_car_at_the_camera_is_on_the_console_with_its_snapshot(
    staffed: Centre, tmp_path: Path, family: str
) -> None:
    seen = car("苏E12345", PlateColour.YELLOW, confidence=91)
    async with camera_at(family, staffed, tmp_path) as camera, desk(staffed, "alice") as alice:
        await camera.see(seen)
        vehicle = await plate_shown(alice, "苏E12345")
        # Dahua says 91 % as 232 on its 0-255 scale: 0.91 to two places.
        assert (vehicle["plate_colour"], round(vehicle["confidence"], 2)) == ("yellow", 0.91)
        picture = await alice.client.get(f"/api/lanes/{LANE}/snapshot")
        assert picture.status_code == 200 and picture.content == seen.jpeg


async def test_a_hikvision_open_is_done_once_the_camera_reads_the_arm_up(
    staffed: Centre, tmp_path: Path
) -> None:
    async with camera_at("hikvision", staffed, tmp_path) as camera, desk(staffed, "alice") as alice:
        hik = camera.emulated
        assert isinstance(hik, HikvisionCamera)
        done = await opened(alice)
        # barrierGateStatus read the arm up: confirmed, nothing left unsaid.
        assert done["outcome"] == "done" and "detail" not in done
        assert (hik.opens, hik.barrier) == (1, 2)
        await alice.next("lane", lane_row(lambda r: r["gate"] == "up"))


async def test_a_hikvision_model_without_barrier_status_opens_as_one_without_a_sensor(
    staffed: Centre, tmp_path: Path
) -> None:
    async with (
        camera_at("hikvision", staffed, tmp_path, reports_barrier=False) as camera,
        desk(staffed, "alice") as alice,
    ):
        hik = camera.emulated
        assert isinstance(hik, HikvisionCamera)
        # barrierGateStatus answers notSupport: the camera's OK is all there is to say.
        done = await opened(alice)
        assert (done["outcome"], done["detail"]) == ("done", NO_SENSOR)
        await camera.see(car("粤B12345", PlateColour.BLUE))
        await plate_shown(alice, "粤B12345")
        lanes = (await alice.client.get("/api/lanes")).json()["lanes"]
        assert [each["faults"] for each in lanes if each["id"] == LANE] == [[]]
    assert (hik.opens, hik.status_reads) == (1, 1)


async def test_a_dahua_open_is_done_saying_the_arm_was_not_reported(
    staffed: Centre, tmp_path: Path
) -> None:
    async with camera_at("dahua", staffed, tmp_path) as camera, desk(staffed, "alice") as alice:
        assert isinstance(camera.emulated, DahuaCamera)
        done = await opened(alice)
        assert camera.emulated.strobes == 1
        # openStrobe's OK is all the camera says: done, and the detail says the arm is
        # not known to have risen.
        assert (done["outcome"], done["detail"]) == ("done", NO_SENSOR)


async def test_a_locked_barrier_takes_the_open_and_the_lane_refuses_it_as_not_moved(
    staffed: Centre, tmp_path: Path
) -> None:
    async with (
        camera_at("hikvision", staffed, tmp_path, locked=True) as camera,
        desk(staffed, "alice") as alice,
        staffed.client("sue") as sue,
    ):
        hik = camera.emulated
        assert isinstance(hik, HikvisionCamera)
        refused = await opened(alice)
        assert refused | {"command_id": ""} == {
            "command_id": "",
            "outcome": "refused",
            "detail": "gate_did_not_move",
        }
        assert (hik.opens, hik.barrier) == (1, 1)  # the camera said OK; the arm stayed down
        entries = (await sue.get("/api/audit", params={"limit": 5})).json()["entries"]
        lanes = (await alice.client.get("/api/lanes")).json()["lanes"]
    assert [each["gate"] for each in lanes if each["id"] == LANE] == ["down"]
    ended = next(e for e in entries if e["action"] == AuditAction.GATE_OPEN_OUTCOME)
    assert (ended["command_id"], ended["outcome"]) == (refused["command_id"], "refused")
    assert ended["detail"]["detail"] == "gate_did_not_move"


@pytest.mark.parametrize(
    ("fault", "shown"),
    [
        ("drip", "no answer from"),
        ("huge", "with more than 1024 KiB"),
        ("gzip", "compressed (gzip)"),
    ],
)
@pytest.mark.parametrize("family", FAMILIES)
async def test_a_camera_answering_a_byte_at_a_time_or_without_end_refuses_the_open(
    staffed: Centre, tmp_path: Path, family: str, fault: Fault, shown: str
) -> None:
    async with camera_at(family, staffed, tmp_path) as camera, desk(staffed, "alice") as alice:
        await camera.see(car("粤B12345", PlateColour.BLUE))
        await plate_shown(alice, "粤B12345")  # the camera answers as it should
        camera.emulated.fault = fault
        refused = await opened(alice)
        assert (refused["outcome"], refused["detail"]) == ("refused", "camera_unreachable")
        row = await alice.next("lane", lane_row(lambda r: bool(r["faults"])))
        [raised] = row["lane"]["faults"]
        assert raised["code"] == "camera_unreachable" and shown in raised["detail"]


@pytest.mark.parametrize("family", FAMILIES)
async def test_an_unplugged_camera_is_a_fault_at_the_centre_until_plugged_back(
    staffed: Centre, tmp_path: Path, family: str
) -> None:
    async with camera_at(family, staffed, tmp_path) as camera, desk(staffed, "alice") as alice:
        await camera.emulated.server.stop()
        row = await alice.next("lane", lane_row(lambda r: bool(r["faults"])))
        assert [f["code"] for f in row["lane"]["faults"]] == ["camera_unreachable"]
        refused = await opened(alice)
        assert (refused["outcome"], refused["detail"]) == ("refused", "camera_unreachable")

        await camera.emulated.server.start()  # on the same port
        await alice.next("lane", lane_row(lambda r: not r["faults"]))
        lanes = (await alice.client.get("/api/lanes")).json()["lanes"]
        assert [each["faults"] for each in lanes if each["id"] == LANE] == [[]]
        await camera.see(car("粤B12345", PlateColour.BLUE))
        await plate_shown(alice, "粤B12345")
