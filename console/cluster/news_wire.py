"""The console's news as servers tell it to each other on ``seat:news:centre``: a
message for the tabs of an audience (``news``), a ledger entry appended (``audit``), or
news that never reached Redis (``lost``). Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Self

from ..audience import Audience
from .envelope import EnvelopeError, Fields


@dataclass(frozen=True, slots=True)
class News:
    """``message`` (a console stream message, with its ``type``) for ``audience``;
    ``key``: the stream's key for it, which a newer message of the same key replaces."""

    KIND: ClassVar[str] = "news"

    audience: Audience
    message: dict[str, Any]
    key: str | None

    def to_json(self) -> dict[str, Any]:
        return {"audience": self.audience.to_json(), "message": self.message, "key": self.key}

    @classmethod
    def from_fields(cls, fields: Fields) -> Self:
        try:
            audience = Audience.from_json(fields.obj("audience"))
        except ValueError as exc:
            raise EnvelopeError(f"news: {exc}") from None
        fields.nested("message").text("type")
        return cls(audience, fields.obj("message"), fields.optional_text("key"))


@dataclass(frozen=True, slots=True)
class Appended:
    """A ledger entry, as ``AuditEntry.to_json`` shows it."""

    KIND: ClassVar[str] = "audit"

    entry: dict[str, Any]

    @property
    def seq(self) -> int:
        seq: int = self.entry["seq"]
        return seq

    def to_json(self) -> dict[str, Any]:
        return {"entry": self.entry}

    @classmethod
    def from_fields(cls, fields: Fields) -> Self:
        fields.nested("entry").integer("seq")
        return cls(fields.obj("entry"))


@dataclass(frozen=True, slots=True)
class Lost:
    """The sender could not publish some of its news: the others resync their tabs."""

    KIND: ClassVar[str] = "lost"

    def to_json(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_fields(cls, fields: Fields) -> Self:
        return cls()


KINDS = (News, Appended, Lost)
