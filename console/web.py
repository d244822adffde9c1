"""HTTP plumbing shared by the endpoints: JSON bodies, errors, sessions, headers."""

from __future__ import annotations

import hmac
import ipaddress
import json
import logging
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection, Request
from starlette.responses import JSONResponse as _StarletteJSONResponse
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gates.textrules import TextError, loads, parse_count

from .auth import token_hash
from .directory import Directory
from .errors import (
    BadRequest,
    ConsoleError,
    Forbidden,
    NotAuthenticated,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from .models import Role, Session, User
from .settings import ProxyNetwork

log = logging.getLogger("seat.console")

SESSION_COOKIE = "seat_session"
CSRF_HEADER = "x-csrf-token"


def encode_json(value: Any) -> str:
    """JSON text that always encodes as UTF-8. Input is checked where it enters
    (``gates.textrules``), but a lone surrogate that got into the centre's state anyway
    must cost one garbled field, not the lane list and every console stream: such text
    is written with its unencodable code points escaped, and logged as the defect it is."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        log.error("console.json.unencodable_text error=%r", exc)
        text = json.dumps(_escaped(value), ensure_ascii=False, separators=(",", ":"))
    return text


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_escaped(key): _escaped(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_escaped(item) for item in value]
    return value


class JSONResponse(_StarletteJSONResponse):
    """Every JSON body of the API, through ``encode_json``."""

    def render(self, content: Any) -> bytes:
        return encode_json(content).encode("utf-8")


class AuditedRead(Route):
    """A GET whose every answer is written in the ledger first (an export, a sticker).
    Starlette answers HEAD with any GET route, which here would write the entry and
    send nothing; this route answers HEAD 405."""

    def __init__(self, path: str, endpoint: Callable[..., Any]) -> None:
        super().__init__(path, endpoint, methods=["GET"])
        self.methods = {"GET"}


def error_response(error: ConsoleError) -> JSONResponse:
    body: dict[str, Any] = {"error": error.code, "detail": error.detail}
    body.update(error.extra)
    retry_after = error.extra.get("retry_after")
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return JSONResponse(body, status_code=error.status, headers=headers)


async def on_console_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConsoleError)
    return error_response(exc)


async def on_http_error(request: Request, exc: Exception) -> Response:
    """Starlette's own 404/405 in the API's error shape, with its headers (a 405's
    ``Allow``)."""
    assert isinstance(exc, HTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    body = {"error": code, "detail": str(exc.detail)}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


async def read_json(request: Request, limit: int) -> object:
    """The request's JSON body, refusing non-JSON and bodies over ``limit`` bytes
    without reading more than that."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        raise UnsupportedMediaType("unsupported_media_type", "send Content-Type: application/json")
    declared = request.headers.get("content-length")
    if declared is not None and (parse_count(declared) or 0) > limit:
        raise PayloadTooLarge("too_large", f"the body is limited to {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise PayloadTooLarge("too_large", f"the body is limited to {limit} bytes")
    try:
        return loads(bytes(body))
    except TextError as exc:
        raise BadRequest("bad_request", f"the body is not valid JSON text: {exc}") from None


async def authenticate(conn: HTTPConnection, directory: Directory) -> tuple[User, Session]:
    """The logged-in user behind the session cookie, or ``NotAuthenticated``."""
    token = conn.cookies.get(SESSION_COOKIE)
    if not token:
        raise NotAuthenticated("not_authenticated", "log in first")
    session = await directory.session(token_hash(token))
    if session is None or session.expires_at <= datetime.now(UTC):
        raise NotAuthenticated("not_authenticated", "the session has ended; log in again")
    user = await directory.user(session.username)
    if user is None or user.disabled:
        raise NotAuthenticated("not_authenticated", "the account is disabled")
    return user, session


def require_role(user: User, needed: Role) -> None:
    if not user.role.allows(needed):
        raise Forbidden("forbidden", f"this needs the {needed.value} role")


def check_csrf(request: Request, session: Session) -> None:
    """State-changing requests must echo the session's CSRF token in a header: a page on
    another site can make the browser send our cookie, but cannot read the token."""
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent, session.csrf_token):
        raise Forbidden("csrf", f"missing or wrong {CSRF_HEADER} header")


def same_origin(conn: HTTPConnection) -> bool:
    """WebSockets are exempt from the same-origin policy; refuse cross-site pages."""
    origin = conn.headers.get("origin")
    if origin is None:
        return True  # not a browser
    host = conn.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


def cross_site(request: Request) -> bool:
    """A form another site's page posted to a phone page (pay, no-plate). Those pages
    send no referrer, so a browser's ``Origin`` on their own forms is ``null``;
    ``Sec-Fetch-Site`` still tells (a client that is no browser sends none)."""
    return request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none")


def client_address(conn: HTTPConnection) -> str:
    """The client's address, as :class:`ClientAddress` settled it for this request."""
    return conn.client.host if conn.client else ""


IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def forwarded_client(
    peer: str, forwarded_for: Sequence[str], trusted: Sequence[ProxyNetwork]
) -> str:
    """Who sent a request that reached us from ``peer`` with these X-Forwarded-For
    header values. Each proxy appends the address it heard from, so only the entries a
    trusted proxy added can be believed: walk from the right while the address is a
    trusted proxy, and the first one that is not is the client. A client can write
    anything to the left of that; an entry that is not an address ends the walk at the
    last trusted hop, and with no trusted peer the header is ignored."""
    address = _ip(peer)
    if address is None:
        return peer
    hops = [hop.strip() for value in forwarded_for for hop in value.split(",")]
    while _is_trusted(address, trusted) and hops:
        hop = _ip(hops.pop())
        if hop is None:
            break
        address = hop
    return str(address)


def _ip(text: str) -> IPAddress | None:
    """An address, with an IPv4-mapped IPv6 one (a dual-stack socket's peer) as IPv4."""
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_trusted(address: IPAddress, trusted: Sequence[ProxyNetwork]) -> bool:
    return any(address in network for network in trusted)


class ClientAddress:
    """Settles the client's address for every HTTP and WebSocket request, in the ASGI
    scope where the rest of the centre reads it: the TCP peer, or what a trusted proxy
    says (:func:`forwarded_client`). It replaces uvicorn's proxy-header handling, which
    believes 127.0.0.1 unless told otherwise and takes any text as an address."""

    def __init__(self, app: ASGIApp, trusted: Sequence[ProxyNetwork]) -> None:
        self.app = app
        self.trusted = tuple(trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        client = scope.get("client")
        if self.trusted and client and scope["type"] in ("http", "websocket"):
            forwarded = [
                value.decode("latin-1")
                for name, value in scope["headers"]
                if name == b"x-forwarded-for"
            ]
            host = forwarded_client(client[0], forwarded, self.trusted)
            if host != client[0]:
                scope = {**scope, "client": (host, 0)}
        await self.app(scope, receive, send)


_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'self'; img-src 'self' data: blob:; connect-src 'self' ws: wss:; "
        b"style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


class SecurityHeaders:
    """Adds the console's security headers to every HTTP response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, with_headers)


def int_param(request: Request, name: str, default: int, low: int, high: int) -> int:
    """The query parameter ``name`` as an integer from ``low`` to ``high``; ``default``
    when absent; anything else is 400 ``bad_request``."""
    raw = request.query_params.get(name)
    if raw is None:
        return default
    value = parse_count(raw)
    if value is None or not low <= value <= high:
        raise BadRequest("bad_request", f"{name} must be an integer from {low} to {high}")
    return value
