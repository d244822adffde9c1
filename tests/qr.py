"""Reading QR codes back, as a phone would, for every test that checks one.

The decoder is OpenCV's ``QRCodeDetectorAruco``. Its classic ``QRCodeDetector`` finds
no code in about one valid code in twenty-five, depending only on the text's bits
(opencv/opencv#29540): with a random sticker key, a test failed now and then while
zbar and the Aruco detector read those same pictures."""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image


def read_qr(picture: np.ndarray) -> str:
    """The text of the QR code in ``picture``, or "" when none is found."""
    text, _, _ = cv2.QRCodeDetectorAruco().detectAndDecode(picture)
    return str(text)


def decode_qr(picture: np.ndarray) -> tuple[str, float]:
    """The QR code's text and its side in pixels; fails the test when there is none."""
    text, corners, _ = cv2.QRCodeDetectorAruco().detectAndDecode(picture)
    assert text, "no QR code could be read"
    top_left, top_right = corners[0][0], corners[0][1]
    return text, float(np.linalg.norm(top_right - top_left))


def qr_url(picture: bytes) -> str:
    """The text of the QR code in a PNG file."""
    return decode_qr(np.array(Image.open(io.BytesIO(picture)).convert("L")))[0]
