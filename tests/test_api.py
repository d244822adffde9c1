"""The HTTP API against a real centre: sessions, roles, CSRF, bad input, audit rows."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from console.ledger import AuditAction
from console.models import Session
from gates.protocol import DeviceInfo, DisplaySize
from gates.vocabulary import GateState
from tests.conftest import PASSWORD, Centre, LaneFactory

# The gate command path, whole, on either store.
pytestmark = pytest.mark.both_stores


async def actions_in_ledger(centre: Centre) -> list[AuditAction]:
    """What people did: the ledger without the centre's own start marker."""
    return [
        entry.action
        async for entry in centre.store.iter_audit()
        if entry.action is not AuditAction.CENTRE_STARTED
    ]


# ------------------------------------------------------------------ login and sessions


async def test_healthz_answers_without_a_session(centre: Centre) -> None:
    """Load balancers and monitors need no login."""
    async with centre.client() as client:
        response = await client.get("/healthz")
    assert response.json() == {"status": "ok", "lanes_online": 0, "events_dropped": 0}


async def test_login_sets_a_hardened_cookie_and_is_audited(staffed: Centre) -> None:
    """The session cookie is HttpOnly and SameSite=Strict, and the login is in the ledger."""
    async with staffed.client() as client:
        response = await client.post("/api/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200
    body = response.json()
    assert body["username"] == "alice" and body["role"] == "agent" and body["csrf_token"]
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "path=/" in cookie
    assert AuditAction.LOGIN in await actions_in_ledger(staffed)


async def test_wrong_password_is_401_and_audited(staffed: Centre) -> None:
    """A failed login says only that the credentials were wrong, and is recorded."""
    async with staffed.client() as client:
        response = await client.post("/api/login", json={"username": "alice", "password": "nope"})
        unknown = await client.post("/api/login", json={"username": "zed", "password": "nope"})
    assert response.status_code == unknown.status_code == 401
    assert response.json()["error"] == unknown.json()["error"] == "bad_credentials"
    assert await actions_in_ledger(staffed) == [AuditAction.LOGIN_FAILED] * 2


@pytest.mark.parametrize(
    ("content", "content_type", "status", "error"),
    [
        (b"{not json", "application/json", 400, "bad_request"),
        (b"[]", "application/json", 400, "bad_request"),
        (b'{"username": 1, "password": "x"}', "application/json", 400, "bad_request"),
        (b'{"username": "alice"}', "application/json", 400, "bad_request"),
        (b"username=alice", "application/x-www-form-urlencoded", 415, "unsupported_media_type"),
        (
            json.dumps({"username": "a", "password": "x" * 20000}).encode(),
            "application/json",
            413,
            "too_large",
        ),
    ],
)
async def test_malformed_login_is_a_clear_error_and_writes_nothing(
    staffed: Centre, content: bytes, content_type: str, status: int, error: str
) -> None:
    """Bad bodies are refused with their error code; no session, no ledger row."""
    async with staffed.client() as client:
        response = await client.post(
            "/api/login", content=content, headers={"content-type": content_type}
        )
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert "set-cookie" not in response.headers
    assert await actions_in_ledger(staffed) == []


async def test_logout_ends_the_session_and_is_audited(staffed: Centre) -> None:
    """After logout the same cookie is refused."""
    async with staffed.client("alice") as client:
        token = client.cookies["seat_session"]
        assert (await client.post("/api/logout")).status_code == 204
        # The browser drops the cookie; replaying it shows the server forgot it too.
        client.cookies.clear()
        response = await client.get("/api/lanes", headers={"cookie": f"seat_session={token}"})
    assert response.status_code == 401
    assert (await actions_in_ledger(staffed)).count(AuditAction.LOGOUT) == 1


# ------------------------------------------------------------------ who may do what


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/me"),
        ("GET", "/api/lanes"),
        ("GET", "/api/audit"),
        ("GET", "/api/lanes/P1-OUT/snapshot"),
        ("POST", "/api/lanes/P1-OUT/open"),
        ("POST", "/api/lanes/P1-OUT/display"),
        ("POST", "/api/logout"),
    ],
)
async def test_every_api_call_needs_a_session(staffed: Centre, method: str, path: str) -> None:
    """No cookie, or a forged one, is 401."""
    await staffed.add_lane("P1-OUT")
    async with staffed.client() as client:
        bare = await client.request(method, path, json={"reason": "emergency"})
        forged = await client.request(
            method, path, json={"reason": "emergency"}, headers={"cookie": "seat_session=forged"}
        )
    assert bare.status_code == forged.status_code == 401
    assert bare.json()["error"] == "not_authenticated"


async def test_agent_may_not_read_the_audit_ledger(staffed: Centre) -> None:
    """The ledger is for supervisors and admins."""
    async with staffed.client("alice") as client:
        response = await client.get("/api/audit")
    assert (response.status_code, response.json()["error"]) == (403, "forbidden")


async def test_open_without_csrf_header_is_refused_and_nothing_happens(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A cross-site form post carries the cookie but not the token: 403, no command."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        del client.headers["X-CSRF-Token"]
        missing = await client.post("/api/lanes/P1-OUT/open", json={"reason": "emergency"})
        wrong = await client.post(
            "/api/lanes/P1-OUT/open",
            json={"reason": "emergency"},
            headers={"X-CSRF-Token": "guess"},
        )
    assert missing.status_code == wrong.status_code == 403
    assert missing.json()["error"] == "csrf"
    assert lane.driver.opens == 0
    assert AuditAction.GATE_OPEN_REQUESTED not in await actions_in_ledger(staffed)


async def test_another_users_csrf_token_does_not_fit_my_session(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Tokens are per session: bob's token with alice's cookie is refused."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as alice, staffed.client("bob") as bob:
        alice.headers["X-CSRF-Token"] = bob.headers["X-CSRF-Token"]
        response = await alice.post("/api/lanes/P1-OUT/open", json={"reason": "emergency"})
    assert response.status_code == 403
    assert lane.driver.opens == 0


# ------------------------------------------------------------------ lanes and gates


async def test_lane_list_shows_registry_and_live_state(staffed: Centre, lanes: LaneFactory) -> None:
    """Each lane: its registry fields, online, gate, and no vehicle yet."""
    await lanes("P1-OUT")
    await staffed.add_lane("P1-IN")
    await staffed.wait_status("P1-OUT", lambda s: s.gate is GateState.DOWN)
    async with staffed.client("alice") as client:
        body = (await client.get("/api/lanes")).json()
    by_id = {lane["id"]: lane for lane in body["lanes"]}
    assert by_id["P1-OUT"] == {
        "id": "P1-OUT",
        "name": "P1-OUT name",
        "car_park": "人民路停车场",
        "direction": "exit",
        "online": True,
        "gate": "down",
        "last_vehicle": None,
        "last_call_at": None,
        "fault": None,
        "faults": [],
        "display": {"lines": 8, "chars": 64},
        "devices": [],
    }
    assert by_id["P1-IN"]["online"] is False and by_id["P1-IN"]["gate"] == "unknown"


async def test_open_gate_lifts_the_barrier_and_ledgers_request_then_outcome(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The agent's open is done; the ledger holds who, why, the note and the outcome."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        response = await client.post(
            "/api/lanes/P1-OUT/open", json={"reason": "paid_not_lifted", "note": "付款截图已核对"}
        )
    assert response.status_code == 200
    body = response.json()
    assert body["outcome"] == "done" and body["command_id"]
    assert lane.driver.opens == 1
    entries = [e async for e in staffed.store.iter_audit()][-2:]
    requested, ended = entries
    assert (requested.action, ended.action) == (
        AuditAction.GATE_OPEN_REQUESTED,
        AuditAction.GATE_OPEN_OUTCOME,
    )
    assert requested.actor == ended.actor == "alice"
    assert requested.command_id == ended.command_id == body["command_id"]
    assert requested.reason == "paid_not_lifted" and requested.detail["note"] == "付款截图已核对"
    assert requested.outcome is None and ended.outcome == "done"


async def test_a_done_the_lane_could_not_confirm_carries_its_detail_to_the_agent_and_ledger(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A lane whose barrier has no sensor ends its open done with a detail saying so:
    the agent's answer and the ledger's outcome both hold it."""
    lane = await lanes("P1-OUT")
    lane.driver.detail = "no gate sensor: the arm was not seen to move"
    async with staffed.client("alice") as client:
        response = await client.post("/api/lanes/P1-OUT/open", json={"reason": "emergency"})
    body = response.json()
    assert body["outcome"] == "done" and body["detail"] == lane.driver.detail
    ended = [e async for e in staffed.store.iter_audit()][-1]
    assert ended.outcome == "done" and ended.detail["detail"] == lane.driver.detail


async def test_open_gate_on_an_offline_lane_says_lane_offline(staffed: Centre) -> None:
    """The outcome is reported, and recorded, not hidden."""
    await staffed.add_lane("P1-OUT")
    async with staffed.client("alice") as client:
        response = await client.post("/api/lanes/P1-OUT/open", json={"reason": "emergency"})
    assert response.json()["outcome"] == "lane_offline"
    assert (await actions_in_ledger(staffed))[-1] == AuditAction.GATE_OPEN_OUTCOME


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"reason": "because"}, 400, "invalid_reason"),
        ({}, 400, "invalid_reason"),
        ({"reason": "other"}, 400, "note_required"),
        ({"reason": "other", "note": "   "}, 400, "note_required"),
        ({"reason": "emergency", "note": "x" * 501}, 400, "note_too_long"),
        ({"reason": "emergency", "note": 5}, 400, "bad_request"),
        (["emergency"], 400, "bad_request"),
    ],
)
async def test_bad_open_request_is_refused_and_nothing_is_sent_or_ledgered(
    staffed: Centre, lanes: LaneFactory, body: object, status: int, error: str
) -> None:
    """Bad input gets a clear error and changes nothing."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        before = await actions_in_ledger(staffed)
        response = await client.post("/api/lanes/P1-OUT/open", json=body)
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert lane.driver.opens == 0
    assert await actions_in_ledger(staffed) == before


async def test_open_on_unknown_lane_is_404(staffed: Centre) -> None:
    """A lane id that is not registered is named as such."""
    async with staffed.client("alice") as client:
        response = await client.post("/api/lanes/NOPE/open", json={"reason": "emergency"})
    assert (response.status_code, response.json()["error"]) == (404, "unknown_lane")


async def test_display_shows_lines_on_the_lane(staffed: Centre, lanes: LaneFactory) -> None:
    """Text reaches the lane's display and is ledgered."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        response = await client.post(
            "/api/lanes/P1-OUT/display", json={"lines": ["请扫码缴费", "粤B12345"]}
        )
    assert response.json()["outcome"] == "done"
    assert lane.driver.shown == ("请扫码缴费", "粤B12345")
    assert (await actions_in_ledger(staffed))[-2:] == [
        AuditAction.DISPLAY_REQUESTED,
        AuditAction.DISPLAY_OUTCOME,
    ]


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ([], "bad_request"),
        ([1], "bad_request"),
        ("text", "bad_request"),
        (["x"] * 9, "display_too_large"),
        (["x" * 65], "display_too_large"),
    ],
)
async def test_bad_display_lines_are_refused(
    staffed: Centre, lanes: LaneFactory, lines: object, error: str
) -> None:
    """Empty or non-text lines, or more than a lane that states no display size can
    show (the protocol's 8 of 64), are a 400 and nothing is shown."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        response = await client.post("/api/lanes/P1-OUT/display", json={"lines": lines})
    assert (response.status_code, response.json()["error"]) == (400, error)
    assert lane.driver.shown == ()


async def test_lanes_show_the_display_size_each_lane_stated(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A lane's stated display is in its JSON; one that states none shows the protocol's
    8 lines of 64, and so does a lane never seen."""
    await lanes("P1-IN", display=DisplaySize(lines=4, chars=32))
    await lanes("P1-OUT")
    await staffed.add_lane("P2-IN")
    async with staffed.client("alice") as client:
        body = (await client.get("/api/lanes")).json()
    assert {lane["id"]: lane["display"] for lane in body["lanes"]} == {
        "P1-IN": {"lines": 4, "chars": 32},
        "P1-OUT": {"lines": 8, "chars": 64},
        "P2-IN": {"lines": 8, "chars": 64},
    }


async def test_lanes_show_the_devices_each_lane_stated_and_keep_them_offline(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """What a lane's hello says of its devices is in its JSON, as the lane said it,
    and stays while the lane is offline; a lane that states none shows an empty list."""
    devices = (
        DeviceInfo("cam", "alarminfo", ("plates", "gate"), "192.168.1.64"),
        DeviceInfo("led", "rs485", ("display",), "cam:rs485-1"),
    )
    lane = await lanes("P1-IN", devices=devices)
    await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        body = (await client.get("/api/lanes")).json()
        await lane.stop()
        await staffed.wait_status("P1-IN", lambda s: not s.online)
        offline = (await client.get("/api/lanes")).json()
    stated = [
        {"name": "cam", "family": "alarminfo", "parts": ["plates", "gate"], "at": "192.168.1.64"},
        {"name": "led", "family": "rs485", "parts": ["display"], "at": "cam:rs485-1"},
    ]
    assert {lane["id"]: lane["devices"] for lane in body["lanes"]} == {
        "P1-IN": stated,
        "P1-OUT": [],
    }
    assert [lane["devices"] for lane in offline["lanes"] if lane["id"] == "P1-IN"] == [stated]


@pytest.mark.parametrize("lines", [["1", "2", "3", "4", "5"], ["一" * 33]])
async def test_display_beyond_the_lanes_display_is_refused_before_it_is_sent(
    staffed: Centre, lanes: LaneFactory, lines: list[str]
) -> None:
    """Text the lane's display cannot show is a 400 naming its size; nothing is ledgered
    as a request and nothing reaches the lane."""
    lane = await lanes("P1-OUT", display=DisplaySize(lines=4, chars=32))
    async with staffed.client("alice") as client:
        response = await client.post("/api/lanes/P1-OUT/display", json={"lines": lines})
    assert response.status_code == 400
    assert response.json()["error"] == "display_too_large"
    assert "4 lines of 32 characters" in response.json()["detail"]
    assert lane.driver.shown == ()
    assert await actions_in_ledger(staffed) == [AuditAction.LOGIN]


async def test_display_that_fits_the_lanes_display_is_sent(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Four lines of 32 characters fill a 4x32 display exactly and are shown."""
    lane = await lanes("P1-OUT", display=DisplaySize(lines=4, chars=32))
    lines = ["一" * 32] * 4
    async with staffed.client("alice") as client:
        response = await client.post("/api/lanes/P1-OUT/display", json={"lines": lines})
    assert response.json()["outcome"] == "done"
    assert lane.driver.shown == tuple(lines)


PAY = "https://pay.example.cn/o/8f2a?lane=P1-OUT&fen=1000"


async def ledgered_display(centre: Centre) -> dict[str, object]:
    """The detail of the last display request in the ledger."""
    details = [
        dict(entry.detail)
        async for entry in centre.store.iter_audit()
        if entry.action is AuditAction.DISPLAY_REQUESTED
    ]
    return details[-1]


async def test_display_with_a_qr_shows_it_on_the_lane_and_ledgers_it(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The payment link reaches the lane's display with the lines, and the ledger's
    request names it."""
    lane = await lanes("P1-OUT")
    body = {"lines": ["请扫码缴费", "粤B12345"], "qr": PAY}
    async with staffed.client("alice") as client:
        response = await client.post("/api/lanes/P1-OUT/display", json=body)
    assert response.json()["outcome"] == "done"
    assert (lane.driver.shown, lane.driver.qr) == (("请扫码缴费", "粤B12345"), PAY)
    ledgered = await ledgered_display(staffed)
    assert (ledgered["lines"], ledgered["qr"]) == (["请扫码缴费", "粤B12345"], PAY)


async def test_display_with_a_null_qr_shows_the_lines_alone(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Null is no QR code, as for every optional field of the API; the ledger names none."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        response = await client.post(
            "/api/lanes/P1-OUT/display", json={"lines": ["欢迎光临"], "qr": None}
        )
    assert response.json()["outcome"] == "done"
    assert (lane.driver.shown, lane.driver.qr) == (("欢迎光临",), None)
    assert "qr" not in await ledgered_display(staffed)


@pytest.mark.parametrize(
    ("qr", "words"),
    [
        ("https://a.cn/" + "x" * 500, "limited to 512 characters"),
        ("pay.example.cn/o/8f2a", "is not an http:// or https:// URL"),
        ("javascript:alert(1)", "is not an http:// or https:// URL"),
        ("", "is not an http:// or https:// URL"),
        ("https://", "names no host"),
        ("https://a.cn/o 8f2a", "holds a space"),
        ("https://a.cn/\x1b[2J", "holds the control character U+001B"),
        ("https://a.cn/\u202eabc", "holds the bidirectional control U+202E"),
        (7, "must be a string"),
        ([PAY], "must be a string"),
    ],
)
async def test_bad_display_qr_is_refused_and_nothing_is_sent_or_ledgered(
    staffed: Centre, lanes: LaneFactory, qr: object, words: str
) -> None:
    """A QR link the lane link would call malformed is a 400 naming the field; the lane
    shows nothing and the ledger has no request."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        response = await client.post(
            "/api/lanes/P1-OUT/display", json={"lines": ["请扫码缴费"], "qr": qr}
        )
    assert (response.status_code, response.json()["error"]) == (400, "bad_request")
    assert response.json()["detail"].startswith("'qr' ") and words in response.json()["detail"]
    assert (lane.driver.shown, lane.driver.qr) == ((), None)
    assert await actions_in_ledger(staffed) == [AuditAction.LOGIN]


async def test_a_display_that_draws_no_qr_refuses_it_rather_than_show_lines_alone(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A text-only panel refuses ``display_no_qr``: the agent is told, and the driver is
    not left without the code with lines telling them to scan it."""
    lane = await lanes("P1-OUT")
    lane.driver.draws_qr = False
    async with staffed.client("alice") as client:
        response = await client.post(
            "/api/lanes/P1-OUT/display", json={"lines": ["请扫码缴费"], "qr": PAY}
        )
    assert response.json()["outcome"] == "refused"
    assert response.json()["detail"] == "display_no_qr"
    assert (lane.driver.shown, lane.driver.qr) == ((), None)


async def test_snapshot_is_404_before_any_vehicle(staffed: Centre, lanes: LaneFactory) -> None:
    """No vehicle yet means no snapshot, said plainly."""
    await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        response = await client.get("/api/lanes/P1-OUT/snapshot")
    assert (response.status_code, response.json()["error"]) == (404, "no_snapshot")


# ------------------------------------------------------------------ audit


async def test_supervisor_pages_through_the_ledger_newest_first(staffed: Centre) -> None:
    """Pages follow next_before down to the first entry."""
    for _ in range(3):
        async with staffed.client("alice"):
            pass
    async with staffed.client("sue") as client:
        first = (await client.get("/api/audit", params={"limit": 2})).json()
        second = (
            await client.get("/api/audit", params={"limit": 2, "before": first["next_before"]})
        ).json()
    seqs = [e["seq"] for e in first["entries"]] + [e["seq"] for e in second["entries"]]
    assert seqs == [5, 4, 3, 2]  # 1 is the centre's start
    assert first["entries"][0]["action"] == "login" and first["entries"][0]["actor"] == "sue"
    assert len(first["entries"][0]["hash"]) == 64


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "abc"}, {"limit": "501"}, {"before": "-1"}]
)
async def test_bad_audit_paging_is_400(staffed: Centre, params: dict[str, str]) -> None:
    """Out-of-range paging parameters are named."""
    async with staffed.client("sue") as client:
        response = await client.get("/api/audit", params=params)
    assert (response.status_code, response.json()["error"]) == (400, "bad_request")


# ------------------------------------------------------------------ the page itself


async def test_console_page_is_served_with_security_headers(centre: Centre) -> None:
    """The console's HTML comes with a strict CSP and no-framing."""
    async with centre.client() as client:
        response = await client.get("/")
    assert response.status_code == 200 and "<html" in response.text.lower()
    assert "script-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"


async def test_unknown_api_path_is_a_json_404(centre: Centre) -> None:
    """Errors keep the API's shape even for routes that do not exist."""
    async with centre.client() as client:
        response = await client.get("/api/nothing-here")
    assert (response.status_code, response.json()["error"]) == (404, "not_found")


async def test_wrong_method_is_a_json_405(centre: Centre) -> None:
    """GET on a POST-only endpoint names the problem."""
    async with centre.client() as client:
        response = await client.get("/api/login")
    assert (response.status_code, response.json()["error"]) == (405, "method_not_allowed")


async def test_login_sweeps_ended_sessions(staffed: Centre) -> None:
    """Sessions past their end do not pile up in the store."""
    old = datetime.now(UTC) - timedelta(days=2)
    await staffed.store.create_session(
        Session("h" * 64, "bob", "csrf", created_at=old, expires_at=old + timedelta(hours=12))
    )
    async with staffed.client("alice"):
        pass
    assert await staffed.store.get_session("h" * 64) is None


def refuse_ledger_inserts(centre: Centre, action: AuditAction) -> None:
    """Make the real database refuse one kind of ledger row, as a full disk would."""
    url = centre.settings.database_url
    if url is not None:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "CREATE FUNCTION ledger_refuses() RETURNS trigger LANGUAGE plpgsql AS $$"
                f" BEGIN IF NEW.action = '{action.value}' THEN RAISE EXCEPTION 'disk full';"
                " END IF; RETURN NEW; END $$"
            )
            conn.execute(
                "CREATE TRIGGER ledger_refuses BEFORE INSERT ON audit"
                " FOR EACH ROW EXECUTE FUNCTION ledger_refuses()"
            )
        return
    db = sqlite3.connect(centre.settings.database)
    db.execute(
        "CREATE TRIGGER ledger_refuses BEFORE INSERT ON audit "
        f"WHEN NEW.action = '{action.value}' "
        "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
    )
    db.commit()
    db.close()


async def test_no_audit_no_action(staffed: Centre, lanes: LaneFactory) -> None:
    """If the request cannot be written to the ledger, the gate does not move: 503."""
    lane = await lanes("P1-OUT")
    refuse_ledger_inserts(staffed, AuditAction.GATE_OPEN_REQUESTED)
    async with staffed.client("alice") as client:
        response = await client.post("/api/lanes/P1-OUT/open", json={"reason": "emergency"})
    assert response.status_code == 503
    assert response.json()["error"] == "audit_failed"
    assert "not carried out" in response.json()["detail"]
    assert lane.driver.opens == 0
    assert AuditAction.GATE_OPEN_REQUESTED not in await actions_in_ledger(staffed)


async def test_unrecordable_outcome_is_still_told_to_the_agent(
    staffed: Centre, lanes: LaneFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """The barrier lifted; the agent learns so even if the outcome cannot be ledgered."""
    lane = await lanes("P1-OUT")
    refuse_ledger_inserts(staffed, AuditAction.GATE_OPEN_OUTCOME)
    async with staffed.client("alice") as client:
        response = await client.post("/api/lanes/P1-OUT/open", json={"reason": "emergency"})
    assert response.json()["outcome"] == "done"
    assert lane.driver.opens == 1
    assert "audit.outcome_unrecorded" in caplog.text
