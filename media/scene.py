"""What the simulator's camera films: a lane where cars drive in, stop at the barrier,
and leave when it opens, over and over. Pure: a frame is a function of its time.

A viewer must be able to tell a live picture from a frozen one at a glance, so the
capture time is printed to the millisecond (Beijing time, as Chinese cameras print it)
and burnt in as a machine-readable stamp (``media.stamp``) for measuring frame age.
Rendering a 720p frame must leave room for the encoder within a 15 fps budget: what never
moves is drawn once, and each frame copies it and draws only the car and the arm.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Final

import numpy as np

from gates.drivers import PlateColour
from gates.plates import colour_of, random_plate
from gates.snapshot import (
    BEIJING,
    BGR,
    CAR_PAINTS,
    Image,
    draw_arm,
    draw_car,
    draw_lane,
    draw_overlay,
)

from .stamp import stamp_height, write_stamp

# One car every CYCLE seconds. Phases, in seconds into the cycle:
CYCLE: Final = 12.0
_ARRIVES: Final = 1.5  # empty lane before
_STOPS: Final = 4.5  # at the barrier, arm down, for an agent to read the plate
_OPENS: Final = 7.5  # the arm rises for a second
_LEAVES: Final = 8.5  # drives on past the camera
_GONE: Final = 10.5  # the arm comes down behind it
_UP: Final = 88.0  # degrees, as gates.snapshot.arm_angle draws an open barrier


@dataclass(frozen=True, slots=True)
class Car:
    plate: str
    colour: PlateColour
    paint: BGR
    offset: float  # where in the lane it drives, as a fraction of the width


@dataclass(frozen=True, slots=True)
class Pose:
    """Where a car is: its size relative to one stopped at the barrier, and how far down
    the frame its front reaches (past 1.0 it is leaving the picture)."""

    scale: float
    bottom: float


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
        u = 1.0 - (1.0 - (phase - _ARRIVES) / (_STOPS - _ARRIVES)) ** 2  # braking
        return Pose(0.35 + 0.65 * u, 0.62 + 0.33 * u), 0.0
    if phase < _OPENS:
        return Pose(1.0, 0.95), 0.0
    if phase < _LEAVES:
        return Pose(1.0, 0.95), _UP * (phase - _OPENS) / (_LEAVES - _OPENS)
    if phase < _GONE:
        u = ((phase - _LEAVES) / (_GONE - _LEAVES)) ** 2  # pulling away
        return Pose(1.0 + 1.2 * u, 0.95 + 1.25 * u), _UP
    return None, _UP * (1.0 - (phase - _GONE) / (CYCLE - _GONE))


class LaneScene:
    """Frames of one synthetic lane camera, ``size`` = (width, height)."""

    def __init__(self, size: tuple[int, int], caption: str, seed: int = 0) -> None:
        self.width, self.height = size
        if self.width < 320 or self.height < 180:
            raise ValueError(f"a camera picture must be at least 320x180, not {size}")
        self.caption = caption
        self.seed = seed
        self._lanes: dict[bool, tuple[Image, tuple[int, int]]] = {}
        self._car: tuple[int, Car] | None = None

    def draw(self, t: float, captured: float) -> Image:
        """The frame ``t`` seconds into the film, captured at Unix time ``captured``."""
        local = datetime.fromtimestamp(captured, BEIJING)
        lane, pivot = self._lane(night=local.hour < 6 or local.hour >= 19)
        img = lane.copy()
        cycle, phase = divmod(t, CYCLE)
        pose, angle = moment(phase)
        if pose is not None:
            car = self._car_of(int(cycle))
            draw_car(
                img,
                car.plate,
                car.colour,
                paint=car.paint,
                centre=self.width * (0.5 + car.offset),
                scale=pose.scale,
                bottom=pose.bottom,
            )
        draw_arm(img, pivot, angle)
        clock = f"{local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d} +08:00"
        draw_overlay(img, clock, self.caption, top=stamp_height(self.width))
        write_stamp(img, captured)
        return img

    def _lane(self, *, night: bool) -> tuple[Image, tuple[int, int]]:
        if night not in self._lanes:
            img = np.empty((self.height, self.width, 3), np.uint8)
            pivot = draw_lane(img, night=night)
            # Fixed sensor noise, as gates.snapshot adds: flat synthetic colour looks fake.
            noise = np.random.default_rng(self.seed).normal(0.0, 2.0, size=img.shape)
            img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
            self._lanes[night] = (img, pivot)
        return self._lanes[night]

    def _car_of(self, cycle: int) -> Car:
        if self._car is None or self._car[0] != cycle:
            self._car = (cycle, car_for(cycle, self.seed))
        return self._car[1]
