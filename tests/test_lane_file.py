"""The lane file: what an installer writes is checked whole at start, and every mistake
names the file, the device and the key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gates.hardware import workshop
from gates.hardware.lane_file import LaneFile, PartRef, load, parse
from gates.hardware.options import LaneFileError
from gates.protocol import DisplaySize
from tests.hardware_kit import KIT, Board, Camera, Relay

GOOD = """
[lane]
id = "P1-IN"
servers = ["http://centre:8080"]
open_wait_s = 4
say_display = true

[devices.cam]
family = "kit-camera"
address = "192.168.1.64"

[devices.led]
family = "kit-board"
via = "cam:rs485-1"
lines = 2
chars = 8

[devices.relay]
family = "kit-relay"
pulse_ms = 300

[parts]
plates = "cam"
gate = "cam:io0"
gate_state = "relay"
display = "led"
voice = "led"
"""


def lane_file(text: str, tmp_path: Path, environ: dict[str, str] | None = None) -> LaneFile:
    path = tmp_path / "lane.toml"
    path.write_text(text, encoding="utf-8")
    return load(path, environ or {}, KIT)


def refusal(text: str, tmp_path: Path, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(LaneFileError) as caught:
        workshop.build(lane_file(text, tmp_path, environ))
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'lane.toml'}: ")
    return message


def test_a_lane_file_names_its_devices_their_parts_and_the_lanes_settings(
    tmp_path: Path,
) -> None:
    lane = lane_file(GOOD, tmp_path)
    assert lane.settings.lane == "P1-IN" and lane.settings.servers == ("http://centre:8080",)
    assert lane.settings.open_wait_s == 4.0 and lane.settings.say_display
    assert list(lane.devices) == ["cam", "led", "relay"]
    assert lane.parts["gate"] == PartRef("cam", "io0") and lane.parts["plates"] == PartRef("cam")
    built = workshop.build(lane).devices
    assert isinstance(built["cam"], Camera) and isinstance(built["led"], Board)
    assert built["led"].size == DisplaySize(2, 8)  # the display's size is the board's
    assert isinstance(built["relay"], Relay) and built["relay"].pulse_ms == 300


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (("[parts]", '[parts]\nflag = "cam"'), "[parts]: unknown key 'flag'"),
        (("[lane]", "[lanes]"), "the file: unknown key 'lanes'"),
        (('family = "kit-relay"', 'family = "vzenith"'), "device 'relay', family: must be one of"),
        (("pulse_ms = 300", "pulse_sm = 300"), "device 'relay', pulse_sm: not an option of"),
        (("pulse_ms = 300", "pulse_ms = 99"), "device 'relay', pulse_ms: must be from 100"),
        (("pulse_ms = 300", 'pulse_ms = "300"'), "device 'relay', pulse_ms: must be int"),
        (
            ('plates = "cam"', 'plates = "relay"'),
            "plates = 'relay': device 'relay' (kit-relay) reads no plates",
        ),
        (
            ('gate = "cam:io0"', 'gate = "led"'),
            "gate = 'led': device 'led' (kit-board) cannot open a barrier",
        ),
        (('gate = "cam:io0"', 'gate = "relay:io0"'), "device 'relay' (kit-relay) has no outputs"),
        (('gate_state = "relay"', 'gate_state = "cam"'), "reads no gate state"),
        (('display = "led"', 'display = "relay"'), "shows no text"),
        (('voice = "led"', 'voice = "cam"'), "does not speak"),
        (('display = "led"', 'display = "led:io0"'), "only the gate may be a device's output"),
        (('plates = "cam"', 'plates = "kamera"'), "plates: no device 'kamera' in [devices]"),
        (("chars = 8", "chars = 65"), "device 'led', chars: must be from 1 to 64"),
        (
            ("open_wait_s = 4", "open_wait_s = 4\ndisplay_lines = 2"),
            "[lane] display_lines: the display's size is its device's own: give lines and"
            " chars in [devices.led]",
        ),
        (("open_wait_s = 4", "open_wait_s = 0"), "[lane] open_wait_s: must be from 0.5"),
        (('voice = "led"\n', ""), "[lane] say_display: there is no voice part"),
        (('id = "P1-IN"', 'token = "s3cret"'), "[lane] token: the lane's token is given with"),
        (('id = "P1-IN"', 'ident = "P1-IN"'), "[lane] ident: not a lane setting"),
        (("[devices.relay]", "[devices.Relay]"), "device 'Relay': a device's name is"),
    ],
)
def test_a_mistake_in_the_lane_file_stops_the_lane_naming_where(
    change: tuple[str, str], words: str, tmp_path: Path
) -> None:
    old, new = change
    assert old in GOOD
    assert words in refusal(GOOD.replace(old, new, 1), tmp_path)


def test_a_file_that_is_not_toml_says_where_it_breaks(tmp_path: Path) -> None:
    assert "not TOML: " in refusal(GOOD.replace("[parts]", "[parts"), tmp_path)
    assert "line" in refusal("[devices.cam]\nfamily = kit-camera\n", tmp_path)


def test_a_missing_or_binary_file_is_refused_with_its_name(tmp_path: Path) -> None:
    with pytest.raises(LaneFileError, match="cannot read the lane file"):
        load(tmp_path / "absent.toml", {}, KIT)
    (tmp_path / "lane.toml").write_bytes(b"\xff\xfe[lane]")
    with pytest.raises(LaneFileError, match="not UTF-8"):
        load(tmp_path / "lane.toml", {}, KIT)
    assert "names no device" in refusal("[lane]\n", tmp_path)


@pytest.mark.parametrize(
    ("via", "words"),
    [
        ("relay:rs485-1", "names 'relay', which is not defined before it"),  # forward
        ("led:rs485-1", "names 'led', which is this device"),  # itself
        ("cam", 'give the port, as in "cam:rs485-1"'),
        ("cam:", "is not a device name or device:port"),
    ],
)
def test_a_device_hangs_off_one_defined_before_it(via: str, words: str, tmp_path: Path) -> None:
    message = refusal(GOOD.replace('via = "cam:rs485-1"', f'via = "{via}"'), tmp_path)
    assert "device 'led'" in message or "[devices.led]" in message
    assert words in message


def test_two_devices_hung_off_each_other_are_refused(tmp_path: Path) -> None:
    """A cycle: whichever comes first names one defined after it."""
    text = GOOD.replace('address = "192.168.1.64"', 'address = "192.168.1.64"\nvia = "led:rs485-1"')
    assert "device 'cam', via: names 'led', which is not defined before it" in refusal(
        text, tmp_path
    )


@pytest.mark.parametrize("key", ["password", "rtsp_password", "api_token", "secret"])
def test_a_secret_written_into_the_file_is_refused(key: str, tmp_path: Path) -> None:
    text = GOOD.replace('via = "cam:rs485-1"', f'via = "cam:rs485-1"\n{key} = "admin123"')
    message = refusal(text, tmp_path)
    assert f"device 'led', {key}: secrets are not kept in the lane file" in message
    assert "admin123" not in message


def test_a_secret_comes_from_the_environment_or_a_file_only_the_agent_reads(
    tmp_path: Path,
) -> None:
    secret = tmp_path / "led.pass"
    secret.write_text("admin123\n", encoding="utf-8")
    os.chmod(secret, 0o644)
    with_file = GOOD.replace(
        'via = "cam:rs485-1"', f'via = "cam:rs485-1"\npassword_file = "{secret}"'
    )
    assert f"password_file: {secret} is readable by others; chmod 600 it" in refusal(
        with_file, tmp_path
    )
    os.chmod(secret, 0o600)
    workshop.build(lane_file(with_file, tmp_path))
    with_env = GOOD.replace('via = "cam:rs485-1"', 'via = "cam:rs485-1"\npassword_env = "LED_PASS"')
    assert "the environment has no LED_PASS" in refusal(with_env, tmp_path)
    workshop.build(lane_file(with_env, tmp_path, {"LED_PASS": "admin123"}))


def test_the_lane_settings_are_optional(tmp_path: Path) -> None:
    lane = parse(
        '[devices.relay]\nfamily = "kit-relay"\n[parts]\ngate = "relay"\n',
        tmp_path / "lane.toml",
        {},
        KIT,
    )
    assert lane.settings.lane is None and lane.settings.servers == ()
    assert lane.settings.open_wait_s == 6.0
