"""The lane agent: runs at the car park, dials out to the centre and drives the lane.

Dialling out means it works behind NAT and on 4G. It reconnects with capped, jittered
backoff for ever (a centre restart is routine), unless a newer connection with its token
took the lane (4409), and carries out commands through the lane's driver. Given several
centres, it moves to the next at once when one fails (``gates.lane.rotation``). Protocol
decisions live in ``LaneSession``; this module moves bytes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from gates.backoff import Backoff
from gates.lane.drivers import CallHolder, DriverRefused, LaneDriver, LaneEvent, LinkWatcher
from gates.lane.rotation import Rotation, dial_order
from gates.lane.session import (
    Action,
    Execute,
    HangUp,
    LaneSession,
    Pressed,
    Problem,
    Publish,
    State,
)
from gates.lane.targets import Target, resolve
from gates.protocol import LINK_PATH, MAX_MESSAGE_BYTES, CloseCode, Display, Media, OpenGate
from gates.wire import Message


class Uplink(Protocol):
    """The lane's camera and intercom, as the agent drives them (``media.lane``'s
    ``Publisher``): what the centre's latest ``media`` message asks for, with the centre
    it came from (the stream is served there), and a stop when the link drops, since the
    centre then forgets the stream."""

    def want(self, media: Media, link: Target) -> None: ...

    def stop(self) -> None: ...

    async def run(self, report: Callable[[LaneEvent], None]) -> None: ...


log = logging.getLogger("seat.lane")

# The refusal of a command the lane's own code failed on.
AGENT_FAILED = "lane_agent_failed"


def link_url(server: str) -> str:
    """The lane-link WebSocket URL of a centre given as http(s):// or ws(s)://."""
    parts = urlsplit(server)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise SystemExit(f"the centre URL must be http(s)://host[:port], not {server!r}")
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + LINK_PATH, "", ""))


class LaneReplaced(Exception):
    """The centre closed this agent's link with 4409: a newer connection with the same
    token is now the lane. Redialling would take the lane back and be taken over in turn,
    for ever, so the agent stops and says so."""

    def __init__(self, lane: str) -> None:
        super().__init__(
            f"lane {lane}: another connection with this lane's token took it over (4409); "
            "stopping rather than take it back. Is a second agent running for this lane?"
        )
        self.lane = lane


class LaneAgent:
    def __init__(
        self,
        links: list[str],
        session: LaneSession,
        driver: LaneDriver,
        backoff: Backoff | None = None,
        publisher: Uplink | None = None,
    ) -> None:
        """``links``: the lane-link URLs (``link_url``) of the centres this lane may use,
        any of them as good as another, the first dialled first (``dial_order``)."""
        if isinstance(links, str):  # a lone URL would be dialled character by character
            raise TypeError("links is a list of URLs, not one URL")
        if not links:
            raise ValueError("a lane agent needs at least one centre")
        self.links = dial_order(session.lane, links)
        # Where the link is, or is being dialled: the media connection follows it.
        self.target: Target | None = None
        self._last_online: Target | None = None
        self.session = session
        self.driver = driver
        self.backoff = backoff or Backoff()
        # The camera and intercom; without one the lane has no media and says so when
        # the centre asks for it.
        self.publisher = publisher
        self.connected = asyncio.Event()
        # One writer per connection sends everything, so messages leave in the order the
        # session produced them (an ack always before its done).
        self._outbox: asyncio.Queue[Message] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def run(self) -> None:
        """Serve the lane until cancelled. If the driver fails, so does the agent: a
        lane that keeps its link up with dead hardware behind it would look healthy.
        It also ends, with ``LaneReplaced``, when a newer connection takes the lane."""
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self.driver.run(self._on_event))
                tasks.create_task(self._keep_linked())
                if self.publisher is not None:
                    tasks.create_task(self.publisher.run(self._on_event))
        finally:
            for task in list(self._tasks):
                task.cancel()

    async def _keep_linked(self) -> None:
        rotation: Rotation[Target] = Rotation()
        while True:
            if rotation.starting:
                rotation.renew(await resolve(self.links))
            target = rotation.current
            if await self._connect_once(target):
                rotation.online()
            if rotation.missed():
                delay = self.backoff.next()
                log.info(
                    "lane.link.all_failed lane=%s centres=%d wait_s=%.2f",
                    self.session.lane,
                    len(rotation.targets),
                    delay,
                )
                await asyncio.sleep(delay)  # reconnect pacing: real time is the point
            else:
                log.info(
                    "lane.link.next lane=%s failed=%s next=%s",
                    self.session.lane,
                    target,
                    rotation.current,
                )

    async def _connect_once(self, target: Target) -> bool:
        """One connection's life; True if the centre welcomed the lane on it."""
        loop = asyncio.get_running_loop()
        online = False
        # Transport pings at the heartbeat the lane proposes: a centre that stopped
        # answering without closing (its machine lost power, a 4G path went dark) is
        # left within 2.5 heartbeats (a ping, its timeout, the close it will not answer
        # either), as the centre leaves a silent lane.
        heartbeat_s = self.session.proposed_heartbeat_ms / 1000
        self.target = target
        try:
            async with connect(
                target.url,
                max_size=2 * MAX_MESSAGE_BYTES,
                open_timeout=10,
                ping_interval=heartbeat_s,
                ping_timeout=heartbeat_s,
                close_timeout=heartbeat_s / 2,
                compression=None,
                **target.options(),
            ) as ws:
                self._outbox = asyncio.Queue()
                writer = asyncio.create_task(self._write(ws, self._outbox))
                try:
                    self._send(self.session.connected(loop.time()))
                    await self._serve(ws, target)
                finally:
                    online = self.connected.is_set()
                    writer.cancel()
                    await asyncio.gather(writer, return_exceptions=True)
        except ConnectionClosed as exc:
            code = exc.rcvd.code if exc.rcvd else None
            log.warning(
                "lane.link.closed lane=%s centre=%s code=%s reason=%s",
                self.session.lane,
                target,
                code,
                exc,
            )
            if code == CloseCode.UNAUTHORISED:
                # Retrying a refused token at full speed only fills the centre's log.
                self.backoff.attempts = max(self.backoff.attempts, 8)
            elif code == CloseCode.REPLACED:
                raise LaneReplaced(self.session.lane) from None
        except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
            log.warning(
                "lane.link.failed lane=%s centre=%s error=%r", self.session.lane, target, exc
            )
        finally:
            self._outbox = None
            if self.publisher is not None:
                self.publisher.stop()
            self.session.disconnected()
            self.connected.clear()
            if online and isinstance(self.driver, LinkWatcher):
                self.driver.link_changed(False)
        return online

    async def _serve(self, ws: ClientConnection, target: Target) -> None:
        loop = asyncio.get_running_loop()
        while True:
            wait = self.session.next_heartbeat() - loop.time()
            try:
                async with asyncio.timeout(max(wait, 0.0)):
                    raw = await ws.recv()
            except TimeoutError:
                self._send(self.session.tick(loop.time()))
                continue
            self._act(self.session.receive(raw, loop.time()))
            if not self.connected.is_set() and self.session.state is State.OPEN:
                log.info("lane.link.online lane=%s centre=%s", self.session.lane, target)
                if self._last_online not in (None, target):
                    log.warning(
                        "lane.link.failover lane=%s from=%s to=%s",
                        self.session.lane,
                        self._last_online,
                        target,
                    )
                self._last_online = target
                self.backoff.reset()
                self.connected.set()
                if isinstance(self.driver, LinkWatcher):
                    self.driver.link_changed(True)

    def _act(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, Execute):
                self._spawn(self._execute(action))
            elif isinstance(action, Publish):
                if self.publisher is not None and self.target is not None:
                    self.publisher.want(action.media, self.target)
                else:
                    log.warning("lane.media.unavailable lane=%s", self.session.lane)
            elif isinstance(action, Problem):
                log.warning(
                    "lane.link.problem lane=%s code=%s detail=%s",
                    self.session.lane,
                    action.code,
                    action.detail,
                )
            elif isinstance(action, Pressed):
                log.info(
                    "lane.call.pressed lane=%s event_id=%s", self.session.lane, action.call.event_id
                )
            elif isinstance(action, HangUp):
                # A lane whose intercom hangs up by itself (a button, a simulated one) has
                # nothing to do: the centre's call is over either way.
                log.info(
                    "lane.call.over lane=%s event_ids=%s",
                    self.session.lane,
                    ",".join(action.event_ids),
                )
                if isinstance(self.driver, CallHolder):
                    self.driver.end_call(action.event_ids)
            else:
                self._send([action])

    def _send(self, actions: list[Action]) -> None:
        """Queue messages for this connection; with no connection the session has
        already kept what must survive (see ``LaneSession``)."""
        outbox = self._outbox
        for action in actions:
            if isinstance(action, Message) and outbox is not None:
                outbox.put_nowait(action)

    @staticmethod
    async def _write(ws: ClientConnection, outbox: asyncio.Queue[Message]) -> None:
        while True:
            message = await outbox.get()
            await ws.send(message.encode())

    async def _execute(self, execute: Execute) -> None:
        command = execute.command
        refused: str | None = None
        detail: str | None = None
        try:
            if isinstance(command, OpenGate):
                detail = await self.driver.open_gate()
            elif isinstance(command, Display):
                detail = await self.driver.display(command.lines, command.qr)
        except DriverRefused as exc:
            refused = exc.reason
        except Exception:
            # A fault in the lane's own code (a device adapter's bug): the command still
            # ends, or the centre would wait on it for ever. Whether the device acted
            # is not known, and the reason says so.
            log.exception(
                "lane.command.failed lane=%s command_id=%s", self.session.lane, command.command_id
            )
            refused = AGENT_FAILED
        log.info(
            "lane.command.ended lane=%s command_id=%s refused=%s detail=%s",
            self.session.lane,
            command.command_id,
            refused,
            detail,
        )
        now = asyncio.get_running_loop().time()
        self._send(self.session.finished(command.command_id, refused, now, detail or ""))

    def _on_event(self, event: LaneEvent) -> None:
        self._act(self.session.event(event, asyncio.get_running_loop().time()))

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
