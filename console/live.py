"""Who is connected now, under which login: console streams and live views.

A session is checked when a request starts; a stream or a live view lasts for hours
after that. So each registers here, and whatever ends or changes a login (a logout, a
password or role change, a disabled account, made here or by the ``seat`` CLI) ends the
connections it held within the change feed's poll (``console.changes``), or at once
where another server or the CLI tells of it through Redis (``console.cluster.told``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from .directory import Directory
from .models import Role, Session, User

Ender = Callable[[str], None]


@dataclass(eq=False, slots=True)
class _Hold:
    session: str  # the token hash
    username: str
    role: Role
    end: Ender  # called once, with why


class LiveLogins:
    def __init__(self) -> None:
        self._holds: set[_Hold] = set()

    def hold(self, session: Session, user: User, end: Ender) -> Callable[[], None]:
        """Register a connection opened under ``session``; ``end(reason)`` closes it.
        Returns the release to call when it closes by itself."""
        entry = _Hold(session.token_hash, user.username, user.role, end)
        self._holds.add(entry)
        return lambda: self._holds.discard(entry)

    def usernames(self) -> set[str]:
        return {entry.username for entry in self._holds}

    def end_session(self, token_hash: str, reason: str) -> None:
        self._end([h for h in self._holds if h.session == token_hash], reason)

    async def recheck(
        self, directory: Directory, now: datetime, *, usernames: set[str], sessions: set[str]
    ) -> None:
        """End every connection held under a named user or session whose login no longer
        stands as it did: session gone or expired, account gone or disabled, role changed."""
        for entry in [h for h in self._holds if h.username in usernames or h.session in sessions]:
            reason = await _fault(directory, entry, now)
            if reason is not None and entry in self._holds:
                self._end([entry], reason)

    def _end(self, entries: list[_Hold], reason: str) -> None:
        for entry in entries:
            self._holds.discard(entry)
            entry.end(reason)


async def _fault(directory: Directory, entry: _Hold, now: datetime) -> str | None:
    session = await directory.session(entry.session)
    if session is None or session.expires_at <= now:
        return "the session has ended"
    user = await directory.user(entry.username)
    if user is None or user.disabled:
        return "the account is disabled"
    if user.role is not entry.role:
        return "the account's role changed"
    return None
