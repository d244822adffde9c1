"""Whether this centre should be sent work: named checks of what it cannot serve without.

``/healthz`` says the process answers; ``/readyz`` says it can do its job, so a load
balancer in front of several centres sends requests only to those that can. A check is
an async probe that returns when its service answered and raises when it did not; the
centre registers one per service in ``create_app`` (``readiness.add(name, probe)``):
the store today, with the PostgreSQL store's ``ping`` as much as the SQLite one's.

A balancer polls this every few seconds from every one of its nodes, unauthenticated,
so a check must be cheap and must write nothing. The probes of one round run
concurrently, each cut off after ``timeout_s``; and a request that comes while a round
is under way gets that round's answer rather than starting another, so a flood of
``/readyz`` queues no more than one probe per service however fast it comes.

The answer names each check and, when it failed, only its error code (``store_closed``,
``timeout``): the details (a path, an address, a server's message) go to the log,
since anyone who can reach the port may read the answer; a check is logged when it
starts failing and when it recovers, not at every poll.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from .errors import ConsoleError

log = logging.getLogger("seat.readiness")

Probe = Callable[[], Awaitable[None]]

# Short enough that a round answers within a balancer's usual 2 to 5 s timeout.
PROBE_TIMEOUT_S = 1.0


class Phase(enum.StrEnum):
    """Where the centre is in its life; ready only while ``serving``."""

    STARTING = "starting"
    SERVING = "serving"
    STOPPING = "stopping"


@dataclass(frozen=True, slots=True)
class Result:
    ok: bool
    error: str | None = None

    def to_json(self) -> dict[str, object]:
        return {"ok": True} if self.ok else {"ok": False, "error": self.error}


@dataclass(frozen=True, slots=True)
class Report:
    checks: Mapping[str, Result]

    @property
    def ready(self) -> bool:
        return all(result.ok for result in self.checks.values())

    def to_json(self) -> dict[str, object]:
        return {
            "ready": self.ready,
            "checks": {name: result.to_json() for name, result in self.checks.items()},
        }


def phase_result(phase: Phase) -> Result:
    """The centre's own check: not ready while it starts or stops, so a balancer stops
    sending to a centre on its way down before its services go."""
    return Result(True) if phase is Phase.SERVING else Result(False, phase.value)


class Readiness:
    def __init__(self, timeout_s: float = PROBE_TIMEOUT_S) -> None:
        self.timeout_s = timeout_s
        self.phase = Phase.STARTING
        self._probes: dict[str, Probe] = {}
        self._round: asyncio.Task[Report] | None = None
        self._last: dict[str, Result] = {}  # each check's last result, to log changes

    def add(self, name: str, probe: Probe) -> None:
        """Register ``probe`` as the check ``name``: the one line a new service needs."""
        if name in self._probes or name == "centre":
            raise ValueError(f"a readiness check named {name!r} is already registered")
        self._probes[name] = probe

    async def report(self) -> Report:
        """This round's report: the one under way, or a new one."""
        if self._round is None:
            self._round = asyncio.create_task(self._run())
            self._round.add_done_callback(self._ended)
        return await asyncio.shield(self._round)

    def _ended(self, task: asyncio.Task[Report]) -> None:
        if self._round is task:
            self._round = None

    async def _run(self) -> Report:
        names = list(self._probes)
        results = await asyncio.gather(*(self._check(name) for name in names))
        checks = {"centre": phase_result(self.phase)}
        for name, (result, detail) in zip(names, results, strict=True):
            self._note(name, result, detail)
            checks[name] = result
        return Report(checks)

    async def _check(self, name: str) -> tuple[Result, str]:
        """The check's result, and what went wrong in words for the log."""
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._probes[name]()
        except TimeoutError:
            return Result(False, "timeout"), f"no answer within {self.timeout_s:g} s"
        except ConsoleError as exc:
            return Result(False, exc.code), exc.detail
        except Exception as exc:  # a probe's failure is the answer, whatever it is
            return Result(False, type(exc).__name__), repr(exc)
        return Result(True), ""

    def _note(self, name: str, result: Result, detail: str) -> None:
        """Log a check's changes only: polled every few seconds, a service that is down
        would otherwise fill the log with the same line."""
        before = self._last.get(name)
        self._last[name] = result
        if result == before:
            return
        if not result.ok:
            log.warning(
                "ready.check_failed check=%s error=%s detail=%s", name, result.error, detail
            )
        elif before is not None:
            log.info("ready.check_recovered check=%s", name)
