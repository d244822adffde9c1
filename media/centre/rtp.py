"""RTP packets for the lane's encoded units, built as bytes: pure, no I/O.

Every viewer gets its own RTP stream (its own SSRC, numbering and timestamp origin, and
the header extension ids its browser negotiated), so each packet is built per viewer.
aiortc builds one with a generic ``RtpPacket`` object, datetime arithmetic for the send
time and a loop over every extension it knows: part of why a packet cost the centre 2-3
times what it costs Janus (docs/media.md, "What a viewer costs, per packet"). Here a
packet is one ``struct.pack`` of the fixed header, an extension block made once per
unit, and the payload.

Header extensions use the one-byte form of RFC 8285 (profile 0xBEDE): the two the
centre sends are the stream's MID (RFC 8843, BUNDLE demultiplexing) and abs-send-time
(the send time in 6.18 fixed-point seconds, which a browser's bandwidth estimate
reads).
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass

from aiortc.codecs.h264 import H264Encoder

from media.units import Kind, MediaUnit

MID_URI = "urn:ietf:params:rtp-hdrext:sdes:mid"
ABS_SEND_TIME_URI = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"

_FIXED = struct.Struct("!BBHII")
_VERSION_2 = 0x80
_HAS_EXTENSION = 0x10
_ONE_BYTE_PROFILE = 0xBEDE
_NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 (NTP) to 1970-01-01 (Unix)
# aiortc's H.264 packetiser, private static methods of its encoder: read here, so an
# aiortc that renames them fails at import rather than at the first frame.
_split_bitstream = H264Encoder._split_bitstream
_packetize = H264Encoder._packetize


@dataclass(frozen=True, slots=True)
class ExtensionIds:
    """The ids a peer negotiated for the extensions the centre sends; 0 is not sent."""

    mid: int = 0
    abs_send_time: int = 0

    @classmethod
    def negotiated(cls, extensions: dict[str, int]) -> ExtensionIds:
        """From the negotiated ``{uri: id}``; extensions the centre does not send are
        ignored."""
        return cls(
            mid=extensions.get(MID_URI, 0), abs_send_time=extensions.get(ABS_SEND_TIME_URI, 0)
        )


def ntp_now() -> int:
    """The wall clock as a 64-bit NTP timestamp (RFC 3550 section 4), as a sender
    report carries it."""
    return int((time.time() + _NTP_EPOCH_OFFSET) * (1 << 32))


def abs_send_time(ntp: int) -> int:
    """The 24-bit abs-send-time of an NTP timestamp: 6 bits of seconds, 18 of fraction."""
    return (ntp >> 14) & 0xFFFFFF


def extension_block(ids: ExtensionIds, mid: str | None, send_time: int) -> bytes:
    """The header extension block (profile, length, elements, padding), or b"" when
    there is nothing to send. One-byte elements hold 1 to 16 bytes (RFC 8285 4.2)."""
    elements = b""
    if ids.mid and mid:
        value = mid.encode("ascii")
        if not 1 <= len(value) <= 16:
            raise ValueError(f"a MID is 1 to 16 bytes in a one-byte extension, not {mid!r}")
        elements += bytes([ids.mid << 4 | (len(value) - 1)]) + value
    if ids.abs_send_time:
        elements += bytes([ids.abs_send_time << 4 | 2]) + send_time.to_bytes(3, "big")
    if not elements:
        return b""
    elements += b"\x00" * (-len(elements) % 4)
    return struct.pack("!HH", _ONE_BYTE_PROFILE, len(elements) // 4) + elements


def packet(
    payload_type: int,
    marker: bool,
    sequence: int,
    timestamp: int,
    ssrc: int,
    extensions: bytes,
    payload: bytes,
) -> bytes:
    """One RTP packet (RFC 3550 5.1): version 2, no padding, no CSRC."""
    first = _VERSION_2 | (_HAS_EXTENSION if extensions else 0)
    second = (0x80 if marker else 0) | payload_type
    return _FIXED.pack(first, second, sequence, timestamp, ssrc) + extensions + payload


def payloads(unit: MediaUnit) -> list[bytes]:
    """The RTP payloads of one unit: an Opus packet as it is; an H.264 access unit split
    into its NAL units and packed as single NAL, STAP-A and FU-A payloads (RFC 6184,
    packetization-mode 1) no larger than aiortc's own (1300 bytes), so packets fit any
    path's MTU with SRTP's overhead."""
    if unit.kind is Kind.AUDIO:
        return [unit.data]
    return _packetize(_split_bitstream(unit.data))
