"""A device's table in the lane file, read with the checks every family needs.

An installer's typo must stop the lane at start with the file, the device and the key
named, not surface as a dead barrier at the first car; so every getter checks type and
range, and ``unused`` names keys no family read (``pulse_sm = 500`` is a typo, not an
option). Secrets never come from the file itself or the command line, which ``ps`` and
shell history show: ``<key>_env`` names an environment variable, ``<key>_file`` a file
only the agent's user may read.
"""

from __future__ import annotations

import math
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import TypeVar

T = TypeVar("T", int, float, str, bool)


class LaneFileError(ValueError):
    """The lane file is wrong; the message names where and how, for the installer."""


class DeviceOptions:
    def __init__(
        self,
        source: Path,
        name: str,
        table: Mapping[str, object],
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.source = source
        self.name = name
        self._table = dict(table)
        self._read: set[str] = {"family"}
        self._environ = os.environ if environ is None else environ

    def fail(self, key: str, problem: str) -> LaneFileError:
        return LaneFileError(f"{self.source}: device {self.name!r}, {key}: {problem}")

    def has(self, key: str) -> bool:
        return key in self._table

    def _get(self, key: str, kind: type[T], default: T | None) -> T:
        self._read.add(key)
        if key not in self._table:
            if default is None:
                raise self.fail(key, "missing")
            return default
        value = self._table[key]
        # TOML's integers are floats' equals for a float option; bools are not ints.
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.fail(key, f"must be {kind.__name__}, not {value!r}")
        return value

    def text(self, key: str, default: str | None = None, *, choices: tuple[str, ...] = ()) -> str:
        value = self._get(key, str, default)
        if choices and value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, not {value!r}")
        if not value or any(ord(ch) < 0x20 or 0xD800 <= ord(ch) <= 0xDFFF for ch in value):
            raise self.fail(key, f"must be printable text, not {value!r}")
        return value

    def integer(self, key: str, default: int | None = None, *, low: int, high: int) -> int:
        value = self._get(key, int, default)
        if not low <= value <= high:
            raise self.fail(key, f"must be from {low} to {high}, not {value}")
        return value

    def seconds(self, key: str, default: float | None = None, *, low: float, high: float) -> float:
        value = self._get(key, float, default)
        if not (math.isfinite(value) and low <= value <= high):
            raise self.fail(key, f"must be from {low} to {high} seconds, not {value}")
        return value

    def flag(self, key: str, default: bool | None = None) -> bool:
        return self._get(key, bool, default)

    def secret(self, key: str) -> str:
        """``<key>_env = "VAR"`` or ``<key>_file = "/etc/seat/cam.pass"``; a plain
        ``<key> = "..."`` in the file is refused, since lane files get copied about."""
        self._read.update({key, f"{key}_env", f"{key}_file"})
        if key in self._table:
            raise self.fail(
                key, f"secrets are not kept in the lane file; use {key}_env or {key}_file"
            )
        if f"{key}_env" in self._table:
            var = self.text(f"{key}_env")
            if var not in self._environ:
                raise self.fail(f"{key}_env", f"the environment has no {var}")
            return self._environ[var]
        if f"{key}_file" in self._table:
            return _read_private(Path(self.text(f"{key}_file")), self, f"{key}_file")
        raise self.fail(key, f"missing: give {key}_env or {key}_file")

    def unused(self) -> list[str]:
        """Keys in the table that nothing read: typos, or options of another family."""
        return sorted(set(self._table) - self._read)


def _read_private(path: Path, options: DeviceOptions, key: str) -> str:
    try:
        info = path.stat()
        if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise options.fail(key, f"{path} is readable by others; chmod 600 it")
        return path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise options.fail(key, f"cannot read {path}: {exc.strerror}") from None
