"""``GET /readyz``: whether a load balancer should send this centre work, from a real
centre, and the readiness mechanism's rules (timeouts, one round at a time)."""

from __future__ import annotations

import asyncio
import logging

import httpx
import pytest

from console.app import create_app
from console.errors import StoreError
from console.readiness import Phase, Readiness
from console.settings import Settings
from console.sqlite_store import SQLiteStore
from tests.conftest import Centre


async def test_a_serving_centre_is_ready_with_its_checks_named(centre: Centre) -> None:
    async with centre.client() as client:
        response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "ready": True,
        "checks": {"centre": {"ok": True}, "store": {"ok": True}},
    }


async def test_a_closed_store_makes_the_centre_not_ready_and_says_why(centre: Centre) -> None:
    async with centre.client() as client:
        assert (await client.get("/readyz")).status_code == 200  # it has started
        await centre.store.close()
        response = await client.get("/readyz")
        health = await client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {
        "ready": False,
        "checks": {"centre": {"ok": True}, "store": {"ok": False, "error": "store_closed"}},
    }
    assert health.status_code == 200  # alive, only not ready


async def test_a_database_deleted_or_replaced_under_the_centre_makes_it_not_ready(
    centre: Centre,
) -> None:
    """SQLite goes on with the file it has open whatever became of its name: the
    centre would answer every read while its ledger went where no one will read it."""
    path = centre.settings.database
    async with centre.client() as client:
        assert (await client.get("/readyz")).status_code == 200  # it has started
        path.rename(path.with_name("moved.db"))
        gone = await client.get("/readyz")
        path.write_bytes(b"")
        replaced = await client.get("/readyz")
    assert (gone.status_code, gone.json()["checks"]["store"]) == (
        503,
        {"ok": False, "error": "store_gone"},
    )
    assert (replaced.status_code, replaced.json()["checks"]["store"]) == (
        503,
        {"ok": False, "error": "store_replaced"},
    )


async def test_readyz_needs_no_login_and_writes_nothing(centre: Centre) -> None:
    """A balancer has no login and polls often: polling leaves the ledger as it was."""
    async with httpx.AsyncClient(base_url=centre.url) as client:
        assert (await client.get("/readyz")).status_code == 200  # it has started
        before = (await centre.store.audit_count(), await centre.store.change_head())
        for _ in range(5):
            assert (await client.get("/readyz")).status_code == 200
        assert (await client.post("/readyz")).status_code == 405
    assert (await centre.store.audit_count(), await centre.store.change_head()) == before


async def test_not_ready_while_starting_or_stopping(settings: Settings, store: SQLiteStore) -> None:
    """Before its start has finished and from the moment its stop begins, the centre
    is not ready, its store still answering."""
    app = create_app(settings, store)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://seat") as client:
        starting = await client.get("/readyz")
        async with app.router.lifespan_context(app):
            serving = await client.get("/readyz")
        stopped = await client.get("/readyz")
    assert (starting.status_code, starting.json()["checks"]["centre"]) == (
        503,
        {"ok": False, "error": "starting"},
    )
    assert starting.json()["checks"]["store"] == {"ok": True}
    assert serving.status_code == 200
    assert (stopped.status_code, stopped.json()["checks"]["centre"]) == (
        503,
        {"ok": False, "error": "stopping"},
    )


async def test_sqlite_ping_reads_and_fails_closed(store: SQLiteStore) -> None:
    await store.ping()
    await store.close()
    with pytest.raises(StoreError) as raised:
        await store.ping()
    assert raised.value.code == "store_closed"


# ------------------------------------------------------------- the mechanism


async def test_a_probe_that_hangs_fails_as_a_timeout_and_the_others_still_answer() -> None:
    readiness = Readiness(timeout_s=0.05)
    readiness.phase = Phase.SERVING
    never = asyncio.Event()

    async def fine() -> None:
        return None

    async def hangs() -> None:
        await never.wait()

    readiness.add("redis", hangs)
    readiness.add("store", fine)
    report = await readiness.report()
    assert report.to_json() == {
        "ready": False,
        "checks": {
            "centre": {"ok": True},
            "redis": {"ok": False, "error": "timeout"},
            "store": {"ok": True},
        },
    }


async def test_an_unexpected_probe_failure_names_only_its_kind() -> None:
    """A server's message may name a host or a path: the answer gives its type only."""
    readiness = Readiness()
    readiness.phase = Phase.SERVING

    async def refused() -> None:
        raise ConnectionRefusedError("connect to 10.0.0.7:6379 refused")

    readiness.add("redis", refused)
    checks = (await readiness.report()).to_json()["checks"]
    assert checks == {
        "centre": {"ok": True},
        "redis": {"ok": False, "error": "ConnectionRefusedError"},
    }


async def test_requests_during_a_round_share_it() -> None:
    """However many polls come at once, each probe runs once per round."""
    readiness = Readiness()
    readiness.phase = Phase.SERVING
    calls = 0
    release = asyncio.Event()

    async def slow() -> None:
        nonlocal calls
        calls += 1
        await release.wait()

    readiness.add("store", slow)
    waiting = [asyncio.create_task(readiness.report()) for _ in range(10)]
    await asyncio.sleep(0)
    release.set()
    reports = await asyncio.gather(*waiting)
    assert calls == 1 and all(report.ready for report in reports)
    await readiness.report()
    assert calls == 2  # the next poll is a new round


async def test_a_failing_check_is_logged_when_it_fails_and_when_it_recovers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Polled every few seconds, a service that is down is one line, not one a poll."""
    readiness = Readiness()
    readiness.phase = Phase.SERVING
    down = True

    async def probe() -> None:
        if down:
            raise StoreError("read_failed", "disk I/O error at /var/lib/seat/seat.db")

    readiness.add("store", probe)
    with caplog.at_level(logging.INFO, logger="seat.readiness"):
        for _ in range(3):
            assert not (await readiness.report()).ready
        down = False
        for _ in range(3):
            assert (await readiness.report()).ready
    assert [record.getMessage() for record in caplog.records] == [
        "ready.check_failed check=store error=read_failed "
        "detail=disk I/O error at /var/lib/seat/seat.db",
        "ready.check_recovered check=store",
    ]


def test_a_check_name_is_registered_once() -> None:
    readiness = Readiness()

    async def probe() -> None:
        return None

    readiness.add("store", probe)
    for taken in ("store", "centre"):
        with pytest.raises(ValueError, match="already registered"):
            readiness.add(taken, probe)
