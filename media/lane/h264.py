"""What an H.264 stream says about itself, read from its NAL units: pure, no I/O.

Browsers' WebRTC decoders (Chromium's, Firefox's OpenH264, Safari's) take Baseline,
Main and High profile pictures, progressive, 8-bit 4:2:0, but they assume each frame is
shown in the order it arrives: WebRTC has no B-frames. A camera that sends B-frames plays
at a couple of frames a second in Chromium while it asks for keyframe after keyframe, and
10-bit, 4:2:2, 4:4:4 or interlaced pictures do not play at all. So before passing a
camera's H.264 on untouched the lane reads its sequence parameter set (ITU-T H.264
7.3.2.1.1) and the type of every slice (7.3.3).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from media.lane.annexb import IDR, SPS, nal_type, nal_units

# Profiles whose pictures browsers decode in WebRTC (A.2.1 to A.2.4); what their
# constraint flags narrow them to does not matter here.
_PLAYABLE: Final = frozenset({66, 77, 100})
# profile_idc values whose SPS carries chroma format and bit depth (7.3.2.1.1).
_HIGH_FAMILY: Final = frozenset({100, 110, 122, 244, 44, 83, 86, 118, 128, 138, 139, 134, 135})
_PROFILE_NAMES: Final = {
    44: "CAVLC 4:4:4 Intra",
    66: "Baseline",
    77: "Main",
    88: "Extended",
    100: "High",
    110: "High 10",
    122: "High 4:2:2",
    244: "High 4:4:4 Predictive",
}
_SLICE: Final = 1  # a non-IDR picture's slice (Table 7-1)
# What the installer should set on the camera for the lane to pass its video on.
ADVICE: Final = "H.264, Baseline profile (no B-frames)"


class SliceType(enum.IntEnum):
    """slice_type modulo 5 (Table 7-6)."""

    P = 0
    B = 1
    I = 2  # noqa: E741 - the standard's name
    SP = 3
    SI = 4


@dataclass(frozen=True, slots=True)
class Sps:
    profile_idc: int
    constraints: int  # constraint_set0_flag (0x80) to constraint_set5_flag (0x04)
    level_idc: int
    chroma_format_idc: int
    bit_depth: int
    frame_mbs_only: bool
    width: int
    height: int

    @property
    def profile(self) -> str:
        name = _PROFILE_NAMES.get(self.profile_idc, f"profile_idc {self.profile_idc}")
        if self.profile_idc == 66 and self.constraints & 0x40:
            return "Constrained Baseline"
        return name

    def webrtc_problem(self) -> str | None:
        """Why browsers cannot play this as it is, or None when they can."""
        if self.profile_idc not in _PLAYABLE:
            return f"{self.profile} profile"
        if self.chroma_format_idc != 1 or self.bit_depth != 8:
            return f"{self.bit_depth}-bit, chroma format {self.chroma_format_idc}"
        if not self.frame_mbs_only:
            return "interlaced"
        return None

    def describe(self) -> str:
        return f"H.264 {self.profile} profile, {self.width}x{self.height}"


class _Bits:
    """Reads an RBSP (a NAL unit's payload, emulation prevention removed) bit by bit."""

    def __init__(self, rbsp: bytes) -> None:
        self._data = rbsp
        self._pos = 0

    def u(self, n: int) -> int:
        value = 0
        for _ in range(n):
            byte = self._pos >> 3
            if byte >= len(self._data):
                raise ValueError("the NAL unit ends in the middle of a field")
            value = (value << 1) | ((self._data[byte] >> (7 - (self._pos & 7))) & 1)
            self._pos += 1
        return value

    def ue(self) -> int:
        """Exp-Golomb code, unsigned (9.1)."""
        zeros = 0
        while self.u(1) == 0:
            zeros += 1
            if zeros > 31:
                raise ValueError("an Exp-Golomb code longer than 32 bits")
        return (1 << zeros) - 1 + self.u(zeros)

    def se(self) -> int:
        """Exp-Golomb code, signed (9.1.1)."""
        k = self.ue()
        return (k + 1) // 2 if k & 1 else -(k // 2)


def rbsp(nal: bytes, limit: int | None = None) -> bytes:
    """The payload of a NAL unit (header byte dropped) without emulation prevention
    bytes (7.4.1): within a NAL unit 0x000003 always means 0x0000. ``limit`` reads only
    that many bytes of the unit, for a header at its start."""
    return nal[1:limit].replace(b"\x00\x00\x03", b"\x00\x00")


def parse_sps(nal: bytes) -> Sps:
    """The fields of an SPS NAL unit the lane decides on; ``ValueError`` if it is not
    a well-formed SPS."""
    if not nal or nal_type(nal) != SPS:
        raise ValueError("not an SPS NAL unit")
    bits = _Bits(rbsp(nal))
    profile_idc, constraints, level_idc = bits.u(8), bits.u(8), bits.u(8)
    bits.ue()  # seq_parameter_set_id
    chroma_format_idc, bit_depth = 1, 8
    if profile_idc in _HIGH_FAMILY:
        chroma_format_idc = bits.ue()
        if chroma_format_idc == 3:
            bits.u(1)  # separate_colour_plane_flag
        bit_depth = 8 + bits.ue()
        bits.ue()  # bit_depth_chroma_minus8
        bits.u(1)  # qpprime_y_zero_transform_bypass_flag
        if bits.u(1):  # seq_scaling_matrix_present_flag
            for i in range(8 if chroma_format_idc != 3 else 12):
                if bits.u(1):
                    _skip_scaling_list(bits, 16 if i < 6 else 64)
    bits.ue()  # log2_max_frame_num_minus4
    poc_type = bits.ue()
    if poc_type == 0:
        bits.ue()  # log2_max_pic_order_cnt_lsb_minus4
    elif poc_type == 1:
        bits.u(1)  # delta_pic_order_always_zero_flag
        bits.se()  # offset_for_non_ref_pic
        bits.se()  # offset_for_top_to_bottom_field
        for _ in range(bits.ue()):
            bits.se()  # offset_for_ref_frame[i]
    bits.ue()  # max_num_ref_frames
    bits.u(1)  # gaps_in_frame_num_value_allowed_flag
    width_mbs = bits.ue() + 1
    height_units = bits.ue() + 1
    frame_mbs_only = bool(bits.u(1))
    if not frame_mbs_only:
        bits.u(1)  # mb_adaptive_frame_field_flag
    bits.u(1)  # direct_8x8_inference_flag
    crop = (bits.ue(), bits.ue(), bits.ue(), bits.ue()) if bits.u(1) else (0, 0, 0, 0)
    # Cropping is counted in chroma samples (7.4.2.1.1, Table 6-1).
    sub_width, sub_height = {0: (1, 1), 1: (2, 2), 2: (2, 1)}.get(chroma_format_idc, (1, 1))
    unit_y = sub_height * (1 if frame_mbs_only else 2)
    return Sps(
        profile_idc=profile_idc,
        constraints=constraints,
        level_idc=level_idc,
        chroma_format_idc=chroma_format_idc,
        bit_depth=bit_depth,
        frame_mbs_only=frame_mbs_only,
        width=width_mbs * 16 - sub_width * (crop[0] + crop[1]),
        height=height_units * 16 * (1 if frame_mbs_only else 2) - unit_y * (crop[2] + crop[3]),
    )


def _skip_scaling_list(bits: _Bits, size: int) -> None:
    last = following = 8
    for _ in range(size):
        if following:
            following = (last + bits.se() + 256) % 256
        last = following or last


def slice_type(nal: bytes) -> SliceType | None:
    """The type of a slice NAL unit (IDR or not), None for any other NAL unit."""
    if not nal or nal_type(nal) not in (_SLICE, IDR):
        return None
    bits = _Bits(rbsp(nal, 16))  # first_mb_in_slice and slice_type fit in a few bytes
    bits.ue()  # first_mb_in_slice
    return SliceType(bits.ue() % 5)


class Vetting:
    """Watches a camera's Annex-B access units for what browsers cannot play: an SPS
    they do not take, or a B slice. ``problem`` stays set once found."""

    def __init__(self) -> None:
        self.sps: Sps | None = None
        self.problem: str | None = None

    def check(self, unit: bytes) -> str | None:
        """Look at one access unit; returns the problem, once there is one."""
        for nal in nal_units(unit):
            kind = nal_type(nal)
            try:
                if kind == SPS:
                    self.sps = parse_sps(nal)
                    self.problem = self.problem or self.sps.webrtc_problem()
                elif slice_type(nal) is SliceType.B:
                    self.problem = self.problem or "with B-frames"
            except ValueError as exc:
                self.problem = self.problem or f"an H.264 stream the lane cannot read ({exc})"
        return self.problem

    def describe(self) -> str:
        """What the camera sends, as far as seen, with the problem if there is one: e.g.
        "H.264 High profile, 1280x720, with B-frames"."""
        what = self.sps.describe() if self.sps else "H.264"
        if self.problem and self.problem not in what:
            return f"{what}, {self.problem}"
        return what
