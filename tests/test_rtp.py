"""RTP packets built as bytes, read back by aiortc's own parser (what a peer does)."""

from __future__ import annotations

import time

import pytest
from aiortc.codecs.h264 import H264PayloadDescriptor
from aiortc.rtcrtpparameters import RTCRtpHeaderExtensionParameters, RTCRtpParameters
from aiortc.rtp import HeaderExtensionsMap, RtpPacket

from media.centre import rtp
from media.units import Kind, MediaUnit

IDS = rtp.ExtensionIds(mid=3, abs_send_time=7)


def parse(data: bytes, ids: rtp.ExtensionIds = IDS) -> RtpPacket:
    extensions = HeaderExtensionsMap()
    extensions.configure(
        RTCRtpParameters(
            headerExtensions=[
                RTCRtpHeaderExtensionParameters(id=ids.mid, uri=rtp.MID_URI),
                RTCRtpHeaderExtensionParameters(id=ids.abs_send_time, uri=rtp.ABS_SEND_TIME_URI),
            ]
        )
    )
    return RtpPacket.parse(data, extensions)


def test_a_packet_reads_back_with_every_field() -> None:
    """Payload type, marker, numbering, timestamp, SSRC and payload survive a parse."""
    block = rtp.extension_block(IDS, "1", 0x123456)
    data = rtp.packet(102, True, 65535, 0xFFFFFFFF, 0xDEADBEEF, block, b"opus")
    packet = parse(data)
    assert (packet.version, packet.payload_type, packet.marker) == (2, 102, 1)
    assert (packet.sequence_number, packet.timestamp, packet.ssrc) == (
        65535,
        0xFFFFFFFF,
        0xDEADBEEF,
    )
    assert packet.payload == b"opus"
    assert packet.extensions.mid == "1"
    assert packet.extensions.abs_send_time == 0x123456


def test_without_a_marker_the_bit_is_clear() -> None:
    """Only the last packet of a unit carries the marker."""
    packet = parse(rtp.packet(96, False, 1, 2, 3, rtp.extension_block(IDS, "0", 1), b"x"))
    assert packet.marker == 0


def test_extensions_are_padded_to_whole_words() -> None:
    """A two-byte MID and the 3-byte send time take 7 bytes, padded to 8 (RFC 8285)."""
    block = rtp.extension_block(IDS, "10", 5)
    assert block[:2] == b"\xbe\xde"
    assert int.from_bytes(block[2:4], "big") == 2
    assert len(block) == 4 + 8
    assert parse(rtp.packet(96, False, 1, 2, 3, block, b"x")).extensions.mid == "10"


def test_an_extension_the_peer_did_not_negotiate_is_left_out() -> None:
    """With no ids there is no block, and the header says there is none."""
    assert rtp.extension_block(rtp.ExtensionIds(), "0", 5) == b""
    data = rtp.packet(96, False, 1, 2, 3, b"", b"payload")
    assert data[0] & 0x10 == 0
    assert RtpPacket.parse(data).payload == b"payload"


def test_only_the_send_time_when_the_mid_was_not_negotiated() -> None:
    """A peer without MID still gets abs-send-time."""
    ids = rtp.ExtensionIds(abs_send_time=2)
    packet = parse(rtp.packet(96, False, 1, 2, 3, rtp.extension_block(ids, "0", 99), b"x"), ids)
    assert (packet.extensions.mid, packet.extensions.abs_send_time) == (None, 99)


def test_a_mid_that_does_not_fit_a_one_byte_element_is_refused() -> None:
    """A MID over 16 bytes cannot be sent in the one-byte form."""
    with pytest.raises(ValueError, match="1 to 16 bytes"):
        rtp.extension_block(IDS, "m" * 17, 0)


def test_the_negotiated_ids_are_picked_by_uri() -> None:
    """Extensions the centre does not send are ignored."""
    ids = rtp.ExtensionIds.negotiated(
        {rtp.MID_URI: 4, rtp.ABS_SEND_TIME_URI: 9, "urn:ietf:params:rtp-hdrext:toffset": 2}
    )
    assert ids == rtp.ExtensionIds(mid=4, abs_send_time=9)


def test_the_ntp_clock_is_the_wall_clock_since_1900() -> None:
    """Seconds since 1900 in the upper 32 bits."""
    before = time.time()
    seconds = rtp.ntp_now() >> 32
    assert int(before) + 2_208_988_800 <= seconds <= int(time.time()) + 2_208_988_800


def test_abs_send_time_is_six_bits_of_seconds_and_eighteen_of_fraction() -> None:
    """65.5 s wraps to 1.5 s: 1 << 18 | 1 << 17."""
    ntp = (65 << 32) | (1 << 31)
    assert rtp.abs_send_time(ntp) == (1 << 18) | (1 << 17)


def test_an_opus_unit_is_one_payload_as_it_came() -> None:
    """Audio is not repacked."""
    unit = MediaUnit(Kind.AUDIO, 0, 0, 0.0, b"\xfc" + b"\x01" * 80)
    assert rtp.payloads(unit) == [unit.data]


def test_a_large_h264_unit_is_cut_into_fu_a_payloads_that_join_back() -> None:
    """An IDR of 5000 bytes becomes FU-A pieces no larger than 1300 bytes, which a
    depacketiser joins back into the NAL unit with its start code."""
    nal = bytes([0x65]) + bytes(range(256)) * 19 + b"\x01" * 135
    unit = MediaUnit(Kind.VIDEO, 0, 0, 0.0, b"\x00\x00\x00\x01" + nal, keyframe=True)
    parts = rtp.payloads(unit)
    assert len(parts) == 4
    assert max(len(part) for part in parts) <= 1300
    joined = b""
    for part in parts:
        _, data = H264PayloadDescriptor.parse(part)
        joined += data
    assert joined == b"\x00\x00\x00\x01" + nal


def test_small_nal_units_of_one_access_unit_share_a_payload() -> None:
    """SPS, PPS and a small slice go as one STAP-A payload (type 24)."""
    access_unit = b"".join(
        b"\x00\x00\x00\x01" + nal for nal in (b"\x67\x42\xc0\x1f", b"\x68\xce\x3c\x80", b"\x65\x88")
    )
    parts = rtp.payloads(MediaUnit(Kind.VIDEO, 0, 0, 0.0, access_unit, keyframe=True))
    assert len(parts) == 1
    assert parts[0][0] & 0x1F == 24
