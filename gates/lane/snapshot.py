"""Synthetic LPR snapshots: what a lane camera would have photographed.

The simulator has no camera, yet the console shows agents a snapshot and a plate crop so
they can correct a misread by eye. The picture is drawn from the *true* plate, so a misread
in the event and the text in the picture disagree, exactly as at a real lane. Drawing is a
pure function of its arguments: the same call gives the same JPEG bytes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Final

import cv2
import numpy as np

from gates.lane.plate_art import BGR, Image, plate_face, plate_font
from gates.plates import is_new_energy
from gates.vocabulary import GateState, PlateColour

# Camera overlays show local time; China keeps one zone with no daylight saving.
BEIJING: Final = timezone(timedelta(hours=8), "CST")

CAR_PAINTS: Final[tuple[BGR, ...]] = (
    (235, 235, 235),  # white, China's most common car colour
    (40, 40, 40),
    (150, 150, 150),
    (190, 190, 185),
    (50, 50, 140),
    (120, 70, 30),
    (60, 90, 60),
)
# GA 36-2018 outline sizes: ordinary plates 440 × 140 mm, new-energy plates 480 × 140 mm.
_PLATE_ASPECT: Final[float] = 440 / 140
_NEV_ASPECT: Final[float] = 480 / 140


# The JPEG quality the simulated camera's snapshots are written at.
JPEG_QUALITY: Final = 80

# Degrees above horizontal of an open barrier arm.
ARM_UP: Final = 88.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    jpeg: bytes
    box: tuple[int, int, int, int]  # x, y, width, height of the plate in pixels


@dataclass(frozen=True, slots=True)
class Car:
    """A car as the camera sees it: its true plate, whatever was read of it."""

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


AT_BARRIER: Final = Pose(1.0, 0.95)


def arriving(u: float) -> Pose:
    """A car braking to a stop at the barrier, ``u`` from 0 (far) to 1 (stopped)."""
    u = 1.0 - (1.0 - min(max(u, 0.0), 1.0)) ** 2
    return Pose(0.35 + 0.65 * u, 0.62 + 0.33 * u)


def leaving(u: float) -> Pose:
    """A car pulling away past the camera from the barrier, ``u`` from 0 to 1 (gone)."""
    u = min(max(u, 0.0), 1.0) ** 2
    return Pose(1.0 + 1.2 * u, 0.95 + 1.25 * u)


@dataclass(frozen=True, slots=True)
class Panel:
    """What the lane's LED display shows: its lines and, if any, the URL of the QR code
    beside them. Equal panels look the same, so a picture of one can be reused."""

    lines: tuple[str, ...] = ()
    qr: str | None = None


@dataclass(frozen=True, slots=True)
class View:
    """What a lane camera sees at one moment: the barrier arm's angle in degrees, the
    car in front of it, if any, and where, and what the lane's display shows."""

    arm: float
    car: Car | None = None
    pose: Pose = AT_BARRIER
    panel: Panel = Panel()


def arm_angle(state: GateState) -> float:
    """Degrees above horizontal at which a barrier in ``state`` is caught mid-frame."""
    return {GateState.DOWN: 0.0, GateState.UP: ARM_UP}.get(state, 40.0)


def render(
    plate: str,
    colour: PlateColour,
    *,
    gate_angle: float,
    at: datetime,
    seed: int,
    size: tuple[int, int] = (1280, 720),
    caption: str = "",
    quality: int = JPEG_QUALITY,
    paint: BGR | None = None,
) -> Snapshot:
    """Draw the lane with a car carrying ``plate`` at the barrier and encode it as JPEG.

    ``seed`` picks what a real scene varies (paint unless given, where the car stopped,
    sensor noise); ``caption`` is burnt in beside the time, as cameras print their lane
    name.
    """
    width, height = size
    if width < 320 or height < 180:
        raise ValueError(f"snapshot must be at least 320x180, not {width}x{height}")
    if at.tzinfo is None:
        raise ValueError("snapshot time must be timezone-aware")
    rng = np.random.default_rng(seed)
    local = at.astimezone(BEIJING)
    night = local.hour < 6 or local.hour >= 19

    img = np.empty((height, width, 3), np.uint8)
    post = draw_lane(img, night=night)
    random_paint = CAR_PAINTS[int(rng.integers(len(CAR_PAINTS)))]
    paint = paint or random_paint
    centre = width / 2 + float(rng.uniform(-0.06, 0.06)) * width
    scale = float(rng.uniform(0.94, 1.04))
    box = draw_car(img, plate, colour, paint=paint, centre=centre, scale=scale)
    draw_arm(img, post, gate_angle)
    # A little sensor noise: flat synthetic colour looks fake and compresses unrealistically.
    noise = rng.normal(0.0, 2.0, size=img.shape)
    img = np.clip(img.astype(np.float32) + noise, 0, 255).astype(np.uint8)
    draw_overlay(img, f"{local:%Y-%m-%d %H:%M:%S} +08:00", caption)

    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not encode the snapshot as JPEG")
    return Snapshot(jpeg=buf.tobytes(), box=box)


def draw_lane(img: Image, *, night: bool) -> tuple[int, int]:
    """Fill ``img`` with what never moves: the entrance, the lane and the barrier cabinet.

    Returns the pivot of the arm. A moving picture draws this once and copies it per frame.
    """
    _draw_scene(img, night)
    return _draw_post(img)


def draw_car(
    img: Image,
    plate: str,
    colour: PlateColour,
    *,
    paint: BGR,
    centre: float,
    scale: float,
    bottom: float = 0.95,
) -> tuple[int, int, int, int]:
    """Draw a car carrying ``plate``, its front ``bottom`` (a fraction of the height, more
    than 1 when it is leaving past the camera) down the frame; returns the plate's box.

    The box may reach past the frame's edges; only the part inside is drawn. A plate under
    four pixels tall is left out: a camera would show a blur there too.
    """
    box = _draw_car(img, centre, scale, paint, is_new_energy(plate), bottom)
    x, y, w, h = box
    height, width = img.shape[:2]
    x0, y0, x1, y1 = max(x, 0), max(y, 0), min(x + w, width), min(y + h, height)
    if h >= 4 and x1 > x0 and y1 > y0:
        face = plate_face(plate, colour, box, plate_font())
        img[y0:y1, x0:x1] = face[y0 - y : y1 - y, x0 - x : x1 - x]
    return box


def _draw_scene(img: Image, night: bool) -> None:
    height, width = img.shape[:2]
    horizon = int(height * 0.40)
    light = 0.45 if night else 1.0
    # Back wall of the car park entrance, darker towards the canopy.
    top = np.array([70, 66, 60], np.float32) * light
    bottom = np.array([150, 146, 138], np.float32) * light
    ramp = np.linspace(0.0, 1.0, horizon, dtype=np.float32)[:, None]
    img[:horizon] = (top + (bottom - top) * ramp)[:, None, :].astype(np.uint8)
    # Asphalt in perspective, lighter near the camera's IR lamp.
    far = np.array([92, 92, 94], np.float32) * light
    near = np.array([128, 128, 130], np.float32) * (0.8 if night else 1.0)
    ramp = np.linspace(0.0, 1.0, height - horizon, dtype=np.float32)[:, None]
    img[horizon:] = (far + (near - far) * ramp)[:, None, :].astype(np.uint8)
    # Wall details: a canopy beam and the ticket-office window.
    cv2.rectangle(img, (0, 0), (width, int(height * 0.07)), _dim((45, 45, 48), light), -1)
    cv2.rectangle(
        img,
        (int(width * 0.05), int(height * 0.14)),
        (int(width * 0.22), int(height * 0.32)),
        _dim((120, 95, 60), light),
        -1,
    )
    # Lane edges and a dashed centre line converging on the vanishing point.
    vanish = (width // 2, horizon - int(height * 0.25))
    for foot_x in (-0.15, 1.15):
        foot = (int(width * foot_x), height)
        start = _towards(foot, vanish, (height - horizon) / (height - vanish[1]))
        cv2.line(img, foot, start, _dim((225, 225, 225), light), max(2, width // 160), cv2.LINE_AA)
    for k in range(6):
        a, b = k / 6.0, k / 6.0 + 0.07
        p = _towards((width // 2, height), vanish, a * (height - horizon) / (height - vanish[1]))
        q = _towards((width // 2, height), vanish, b * (height - horizon) / (height - vanish[1]))
        cv2.line(img, p, q, _dim((200, 200, 200), light), max(2, width // 220), cv2.LINE_AA)
    # The stop line in front of the barrier.
    stop_y = int(height * 0.58)
    cv2.line(img, (0, stop_y), (width, stop_y), _dim((230, 230, 230), light), max(3, height // 90))


def _draw_post(img: Image) -> tuple[int, int]:
    """The barrier cabinet on the right; returns the arm's pivot."""
    height, width = img.shape[:2]
    x0, x1 = int(width * 0.86), int(width * 0.93)
    y0, y1 = int(height * 0.34), int(height * 0.62)
    cv2.rectangle(img, (x0, y0), (x1, y1), (40, 150, 215), -1)
    cv2.rectangle(img, (x0, y0), (x1, y1), (30, 30, 30), max(1, width // 640))
    cv2.rectangle(img, (x0, y1 - (y1 - y0) // 6), (x1, y1), (35, 35, 35), -1)
    return (x0 + (x1 - x0) // 3, y0 + (y1 - y0) // 5)


def draw_arm(img: Image, pivot: tuple[int, int], angle: float) -> None:
    """The boom, red and white as barriers are painted, swung ``angle`` degrees up."""
    height, width = img.shape[:2]
    angle = math.radians(min(max(angle, 0.0), 90.0))
    length = width * 0.62
    dx, dy = -math.cos(angle), -math.sin(angle)
    stripes = 9
    thickness = max(3, height // 55)
    for k in range(stripes):
        p = (int(pivot[0] + dx * length * k / stripes), int(pivot[1] + dy * length * k / stripes))
        q = (
            int(pivot[0] + dx * length * (k + 1) / stripes),
            int(pivot[1] + dy * length * (k + 1) / stripes),
        )
        paint = (40, 40, 220) if k % 2 == 0 else (240, 240, 240)
        cv2.line(img, p, q, paint, thickness, cv2.LINE_AA)
    cv2.circle(img, pivot, thickness, (30, 30, 30), -1, cv2.LINE_AA)


def _draw_car(
    img: Image, centre: float, scale: float, paint: BGR, new_energy: bool, bottom: float
) -> tuple[int, int, int, int]:
    """The front of a car; returns where its plate goes."""
    height, width = img.shape[:2]
    body_w = width * 0.44 * scale
    body_h = height * 0.30 * scale
    bottom = height * bottom
    left, right = centre - body_w / 2, centre + body_w / 2
    top = bottom - body_h
    roof = top - body_h * 0.55
    shade = tuple(int(c * 0.7) for c in paint)
    # Shadow, cabin and windscreen, body, wheels.
    cv2.ellipse(
        img,
        (int(centre), int(bottom)),
        (int(body_w * 0.58), int(height * 0.03)),
        0,
        0,
        360,
        (45, 45, 48),
        -1,
        cv2.LINE_AA,
    )
    cabin = np.array(
        [
            (left + body_w * 0.12, top),
            (left + body_w * 0.24, roof),
            (right - body_w * 0.24, roof),
            (right - body_w * 0.12, top),
        ],
        np.int32,
    )
    cv2.fillPoly(img, [cabin], shade, cv2.LINE_AA)
    glass = np.array(
        [
            (left + body_w * 0.16, top - body_h * 0.04),
            (left + body_w * 0.26, roof + body_h * 0.06),
            (right - body_w * 0.26, roof + body_h * 0.06),
            (right - body_w * 0.16, top - body_h * 0.04),
        ],
        np.int32,
    )
    cv2.fillPoly(img, [glass], (70, 55, 45), cv2.LINE_AA)
    for wheel_x in (left + body_w * 0.04, right - body_w * 0.16):
        cv2.rectangle(
            img,
            (int(wheel_x), int(bottom - body_h * 0.12)),
            (int(wheel_x + body_w * 0.12), int(bottom + height * 0.015)),
            (25, 25, 25),
            -1,
        )
    radius = int(body_h * 0.12)
    _rounded_rect(
        img, (int(left), int(top)), (int(right), int(bottom - body_h * 0.06)), radius, paint
    )
    # Headlights, grille and bumper line.
    lamp_y = int(top + body_h * 0.28)
    for lamp_x in (left + body_w * 0.13, right - body_w * 0.13):
        cv2.ellipse(
            img,
            (int(lamp_x), lamp_y),
            (int(body_w * 0.09), int(body_h * 0.08)),
            0,
            0,
            360,
            (230, 240, 245),
            -1,
            cv2.LINE_AA,
        )
    cv2.rectangle(
        img,
        (int(centre - body_w * 0.22), int(top + body_h * 0.18)),
        (int(centre + body_w * 0.22), int(top + body_h * 0.40)),
        (35, 35, 38),
        -1,
    )
    bumper_y = int(top + body_h * 0.50)
    cv2.line(img, (int(left), bumper_y), (int(right), bumper_y), shade, max(2, height // 240))
    # The plate sits centred on the bumper.
    # Sized from the smaller of the two axes so odd frame shapes still hold the plate.
    unit = min(width, height * 16 / 9) * 0.19 * scale
    plate_w = unit * (_NEV_ASPECT / _PLATE_ASPECT if new_energy else 1.0)
    plate_h = unit / _PLATE_ASPECT
    x = round(centre - plate_w / 2)
    y = round(top + body_h * 0.58)
    return (x, y, round(plate_w), round(plate_h))


def draw_overlay(img: Image, stamp: str, caption: str, *, top: int = 0) -> None:
    """Burn in the time and lane name top left, as cameras print them; ``top`` moves the
    text down, below anything else kept in that corner."""
    height, width = img.shape[:2]
    scale = height / 720 * 0.9
    thickness = max(1, round(height / 360))
    origin = (int(width * 0.015), top + int(height * 0.05))
    for text, at in ((stamp, origin), (caption, (origin[0], int(origin[1] + height * 0.05)))):
        if text:
            cv2.putText(img, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), thickness + 2)
            cv2.putText(img, text, at, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), thickness)


def _rounded_rect(
    img: Image, p: tuple[int, int], q: tuple[int, int], radius: int, colour: BGR
) -> None:
    (x0, y0), (x1, y1) = p, q
    cv2.rectangle(img, (x0 + radius, y0), (x1 - radius, y1), colour, -1)
    cv2.rectangle(img, (x0, y0 + radius), (x1, y1 - radius), colour, -1)
    for cx, cy in ((x0 + radius, y0 + radius), (x1 - radius, y0 + radius)):
        cv2.circle(img, (cx, cy), radius, colour, -1, cv2.LINE_AA)
    cv2.rectangle(img, (x0, y1 - radius), (x1, y1), colour, -1)


def _towards(p: tuple[int, int], q: tuple[int, int], t: float) -> tuple[int, int]:
    return (int(p[0] + (q[0] - p[0]) * t), int(p[1] + (q[1] - p[1]) * t))


def _dim(colour: BGR, light: float) -> BGR:
    return (int(colour[0] * light), int(colour[1] * light), int(colour[2] * light))
