"""Accounts and lanes as an operator manages them: the services behind ``seat user`` and
``seat lanes``, on any ``Store``. Each change is audited, and each is checked here with
the rules the centre keeps at its doors, so the CLI cannot store what the lane link or
the login page would refuse."""

from __future__ import annotations

import getpass
from datetime import UTC, datetime

from gates.textrules import TextError, check_text, is_ident

from .auth import USERNAME_RULE, hash_password, new_token, token_hash, valid_username
from .errors import BadRequest
from .ledger import AuditAction, AuditRecord
from .models import Direction, LaneRecord, Role
from .store import Store

# What a console column and an LED line can show of a lane's names.
NAME_MAX = 64


def cli_actor() -> str:
    """CLI changes are made by whoever holds a shell on the centre; name them."""
    try:
        return f"cli:{getpass.getuser()}"
    except OSError:
        return "cli"


def _password_hash(password: str) -> str:
    try:
        return hash_password(password)
    except ValueError as exc:
        raise BadRequest("weak_password", str(exc)) from None


async def add_user(store: Store, username: str, role: Role, password: str) -> None:
    if not valid_username(username):
        raise BadRequest("invalid_username", USERNAME_RULE)
    await store.add_user(username, role, _password_hash(password), datetime.now(UTC))
    await store.append(
        AuditRecord(
            actor=cli_actor(),
            action=AuditAction.USER_ADDED,
            detail={"username": username, "role": role.value},
        )
    )


async def set_password(store: Store, username: str, password: str) -> None:
    await store.set_password(username, _password_hash(password))
    await _user_changed(store, username, {"change": "password"})


async def set_role(store: Store, username: str, role: Role) -> None:
    await store.set_role(username, role)
    await _user_changed(store, username, {"change": "role", "role": role.value})


async def set_disabled(store: Store, username: str, disabled: bool) -> None:
    await store.set_disabled(username, disabled)
    await _user_changed(store, username, {"change": "disabled" if disabled else "enabled"})


async def set_coverage(store: Store, username: str, car_parks: list[str] | None) -> None:
    """The car parks whose calls the user answers (None: every one). Their sessions
    stand: a running centre hears of the change and routes by it from then on."""
    if car_parks is not None:
        for park in car_parks:
            _check_name("car park", park)
        car_parks = list(dict.fromkeys(car_parks))
    await store.set_coverage(username, car_parks)
    await store.append(
        AuditRecord(
            actor=cli_actor(),
            action=AuditAction.USER_CHANGED,
            detail={"username": username, "change": "coverage", "car_parks": car_parks},
        )
    )


async def _user_changed(store: Store, username: str, change: dict[str, str]) -> None:
    """Audit a change to an account and end its sessions, so a new password or a lower
    role takes effect now, not at the next login."""
    ended = await store.delete_user_sessions(username)
    await store.append(
        AuditRecord(
            actor=cli_actor(),
            action=AuditAction.USER_CHANGED,
            detail={"username": username, **change, "sessions_ended": ended},
        )
    )


def check_lane(lane_id: str, name: str, car_park: str) -> None:
    """The lane link's rule for ids, and one line of text for the names."""
    if not is_ident(lane_id):
        raise BadRequest(
            "invalid_lane_id",
            f"a lane id is 1-64 of A-Z a-z 0-9 _ . : - starting with a letter or digit,"
            f" not {lane_id!r}",
        )
    for field, value in (("name", name), ("car park", car_park)):
        _check_name(field, value)


def _check_name(field: str, value: str) -> None:
    """One line of text that shows something, as a console column and an LED line can."""
    try:
        check_text(value, max_len=NAME_MAX)
    except TextError as exc:
        raise BadRequest("invalid_lane_name", f"the lane's {field} {exc}") from None
    if not value.strip():
        raise BadRequest("invalid_lane_name", f"the lane's {field} is empty")


async def put_lane(
    store: Store, lane_id: str, name: str, car_park: str, direction: Direction
) -> str:
    """Register (or re-key) a lane; returns its new link token, shown only this once."""
    check_lane(lane_id, name, car_park)
    token = new_token()
    existed = await store.get_lane(lane_id) is not None
    await store.put_lane(LaneRecord(lane_id, name, car_park, direction, token_hash(token)))
    await store.append(
        AuditRecord(
            actor=cli_actor(),
            action=AuditAction.LANE_TOKEN_ROTATED if existed else AuditAction.LANE_ADDED,
            lane=lane_id,
            detail={"name": name, "car_park": car_park, "direction": direction.value},
        )
    )
    return token
