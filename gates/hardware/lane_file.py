"""The lane file: the lane's devices, and which device plays which part.

An installer writes it once per lane and a mistake in it must stop the lane at start,
naming the file, the device and the key, rather than leave a barrier that does not
lift at the first car. So everything here is checked before any device is dialled:
unknown keys and families, parts given to no device or to a device that cannot play
them, a device hung off one that comes later (``via``), and secrets written into the
file, which gets copied about (they belong in the environment or a private file).

    [lane]
    id = "P1-IN"                       # optional: --lane wins
    servers = ["https://centre:8080"]  # optional: --server wins
    open_wait_s = 6                    # how long an open waits for the arm to rise
    say_display = true                 # the voice part reads the display's lines

    [devices.cam]
    family = "alarminfo"
    address = "192.168.1.64"

    [devices.led]
    family = "rs485"
    via = "cam:rs485-1"
    lines = 2                          # the display's size is the board's own
    chars = 8

    [parts]
    plates = "cam"
    gate = "cam:io0"                   # a device, or a camera's output
    display = "led"
    voice = "led"

Pure: no I/O but reading the file; devices are built by ``assembly``.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gates.hardware.families import FAMILIES, Family
from gates.hardware.options import DeviceOptions, LaneFileError
from gates.hardware.parts import (
    Device,
    GateOpener,
    GateSensor,
    OutputHost,
    Speaker,
    TextDisplay,
)
from gates.protocol import DEVICE_PARTS, MAX_DEVICES

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_PORT = re.compile(r"[a-z][a-z0-9-]{0,15}")
# A key named like a secret holds one; ``<key>_env``/``<key>_file`` say where it is.
_SECRET = re.compile(r"(^|_)(password|passwd|secret|token|psk)$")
# A limit well above any lane's: a file this size is not a lane file.
MAX_FILE_BYTES = 256 * 1024


@dataclass(frozen=True, slots=True)
class PartRef:
    """A part's player: a device, or one of its outputs (``cam:io0``)."""

    device: str
    output: str | None = None

    def __str__(self) -> str:
        return self.device if self.output is None else f"{self.device}:{self.output}"


@dataclass(frozen=True, slots=True)
class LaneSettings:
    lane: str | None = None
    servers: tuple[str, ...] = ()
    open_wait_s: float = 6.0
    say_display: bool = False


@dataclass(frozen=True, slots=True)
class LaneFile:
    source: Path
    settings: LaneSettings
    devices: dict[str, DeviceOptions]  # in the file's order: a device may use earlier ones
    families: dict[str, Family]
    parts: dict[str, PartRef]


def load(
    path: Path,
    environ: Mapping[str, str] | None = None,
    families: Mapping[str, Family] = FAMILIES,
) -> LaneFile:
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise LaneFileError(f"{path}: cannot read the lane file: {exc.strerror}") from None
    if len(raw) > MAX_FILE_BYTES:
        raise LaneFileError(f"{path}: larger than {MAX_FILE_BYTES} bytes; not a lane file")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LaneFileError(f"{path}: not UTF-8 text (byte {exc.start + 1})") from None
    return parse(text, path, environ, families)


def parse(
    text: str,
    source: Path,
    environ: Mapping[str, str] | None = None,
    families: Mapping[str, Family] = FAMILIES,
) -> LaneFile:
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise LaneFileError(f"{source}: not TOML: {exc}") from None
    _only(source, "the file", document, {"lane", "devices", "parts"})
    devices_table = _table(source, "devices", document.get("devices", {}))
    if not devices_table:
        raise LaneFileError(f"{source}: [devices]: the lane file names no device")
    if len(devices_table) > MAX_DEVICES:
        raise LaneFileError(
            f"{source}: [devices]: {len(devices_table)} devices; a lane has at most {MAX_DEVICES}"
        )
    devices: dict[str, DeviceOptions] = {}
    chosen: dict[str, Family] = {}
    for name, table in devices_table.items():
        if not _NAME.fullmatch(name):
            raise LaneFileError(
                f"{source}: device {name!r}: a device's name is lower-case letters, digits,"
                " '-' and '_', from a letter, at most 32"
            )
        table = _table(source, f"devices.{name}", table)
        options = DeviceOptions(source, name, table, environ)
        family = options.text("family", choices=tuple(sorted(families)))
        for key, value in table.items():
            if _SECRET.search(key) and isinstance(value, str):
                raise options.fail(
                    key, f"secrets are not kept in the lane file; use {key}_env or {key}_file"
                )
        if options.has("via"):
            host = _ref(source, f"devices.{name}", "via", table["via"], require_output=True)
            if host.device not in devices:
                where = "is this device" if host.device == name else "is not defined before it"
                raise options.fail(
                    "via",
                    f"names {host.device!r}, which {where}; a device hangs off one defined"
                    " earlier in the file",
                )
        devices[name] = options
        chosen[name] = families[family]
    parts: dict[str, PartRef] = {}
    parts_table = _table(source, "parts", document.get("parts", {}))
    _only(source, "[parts]", parts_table, set(DEVICE_PARTS))
    for part, value in parts_table.items():
        ref = _ref(source, "parts", part, value, require_output=False)
        if ref.device not in devices:
            raise LaneFileError(f"{source}: [parts] {part}: no device {ref.device!r} in [devices]")
        if ref.output is not None and part != "gate":
            raise LaneFileError(
                f"{source}: [parts] {part}: only the gate may be a device's output, not {ref}"
            )
        parts[part] = ref
    settings = _settings(source, _table(source, "lane", document.get("lane", {})), parts)
    return LaneFile(source, settings, devices, chosen, parts)


def check_parts(lane: LaneFile, built: Mapping[str, Device]) -> None:
    """Each part's device can play it: a relay board is no plate reader, an LED board
    lifts no barrier. Raises ``LaneFileError`` naming the part and the device."""
    needs: dict[str, tuple[type, str]] = {
        "gate_state": (GateSensor, "reads no gate state"),
        "display": (TextDisplay, "shows no text"),
        "voice": (Speaker, "does not speak"),
    }
    for part, ref in lane.parts.items():
        device, family = built[ref.device], lane.families[ref.device]
        able, why = True, ""
        if part == "plates":
            able, why = family.reads_plates, "reads no plates"
        elif part == "intercom":
            able, why = family.rings, "is no intercom"
        elif part == "gate" and ref.output is not None:
            able, why = isinstance(device, OutputHost), "has no outputs to pulse a barrier"
        elif part == "gate":
            able, why = isinstance(device, GateOpener), "cannot open a barrier"
        else:
            kind, why = needs[part]
            able = isinstance(device, kind)
        if not able:
            raise LaneFileError(
                f"{lane.source}: [parts] {part} = {str(ref)!r}: device {ref.device!r} "
                f"({lane.devices[ref.device].text('family')}) {why}"
            )


def _settings(source: Path, table: dict[str, object], parts: dict[str, PartRef]) -> LaneSettings:
    options = _LaneOptions(source, "lane", table, environ={})
    for key in table:
        if _SECRET.search(key):
            raise options.fail(key, "the lane's token is given with --token or SEAT_LANE_TOKEN")
    lane = options.text("id") if options.has("id") else None
    servers: tuple[str, ...] = ()
    if options.has("servers"):
        listed = table["servers"]
        if not (isinstance(listed, list) and listed and all(isinstance(s, str) for s in listed)):
            raise options.fail("servers", "must be a list of centre URLs")
        servers = tuple(str(server) for server in listed)
    for key in ("display_lines", "display_chars"):
        if options.has(key):
            where = (
                f"[devices.{parts['display'].device}]"
                if "display" in parts
                else "the display device's table"
            )
            raise options.fail(
                key,
                f"the display's size is its device's own: give lines and chars in {where}",
            )
    settings = LaneSettings(
        lane=lane,
        servers=servers,
        open_wait_s=options.seconds("open_wait_s", 6.0, low=0.5, high=60.0),
        say_display=options.flag("say_display", False),
    )
    if settings.say_display and "voice" not in parts:
        raise options.fail("say_display", "there is no voice part to say the lines")
    unused = sorted(set(options.unused()) - {"servers"})
    if unused:
        raise options.fail(unused[0], "not a lane setting")
    return settings


class _LaneOptions(DeviceOptions):
    """The ``[lane]`` table, read with a device table's checks."""

    def fail(self, key: str, problem: str) -> LaneFileError:
        return LaneFileError(f"{self.source}: [lane] {key}: {problem}")


def _ref(source: Path, table: str, key: str, value: object, *, require_output: bool) -> PartRef:
    if not isinstance(value, str):
        raise LaneFileError(f"{source}: [{table}] {key}: must be a device's name, not {value!r}")
    device, sep, output = value.partition(":")
    if not _NAME.fullmatch(device) or (sep and not _PORT.fullmatch(output)):
        raise LaneFileError(
            f"{source}: [{table}] {key}: {value!r} is not a device name or device:port"
        )
    if require_output and not sep:
        raise LaneFileError(f'{source}: [{table}] {key}: give the port, as in "{device}:rs485-1"')
    return PartRef(device, output if sep else None)


def _table(source: Path, name: str, value: object) -> dict[str, object]:
    if not isinstance(value, dict):
        raise LaneFileError(f"{source}: [{name}] must be a table")
    return value


def _only(source: Path, where: str, table: Mapping[str, object], known: set[str]) -> None:
    unknown = sorted(set(table) - known)
    if unknown:
        raise LaneFileError(
            f"{source}: {where}: unknown key {unknown[0]!r}; known: {', '.join(sorted(known))}"
        )
