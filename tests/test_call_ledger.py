"""The day's call ledger over HTTP: a day of real calls (a lane call with a free
release, a phone call filed as an escape, calls nobody answered, one in another car
park), read back as JSON and as the CSV file Excel opens, each read in the audit
ledger first; and every request the endpoint refuses."""

from __future__ import annotations

import csv
import io
import sqlite3
from datetime import UTC, datetime

import httpx
import pytest

from console.auth import new_token, token_hash
from console.calls.daybook import SHANGHAI
from console.ledger import AuditAction, AuditEntry
from console.models import Direction, LaneRecord, Role
from gates.lane.drivers import CallPressed
from tests.conftest import Centre, LaneFactory
from tests.desks import desk

PARK = "人民路停车场"
OTHER_PARK = "解放路停车场"
RECORDS = "/api/calls/records"


def today() -> str:
    return datetime.now(SHANGHAI).date().isoformat()


@pytest.fixture
async def day(staffed: Centre, lanes: LaneFactory) -> str:
    """Today's calls, all finished: alice answers a lane call at P1-OUT, lifts the
    barrier as a free release and files it as payment help (15 yuan); bob answers a
    phone call and files it as an escape (20 yuan, a note a spreadsheet would run); a
    phone call at P1-OUT and one at Q1-IN (another car park) hang up unanswered."""
    lane = await lanes("P1-OUT")
    await staffed.store.put_lane(
        LaneRecord("Q1-IN", "Q1 入口", OTHER_PARK, Direction.ENTRY, token_hash(new_token()))
    )
    await staffed.changes.poll()
    async with desk(staffed, "alice") as alice:
        lane.driver.emit(CallPressed())
        call_id = (await alice.next("ring"))["call_id"]
        assert (await alice.post(f"/api/calls/{call_id}/accept")).status_code == 200
        opened = await alice.post("/api/lanes/P1-OUT/open", {"reason": "free_release"})
        assert opened.json()["outcome"] == "done"
        form = {"category": "payment_help", "plate": "粤B12345", "amount_fen": 1500}
        assert (await alice.post(f"/api/calls/{call_id}/end", form)).status_code == 200
    async with desk(staffed, "bob") as bob:
        phoned = await staffed.calls.place_phone_call("P1-OUT", caller="13800138000")
        assert (await bob.next("ring"))["call_id"] == phoned.id
        assert (await bob.post(f"/api/calls/{phoned.id}/accept")).status_code == 200
        form = {"category": "escape", "plate": "粤BD67890", "amount_fen": 2000, "note": "=1+1"}
        assert (await bob.post(f"/api/calls/{phoned.id}/end", form)).status_code == 200
    for lane_id in ("P1-OUT", "Q1-IN"):
        unanswered = await staffed.calls.place_phone_call(lane_id, caller="13900139000")
        await staffed.calls.hang_up(unanswered.id)
    return today()


async def ledger(centre: Centre, user: str, query: str) -> httpx.Response:
    async with centre.client(user) as client:
        return await client.get(f"{RECORDS}?{query}")


async def exports(centre: Centre) -> list[AuditEntry]:
    return [e async for e in centre.store.iter_audit() if e.action is AuditAction.CALLS_EXPORTED]


def rows_of_csv(data: bytes) -> list[dict[str, str]]:
    assert data[:3] == b"\xef\xbb\xbf"
    return list(csv.DictReader(io.StringIO(data[3:].decode("utf-8"), newline="")))


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


# ------------------------------------------------------------------ reading it


async def test_the_json_ledger_lists_the_car_parks_calls_with_their_flags(
    staffed: Centre, day: str
) -> None:
    """Three calls at 人民路, in the order they came: the free release, the escape, the
    unanswered call; times on Shanghai's clock, plates masked."""
    response = await ledger(staffed, "sue", f"date={day}&car_park={PARK}")
    assert response.status_code == 200
    body = response.json()
    assert (body["date"], body["car_park"], body["plates"]) == (day, PARK, "masked")
    released, escape, unanswered = body["rows"]
    assert [row["source"] for row in body["rows"]] == ["lane", "phone", "phone"]
    assert all(
        row["time"].startswith(day) and row["time"].endswith("+08:00") for row in body["rows"]
    )
    assert (released["agent"], released["plate"], released["amount_fen"]) == (
        "alice",
        "粤B1***5",
        1500,
    )
    assert released["category"] == {"code": "payment_help", "label": "缴费求助"}
    [lift] = released["actions"]
    assert (lift["kind"], lift["reason"], lift["outcome"]) == ("open_gate", "free_release", "done")
    assert (released["free_release"], released["escape"], released["breached"]) == (
        True,
        False,
        False,
    )
    assert (escape["agent"], escape["plate"], escape["note"]) == ("bob", "粤BD****0", "=1+1")
    assert (escape["free_release"], escape["escape"]) == (False, True)
    assert (unanswered["state"], unanswered["agent"], unanswered["category"]) == (
        "abandoned",
        None,
        None,
    )
    assert "caller" not in unanswered  # a phone number is not the ledger's business


async def test_a_head_request_exports_nothing(staffed: Centre, day: str) -> None:
    """Answered as a GET it would be audited as an export with nothing sent."""
    async with staffed.client("sue") as client:
        response = await client.head(f"/api/calls/records?date={day}&format=csv")
    assert response.status_code == 405 and response.headers["allow"] == "GET"
    assert await exports(staffed) == []


async def test_the_summary_sums_up_the_car_parks_day(staffed: Centre, day: str) -> None:
    summary = (await ledger(staffed, "sue", f"date={day}&car_park={PARK}")).json()["summary"]
    assert (summary["calls"], summary["answered"], summary["abandoned"]) == (3, 2, 1)
    assert (summary["answered_in_target"], summary["service_level"]) == (2, 100.0)
    assert (summary["free_releases"], summary["escapes"], summary["breaches"]) == (1, 1, 0)
    assert summary["amount_fen"] == 3500
    assert {code: n for code, n in summary["by_category"].items() if n} == {
        "payment_help": 1,
        "escape": 1,
    }
    assert summary["uncategorised"] == 1


async def test_without_a_car_park_the_ledger_holds_every_car_park(
    staffed: Centre, day: str
) -> None:
    body = (await ledger(staffed, "sue", f"date={day}")).json()
    assert body["car_park"] is None
    assert sorted(row["car_park"] for row in body["rows"]) == [PARK, PARK, PARK, OTHER_PARK]


async def test_another_day_of_a_known_car_park_is_empty(staffed: Centre, day: str) -> None:
    body = (await ledger(staffed, "sue", f"date=2020-01-01&car_park={PARK}")).json()
    assert body["rows"] == [] and body["summary"]["service_level"] is None


async def test_the_csv_file_opens_in_excel_with_its_chinese(staffed: Centre, day: str) -> None:
    """BOM, Chinese headers, yuan, 是/否, the formula-looking note defused, a file name
    in UTF-8 with an ASCII fallback."""
    response = await ledger(staffed, "sue", f"date={day}&car_park={PARK}&format=csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == (
        f"attachment; filename=\"calls-{day}.csv\"; filename*=UTF-8''calls-{day}-"
        "%E4%BA%BA%E6%B0%91%E8%B7%AF%E5%81%9C%E8%BD%A6%E5%9C%BA.csv"
    )
    released, escape, unanswered = rows_of_csv(response.content)
    assert list(released) == [
        "时间", "车道", "来源", "坐席", "等待(秒)", "处理(秒)", "类别", "车牌",
        "金额(元)", "操作", "超时", "免费放行", "逃费", "黑名单", "备注",
    ]  # fmt: skip
    assert (released["车道"], released["来源"], released["坐席"]) == ("P1-OUT", "车道呼叫", "alice")
    assert (released["类别"], released["车牌"], released["金额(元)"]) == (
        "缴费求助",
        "粤B1***5",
        "15.00",
    )
    assert (released["操作"], released["免费放行"], released["逃费"]) == (
        "开闸(免费放行)：成功",
        "是",
        "否",
    )
    assert datetime.strptime(released["时间"], "%Y-%m-%d %H:%M:%S").date().isoformat() == day
    assert (escape["来源"], escape["类别"], escape["金额(元)"]) == ("扫码电话", "逃费", "20.00")
    assert (escape["逃费"], escape["备注"]) == ("是", "'=1+1")
    assert (unanswered["坐席"], unanswered["类别"], unanswered["处理(秒)"]) == ("", "未接听", "")


async def test_full_plates_only_when_asked_for_and_the_audit_says_which(
    staffed: Centre, day: str
) -> None:
    masked = await ledger(staffed, "sue", f"date={day}&car_park={PARK}&format=csv")
    full = await ledger(staffed, "sue", f"date={day}&car_park={PARK}&format=csv&plates=full")
    assert [row["车牌"] for row in rows_of_csv(masked.content)] == ["粤B1***5", "粤BD****0", ""]
    assert [row["车牌"] for row in rows_of_csv(full.content)] == ["粤B12345", "粤BD67890", ""]
    assert [entry.detail["plates"] for entry in await exports(staffed)] == ["masked", "full"]


async def test_every_read_is_in_the_audit_ledger_with_what_was_read(
    staffed: Centre, day: str
) -> None:
    await ledger(staffed, "sue", f"date={day}&car_park={PARK}")
    await ledger(staffed, "sue", f"date={day}&format=csv")
    json_read, csv_read = await exports(staffed)
    assert (json_read.actor, json_read.lane) == ("sue", None)
    assert json_read.detail == {
        "date": day,
        "car_park": PARK,
        "format": "json",
        "rows": 3,
        "plates": "masked",
        "role": "supervisor",
        "remote": "127.0.0.1",
    }
    assert (csv_read.detail["car_park"], csv_read.detail["format"], csv_read.detail["rows"]) == (
        None,
        "csv",
        4,
    )


async def test_a_read_the_audit_cannot_record_sends_nothing(staffed: Centre) -> None:
    """No audit, no data: 503, and once the ledger takes writes the read goes through."""
    await staffed.add_lane("P1-OUT")
    async with staffed.client("sue") as client:
        with sqlite3.connect(staffed.settings.database) as conn:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE INSERT ON audit"
                " BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
            )
        refused = await client.get(f"{RECORDS}?date={today()}&format=csv")
        assert error(refused) == (503, "audit_failed")
        assert "content-disposition" not in refused.headers
        with sqlite3.connect(staffed.settings.database) as conn:
            conn.execute("DROP TRIGGER refuse")
        assert (await client.get(f"{RECORDS}?date={today()}")).status_code == 200
    assert len(await exports(staffed)) == 1


async def test_a_get_needs_no_csrf_token(staffed: Centre) -> None:
    async with staffed.client("sue") as client:
        del client.headers["X-CSRF-Token"]
        assert (await client.get(f"{RECORDS}?date={today()}")).status_code == 200


async def test_an_admin_may_read_the_ledger(staffed: Centre) -> None:
    await staffed.add_user("ada", Role.ADMIN)
    response = await ledger(staffed, "ada", f"date={today()}")
    assert response.status_code == 200 and response.json()["rows"] == []


# ------------------------------------------------------------------ refusals


async def test_without_a_session_the_ledger_is_401(staffed: Centre) -> None:
    async with staffed.client() as client:
        response = await client.get(f"{RECORDS}?date={today()}")
    assert error(response) == (401, "not_authenticated")


async def test_an_agent_may_not_read_the_ledger(staffed: Centre) -> None:
    assert error(await ledger(staffed, "alice", f"date={today()}")) == (403, "forbidden")
    assert await exports(staffed) == []


@pytest.mark.parametrize("park", ["南京路停车场", "人民路", "%00", "%ED%A0%80"])
async def test_a_car_park_no_lane_is_in_is_404(staffed: Centre, park: str) -> None:
    await staffed.add_lane("P1-OUT")
    response = await ledger(staffed, "sue", f"date={today()}&car_park={park}")
    assert error(response) == (404, "unknown_car_park")
    assert await exports(staffed) == []


BAD_DATES = [
    "",
    "date=",
    "date=2026-02-30",
    "date=2026-13-01",
    "date=2026-3-1",
    "date=20260301",
    "date=2026-W09-1",
    "date=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%96-03-01",  # full-width digits
    "date=2026-03-01%0A",
    "date=2026-03-0%ED%A0%80",  # a surrogate's UTF-8-like bytes
    "date=%FF",
    "date=1999-12-31",
    "date=9999-12-31",
]


@pytest.mark.parametrize("query", BAD_DATES, ids=[q or "missing" for q in BAD_DATES])
async def test_anything_but_a_real_day_is_400_invalid_date(staffed: Centre, query: str) -> None:
    assert error(await ledger(staffed, "sue", query)) == (400, "invalid_date")


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("date=2026-03-01&date=2026-03-02", "bad_request"),
        ("date=2026-03-01&format=xlsx", "invalid_format"),
        ("date=2026-03-01&plates=all", "invalid_plates"),
        ("date=2026-03-01&car_park=" + "x" * 2000, "query_too_long"),
        ("date=2026-03-01&car_park=" + "%E4%BA%BA" * 7_000, "query_too_long"),
    ],
)
async def test_a_bad_query_is_400_and_not_audited(staffed: Centre, query: str, code: str) -> None:
    assert error(await ledger(staffed, "sue", query)) == (400, code)
    assert await exports(staffed) == []


async def test_a_date_is_read_as_the_day_it_names_in_shanghai(staffed: Centre) -> None:
    """Shanghai's midnight, not the centre's or UTC's, bounds the day asked for."""
    body = (await ledger(staffed, "sue", "date=2026-03-01")).json()
    assert (body["since"], body["until"]) == (
        "2026-03-01T00:00:00+08:00",
        "2026-03-02T00:00:00+08:00",
    )
    assert datetime.fromisoformat(body["since"]).astimezone(UTC).hour == 16
