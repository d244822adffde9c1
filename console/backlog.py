"""What one console tab has yet to be sent. Pure: the live feed (``streams``) fills it
from the lanes and the ledger and drains it into the tab's WebSocket."""

from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import Generic, TypeVar

T = TypeVar("T")


class Backlog(Generic[T]):
    """Items in the order they came, where an item with a ``key`` (a lane) replaces one
    of that key still waiting, in its place: a tab wants a lane's latest state, not every
    state it passed through, so however fast lanes change the backlog holds at most one
    item per lane. Items without a key (ledger entries) each wait their turn; more than
    ``limit`` of them waiting means the tab is stuck, and ``overflowed`` says so."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.overflowed = False
        self._items: OrderedDict[str | int, T] = OrderedDict()
        self._unkeyed = 0
        self._numbers = itertools.count()

    def put(self, item: T, key: str | None = None) -> None:
        if key is not None:
            self._items[key] = item  # an existing key keeps its place
            return
        if self._unkeyed >= self.limit:
            self.overflowed = True
            return
        self._items[next(self._numbers)] = item
        self._unkeyed += 1

    def take(self) -> T | None:
        """The oldest waiting item, or None."""
        if not self._items:
            return None
        key, item = self._items.popitem(last=False)
        if isinstance(key, int):
            self._unkeyed -= 1
        return item
