"""What the centre puts on a lane's display for a driver's phone: a link as a QR code
(a payment order's, a no-plate code's) and an amount in yuan. The agent's screen shows
the same QR code, so an agent can tell the driver what the display should show."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import segno

from gates.qrcodes import QUIET_MODULES
from gates.wire import format_time


@dataclass(frozen=True, slots=True)
class Shown:
    """A link put on a lane's display as a QR code (a payment order's, a no-plate
    code's), as the API answers it: the URL, its QR code, when it stops working."""

    url: str
    qr_png: bytes
    expires_at: datetime
    display: str  # the display command's outcome at the lane

    def to_json(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "qr_png": qr_base64(self.qr_png),
            "expires_at": format_time(self.expires_at),
            "display": self.display,
        }


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}元"


def qr_png(url: str) -> bytes:
    """A QR code of ``url`` as a PNG, whole pixels per module with the quiet zone
    ISO/IEC 18004 asks for (``gates.qrcodes``), big enough for an agent's screen."""
    out = io.BytesIO()
    segno.make_qr(url, error="m").save(out, kind="png", scale=6, border=QUIET_MODULES)
    return out.getvalue()


def qr_base64(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")
