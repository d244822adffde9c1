"""Errors of the centre.

Each raise names a precise ``code`` (``"unknown_lane"``, ``"user_exists"``) that goes
into the JSON body ``{"error": code, "detail": ...}``; the class says which family it
belongs to and, through ``status``, which HTTP status the web layer answers with. The
class attribute ``code`` is the family's generic code, for callers that catch a family
and need a stable name for it.
"""

from __future__ import annotations

# The longest detail: one echoing what a client sent (an order id of 5,000 characters)
# is cut there, in the answer, the log and the ledger alike. Long enough for the
# longest the centre writes itself: a refused ledger's, with its path, the hashes and
# the command that starts the centre anyway, runs to about 700.
DETAIL_MAX = 2000


def clip(text: str, limit: int = DETAIL_MAX) -> str:
    """``text`` cut to at most ``limit`` characters, an ellipsis saying it was."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ConsoleError(Exception):
    code: str = "console_error"
    status: int = 500

    def __init__(self, code: str, detail: str, **extra: object) -> None:
        detail = clip(detail)
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


class StateMoved(Conflict):
    """The call queue's saved state is not the version the step started from: another
    server of the centre saved a step first. Nothing was written."""

    code = "state_moved"


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


class NotConfigured(ConsoleError):
    """The centre lacks a setting or a system package the request needs, e.g.
    ``no_public_url``: the detail names what to set. Nothing was done, and asking again
    changes nothing until an operator sees to it."""

    code = "not_configured"
    status = 503


class StoreError(ConsoleError):
    """The database could not do what was asked. For an audit append this means the
    action must not go ahead (no audit, no action), hence 503: try again later."""

    code = "store_error"
    status = 503


class ClusterError(ConsoleError):
    """What the servers of a centre share live (Redis) cannot be reached: nothing that
    needs another server is done."""

    status = 503


class LedgerFault(ConsoleError):
    """The ledger failed its check, so it is not opened for writing: appending to it, or
    even closing it after a write, would bury what is wrong."""

    code = "ledger_bad"
    status = 500


class CorruptAuditEntry(StoreError):
    """A stored audit row cannot even be decoded (bad time, unknown action, detail that
    is not canonical JSON): the ledger was edited outside the program."""

    code = "audit_corrupt"
    status = 500

    def __init__(self, seq: int, problem: str) -> None:
        super().__init__(self.code, f"audit entry {seq}: {problem}", seq=seq)
        self.seq = seq
        self.problem = problem


class CallError(ConsoleError):
    """A rule of the call queue refused the step, and nothing changed. The subclasses
    group the codes by the HTTP status they answer with; a code needing no group of its
    own (``not_ringing``, ``not_answered``, ``already_holder``) is raised as this."""

    code = "call_error"
    status = 409


class UnknownCall(CallError):
    """``unknown_call``, or ``unknown_agent`` for a name that never logged in."""

    code = "unknown_call"
    status = 404


class CallTaken(CallError):
    """Another agent accepted the call first; ``holder`` names them."""

    code = "call_taken"
    status = 409

    def __init__(self, call_id: str, holder: str) -> None:
        super().__init__(self.code, f"call {call_id} is taken by {holder}", holder=holder)
        self.holder = holder


class CallEnded(CallError):
    """The call has ended or was abandoned: nothing more can be done with it."""

    code = "call_ended"
    status = 409


class NotYourCall(CallError):
    """``not_your_call`` (someone else holds it), ``not_covered`` (the call is for a car
    park, an agent or the supervisors that do not include you), ``not_supervisor``."""

    code = "not_your_call"
    status = 403


class NotAvailable(CallError):
    """The agent's state forbids the step: ``not_available`` (offline, on a break),
    ``on_call`` (already holding a call)."""

    code = "not_available"
    status = 409


class BadCallRequest(CallError):
    """``unknown_state``, ``bad_state`` (a state only the queue sets), ``self_transfer``."""

    code = "bad_call_request"
    status = 400
