"""How ``seat`` logs: one line per event, whatever the event carries.

Log lines hold text that came from outside (a lane's refusal reason, a username typed at
the login page, a camera's error). A line feed in such text would forge a second log
line that a reader or a log shipper takes for the centre's own, so the message part of
every record is written with control characters and line breaks escaped
(``gates.textrules.escape_controls``); a traceback after it keeps its lines.
"""

from __future__ import annotations

import logging
from typing import TextIO

from gates.textrules import escape_controls

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Libraries whose INFO is a line per ICE check or connection: noise at a busy centre.
_CHATTY = ("aioice", "aiortc")


class OneLineFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)


def configure(level: str | int, stream: TextIO | None = None) -> None:
    """Log to ``stream`` (standard error by default) at ``level``; the chatty
    libraries only from WARNING, unless ``level`` asks for DEBUG."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(OneLineFormatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet = max(root.level, logging.WARNING) if root.level > logging.DEBUG else root.level
    for name in _CHATTY:
        logging.getLogger(name).setLevel(quiet)
