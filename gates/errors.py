"""Errors of the lane link.

Each carries the ``code`` that goes on the wire in an ``error`` message, so the lane
controller's integrator sees exactly which rule a message broke.
"""

from __future__ import annotations


class LinkError(Exception):
    code = "link_error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class TooLarge(LinkError):
    code = "too_large"


class Malformed(LinkError):
    code = "malformed"


class UnknownType(LinkError):
    code = "unknown_type"


class OutOfOrder(LinkError):
    code = "out_of_order"


class UnknownCommand(LinkError):
    code = "unknown_command"


class RateLimited(LinkError):
    code = "rate_limited"
