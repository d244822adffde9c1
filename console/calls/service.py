"""The call service: the call queue (``console.calls.queue``) driven by the real clock,
the lanes' call buttons, the consoles coming and going and the agents' requests, with
every step kept, audited and told.

A step, one at a time (a lock, so steps are stamped and written in the order they ran):

1. the rule runs on the queue with the time now; a refusal raises a ``CallError`` and
   changes nothing;
2. what it changed is written in ONE transaction: the ledger's entries for the step,
   the record of each call it finished, and the queue's whole state after it. A crash
   before the commit loses the step whole (its caller had no answer yet), a crash after
   loses nothing: no call is ever on disk without its state, nor finished without its
   record. If the write fails, the queue is put back as it was before the step and the
   caller gets the error: no audit, no step;
3. then, and only then, it is told: console streams, the lane's intercom floor, the log.
   Rings and their ends alone go out before the write: a ring is an offer, and the
   accept it asks for is a step, which waits behind this one's write. A step not
   written takes them back;
4. the one timer is set again at the queue's next deadline, where ``tick`` runs.

Steps run in a task of their own, so a request whose client went away still completes
its step (its write may already be on disk).

An agent is online while at least one console tab of theirs is open (``/api/stream``)
on any server of the centre (``console.calls.presence``): their first tab on a server
logs them in, covering the car parks of their account (``seat user coverage``);
closing their last everywhere is a disconnect, which keeps a call they hold for the
reconnect grace. Logging out, a disabled account or a changed role close the tabs, so
they are disconnects too. The tabs of a server that died count as closed once its
presence in Redis lapses (``console.cluster.servers``): a server still alive
disconnects their agents then. A server cut from Redis that long logs its agents in
again when its link is back, and shows its supervisors the floor as it stands.

Several servers of one centre step the one queue saved in the store, one step at a
time across them (``console.calls.stepper``).

Gate opens and displays that the holder of a call sends to its lane while answering it
are read from the ledger as they are written, and kept with the call until it finishes;
its record lists them with the outcomes known by then (the ledger has the rest).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from redis.exceptions import RedisError

from gates.centre.hub import LaneHub
from gates.protocol import Call as LaneCall
from gates.protocol import CallOver, LaneMessage
from media.centre.bridge import MediaBridge

from ..audit import AuditLog
from ..cluster.bounded import CLOSE_WAIT_S, bounded
from ..cluster.redis_link import RedisLink
from ..cluster.servers import Servers
from ..directory import Directory
from ..errors import CallError, NotFound, StoreError
from ..ledger import AuditEntry
from ..models import LaneRecord, Role, User
from ..store import Store
from ..streams import Greet, Message, Streams
from .effects import Effect
from .entries import CENTRE
from .floors import Floors
from .model import Agent, AgentState, Call, CallRequest, Settings, Source
from .presence import SharedTabs, Tabs
from .record import Outcome
from .stepper import Rule, Stepper, given
from .views import agent_json
from .wire import CHANNEL

log = logging.getLogger("seat.calls")

# Who places and hangs up a call from a phone (the help sticker's page).
PHONE = "phone"


class CallService(Stepper):
    def __init__(
        self,
        settings: Settings,
        store: Store,
        audit: AuditLog,
        streams: Streams,
        directory: Directory,
        hub: LaneHub,
        bridge: MediaBridge,
        *,
        link: RedisLink | None = None,
        servers: Servers | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(settings, store, audit, streams, Floors(bridge, hub), link, clock)
        self.directory = directory
        self.hub = hub
        self._tabs = Tabs()
        if (link is None) != (servers is None):
            raise ValueError("the calls of several servers need both the link and the servers")
        self.servers = servers
        self._shared = None
        if link is not None and servers is not None:
            self._shared = SharedTabs(link, self._tabs, servers)
        # No sweep for dead servers' tabs before every server has renewed its own since
        # the link came up (a restarted Redis holds none).
        self._sweep_from = float("inf")
        self._renewing: asyncio.Task[None] | None = None
        self._unsubscribe: list[Callable[[], None]] = []

    # ------------------------------------------------------------- life

    async def start(self) -> None:
        """Load the queue as the last run left it; every console is gone but those
        open on other servers of the centre, so the other agents on a call keep it for
        the reconnect grace and the rest go offline. Then listen to the lanes, the
        ledger, the consoles and the other servers."""
        await self._load()
        log.info(
            "calls.started calls=%d answered=%d agents=%d version=%d",
            len(self.queue.open_calls()),
            len(self._held),
            len(self.queue.agents()),
            self._version,
        )
        if self.link is None:
            await self._step(CENTRE, lambda now: self.queue.restored(now))
        else:
            self.link.subscribe(CHANNEL, self._heard)
            self.link.on_up(self._link_up)
            try:
                await self._locked(lambda: self._run(CENTRE, self._absent, early=False))
            except RedisError as exc:  # the first sweep once Redis is back does it
                log.warning("calls.restore.deferred error=%r", exc)
            assert self.servers is not None
            self.servers.after_each_round(self._round)
        self._unsubscribe = [
            self.hub.subscribe_messages(self._lane_message),
            self.audit.subscribe(self._audited),
        ]
        self.streams.set_presence(self)

    async def close(self) -> None:
        """Stop the timer and finish the steps under way; the state stays on disk, and
        this server's tabs leave Redis at once."""
        self._closed = True
        for stop in self._unsubscribe:
            stop()
        if self._timer is not None:
            self._timer.cancel()
        if self._renewing is not None:
            self._renewing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._renewing
        if self._tasks:
            await asyncio.wait(self._tasks)
        if self._shared is not None:
            try:
                await bounded(self._shared.leave(), CLOSE_WAIT_S)
            except (RedisError, TimeoutError) as exc:  # they expire by themselves
                log.warning("calls.presence.left_behind error=%r", exc)

    def subscribe(self, listener: Callable[[], None]) -> Callable[[], None]:
        """Call ``listener`` after each step that changed something is told (a
        driver's help page follows its call so). Returns the unsubscriber."""
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    # ------------------------------------------------------------- callers

    async def lane_call(self, lane_id: str, event_id: str | None = None) -> Call:
        """The lane's call button was pressed."""
        lane = await self._lane(lane_id)
        request = CallRequest(lane.id, lane.car_park, lane.direction, event_id=event_id)
        return await self._place(f"lane:{lane.id}", request)

    async def place_phone_call(self, lane_id: str, *, caller: str | None, note: str = "") -> Call:
        """A driver called from a phone, from the help page of the sticker at ``lane_id``."""
        lane = await self._lane(lane_id)
        request = CallRequest(
            lane.id, lane.car_park, lane.direction, Source.PHONE, caller=caller, note=note
        )
        return await self._place(PHONE, request)

    async def place_hotline(
        self, user: User, lane_id: str, *, caller: str | None, note: str
    ) -> Call:
        """An agent who answered the hotline types the call in, for the lane it is about."""
        lane = await self._lane(lane_id)
        request = CallRequest(
            lane.id, lane.car_park, lane.direction, Source.HOTLINE, caller=caller, note=note
        )
        return await self._place(user.username, request)

    async def hang_up(self, call_id: str) -> Call:
        """The phone page closed: abandoned if unanswered, ended if answered."""
        await self._step(PHONE, lambda now: self.queue.hang_up(call_id, now))
        return self.queue.call(call_id)

    # ------------------------------------------------------------- agents

    async def tab_opened(self, user: User, greet: Greet) -> None:
        """A console tab of ``user`` opened: their first on this server logs them in (a
        reconnect if they hold a call; logging in again changes nothing else); every
        tab is then greeted with what it shows. The other servers learn of the tab
        before the login, so none of them takes the agent for gone meanwhile."""
        name = user.username
        first = self._tabs.opened(name)
        if first and self._shared is not None:
            try:
                await self._shared.mirror(name)
            except RedisError as exc:  # written again at the next renewal
                log.warning("calls.presence.unwritten user=%s error=%r", name, exc)

        async def opened() -> None:
            if first:
                await self._run(name, given(self._login(user)))
            for message in self.teller.greeting(self.queue, name, self._clock()):
                greet(message)

        await self._locked(opened)

    def tab_closed(self, user: User) -> None:
        """Their last tab on this server: a disconnect, unless another server has one."""
        name = user.username
        if not self._tabs.closed(name):
            return
        if self._shared is None:
            self._spawn(self._step(name, lambda now: self.queue.agent_disconnected(name, now)))
            return
        shared = self._shared

        async def gone() -> Rule:
            await shared.mirror(name)
            if name in self._tabs or await shared.elsewhere({name}):
                return lambda now: []
            return lambda now: self.queue.agent_disconnected(name, now)

        self._spawn(self._locked(lambda: self._run(name, gone)))

    async def users_changed(self, usernames: set[str]) -> None:
        """Accounts changed (``console.changes``): agents online take up their new
        coverage. A disabled account or a new role ends their tabs by itself."""
        for name in sorted(usernames):
            user = await self.directory.user(name)
            if name in self._tabs and user is not None and not user.disabled:
                await self._step(name, self._login(user))

    async def set_state(self, user: User, state: AgentState, reason: str = "") -> Agent:
        name = user.username
        chosen = reason if state is AgentState.BREAK else ""
        await self._step(name, lambda now: self.queue.set_state(name, state, now, reason=chosen))
        return self.queue.agent(name)

    # ------------------------------------------------------------- handling

    async def accept(self, user: User, call_id: str) -> Call:
        name = user.username
        await self._step(name, lambda now: self.queue.accept(call_id, name, now))
        return self.queue.call(call_id)

    async def decline(self, user: User, call_id: str) -> Call:
        name = user.username
        await self._step(name, lambda now: self.queue.decline(call_id, name, now))
        return self.queue.call(call_id)

    async def transfer(self, user: User, call_id: str, to: str | None, note: str) -> Call:
        """To agent ``to``, or to the supervisors when ``to`` is None."""
        name = user.username

        def rule(now: float) -> list[Effect]:
            if to is None:
                return self.queue.escalate(call_id, name, now, note=note)
            return self.queue.transfer(call_id, name, to, now, note=note)

        await self._step(name, rule)
        return self.queue.call(call_id)

    async def barge(self, user: User, call_id: str) -> Call:
        name = user.username
        await self._step(name, lambda now: self.queue.barge(call_id, name, now))
        return self.queue.call(call_id)

    async def end(self, user: User, call_id: str, outcome: Outcome) -> Call:
        """The holder (or a supervisor) ends the call with the outcome form, which goes
        into the ledger's entry and the call's record."""
        name = user.username
        await self._step(name, lambda now: self.queue.end(call_id, name, now), outcome=outcome)
        return self.queue.call(call_id)

    # ------------------------------------------------------------- views

    def calls_for(self, user: User) -> list[Message]:
        viewer = self.teller.viewer(self.queue, user)
        return self.teller.open_calls(self.queue, viewer, self._clock())

    def call_for(self, user: User, call: Call) -> Message:
        viewer = self.teller.viewer(self.queue, user)
        return self.teller.call(self.queue, call, viewer, self._clock())

    def agent_for(self, agent: Agent) -> Message:
        return agent_json(agent, self._clock())

    def agents_view(self) -> Message:
        return self.teller.floor(self.queue, self._clock())

    # ------------------------------------------------------------- steps

    async def _place(self, actor: str, request: CallRequest) -> Call:
        placed: list[Call] = []

        def rule(now: float) -> list[Effect]:
            call, effects = self.queue.place(request, now)
            placed.append(call)
            return effects

        await self._step(actor, rule)
        return self.queue.call(placed[-1].id)  # the try that was saved

    def _login(self, user: User) -> Rule:
        """The rule that logs ``user`` in, covering their account's car parks."""
        supervisor = user.role.allows(Role.SUPERVISOR)
        return lambda now: self.queue.login(
            user.username, now, car_parks=user.coverage, supervisor=supervisor
        )

    # ------------------------------------------------------------- listeners

    def _lane_message(self, lane_id: str, message: LaneMessage) -> None:
        if isinstance(message, LaneCall):
            self._spawn(self.lane_call(lane_id, message.event_id))
        elif isinstance(message, CallOver):
            ids = message.event_ids
            actor = f"lane:{lane_id}"
            self._spawn(self._step(actor, lambda now: self.queue.lane_hung_up(lane_id, ids, now)))

    def _audited(self, entry: AuditEntry) -> None:
        """A command the holder of a call sent to its lane, or its outcome: kept with
        the call, and saved with the state by a step of its own."""
        if self.commands.heard(entry, self._answered()):
            self._unsaved.append(entry)
            self._spawn(self._step(CENTRE, lambda now: []))

    # ------------------------------------------------------------- presence

    async def _absent(self) -> Rule:
        """The rule that disconnects every agent with no tab open on any server."""
        assert self._shared is not None
        present = set(self._tabs.counts()) | await self._shared.elsewhere()
        return lambda now: self.queue.restored(now, present)

    async def _round(self) -> None:
        """After each of the server's rounds: its tabs written again (they live as long
        as its presence), and the agents whose tabs were all on servers now gone are
        disconnected. In a task of its own (a sweep waits for the store), one at a time."""
        if not self._closed and (self._renewing is None or self._renewing.done()):
            self._renewing = asyncio.create_task(self._renew(), name="seat-calls-presence")

    async def _renew(self) -> None:
        assert self._shared is not None and self.link is not None
        try:
            await self._shared.renew()
            if self.link.up and self._clock() >= self._sweep_from:
                await self._locked(lambda: self._run(CENTRE, self._absent, early=False))
        except RedisError as exc:
            log.warning("calls.presence.unrenewed error=%r", exc)
        except StoreError as exc:
            log.error("calls.presence.sweep_failed code=%s detail=%s", exc.code, exc.detail)

    async def _link_up(self) -> None:
        """Redis is back (or first up): messages may have been missed, so the state and
        the finished calls are read again and every tab here is shown where things
        stand; sweeps wait until every server has renewed its tabs."""
        assert self._shared is not None and self.servers is not None
        self._sweep_from = self._clock() + self.servers.ttl_s
        try:
            await self._shared.renew()
        except RedisError as exc:
            log.warning("calls.presence.unrenewed error=%r", exc)
        self._spawn(self._locked(self._resync))

    async def _resync(self) -> None:
        """The state as saved now; the agents with a tab here that the other servers
        took for gone meanwhile (this server was cut off longer than its presence
        lives) are logged in again; then each tab is greeted anew, and each supervisor
        shown every agent, since the steps told while the link was down were missed."""
        await self._load()
        for name in sorted(self._tabs.counts()):
            if name in self._tabs and not self._online(name):
                user = await self.directory.user(name)
                if user is not None and not user.disabled:
                    log.info("calls.agent.back user=%s", name)
                    await self._run(name, given(self._login(user)))
        now = self._clock()
        for name in sorted(self._tabs.counts()):
            with contextlib.suppress(CallError):  # not an agent: nothing to show
                for message in self.teller.greeting(self.queue, name, now):
                    self.teller.to(name, message)
        self.teller.floor_to_supervisors(self.queue, now)
        self._rearm()

    def _online(self, name: str) -> bool:
        try:
            return self.queue.agent(name).online
        except CallError:  # never logged in
            return False

    async def _lane(self, lane_id: str) -> LaneRecord:
        lane = await self.directory.lane(lane_id)
        if lane is None:
            raise NotFound("unknown_lane", "no lane with that id")
        return lane
