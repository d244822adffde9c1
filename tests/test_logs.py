"""``SEAT_LOG_FORMAT=json``: each record one JSON object on a line, read back as a log
shipper would, from the formatter and from real ``seat`` processes."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from console.logs import LogFormat, configure, parse_event, parse_log_format

SEAT = [sys.executable, "-m", "console.cli"]


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


@pytest.mark.usefixtures("logging_restored")
def test_an_event_is_one_json_line_with_its_fields() -> None:
    """A value holding a line feed, a quote and a U+2028 stays in its line and comes
    back as it was sent."""
    out = io.StringIO()
    configure("INFO", out, LogFormat.JSON)
    reason = 'said "stop"\n2026-11-28 INFO seat.audit forged\u2028粤B12345'
    logging.getLogger("seat.gates").warning(
        "gate.command.refused lane=%s command_id=%s detail=%s", "P1-OUT", "c1", reason
    )
    text = out.getvalue()
    assert text.isascii() and len(text.splitlines()) == 1
    [line] = json_lines(text)
    assert line["event"] == "gate.command.refused"
    assert line["fields"] == {"lane": "P1-OUT", "command_id": "c1", "detail": reason}
    assert line["message"] == f"gate.command.refused lane=P1-OUT command_id=c1 detail={reason}"
    assert (line["level"], line["logger"]) == ("WARNING", "seat.gates")
    stamped = datetime.fromisoformat(line["ts"])
    assert stamped.utcoffset() == timedelta(0)
    assert abs((datetime.now(UTC) - stamped).total_seconds()) < 60
    assert "exc" not in line


@pytest.mark.usefixtures("logging_restored")
def test_a_traceback_travels_in_exc() -> None:
    out = io.StringIO()
    configure("INFO", out, LogFormat.JSON)
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        logging.getLogger("seat.test").exception("store.batch.failed size=%d", 3)
    [line] = json_lines(out.getvalue())
    assert line["event"] == "store.batch.failed" and line["fields"] == {"size": "3"}
    assert line["exc"].startswith("Traceback (most recent call last):")
    assert line["exc"].endswith("ValueError: boom\nsecond line")


@pytest.mark.usefixtures("logging_restored")
def test_a_message_of_another_shape_has_no_event() -> None:
    """A library's prose is kept whole, with no event or fields made up from it."""
    out = io.StringIO()
    configure("INFO", out, LogFormat.JSON)
    logging.getLogger("uvicorn.error").info("Started server process [%d]", 42)
    [line] = json_lines(out.getvalue())
    assert (line["event"], line["fields"]) == (None, {})
    assert line["message"] == "Started server process [42]"


def test_parse_event() -> None:
    assert parse_event("lane.link.online lane=P1") == ("lane.link.online", {"lane": "P1"})
    # A value runs to the next " key=": spaces and '=' inside it are its own.
    assert parse_event("gate.command.refused lane=P1 detail=jammed, x=1 is odd ok=") == (
        "gate.command.refused",
        {"lane": "P1", "detail": "jammed,", "x": "1 is odd", "ok": ""},
    )
    assert parse_event("calls.started") == ("calls.started", {})
    assert parse_event("audit.appended seq=3 action=login") == (
        "audit.appended",
        {"seq": "3", "action": "login"},
    )
    assert parse_event("Waiting for application startup.") == (None, {})
    assert parse_event("") == (None, {})


def test_the_log_format_setting() -> None:
    assert parse_log_format("json") is LogFormat.JSON
    assert parse_log_format(" TEXT ") is LogFormat.TEXT
    with pytest.raises(ValueError, match="SEAT_LOG_FORMAT must be text or json, not 'xml'"):
        parse_log_format("xml")


def test_an_unknown_format_stops_the_start_with_a_clear_error(tmp_path: Path) -> None:
    result = subprocess.run(
        [*SEAT, "serve"],
        env={**os.environ, "SEAT_DATA_DIR": str(tmp_path), "SEAT_LOG_FORMAT": "yaml"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr == "seat: SEAT_LOG_FORMAT must be text or json, not 'yaml'\n"
    assert list(tmp_path.iterdir()) == []  # nothing was opened


async def test_seat_serve_writes_json_lines(tmp_path: Path) -> None:
    serve = await asyncio.create_subprocess_exec(
        *SEAT, "serve", stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SEAT_DATA_DIR": str(tmp_path), "SEAT_PORT": "0",
             "SEAT_LOG_LEVEL": "INFO", "SEAT_LOG_FORMAT": "json"},
    )  # fmt: skip
    assert serve.stderr is not None
    lines: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(60):
            while not lines or lines[-1]["message"] != "Application startup complete.":
                raw = await serve.stderr.readline()
                assert raw, "seat serve exited:\n" + "\n".join(map(str, lines))
                lines.append(json.loads(raw))
    finally:
        serve.terminate()
        await serve.communicate()
    started = [line for line in lines if line["event"] == "audit.appended"]
    assert started[-1]["fields"]["action"] == "centre_started"
    assert started[-1]["logger"] == "seat.audit"


async def test_seat_lane_writes_json_lines() -> None:
    """A lane whose centre is not there says so, in JSON."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    lane = await asyncio.create_subprocess_exec(
        *SEAT, "lane", "--server", f"http://127.0.0.1:{port}", "--lane", "P9-OUT",
        "--camera", "none", "--microphone", "none", "--speaker", "none",
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SEAT_LANE_TOKEN": "t" * 32, "SEAT_LOG_FORMAT": "json"},
    )  # fmt: skip
    assert lane.stderr is not None
    try:
        async with asyncio.timeout(60):
            while True:
                raw = await lane.stderr.readline()
                assert raw, "seat lane exited"
                line = json.loads(raw)
                if line["event"] == "lane.link.failed":
                    break
    finally:
        lane.terminate()
        await lane.communicate()
    assert line["fields"]["lane"] == "P9-OUT"
    assert "ConnectionRefusedError" in line["fields"]["error"]
