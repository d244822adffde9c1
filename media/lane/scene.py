"""What the simulator's camera films: a lane, a barrier, a car when there is one. Pure:
a frame is a function of what the camera sees (a ``View``) and when.

The picture follows whoever drives the view: the simulated lane (``gates.lane.sim.SimLane``
gives its barrier's true angle and the car at it, with its true plate, so an agent can
check the barrier and a misread plate on camera), or ``film`` for a camera on its own.
A viewer must be able to tell a live picture from a frozen one at a glance, so the
capture time is printed to the millisecond (Beijing time, as Chinese cameras print it)
and burnt in as a machine-readable stamp (``media.lane.stamp``) for measuring frame age.
Rendering a 720p frame must leave room for the encoder within a 15 fps budget: what never
moves is drawn once, and each frame copies it and draws only the car and the arm. The
lane's LED display (``media.lane.panel``) changes only when a command changes what the
view says it shows: it is drawn once per change and copied in. The frame a new QR code
first shows in can miss its slot (segno takes ~40 ms to encode a 512-character link), and
the camera skips that slot as it does any it falls behind on.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime
from typing import Final

import numpy as np

from gates.lane.plate_art import Image, plate_font
from gates.lane.snapshot import (
    ARM_UP,
    AT_BARRIER,
    BEIJING,
    CAR_PAINTS,
    Car,
    Panel,
    Pose,
    View,
    arriving,
    draw_arm,
    draw_car,
    draw_lane,
    draw_overlay,
    leaving,
)
from gates.plates import colour_of, random_plate
from media.lane.panel import draw_panel, panel_layout
from media.lane.stamp import stamp_height, write_stamp

# ``film``: one car every CYCLE seconds. Phases, in seconds into the cycle:
CYCLE: Final = 12.0
_ARRIVES: Final = 1.5  # empty lane before
_STOPS: Final = 4.5  # at the barrier, arm down, for an agent to read the plate
_OPENS: Final = 7.5  # the arm rises for a second
_LEAVES: Final = 8.5  # drives on past the camera
_GONE: Final = 10.5  # the arm comes down behind it


def car_for(cycle: int, seed: int) -> Car:
    """The car of a cycle; the same ``seed`` replays the same cars."""
    rng = random.Random(seed * 1_000_003 + cycle)
    plate = random_plate(rng, new_energy=rng.random() < 0.3)
    return Car(
        plate=plate,
        colour=colour_of(plate),
        paint=CAR_PAINTS[rng.randrange(len(CAR_PAINTS))],
        offset=rng.uniform(-0.05, 0.05),
    )


def moment(phase: float) -> tuple[Pose | None, float]:
    """The car's pose (None: no car) and the arm's angle ``phase`` seconds into a cycle."""
    if phase < _ARRIVES:
        return None, 0.0
    if phase < _STOPS:
        return arriving((phase - _ARRIVES) / (_STOPS - _ARRIVES)), 0.0
    if phase < _OPENS:
        return AT_BARRIER, 0.0
    if phase < _LEAVES:
        return AT_BARRIER, ARM_UP * (phase - _OPENS) / (_LEAVES - _OPENS)
    if phase < _GONE:
        return leaving((phase - _LEAVES) / (_GONE - _LEAVES)), ARM_UP
    return None, ARM_UP * (1.0 - (phase - _GONE) / (CYCLE - _GONE))


def film(seed: int = 0) -> Callable[[float], View]:
    """A lane that plays by itself, for a camera with no simulated lane behind it (tests
    and benchmarks): a car every ``CYCLE`` seconds of ``now``, let through each time."""

    def view(now: float) -> View:
        cycle, phase = divmod(now, CYCLE)
        pose, angle = moment(phase)
        if pose is None:
            return View(angle)
        return View(angle, car_for(int(cycle), seed), pose)

    return view


class LaneScene:
    """Frames of one synthetic lane camera, ``size`` = (width, height)."""

    def __init__(self, size: tuple[int, int], caption: str, seed: int = 0) -> None:
        self.width, self.height = size
        if self.width < 320 or self.height < 180:
            raise ValueError(f"a camera picture must be at least 320x180, not {size}")
        self.caption = caption
        self.seed = seed
        self._lanes: dict[bool, tuple[Image, tuple[int, int]]] = {}
        self.panel = panel_layout(size, stamp_height(self.width))
        self._shown: tuple[Panel, Image] | None = None  # the display, as last drawn

    def draw(self, view: View, captured: float) -> Image:
        """The frame showing ``view``, captured at Unix time ``captured``."""
        local = datetime.fromtimestamp(captured, BEIJING)
        lane, pivot = self._lane(night=local.hour < 6 or local.hour >= 19)
        img = lane.copy()
        if view.car is not None:
            car, pose = view.car, view.pose
            draw_car(
                img,
                car.plate,
                car.colour,
                paint=car.paint,
                centre=self.width * (0.5 + car.offset),
                scale=pose.scale,
                bottom=pose.bottom,
            )
        place = self.panel
        img[place.y : place.y + place.height, place.x : place.x + place.width] = self._panel(
            view.panel
        )
        draw_arm(img, pivot, view.arm)
        clock = f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d} +08:00"
        draw_overlay(img, clock, self.caption, top=stamp_height(self.width))
        write_stamp(img, captured)
        return img

    def _panel(self, panel: Panel) -> Image:
        if self._shown is None or self._shown[0] != panel:
            self._shown = (panel, draw_panel(self.panel, panel, plate_font()))
        return self._shown[1]

    def _lane(self, *, night: bool) -> tuple[Image, tuple[int, int]]:
        if night not in self._lanes:
            img = np.empty((self.height, self.width, 3), np.uint8)
            pivot = draw_lane(img, night=night)
            # Fixed sensor noise, as gates.lane.snapshot adds: flat synthetic colour looks fake.
            noise = np.random.default_rng(self.seed).normal(0.0, 2.0, size=img.shape)
            img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
            self._lanes[night] = (img, pivot)
        return self._lanes[night]
