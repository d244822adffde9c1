"""The printed help sticker, read back as a phone would: OpenCV's QR decoder
(``tests.qr``) finds the URL, and the URL's token is the one the centre signed. Real
font, real Pillow output."""

from __future__ import annotations

import io
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from console.sticker_format import StickerFormat
from console.sticker_print import (
    DPI,
    PAGE,
    FontMissing,
    Sticker,
    find_cjk_font,
    mm,
    render_sticker,
)
from console.sticker_token import StickerClaim, make_token, read_token
from gates.fonts import FONT_ENV, FONT_PACKAGE, CjkFont
from tests.pictures import decoded
from tests.qr import decode_qr, qr_url

KEY = bytes(range(32))
TOKEN = make_token(KEY, StickerClaim("P1-OUT", 3))
STICKER = Sticker(
    f"https://seat.example.com/help/{TOKEN}", "P1-OUT", "人民路 出口", "人民路停车场", 3
)


@pytest.fixture(scope="module")
def font() -> CjkFont:
    return find_cjk_font()


def test_the_png_holds_a_qr_code_whose_token_verifies(font: CjkFont) -> None:
    """Decoded, the QR code is the sticker's URL, and its token is lane P1-OUT's sticker 3."""
    png = Image.open(io.BytesIO(render_sticker(STICKER, StickerFormat.PNG, font)))
    assert png.format == "PNG" and png.size == PAGE
    assert png.info["dpi"] == pytest.approx((DPI, DPI), abs=0.01)
    url, _ = decode_qr(np.array(png.convert("L")))
    assert url == STICKER.url
    token = url.removeprefix("https://seat.example.com/help/")
    assert read_token(KEY, token) == StickerClaim("P1-OUT", 3)


@pytest.mark.parametrize(
    "key_hex",
    [
        # Keys whose stickers OpenCV's classic QRCodeDetector (5.0) finds no code in.
        "6cce51205843e901296e4e788944403ca72b375f4c78519e8879d0b4d32336a8",
        "21d98a596bbbf513ed1dfea9cedc9d90138d473e2dd9e0c3e82216742286e828",
    ],
)
def test_the_qr_code_reads_whatever_the_key(font: CjkFont, key_hex: str) -> None:
    """The centre's key is random: a sticker signed with any key reads back."""
    key = bytes.fromhex(key_hex)
    url = f"https://seat.example.com/help/{make_token(key, StickerClaim('P1-OUT', 1))}"
    sticker = Sticker(url, "P1-OUT", "P1-OUT name", "人民路停车场", 1)
    assert qr_url(render_sticker(sticker, StickerFormat.PNG, font)) == url


def test_the_qr_code_is_sixty_millimetres_on_an_a6_card(font: CjkFont) -> None:
    """105 × 148 mm at 300 dpi, the code at least 60 mm across: readable at arm's length."""
    png = Image.open(io.BytesIO(render_sticker(STICKER, StickerFormat.PNG, font)))
    assert png.size == (1240, 1748)
    _, side = decode_qr(np.array(png.convert("L")))
    assert mm(60) <= side <= mm(70)


def test_the_qr_code_still_reads_when_printed_small_and_seen_from_afar(font: CjkFont) -> None:
    """At a third of the size (a phone held back, a cheap camera) it still decodes."""
    png = np.array(Image.open(io.BytesIO(render_sticker(STICKER, StickerFormat.PNG, font))))
    far = cv2.resize(png, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)
    assert decode_qr(far)[0] == STICKER.url


def test_the_pdf_is_one_a6_page_holding_the_same_qr_code(font: CjkFont) -> None:
    """A PDF whose page is A6 and whose one picture, decoded, reads as the same URL."""
    pdf = render_sticker(STICKER, StickerFormat.PDF, font)
    assert pdf.startswith(b"%PDF-")
    media_box = re.search(rb"/MediaBox \[ 0 0 ([\d.]+) ([\d.]+) \]", pdf)
    assert media_box is not None
    points = [float(side) for side in media_box.groups()]
    assert points == pytest.approx([105 / 25.4 * 72, 148 / 25.4 * 72], abs=1)
    assert b"/Subtype /Image" in pdf and b"/Width 1240" in pdf and b"/Height 1748" in pdf
    start = pdf.index(b"stream", pdf.index(b"/Subtype /Image")) + len(b"stream\n")
    embedded = decoded(pdf[start:], cv2.IMREAD_GRAYSCALE)
    assert embedded.shape == (1748, 1240)
    assert decode_qr(embedded)[0] == STICKER.url


def test_the_font_draws_chinese_not_empty_boxes(font: CjkFont) -> None:
    """Each character of the instructions has ink unlike the font's glyph for a
    character it lacks: the card shows text, not tofu."""
    face = ImageFont.truetype(str(font.path), 64, index=font.index)

    def ink(char: str) -> bytes:
        canvas = Image.new("L", (96, 96))
        ImageDraw.Draw(canvas).text((8, 8), char, font=face, fill=255)
        return canvas.tobytes()

    lacking = ink("\U0010fffd")
    for char in "需要帮助请用手机扫码呼叫远程坐席点击服务小时「」？":
        drawn = ink(char)
        assert any(drawn), char
        assert drawn != lacking, char


def test_without_a_chinese_font_the_error_names_the_package() -> None:
    """Fonts that are missing or have no Chinese are passed over, and the operator is
    told what to install."""
    candidates = [
        CjkFont(Path("/nonexistent/wqy-zenhei.ttc")),
        CjkFont(Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")),  # Latin only
    ]
    with pytest.raises(FontMissing) as missing:
        find_cjk_font(candidates)
    assert FONT_PACKAGE in missing.value.detail


def test_the_font_configured_is_the_only_one_tried(
    font: CjkFont, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``SEAT_CJK_FONT`` names the font: it is used, and one that cannot draw the text is
    refused rather than quietly passed over for the system's."""
    monkeypatch.setenv(FONT_ENV, str(font.path))
    assert find_cjk_font() == CjkFont(font.path)
    monkeypatch.setenv(FONT_ENV, "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    with pytest.raises(FontMissing):
        find_cjk_font()


def test_the_longest_names_and_a_long_address_still_fit(font: CjkFont) -> None:
    """64-character names (the most `seat lanes add` allows) and a long public URL are
    drawn without running off the card, and the code still reads."""
    lane_id = "L" * 64
    token = make_token(KEY, StickerClaim(lane_id, 10**18 - 1))
    url = f"https://parking-help.some-long-operator-name.example.com/seat/help/{token}"
    sticker = Sticker(url, lane_id, "停" * 64, "W" * 64, 10**18 - 1)
    png = Image.open(io.BytesIO(render_sticker(sticker, StickerFormat.PNG, font)))
    assert decode_qr(np.array(png.convert("L")))[0] == url
