"""The centre's shared vocabulary: who may act, on which lanes."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from gates.vocabulary import Direction as Direction  # part of a lane record


class Role(enum.StrEnum):
    """Roles in rising order of power; each may do what the ones before it may."""

    AGENT = "agent"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def allows(self, needed: Role) -> bool:
        return self.rank >= needed.rank


@dataclass(frozen=True, slots=True)
class User:
    username: str
    role: Role
    password_hash: str
    created_at: datetime
    disabled: bool = False
    # The car parks whose calls the user answers; None: every one.
    coverage: tuple[str, ...] | None = None

    def covers(self, car_park: str) -> bool:
        """Whether news of ``car_park`` (its alerts, its orders) is the user's: it is in
        their coverage, they cover every car park, or they supervise (who see all)."""
        return (
            self.role.allows(Role.SUPERVISOR) or self.coverage is None or car_park in self.coverage
        )


@dataclass(frozen=True, slots=True)
class Session:
    """A logged-in browser. Only a hash of the cookie's token is kept, so a leaked
    database does not hand out live sessions."""

    token_hash: str
    username: str
    csrf_token: str
    created_at: datetime
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class LaneRecord:
    """A lane the centre knows; ``token_hash`` is the SHA-256 of its link token."""

    id: str
    name: str
    car_park: str
    direction: Direction
    token_hash: str


class ChangeKind(enum.StrEnum):
    USER = "user"  # role, password, disabled, or every session ended; subject: username
    SESSION = "session"  # one session ended (logout); subject: its token hash
    LANE = "lane"  # added, renamed or its token rotated; subject: lane id


@dataclass(frozen=True, slots=True)
class Change:
    """A change to what the centre caches or has let in, made by any process."""

    seq: int
    kind: ChangeKind
    subject: str


class ChangesLost(Exception):
    """The change feed no longer holds every change after ``seq``."""

    def __init__(self, seq: int, oldest: int) -> None:
        super().__init__(f"changes after {seq} are gone; the oldest kept is {oldest}")
        self.seq = seq
        self.oldest = oldest
