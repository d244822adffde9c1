"""A Hikvision ANPR camera on the lane, against the emulated camera over real sockets:
its pushes become vehicles, its barrier opens and says where it is, a locked barrier is
reported closed, and a camera away or with another password is a fault until it answers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from gates.hardware import hikvision
from gates.hardware.camera_http import WRONG_PASSWORD
from gates.hardware.hikvision.camera import AnprCameraWithBarrierState
from gates.hardware.options import DeviceOptions, LaneFileError
from gates.hardware.parts import GateOpener, GateSensor, Outcome, Speaker, Unreachable
from gates.lane.drivers import DriverRefused, FaultRaised, GateChanged, VehicleSeen
from gates.vocabulary import GateState, PlateColour
from tests.devices import Events, Workshop, running
from tests.emulators.hikvision import BOMB, HikvisionCamera, car, form

ENV = {"CAM_PASSWORD": "Hik12345"}


@pytest.fixture
async def camera() -> AsyncIterator[HikvisionCamera]:
    emulated = HikvisionCamera()
    await emulated.server.start()
    yield emulated
    await emulated.server.stop()


def table(camera: HikvisionCamera, **more: object) -> dict[str, object]:
    return {
        "family": "hikvision",
        "host": "127.0.0.1",
        "port": camera.server.port,
        "password_env": "CAM_PASSWORD",
        "listen": "127.0.0.1:0",
        "gate_poll": 0.2,
        "timeout": 1.0,
        **more,
    }


def push_url(workshop: Workshop) -> str:
    [listener] = workshop.listeners.values()
    return f"http://127.0.0.1:{listener.port}/hikvision/anpr"


async def settled(events: Events) -> None:
    """The camera has answered once: its barrier's state is known."""
    assert (await events.next(GateChanged)).state is GateState.DOWN


async def test_a_pushed_plate_is_a_vehicle_with_the_scene_and_the_plate_box(
    camera: HikvisionCamera,
) -> None:
    seen = car("粤B12345", PlateColour.BLUE, confidence=96)
    async with running(hikvision.build, table(camera), ENV) as (_, events, workshop):
        await settled(events)
        assert await camera.push(push_url(workshop), seen) == 200
        vehicle = await events.next(VehicleSeen)
    assert (vehicle.plate, vehicle.plate_colour, vehicle.confidence) == (
        "粤B12345",
        PlateColour.BLUE,
        0.96,
    )
    assert vehicle.snapshot_jpeg == seen.jpeg  # the scene, not the plate crop
    # plateRect is in thousandths of the picture: the box comes back within their grain.
    assert all(abs(a - b) <= 2 for a, b in zip(vehicle.box, seen.box, strict=True))
    assert vehicle.box[2] > 0 and vehicle.box[3] > 0


@pytest.mark.parametrize("as_", ["json", "json-multipart"])
async def test_the_json_forms_are_read_too(camera: HikvisionCamera, as_: str) -> None:
    seen = car("沪AD12345", PlateColour.GREEN, confidence=88)
    async with running(hikvision.build, table(camera), ENV) as (_, events, workshop):
        await settled(events)
        assert await camera.push(push_url(workshop), seen, as_=as_) == 200  # type: ignore[arg-type]
        vehicle = await events.next(VehicleSeen)
    assert (vehicle.plate, vehicle.plate_colour, vehicle.confidence) == (
        "沪AD12345",
        PlateColour.GREEN,
        0.88,
    )
    # The JSON alert names the scene but gives no plateRect: no box, the centre finds it.
    expected = seen.jpeg if as_ == "json-multipart" else camera.still
    assert (vehicle.snapshot_jpeg, vehicle.box) == (expected, (0, 0, 0, 0))


async def test_bare_xml_has_its_picture_fetched_from_the_camera(camera: HikvisionCamera) -> None:
    seen = car("京A12345", PlateColour.BLUE)
    async with running(hikvision.build, table(camera), ENV) as (_, events, workshop):
        await settled(events)
        assert await camera.push(push_url(workshop), seen, as_="xml") == 200
        vehicle = await events.next(VehicleSeen)
    assert (vehicle.plate, vehicle.snapshot_jpeg, vehicle.box) == (
        "京A12345",
        camera.still,
        (0, 0, 0, 0),
    )


@pytest.mark.parametrize(
    "body",
    [
        ("application/xml", BOMB),
        ("application/xml", b"<EventNotificationAlert><eventType>ANPR</eventType>"),
        ("application/json", b'{"eventType":"ANPR","ANPR":{"licensePlate":"\\ud800A1"}}'),
        ("multipart/form-data; boundary=boundary", b"--boundary\r\nno end"),
        form(
            [
                (
                    "anpr.xml",
                    "text/xml",
                    b'<?xml version="1.0"?><!DOCTYPE x SYSTEM "file:///etc/passwd"><EventNotificationAlert/>',
                )
            ]
        ),
        (
            "application/json",
            b'{"eventType":"ANPR","ANPR":{"licensePlate":{"A":"1"},"confidenceLevel":90}}',
        ),
    ],
    ids=[
        "xml-bomb",
        "truncated-xml",
        "lone-surrogate",
        "cut-multipart",
        "external-entity",
        "nested-plate",
    ],
)
async def test_a_bad_push_is_answered_200_and_changes_nothing(
    camera: HikvisionCamera, body: tuple[str, bytes]
) -> None:
    seen = car("粤B12345", PlateColour.BLUE)
    async with running(hikvision.build, table(camera), ENV) as (_, events, workshop):
        await settled(events)
        # Answered 200: Hikvision never posts again, so another answer would change nothing.
        assert await camera.push(push_url(workshop), seen, body=body) == 200
        assert await camera.push(push_url(workshop), seen) == 200
        vehicle = await events.next(VehicleSeen)
    assert vehicle.plate == "粤B12345"  # the good push after it is the only vehicle
    assert [e for e in events.seen if isinstance(e, VehicleSeen)] == [vehicle]


async def test_a_push_over_the_limit_or_from_a_stranger_is_refused(camera: HikvisionCamera) -> None:
    seen = car("粤B12345", PlateColour.BLUE)
    huge = form([("detectionPicture.jpg", "image/jpeg", b"\xff\xd8\xff" + b"\0" * 5_000_000)])
    async with running(hikvision.build, table(camera), ENV) as (_, events, workshop):
        await settled(events)
        assert await camera.push(push_url(workshop), seen, body=huge) == 413
        transport = httpx.AsyncHTTPTransport(local_address="127.0.0.2")
        async with httpx.AsyncClient(transport=transport) as stranger:
            reply = await stranger.post(push_url(workshop), content=b"<x/>")
        assert reply.status_code == 403
    assert not [e for e in events.seen if isinstance(e, VehicleSeen)]


async def test_open_lifts_the_barrier_and_its_state_says_so(camera: HikvisionCamera) -> None:
    async with running(hikvision.build, table(camera), ENV) as (device, events, _):
        assert isinstance(device, GateOpener) and isinstance(device, GateSensor)
        await settled(events)
        outcome = await device.open_gate()
        assert (outcome.confirmed, outcome.detail) == (True, "")
        assert (await events.next(GateChanged)).state is GateState.UP
        assert device.gate_state() is GateState.UP
    assert camera.opens == 1


async def test_a_camera_writing_gb2312_is_read_as_any_other(camera: HikvisionCamera) -> None:
    # Chinese firmware declares encoding="GB2312", which expat does not read.
    camera.encoding = "GB2312"
    seen = car("粤B12345", PlateColour.BLUE)
    async with running(hikvision.build, table(camera), ENV) as (device, events, workshop):
        assert isinstance(device, GateOpener)
        await settled(events)
        assert await device.open_gate() == Outcome(confirmed=True)
        assert (await events.next(GateChanged)).state is GateState.UP
        assert await camera.push(push_url(workshop), seen) == 200
        assert await camera.push(push_url(workshop), seen, as_="xml") == 200
        vehicles = [await events.next(VehicleSeen), await events.next(VehicleSeen)]
    assert [v.plate for v in vehicles] == ["粤B12345", "粤B12345"]
    assert not [e for e in events.seen if isinstance(e, FaultRaised)]


async def test_a_locked_barrier_takes_the_open_and_is_reported_closed(
    camera: HikvisionCamera,
) -> None:
    camera.locked = True
    async with running(hikvision.build, table(camera), ENV) as (device, events, _):
        assert isinstance(device, AnprCameraWithBarrierState)
        await settled(events)
        assert (await device.open_gate()).confirmed  # the camera said OK...
        # ...and the barrier, read after it at the camera's cadence, is still down.
        for _ in range(3):
            await device.check()
        assert device.gate_state() is GateState.DOWN
    assert camera.opens == 1
    assert not [e for e in events.seen if isinstance(e, GateChanged) and e.state is GateState.UP]


async def test_a_model_answering_not_support_for_the_barrier_is_there_without_a_sensor(
    camera: HikvisionCamera,
) -> None:
    # A plates-only model left at gate_status's default: barrierGateStatus is 403
    # notSupport, every time, and the camera is fine.
    camera.reports_barrier = False
    async with running(hikvision.build, table(camera, check_every=1.0), ENV) as (device, events, _):
        assert isinstance(device, AnprCameraWithBarrierState)
        await device.check()
        reads = camera.status_reads
        for _ in range(3):
            await device.check()  # deviceInfo, not the barrier, from now on
        assert not device.senses_gate() and device.gate_state() is GateState.UNKNOWN
        await camera.server.stop()  # and the camera's absence is still seen
        fault = await events.next(FaultRaised)
    assert camera.status_reads == reads
    assert fault.active and "cannot connect" in fault.detail
    assert [e for e in events.seen if isinstance(e, FaultRaised)] == [fault]


async def test_a_model_without_barrier_state_offers_no_sensor(camera: HikvisionCamera) -> None:
    camera.reports_barrier = False
    without = table(camera, gate_status=False, check_every=1.0)
    del without["gate_poll"]
    async with running(hikvision.build, without, ENV) as (device, events, _):
        assert isinstance(device, GateOpener) and not isinstance(device, GateSensor)
        outcome = await device.open_gate()
    assert outcome == Outcome(confirmed=True)
    assert camera.opens == 1
    assert not [e for e in events.seen if isinstance(e, FaultRaised)]


async def test_the_voice_is_sent_as_tts_with_its_volume(camera: HikvisionCamera) -> None:
    async with running(hikvision.build, table(camera, volume=7), ENV) as (device, _, _):
        assert isinstance(device, Speaker)
        outcome = await device.say("请缴费 <15元> & 通行")
    assert not outcome.confirmed and "accepted" in outcome.detail
    assert camera.spoken == ["[v7]请缴费 <15元> & 通行"]


async def test_a_changed_password_is_a_fault_that_says_so(camera: HikvisionCamera) -> None:
    camera.guard.password = "changed-on-the-camera"
    async with running(hikvision.build, table(camera), ENV) as (device, events, _):
        fault = await events.next(FaultRaised)
        assert (fault.code, fault.detail, fault.active) == (
            "camera_unreachable",
            WRONG_PASSWORD,
            True,
        )
        assert isinstance(device, GateOpener)
        with pytest.raises(Unreachable) as refused:
            await device.open_gate()
        assert (refused.value.fault, refused.value.detail) == ("camera_unreachable", WRONG_PASSWORD)
        camera.guard.password = "Hik12345"
        cleared = await events.next(FaultRaised)
        assert (cleared.code, cleared.active) == ("camera_unreachable", False)
    assert camera.opens == 0


async def test_an_unplugged_camera_is_a_fault_until_it_answers(camera: HikvisionCamera) -> None:
    async with running(hikvision.build, table(camera), ENV) as (_, events, _):
        await settled(events)
        await camera.server.stop()
        fault = await events.next(FaultRaised)
        assert fault.active and "cannot connect" in fault.detail
        assert (await events.next(GateChanged)).state is GateState.UNKNOWN
        await camera.server.start()
        assert (await events.next(FaultRaised)).active is False
        assert (await events.next(GateChanged)).state is GateState.DOWN


async def test_a_slow_camera_is_a_fault_that_names_the_wait(camera: HikvisionCamera) -> None:
    camera.slow_s = 2.0
    async with running(hikvision.build, table(camera), ENV) as (_, events, _):
        fault = await events.next(FaultRaised)
        assert fault.active and "no answer" in fault.detail and "within 1 s" in fault.detail


async def test_an_open_the_camera_will_not_do_is_refused_with_its_words(
    camera: HikvisionCamera,
) -> None:
    camera.refuse_barrier = True
    async with running(hikvision.build, table(camera), ENV) as (device, events, _):
        assert isinstance(device, GateOpener)
        await settled(events)
        with pytest.raises(DriverRefused) as refused:
            await device.open_gate()
    assert refused.value.reason == "gate_refused: notSupport"
    assert camera.opens == 0


def test_pushes_need_the_cameras_ip_address() -> None:
    table = {"family": "hikvision", "host": "cam.local", "password_env": "P", "listen": "0.0.0.0:0"}
    options = DeviceOptions(Path("lane.toml"), "cam", table, {"P": "x"})
    with pytest.raises(LaneFileError, match=r"'cam', host: pushes are told apart .* IP address"):
        hikvision.build(options, Workshop())
