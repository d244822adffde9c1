"""The day's call ledger, driven with literals: which calls a Shanghai day holds, what
each row calls out, the day's figures, and the CSV file Excel opens."""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime, timedelta

import pytest

from console.actions import OpenReason
from console.calls.commands import CallCommands
from console.calls.daybook import (
    CATEGORY_LABELS,
    DayWindow,
    LedgerFormat,
    PlateView,
    day_window,
    is_free_release,
    ledger_json,
    mask_plate,
    parse_day,
    parse_query,
    row_json,
    rows_of,
    summarise,
)
from console.calls.daybook_csv import (
    HEADERS,
    KIND_LABELS,
    OUTCOME_LABELS,
    REASON_LABELS,
    SOURCE_LABELS,
    action_text,
    attachment,
    cells,
    csv_bytes,
    defused,
    yuan,
)
from console.calls.model import CallState, Ending, Source
from console.calls.record import ActionKind, ActionTaken, CallRecord, Category, Outcome
from console.errors import BadRequest
from console.fields import QUERY_MAX
from console.gatekeeping.holds import BlacklistHold
from console.ledger import AuditAction, AuditRecord, seal
from gates.centre.commands import Outcome as CommandOutcome
from gates.vocabulary import Direction

DAY = date(2026, 3, 1)
# 2026-03-01 00:00 in Shanghai.
MIDNIGHT = datetime(2026, 2, 28, 16, 0, tzinfo=UTC)


def at(local_hhmm: str) -> datetime:
    """A UTC instant on DAY given as Shanghai's clock shows it, ``"23:30"``."""
    hours, minutes = (int(part) for part in local_hhmm.split(":"))
    return MIDNIGHT + timedelta(hours=hours, minutes=minutes)


def open_gate(reason: str | None, outcome: str | None = "done") -> ActionTaken:
    return ActionTaken("k1", ActionKind.OPEN_GATE, "alice", outcome, reason)


def record(
    call_id: str = "c1",
    *,
    queued: datetime | None = None,
    wait_s: float = 10.0,
    handle_s: float | None = 60.0,
    outcome: Outcome | None = None,
    actions: tuple[ActionTaken, ...] = (),
    car_park: str = "人民路停车场",
    breached: bool = False,
) -> CallRecord:
    """A finished lane call; answered unless ``handle_s`` is None."""
    queued_at = queued or at("09:00")
    answered = None if handle_s is None else queued_at + timedelta(seconds=wait_s)
    ended = queued_at + timedelta(seconds=wait_s + (handle_s or 0))
    return CallRecord(
        call_id=call_id,
        lane_id="P1-OUT",
        car_park=car_park,
        direction=Direction.EXIT,
        source=Source.LANE,
        caller=None,
        agent=None if handle_s is None else "alice",
        state=CallState.ABANDONED if handle_s is None else CallState.ENDED,
        ending=Ending.TIMEOUT if handle_s is None else Ending.AGENT,
        ended_by=None if handle_s is None else "alice",
        queued_at=queued_at,
        answered_at=answered,
        ended_at=ended,
        wait_s=wait_s,
        handle_s=handle_s,
        breached=breached,
        presses=1,
        transfers=0,
        outcome=outcome,
        actions=actions,
    )


def contains(window: DayWindow, moment: datetime) -> bool:
    """As the store asks: ``since`` included, ``until`` not."""
    return window.since <= moment < window.until


# ------------------------------------------------------------------ the day


def test_a_shanghai_day_starts_at_four_in_the_afternoon_utc_the_day_before() -> None:
    window = day_window(DAY)
    assert (window.since, window.until) == (MIDNIGHT, MIDNIGHT + timedelta(days=1))


def test_a_call_at_half_past_eleven_at_night_is_in_that_local_day() -> None:
    """23:30 +08:00 is 15:30 UTC: in the 1st's window, not in the 2nd's."""
    ended = datetime(2026, 3, 1, 15, 30, tzinfo=UTC)
    assert contains(day_window(DAY), ended)
    assert not contains(day_window(date(2026, 3, 2)), ended)


def test_a_call_after_utc_midnight_but_before_eight_is_in_the_local_day() -> None:
    """07:59 +08:00 on the 2nd is 23:59 UTC on the 1st: it is the 2nd's."""
    ended = datetime(2026, 3, 1, 23, 59, tzinfo=UTC)
    assert contains(day_window(date(2026, 3, 2)), ended)
    assert not contains(day_window(DAY), ended)


def test_local_midnight_opens_the_day_and_closes_the_one_before() -> None:
    assert contains(day_window(DAY), MIDNIGHT)
    assert not contains(day_window(date(2026, 2, 28)), MIDNIGHT)
    assert contains(day_window(date(2026, 2, 28)), MIDNIGHT - timedelta(microseconds=1))


def test_times_are_shown_on_shanghais_clock() -> None:
    row = ledger_json(
        parse_query([("date", "2026-03-01")], 15),
        day_window(DAY),
        rows_of([record(queued=at("23:30"), wait_s=5, handle_s=30)], None, PlateView.MASKED),
        summarise([], 20),
    )
    assert (row["since"], row["until"]) == (
        "2026-03-01T00:00:00+08:00",
        "2026-03-02T00:00:00+08:00",
    )
    [shown] = row["rows"]
    assert shown["time"] == "2026-03-01T23:30:00+08:00"
    assert shown["answered_at"] == "2026-03-01T23:30:05+08:00"
    assert shown["ended_at"] == "2026-03-01T23:30:35+08:00"


# ------------------------------------------------------------------ the request


@pytest.mark.parametrize("text", ["2026-03-01", "2024-02-29", "2000-01-01", "9998-12-31"])
def test_real_days_are_read(text: str) -> None:
    assert parse_day(text) == date.fromisoformat(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "2026-02-30",
        "2026-02-29",  # not a leap year
        "2026-13-01",
        "2026-00-10",
        "2026-3-1",
        "20260301",
        "2026-W09-1",
        "2026-03-01T00:00",
        "2026-03-01\n",
        " 2026-03-01",
        "２０２６-03-01",  # full-width digits
        "٢٠٢٦-03-01",  # Arabic-Indic digits
        "2026-03-0\ud800",
        "\ufffd",
        "1999-12-31",
        "9999-12-31",
        "0001-01-01",
    ],
)
def test_anything_but_a_real_day_in_ascii_digits_is_an_invalid_date(text: str) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_day(text)
    assert refused.value.code == "invalid_date"


def test_the_query_defaults_to_json_masked_plates_and_every_car_park() -> None:
    query = parse_query([("date", "2026-03-01"), ("car_park", "")], 25)
    assert (query.day, query.car_park, query.format, query.plates) == (
        DAY,
        None,
        LedgerFormat.JSON,
        PlateView.MASKED,
    )


@pytest.mark.parametrize(
    ("params", "length", "error"),
    [
        ([], 0, "invalid_date"),
        ([("date", "2026-03-01"), ("date", "2026-03-02")], 31, "bad_request"),
        ([("date", "2026-03-01"), ("format", "xlsx")], 27, "invalid_format"),
        ([("date", "2026-03-01"), ("plates", "some")], 27, "invalid_plates"),
        ([("date", "2026-03-01")], QUERY_MAX + 1, "query_too_long"),
        ([("date", "2026-03-01"), ("park", "人民路")], 27, "bad_request"),
    ],
)
def test_a_bad_query_is_refused_with_its_code(
    params: list[tuple[str, str]], length: int, error: str
) -> None:
    with pytest.raises(BadRequest) as refused:
        parse_query(params, length)
    assert refused.value.code == error


# ------------------------------------------------------------------ rows


@pytest.mark.parametrize(
    ("plate", "masked"),
    [
        ("粤B12345", "粤B1***5"),
        ("粤BD12345", "粤BD****5"),  # new energy: one more character
        ("京A1234学", "京A1***学"),
        ("", ""),
        ("粤B1", "***"),
    ],
)
def test_plates_keep_province_letter_first_and_last(plate: str, masked: str) -> None:
    assert mask_plate(plate) == masked


@pytest.mark.parametrize("outcome", ["done", "timeout", None])
def test_a_free_release_open_that_may_have_lifted_is_a_free_release(outcome: str | None) -> None:
    """Done, unanswered by the lane, or not yet known when the call ended."""
    assert is_free_release([open_gate("free_release", outcome)])


@pytest.mark.parametrize("outcome", ["refused", "lane_offline"])
def test_a_free_release_open_that_lifted_nothing_is_not(outcome: str) -> None:
    assert not is_free_release([open_gate("free_release", outcome)])


@pytest.mark.parametrize(
    "reason", [r.value for r in OpenReason if r is not OpenReason.FREE_RELEASE]
)
def test_opens_for_other_reasons_are_not_free_releases(reason: str) -> None:
    assert not is_free_release([open_gate(reason)])


def test_an_open_kept_before_opens_had_reasons_is_not_a_free_release() -> None:
    assert not is_free_release([ActionTaken.from_json(open_gate(None).to_json())])


def test_the_open_request_entry_gives_the_action_its_reason() -> None:
    """The ledger's request entry names the reason; the call's action keeps it."""
    commands = CallCommands()
    request = AuditRecord(
        actor="alice",
        action=AuditAction.GATE_OPEN_REQUESTED,
        lane="L1",
        command_id="k1",
        reason="free_release",
    )
    assert commands.heard(seal("0" * 64, 1, MIDNIGHT, request), [("c1", "L1", "alice")])
    [taken] = commands.of("c1")
    assert taken == ActionTaken("k1", ActionKind.OPEN_GATE, "alice", None, "free_release")
    assert CallCommands.from_json(commands.to_json()).of("c1") == (taken,)


def test_rows_are_the_car_parks_calls_in_the_order_they_came_in() -> None:
    late = record("c1", queued=at("10:00"))
    early = record("c2", queued=at("08:00"))
    elsewhere = record("c3", queued=at("09:00"), car_park="解放路停车场")
    rows = rows_of([late, early, elsewhere], "人民路停车场", PlateView.MASKED)
    assert [row.record.call_id for row in rows] == ["c2", "c1"]
    assert len(rows_of([late, early, elsewhere], None, PlateView.MASKED)) == 3


def test_a_row_masks_its_plate_unless_full_plates_were_asked_for() -> None:
    calls = [record(outcome=Outcome(Category.PAYMENT_HELP, "粤B12345", 500))]
    assert rows_of(calls, None, PlateView.MASKED)[0].plate == "粤B1***5"
    assert rows_of(calls, None, PlateView.FULL)[0].plate == "粤B12345"


def test_a_call_filed_as_escape_is_called_out() -> None:
    [row] = rows_of([record(outcome=Outcome(Category.ESCAPE))], None, PlateView.MASKED)
    assert row.escape and not row.free_release


def test_a_call_at_a_lane_that_held_a_blacklisted_car_is_a_blacklist_hit() -> None:
    """Held a few minutes before the call came in, at its lane: a hit; at another lane,
    long before or after the call ended: not."""
    call = record("c1", queued=at("10:00"))
    ended = call.ended_at

    def hold(lane: str, when: datetime) -> BlacklistHold:
        return BlacklistHold("e1", lane, call.car_park, "粤B44444", when)

    hits = [
        hold(call.lane_id, call.queued_at - timedelta(minutes=3)),
        hold(call.lane_id, ended),
    ]
    misses = [
        hold("P9-OUT", call.queued_at),
        hold(call.lane_id, call.queued_at - timedelta(minutes=11)),
        hold(call.lane_id, ended + timedelta(seconds=1)),
    ]
    for held in hits:
        assert rows_of([call], None, PlateView.MASKED, [held])[0].blacklist, held
    for held in misses:
        assert not rows_of([call], None, PlateView.MASKED, [held])[0].blacklist, held
    [row] = rows_of([call], None, PlateView.MASKED, hits)
    assert summarise([row], 30).blacklist_hits == 1
    assert row_json(row)["blacklist"] is True
    assert dict(zip(HEADERS, cells(row), strict=True))["黑名单"] == "是"


def test_the_day_is_summed_up() -> None:
    """Two answered (one in 20 s), one abandoned, a breach, a free release, an escape."""
    rows = rows_of(
        [
            record(
                "c1",
                wait_s=12,
                outcome=Outcome(Category.PAYMENT_HELP, "粤B12345", 1500),
                actions=(open_gate("free_release"),),
            ),
            record(
                "c2",
                wait_s=45,
                handle_s=320,
                breached=True,
                outcome=Outcome(Category.ESCAPE, "", 2005),
            ),
            record("c3", wait_s=300, handle_s=None),
        ],
        None,
        PlateView.MASKED,
    )
    summary = summarise(rows, answer_target_s=20)
    assert (summary.calls, summary.answered, summary.abandoned) == (3, 2, 1)
    assert (summary.answered_in_target, summary.service_level) == (1, 50.0)
    assert (summary.breaches, summary.free_releases, summary.escapes) == (1, 1, 1)
    assert summary.amount_fen == 3505
    assert summary.by_category[Category.PAYMENT_HELP] == 1
    assert summary.by_category[Category.ESCAPE] == 1
    assert sum(summary.by_category.values()) == 2 and summary.uncategorised == 1


def test_a_day_with_no_answer_has_no_service_level() -> None:
    summary = summarise(rows_of([record(handle_s=None)], None, PlateView.MASKED), 20)
    assert summary.service_level is None and summary.amount_fen == 0


def test_the_json_row_names_the_category_in_chinese_and_lists_the_actions() -> None:
    call = record(
        outcome=Outcome(Category.NO_ENTRY_RECORD, "粤B12345", 800, "补录入场"),
        actions=(open_gate("free_release"),),
    )
    [row] = ledger_json(
        parse_query([("date", "2026-03-01")], 15),
        day_window(DAY),
        rows_of([call], None, PlateView.MASKED),
        summarise([], 20),
    )["rows"]
    assert row["category"] == {"code": "no_entry_record", "label": "无入场记录"}
    assert (row["plate"], row["amount_fen"], row["note"]) == ("粤B1***5", 800, "补录入场")
    assert row["actions"] == [
        {
            "command_id": "k1",
            "kind": "open_gate",
            "agent": "alice",
            "outcome": "done",
            "reason": "free_release",
        }
    ]
    assert (row["breached"], row["free_release"], row["escape"]) == (False, True, False)


# ------------------------------------------------------------------ CSV


def test_every_code_has_its_chinese_label() -> None:
    assert set(CATEGORY_LABELS) == set(Category)
    assert set(SOURCE_LABELS) == set(Source)
    assert set(KIND_LABELS) == set(ActionKind)
    assert set(REASON_LABELS) == {r.value for r in OpenReason}
    assert set(OUTCOME_LABELS) == {o.value for o in CommandOutcome}


@pytest.mark.parametrize(
    ("fen", "shown"), [(0, "0.00"), (5, "0.05"), (100, "1.00"), (123456, "1234.56")]
)
def test_amounts_are_yuan_with_two_decimals_from_whole_fen(fen: int, shown: str) -> None:
    assert yuan(fen) == shown


@pytest.mark.parametrize(
    ("cell", "written"),
    [
        ('=HYPERLINK("http://x")', '\'=HYPERLINK("http://x")'),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("已缴费 =1", "已缴费 =1"),
        ("", ""),
    ],
)
def test_cells_a_spreadsheet_would_run_get_a_leading_quote(cell: str, written: str) -> None:
    assert defused(cell) == written


def test_an_action_reads_as_kind_reason_and_outcome() -> None:
    assert action_text(open_gate("free_release")) == "开闸(免费放行)：成功"
    assert action_text(open_gate("emergency", None)) == "开闸(紧急情况)：结果未知"
    display = ActionTaken("k2", ActionKind.DISPLAY, "alice", "refused")
    assert action_text(display) == "显示：被拒绝"


def parsed(data: bytes) -> list[list[str]]:
    assert data.startswith(b"\xef\xbb\xbf")
    return list(csv.reader(io.StringIO(data[3:].decode("utf-8"), newline="")))


def test_the_csv_opens_with_a_bom_and_chinese_headers() -> None:
    assert parsed(csv_bytes([])) == [list(HEADERS)]


def test_a_csv_row_holds_the_call_as_excel_shows_it() -> None:
    answered = record(
        queued=at("23:30"),
        wait_s=12.34,
        handle_s=95.0,
        breached=False,
        outcome=Outcome(Category.ESCAPE, "粤B12345", 2005, "=1+1\n第二行"),
        actions=(open_gate("free_release"),),
    )
    abandoned = record("c2", queued=at("23:40"), handle_s=None)
    [_, first, second] = parsed(csv_bytes(rows_of([answered, abandoned], None, PlateView.MASKED)))
    assert dict(zip(HEADERS, first, strict=True)) == {
        "时间": "2026-03-01 23:30:00",
        "车道": "P1-OUT",
        "来源": "车道呼叫",
        "坐席": "alice",
        "等待(秒)": "12.3",
        "处理(秒)": "95.0",
        "类别": "逃费",
        "车牌": "粤B1***5",
        "金额(元)": "20.05",
        "操作": "开闸(免费放行)：成功",
        "超时": "否",
        "免费放行": "是",
        "逃费": "是",
        "黑名单": "否",
        "备注": "'=1+1\n第二行",
    }
    assert (second[3], second[5], second[6], second[8]) == ("", "", "未接听", "")


def test_the_file_is_named_for_the_day_and_the_car_park_in_utf8_with_an_ascii_fallback() -> None:
    assert attachment(DAY, "人民路停车场") == (
        "attachment; filename=\"calls-2026-03-01.csv\"; filename*=UTF-8''"
        "calls-2026-03-01-%E4%BA%BA%E6%B0%91%E8%B7%AF%E5%81%9C%E8%BD%A6%E5%9C%BA.csv"
    )
    assert attachment(DAY, 'P1 "东"/x') == (
        "attachment; filename=\"calls-2026-03-01-P1_x.csv\"; filename*=UTF-8''"
        "calls-2026-03-01-P1%20%22%E4%B8%9C%22%2Fx.csv"
    )
    assert attachment(DAY, None) == (
        "attachment; filename=\"calls-2026-03-01.csv\"; filename*=UTF-8''calls-2026-03-01.csv"
    )
