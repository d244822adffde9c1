"""The centre's end of the lane link: the WebSocket endpoint and the connected lanes.

It moves bytes between sockets and the pure machines (``LinkSession`` per connection,
one ``CommandBook`` for all lanes) and carries out what they return. Nothing here
decides protocol rules.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime

from starlette.websockets import WebSocket, WebSocketDisconnect

from gates.centre.commands import CommandBook, Resolved, Transmit
from gates.centre.crash import closed_on_crash
from gates.centre.link import (
    Action,
    Authenticate,
    Close,
    Deliver,
    Flooding,
    HeartbeatPolicy,
    LinkSession,
    Phase,
    RatePolicy,
    Send,
    Takeovers,
)
from gates.centre.status import ActiveFault, LaneStatus, fold, with_fault, without_fault
from gates.errors import LinkError
from gates.protocol import Ack, Command, Done, Error, LaneMessage, Refused
from gates.vocabulary import GateState
from gates.wire import Message

log = logging.getLogger("seat.gates")

Verifier = Callable[[str, str], Awaitable[bool]]
# Whether this server may hold the lane's link (several servers of one centre: it took
# the lane's lease); asked after the lane's token passed, before it is welcomed.
Claimer = Callable[[str], Awaitable[bool]]
StatusListener = Callable[[LaneStatus], None]
MessageListener = Callable[[str, LaneMessage], None]
# Told of each command's one outcome and the seconds from its issue to it.
OutcomeListener = Callable[[Resolved, float], None]

# A fault the centre raises itself, shown in the console like a lane's own.
LINK_REPLACED = "link_replaced"


@dataclass(frozen=True, slots=True)
class _Waiter:
    future: asyncio.Future[Resolved]
    issued: float  # the loop's time


class _Connection:
    def __init__(self, websocket: WebSocket, session: LinkSession) -> None:
        self.websocket = websocket
        self.session = session
        self.token = ""  # the token it was let in with, checked again on a rotation


class LaneHub:
    def __init__(
        self,
        verify: Verifier,
        policy: HeartbeatPolicy | None = None,
        rate: RatePolicy | None = None,
    ) -> None:
        self.verify = verify
        self.claim: Claimer | None = None
        self.policy = policy or HeartbeatPolicy()
        self.rate = rate or RatePolicy()
        self.book = CommandBook()
        self._connections: dict[str, _Connection] = {}
        self._status: dict[str, LaneStatus] = {}
        self._waiters: dict[str, _Waiter] = {}
        self._listeners: set[StatusListener] = set()
        self._message_listeners: set[MessageListener] = set()
        self._outcome_listeners: set[OutcomeListener] = set()
        self.takeovers = Takeovers()

    # ----------------------------------------------------------------- queries

    def status(self, lane: str) -> LaneStatus:
        return self._status.get(lane) or LaneStatus(lane)

    def online(self) -> list[str]:
        return list(self._connections)

    async def snapshot(self, lane: str) -> bytes | None:
        """The JPEG of the lane's last vehicle; a coroutine, as it is on several servers
        (``console.cluster.lanes``), where it may be another server's."""
        return self.status(lane).snapshot

    def subscribe(self, listener: StatusListener) -> Callable[[], None]:
        """Call ``listener`` with each changed lane status; returns the unsubscriber."""
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    def subscribe_messages(self, listener: MessageListener) -> Callable[[], None]:
        """Call ``listener`` with the lane and each valid message it sends (a call button
        pressed, a vehicle seen, a command's reply), after its status took it in;
        returns the unsubscriber. What the centre does about a press is its business."""
        self._message_listeners.add(listener)
        return lambda: self._message_listeners.discard(listener)

    def subscribe_outcomes(self, listener: OutcomeListener) -> Callable[[], None]:
        """Call ``listener`` as each command ends, once, with how long it took from
        ``command`` to its outcome; returns the unsubscriber."""
        self._outcome_listeners.add(listener)
        return lambda: self._outcome_listeners.discard(listener)

    # ---------------------------------------------------------------- commands

    async def command(self, lane: str, command: Command, wait_s: float) -> Resolved:
        """Send ``command`` and wait for its one outcome. Calling again with the same
        ``command_id`` joins the first call instead of sending a second command."""
        loop = asyncio.get_running_loop()
        waiter = self._waiters.get(command.command_id)
        if waiter is None:
            waiter = _Waiter(loop.create_future(), loop.time())
            self._waiters[command.command_id] = waiter
            deadline = waiter.issued + wait_s
            for action in self.book.issue(lane, command, deadline):
                await self._carry_out(action)
            if self.book.is_open(command.command_id):
                loop.call_at(deadline, self._expire)
        # Shielded: a caller that gives up waiting must not cancel the outcome others await.
        return await asyncio.shield(waiter.future)

    def pending(self, command_id: str) -> bool:
        """A command under this id is under way here: a call with it joins it."""
        return command_id in self._waiters

    def _expire(self) -> None:
        for resolved in self.book.expire(asyncio.get_running_loop().time()):
            self._resolve(resolved)

    def _resolve(self, resolved: Resolved) -> None:
        log.info(
            "gate.command.%s lane=%s command_id=%s detail=%s",
            resolved.outcome.value,
            resolved.lane,
            resolved.command_id,
            resolved.detail,
        )
        waiter = self._waiters.pop(resolved.command_id, None)
        if waiter is not None and not waiter.future.done():
            waiter.future.set_result(resolved)
            took = self._now() - waiter.issued
            for listener in list(self._outcome_listeners):
                listener(resolved, took)

    async def _carry_out(self, action: Transmit | Resolved) -> None:
        if isinstance(action, Resolved):
            self._resolve(action)
            return
        connection = self._connections.get(action.lane)
        if connection is None:
            return  # stays open: sent again when the lane is back, or ends at its deadline
        connection.session.commanded()
        try:
            await connection.websocket.send_text(action.command.encode())
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            # The reader of that socket sees the same failure and takes the lane offline.
            log.info("gate.command.send_failed lane=%s error=%r", action.lane, exc)

    async def notify(self, lane: str, message: Message) -> bool:
        """Send a message that states what the centre wants rather than commands (no
        ack, no outcome). False when the lane is offline: the caller sends it again when
        the lane is back, since a lane forgets such state when its link drops."""
        connection = self._connections.get(lane)
        if connection is None:
            return False
        try:
            await connection.websocket.send_text(message.encode())
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            log.info("lane.link.send_failed lane=%s type=%s error=%r", lane, message.TYPE, exc)
            return False
        return True

    async def drop(self, lane: str, replaced: bool = False) -> bool:
        """Stop holding ``lane``'s link: offline here at once, then closed as replaced
        (another server's connection is the lane now) or as unavailable (redial). False
        when it was not connected here."""
        connection = self._connections.get(lane)
        if connection is None:
            return False
        self._leave(connection)
        session = connection.session
        await self._drop(connection, session.replaced() if replaced else session.unavailable())
        return True

    async def reverify(self, lane: str) -> None:
        """Check the connected lane's token again (its record changed: a rotated token
        must not leave the old controller connected); close it with 4401 if it fails."""
        connection = self._connections.get(lane)
        if connection is None or await self.verify(lane, connection.token):
            return
        log.warning("lane.link.revoked lane=%s", lane)
        await self._drop(connection, connection.session.refuse())

    # ---------------------------------------------------------------- the link

    async def serve(self, websocket: WebSocket) -> None:
        """Run one lane connection until it closes."""
        await websocket.accept()
        connection = _Connection(websocket, LinkSession(self._now(), self.policy, self.rate))
        try:
            async with closed_on_crash(websocket, log, "lane.link.crashed"):
                await self._run(connection)
        finally:
            self._leave(connection)

    async def _run(self, connection: _Connection) -> None:
        websocket, session = connection.websocket, connection.session
        loop = asyncio.get_running_loop()
        try:
            while session.phase is not Phase.CLOSED:
                try:
                    async with asyncio.timeout_at(session.deadline):
                        # A lane past its read budget is not read until a batch of it
                        # has refilled: the wait is for that moment, and TCP holds the
                        # lane's frames meanwhile (see ``RatePolicy``).
                        if session.read_after > loop.time():
                            await asyncio.sleep(session.read_after - loop.time())
                        frame = await websocket.receive()
                except TimeoutError:
                    actions = session.expire(loop.time())
                else:
                    if frame["type"] == "websocket.disconnect":
                        break
                    raw = frame.get("text")
                    actions = session.receive(
                        raw if raw is not None else frame["bytes"], loop.time()
                    )
                await self._perform(connection, actions)
        except (WebSocketDisconnect, OSError):
            pass  # the peer went away mid-send; the teardown is the same

    async def _perform(self, connection: _Connection, actions: list[Action]) -> None:
        session = connection.session
        for action in actions:
            if isinstance(action, Send):
                await connection.websocket.send_text(action.message.encode())
            elif isinstance(action, Close):
                log.info(
                    "lane.link.closed lane=%s code=%d reason=%s",
                    session.lane,
                    action.code,
                    action.reason,
                )
                await connection.websocket.close(action.code, action.reason)
            elif isinstance(action, Authenticate):
                hello = action.hello
                if not await self.verify(hello.lane, hello.token):
                    log.warning("lane.link.refused lane=%s", hello.lane)
                    await self._perform(connection, session.refuse())
                elif self.claim is not None and not await self.claim(hello.lane):
                    log.warning("lane.link.unclaimed lane=%s", hello.lane)
                    await self._perform(connection, session.unavailable())
                else:
                    connection.token = hello.token
                    await self._join(connection, session.accept(hello, self._now()))
            elif isinstance(action, Deliver):
                await self._deliver(connection, action)
            elif isinstance(action, Flooding):
                log.warning(
                    "lane.link.rate_limited lane=%s refused=%d per_s=%g burst=%d",
                    session.lane,
                    action.refused,
                    session.rate.per_s,
                    session.rate.burst,
                )

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def _join(self, connection: _Connection, welcome: list[Action]) -> None:
        """Make ``connection`` the lane's, then send it ``welcome``. The lane is online
        here before its welcome leaves: a lane that hears welcome may be watched or sent
        a command at once. Nothing awaits until the welcome is on its way, so it is the
        first thing the connection sends; open commands follow it."""
        lane = connection.session.lane
        assert lane is not None
        previous = self._connections.get(lane)
        # The newest connection wins: a lane controller that rebooted, or whose 4G
        # address changed, reconnects before the centre can see its old TCP connection
        # is dead, and must not be locked out until that connection times out.
        self._connections[lane] = connection
        session = connection.session
        status = replace(
            self.status(lane), online=True, display=session.display, devices=session.devices
        )
        if previous is not None:
            status = self._taken_over(status, previous, connection)
        log.info("lane.link.online lane=%s heartbeat_ms=%d", lane, connection.session.heartbeat_ms)
        resend = self.book.lane_up(lane)
        self._update(status)
        await self._perform(connection, welcome)
        if previous is not None:
            await self._drop(previous, previous.session.replaced())
        for transmit in resend:
            await self._carry_out(transmit)

    def _taken_over(
        self, status: LaneStatus, previous: _Connection, connection: _Connection
    ) -> LaneStatus:
        """Log a takeover and show it on the lane, until its window has passed."""
        now = self._now()
        times = self.takeovers.record(status.lane, now)
        window_min = round(self.takeovers.window_s / 60)
        log.warning(
            "lane.link.replaced lane=%s old_peer=%s new_peer=%s takeovers=%d window_min=%d",
            status.lane,
            _peer(previous.websocket),
            _peer(connection.websocket),
            times,
            window_min,
        )
        asyncio.get_running_loop().call_at(
            now + self.takeovers.window_s, self._takeovers_faded, status.lane
        )
        detail = (
            f"{times} takeover{'s' if times > 1 else ''} in the last {window_min} min: "
            "another connection with this lane's token replaced the one it had. Unless the "
            "lane's controller restarted, two agents are using one token."
        )
        return with_fault(status, ActiveFault(LINK_REPLACED, detail, datetime.now(UTC)))

    def _takeovers_faded(self, lane: str) -> None:
        if self.takeovers.faded(lane, self._now()):
            before = self.status(lane)
            after = without_fault(before, LINK_REPLACED)
            if after is not before:
                self._update(after)

    def _leave(self, connection: _Connection) -> None:
        lane = connection.session.lane
        if lane is None or self._connections.get(lane) is not connection:
            return  # never authenticated, or already replaced by a newer connection
        del self._connections[lane]
        self.book.lane_down(lane)
        log.info("lane.link.offline lane=%s", lane)
        status = self.status(lane)
        self._update(replace(status, online=False, gate=GateState.UNKNOWN, faults=()))

    async def _deliver(self, connection: _Connection, action: Deliver) -> None:
        lane = connection.session.lane
        assert lane is not None
        message = action.message
        try:
            if isinstance(message, Ack):
                self.book.ack(lane, message.command_id)
            elif isinstance(message, Done | Refused):
                refused = message.reason if isinstance(message, Refused) else None
                detail = message.detail if isinstance(message, Done) else ""
                ended = self.book.finish(lane, message.command_id, self._now(), refused, detail)
                self._resolve(ended)
        except LinkError as exc:
            await connection.websocket.send_text(Error(exc.code, exc.detail, message.TYPE).encode())
            return
        before = self.status(lane)
        after = fold(before, message, datetime.now(UTC))
        self._status[lane] = after
        # The message's listeners first: a call button's press starts a call step, which
        # then runs ahead of every console tab sending the lane's new status.
        for listener in list(self._message_listeners):
            listener(lane, message)
        if after is not before:
            self._tell(after)

    def _update(self, status: LaneStatus) -> None:
        self._status[status.lane] = status
        self._tell(status)

    def _tell(self, status: LaneStatus) -> None:
        for listener in list(self._listeners):
            listener(status)

    async def _drop(self, connection: _Connection, actions: list[Action]) -> None:
        """Close a connection other than the one being served; its failing (the peer is
        already gone) must not fail the caller."""
        try:
            await self._perform(connection, actions)
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            log.info("lane.link.close_failed lane=%s error=%r", connection.session.lane, exc)


def _peer(websocket: WebSocket) -> str:
    client = websocket.client
    return f"{client.host}:{client.port}" if client else "unknown"
