"""The store's part that keeps the users and their sessions. A change to a
user, or a session ended, goes on the change feed (``sqlite_changes.py``) in the same
transaction, so every running centre drops what it remembered of them."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

from .errors import Conflict, NotFound
from .ledger import as_utc, format_utc, parse_utc
from .models import ChangeKind, Role, Session, User
from .sql import Connection
from .sqlite_base import StoreBase
from .sqlite_changes import changed
from .sqlite_rows import user_of
from .sqlite_schema import SESSION_COLUMNS, USER_COLUMNS


class AccountsPart(StoreBase):
    """Users, their roles, coverage and passwords, and their login sessions."""

    # -------------------------------------------------------------- users

    async def add_user(self, username: str, role: Role, password_hash: str, now: datetime) -> User:
        """Raises ``Conflict`` if the username is taken."""
        user = User(username, Role(role), password_hash, as_utc(now))
        params = (username, str(user.role), password_hash, format_utc(now))

        def insert(conn: Connection) -> None:
            cursor = conn.execute(
                f"INSERT INTO users ({USER_COLUMNS}) VALUES (?, ?, ?, ?, 0, NULL)"
                " ON CONFLICT (username) DO NOTHING",
                params,
            )
            if cursor.rowcount == 0:
                raise Conflict("user_exists", f"user {username!r} already exists")

        await self._write(insert)
        return user

    async def get_user(self, username: str) -> User | None:
        rows = await self._read(f"SELECT {USER_COLUMNS} FROM users WHERE username = ?", (username,))
        return user_of(rows[0]) if rows else None

    async def set_password(self, username: str, password_hash: str) -> None:
        """Raises ``NotFound`` for an unknown user."""
        await self._update_user(username, "password_hash", password_hash)

    async def set_role(self, username: str, role: Role) -> None:
        """Raises ``NotFound`` for an unknown user."""
        await self._update_user(username, "role", str(Role(role)))

    async def set_disabled(self, username: str, disabled: bool) -> None:
        """Raises ``NotFound`` for an unknown user."""
        await self._update_user(username, "disabled", int(disabled))

    async def set_coverage(self, username: str, car_parks: Sequence[str] | None) -> None:
        """The car parks whose calls the user answers (None: all). Raises ``NotFound``
        for an unknown user."""
        coverage = None if car_parks is None else json.dumps(list(car_parks), ensure_ascii=False)
        await self._update_user(username, "coverage", coverage)

    async def _update_user(self, username: str, column: str, value: str | int | None) -> None:
        def update(conn: Connection) -> None:
            cursor = conn.execute(
                f"UPDATE users SET {column} = ? WHERE username = ?", (value, username)
            )
            if cursor.rowcount == 0:
                raise NotFound("unknown_user", f"no user {username!r}")
            changed(conn, ChangeKind.USER, username, self._changes_kept)

        await self._write(update)

    async def list_users(self) -> list[User]:
        rows = await self._read(f"SELECT {USER_COLUMNS} FROM users ORDER BY username")
        return [user_of(row) for row in rows]

    # -------------------------------------------------------------- sessions

    async def create_session(self, session: Session) -> None:
        """Raises ``NotFound`` for an unknown user, ``Conflict`` for a reused token."""
        params = (
            session.token_hash,
            session.username,
            session.csrf_token,
            format_utc(session.created_at),
            format_utc(session.expires_at),
        )

        def insert(conn: Connection) -> None:
            known = conn.execute(
                "SELECT 1 FROM users WHERE username = ?", (session.username,)
            ).fetchone()
            if known is None:
                raise NotFound("unknown_user", f"no user {session.username!r}")
            cursor = conn.execute(
                f"INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (token_hash) DO NOTHING",
                params,
            )
            if cursor.rowcount == 0:
                raise Conflict("session_exists", "a session with this token already exists")

        await self._write(insert)

    async def get_session(self, token_hash: str) -> Session | None:
        """Returns the session even if it has expired: the caller judges with its ``now``."""
        rows = await self._read(
            f"SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = ?", (token_hash,)
        )
        if not rows:
            return None
        token, username, csrf, created_at, expires_at = rows[0]
        return Session(token, username, csrf, parse_utc(created_at), parse_utc(expires_at))

    async def delete_session(self, token_hash: str) -> None:
        """Deleting a session that is already gone is not an error: logout is idempotent."""

        def delete(conn: Connection) -> None:
            if conn.execute("DELETE FROM sessions WHERE token_hash = ?", (token_hash,)).rowcount:
                changed(conn, ChangeKind.SESSION, token_hash, self._changes_kept)

        await self._write(delete)

    async def delete_user_sessions(self, username: str) -> int:
        """Log a user out everywhere, e.g. after a password or role change."""

        def delete(conn: Connection) -> int:
            ended = conn.execute("DELETE FROM sessions WHERE username = ?", (username,)).rowcount
            changed(conn, ChangeKind.USER, username, self._changes_kept)
            return int(ended)

        return await self._write(delete)

    async def delete_expired_sessions(self, now: datetime) -> int:
        cutoff = format_utc(now)

        def delete(conn: Connection) -> int:
            return conn.execute("DELETE FROM sessions WHERE expires_at <= ?", (cutoff,)).rowcount

        return await self._write(delete)
