"""A lane agent's journal (``--state``) as a test reads it: what the lane did."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


async def journal_shows(
    journal: Path, check: Callable[[list[dict[str, Any]]], bool]
) -> list[dict[str, Any]]:
    """The lane's journal once its records pass ``check``. It is written before the
    driver acts and after it ends, so it is what the lane did."""
    async with asyncio.timeout(30):
        while True:
            records = read(journal)
            if check(records):
                return records
            await asyncio.sleep(0.02)  # the journal is a file: read it until it says so


def read(journal: Path) -> list[dict[str, Any]]:
    lines = journal.read_text().splitlines() if journal.exists() else []
    return [json.loads(line) for line in lines]
