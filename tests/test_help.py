"""The driver's help page end to end: a phone with a sticker's token places a call over
real HTTP, follows it on the real WebSocket while an agent at a real console answers and
ends it, and everything a phone without the sticker or the call's secret tries fails."""

from __future__ import annotations

import asyncio
import dataclasses
import ipaddress
import json
import re

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from console.models import Role
from console.settings import Settings
from console.sticker_token import StickerClaim, make_token
from console.stickers import sticker_key
from tests.conftest import Centre
from tests.desks import desk
from tests.phones import Phone, following, phone, sticker
from tests.test_calls import centre_with

LANE = "P1-OUT"
VOID = "此二维码无效或已停用"


async def open_calls(centre: Centre) -> list[str]:
    return [call.id for call in centre.calls.queue.calls() if not call.finished]


async def stream_closed(page: Phone, secret: str, **headers: str) -> int | None:
    """How the centre closes the stream of a page that sends ``secret`` first."""
    async with connect(page.stream_url(), additional_headers=headers) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await ws.send(json.dumps({"secret": secret}))  # refused before it is read, or after
            async with asyncio.timeout(10):
                while True:
                    await ws.recv()
        return closed.value.rcvd.code if closed.value.rcvd else None


# ------------------------------------------------------------------ the page


async def test_the_page_names_the_car_park_and_lane_under_the_consoles_headers(
    centre: Centre,
) -> None:
    """A sticker's page is Chinese, shows where the driver is, and runs only its own
    scripts."""
    await centre.add_lane(LANE)
    token = await sticker(centre, LANE)
    async with phone(centre, token) as page:
        response = await page.client.get(page.path)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    text = response.text
    assert 'lang="zh-CN"' in text and 'data-page="call"' in text
    assert "人民路停车场" in text and f"{LANE} name" in text and "呼叫" in text
    assert re.search(r"<script(?![^>]*\bsrc=)", text) is None  # nothing inline
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["cache-control"] == "no-store"


async def test_a_lane_name_is_text_on_the_page_not_markup(centre: Centre) -> None:
    """Names come from operators, but the page escapes them all the same."""
    await centre.add_lane(LANE)
    record = await centre.store.get_lane(LANE)
    assert record is not None
    await centre.store.put_lane(dataclasses.replace(record, name="<b>出口</b>"))
    await centre.changes.poll()
    token = await sticker(centre, LANE)
    async with phone(centre, token) as page:
        text = (await page.client.get(page.path)).text
    assert "&lt;b&gt;出口&lt;/b&gt;" in text and "<b>出口" not in text


@pytest.mark.parametrize("kind", ["forged", "revoked", "garbage", "other_key", "no_lane"])
async def test_a_void_sticker_gets_the_void_page_and_no_call(centre: Centre, kind: str) -> None:
    """Forged, replaced, garbled, foreign or orphaned: a clear Chinese page (404) and
    no call can be placed, followed or hung up with it."""
    await centre.add_lane(LANE)
    good = await sticker(centre, LANE)
    key = await sticker_key(centre.store, centre.settings)
    tokens = {
        "forged": good[:-2] + ("AA" if not good.endswith("AA") else "BA"),
        "revoked": good,
        "garbage": "not-a-token",
        "other_key": make_token(bytes(32), StickerClaim(LANE, 1)),
        "no_lane": make_token(key, StickerClaim("P9-GONE", 1)),
    }
    if kind == "revoked":
        await sticker(centre, LANE, revoke=True)
    async with phone(centre, tokens[kind]) as page:
        shown = await page.client.get(page.path)
        assert shown.status_code == 404 and VOID in shown.text
        assert 'data-page="invalid"' in shown.text and "对讲按钮" in shown.text
        placed = await page.place()
        assert placed.status_code == 404 and placed.json()["error"].startswith("sticker_")
    assert await open_calls(centre) == []


async def test_a_bad_token_cannot_follow_a_real_call(centre: Centre) -> None:
    """A call placed from a good sticker is still unknown under a void one."""
    await centre.add_lane(LANE)
    async with phone(centre, await sticker(centre, LANE)) as page:
        assert (await page.place()).status_code == 201
        page.token = "not-a-token"
        assert (await page.state()).status_code == 404
        assert (await page.post("hangup")).status_code == 404
        assert await stream_closed(page, page.secret) == 4404
    assert len(await open_calls(centre)) == 1


# ------------------------------------------------------------------ a call


async def test_a_phone_call_is_queued_rung_answered_and_ended_as_the_page_follows(
    staffed: Centre,
) -> None:
    """The page sees 排队中 with its place, then 已接通 when alice answers, then 已结束
    when she ends it, and the stream closes."""
    await staffed.add_lane(LANE)
    async with phone(staffed, await sticker(staffed, LANE)) as page:
        placed = await page.place()
        assert placed.status_code == 201
        body = placed.json()
        assert body["call"] == {
            "call_id": page.call_id,
            "state": "queued",
            "position": 1,
            "ending": None,
        }
        assert len(body["secret"]) == 43 and body["ice_servers"] == []
        async with following(page) as stream, desk(staffed, "alice") as alice:
            assert (await stream.next("queued"))["position"] == 1
            ring = await alice.next("ring")
            assert ring["call"]["source"] == "phone" and ring["call"]["lane_id"] == LANE
            assert (await alice.post(f"/api/calls/{page.call_id}/accept")).status_code == 200
            answered = await stream.next("answered")
            assert answered["position"] is None and "agent" not in answered
            await alice.post(f"/api/calls/{page.call_id}/end", {"category": "consultation"})
            assert (await stream.next("ended"))["ending"] == "agent"
            with pytest.raises(ConnectionClosed) as closed:
                await stream.ws.recv()
            assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
        assert (await page.state()).json()["state"] == "ended"


async def test_a_second_post_from_the_same_phone_returns_its_call(centre: Centre) -> None:
    """A phone that holds its open call's secret gets that call again, not a new one."""
    await centre.add_lane(LANE)
    async with phone(centre, await sticker(centre, LANE)) as page:
        first = await page.place()
        again = await page.place()
        assert (first.status_code, again.status_code) == (201, 200)
        assert again.json()["call_id"] == first.json()["call_id"]
        assert (await page.post("hangup")).json()["state"] == "ended"
        third = await page.place()  # that call is over: a new one
        assert third.status_code == 201 and third.json()["call_id"] != first.json()["call_id"]
    assert len(await open_calls(centre)) == 1


async def test_the_queue_position_moves_up_when_a_call_ahead_goes(centre: Centre) -> None:
    """Two phones wait; the second is 第 2 位 until the first hangs up."""
    await centre.add_lane(LANE)
    token = await sticker(centre, LANE)
    async with phone(centre, token) as first, phone(centre, token) as second:
        await first.place()
        await second.place()
        async with following(second) as stream:
            assert (await stream.next("queued"))["position"] == 2
            await first.post("hangup")
            assert (await stream.next("queued"))["position"] == 1


async def test_hanging_up_before_an_answer_abandons_the_call(staffed: Centre) -> None:
    """The driver's hang-up is the caller's ending, and rings stop."""
    await staffed.add_lane(LANE)
    async with phone(staffed, await sticker(staffed, LANE)) as page, desk(staffed, "bob") as bob:
        await page.place()
        await bob.next("ring")
        hung_up = await page.post("hangup")
        assert hung_up.status_code == 200
        assert hung_up.json() == {
            "call_id": page.call_id,
            "state": "ended",
            "position": None,
            "ending": "caller",
        }
        assert (await bob.call(page.call_id, "abandoned"))["ending"] == "caller"


async def test_a_closed_page_hangs_up_its_answered_call(settings: Settings) -> None:
    """The stream closes and does not come back: the answered call ends as the
    caller's, and the agent goes to wrap-up."""
    async with centre_with(dataclasses.replace(settings, help_gone_s=0.5)) as centre:
        await centre.add_user("alice", Role.AGENT)
        await centre.add_lane(LANE)
        async with phone(centre, await sticker(centre, LANE)) as page, desk(centre, "alice") as a:
            await page.place()
            async with following(page) as stream:
                await a.post(f"/api/calls/{page.call_id}/accept")
                await stream.next("answered")
            ended = await a.call(page.call_id, "ended")
            assert ended["ending"] == "caller"


async def test_a_page_that_never_follows_its_call_hangs_it_up(settings: Settings) -> None:
    """A call placed by a page that then vanished is not left in the queue."""
    async with centre_with(dataclasses.replace(settings, help_gone_s=0.5)) as centre:
        await centre.add_user("bob", Role.AGENT)
        await centre.add_lane(LANE)
        async with phone(centre, await sticker(centre, LANE)) as page, desk(centre, "bob") as bob:
            await page.place()
            assert (await bob.call(page.call_id, "abandoned"))["ending"] == "caller"


async def test_a_page_that_comes_back_in_time_keeps_its_call(settings: Settings) -> None:
    """A dropped stream reopened within the time is the same page: the call waits on
    past the time."""
    async with centre_with(dataclasses.replace(settings, help_gone_s=1.0)) as centre:
        await centre.add_lane(LANE)
        async with phone(centre, await sticker(centre, LANE)) as page:
            await page.place()
            for _ in range(3):
                async with following(page) as stream:
                    await stream.next("queued")
            async with following(page) as stream:
                await stream.next("queued")
                with pytest.raises(TimeoutError):  # no end comes while the page is there
                    await stream.next("ended", timeout=2.0)
            assert centre.calls.queue.call(page.call_id).pending


async def test_a_restarted_centre_knows_the_phone_by_its_secret(settings: Settings) -> None:
    """Secrets are derived, not stored: after a restart the page follows its call."""
    async with centre_with(settings) as centre:
        await centre.add_lane(LANE)
        token = await sticker(centre, LANE)
        async with phone(centre, token) as page:
            await page.place()
            call_id, secret = page.call_id, page.secret
    async with centre_with(settings) as restarted, phone(restarted, token) as page:
        page.call_id, page.secret = call_id, secret
        assert (await page.state()).json()["state"] == "queued"
        again = await page.place()
        assert again.status_code == 200 and again.json()["call_id"] == call_id


# ------------------------------------------------------------------ the secret


async def test_without_the_secret_a_call_cannot_be_followed_or_hung_up(centre: Centre) -> None:
    """Another phone at the same sticker, knowing the call's id, gets 403 and the
    stream closes 4401; the call goes on."""
    await centre.add_lane(LANE)
    token = await sticker(centre, LANE)
    async with phone(centre, token) as owner, phone(centre, token) as other:
        await owner.place()
        await other.place()
        other_secret = other.secret
        other.call_id = owner.call_id
        for secret in ("", "x" * 43, other_secret):
            other.secret = secret
            for response in (await other.state(), await other.post("hangup")):
                assert (response.status_code, response.json()["error"]) == (403, "wrong_secret")
            assert await stream_closed(other, secret) == 4401
    assert owner.call_id in await open_calls(centre)


async def test_a_cross_origin_page_cannot_open_the_stream(centre: Centre) -> None:
    """Another site's page in the driver's browser is refused (4403)."""
    await centre.add_lane(LANE)
    async with phone(centre, await sticker(centre, LANE)) as page:
        await page.place()
        closed = await stream_closed(page, page.secret, origin="https://evil.example")
    assert closed == 4403


async def test_a_call_id_from_another_lane_is_unknown(centre: Centre) -> None:
    """A sticker speaks for its own lane's calls only."""
    await centre.add_lane(LANE)
    await centre.add_lane("P2-IN")
    async with phone(centre, await sticker(centre, LANE)) as here:
        await here.place()
        async with phone(centre, await sticker(centre, "P2-IN")) as there:
            there.call_id, there.secret = here.call_id, here.secret
            response = await there.state()
    assert (response.status_code, response.json()["error"]) == (404, "unknown_call")


# ------------------------------------------------------------------ limits


async def test_fifty_calls_from_one_address_are_limited(centre: Centre) -> None:
    """A prankster's script gets three calls in, then 429 with Retry-After."""
    await centre.add_lane(LANE)
    token = await sticker(centre, LANE)
    statuses = []
    async with phone(centre, token) as page:
        for _ in range(50):
            page.secret = ""  # a new page each time: no call of its own to return
            response = await page.place()
            statuses.append(response.status_code)
            if response.status_code == 429:
                assert response.json()["error"] == "throttled"
                assert int(response.headers["retry-after"]) >= 1
    assert statuses[:3] == [201] * 3 and set(statuses[3:]) == {429}
    assert len(await open_calls(centre)) == 3


async def test_calls_at_one_lane_are_limited_from_any_address(settings: Settings) -> None:
    """Behind a trusted proxy, fifty addresses calling one lane get five calls in; the
    lane next to it can still call."""
    trusted = (ipaddress.ip_network("127.0.0.1/32"),)
    async with centre_with(dataclasses.replace(settings, trusted_proxies=trusted)) as centre:
        await centre.add_lane(LANE)
        await centre.add_lane("P2-IN")
        token = await sticker(centre, LANE)
        statuses = []
        async with phone(centre, token) as page:
            for n in range(50):
                page.secret = ""
                response = await page.place({"x-forwarded-for": f"203.0.113.{n + 1}"})
                statuses.append(response.status_code)
        assert statuses[:5] == [201] * 5 and set(statuses[5:]) == {429}
        async with phone(centre, await sticker(centre, "P2-IN")) as next_lane:
            placed = await next_lane.place({"x-forwarded-for": "198.51.100.7"})
            assert placed.status_code == 201


async def test_a_forwarded_for_header_from_an_untrusted_peer_is_ignored(centre: Centre) -> None:
    """Without SEAT_TRUSTED_PROXIES a phone cannot name a new address per call."""
    await centre.add_lane(LANE)
    async with phone(centre, await sticker(centre, LANE)) as page:
        statuses = []
        for n in range(6):
            page.secret = ""
            response = await page.place({"x-forwarded-for": f"203.0.113.{n + 1}"})
            statuses.append(response.status_code)
    assert statuses == [201, 201, 201, 429, 429, 429]


@pytest.mark.parametrize(
    ("content", "content_type", "status", "error"),
    [
        (b"{}", "text/plain", 415, "unsupported_media_type"),
        (b"[]", "application/json", 400, "bad_request"),
        (b"{", "application/json", 400, "bad_request"),
        (b'{"a":"' + b"x" * 20_000 + b'"}', "application/json", 413, "too_large"),
    ],
)
async def test_a_call_body_must_be_a_small_json_object(
    centre: Centre, content: bytes, content_type: str, status: int, error: str
) -> None:
    """A form posted from another site (not JSON) or an odd body places nothing."""
    await centre.add_lane(LANE)
    async with phone(centre, await sticker(centre, LANE)) as page:
        response = await page.client.post(
            f"{page.path}/call", content=content, headers={"content-type": content_type}
        )
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert await open_calls(centre) == []
