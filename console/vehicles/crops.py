"""The readable plate crop of a vehicle event (``media.plates``): its snapshot decoded,
the plate cut by the camera's box (found, when the lane sent a box with no area or one
outside the picture), levelled, enhanced and encoded as JPEG.

A crop is a function of the snapshot file and the event's box, and neither changes once
the event is kept, so ``CropCache`` keeps the last ``CROP_CACHE_MAX`` in memory, by the
snapshot's path. An agent re-matching an exit looks at the same few crops again and
again (the exit's, each candidate entry's, on every refresh, from several consoles),
and each costs a JPEG decode and encode besides the crop: milliseconds of a core
(README, "Plate correction and re-matching"). In memory rather than beside the
snapshot: pictures of cars are personal data retention must remove whole days of, and
a second file per event would be one more thing for it to find. The API serves a crop
only while the event still has its snapshot path, so a crop of a day retention removed
is never sent, and it leaves the cache within the next ``CROP_CACHE_MAX`` crops.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Final

import cv2
import numpy as np

from media.errors import PlateImageError
from media.plates.crop import Box, Image
from media.plates.readable import encode, readable

from ..errors import NotFound
from .snapshots import read_snapshot

# ~15-25 kB a crop: a few megabytes at most.
CROP_CACHE_MAX: Final = 256


def plate_crop(data_dir: Path, relative: str, box: Box) -> bytes:
    """The crop of the snapshot at ``relative`` as JPEG; 404 ``no_snapshot`` when the
    file is gone, ``no_plate`` when no plate is found in it. Blocks: run on a thread."""
    return encode(plate_image(data_dir, relative, box))


def plate_image(data_dir: Path, relative: str, box: Box) -> Image:
    """The readable plate of the snapshot at ``relative``, cut by ``box`` or found, as
    a picture (BGR); errors as ``plate_crop``'s. Blocks: run on a thread."""
    jpeg = read_snapshot(data_dir, relative)
    if jpeg is None:
        raise NotFound("no_snapshot", "this event's snapshot was removed by retention")
    decoded = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise NotFound("no_plate", "this event's snapshot is not a picture OpenCV can read")
    image: Image = np.asarray(decoded, np.uint8)
    found = None
    if box[2] > 0 and box[3] > 0:
        try:
            found = readable(image, box)
        except PlateImageError:
            found = None  # the lane's box lies outside its own picture: look instead
    if found is None:
        found = readable(image)
    if found is None:
        raise NotFound("no_plate", "no plate was found in this event's snapshot")
    return found.image


class CropCache:
    """The last crops made, by snapshot path; used from the event loop only."""

    def __init__(self, limit: int = CROP_CACHE_MAX) -> None:
        self.limit = limit
        self._crops: OrderedDict[str, bytes] = OrderedDict()

    def get(self, relative: str) -> bytes | None:
        crop = self._crops.get(relative)
        if crop is not None:
            self._crops.move_to_end(relative)
        return crop

    def put(self, relative: str, crop: bytes) -> None:
        self._crops[relative] = crop
        self._crops.move_to_end(relative)
        while len(self._crops) > self.limit:
            self._crops.popitem(last=False)
