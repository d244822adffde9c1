"""Reading back the JPEG and PNG files the centre and the lanes make, for the tests that
look at their pixels."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt


def decoded(data: bytes, flags: int = cv2.IMREAD_COLOR) -> npt.NDArray[np.uint8]:
    """The picture in ``data`` (BGR, or grey with ``cv2.IMREAD_GRAYSCALE``); fails the
    test when OpenCV cannot read it, which it reports by returning nothing."""
    picture = cv2.imdecode(np.frombuffer(data, np.uint8), flags)
    assert picture is not None, "not a picture OpenCV can read"
    return np.asarray(picture, np.uint8)
