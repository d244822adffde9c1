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

An agent is online while at least one console tab of theirs is open (``/api/stream``):
their first tab logs them in, covering the car parks of their account (``seat user
coverage``); closing their last is a disconnect, which keeps a call they hold for the
reconnect grace. Logging out, a disabled account or a changed role close the tabs, so
they are disconnects too.

Gate opens and displays that the holder of a call sends to its lane while answering it
are read from the ledger as they are written, and kept with the call until it finishes;
its record lists them with the outcomes known by then (the ledger has the rest).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from gates.centre.hub import LaneHub
from gates.protocol import Call as LaneCall
from gates.protocol import LaneMessage
from media.centre.bridge import MediaBridge

from ..audit import AuditLog
from ..directory import Directory
from ..errors import CallError, ConsoleError, NotFound, StoreError
from ..ledger import AuditEntry
from ..models import LaneRecord, Role, User
from ..store import Store
from ..streams import Greet, Message, Streams
from .commands import CallCommands
from .effects import CallChanged, CallStep, Effect
from .entries import CENTRE, entries
from .floors import Floors
from .model import Agent, AgentState, Call, CallRequest, CallState, Settings, Source
from .queue import CallQueue
from .record import Outcome, record_of, utc
from .saved import StateText, kept, parse_kept, parse_state
from .telling import Teller
from .views import agent_json

log = logging.getLogger("seat.calls")

_T = TypeVar("_T")

# A timer step that could not be written is tried again after this long.
RETRY_S = 1.0
# Who places and hangs up a call from a phone (the help sticker's page).
PHONE = "phone"

_FINISHING = frozenset({CallStep.ENDED, CallStep.HUNG_UP, CallStep.ABANDONED})

Rule = Callable[[float], list[Effect]]


class CallService:
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
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.audit = audit
        self.streams = streams
        self.directory = directory
        self.hub = hub
        self.queue = CallQueue(settings)
        self.commands = CallCommands()
        self.floors = Floors(bridge)
        self.teller = Teller(settings, streams, self.floors)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._tabs: Counter[str] = Counter()
        self._held: dict[str, str] = {}  # answered call -> its holder
        self._commands_unsaved = False
        self._state_text = StateText()
        # The state on disk: a failed step returns to it.
        self._saved = self._state_text(self.queue, self.commands)
        self._unsubscribe: list[Callable[[], None]] = []
        self._listeners: set[Callable[[], None]] = set()

    # ------------------------------------------------------------- life

    async def start(self) -> None:
        """Load the queue as the last run left it; every console is gone, so agents on
        a call keep it for the reconnect grace and the others go offline. Then listen to
        the lanes, the ledger and the consoles."""
        text = await self.store.load_call_state()
        if text is not None:
            self.queue, self.commands = parse_state(text, self.settings)
            self._saved = text
        since = utc(self._clock() - self.settings.keep_s)
        self.queue.remember(parse_kept(await self.store.kept_calls(since)))
        for call in self.queue.open_calls():
            self._follow(call)
        log.info(
            "calls.started calls=%d answered=%d agents=%d",
            len(self.queue.open_calls()),
            len(self._held),
            len(self.queue.agents()),
        )
        await self._step(CENTRE, lambda now: self.queue.restored(now))
        self._unsubscribe = [
            self.hub.subscribe_messages(self._lane_message),
            self.audit.subscribe(self._audited),
        ]
        self.streams.set_presence(self)

    async def close(self) -> None:
        """Stop the timer and finish the steps under way; the state stays on disk."""
        self._closed = True
        for stop in self._unsubscribe:
            stop()
        if self._timer is not None:
            self._timer.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks)

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
        """A console tab of ``user`` opened: their first logs them in (a reconnect if
        they hold a call); every tab is then greeted with what it shows."""
        name = user.username
        self._tabs[name] += 1
        first = self._tabs[name] == 1

        async def opened() -> None:
            if first:
                await self._run(name, self._login(user))
            for message in self.teller.greeting(self.queue, name, self._clock()):
                greet(message)

        await self._locked(opened)

    def tab_closed(self, user: User) -> None:
        name = user.username
        self._tabs[name] -= 1
        if self._tabs[name] > 0:
            return
        del self._tabs[name]
        self._spawn(self._step(name, lambda now: self.queue.agent_disconnected(name, now)))

    async def users_changed(self, usernames: set[str]) -> None:
        """Accounts changed (``console.changes``): agents online take up their new
        coverage. A disabled account or a new role ends their tabs by itself."""
        for name in sorted(usernames):
            user = await self.directory.user(name)
            if self._tabs.get(name) and user is not None and not user.disabled:
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
        return self.queue.call(placed[0].id)

    def _login(self, user: User) -> Rule:
        """The rule that logs ``user`` in, covering their account's car parks."""
        supervisor = user.role.allows(Role.SUPERVISOR)
        return lambda now: self.queue.login(
            user.username, now, car_parks=user.coverage, supervisor=supervisor
        )

    async def _step(self, actor: str, rule: Rule, *, outcome: Outcome | None = None) -> None:
        await self._locked(lambda: self._run(actor, rule, outcome=outcome))

    async def _locked(self, work: Callable[[], Awaitable[_T]]) -> _T:
        """Run ``work`` alone, to its end even if the caller is cancelled: in a task of
        its own, unless the caller is one already (``_spawn``'s, which nothing cancels),
        so a lane's press reaches its ring without waiting a turn of the loop behind
        every tab that has something to send."""
        if asyncio.current_task() in self._tasks:
            async with self._lock:
                return await work()

        async def alone() -> _T:
            async with self._lock:
                return await work()

        task = asyncio.ensure_future(alone())
        self._tasks.add(task)
        task.add_done_callback(_settled)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    async def _run(self, actor: str, rule: Rule, *, outcome: Outcome | None = None) -> None:
        """One step, under the lock: the rule, the write, then the telling."""
        now = self._clock()
        before = self.queue.finished()  # the state on disk holds none of them
        effects = rule(now)
        if effects or self._commands_unsaved:
            told = self.teller.ring(self.queue, effects, now)
            try:
                await self._keep(effects, actor, outcome, before)
            except StoreError:
                self.teller.unring(self.queue, told, now)
                raise
            self._tell(effects, now)
        self._rearm()

    async def _keep(
        self, effects: list[Effect], actor: str, outcome: Outcome | None, before: list[Call]
    ) -> None:
        """Write the step: its ledger entries, the records of the calls it finished, the
        finished calls it changed and the state after it, in one transaction; on failure,
        back to the state before (``before``: the finished calls held then)."""
        finished = {
            effect.call.id: effect
            for effect in effects
            if isinstance(effect, CallChanged) and effect.step in _FINISHING
        }
        changed = {
            effect.call.id: effect.call
            for effect in effects
            if isinstance(effect, CallChanged) and effect.call.finished
        }
        commands = {call_id: self.commands.of(call_id) for call_id in finished}
        records = [
            record_of(
                change.call,
                self.settings,
                outcome if change.step is CallStep.ENDED else None,
                commands[call_id],
            )
            for call_id, change in finished.items()
        ]
        audit = entries(effects, actor, self._held, outcome=outcome, actions=commands)
        state = self._state_text(self.queue, self.commands, finished)
        try:
            written = await self.store.save_call_state(
                state, records, [kept(call) for call in changed.values()], audit
            )
        except ConsoleError as exc:  # the database's failure, or a defect it refused
            self.queue, _ = parse_state(self._saved, self.settings)
            self.queue.remember(before)
            log.error("calls.step.unrecorded actor=%s error=%s", actor, exc.detail)
            raise StoreError(
                "audit_failed", f"not done: the ledger could not record it ({exc.detail})"
            ) from exc
        self._saved = state
        self.commands.forget(finished)
        self._commands_unsaved = False
        self.audit.announce(written)

    def _tell(self, effects: list[Effect], now: float) -> None:
        """The step is on disk: log it, move the intercoms, tell the consoles."""
        before = dict(self._held)
        changed: dict[str, Call] = {}
        for effect in effects:
            if isinstance(effect, CallChanged):
                call = changed[effect.call.id] = effect.call
                log.info(
                    "calls.%s call=%s lane=%s source=%s agent=%s",
                    effect.step.value,
                    call.id,
                    call.lane_id,
                    call.source.value,
                    call.agent or call.offered_to or call.for_agent,
                )
        for call in changed.values():
            self._follow(call)
        self.teller.tell(self.queue, effects, before, now)
        for listener in list(self._listeners):
            listener()

    def _follow(self, call: Call) -> None:
        """Who holds ``call`` now, and its lane's intercom with them."""
        if call.state is CallState.ACTIVE and call.agent is not None:
            self._held[call.id] = call.agent
        else:
            self._held.pop(call.id, None)
        self.floors.follow(call)

    # ------------------------------------------------------------- time

    def _rearm(self) -> None:
        """One timer, at the queue's next deadline."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.queue.next_deadline()
        if deadline is not None and not self._closed:
            delay = max(0.0, deadline - self._clock())
            self._timer = asyncio.get_running_loop().call_later(delay, self._due)

    def _due(self) -> None:
        self._timer = None
        self._spawn(self._tick())

    async def _tick(self) -> None:
        try:
            await self._step(CENTRE, lambda now: self.queue.tick(now))
        except StoreError:
            if not self._closed:  # the write is tried again, not at once on a dead disk
                self._timer = asyncio.get_running_loop().call_later(RETRY_S, self._due)
            raise

    # ------------------------------------------------------------- listeners

    def _lane_message(self, lane_id: str, message: LaneMessage) -> None:
        if isinstance(message, LaneCall):
            self._spawn(self.lane_call(lane_id, message.event_id))

    def _audited(self, entry: AuditEntry) -> None:
        """A command the holder of a call sent to its lane, or its outcome: kept with
        the call, and saved with the state by a step of its own."""
        answered = [
            (call_id, self.queue.call(call_id).lane_id, holder)
            for call_id, holder in self._held.items()
        ]
        if self.commands.heard(entry, answered):
            self._commands_unsaved = True
            self._spawn(self._step(CENTRE, lambda now: []))

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        """Run a step nobody waits for; its failure is logged."""
        if self._closed:
            work.close()
            return

        async def logged() -> None:
            try:
                await work
            except CallError as exc:
                log.info("calls.step.refused code=%s detail=%s", exc.code, exc.detail)
            except (StoreError, NotFound) as exc:
                log.error("calls.step.failed code=%s detail=%s", exc.code, exc.detail)

        task = asyncio.ensure_future(logged())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _lane(self, lane_id: str) -> LaneRecord:
        lane = await self.directory.lane(lane_id)
        if lane is None:
            raise NotFound("unknown_lane", "no lane with that id")
        return lane


def _settled(task: asyncio.Task[Any]) -> None:
    """A step whose caller left still raised to nobody: its error is read, not warned of
    as never retrieved (the step's own log line says what happened)."""
    if not task.cancelled():
        task.exception()
