"""One server asks another and waits for its answer, over Redis.

A request goes to the asked server's own channel with an id and the asker's name; the
answer comes back on the asker's channel under that id. Pub/sub keeps nothing for a
server that is not subscribed, so a request to a server that is gone is known at once
(no link got it), and one whose server dies before answering ends at the asker's
deadline: either way the asker hears a clear error, never a made-up answer.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from redis.exceptions import RedisError

from gates.textrules import is_ident

from .bounded import CLOSE_WAIT_S, cancel_all
from .envelope import EnvelopeError
from .redis_link import RedisLink
from .request_wire import Reply, Request

log = logging.getLogger("seat.cluster")

Body = dict[str, Any]
Answerer = Callable[[Body], Awaitable[Body]]


class PeerError(Exception):
    """The asked server could not answer: ``code`` says why."""

    def __init__(self, code: str, detail: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail
        self.extra = extra or {}


class PeerGone(PeerError):
    """No server by that name listens: it stopped, or lost its link to Redis."""

    def __init__(self, server: str) -> None:
        super().__init__("peer_gone", f"server {server} is not listening")


class PeerTimeout(PeerError):
    def __init__(self, server: str, op: str, wait_s: float) -> None:
        super().__init__("peer_timeout", f"server {server} did not answer {op} in {wait_s:g} s")


class Unheld(Exception):
    """``ask_holder``: the key names no server (``server`` None), or this one."""

    def __init__(self, server: str | None) -> None:
        super().__init__(f"held by {server or 'no server'}")
        self.server = server


class Refusal(Exception):
    """Raised by an answerer: the asker gets ``PeerError(code, detail)`` with ``extra``
    (the request was understood and said no, e.g. the intercom is taken)."""

    def __init__(self, code: str, detail: str, **extra: object) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.extra = extra


def lane_of(body: Body) -> str:
    """The lane a request names, an id as the lane link allows one (``gates.wire``): a
    request between servers is checked as any input is, whoever sent it."""
    lane = body.get("lane")
    if not isinstance(lane, str) or not is_ident(lane):
        raise Refusal("bad_request", "the request names no valid lane id")
    return lane


class Requests:
    def __init__(self, link: RedisLink) -> None:
        self.link = link
        self._answerers: dict[str, Answerer] = {}
        self._waiting: dict[str, asyncio.Future[Reply]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        link.on_kind(Request, self._on_request)
        link.on_kind(Reply, self._on_reply)

    def answer(self, op: str, answerer: Answerer) -> None:
        """``answerer(body)`` answers requests ``op`` from other servers; a ``Refusal``
        it raises goes back as such, any other failure as ``failed``."""
        self._answerers[op] = answerer

    async def ask(self, server: str, op: str, body: Body, wait_s: float) -> Body:
        """The answer of ``server`` to ``op``. Raises ``PeerGone``, ``PeerTimeout``,
        ``PeerError`` (refused or failed there; ``.extra`` when refused),
        ``RedisError``, or ``EnvelopeError`` for a ``body`` no server would read."""

        async def send(request: Request) -> tuple[str, int]:
            return server, await self.link.send(server, request)

        return await self._exchange(send, op, body, wait_s)

    async def ask_holder(self, key: str, op: str, body: Body, wait_s: float) -> Body:
        """``ask`` the server whose id is the value of ``key`` (a lane's lease), found
        and asked in one round trip to Redis. Raises ``Unheld`` when the key names no
        server or this one, and what ``ask`` raises."""

        async def send(request: Request) -> tuple[str, int]:
            server, receivers = await self.link.send_named(key, request)
            if not server or receivers < 0:
                raise Unheld(server or None)
            return server, receivers

        return await self._exchange(send, op, body, wait_s)

    async def _exchange(
        self,
        send: Callable[[Request], Awaitable[tuple[str, int]]],
        op: str,
        body: Body,
        wait_s: float,
    ) -> Body:
        """Send a request (``send`` names the server it went to and how many links got
        it) and wait for its reply."""
        request_id = secrets.token_hex(8)
        waiter: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._waiting[request_id] = waiter
        server = "?"
        try:
            async with asyncio.timeout(wait_s):
                server, receivers = await send(Request(request_id, op, body))
                if receivers == 0:
                    raise PeerGone(server)
                reply = await waiter
        except TimeoutError:
            raise PeerTimeout(server, op, wait_s) from None
        finally:
            self._waiting.pop(request_id, None)
        if reply.answer is not None:
            return reply.answer
        raise PeerError(reply.code, reply.detail, reply.extra)

    async def close(self) -> None:
        await cancel_all(list(self._tasks), CLOSE_WAIT_S)

    # ----------------------------------------------------------------- incoming

    def _on_reply(self, sender: str, reply: Reply) -> None:
        waiter = self._waiting.get(reply.id)
        if waiter is not None and not waiter.done():
            waiter.set_result(reply)

    def _on_request(self, asker: str, request: Request) -> None:
        task = asyncio.create_task(self._serve(asker, request))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _serve(self, asker: str, request: Request) -> None:
        op = request.op
        answerer = self._answerers.get(op)
        if answerer is None:
            reply = Reply(request.id, None, "bad_request", f"no answer to {op!r}")
        else:
            try:
                reply = Reply(request.id, await answerer(request.args))
            except Refusal as exc:
                reply = Reply(request.id, None, exc.code, exc.detail, dict(exc.extra))
            except Exception as exc:
                log.exception("cluster.request.failed op=%s asker=%s", op, asker)
                reply = Reply(request.id, None, "failed", repr(exc))
        try:
            await self._send(op, asker, reply)
        except EnvelopeError as exc:  # an answer too large to send: the asker hears why
            log.error("cluster.reply.too_large op=%s asker=%s error=%s", op, asker, exc)
            await self._send(op, asker, Reply(request.id, None, "failed", str(exc)))

    async def _send(self, op: str, asker: str, reply: Reply) -> None:
        try:
            await self.link.send(asker, reply)
        except RedisError as exc:
            log.warning("cluster.reply.unsent op=%s asker=%s error=%r", op, asker, exc)
