"""One server's request to another and the answer, as they travel (kinds ``request``
and ``reply``, on the servers' own channels): the asker is the envelope's sender, so
the answer goes back to the server that asked and to no other. What an ``op`` needs
in its ``args`` is its answerer's to check (``requests.lane_of`` and the like), as
any input is. Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Self

from .envelope import EnvelopeError, Fields

Args = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Request:
    KIND: ClassVar[str] = "request"

    id: str
    op: str
    args: Args

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "op": self.op, "args": self.args}

    @classmethod
    def from_fields(cls, fields: Fields) -> Self:
        return cls(fields.ident("id"), fields.ident("op"), fields.obj("args"))


@dataclass(frozen=True, slots=True)
class Reply:
    """``answer`` when the request was answered, else ``code`` (never empty then),
    ``detail`` and ``extra`` say why not."""

    KIND: ClassVar[str] = "reply"

    id: str
    answer: Args | None
    code: str = ""
    detail: str = ""
    extra: Args = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "answer": self.answer,
            "code": self.code,
            "detail": self.detail,
            "extra": self.extra,
        }

    @classmethod
    def from_fields(cls, fields: Fields) -> Self:
        reply = cls(
            fields.ident("id"),
            fields.optional_obj("answer"),
            fields.text("code", empty=True),
            fields.text("detail", empty=True),
            fields.obj("extra"),
        )
        if (reply.answer is None) == (not reply.code):
            raise EnvelopeError("reply: either an answer or a code, not both nor neither")
        return reply
