"""Who is asking: usernames, passwords and session tokens.

The HTTP layer (``console.api``, ``console.login``) reads cookies and headers and asks
these. Password checks go through :class:`PasswordChecker`, never straight onto the
event loop.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import math
import re
import secrets
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from .errors import Busy

# RFC 6750's b64token: what a bearer token is made of (the metrics token).
BEARER_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")

# Argon2id with the library's RFC 9106 "low memory" profile (64 MiB, 3 passes): about
# 0.2 s of CPU a check on the development machine, slow enough to make offline guessing
# expensive, fast enough for a login page.
_hasher = PasswordHasher()


@functools.cache
def _decoy_hash() -> str:
    """Checked against when the username is unknown, so a login takes as long for a
    missing user as for a wrong password and does not reveal which accounts exist.
    Made on a checker's thread as it starts (``PasswordChecker``), not at import: every
    ``seat`` command imports this module, and one hash was most of a command's start."""
    return _hasher.hash(secrets.token_urlsafe(16))


MIN_PASSWORD_LENGTH = 10
USERNAME_MAX = 32
USERNAME_RULE = f"a username is 1-{USERNAME_MAX} letters, digits and _, not starting with a digit"


def valid_username(name: str) -> bool:
    """The one rule for usernames, for ``seat user add`` and for the login form alike,
    so a login can refuse, before any check, the log or the ledger, a name no account
    can have. Python's identifier rule keeps out spaces, punctuation and control
    characters and allows Chinese names; NFKC form (as Python normalises identifiers)
    keeps out look-alikes such as full-width letters."""
    return (
        len(name) <= USERNAME_MAX
        and name.isidentifier()
        and unicodedata.normalize("NFKC", name) == name
    )


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValueError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return _hasher.hash(password)


def check_password(password_hash: str | None, password: str) -> bool:
    try:
        return (
            _hasher.verify(password_hash or _decoy_hash(), password) and password_hash is not None
        )
    except (VerificationError, InvalidHashError):
        return False


PasswordCheck = Callable[[str | None, str], bool]


class PasswordChecker:
    """Checks passwords on ``workers`` threads, never on the event loop, with at most
    ``queue`` more waiting; beyond that it refuses with :class:`Busy`.

    Argon2 is slow and memory-hard on purpose (0.2-0.8 s and 64 MiB a check here), and
    argon2-cffi releases the GIL while it runs, so a thread pool keeps lanes, media and
    the console served during a burst of logins. The bound keeps a login storm from
    taking every core and memory, and keeps a waiting login's wait short: a refused one
    is told when to try again rather than queued without limit.
    """

    def __init__(self, workers: int, queue: int, check: PasswordCheck = check_password) -> None:
        if workers < 1 or queue < 0:
            raise ValueError("a password checker needs at least 1 worker and a queue >= 0")
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="seat-password")
        self._pool.submit(_decoy_hash)  # before the first login asks for it
        self._workers = workers
        self._capacity = workers + queue
        self._check = check
        self._admitted = 0
        # Seconds one check takes, as measured (moving average); guessed until then.
        self._check_s = 0.25

    @property
    def admitted(self) -> int:
        """Checks running or waiting."""
        return self._admitted

    async def check(self, password_hash: str | None, password: str) -> bool:
        if self._admitted >= self._capacity:
            raise Busy(
                "busy",
                "too many logins are being checked; try again shortly",
                retry_after=self.retry_after(),
            )
        self._admitted += 1
        try:
            loop = asyncio.get_running_loop()
            ok, seconds = await loop.run_in_executor(
                self._pool, _timed, self._check, password_hash, password
            )
        finally:
            self._admitted -= 1
        self._check_s += 0.2 * (seconds - self._check_s)
        return ok

    def retry_after(self) -> int:
        """Whole seconds until the checks admitted now are likely done."""
        return max(1, math.ceil(self._admitted * self._check_s / self._workers))

    def close(self) -> None:
        """Stop the threads; checks still waiting are dropped."""
        self._pool.shutdown(wait=False, cancel_futures=True)


def _timed(check: PasswordCheck, password_hash: str | None, password: str) -> tuple[bool, float]:
    started = time.perf_counter()
    ok = check(password_hash, password)
    return ok, time.perf_counter() - started


def new_token() -> str:
    """A bearer secret: a session cookie or a lane link token (256 bits)."""
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    """Tokens are random and long, so one SHA-256 is enough to store them safely; a slow
    password hash would only cost CPU on every request and every lane reconnect."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def token_matches(token: str, stored_hash: str) -> bool:
    return hmac.compare_digest(token_hash(token), stored_hash)
