"""Errors of the no-plate pages and API. The phone pages show each as a page of its own
(``page.py``); the API answers with the usual JSON body."""

from __future__ import annotations

from ..errors import Conflict, ConsoleError, NotFound


class CodeRefused(NotFound):
    """A lane code that is no code of this centre: ``noplate_code_malformed``,
    ``noplate_code_forged``, or ``noplate_unknown_lane`` for a lane since removed."""


class CodeExpired(ConsoleError):
    """``noplate_code_expired``: a genuine code past its lifetime (a photo of the display
    taken earlier), or ``noplate_code_used``: one that already let a car in or out."""

    code = "noplate_code_expired"
    status = 410


class NoStay(NotFound):
    """``noplate_no_stay``: this phone has no open no-plate stay in the exit's car park;
    ``unknown_stay``: no no-plate stay with that id."""


class StayRefused(Conflict):
    """``wrong_direction`` (an entry's code used to leave, or the reverse),
    ``phone_has_stay`` (one open no-plate stay per phone), ``stay_not_open``."""
