"""What the centre looks up on every request, kept in memory: sessions, users, lanes.

Every API call authenticates (a session and its user) and most name a lane; every lane
connection checks its token. Asking the database each time puts a query on the path of
every request; the directory answers from memory and asks the store only on a miss.

It stays true because every change reaches it: the centre's own writes through the
``*_created``/``*_ended`` calls, and changes made by other processes (the ``seat`` CLI
disabling a user, rotating a lane token) through the store's change feed, which
``console.changes`` reads and hands to ``forget``. A lookup that raced with a change is
answered but not kept, so a stale row never outlives the change that made it stale.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from typing import TypeVar

from .models import ChangeKind, LaneRecord, Session, User
from .store import Store

_T = TypeVar("_T")


class Directory:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._sessions: dict[str, Session] = {}
        self._users: dict[str, User] = {}
        self._lanes: dict[str, LaneRecord] = {}
        # Bumped by every change; a lookup that started before one is not cached.
        self._generation = 0

    async def load(self) -> None:
        """Every lane (the console lists them all) and every user (few, and each one
        is asked for at every request of theirs)."""
        self._lanes = {lane.id: lane for lane in await self.store.list_lanes()}
        self._users = {user.username: user for user in await self.store.list_users()}

    # -------------------------------------------------------------- lookups

    async def session(self, token_hash: str) -> Session | None:
        """The session, even if expired (the caller judges with its ``now``). Unknown
        tokens are not remembered: a forged cookie must not grow the cache."""
        return await self._through(self._sessions, token_hash, self.store.get_session)

    async def user(self, username: str) -> User | None:
        return await self._through(self._users, username, self.store.get_user)

    async def lane(self, lane_id: str) -> LaneRecord | None:
        """A lane added a moment ago by another process is found before the change
        feed brings it: a new lane's first hello must not be refused."""
        return await self._through(self._lanes, lane_id, self.store.get_lane)

    def known_lane(self, lane_id: str) -> LaneRecord | None:
        """The lane if the directory holds it, without asking the store."""
        return self._lanes.get(lane_id)

    def lanes(self) -> list[LaneRecord]:
        return sorted(self._lanes.values(), key=lambda lane: (lane.car_park, lane.id))

    async def _through(
        self, cache: dict[str, _T], key: str, fetch: Callable[[str], Awaitable[_T | None]]
    ) -> _T | None:
        """From ``cache``, else from the store, kept unless a change came in between."""
        cached = cache.get(key)
        if cached is not None:
            return cached
        generation = self._generation
        found = await fetch(key)
        if found is not None and generation == self._generation:
            cache[key] = found
        return found

    # -------------------------------------------------------------- this centre's writes

    def session_created(self, session: Session) -> None:
        self._sessions[session.token_hash] = session

    def session_ended(self, token_hash: str) -> None:
        self._generation += 1
        self._sessions.pop(token_hash, None)

    def forget_expired(self, now: datetime) -> None:
        """Drop sessions whose time is up, as the store's sweep deletes them."""
        for token_hash in [t for t, s in self._sessions.items() if s.expires_at <= now]:
            del self._sessions[token_hash]

    # -------------------------------------------------------------- everyone's writes

    async def forget(self, changed: Iterable[tuple[ChangeKind, str]]) -> None:
        """Bring the directory up to what changed: the store's change feed, or another
        server telling of it at once (``console.cluster.told``)."""
        self._generation += 1
        for kind, subject in changed:
            if kind is ChangeKind.USER:
                self._users.pop(subject, None)
                for token_hash, session in list(self._sessions.items()):
                    if session.username == subject:
                        del self._sessions[token_hash]
            elif kind is ChangeKind.SESSION:
                self._sessions.pop(subject, None)
            elif kind is ChangeKind.LANE:
                lane = await self.store.get_lane(subject)
                if lane is None:
                    self._lanes.pop(subject, None)
                else:
                    self._lanes[lane.id] = lane

    async def reload(self) -> None:
        """Start afresh from the store: the change feed lost changes (``ChangesLost``),
        so nothing cached can be trusted."""
        self._generation += 1
        self._sessions.clear()
        await self.load()
