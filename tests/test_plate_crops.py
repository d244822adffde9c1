"""Plate crops, on the simulator's own snapshots (JPEG, decoded as the centre would) whose
plate boxes are known: cut by the box, found without one, levelled, and made readable."""

from __future__ import annotations

from datetime import UTC, datetime

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from gates.lane.plate_art import BGR
from gates.lane.snapshot import CAR_PAINTS, draw_lane, draw_overlay, render
from gates.vocabulary import PlateColour
from media.errors import PlateImageError
from media.plates.crop import Box, crop, overlap, widen
from media.plates.deskew import deskew, estimate_tilt
from media.plates.enhance import READABLE_HEIGHT, enhance, upscale
from media.plates.locate import locate
from media.plates.readable import CropFormat, encode, readable
from tests.pictures import decoded

Image = npt.NDArray[np.uint8]
DAY = datetime(2025, 6, 1, 2, 30, tzinfo=UTC)  # 10:30 in Beijing
NIGHT = datetime(2025, 6, 1, 14, 30, tzinfo=UTC)  # 22:30: the scene around the car is dim
PLATES = {
    PlateColour.BLUE: "京A12345",
    PlateColour.YELLOW: "粤B1234学",
    PlateColour.GREEN: "粤BD12345",
    PlateColour.WHITE: "京A1234警",
}
SIZES = [(640, 360), (1280, 720), (1920, 1080), (800, 600)]
# PASCAL VOC counts a detection right from an IoU of 0.5. A crop asks more: 0.7 leaves a
# located box off the plate by at most a fraction of its height on a side, which the
# crop's margin (a quarter of the height) takes in; test_located_crop_holds_the_whole_plate
# checks that directly.
MIN_IOU = 0.7


def snapshot(
    colour: PlateColour, size: tuple[int, int], at: datetime = DAY, seed: int = 2
) -> tuple[Image, Box]:
    snap = render(PLATES[colour], colour, gate_angle=0.0, at=at, seed=seed, size=size)
    return decoded(snap.jpeg), snap.box


def tilted(image: Image, box: Box, degrees: float) -> tuple[Image, Box]:
    """``image`` turned ``degrees`` counter-clockwise about the plate's centre, as a car
    stopped askew shows its plate, and the upright box around the turned plate."""
    x, y, w, h = box
    turn = cv2.getRotationMatrix2D((x + w / 2, y + h / 2), degrees, 1.0)
    out = cv2.warpAffine(
        image, turn, (image.shape[1], image.shape[0]), borderMode=cv2.BORDER_REPLICATE
    )
    corners = np.array([[x, y, 1], [x + w, y, 1], [x, y + h, 1], [x + w, y + h, 1]]) @ turn.T
    (x0, y0), (x1, y1) = corners.min(axis=0), corners.max(axis=0)
    return np.asarray(out, np.uint8), (round(x0), round(y0), round(x1 - x0), round(y1 - y0))


def rms_contrast(image: Image) -> float:
    """The standard deviation of luma over its range (Peli's RMS contrast)."""
    return float(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY).std() / 255)


def edge_contrast(image: Image) -> float:
    """The mean strength of the Laplacian: how crisply strokes stand off the face."""
    return float(np.abs(cv2.Laplacian(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), cv2.CV_64F)).mean())


def test_crop_with_the_box_is_the_plate_and_its_margin() -> None:
    """The crop is the box's pixels, grown by a quarter of the plate's height each side."""
    image, (x, y, w, h) = snapshot(PlateColour.BLUE, (1280, 720))
    exact = crop(image, (x, y, w, h), margin=0.0)
    assert np.array_equal(exact, image[y : y + h, x : x + w])
    roomy = crop(image, (x, y, w, h))
    pad = round(h * 0.25)
    assert roomy.shape == (h + 2 * pad, w + 2 * pad, 3)
    assert np.array_equal(roomy[pad : pad + h, pad : pad + w], exact)


def test_crop_is_clamped_to_the_picture() -> None:
    """A box reaching past the frame (a car half out of the picture) is cut off there."""
    image, _ = snapshot(PlateColour.BLUE, (640, 360))
    corner = crop(image, (-30, 340, 120, 40))
    assert np.array_equal(corner, image[330:360, 0:100])


def test_overlap_is_intersection_over_union() -> None:
    """Half of one box over the other, side by side: a third; the same box: one."""
    assert overlap((0, 0, 10, 10), (5, 0, 10, 10)) == 50 / 150
    assert overlap((3, 4, 10, 10), (3, 4, 10, 10)) == 1.0
    assert overlap((0, 0, 10, 10), (20, 0, 10, 10)) == 0.0


def test_crop_is_a_copy() -> None:
    """Drawing on a crop leaves the snapshot as the camera sent it."""
    image, box = snapshot(PlateColour.BLUE, (640, 360))
    before = image.copy()
    crop(image, box)[:] = 0
    assert np.array_equal(image, before)


@pytest.mark.parametrize(
    "box", [(700, 10, 50, 20), (10, 10, 0, 20), (10, 10, 40, -1), (-100, -100, 50, 50)]
)
def test_box_outside_or_empty_is_refused(box: Box) -> None:
    """A box with no area, or none of it in the picture, is a clear error."""
    image, _ = snapshot(PlateColour.BLUE, (640, 360))
    with pytest.raises(PlateImageError) as refused:
        crop(image, box)
    assert refused.value.code == "bad_plate_image"


def test_picture_that_is_not_8_bit_colour_is_refused() -> None:
    """A grey or float picture is refused rather than cropped into nonsense colours."""
    with pytest.raises(PlateImageError, match="8-bit BGR"):
        crop(np.zeros((360, 640), np.uint8), (10, 10, 40, 12))
    with pytest.raises(PlateImageError, match="8-bit BGR"):
        locate(np.zeros((360, 640, 3), np.float32))


@pytest.mark.parametrize("at", [DAY, NIGHT], ids=["day", "night"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("colour", list(PLATES), ids=lambda c: c.value)
def test_located_box_overlaps_the_plate(
    colour: PlateColour, size: tuple[int, int], at: datetime
) -> None:
    """Without a box the plate is found where it is, and its colour is named."""
    image, truth = snapshot(colour, size, at)
    found = locate(image)
    assert found is not None
    assert overlap(found.box, truth) >= MIN_IOU, (found, truth)
    assert found.colour is colour


@pytest.mark.parametrize(
    ("colour", "paint"),
    [(PlateColour.WHITE, CAR_PAINTS[0]), (PlateColour.BLUE, CAR_PAINTS[5])],
    ids=["white-on-white", "blue-on-blue"],
)
def test_plate_on_a_car_of_its_own_colour_is_found(colour: PlateColour, paint: BGR) -> None:
    """Where the bumper has the plate's colour, the characters still single it out."""
    snap = render(PLATES[colour], colour, gate_angle=0.0, at=DAY, seed=1, paint=paint)
    image = decoded(snap.jpeg)
    found = locate(image)
    assert found is not None
    assert overlap(found.box, snap.box) >= MIN_IOU, (found, snap.box)
    assert found.colour is colour


@pytest.mark.parametrize("degrees", [-10.0, -5.0, 5.0, 10.0])
@pytest.mark.parametrize("colour", list(PLATES), ids=lambda c: c.value)
def test_tilted_plate_is_located(colour: PlateColour, degrees: float) -> None:
    """A plate turned up to 10° is found, upright box around it."""
    image, box = snapshot(colour, (1280, 720), NIGHT, seed=4)
    image, truth = tilted(image, box, degrees)
    found = locate(image)
    assert found is not None
    assert overlap(found.box, truth) >= MIN_IOU, (found, truth)
    assert found.colour is colour


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
@pytest.mark.parametrize("colour", list(PLATES), ids=lambda c: c.value)
def test_located_crop_holds_the_whole_plate(colour: PlateColour, size: tuple[int, int]) -> None:
    """What the agent is shown from a found plate has every character in it."""
    image, truth = snapshot(colour, size, seed=5)
    found = locate(image)
    assert found is not None
    x, y, w, h = widen(found.box, (image.shape[1], image.shape[0]))
    tx, ty, tw, th = truth
    assert x <= tx and y <= ty and tx + tw <= x + w and ty + th <= y + h, (found, truth)


@pytest.mark.parametrize("at", [DAY, NIGHT], ids=["day", "night"])
@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_no_plate_no_box(size: tuple[int, int], at: datetime) -> None:
    """An empty lane, time stamp and all, holds nothing plate-like: None, not a guess."""
    image = np.empty((size[1], size[0], 3), np.uint8)
    draw_lane(image, night=at is NIGHT)
    draw_overlay(image, "2025-06-01 10:30:00 +08:00", "P1-IN")
    assert locate(image) is None
    assert readable(image) is None


@pytest.mark.parametrize("degrees", [-12.0, -6.0, 3.0, 6.0, 12.0])
@pytest.mark.parametrize("size", [(640, 360), (1920, 1080)], ids=["640", "1920"])
def test_deskew_levels_a_known_tilt(size: tuple[int, int], degrees: float) -> None:
    """The tilt is read within a degree from the plate's edges, and levelling the crop
    leaves under a degree of it."""
    image, box = snapshot(PlateColour.BLUE, size, seed=3)
    image, truth = tilted(image, box, degrees)
    plate = crop(image, truth)
    tilt = estimate_tilt(plate)
    assert abs(tilt - degrees) < 1.0
    assert abs(estimate_tilt(deskew(plate, tilt))) < 1.0


def test_level_plate_is_left_alone() -> None:
    """A plate the camera sees level is not rotated (a rotation only blurs)."""
    image, box = snapshot(PlateColour.YELLOW, (1280, 720))
    plate = crop(image, box)
    assert abs(estimate_tilt(plate)) < 0.5
    assert deskew(plate) is plate


@pytest.mark.parametrize("colour", list(PLATES), ids=lambda c: c.value)
def test_enhanced_crop_has_crisper_strokes(colour: PlateColour) -> None:
    """Sharpening makes the characters' edges stand out more, on every plate colour."""
    image, box = snapshot(colour, (640, 360))
    raw = upscale(crop(image, box))
    assert edge_contrast(enhance(raw)) > 1.3 * edge_contrast(raw)


@pytest.mark.parametrize("colour", list(PLATES), ids=lambda c: c.value)
def test_enhancing_restores_a_washed_out_plate(colour: PlateColour) -> None:
    """A plate in glare (its grey levels squeezed into the top third) comes back with at
    least 30 % more contrast."""
    image, box = snapshot(colour, (1280, 720))
    glare = (image.astype(np.float32) * 0.35 + 150).astype(np.uint8)
    raw = upscale(crop(glare, box))
    assert rms_contrast(enhance(raw)) > 1.3 * rms_contrast(raw)


def test_readable_crop_is_level_and_of_the_readable_height() -> None:
    """With the camera's box: the plate, levelled and at the fixed height, colour not
    guessed; without: the same plate found, colour named."""
    image, box = snapshot(PlateColour.GREEN, (1920, 1080))
    image, truth = tilted(image, box, 7.0)
    boxed = readable(image, truth)
    assert boxed is not None
    assert boxed.image.shape[0] == READABLE_HEIGHT
    assert boxed.box == truth and boxed.colour is None
    assert abs(boxed.tilt - 7.0) < 1.0
    assert abs(estimate_tilt(boxed.image)) < 1.0
    found = readable(image)
    assert found is not None
    assert found.colour is PlateColour.GREEN
    assert overlap(found.box, truth) >= MIN_IOU


def test_encoded_crop_decodes_to_the_picture() -> None:
    """PNG gives the pixels back exactly; JPEG at the default quality nearly."""
    image, box = snapshot(PlateColour.BLUE, (1280, 720))
    plate = readable(image, box)
    assert plate is not None
    png = decoded(encode(plate.image, CropFormat.PNG))
    assert np.array_equal(png, plate.image)
    jpeg = encode(plate.image)
    assert jpeg[:2] == b"\xff\xd8"
    assert np.abs(decoded(jpeg).astype(int) - plate.image).mean() < 3.0
