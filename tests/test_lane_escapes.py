"""The lane link's ``escape`` report from a raw WebSocket lane, against a real centre:
a report out of order, malformed or oversized gets its error (or the link closes) and
owes nothing; one sent twice owes once; the link serves on after each."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import pytest
from websockets.asyncio.client import ClientConnection, connect

from console.billing.rules import Rules
from console.ledger import AuditAction, AuditEntry
from gates.protocol import MAX_MESSAGE_BYTES
from gates.vocabulary import Direction
from gates.wire import format_time
from tests.conftest import Centre
from tests.tables import kept
from tests.test_gatekeeping import HOURLY, PARK, PLATE, left, parked
from tests.test_gatekeeping import settings as settings  # a centre paying in the sandbox
from tests.test_lane_link import closed_with, hello


def escape(event_id: str = "esc-1", plate: str = PLATE, at: datetime | None = None) -> str:
    when = at or datetime.now(UTC)
    return json.dumps(
        {"type": "escape", "event_id": event_id, "at": format_time(when), "plate": plate},
        ensure_ascii=False,
    )


async def escape_entries(centre: Centre) -> list[AuditEntry]:
    return [e async for e in centre.store.iter_audit() if e.action is AuditAction.ESCAPE_RECORDED]


@asynccontextmanager
async def ledgered(centre: Centre) -> AsyncIterator[asyncio.Queue[AuditEntry]]:
    """Each ``escape_recorded`` entry as it is written."""
    heard: asyncio.Queue[AuditEntry] = asyncio.Queue()

    def note(entry: AuditEntry) -> None:
        if entry.action is AuditAction.ESCAPE_RECORDED:
            heard.put_nowait(entry)

    unsubscribe = centre.audit.subscribe(note)
    try:
        yield heard
    finally:
        unsubscribe()


async def next_entry(heard: asyncio.Queue[AuditEntry]) -> AuditEntry:
    async with asyncio.timeout(10):
        return await heard.get()


async def escaped_car(centre: Centre) -> int:
    """A car parked 2 h 1 min that left unpaid a minute ago: 15 yuan owed, once reported."""
    await centre.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    stay_id = await parked(centre, 122)
    await left(centre, 1)
    return stay_id


async def exit_link(centre: Centre, ws: ClientConnection) -> None:
    token = await centre.add_lane("P1-OUT")
    welcome = await hello(ws, "P1-OUT", token)
    assert welcome["type"] == "welcome", welcome


async def test_an_escape_before_hello_closes_the_link_and_owes_nothing(centre: Centre) -> None:
    await escaped_car(centre)
    await centre.add_lane("P1-OUT")
    before = kept(centre)
    async with connect(centre.link) as ws:
        await ws.send(escape())
        assert await closed_with(ws) == (4400, "the first message must be hello")
    assert kept(centre) == before
    assert await centre.store.owed_debts(PLATE) == []


BAD: list[tuple[str, str | bytes, str]] = [
    ("no plate", '{"type":"escape","event_id":"e1","at":"2026-11-23T11:32:04Z"}', "malformed"),
    (
        "empty plate",
        '{"type":"escape","event_id":"e1","at":"2026-11-23T11:32:04Z","plate":""}',
        "malformed",
    ),
    (
        "plate a number",
        '{"type":"escape","event_id":"e1","at":"2026-11-23T11:32:04Z","plate":7}',
        "malformed",
    ),
    ("plate too long", escape(plate="粤B" + "1" * 15), "malformed"),
    ("plate a line feed", escape(plate="粤B\n12345"), "malformed"),
    ("plate bidirectional", escape(plate="\u202e粤B12345"), "malformed"),
    (
        "plate a lone surrogate",
        '{"type":"escape","event_id":"e1","at":"2026-11-23T11:32:04Z","plate":"\\ud800B12345"}',
        "malformed",
    ),
    (
        "event_id a lone surrogate",
        '{"type":"escape","event_id":"\\udfff","at":"2026-11-23T11:32:04Z","plate":"粤B12345"}',
        "malformed",
    ),
    (
        "no event_id",
        '{"type":"escape","at":"2026-11-23T11:32:04Z","plate":"粤B12345"}',
        "malformed",
    ),
    ("event_id a path", escape(event_id="../etc"), "malformed"),
    ("event_id too long", escape(event_id="e" * 65), "malformed"),
    ("no time", '{"type":"escape","event_id":"e1","plate":"粤B12345"}', "malformed"),
    ("a naive time", escape().replace("Z", ""), "malformed"),
    (
        "not a time",
        '{"type":"escape","event_id":"e1","at":"yesterday","plate":"粤B12345"}',
        "malformed",
    ),
    (
        "past year 9999",
        '{"type":"escape","event_id":"e1","at":"9999-12-31T23:59:59-14:00","plate":"粤B12345"}',
        "malformed",
    ),
    (
        "oversized",
        '{"type":"escape","event_id":"e1","at":"2026-11-23T11:32:04Z","plate":"粤B12345","pad":"'
        + "x" * MAX_MESSAGE_BYTES
        + '"}',
        "too_large",
    ),
]


@pytest.mark.parametrize(("frame", "code"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
async def test_a_bad_escape_report_is_an_error_owes_nothing_and_the_link_serves_on(
    centre: Centre, frame: str | bytes, code: str
) -> None:
    """Refused where it enters: no entry, no debt; a good report after it owes."""
    stay_id = await escaped_car(centre)
    async with connect(centre.link, max_size=None) as ws, ledgered(centre) as heard:
        await exit_link(centre, ws)
        before = kept(centre)
        await ws.send(frame)
        error = json.loads(await ws.recv())
        assert (error["type"], error["code"]) == ("error", code)
        assert error["detail"]
        assert kept(centre) == before
        await ws.send(escape(event_id="esc-good"))
        good = await next_entry(heard)
    assert (good.outcome, good.detail["stay"], good.detail["report"]) == (None, stay_id, "esc-good")
    assert [e.detail["report"] for e in await escape_entries(centre)] == ["esc-good"]
    assert [d.fen for d in await centre.store.owed_debts(PLATE)] == [1500]


async def test_a_report_sent_twice_owes_once(centre: Centre) -> None:
    """A lane resends what it sent before a reconnect: the same event_id is one escape."""
    stay_id = await escaped_car(centre)
    async with connect(centre.link) as ws, ledgered(centre) as heard:
        await exit_link(centre, ws)
        await ws.send(escape(event_id="esc-1"))
        first = await next_entry(heard)
        await ws.send(escape(event_id="esc-1"))
        second = await next_entry(heard)
    assert (first.outcome, first.detail["stay"]) == (None, stay_id)
    assert (second.outcome, second.detail["stay"]) == ("escape_recorded", stay_id)
    assert [d.fen for d in await centre.store.owed_debts(PLATE)] == [1500]


async def test_a_report_of_a_car_not_yet_in_owes_nothing_and_is_kept_with_why(
    centre: Centre,
) -> None:
    """Reported before the stay's entry (a clock gone wrong, or a car the centre never
    heard enter): no stay to owe, the report ledgered as ``unknown_stay``."""
    await escaped_car(centre)
    async with connect(centre.link) as ws, ledgered(centre) as heard:
        await exit_link(centre, ws)
        await ws.send(escape(at=datetime.now(UTC) - timedelta(days=1)))
        early = await next_entry(heard)
        await ws.send(escape(event_id="esc-2", plate="粤B1"))
        broken = await next_entry(heard)
    assert (early.outcome, early.detail["stay"]) == ("unknown_stay", None)
    assert (broken.outcome, broken.detail["stay"]) == ("unknown_stay", None)
    assert await centre.store.owed_debts(PLATE) == []


async def test_an_entry_lanes_escape_report_is_no_escape(centre: Centre) -> None:
    """Cars leave by exits: an entry's report is ignored, and its link still served."""
    await escaped_car(centre)
    token = await centre.add_lane("P1-IN", Direction.ENTRY)
    before = kept(centre)
    async with connect(centre.link) as ws:
        await hello(ws, "P1-IN", token)
        await ws.send(escape())
        await ws.send('{"type":"gate","state":"up"}')
        await centre.wait_status("P1-IN", lambda s: s.gate.value == "up")
    # The entry's report went through the same queue as the exit's below: once that is
    # ledgered, the entry's was decided before it.
    async with connect(centre.link) as ws, ledgered(centre) as heard:
        await exit_link(centre, ws)
        await ws.send(escape(event_id="esc-exit"))
        await next_entry(heard)
    assert [e.detail["report"] for e in await escape_entries(centre)] == ["esc-exit"]
    assert kept(centre)["debts"] != before["debts"]
