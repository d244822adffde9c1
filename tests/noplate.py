"""Helpers for the no-plate tests: a lane's code as the agent's API gives it, the
page's state and form as a phone sees them, and waiting for the ledger."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from urllib.parse import urlsplit

import httpx

from console.ledger import AuditAction, AuditEntry
from tests.conftest import Centre
from tests.test_payments_api import BASE

_PAGE = re.compile(r'<body data-page="([a-z_]+)">')


async def code_path(client: httpx.AsyncClient, lane_id: str, base: str = BASE) -> str:
    """A fresh no-plate code of ``lane_id`` on its display: the URL's path. ``base`` is
    the centre's ``SEAT_PUBLIC_URL``."""
    response = await client.post(f"/api/lanes/{lane_id}/noplate", json={})
    assert response.status_code == 201, response.text
    url: str = response.json()["url"]
    assert url.startswith(base + "/noplate/")
    return urlsplit(url).path


def page_of(response: httpx.Response) -> str:
    """Which page a no-plate (or pay) response shows."""
    found = _PAGE.search(response.text)
    assert found is not None, response.text[:200]
    return found.group(1)


class Heard:
    """Waits for a ledger entry that passes ``check``."""

    def __init__(self, centre: Centre, check: Callable[[AuditEntry], bool]) -> None:
        self.entry: asyncio.Future[AuditEntry] = asyncio.get_running_loop().create_future()

        def heard(entry: AuditEntry) -> None:
            if check(entry) and not self.entry.done():
                self.entry.set_result(entry)

        self.unsubscribe = centre.audit.subscribe(heard)

    async def wait(self) -> AuditEntry:
        try:
            async with asyncio.timeout(10):
                return await self.entry
        finally:
            self.unsubscribe()


def action(kind: AuditAction) -> Callable[[AuditEntry], bool]:
    return lambda entry: entry.action is kind
