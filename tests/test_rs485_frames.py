"""The RS485 boards' frames, without a port: the documented frames byte for byte, the
CRC's check value, frames that survive noise, and text GBK cannot hold refused."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gates.hardware.rs485 import frames
from tests.emulators.rs485_board import parse_line, parse_lines

# 欢迎光临请入场停车 as a temporary line: the frame a Zhenshi integration's unit test pins.
ONE_LINE = bytes.fromhex(
    "00 64 FF FF 62 25 00 15 01 00 02 15 01 03 00 FF 00 00 00 00 00 00 00 12 00"
    " BB B6 D3 AD B9 E2 C1 D9 C7 EB C8 EB B3 A1 CD A3 B3 B5 F4 F5"
)
# Four lines and a voice, as a board emulator parses them.
FOUR_LINES = bytes.fromhex(
    "00 64 FF FF 6E 6D 00 04 00 15 01 19 00 FF 00 00 00 08 D2 BB C2 B7 CB B3 B7 E7 0D"
    " 01 15 01 19 00 00 FF 00 00 09 BB A6 41 41 50 36 33 37 35 0D"
    " 02 15 01 19 00 FF 00 00 00 06 C1 D9 CA B1 B3 B5 0D"
    " 03 15 01 19 00 FF 00 00 00 08 D0 BB D0 BB BB DD B9 CB 00"
    " 0A 1D BB A6 41 41 50 36 33 37 35 2C C1 D9 CA B1 B3 B5 2C D7 A3 C4 FA D2 BB C2 B7"
    " CB B3 B7 E7 00 5C F3"
)
# That board's echo of a 0x6E it took.
ECHO = bytes.fromhex("00 64 FF FF 6E 01 00 57 69")

# GBK text: ASCII and the Chinese a lane shows (GB2312's hanzi block).
hanzi = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FA5).filter(
    lambda ch: ch.isprintable() and _in_gbk(ch)
)
ascii_text = st.characters(min_codepoint=0x20, max_codepoint=0x7E)
gbk_text = st.text(st.one_of(hanzi, ascii_text), max_size=16)


def _in_gbk(ch: str) -> bool:
    try:
        ch.encode("gbk")
    except UnicodeEncodeError:
        return False
    return True


def test_the_crc_is_crc16_modbus() -> None:
    assert frames.crc16_modbus(b"123456789") == 0x4B37


def test_one_line_is_the_documented_frame() -> None:
    assert frames.show_line("欢迎光临请入场停车").encode() == ONE_LINE


def test_several_lines_with_a_voice_are_the_documented_frame() -> None:
    frame = frames.show_lines(
        ("一路顺风", "沪AAP6375", "临时车", "谢谢惠顾"),
        (frames.RED, frames.GREEN, frames.RED, frames.RED),
        "沪AAP6375,临时车,祝您一路顺风",
    )
    assert frame.encode() == FOUR_LINES


def test_the_documented_frames_and_echo_decode() -> None:
    assert parse_line(frames.decode(ONE_LINE).data) == (0, frames.RED, "欢迎光临请入场停车")
    lines, voice = parse_lines(frames.decode(FOUR_LINES).data)
    assert [text for _, text in lines] == ["一路顺风", "沪AAP6375", "临时车", "谢谢惠顾"]
    assert voice == "沪AAP6375,临时车,祝您一路顺风"
    echo = frames.decode(ECHO)
    assert frames.acknowledges(echo, frames.decode(FOUR_LINES)) is True
    assert frames.acknowledges(echo, frames.decode(ONE_LINE)) is None


def test_voice_carries_its_option_and_gbk_text() -> None:
    frame = frames.speak("请缴费10元")
    raw = frame.encode()
    assert raw[:6] == bytes((0x00, 0x64, 0xFF, 0xFF, 0x30, 1 + len("请缴费10元".encode("gbk"))))
    assert raw[6] == frames.Speech.REPLACE_AND_PLAY
    assert raw[7:-2].decode("gbk") == "请缴费10元"


@pytest.mark.parametrize(
    "raw, problem",
    [
        (ONE_LINE[:-1] + b"\x00", "CRC"),
        (ONE_LINE[:20], "length"),
        (b"\x00\x65" + ONE_LINE[2:], "version"),
        (b"\x00\x64", "shorter"),
    ],
)
def test_a_broken_frame_is_refused_with_the_reason(raw: bytes, problem: str) -> None:
    with pytest.raises(frames.FrameError, match=problem):
        frames.decode(raw)


@pytest.mark.parametrize("text", ["😀 welcome", "Ǹ", "한국어", "tab\there", "nul\x00"])
def test_text_gbk_cannot_hold_is_refused_not_garbled(text: str) -> None:
    builds: list[frames.Builder] = [
        lambda: frames.show_line(text),
        lambda: frames.show_lines((text, "ok"), (frames.RED, frames.RED)),
        lambda: frames.speak(text),
    ]
    for build in builds:
        with pytest.raises(frames.TextRefused) as refused:
            build()
        assert refused.value.reason == "display_bad_text"


def test_text_past_the_frames_255_bytes_is_refused() -> None:
    with pytest.raises(frames.TextRefused) as refused:
        frames.show_line("停" * 120)
    assert refused.value.reason == "display_overflow"
    with pytest.raises(frames.TextRefused):
        frames.show_lines(("停" * 40,) * 4, (frames.RED,) * 4)


@given(text=gbk_text, window=st.integers(0, 7), address=st.integers(0, 255))
def test_one_line_round_trips(text: str, window: int, address: int) -> None:
    frame = frames.show_line(text, frames.YELLOW, window=window, address=address)
    decoded = frames.decode(frame.encode())
    assert decoded == frame
    assert parse_line(decoded.data) == (window, frames.YELLOW, text)


@given(lines=st.lists(gbk_text, max_size=4), voice=st.none() | gbk_text)
def test_several_lines_round_trip(lines: list[str], voice: str | None) -> None:
    colours = (frames.GREEN,) * len(lines)
    frame = frames.show_lines(tuple(lines), colours, voice)
    parsed, spoken = parse_lines(frames.decode(frame.encode()).data)
    assert parsed == [(frames.GREEN, line) for line in lines]
    assert spoken == (voice or None)  # an empty voice is none on the wire


def test_lines_without_a_voice_keep_the_fixed_voice_flag_with_length_0() -> None:
    """0x6E's voice flag is 0x0A always; no voice is a voice of length 0, then 00."""
    data = frames.show_lines(("京A12345",), (frames.GREEN,)).data
    assert data.endswith(b"\x00" + b"\x0a\x00\x00")  # the line's end, VF, VTL 0, end


@given(
    noise=st.binary(max_size=40),
    texts=st.lists(gbk_text, min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 400), max_size=6),
)
def test_frames_survive_noise_and_any_chunking(
    noise: bytes, texts: list[str], cuts: list[int]
) -> None:
    """What a serial line delivers: noise before the frames, and bytes in any chunks."""
    sent = [frames.show_line(text) for text in texts]
    stream = noise + b"".join(frame.encode() for frame in sent)
    reader = frames.Reader()
    got: list[frames.Frame] = []
    start = 0
    for cut in sorted({*cuts, len(stream)}):
        got += reader.feed(stream[start:cut])
        start = max(start, cut)
    got += reader.feed(stream[start:])
    # Noise may happen to hold a frame of its own; the sent ones all come through, last.
    assert got[len(got) - len(sent) :] == sent
