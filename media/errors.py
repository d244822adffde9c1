"""Errors of live media. Each carries the ``code`` the console's JSON error body and the
logs use, so an operator sees which rule or which device failed."""

from __future__ import annotations


class MediaError(Exception):
    code = "media_error"

    def __init__(self, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.detail = detail
        # Extra members of the console's JSON error body, e.g. who holds the intercom.
        self.extra: dict[str, object] = extra


class CameraError(MediaError):
    code = "camera_unavailable"


class LaneOffline(MediaError):
    code = "lane_offline"


class IntercomBusy(MediaError):
    """Another user holds the lane's intercom: one voice at the lane at a time."""

    code = "intercom_busy"


class OfferRefused(MediaError):
    """A browser's offer cannot be answered; ``code`` names the rule it broke."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code


class AudioDeviceError(MediaError):
    """A lane's sound card (microphone or speaker) cannot be opened or has failed."""

    code = "audio_device_unavailable"


class CallOver(MediaError):
    """A phone offered its voice for a call that is over (or was never placed)."""

    code = "call_ended"


class PlateImageError(MediaError):
    """A picture or plate box the plate crops cannot work on (empty, not 8-bit colour,
    a box outside the picture)."""

    code = "bad_plate_image"


class OcrUnavailable(MediaError):
    """The OCR model's package is missing from this installation: no second reading of
    a plate until it is installed."""

    code = "ocr_unavailable"
