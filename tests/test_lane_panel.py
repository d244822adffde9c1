"""The simulated lane's LED display on its camera: the lines a display command sent, and
its payment QR code, which a phone (here OpenCV's reader) decodes off the picture."""

from __future__ import annotations

import random
import time
from dataclasses import replace

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from gates.lane.sim import SimLane
from gates.lane.snapshot import AT_BARRIER, JPEG_QUALITY, Panel, View
from gates.protocol import MAX_DISPLAY_QR
from media.lane.camera import SyntheticCamera
from media.lane.panel import PanelLayout, draw_panel, panel_layout
from media.lane.scene import LaneScene, car_for
from media.lane.stamp import stamp_height
from tests.qr import read_qr
from tests.test_sim import QUIET
from tests.test_sim_camera import frame

Image = npt.NDArray[np.uint8]
HD = (1280, 720)
PAY = "https://pay.example.cn/o/8f2a?lane=P1-OUT&fen=1000"
# WeChat Pay's Native payment link, as its code_url is shown for a WeChat Pay order.
WECHAT_PAY = "weixin://wxpay/bizpayurl?pr=NwY5Mz9"
# The longest link the protocol allows: the densest code the panel must show.
LONGEST = ("https://pay.example.cn/o/" + "8f2a" * MAX_DISPLAY_QR)[:MAX_DISPLAY_QR]
LINES = ("请扫码缴费", "粤B12345 ¥10.00")


def jpeg_round_trip(img: Image) -> Image:
    ok, data = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    assert ok
    return np.asarray(cv2.imdecode(data, cv2.IMREAD_COLOR), np.uint8)


async def filmed(lines: tuple[str, ...], qr: str | None, *, car: bool = False) -> Image:
    """A 1280x720 frame of a simulated lane after a display command, with a car stopped
    at its barrier when ``car``."""
    lane = SimLane("P1-OUT", random.Random(1), QUIET)
    await lane.display(lines, qr)
    view = lane.view(0.0)
    if car:
        view = replace(view, car=car_for(0, 1), pose=AT_BARRIER)
    return LaneScene(HD, "P1-OUT exit").draw(view, time.time())


def amber_rows(img: Image, place: PanelLayout) -> list[bool]:
    """For each text row of the panel at ``place``, whether it holds amber ink."""
    rows = []
    for n in range(place.rows):
        y = place.y + place.text_top + n * place.line
        cells = img[y : y + place.line, place.x + place.pad : place.x + place.width - place.pad]
        b, g, r = (cells[:, :, k].astype(int) for k in range(3))
        rows.append(bool(((r > 150) & (r > g + 40) & (g > 70) & (b < 100)).sum() > 20))
    return rows


@pytest.mark.parametrize("qr", [PAY, LONGEST, WECHAT_PAY])
async def test_the_qr_a_display_command_sent_decodes_off_the_camera_picture(qr: str) -> None:
    """The exact URL is read back from the frame, and again after a JPEG round trip at
    the camera's quality, with a car at the barrier beside the panel."""
    img = await filmed(LINES, qr, car=True)
    assert read_qr(img) == qr
    assert read_qr(jpeg_round_trip(img)) == qr


async def test_the_qr_decodes_off_the_live_video_as_a_viewer_sees_it() -> None:
    """The longest link survives the H.264 the agent's console plays."""
    lane = SimLane("P1-OUT", random.Random(1), QUIET)
    await lane.display(LINES, LONGEST)
    picture = await frame(SyntheticCamera("P1-OUT", view=lane.view, size=HD))
    assert read_qr(picture) == LONGEST


async def test_without_a_qr_the_panel_shows_its_lines_and_no_code() -> None:
    """Two lines light the panel's first two rows and nothing else; no QR code is found."""
    img = await filmed(LINES, None)
    place = panel_layout(HD, stamp_height(HD[0]))
    assert amber_rows(img, place) == [True, True, False, False]
    assert read_qr(img) == ""
    assert read_qr(jpeg_round_trip(img)) == ""


async def test_a_new_display_command_replaces_the_code_on_camera() -> None:
    """The picture follows the lane's display: a second command's QR, then none."""
    lane = SimLane("P1-OUT", random.Random(1), QUIET)
    scene = LaneScene(HD, "P1-OUT exit")
    await lane.display(LINES, PAY)
    first = scene.draw(lane.view(0.0), time.time())
    await lane.display(LINES, PAY + "&again=1")
    second = scene.draw(lane.view(0.0), time.time())
    await lane.display(("欢迎光临",))
    cleared = scene.draw(lane.view(0.0), time.time())
    assert (read_qr(first), read_qr(second), read_qr(cleared)) == (PAY, PAY + "&again=1", "")
    assert amber_rows(cleared, scene.panel) == [True, False, False, False]


def test_without_a_cjk_font_every_line_still_shows() -> None:
    """Chinese drawn as boxes and ASCII in OpenCV's face: no line is left blank."""
    place = panel_layout(HD, stamp_height(HD[0]))
    face = draw_panel(place, Panel(("请扫码缴费", "", "P1-OUT ¥10")), None)
    img = np.zeros((HD[1], HD[0], 3), np.uint8)
    img[place.y : place.y + place.height, place.x : place.x + place.width] = face
    assert amber_rows(img, place) == [True, False, True, False]


def test_an_empty_panel_is_dark_and_shows_no_code() -> None:
    """A panel never told anything is unlit: no amber, no QR code."""
    img = LaneScene(HD, "P1-OUT exit").draw(View(0.0), time.time())
    assert amber_rows(img, panel_layout(HD, stamp_height(HD[0]))) == [False] * 4
    assert read_qr(img) == ""
