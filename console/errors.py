"""Errors of the centre.

Each raise names a precise ``code`` (``"unknown_lane"``, ``"user_exists"``) that goes
into the JSON body ``{"error": code, "detail": ...}``; the class says which family it
belongs to and, through ``status``, which HTTP status the web layer answers with. The
class attribute ``code`` is the family's generic code, for callers that catch a family
and need a stable name for it.
"""

from __future__ import annotations


class ConsoleError(Exception):
    code: str = "console_error"
    status: int = 500

    def __init__(self, code: str, detail: str, **extra: object) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        # Extra members of the JSON error body, e.g. ``retry_after`` for a throttled login.
        self.extra: dict[str, object] = extra


class BadRequest(ConsoleError):
    code = "bad_request"
    status = 400


class NotAuthenticated(ConsoleError):
    code = "not_authenticated"
    status = 401


class Forbidden(ConsoleError):
    code = "forbidden"
    status = 403


class NotFound(ConsoleError):
    code = "not_found"
    status = 404


class Conflict(ConsoleError):
    """The change collides with what exists, e.g. a username already taken."""

    code = "conflict"
    status = 409


class PayloadTooLarge(ConsoleError):
    code = "too_large"
    status = 413


class UnsupportedMediaType(ConsoleError):
    code = "unsupported_media_type"
    status = 415


class Throttled(ConsoleError):
    code = "throttled"
    status = 429


class Busy(ConsoleError):
    """Too much of a bounded resource is in use (e.g. password checks): try again after
    ``retry_after`` seconds. Nothing was done."""

    code = "busy"
    status = 503


class StoreError(ConsoleError):
    """The database could not do what was asked. For an audit append this means the
    action must not go ahead (no audit, no action), hence 503: try again later."""

    code = "store_error"
    status = 503


class CorruptAuditEntry(StoreError):
    """A stored audit row cannot even be decoded (bad time, unknown action, detail that
    is not canonical JSON): the ledger was edited outside the program."""

    code = "audit_corrupt"
    status = 500

    def __init__(self, seq: int, problem: str) -> None:
        super().__init__(self.code, f"audit entry {seq}: {problem}", seq=seq)
        self.seq = seq
        self.problem = problem
