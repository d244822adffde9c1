"""HTTP Digest authentication as a camera's web server does it (RFC 7616, MD5 with
qop=auth, the scheme Hikvision and Dahua cameras challenge with).

The server side only: the lane's side is httpx's ``DigestAuth``, which this checks. A
nonce lives ``nonce_ttl`` seconds; a request with a right answer on an expired nonce is
challenged again with ``stale=true`` (RFC 7616 §3.3), so a client that keeps a nonce
must take the new one without asking for the password again. A wrong password is
challenged forever, as a camera does (the lane must stop and say so, not retry it).
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# How a device gone wrong answers, its answer followed by whitespace (which an XML
# document's root, or a CGI's "OK", may have after it): ``drip``, a byte at a time,
# each before a client's read would time out, the whole far slower than any request
# should take; ``huge``, far more than any client should take; ``gzip``, the answer
# and 64 MB after it compressed into a few hundred KB, which the client did not ask for.
Fault = Literal["drip", "huge", "gzip"]
DRIP_EVERY = 0.2  # seconds between bytes
PADDING: dict[Fault, int] = {"drip": 200, "huge": 64 * 1024 * 1024, "gzip": 64 * 1024 * 1024}

_PARAM = re.compile(r'(\w+)=(?:"((?:[^"\\]|\\.)*)"|([^,\s]+))')


def _md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def params(header: str) -> dict[str, str]:
    """The parameters of a ``Digest`` credentials header."""
    return {m[1].lower(): (m[2] if m[2] else m[3] or "") for m in _PARAM.finditer(header)}


@dataclass
class DigestGuard:
    realm: str
    user: str
    password: str
    nonce_ttl: float = 30.0
    clock: Callable[[], float] = time.monotonic
    refused: int = 0  # requests answered 401 for a wrong answer, not for a missing one
    _nonces: dict[str, float] = field(default_factory=dict)
    _counts: dict[str, int] = field(default_factory=dict)

    def challenge(self, *, stale: bool = False) -> str:
        nonce = secrets.token_hex(16)
        self._nonces[nonce] = self.clock()
        self._counts[nonce] = 0
        extra = ", stale=true" if stale else ""
        return (
            f'Digest realm="{self.realm}", qop="auth", nonce="{nonce}", '
            f'opaque="{secrets.token_hex(8)}", algorithm=MD5{extra}'
        )

    def check(self, method: str, uri: str, authorization: str | None) -> str | None:
        """None when the request may pass; else the ``WWW-Authenticate`` to answer 401."""
        if not authorization or not authorization.lower().startswith("digest "):
            return self.challenge()
        given = params(authorization[7:])
        nonce = given.get("nonce", "")
        issued = self._nonces.get(nonce)
        if issued is None or given.get("realm") != self.realm or given.get("uri") != uri:
            self.refused += 1
            return self.challenge()
        ha1 = _md5(f"{self.user}:{self.realm}:{self.password}")
        ha2 = _md5(f"{method}:{uri}")
        expected = _md5(f"{ha1}:{nonce}:{given.get('nc', '')}:{given.get('cnonce', '')}:auth:{ha2}")
        nc = given.get("nc", "")
        count = int(nc, 16) if re.fullmatch(r"[0-9a-fA-F]{8}", nc) else 0
        right = (
            given.get("username") == self.user
            and given.get("qop") == "auth"
            and secrets.compare_digest(given.get("response", ""), expected)
        )
        if not right or count <= self._counts[nonce]:
            self.refused += 1
            return self.challenge()
        if self.clock() - issued > self.nonce_ttl:
            del self._nonces[nonce], self._counts[nonce]
            return self.challenge(stale=True)
        self._counts[nonce] = count
        return None


class Guarded:
    """An emulated device's app behind Digest, then behind its slowness (``delay()``
    seconds before each answer, for a test that makes the device slow) and its
    ``fault()``, which, where set, changes how each answer is sent."""

    def __init__(
        self,
        app: ASGIApp,
        guard: DigestGuard,
        delay: Callable[[], float],
        fault: Callable[[], Fault | None] = lambda: None,
    ) -> None:
        self.app = app
        self.guard = guard
        self.delay = delay
        self.fault = fault

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        uri = scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            uri += "?" + scope["query_string"].decode("latin-1")
        authorization = dict(scope["headers"]).get(b"authorization", b"").decode("latin-1")
        challenge = self.guard.check(scope["method"], uri, authorization or None)
        if challenge is not None:
            await Response(b"", 401, headers={"WWW-Authenticate": challenge})(scope, receive, send)
            return
        if delay := self.delay():
            await asyncio.sleep(delay)  # the device's own slowness, which the test set
        fault = self.fault()
        if fault is None:
            await self.app(scope, receive, send)
            return
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)

        await self.app(scope, receive, keep)
        start, body = answer[0], b"".join(m.get("body", b"") for m in answer[1:])
        padding = PADDING[fault]
        headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
        if fault == "gzip":
            packed = gzip.compress(body + b" " * padding)
            headers += [(b"content-encoding", b"gzip"), (b"content-length", b"%d" % len(packed))]
            await send({**start, "headers": headers})
            await send({"type": "http.response.body", "body": packed})
            return
        headers.append((b"content-length", str(len(body) + padding).encode()))
        await send({**start, "headers": headers})
        if fault == "drip":
            await _drip(body + b" " * padding, receive, send)
            return
        await send({"type": "http.response.body", "body": body, "more_body": True})
        chunk = b" " * (1 << 16)
        for _ in range(padding // len(chunk)):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})


async def _drip(body: bytes, receive: Receive, send: Send) -> None:
    """``body`` a byte every ``DRIP_EVERY`` seconds (the time is the fault), until it is
    sent or the client hangs up."""

    async def hung_up() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    gone = asyncio.ensure_future(hung_up())
    try:
        for index in range(len(body)):
            more = index + 1 < len(body)
            await send(
                {"type": "http.response.body", "body": body[index : index + 1], "more_body": more}
            )
            if more:
                await asyncio.wait([gone], timeout=DRIP_EVERY)
                if gone.done():
                    return
    finally:
        gone.cancel()
