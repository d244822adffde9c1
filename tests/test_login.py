"""Logins against a real centre: who the client is, throttling, alarms, and a login storm
that must not starve the rest of the centre."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, expect
from websockets.asyncio.client import connect

from console.auth import USERNAME_RULE, PasswordChecker, valid_username
from console.errors import Busy
from console.ledger import AuditAction, AuditEntry
from console.models import Role
from console.settings import Settings, parse_trusted_proxies
from console.sqlite_store import SQLiteStore
from console.web import forwarded_client
from gates.centre.status import LaneStatus
from tests.conftest import PASSWORD, REAL_PASSWORD_HASH, Centre, LaneFactory, start_centre
from tests.test_cli import seat
from tests.test_stream import next_message, session_cookie, stream_url


@contextlib.asynccontextmanager
async def centre_with(settings: Settings, store: SQLiteStore) -> AsyncIterator[Centre]:
    """A real centre with settings of the test's own."""
    running = await start_centre(settings, store)
    try:
        yield running.centre(store, settings)
    finally:
        await running.stop()


@contextlib.asynccontextmanager
async def client_from(centre: Centre, source: str) -> AsyncIterator[httpx.AsyncClient]:
    """A client whose connections come from ``source``, an address of 127.0.0.0/8: a
    distinct peer to the centre, as another machine would be."""
    transport = httpx.AsyncHTTPTransport(local_address=source)
    async with httpx.AsyncClient(base_url=centre.url, transport=transport, timeout=30) as client:
        yield client


async def login(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/login", json={"username": username, "password": password})


async def ledger(centre: Centre, action: AuditAction) -> list[AuditEntry]:
    return [entry async for entry in centre.store.iter_audit() if entry.action is action]


# ------------------------------------------------------------------ a login storm


async def test_login_storm_leaves_lanes_connected_and_healthz_answering(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Sixteen agents logging in at once (a shift change): a lane heartbeating every second
    stays online, and /healthz keeps answering, with that lane online, meanwhile."""
    agents = [f"agent{n}" for n in range(16)]
    for name in agents:
        await staffed.add_user(name, Role.AGENT, REAL_PASSWORD_HASH)
    await lanes("P1-OUT")
    offline: list[LaneStatus] = []
    unsubscribe = staffed.hub.subscribe(
        lambda status: offline.append(status) if not status.online else None
    )
    try:
        async with staffed.client() as client:
            storm = [asyncio.create_task(login(client, name, PASSWORD)) for name in agents]
            answered_during_storm = 0
            while not all(task.done() for task in storm):
                health = await client.get("/healthz")
                assert health.json() == {"status": "ok", "lanes_online": 1, "events_dropped": 0}
                answered_during_storm += not all(task.done() for task in storm)
            responses = await asyncio.gather(*storm)
    finally:
        unsubscribe()
    assert [response.status_code for response in responses] == [200] * 16
    assert answered_during_storm >= 1
    assert offline == []


async def test_logins_beyond_the_queue_are_refused_busy_and_change_nothing(
    settings: Settings, store: SQLiteStore
) -> None:
    """With one check at a time and none waiting, logins sent at once while one is being
    checked get 503 busy with Retry-After, and leave no trace."""
    narrow = dataclasses.replace(settings, login_workers=1, login_queue=0)
    agents = [f"agent{n}" for n in range(6)]
    async with centre_with(narrow, store) as centre:
        for name in agents:
            await centre.add_user(name, Role.AGENT, REAL_PASSWORD_HASH)
        async with centre.client() as client:
            responses = await asyncio.gather(*(login(client, name, PASSWORD) for name in agents))
        logins = await ledger(centre, AuditAction.LOGIN)
    busy = [response for response in responses if response.status_code == 503]
    assert busy and all(response.json()["error"] == "busy" for response in busy)
    assert all(int(response.headers["retry-after"]) >= 1 for response in busy)
    assert all("set-cookie" not in response.headers for response in busy)
    assert len(logins) == len(responses) - len(busy) >= 1


async def test_password_checks_past_workers_and_queue_are_refused_until_one_ends() -> None:
    """One worker and one waiting: a third check at once is refused with a time to wait;
    the two admitted give their answers, and then checks are admitted again."""
    loop = asyncio.get_running_loop()
    started = asyncio.Event()
    release = threading.Event()

    def held_check(password_hash: str | None, password: str) -> bool:
        loop.call_soon_threadsafe(started.set)
        release.wait(10)
        return password == "right"

    checker = PasswordChecker(workers=1, queue=1, check=held_check)
    try:
        first = asyncio.create_task(checker.check("stored", "right"))
        second = asyncio.create_task(checker.check("stored", "wrong"))
        await started.wait()  # the first is being checked, so the second is waiting
        assert checker.admitted == 2
        with pytest.raises(Busy) as refused:
            await checker.check("stored", "right")
        retry_after = refused.value.extra["retry_after"]
        assert refused.value.status == 503 and isinstance(retry_after, int) and retry_after >= 1
        release.set()
        assert (await first, await second) == (True, False)
        assert await checker.check("stored", "right") is True
    finally:
        release.set()
        checker.close()


# ------------------------------------------------------------------ who the client is


@pytest.mark.parametrize(
    ("peer", "header", "client"),
    [
        ("192.0.2.1", ["203.0.113.9"], "192.0.2.1"),  # not a proxy: header ignored
        ("10.0.0.2", ["203.0.113.9"], "203.0.113.9"),
        ("10.0.0.2", [], "10.0.0.2"),  # a proxy that sent none: the proxy itself
        ("10.0.0.2", ["198.51.100.7, 203.0.113.9, 10.0.0.3"], "203.0.113.9"),
        ("10.0.0.2", ["198.51.100.7", "203.0.113.9"], "203.0.113.9"),  # two header lines
        ("10.0.0.2", ["10.0.0.4, 10.0.0.3"], "10.0.0.4"),  # all proxies: the left-most
        ("10.0.0.2", ["203.0.113.9, admin"], "10.0.0.2"),  # not an address: stop there
        ("10.0.0.2", ["203.0.113.9,,"], "10.0.0.2"),
        ("::ffff:10.0.0.2", ["2001:db8::1"], "2001:db8::1"),  # dual-stack peer
        ("10.0.0.2", ["2001:DB8:0::1"], "2001:db8::1"),
    ],
)
def test_forwarded_client_believes_only_what_trusted_proxies_added(
    peer: str, header: list[str], client: str
) -> None:
    """The right-most X-Forwarded-For address that is not a trusted proxy is the client."""
    trusted = parse_trusted_proxies("10.0.0.0/29")
    assert forwarded_client(peer, header, trusted) == client


def test_trusted_proxies_setting_takes_addresses_and_networks() -> None:
    """Addresses, CIDR networks and blanks parse; a typo names the variable."""
    settings = Settings.from_env({"SEAT_TRUSTED_PROXIES": "10.0.0.5, 192.168.0.0/16,, fd00::/8"})
    assert [str(n) for n in settings.trusted_proxies] == [
        "10.0.0.5/32",
        "192.168.0.0/16",
        "fd00::/8",
    ]
    assert Settings.from_env({}).trusted_proxies == ()
    for bad in ("10.0.0.300", "10.0.0.5/8", "proxy.example"):
        with pytest.raises(ValueError, match="SEAT_TRUSTED_PROXIES"):
            Settings.from_env({"SEAT_TRUSTED_PROXIES": bad})


async def test_forged_forwarded_for_from_an_untrusted_peer_is_ignored(staffed: Centre) -> None:
    """With no trusted proxies configured, X-Forwarded-For changes nothing: the ledger
    names the real peer."""
    async with staffed.client() as client:
        response = await client.post(
            "/api/login",
            json={"username": "alice", "password": PASSWORD},
            headers={"x-forwarded-for": "203.0.113.9"},
        )
    assert response.status_code == 200
    [entry] = await ledger(staffed, AuditAction.LOGIN)
    assert entry.detail["remote"] == "127.0.0.1"


async def test_forwarded_for_from_a_trusted_proxy_names_the_client(
    settings: Settings, store: SQLiteStore
) -> None:
    """From a configured proxy the right-most untrusted X-Forwarded-For address is the
    client; the same header from another peer is ignored."""
    proxied = dataclasses.replace(settings, trusted_proxies=parse_trusted_proxies("127.0.0.1"))
    forwarded = {"x-forwarded-for": "198.51.100.7, 203.0.113.9"}
    async with centre_with(proxied, store) as centre:
        await centre.add_user("alice", Role.AGENT)
        for source in ("127.0.0.1", "127.0.0.2"):
            async with client_from(centre, source) as client:
                response = await client.post(
                    "/api/login",
                    json={"username": "alice", "password": PASSWORD},
                    headers=forwarded,
                )
            assert response.status_code == 200
    remotes = [entry.detail["remote"] for entry in await ledger(centre, AuditAction.LOGIN)]
    assert remotes == ["203.0.113.9", "127.0.0.2"]


# ------------------------------------------------------------------ throttling


async def test_right_password_from_a_clean_address_gets_in_while_the_guesser_is_throttled(
    staffed: Centre,
) -> None:
    """Five wrong passwords from one address lock that address out of that account, not
    the account: its owner, elsewhere, still logs in."""
    async with client_from(staffed, "127.0.0.2") as guesser:
        for _ in range(5):
            assert (await login(guesser, "alice", "wrong guess")).status_code == 401
        throttled = await login(guesser, "alice", PASSWORD)
    async with client_from(staffed, "127.0.0.3") as owner:
        response = await login(owner, "alice", PASSWORD)
    assert throttled.status_code == 429 and throttled.json()["error"] == "throttled"
    assert response.status_code == 200 and response.json()["username"] == "alice"


async def test_repeated_failures_throttle_that_address_for_that_user(staffed: Centre) -> None:
    """After five failures the same address gets 429 with Retry-After, even with the
    right password."""
    async with staffed.client() as client:
        for _ in range(5):
            await login(client, "alice", "wrong")
        response = await login(client, "alice", PASSWORD)
    assert response.status_code == 429
    assert response.json()["error"] == "throttled"
    assert response.json()["retry_after"] >= 1
    assert int(response.headers["retry-after"]) >= 1


async def test_parallel_guesses_get_no_more_checks_than_serial_ones(staffed: Centre) -> None:
    """Twelve wrong passwords sent at once for one account from one address: five are
    checked, the rest are throttled without a check."""
    async with staffed.client() as client:
        responses = await asyncio.gather(*(login(client, "alice", "wrong") for _ in range(12)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [401] * 5 + [429] * 7
    assert len(await ledger(staffed, AuditAction.LOGIN_FAILED)) == 5


async def test_an_address_sweeping_many_accounts_is_throttled(staffed: Centre) -> None:
    """Twenty failures across different usernames lock that address out of every
    account, and no other address."""
    async with client_from(staffed, "127.0.0.2") as sweeper:
        first = [(await login(sweeper, f"user{n}", "wrong")).status_code for n in range(20)]
        then = await login(sweeper, "alice", PASSWORD)
    async with client_from(staffed, "127.0.0.3") as other:
        elsewhere = await login(other, "alice", PASSWORD)
    assert first == [401] * 20
    assert then.status_code == 429
    assert elsewhere.status_code == 200


async def test_a_supervisors_stream_hears_a_login_attack(staffed: Centre) -> None:
    """Ten wrong passwords for one account, from two addresses, reach a supervisor's
    console live as a login_attack entry naming the account and the address."""
    sue, _ = await session_cookie(staffed, "sue")
    async with connect(
        stream_url(staffed), additional_headers={"cookie": f"seat_session={sue}"}
    ) as ws:
        await next_message(ws, "lanes")
        for source in ("127.0.0.2", "127.0.0.3"):
            async with client_from(staffed, source) as guesser:
                for _ in range(5):
                    assert (await login(guesser, "alice", "wrong guess")).status_code == 401
        async with asyncio.timeout(10):
            while (entry := (await next_message(ws, "audit"))["entry"])["action"] != (
                "login_attack"
            ):
                pass
    assert entry["actor"] == "centre"
    assert entry["detail"] == {
        "trigger": "username",
        "username": "alice",
        "remote": "127.0.0.3",
        "user_failures": 10,
        "address_failures": 5,
    }


@pytest.mark.browser
async def test_a_supervisors_console_shows_a_login_attack(
    browser: Browser, staffed: Centre
) -> None:
    """The alarm is a banner on the supervisor's page, whatever view is open."""
    page = await browser.new_page()
    await page.goto(staffed.url + "/")
    await page.fill("#username", "sue")
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await expect(page.locator("#conn-state")).to_have_attribute("data-state", "open")
    for source in ("127.0.0.2", "127.0.0.3"):
        async with client_from(staffed, source) as guesser:
            for _ in range(5):
                await login(guesser, "alice", "wrong guess")
    alert = page.locator("#attack-alert")
    await expect(alert).to_be_visible()
    await expect(alert).to_have_attribute("data-username", "alice")
    await expect(alert).to_have_attribute("data-trigger", "username")
    await expect(page.locator("#attack-alert-text")).to_contain_text("alice")
    await page.click("#attack-alert-dismiss")
    await expect(alert).to_be_hidden()


# ------------------------------------------------------------------ usernames


@pytest.mark.parametrize(
    ("name", "valid"),
    [("wang", True), ("王伟", True), ("agent_2", True), ("a" * 32, True), ("a" * 33, False),
     ("", False), ("2wang", False), ("wang wei", False), ("wang\x00", False),
     ("ｗａｎｇ", False), ("wang-wei", False)],
)  # fmt: skip
def test_one_username_rule(name: str, valid: bool) -> None:
    """Letters (Chinese too), digits and _, not first a digit, at most 32, no look-alikes."""
    assert valid_username(name) is valid


@pytest.mark.parametrize(
    "username", ["ali\x1bce", "alice\n", "al ice", "a" * 33, "1alice", "ａｌｉｃｅ", "ali-ce"]
)
async def test_a_username_seat_user_add_would_refuse_is_400_and_unrecorded(
    staffed: Centre, username: str
) -> None:
    """Control characters, spaces, look-alikes or absurd lengths are refused before any
    check, and never reach the ledger."""
    async with staffed.client() as client:
        response = await login(client, username, PASSWORD)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_username")
    assert [e async for e in staffed.store.iter_audit() if e.actor == username] == []
    assert await ledger(staffed, AuditAction.LOGIN_FAILED) == []


def test_seat_user_add_refuses_by_the_same_rule(tmp_path: Path) -> None:
    """A look-alike name the login form refuses cannot be created either."""
    result = seat(tmp_path, "user", "add", "ａｌｉｃｅ", "--role", "agent", stdin=PASSWORD + "\n")
    assert result.returncode != 0 and USERNAME_RULE in result.stderr
