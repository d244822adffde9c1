"""H.264 Annex-B access units as bytes: NAL units and parameter sets. Pure, no I/O.

A viewer can start decoding only at an IDR picture whose SPS and PPS it has. Cameras
differ: MP4 files keep them in the header (``h264_mp4toannexb`` puts them back before
each IDR), RTSP cameras often announce them once in the SDP, raw streams send them once
at the start. ``ParameterSets`` remembers the latest ones and gives them to every IDR
unit that lacks them, so each keyframe the lane sends stands on its own.
"""

from __future__ import annotations

from typing import Final

START: Final = b"\x00\x00\x00\x01"

# ITU-T H.264 Table 7-1 nal_unit_type values the lane cares about.
IDR: Final = 5
SPS: Final = 7
PPS: Final = 8
AUD: Final = 9


def nal_units(data: bytes) -> list[bytes]:
    """The NAL units of an Annex-B byte string, without their start codes."""
    units: list[bytes] = []
    start = data.find(b"\x00\x00\x01")
    while start != -1:
        begin = start + 3
        start = data.find(b"\x00\x00\x01", begin)
        end = len(data) if start == -1 else start
        # The zero before a four-byte start code (and any trailing_zero_8bits) belongs to
        # no NAL unit; a NAL unit itself never ends in a zero byte.
        unit = data[begin:end].rstrip(b"\x00")
        if unit:
            units.append(unit)
    return units


def nal_type(unit: bytes) -> int:
    return unit[0] & 0x1F


def is_annexb(data: bytes) -> bool:
    return data.startswith((b"\x00\x00\x01", b"\x00\x00\x00\x01"))


class ParameterSets:
    """The latest SPS and PPS NAL units seen in a stream, put before IDR units that come
    without them. ``seed`` is codec extradata when it is Annex-B (the SDP's
    sprop-parameter-sets of an RTSP camera); anything else is ignored."""

    def __init__(self, seed: bytes | None = None) -> None:
        self._sps: list[bytes] = []
        self._pps: list[bytes] = []
        if seed and is_annexb(seed):
            self._remember(nal_units(seed))

    def complete(self, data: bytes) -> tuple[bytes, bool]:
        """``data`` with SPS/PPS added if it is an IDR unit without them, and whether
        it is now a keyframe a decoder can start at. Other units come back unchanged."""
        units = nal_units(data)
        self._remember(units)
        types = {nal_type(unit) for unit in units}
        if IDR not in types:
            return data, False
        need_sps, need_pps = SPS not in types, PPS not in types
        if not need_sps and not need_pps:
            return data, True
        if (need_sps and not self._sps) or (need_pps and not self._pps):
            return data, False  # no parameter sets seen yet: nothing can decode this
        missing = (self._sps if need_sps else []) + (self._pps if need_pps else [])
        # An access unit delimiter, when present, must stay the first NAL unit (7.4.1.2.3).
        head = 1 if nal_type(units[0]) == AUD else 0
        ordered = [*units[:head], *missing, *units[head:]]
        return b"".join(START + unit for unit in ordered), True

    def _remember(self, units: list[bytes]) -> None:
        sps = [unit for unit in units if nal_type(unit) == SPS]
        pps = [unit for unit in units if nal_type(unit) == PPS]
        if sps:
            self._sps = sps
        if pps:
            self._pps = pps
