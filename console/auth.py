"""Who is asking: passwords, session tokens and login throttling.

Pure functions and classes; the HTTP layer (``console.api``) reads cookies and headers
and asks these.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

# Argon2id with the library's RFC 9106 "low memory" profile: ~50 ms per check here,
# slow enough to make offline guessing expensive, fast enough for a login page.
_hasher = PasswordHasher()
# Checked against when the username is unknown, so a login takes as long for a
# missing user as for a wrong password and does not reveal which accounts exist.
_DECOY_HASH = _hasher.hash(secrets.token_urlsafe(16))

MIN_PASSWORD_LENGTH = 10
USERNAME_MAX = 32


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DECOY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_token() -> str:
    """A bearer secret: a session cookie or a lane link token (256 bits)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens are random and long, so one SHA-256 is enough to store them safely; a slow
    password hash would only cost CPU on every request and every lane reconnect."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(token), stored_hash)


@dataclass
class _Failures:
    count: int = 0
    locked_until: float = 0.0
    last_failed: float = 0.0


@dataclass
class LoginThrottle:
    """Slows password guessing per username and per client address.

    After ``free`` failures each further failure locks the key for ``base_s`` doubled
    each time, up to ``max_s``; a success clears the username's count. Keyed by both so
    one address cannot sweep many accounts and many addresses cannot hammer one.
    """

    free: int = 5
    base_s: float = 30.0
    max_s: float = 900.0
    _keys: dict[str, _Failures] = field(default_factory=dict)

    def retry_after(self, keys: tuple[str, ...], now: float) -> float:
        """Seconds until any of ``keys`` may try again; 0 when all may now."""
        waits = [self._keys[k].locked_until - now for k in keys if k in self._keys]
        return max([0.0, *waits])

    def failed(self, keys: tuple[str, ...], now: float) -> None:
        for key in keys:
            entry = self._keys.setdefault(key, _Failures())
            entry.count += 1
            entry.last_failed = now
            if entry.count >= self.free:
                lock = min(self.max_s, self.base_s * 2 ** (entry.count - self.free))
                entry.locked_until = now + lock

    def succeeded(self, key: str) -> None:
        self._keys.pop(key, None)

    def forget_before(self, now: float) -> None:
        """Drop keys quiet for ``max_s`` past their lock, so the table does not grow forever."""
        stale = [
            k
            for k, v in self._keys.items()
            if max(v.locked_until, v.last_failed) + self.max_s < now
        ]
        for key in stale:
            del self._keys[key]
