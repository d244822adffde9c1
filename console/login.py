"""Deciding a login: the throttle, the password check off the event loop, and the
ledger entries for failures and attacks. The HTTP handler (``console.api``) parses the
request and makes the session."""

from __future__ import annotations

import logging
import math

from .audit import AuditLog
from .auth import USERNAME_RULE, PasswordChecker, valid_username
from .directory import Directory
from .errors import BadRequest, NotAuthenticated, Throttled
from .ledger import AuditAction, AuditRecord
from .models import User
from .throttle import Throttle

log = logging.getLogger("seat.auth")

# Who writes a login_attack entry: the centre raises it, naming the account and address.
ATTACK_ACTOR = "centre"


class Logins:
    def __init__(
        self,
        directory: Directory,
        audit: AuditLog,
        passwords: PasswordChecker,
        throttle: Throttle,
    ) -> None:
        self.directory = directory
        self.audit = audit
        self.passwords = passwords
        self.throttle = throttle

    async def verify(self, username: str, password: str, remote: str) -> User:
        """The account whose password this is, or an error: ``BadRequest`` for a name no
        account can have, ``Throttled`` without a check, ``Busy`` when too many checks
        are waiting or the throttle's shared counts cannot be reached,
        ``NotAuthenticated`` for a wrong password (recorded)."""
        if not valid_username(username):
            raise BadRequest("invalid_username", USERNAME_RULE)
        attempt = await self.throttle.admit(username, remote)
        if attempt.wait > 0:
            raise Throttled(
                "throttled", "too many failed logins; wait", retry_after=math.ceil(attempt.wait)
            )
        try:
            user = await self.directory.user(username)
            ok = await self.passwords.check(user.password_hash if user else None, password)
        except BaseException:
            await self.throttle.abandoned(attempt)
            raise
        if user is not None and ok and not user.disabled:
            await self.throttle.succeeded(attempt)
            return user
        alarms = await self.throttle.failed(attempt)
        await self.audit.record(
            AuditRecord(actor=username, action=AuditAction.LOGIN_FAILED, detail={"remote": remote})
        )
        for alarm in alarms:
            log.warning(
                "auth.login.attack trigger=%s username=%s remote=%s user_failures=%d "
                "address_failures=%d",
                alarm.trigger,
                alarm.username,
                alarm.address,
                alarm.user_failures,
                alarm.address_failures,
            )
            await self.audit.record(
                AuditRecord(
                    actor=ATTACK_ACTOR, action=AuditAction.LOGIN_ATTACK, detail=alarm.detail()
                )
            )
        raise NotAuthenticated("bad_credentials", "wrong username or password")

    def close(self) -> None:
        self.passwords.close()
