"""Encoded media units as they cross the lane's media connection: one binary WebSocket
message per video access unit or Opus packet, a fixed header then the payload.

Pure values, no sockets. The header is ``struct "!BIQd"`` (21 bytes, network order):

========  ======  ==========================================================
field     type    meaning
========  ======  ==========================================================
flags     uint8   bit 0: keyframe (an IDR access unit with SPS/PPS before it);
                  bit 1: audio (the payload is one Opus packet, 20 ms)
seq       uint32  per-kind counter, wraps; a gap means units were skipped
pts       uint64  presentation time: 90 kHz for video, 48 kHz for audio
captured  double  Unix time the source captured it, for freshness and frame age
========  ======  ==========================================================

Video payloads are H.264 Annex-B access units (start codes, never length-prefixed), so
they pass from camera to browser without being decoded anywhere.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from gates.errors import Malformed, TooLarge

HEADER = struct.Struct("!BIQd")
VIDEO_CLOCK = 90_000
AUDIO_CLOCK = 48_000
# A 1280x720 IDR at 1.5 Mbit/s is ~60-120 KB; a 4 MP camera's can reach ~500 KB.
MAX_UNIT_BYTES = 2 << 20
# The largest legal binary message of the media connection: header and largest payload.
MAX_UNIT_MESSAGE_BYTES = HEADER.size + MAX_UNIT_BYTES
_SEQ_MOD = 1 << 32


class Kind(enum.Enum):
    VIDEO = "video"
    AUDIO = "audio"


_KEYFRAME = 0x01
_AUDIO = 0x02
_KNOWN_FLAGS = _KEYFRAME | _AUDIO


@dataclass(frozen=True, slots=True)
class MediaUnit:
    kind: Kind
    seq: int
    pts: int
    captured: float
    data: bytes
    keyframe: bool = False

    def encode(self) -> bytes:
        flags = (_KEYFRAME if self.keyframe else 0) | (_AUDIO if self.kind is Kind.AUDIO else 0)
        return HEADER.pack(flags, self.seq % _SEQ_MOD, self.pts, self.captured) + self.data

    @classmethod
    def parse(cls, raw: bytes) -> MediaUnit:
        """Decode one binary message; raises ``Malformed``/``TooLarge`` naming the rule."""
        if len(raw) > MAX_UNIT_MESSAGE_BYTES:
            raise TooLarge(
                f"a media unit of {len(raw)} bytes exceeds {MAX_UNIT_MESSAGE_BYTES} "
                f"(a {HEADER.size}-byte header and at most {MAX_UNIT_BYTES} of payload)"
            )
        if len(raw) <= HEADER.size:
            raise Malformed(f"a media unit is a {HEADER.size}-byte header and a payload")
        flags, seq, pts, captured = HEADER.unpack_from(raw)
        if flags & ~_KNOWN_FLAGS:
            raise Malformed(f"unknown media unit flags 0x{flags:02x}")
        audio = bool(flags & _AUDIO)
        if audio and flags & _KEYFRAME:
            raise Malformed("an audio unit cannot be a keyframe")
        if captured != captured or captured < 0:  # NaN or negative
            raise Malformed("capture time must be a non-negative Unix time")
        return cls(
            kind=Kind.AUDIO if audio else Kind.VIDEO,
            seq=seq,
            pts=pts,
            captured=captured,
            data=raw[HEADER.size :],
            keyframe=bool(flags & _KEYFRAME),
        )
