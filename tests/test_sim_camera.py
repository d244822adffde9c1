"""The simulated lane's camera shows what the lane does: the barrier where it is, the car
at it with its true plate. Frames are encoded and decoded as a viewer would see them."""

from __future__ import annotations

import contextlib
import math
import random
from dataclasses import replace

import av
import numpy as np
import numpy.typing as npt

from gates.lane.drivers import VehicleSeen
from gates.lane.sim import SimLane
from gates.lane.snapshot import ARM_UP, View, draw_car, draw_lane
from gates.vocabulary import Direction
from media.lane.camera import SyntheticCamera
from tests.test_sim import QUIET, watching

Image = npt.NDArray[np.uint8]
SIZE = (640, 360)
# One car that stops at the exit barrier and waits there, read wrong.
MISREAD = replace(
    QUIET, mean_arrival_s=0, misread_p=1.0, call_p=0, fault_p=0, call_after_s=60, patience_s=60
)


async def frame(camera: SyntheticCamera) -> Image:
    """The first picture of a fresh stream from ``camera``, decoded."""
    decoder = av.CodecContext.create("h264", "r")
    async with contextlib.aclosing(camera.units()) as units:
        async for unit in units:
            for decoded in decoder.decode(av.Packet(unit.data)):
                return np.asarray(decoded.to_ndarray(format="bgr24"), np.uint8)
    raise AssertionError("the camera ended before a frame decoded")


def arm_seen(img: Image, angle: float) -> float:
    """The share of the arm's stripes seen in their paint (red, white, red, ...) where
    an arm swung ``angle`` degrees up would have them, drawn independently of
    gates.lane.snapshot.draw_arm: a boom 0.62 of the width long, in nine stripes, from the
    barrier post."""
    height, width = img.shape[:2]
    pivot = draw_lane(np.empty_like(img), night=False)
    length = width * 0.62
    dx, dy = -math.cos(math.radians(angle)), -math.sin(math.radians(angle))
    seen = []
    for k in range(9):
        t = (k + 0.5) / 9
        x, y = round(pivot[0] + dx * length * t), round(pivot[1] + dy * length * t)
        if 0 <= y < height and 0 <= x < width:
            b, g, r = (int(c) for c in img[y, x])
            red, white = r > 150 and g < 110 and b < 110, min(b, g, r) > 190
            seen.append(white if k % 2 else red)
    return sum(seen) / len(seen)


async def test_sim_camera_shows_the_arm_down_then_up_after_an_open_command() -> None:
    """Before the open command the decoded picture has the arm across the lane; after
    it, the arm stands up."""
    lane = SimLane("X1", random.Random(1), QUIET, direction=Direction.EXIT)
    camera = SyntheticCamera("X1", view=lane.view, size=SIZE, fps=30)
    async with watching(lane):
        closed = await frame(camera)
        await lane.open_gate()
        opened = await frame(camera)
    assert arm_seen(closed, 0.0) == 1.0 and arm_seen(closed, ARM_UP) == 0.0
    assert arm_seen(opened, ARM_UP) == 1.0 and arm_seen(opened, 0.0) == 0.0


def drawn_plate(view: View, plate: str) -> tuple[Image, tuple[slice, slice]]:
    """The car of ``view`` drawn where it stands, carrying ``plate``; the plate's region."""
    assert view.car is not None
    img = np.zeros((SIZE[1], SIZE[0], 3), np.uint8)
    x, y, w, h = draw_car(
        img,
        plate,
        view.car.colour,
        paint=view.car.paint,
        centre=SIZE[0] * (0.5 + view.car.offset),
        scale=view.pose.scale,
        bottom=view.pose.bottom,
    )
    return img, (slice(y, y + h), slice(x, x + w))


async def test_sim_camera_shows_the_true_plate_of_a_misread_car() -> None:
    """When the lane reports a misread, the car on camera carries the plate that was
    misread, not the one reported."""
    lane = SimLane("X1", random.Random(4), MISREAD, direction=Direction.EXIT)
    # The camera a minute on, when the car has rolled to a stop: the lane stands still
    # meanwhile (nobody opens, the driver is patient), so only the picture moves on.
    camera = SyntheticCamera("X1", view=lambda now: lane.view(now + 60), size=SIZE, fps=30)
    async with watching(lane) as watcher:
        read = await watcher.next(VehicleSeen)
        picture = await frame(camera)
    view = lane.view(math.inf)
    assert view.car is not None and view.car.plate != read.plate
    truth, region = drawn_plate(view, view.car.plate)
    reported, _ = drawn_plate(view, read.plate)
    # Compare only where the two plates differ: the misread characters.
    differ = np.abs(truth[region].astype(int) - reported[region]).max(axis=2) > 60
    shown = picture[region].astype(int)[differ]
    like_truth = np.abs(shown - truth[region][differ]).mean()
    like_reported = np.abs(shown - reported[region][differ]).mean()
    assert like_truth * 2 < like_reported
