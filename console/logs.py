"""How ``seat`` logs: one line per event, whatever the event carries.

Log lines hold text that came from outside (a lane's refusal reason, a username typed at
the login page, a camera's error). A line feed in such text would forge a second log
line that a reader or a log shipper takes for the centre's own, so the message part of
every record is written with control characters and line breaks escaped
(``gates.textrules.escape_controls``); a traceback after it keeps its lines.

``SEAT_LOG_FORMAT=json`` writes each record as one JSON object on a line instead, for a
log shipper that would otherwise parse our lines with a pattern: ``ts`` (ISO 8601, UTC),
``level``, ``logger``, ``event`` and ``fields`` (our messages are ``event.name key=value
...``: a message of another shape has ``event`` null and no fields), ``message`` as
written, and ``exc`` with the traceback when there is one. JSON's escapes keep a line
feed or a quote in a value inside the line; the line is ASCII, all else escaped.
"""

from __future__ import annotations

import enum
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any, TextIO

from gates.textrules import escape_controls

FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"
# Libraries whose INFO is a line per ICE check or connection: noise at a busy centre.
_CHATTY = ("aioice", "aiortc")


class LogFormat(enum.StrEnum):
    TEXT = "text"
    JSON = "json"


def parse_log_format(raw: str) -> LogFormat:
    """``SEAT_LOG_FORMAT``; ``ValueError`` naming the choices."""
    try:
        return LogFormat(raw.strip().lower())
    except ValueError:
        choices = " or ".join(fmt.value for fmt in LogFormat)
        raise ValueError(f"SEAT_LOG_FORMAT must be {choices}, not {raw!r}") from None


class OneLineFormatter(logging.Formatter):
    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = escape_controls(record.message)
        return super().formatMessage(record)


# ``event.name``: lower-case words joined by dots, at least two of them.
_EVENT = re.compile(r"[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)+")
# `` key=``: where each field starts; its value runs to the next one.
_KEY = re.compile(r" ([a-z_][a-z0-9_]*)=")


def parse_event(message: str) -> tuple[str | None, dict[str, str]]:
    """The event's name and its fields, from ``event.name key=value key=value``. A
    value may hold spaces (``detail=barrier stuck``): it ends where `` key=`` starts
    the next field. Another shape of message is no event: ``(None, {})``."""
    name, _, rest = message.partition(" ")
    if _EVENT.fullmatch(name) is None:
        return None, {}
    fields: dict[str, str] = {}
    starts = list(_KEY.finditer(" " + rest))
    for n, start in enumerate(starts):
        end = starts[n + 1].start() if n + 1 < len(starts) else None
        fields[start.group(1)] = (" " + rest)[start.end() : end]
    return name, fields


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        event, fields = parse_event(message)
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "event": event,
            "fields": fields,
            "message": message,
        }
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exc"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        # ASCII only: every line break Python or a shipper knows (U+2028 too), and a
        # lone surrogate no UTF-8 stream could write, is an escape.
        return json.dumps(line)


def configure(
    level: str | int, stream: TextIO | None = None, fmt: LogFormat = LogFormat.TEXT
) -> None:
    """Log to ``stream`` (standard error by default) at ``level`` in ``fmt``; the
    chatty libraries only from WARNING, unless ``level`` asks for DEBUG."""
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter() if fmt is LogFormat.JSON else OneLineFormatter(FORMAT))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    quiet = max(root.level, logging.WARNING) if root.level > logging.DEBUG else root.level
    for name in _CHATTY:
        logging.getLogger(name).setLevel(quiet)
