"""A Dahua ITC camera on the lane, against the emulated camera over real sockets: its
event stream's cars become vehicles, a stream that ends or goes silent is a fault and is
asked for again, openStrobe's OK is an open and anything else is not."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gates.hardware import dahua
from gates.hardware.camera_http import WRONG_PASSWORD
from gates.hardware.options import DeviceOptions, LaneFileError
from gates.hardware.parts import GateOpener, GateSensor, Outcome, Unreachable
from gates.lane.drivers import DriverRefused, FaultRaised, VehicleSeen
from gates.vocabulary import PlateColour
from tests.devices import Events, Workshop, running
from tests.emulators.dahua import DahuaCamera
from tests.emulators.hikvision import car

ENV = {"CAM_PASSWORD": "Dahua123"}


@pytest.fixture
async def camera() -> AsyncIterator[DahuaCamera]:
    emulated = DahuaCamera()
    await emulated.server.start()
    yield emulated
    await emulated.server.stop()


def table(camera: DahuaCamera, **more: object) -> dict[str, object]:
    return {
        "family": "dahua",
        "host": "127.0.0.1",
        "port": camera.server.port,
        "password_env": "CAM_PASSWORD",
        "heartbeat": 1,
        "timeout": 1.0,
        **more,
    }


async def listening(camera: DahuaCamera, events: Events, streams: int = 1) -> None:
    """The lane holds its ``streams``-th event stream open (the camera counts them)."""
    for _ in range(200):
        if camera.listening and camera.streams >= streams:
            return
        await events.wait_a_little()
    raise AssertionError(f"the lane did not open event stream {streams}")


async def test_a_car_on_the_stream_is_a_vehicle_with_its_scene_and_box(camera: DahuaCamera) -> None:
    seen = car("苏E12345", PlateColour.YELLOW, confidence=91)
    async with running(dahua.build, table(camera), ENV) as (device, events, _):
        assert isinstance(device, GateOpener) and not isinstance(device, GateSensor)
        await listening(camera, events)
        camera.see(seen, colour="Yellow")
        vehicle = await events.next(VehicleSeen)
    # 91 % is 232 on Dahua's 0-255 scale.
    assert (vehicle.plate, vehicle.plate_colour, vehicle.confidence) == (
        "苏E12345",
        PlateColour.YELLOW,
        232 / 255,
    )
    assert vehicle.snapshot_jpeg == seen.jpeg  # the scene, first; not the crop after it
    # The 0-8192 grid is finer than the picture: the box comes back within a pixel or two.
    assert all(abs(a - b) <= 2 for a, b in zip(vehicle.box, seen.box, strict=True))
    assert not [e for e in events.seen if isinstance(e, FaultRaised)]


async def test_two_cars_in_a_row_are_two_vehicles(camera: DahuaCamera) -> None:
    seen = car("浙A8888D", PlateColour.BLUE)
    async with running(dahua.build, table(camera), ENV) as (_, events, _):
        await listening(camera, events)
        camera.see(seen)
        camera.see(seen)
        first, second = await events.next(VehicleSeen), await events.next(VehicleSeen)
    assert first.plate == second.plate == "浙A8888D"


def garbage(camera: DahuaCamera) -> None:
    camera.send(b"--myboundary\r\nContent-Length: lots\r\n\r\n")


def huge(camera: DahuaCamera) -> None:
    camera.send(b"--myboundary\r\nContent-Type: image/jpeg\r\nContent-Length: 99999999\r\n\r\n")


@pytest.mark.parametrize(
    ("fault", "detail"),
    [
        (garbage, "bad event stream: bad part Content-Length"),
        (huge, "bad event stream: part of 99999999 bytes over the limit"),
        (DahuaCamera.go_silent, "no heartbeat"),
        (DahuaCamera.end_streams, "ended its event stream"),
    ],
    ids=["garbage", "huge", "silent", "ended"],
)
async def test_a_broken_stream_is_a_fault_and_the_lane_asks_again(
    camera: DahuaCamera, fault: Callable[[DahuaCamera], None], detail: str
) -> None:
    seen = car("粤B12345", PlateColour.BLUE)
    async with running(dahua.build, table(camera), ENV) as (_, events, _):
        await listening(camera, events)
        fault(camera)
        raised = await events.next(FaultRaised)
        assert raised.active and detail in raised.detail
        assert (await events.next(FaultRaised)).active is False
        await listening(camera, events, streams=2)
        camera.see(seen)
        assert (await events.next(VehicleSeen)).plate == "粤B12345"


async def test_an_unplugged_camera_is_a_fault_until_it_answers(camera: DahuaCamera) -> None:
    async with running(dahua.build, table(camera), ENV) as (device, events, _):
        await listening(camera, events)
        await camera.server.stop()
        fault = await events.next(FaultRaised)
        assert fault.active
        assert isinstance(device, GateOpener)
        with pytest.raises(Unreachable, match="cannot connect"):
            await device.open_gate()
        await camera.server.start()
        assert (await events.next(FaultRaised)).active is False
        await listening(camera, events, streams=2)


async def test_a_changed_password_is_a_fault_that_says_so(camera: DahuaCamera) -> None:
    camera.guard.password = "changed-on-the-camera"
    async with running(dahua.build, table(camera), ENV) as (device, events, _):
        fault = await events.next(FaultRaised)
        assert (fault.code, fault.detail) == ("camera_unreachable", WRONG_PASSWORD)
        assert isinstance(device, GateOpener)
        with pytest.raises(Unreachable, match="401"):
            await device.open_gate()
        camera.guard.password = "Dahua123"
        assert (await events.next(FaultRaised)).active is False
    assert camera.strobes == 0


async def test_open_strobe_ok_is_an_open_and_an_error_is_refused(camera: DahuaCamera) -> None:
    async with running(dahua.build, table(camera), ENV) as (device, _, _):
        assert isinstance(device, GateOpener)
        outcome = await device.open_gate()
        assert outcome == Outcome(confirmed=True)
        camera.refuse_strobe = True
        with pytest.raises(DriverRefused) as refused:
            await device.open_gate()
    assert refused.value.reason == "gate_refused: Error Bad Request!"
    assert camera.strobes == 1


async def test_a_slow_camera_is_unreachable_for_a_command(camera: DahuaCamera) -> None:
    camera.slow_s = 2.0
    async with running(dahua.build, table(camera), ENV) as (device, _, _):
        assert isinstance(device, GateOpener)
        with pytest.raises(Unreachable, match="within 1 s"):
            await device.open_gate()


@pytest.mark.parametrize("host", ["cam 1", "cam/cgi-bin", "cam?x=1"])
def test_a_host_that_is_not_one_stops_the_lane_at_start(host: str) -> None:
    table = {"family": "dahua", "host": host, "password_env": "P"}
    options = DeviceOptions(Path("lane.toml"), "cam", table, {"P": "x"})
    with pytest.raises(LaneFileError, match=r"host: .* is not a host name or an IP address"):
        dahua.build(options, Workshop())
