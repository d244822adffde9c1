"""Synthetic LPR snapshots decode, stay small, and show the plate where they say."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from gates.lane.snapshot import Snapshot, arm_angle, render
from gates.vocabulary import GateState, PlateColour
from tests.pictures import decoded

AT = datetime(2025, 6, 1, 2, 30, tzinfo=UTC)


def plate_mean(snap: Snapshot) -> tuple[float, float, float]:
    """Mean (B, G, R) inside the plate box."""
    x, y, w, h = snap.box
    b, g, r = decoded(snap.jpeg)[y : y + h, x : x + w].reshape(-1, 3).mean(axis=0)
    return float(b), float(g), float(r)


def test_snapshot_is_a_jpeg_of_the_requested_size_under_150_kb() -> None:
    """A 1280×720 frame decodes at that size and stays small enough to send per car."""
    snap = render("粤B12345", PlateColour.BLUE, gate_angle=0.0, at=AT, seed=1)
    assert snap.jpeg[:2] == b"\xff\xd8"
    assert decoded(snap.jpeg).shape == (720, 1280, 3)
    assert 10_000 < len(snap.jpeg) < 150_000


@pytest.mark.parametrize("size", [(1280, 720), (640, 480), (1920, 1080), (400, 600)])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_plate_box_lies_inside_the_image(size: tuple[int, int], seed: int) -> None:
    """The box a crop is cut from never leaves the frame, whatever the shape."""
    snap = render("粤BD12345", PlateColour.GREEN, gate_angle=0.0, at=AT, seed=seed, size=size)
    x, y, w, h = snap.box
    height, width = decoded(snap.jpeg).shape[:2]
    assert (width, height) == size
    assert x >= 0 and y >= 0 and w > 0 and h > 0
    assert x + w <= width and y + h <= height
    assert 2.5 < w / h < 4.0  # GA 36-2018 plates are about 3:1


def test_blue_plate_region_is_blue() -> None:
    """The crop of a blue plate is dominated by blue."""
    b, g, r = plate_mean(render("京A12345", PlateColour.BLUE, gate_angle=0, at=AT, seed=4))
    assert b > g + 40 and b > r + 40


def test_yellow_plate_region_is_yellow() -> None:
    """Yellow is red plus green with little blue."""
    b, g, r = plate_mean(render("粤B1234学", PlateColour.YELLOW, gate_angle=0, at=AT, seed=4))
    assert r > b + 80 and g > b + 60


def test_green_plate_region_is_green() -> None:
    """The gradient-green new-energy plate still reads as green on average."""
    b, g, r = plate_mean(render("粤BD12345", PlateColour.GREEN, gate_angle=0, at=AT, seed=4))
    assert g > r + 30 and g > b + 10


def test_white_and_black_plate_regions() -> None:
    """Police plates are bright, Hong Kong cross-border plates dark."""
    white = plate_mean(render("京A1234警", PlateColour.WHITE, gate_angle=0, at=AT, seed=4))
    black = plate_mean(render("粤Z1234港", PlateColour.BLACK, gate_angle=0, at=AT, seed=4))
    assert min(white) > 150
    assert max(black) < 128  # white characters cover a third of a plate


@pytest.mark.parametrize("plate", ["使224009", "沪A1234领", "京X1234应急", "京A1234警"])
def test_special_plates_keep_the_ordinary_outline(plate: str) -> None:
    """Only new-energy plates are wider: an eight-character 应急 plate is not one."""
    ordinary = render("京A12345", PlateColour.BLUE, gate_angle=0, at=AT, seed=4).box
    wide = render("粤BD12345", PlateColour.GREEN, gate_angle=0, at=AT, seed=4).box
    box = render(plate, PlateColour.WHITE, gate_angle=0, at=AT, seed=4).box
    assert box[2] == ordinary[2] < wide[2]


def test_plate_region_colour_does_not_depend_on_the_car() -> None:
    """Whatever the paint the seed picks, the box holds the plate, not the bumper."""
    for seed in range(12):
        b, g, r = plate_mean(render("京A12345", PlateColour.BLUE, gate_angle=0, at=AT, seed=seed))
        assert b > g + 40 and b > r + 40, seed


def test_same_inputs_give_the_same_bytes() -> None:
    """Rendering is a pure function, so a replayed simulation replays its pictures."""
    first = render("粤B12345", PlateColour.BLUE, gate_angle=30.0, at=AT, seed=9)
    second = render("粤B12345", PlateColour.BLUE, gate_angle=30.0, at=AT, seed=9)
    assert first == second


def test_different_plates_give_different_plate_crops() -> None:
    """The plate text is really drawn: changing one character changes the crop."""
    one = render("粤B12345", PlateColour.BLUE, gate_angle=0, at=AT, seed=5)
    other = render("粤B12845", PlateColour.BLUE, gate_angle=0, at=AT, seed=5)
    assert one.box == other.box
    x, y, w, h = one.box
    diff = np.abs(
        decoded(one.jpeg)[y : y + h, x : x + w].astype(int)
        - decoded(other.jpeg)[y : y + h, x : x + w]
    )
    assert diff.mean() > 2.0


def test_barrier_angle_and_time_change_the_picture() -> None:
    """The arm is drawn where the gate is, and the time is burnt in."""
    down = render("粤B12345", PlateColour.BLUE, gate_angle=arm_angle(GateState.DOWN), at=AT, seed=5)
    up = render("粤B12345", PlateColour.BLUE, gate_angle=arm_angle(GateState.UP), at=AT, seed=5)
    later = render("粤B12345", PlateColour.BLUE, gate_angle=0.0, at=AT.replace(second=1), seed=5)
    assert down.jpeg != up.jpeg
    assert down.jpeg != later.jpeg
    assert arm_angle(GateState.DOWN) < arm_angle(GateState.RISING) < arm_angle(GateState.UP)


def test_naive_time_is_refused() -> None:
    """Times are aware everywhere; a naive one would print the wrong hour on the frame."""
    with pytest.raises(ValueError, match="timezone"):
        render("粤B12345", PlateColour.BLUE, gate_angle=0, at=datetime(2025, 6, 1), seed=0)
