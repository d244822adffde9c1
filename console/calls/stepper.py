"""The call service's steps: one at a time, each the rule, the write, then the telling
(``console.calls.service`` says why in that order), and the steps other servers of the
centre saved, read and told here.

Several servers share one saved state. Each save names the version its step started
from, and the store refuses it (``StateMoved``) if another server saved since: then
the state is read again and the SAME rule runs on it with the time now. Rules are
pure, so it decides as if it had run on that server; one that now refuses (another
server's agent accepted the call first) raises its ``CallError`` to its caller. After a
save the server publishes the version and the step's effects (``console.calls.wire``):
the others read the state again and tell their own consoles what the step changed.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from redis.exceptions import RedisError

from console.audit import AuditLog
from console.cluster.envelope import EnvelopeError, open_as, seal
from console.cluster.redis_link import RedisLink
from console.errors import CallError, ConsoleError, NotFound, StateMoved, StoreError
from console.ledger import AuditEntry
from console.store import Store
from console.streams import Streams

from .commands import CallCommands
from .effects import CallChanged, CallStep, Effect
from .entries import CENTRE, entries
from .floors import Floors
from .model import Call, CallState, Settings
from .queue import CallQueue
from .record import Outcome, record_of, utc
from .saved import StateText, kept, parse_kept, parse_state
from .telling import Teller
from .wire import CHANNEL, SavedStep, current, finished_calls, saved_step

log = logging.getLogger("seat.calls")

_T = TypeVar("_T")

# A timer step that could not be written is tried again after this long.
RETRY_S = 1.0
# A step that found the state moved this many times in a row gives up: the servers
# are saving faster than it can read, which a working centre never sees.
MAX_TRIES = 50

_FINISHING = frozenset({CallStep.ENDED, CallStep.HUNG_UP, CallStep.ABANDONED})

Rule = Callable[[float], list[Effect]]
# A rule that needs something looked up first, again at every try.
Asked = Callable[[], Awaitable[Rule]]


class Stepper:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        audit: AuditLog,
        streams: Streams,
        floors: Floors,
        link: RedisLink | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.settings = settings
        self.store = store
        self.audit = audit
        self.streams = streams
        self.link = link
        self.queue = CallQueue(settings)
        self.commands = CallCommands()
        self.floors = floors
        self.teller = Teller(settings, streams, floors)
        self._clock = clock
        self._lock = asyncio.Lock()
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closed = False
        self._held: dict[str, str] = {}  # answered call -> its holder
        # Commands heard since the last save: heard again by a state read anew.
        self._unsaved: list[AuditEntry] = []
        self._state_text = StateText()
        # The state on disk (a failed step returns to it) and its version.
        self._saved = self._state_text(self.queue, self.commands)
        self._version = 0
        self._listeners: set[Callable[[], None]] = set()

    async def _load(self) -> None:
        """The state as saved, with the finished calls kept since ``keep_s`` ago."""
        saved = await self.store.load_call_state()
        queue, commands = (self.queue, self.commands)
        if saved is not None:
            queue, commands = parse_state(saved.text, self.settings)
            self._saved, self._version = saved.text, saved.version
        since = utc(self._clock() - self.settings.keep_s)
        queue.remember(parse_kept(await self.store.kept_calls(since)))
        self._take(queue, commands)

    async def _reload(self) -> bool:
        """The state another server saved since this one's, if any (True then); the
        finished calls held stay (the state has none)."""
        saved = await self.store.load_call_state()
        if saved is None:
            if self._version:
                raise StoreError("state_lost", "the call state was saved, then found missing")
            return False
        if saved.version == self._version:
            return False
        queue, commands = parse_state(saved.text, self.settings)
        queue.remember(self.queue.finished())
        self._saved, self._version = saved.text, saved.version
        self._take(queue, commands)
        return True

    def _take(self, queue: CallQueue, commands: CallCommands) -> None:
        """Hold ``queue`` from now on: the calls it answers are followed, the commands
        heard and not yet saved are heard again."""
        gone = self._held.keys() - {call.id for call in queue.open_calls()}
        self.queue, self.commands = queue, commands
        self._held = {}
        for call in queue.open_calls():
            self._follow(call)
        for call_id in gone:  # finished elsewhere; else its step's news will tell
            finished = queue.held(call_id)
            if finished is not None:
                self._follow(finished)
        for entry in self._unsaved:
            self.commands.heard(entry, self._answered())

    def _answered(self) -> list[tuple[str, str, str]]:
        return [
            (call_id, self.queue.call(call_id).lane_id, holder)
            for call_id, holder in self._held.items()
        ]

    # ------------------------------------------------------------- steps

    async def _step(self, actor: str, rule: Rule, *, outcome: Outcome | None = None) -> None:
        await self._locked(lambda: self._run(actor, given(rule), outcome=outcome))

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

    async def _run(
        self, actor: str, ask: Asked, *, outcome: Outcome | None = None, early: bool = True
    ) -> None:
        """One step, under the lock: the rule, the write, then the telling; the rule
        again on the state read anew for as long as another server saved first.
        ``early``: its rings go out before the write (``Teller.ring``), else after."""
        for _ in range(MAX_TRIES):
            rule = await ask()
            now = self._clock()
            before = self.queue.finished()  # the state on disk holds none of them
            try:
                effects = rule(now)
            except CallError:
                # Refused on the state as this server knows it: another server may
                # have saved a step it has not heard of yet. Refused on the latest.
                if self.link is not None and await self._reload():
                    continue
                raise
            if not (effects or self._unsaved):
                break
            held = dict(self._held)
            told = self.teller.ring(self.queue, effects, now) if early else []
            try:
                await self._keep(effects, actor, outcome, before)
            except StateMoved:
                log.info("calls.step.moved actor=%s version=%d", actor, self._version)
                try:
                    await self._reload()
                finally:
                    self.teller.unring(self.queue, told, now)
                continue
            except StoreError:
                self.teller.unring(self.queue, told, now)
                raise
            if not early:
                self.teller.ring(self.queue, effects, now)
            self._tell(effects, held, now)
            await self._publish(saved_step(self._version, effects, held))
            break
        else:
            raise StoreError("state_busy", f"not done: the call state moved {MAX_TRIES} times")
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
                state, self._version, records, [kept(call) for call in changed.values()], audit
            )
        except ConsoleError as exc:  # the database's failure, or a defect it refused
            self.queue, _ = parse_state(self._saved, self.settings)
            self.queue.remember(before)
            if isinstance(exc, StateMoved):
                raise
            log.error("calls.step.unrecorded actor=%s error=%s", actor, exc.detail)
            raise StoreError(
                "audit_failed", f"not done: the ledger could not record it ({exc.detail})"
            ) from exc
        self._saved = state
        self._version += 1
        self.commands.forget(finished)
        self._unsaved.clear()
        self.audit.announce(written)

    def _tell(self, effects: list[Effect], held: dict[str, str], now: float) -> None:
        """The step is on disk: log it, move the intercoms, tell the consoles."""
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
        self._hang_up(effects)
        self.teller.tell(self.queue, effects, held, now)
        for listener in list(self._listeners):
            listener()

    def _follow(self, call: Call) -> None:
        """Who holds ``call`` now, and its lane's intercom with them. Every server
        follows every call: a lane that moves to another server finds its intercom
        held there for the call's holder."""
        if call.state is CallState.ACTIVE and call.agent is not None:
            self._held[call.id] = call.agent
        else:
            self._held.pop(call.id, None)
        self.floors.follow(call)

    def _hang_up(self, effects: list[Effect]) -> None:
        """The lanes of the lane calls the step finished are told they are over."""
        for effect in effects:
            if isinstance(effect, CallChanged) and effect.step in _FINISHING:
                self._spawn(self.floors.hang_up(effect.call))

    # ------------------------------------------------------------- other servers

    @property
    def _server(self) -> str:
        return "" if self.link is None else self.link.server

    async def _publish(self, step: SavedStep) -> None:
        if self.link is None:
            return
        try:
            await self.link.publish(CHANNEL, seal(self._server, step))
        except EnvelopeError as exc:  # the others find the new version at their next read
            log.error("calls.step.unsendable version=%d error=%s", step.version, exc)
        except RedisError as exc:  # they read the state again when their link is back
            log.warning("calls.step.unpublished version=%d error=%r", step.version, exc)

    def _heard(self, data: bytes) -> None:
        """Another server saved a step (the link's handler, on the loop)."""
        try:
            envelope = open_as(data, SavedStep)
        except EnvelopeError as exc:
            log.error("calls.news.refused error=%s", exc)
            return
        if envelope.sender != self._server:
            server, step = envelope.sender, envelope.body
            self._spawn(self._locked(lambda: self._told(server, step)))

    async def _told(self, server: str, step: SavedStep) -> None:
        """Read the state the step saved (or a later one), then tell this server's
        consoles what it changed, as the server that made it told its own."""
        if step.version > self._version:
            await self._reload()
        self.queue.remember(finished_calls(step.effects))
        log.info("calls.heard server=%s version=%d", server, step.version)
        now = self._clock()
        for effect in step.effects:
            if isinstance(effect, CallChanged):
                self._follow(self.queue.held(effect.call.id) or effect.call)
        self._hang_up(list(step.effects))
        self.teller.ring(self.queue, current(self.queue, step.effects), now)
        self.teller.tell(self.queue, list(step.effects), step.holders, now)
        for listener in list(self._listeners):
            listener()
        self._rearm()

    # ------------------------------------------------------------- time

    def _rearm(self) -> None:
        """One timer, at the queue's next deadline. Every server sets its own: the
        first to fire makes the step, the others find it saved and nothing due."""
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
            # Every server's timer fires at once: the rings of a tick that may lose to
            # another server's wait for its write, so none is rung and taken back.
            rule = given(lambda now: self.queue.tick(now))
            await self._locked(lambda: self._run(CENTRE, rule, early=self.link is None))
        except StoreError:
            if not self._closed:  # the write is tried again, not at once on a dead disk
                self._timer = asyncio.get_running_loop().call_later(RETRY_S, self._due)
            raise

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
            except RedisError as exc:  # presence unknown: the next sweep settles it
                log.warning("calls.step.redis_failed error=%r", exc)

        task = asyncio.ensure_future(logged())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def given(rule: Rule) -> Asked:
    async def ask() -> Rule:
        return rule

    return ask


def _settled(task: asyncio.Task[Any]) -> None:
    """A step whose caller left still raised to nobody: its error is read, not warned of
    as never retrieved (the step's own log line says what happened)."""
    if not task.cancelled():
        task.exception()
