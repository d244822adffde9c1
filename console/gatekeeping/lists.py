"""Every car park's plate lists as one ``PlateLists``, read again only when one changed.

Lists are stored per car park, but a whitelist or blacklist entry without a car park
covers all of them, so a decision at any lane needs them all. The CLI sets them from
another process; each read compares the store's cheap stamps (car park, set time) with
those of the lists held and parses the rows again only when they differ.
"""

from __future__ import annotations

import asyncio

from ..billing.lists import PlateLists
from ..store import Store


def merged(all_lists: list[PlateLists]) -> PlateLists:
    return PlateLists(
        passes=tuple(entry for lists in all_lists for entry in lists.passes),
        whitelist=tuple(entry for lists in all_lists for entry in lists.whitelist),
        blacklist=tuple(entry for lists in all_lists for entry in lists.blacklist),
    )


class CurrentLists:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._stamps: list[tuple[str, str]] | None = None
        self._lists = PlateLists()
        self._lock = asyncio.Lock()

    async def get(self) -> PlateLists:
        async with self._lock:
            stamps = await self.store.plate_list_stamps()
            if stamps != self._stamps:
                self._lists = merged(await self.store.all_plate_lists())
                self._stamps = stamps
            return self._lists
