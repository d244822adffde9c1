"""Reading an operator's JSON strictly, for the billing rules and the plate lists: an
unknown key, a wrong type, a negative amount or a malformed time is refused naming its
path (``bands[1].cap_fen``), never dropped or coerced, so a typo such as ``cap_fenn``
cannot silently leave a car park uncapped. Text goes through the shared text rules
(``gates.textrules``), as everything from outside does."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import date, time
from typing import Any

from gates.textrules import TextError, check_text

from .errors import BillingError

# The largest amount a rule or a list may name: 100 000 yuan, far above any parking price,
# low enough that a slip of the keyboard shows.
FEN_MAX = 10_000_000
_CLOCK = re.compile(r"([01][0-9]|2[0-3]):([0-5][0-9])")
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MISSING: Any = object()


@dataclass(frozen=True, slots=True)
class Reader:
    """The members of one JSON object at ``where`` (``""`` for the document itself);
    refusals raise ``error``."""

    fields: Mapping[str, Any]
    where: str
    error: type[BillingError]

    @classmethod
    def of(
        cls, value: object, where: str, keys: Collection[str], error: type[BillingError]
    ) -> Reader:
        if not isinstance(value, dict):
            raise error("bad_type", f"{where or 'the document'} must be a JSON object")
        unknown = sorted(str(key) for key in value if key not in keys)
        if unknown:
            known = ", ".join(keys)
            raise error(
                "unknown_key", f"{_path(where, unknown[0])} is not a known key (known: {known})"
            )
        return cls(value, where, error)

    def path(self, name: str) -> str:
        return _path(self.where, name)

    def _get(self, name: str, default: Any) -> Any:
        """The member, None when it is absent or null (the caller's ``default`` then
        applies); refused when there is no default."""
        value = self.fields.get(name)
        if value is None and default is _MISSING:
            raise self.error("missing_key", f"{self.path(name)} is required")
        return value

    def whole(
        self, name: str, *, low: int, high: int, code: str = "bad_amount", default: Any = _MISSING
    ) -> Any:
        """A whole number from ``low`` to ``high``; JSON's 1.0 and true are not one."""
        value = self._get(name, default)
        if value is None:
            return default
        if type(value) is not int or not low <= value <= high:
            raise self.error(code, f"{self.path(name)} must be a whole number from {low} to {high}")
        return value

    def fen(self, name: str, *, default: Any = _MISSING) -> Any:
        """An amount in whole fen, 0 or more."""
        return self.whole(name, low=0, high=FEN_MAX, default=default)

    def flag(self, name: str, *, default: bool) -> bool:
        value = self._get(name, default)
        if value is None:
            return default
        if type(value) is not bool:
            raise self.error("bad_type", f"{self.path(name)} must be true or false")
        return value

    def choice(self, name: str, kind: type[Any], *, default: Any) -> Any:
        """One of the values of the enum ``kind``."""
        value = self._get(name, default)
        if value is None:
            return default
        try:
            return kind(value)
        except ValueError:
            allowed = ", ".join(member.value for member in kind)
            raise self.error("bad_type", f"{self.path(name)} must be one of {allowed}") from None

    def text(self, name: str, *, max_len: int, code: str = "bad_name") -> str:
        """One line of visible text, surrounding blanks refused rather than stripped so
        what is stored is what was written."""
        value = self._get(name, _MISSING)
        if not isinstance(value, str):
            raise self.error("bad_type", f"{self.path(name)} must be a string")
        try:
            check_text(value, max_len=max_len)
        except TextError as exc:
            raise self.error(code, f"{self.path(name)} {exc}") from None
        if not value or value != value.strip():
            raise self.error(code, f"{self.path(name)} must be non-empty with no blanks around")
        return value

    def clock(self, name: str) -> time:
        """A wall-clock time ``HH:MM``, 00:00 to 23:59."""
        value = self._get(name, _MISSING)
        match = _CLOCK.fullmatch(value) if isinstance(value, str) else None
        if match is None:
            raise self.error(
                "bad_time", f"{self.path(name)} must be a time HH:MM from 00:00 to 23:59"
            )
        return time(int(match[1]), int(match[2]))

    def day(self, name: str) -> date:
        """A calendar date ``YYYY-MM-DD``."""
        value = self._get(name, _MISSING)
        try:
            if not isinstance(value, str) or not _DAY.fullmatch(value):
                raise ValueError
            return date.fromisoformat(value)
        except ValueError:
            raise self.error("bad_date", f"{self.path(name)} must be a date YYYY-MM-DD") from None

    def items(self, name: str, *, max_len: int) -> list[Any]:
        """A JSON array of at most ``max_len`` members."""
        value = self._get(name, _MISSING)
        if not isinstance(value, list):
            raise self.error("bad_type", f"{self.path(name)} must be a JSON array")
        if len(value) > max_len:
            raise self.error("too_many", f"{self.path(name)} holds at most {max_len} members")
        return value

    def has(self, name: str) -> bool:
        return self.fields.get(name) is not None


def _path(where: str, name: str) -> str:
    return f"{where}.{name}" if where else name
