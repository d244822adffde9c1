"""Text that JSON allows and Unicode forbids, from a lane and from a browser, against a
real centre: refused where it enters, and never able to break what others see."""

from __future__ import annotations

import asyncio
import base64
import hmac
import json
from pathlib import Path

import pytest
from websockets.asyncio.client import connect

from console.ledger import AuditAction
from console.payments.sandbox import SIGNATURE_HEADER, sandbox_key
from console.sqlite_store import SQLiteStore
from gates.protocol import OpenGate
from gates.vocabulary import Direction, GateState
from tests.conftest import PASSWORD, Centre, LaneFactory
from tests.lanes import seen
from tests.tables import kept
from tests.test_api import actions_in_ledger
from tests.test_cli import seat
from tests.test_gatekeeping import parked
from tests.test_lane_link import hello
from tests.test_parks_rules import PARK, with_lane
from tests.test_payment_refusals import event
from tests.test_stream import next_message, session_cookie, stream_url

LONE = "\\ud800"  # as it travels in JSON: valid JSON, not Unicode text


def vehicle_frame(plate: str) -> str:
    """A vehicle message whose plate is spliced in as raw JSON text."""
    snapshot = base64.b64encode(seen().snapshot_jpeg).decode()
    return (
        '{"type":"vehicle","event_id":"e1","at":"2026-11-23T11:32:04Z",'
        f'"plate":"{plate}","plate_colour":"blue","confidence":0.9,"box":[1,2,3,4],'
        f'"snapshot":"{snapshot}"}}'
    )


async def test_lone_surrogate_plate_is_refused_and_every_console_still_sees_the_lanes(
    staffed: Centre,
) -> None:
    """The lane gets error/malformed; the lane list and a console stream stay whole."""
    token = await staffed.add_lane("P1-OUT")
    async with connect(staffed.link) as ws:
        await hello(ws, "P1-OUT", token)
        await ws.send(vehicle_frame(LONE))
        error = json.loads(await ws.recv())
        assert (error["type"], error["code"], error["ref"]) == ("error", "malformed", "vehicle")
        assert "surrogate" in error["detail"]
        async with staffed.client("alice") as client:
            listed = await client.get("/api/lanes")
        assert listed.status_code == 200
        assert listed.json()["lanes"][0]["last_vehicle"] is None
        cookie, _ = await session_cookie(staffed, "bob")
        async with connect(
            stream_url(staffed), additional_headers={"cookie": f"seat_session={cookie}"}
        ) as tab:
            first = await next_message(tab, "lanes")
            assert [lane["id"] for lane in first["lanes"]] == ["P1-OUT"]
        # The lane is still served: a good vehicle after the bad one is shown.
        await ws.send(vehicle_frame("粤B12345"))
        status = await staffed.wait_status("P1-OUT", lambda s: s.last_vehicle is not None)
        assert status.last_vehicle is not None and status.last_vehicle.plate == "粤B12345"


@pytest.mark.parametrize(
    ("frame", "ref"),
    [
        ("[" * 200_000 + "]" * 200_000, ""),
        (
            vehicle_frame("粤B12345").replace("2026-11-23T11:32:04Z", "9999-12-31T23:59:59-14:00"),
            "vehicle",
        ),
        ('{"type":"fault","code":"gate_motor","detail":"x\\ny"}', "fault"),
    ],
)
async def test_frames_that_crashed_the_link_get_an_error_and_the_link_stays(
    centre: Centre, frame: str, ref: str
) -> None:
    """Deep nesting and a time past year 9999 in UTC are errors, not a dropped link."""
    token = await centre.add_lane("P1-IN")
    async with connect(centre.link, max_size=None) as ws:
        await hello(ws, "P1-IN", token)
        await ws.send(frame)
        error = json.loads(await ws.recv())
        assert (error["type"], error["code"], error["ref"]) == ("error", "malformed", ref)
        await ws.send('{"type":"gate","state":"up"}')
        status = await centre.wait_status("P1-IN", lambda s: s.gate is GateState.UP)
        assert status.online and not status.faults


async def test_refusal_with_a_lone_surrogate_is_refused_and_the_command_still_ends(
    centre: Centre,
) -> None:
    """The lane's bad refusal is malformed; the command ends at its deadline, once."""
    token = await centre.add_lane("P1-OUT")
    async with connect(centre.link) as ws:
        await hello(ws, "P1-OUT", token)
        command = asyncio.create_task(centre.hub.command("P1-OUT", OpenGate("c-1"), 1.0))
        sent = json.loads(await ws.recv())
        assert sent["command_id"] == "c-1"
        await ws.send('{"type":"ack","command_id":"c-1"}')
        await ws.send('{"type":"refused","command_id":"c-1","reason":"' + LONE + '"}')
        error = json.loads(await ws.recv())
        assert (error["code"], error["ref"]) == ("malformed", "refused")
        assert (await command).outcome == "timeout"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/login", '{"username":"' + LONE + '","password":"x"}'),
        ("/api/lanes/P1-OUT/open", '{"reason":"other","note":"' + LONE + '"}'),
        ("/api/lanes/P1-OUT/display", '{"lines":["ok","' + LONE + '"]}'),
        ("/api/lanes/P1-OUT/display", '{"lines":["\\u001b[2J"]}'),
        ("/api/lanes/P1-OUT/open", '{"reason":"emergency","reason":"other"}'),
    ],
)
async def test_api_text_that_is_not_unicode_is_a_400_that_changes_nothing(
    staffed: Centre, lanes: LaneFactory, path: str, body: str
) -> None:
    """A login, a note or a display line that cannot be encoded gets 400, never 500."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        response = await client.post(
            path, content=body.encode(), headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["error"] == "bad_request"
    assert lane.driver.opens == 0 and lane.driver.shown == ()
    assert await actions_in_ledger(staffed) == [AuditAction.LOGIN]


@pytest.mark.parametrize("note", ["\u200b", " \u3000 ", "\u200d\ufeff"])
async def test_a_note_that_shows_nothing_does_not_satisfy_note_required(
    staffed: Centre, lanes: LaneFactory, note: str
) -> None:
    """Reason 'other' needs a note a reader can see; zero-width text is no note."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        response = await client.post(
            "/api/lanes/P1-OUT/open", json={"reason": "other", "note": note}
        )
    assert (response.status_code, response.json()["error"]) == (400, "note_required")
    assert lane.driver.opens == 0


@pytest.mark.parametrize("limit", ["%C2%B2", "%D9%A3", "1e3", "-1", "9" * 30])
async def test_audit_page_limit_in_other_digits_is_a_400(staffed: Centre, limit: str) -> None:
    """'²' passes str.isdigit but is no number the API takes."""
    async with staffed.client("sue") as client:
        response = await client.get(f"/api/audit?limit={limit}")
    assert (response.status_code, response.json()["error"]) == (400, "bad_request")


async def test_login_with_the_right_password_still_works_after_bad_text(staffed: Centre) -> None:
    """Refusing bad text does not lock anybody out."""
    async with staffed.client() as client:
        await client.post(
            "/api/login",
            content=b'{"username":"\\ud800","password":"x"}',
            headers={"content-type": "application/json"},
        )
        response = await client.post("/api/login", json={"username": "alice", "password": PASSWORD})
    assert response.status_code == 200


# ------------------------------------------------------------------ stays, plates, payments

JSON_TYPE = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/api/vehicles/{exit}/plate", '{"plate":"' + LONE + 'B12345"}'),
        ("/api/vehicles/{exit}/plate", '{"plate":"粤B12345","note":"' + LONE + '"}'),
        ("/api/stays/{stay}/match", '{"event_id":"' + LONE + '"}'),
        ("/api/stays/{stay}/escape", '{"note":"冲卡' + LONE + '"}'),
        ("/api/stays/{stay}/escape", '{"note":"冲卡","amount_fen":100,"x":"' + LONE + '"}'),
        ("/api/lanes/P1-OUT/payment", '{"plate":"' + LONE + '","amount_fen":100}'),
        ("/api/lanes/P1-OUT/payment", '{"stay_id":{stay},"amount_fen":9,"reason":"' + LONE + '"}'),
        ("/api/lanes/P1-OUT/display", '{"lines":["请缴费"],"qr":"https://a.example/' + LONE + '"}'),
        ("/api/lanes/P1-IN/noplate", '{"x":"' + LONE + '"}'),
        ("/api/noplate/stays/{stay}/plate", '{"plate":"' + LONE + '"}'),
        ("/api/payments/0123/open", '{"note":"' + LONE + '"}'),
    ],
)
async def test_the_stays_plates_and_payments_bodies_refuse_text_that_is_not_unicode(
    staffed: Centre, lanes: LaneFactory, path: str, body: str
) -> None:
    """A note, reason, plate, event id or QR URL that cannot be encoded is 400
    ``bad_request`` before anything is looked up, kept, ledgered or sent to a lane."""
    stay_id = await parked(staffed, 30)
    left = await staffed.store.record_vehicle(event("粤B1Z345", Direction.EXIT))
    await staffed.add_lane("P1-IN", Direction.ENTRY)
    entry, exit_ = await lanes("P1-IN"), await lanes("P1-OUT")
    fill = {"exit": left.event_id, "stay": str(stay_id)}
    before = kept(staffed)
    async with staffed.client("alice") as client:
        response = await client.post(
            path.format(**fill),
            content=body.replace("{stay}", fill["stay"]).encode(),
            headers=JSON_TYPE,
        )
    assert (response.status_code, response.json()["error"]) == (400, "bad_request"), response.text
    assert kept(staffed) == before
    for lane in (entry, exit_):
        assert (lane.driver.shown, lane.driver.qr, lane.driver.opens) == ((), None, 0)


@pytest.mark.parametrize(
    "settings", [{"public_url": "https://seat.example.com", "payment_sandbox": True}], indirect=True
)
async def test_a_notification_with_text_that_is_not_unicode_pays_nothing(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Unsigned, it is forged; signed with the sandbox's key (a sender that has it), it
    is still no notification: refused, ledgered as such, nothing paid."""
    lane = await lanes("P1-OUT")
    key = sandbox_key(await staffed.store.get_sticker_key() or b"")
    async with staffed.client("alice") as client:
        issued = await client.post(
            "/api/lanes/P1-OUT/payment", json={"plate": "粤B12345", "amount_fen": 800}
        )
        order_id = issued.json()["order_id"]
        before = kept(staffed)
        body = (
            '{"order_id":"' + order_id + '","transaction_id":"' + LONE + '","amount_fen":800}'
        ).encode()
        unsigned = await client.post(
            "/pay/notify/sandbox", content=body, headers={SIGNATURE_HEADER: "0" * 64}
        )
        signed = await client.post(
            "/pay/notify/sandbox",
            content=body,
            headers={SIGNATURE_HEADER: hmac.digest(key, body, "sha256").hex()},
        )
    assert (unsigned.status_code, unsigned.json()["error"]) == (400, "notification_forged")
    assert (signed.status_code, signed.json()["error"]) == (400, "malformed_notification")
    after = kept(staffed)
    assert after["payment_notifications"] == before["payment_notifications"] == []
    assert after["payment_orders"] == before["payment_orders"]
    assert [row[0] for row in after["audit"][len(before["audit"]) :]] == [
        "payment_refused",
        "payment_refused",
    ]
    assert lane.driver.opens == 0


@pytest.mark.parametrize(
    ("kind", "text", "named"),
    [
        (
            "rules",
            '{"bands":[{"name":"' + LONE + '","start":"00:00","end":"00:00",'
            '"period_minutes":60,"fen_per_period":500}]}',
            "bands[0].name holds a lone UTF-16 surrogate",
        ),
        (
            "lists",
            '{"blacklist":[{"plate":"粤B44444","note":"' + LONE + '"}]}',
            "blacklist[0].note holds a lone UTF-16 surrogate",
        ),
        ("lists", '{"blacklist":[{"plate":"' + LONE + '"}]}', "blacklist[0].plate"),
        ("lists", '{"whitelist":[],"' + LONE + '":[]}', "unknown_key"),
    ],
)
async def test_a_car_parks_file_with_text_that_is_not_unicode_is_refused(
    tmp_path: Path, kind: str, text: str, named: str
) -> None:
    """``seat parks rules|lists set`` refuses it naming where, and keeps nothing."""
    await with_lane(tmp_path)
    file = tmp_path / f"{kind}.json"
    file.write_text(text, encoding="utf-8")
    result = seat(tmp_path, "parks", kind, "set", PARK, str(file))
    assert result.returncode == 2, result.stdout
    assert named in result.stderr
    store = await SQLiteStore.open(tmp_path / "seat.db")
    try:
        assert await store.billing_rules(PARK) is None
        assert await store.plate_lists(PARK) is None
        assert [e.action async for e in store.iter_audit()] == []
    finally:
        await store.close()


@pytest.mark.parametrize(
    "body",
    [
        b"{",
        b"[]",
        b'{"order_id":"0123","transaction_id":"sbx-1"}',
        b'{"order_id":"0123","transaction_id":"sbx-1","amount_fen":"800"}',
        b'{"order_id":"0123","transaction_id":"sbx-1","amount_fen":800.0}',
        b'{"order_id":"0123","transaction_id":"../x","amount_fen":800}',
        b'{"order_id":7,"transaction_id":"sbx-1","amount_fen":800}',
        b'{"order_id":"0123","transaction_id":"sbx-1","amount_fen":800,"amount_fen":1}',
    ],
)
@pytest.mark.parametrize(
    "settings", [{"public_url": "https://seat.example.com", "payment_sandbox": True}], indirect=True
)
async def test_a_signed_notification_that_is_not_one_is_refused_and_ledgered(
    staffed: Centre, body: bytes
) -> None:
    """Whoever holds the key, a body the sandbox never sends is ``malformed_notification``
    in WeChat Pay's refusal shape, never a 500."""
    async with staffed.client("alice") as provider:  # the centre has started: its key is made
        key = sandbox_key(await staffed.store.get_sticker_key() or b"")
        before = kept(staffed)
        response = await provider.post(
            "/pay/notify/sandbox",
            content=body,
            headers={SIGNATURE_HEADER: hmac.digest(key, body, "sha256").hex()},
        )
    answer = response.json()
    assert (response.status_code, answer["error"], answer["code"]) == (
        400,
        "malformed_notification",
        "FAIL",
    )
    after = kept(staffed)
    assert after["payment_notifications"] == before["payment_notifications"] == []
    assert [row[:1] for row in after["audit"][len(before["audit"]) :]] == [("payment_refused",)]
