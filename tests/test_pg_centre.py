"""A centre on PostgreSQL while the database restarts: no audit, no action (503
``audit_failed``, the gate still), and once the database is back the centre works
again, without a restart of its own."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import psycopg
import pytest

from console.ledger import AuditAction
from tests.conftest import Centre, LaneFactory
from tests.services import PostgresServer
from tests.test_api import actions_in_ledger
from tests.test_pg_store import accepting

pytestmark = pytest.mark.parametrize("engine", ["postgresql"], indirect=True)


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    server = PostgresServer()
    server.start()
    yield server
    server.close()


@pytest.fixture
def postgres_store_url(own_server: PostgresServer) -> str:
    """The centre's database, on a server of the test's own to restart."""
    return own_server.create_database("centre")


async def test_a_gate_waits_out_a_database_restart_then_opens(
    staffed: Centre, lanes: LaneFactory, own_server: PostgresServer, postgres_store_url: str
) -> None:
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        with psycopg.connect(postgres_store_url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")  # the tests' server does not wait for its WAL
        own_server.stop()
        refused = await client.post("/api/lanes/P1-OUT/open", json={"reason": "emergency"})
        assert (refused.status_code, refused.json()["error"]) == (503, "audit_failed")
        assert lane.driver.opens == 0
        own_server.start()
        await asyncio.to_thread(accepting, postgres_store_url)
        opened = await client.post("/api/lanes/P1-OUT/open", json={"reason": "emergency"})
        assert (opened.status_code, opened.json()["outcome"]) == (200, "done")
        assert lane.driver.opens == 1
    actions = await actions_in_ledger(staffed)
    assert actions.count(AuditAction.GATE_OPEN_REQUESTED) == 1
    assert actions.count(AuditAction.GATE_OPEN_OUTCOME) == 1
