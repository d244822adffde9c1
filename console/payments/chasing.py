"""Asking after orders no notification has paid. A provider's notification can be lost
(the centre down, the network cut, WeChat Pay giving up after its retries), and the
driver who paid then faces a closed barrier; so an order not yet paid is asked of its
provider ``first_s`` after it was made, then at doubling intervals up to ``LONGEST_S``,
and once more ``first_s`` after it expired (a payment made in its last seconds). What a
query finds is settled by the same path as a notification (``Payments._settle``).

``ChasePlan`` is the schedule, pure: orders and ``now`` in, which to ask out. ``Chaser``
is one task that sleeps until the next ask is due or a new order comes, asks, and lets
the plan say when to ask again; it never polls an empty plan.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..errors import ConsoleError
from .orders import PaymentOrder
from .provider import PaymentNotice, Provider

log = logging.getLogger("seat.payments")

# The longest wait between two asks of one order: a driver at a barrier is not kept
# waiting longer than this for a payment the centre did not hear of.
LONGEST_S = 120.0


@dataclass(frozen=True, slots=True)
class Chase:
    order_id: str
    expires_at: datetime
    due: datetime
    asks: int = 0


class ChasePlan:
    def __init__(self, first_s: float, longest_s: float = LONGEST_S) -> None:
        """A first wait longer than ``longest_s`` is the wait between every two asks."""
        if not 0 < first_s < float("inf"):
            raise ValueError(f"the first ask comes after a positive time, not {first_s}")
        self.first = timedelta(seconds=first_s)
        self.longest = timedelta(seconds=max(first_s, longest_s))
        self._chases: dict[str, Chase] = {}

    def __len__(self) -> int:
        return len(self._chases)

    def __contains__(self, order_id: object) -> bool:
        return order_id in self._chases

    def add(self, order: PaymentOrder) -> None:
        """The order is asked after ``first_s`` after it was made."""
        self._chases[order.order_id] = Chase(
            order.order_id, order.expires_at, order.created_at + self.first
        )

    def drop(self, order_id: str) -> None:
        """Paid, or gone: no more asks."""
        self._chases.pop(order_id, None)

    def next_due(self) -> datetime | None:
        return min((chase.due for chase in self._chases.values()), default=None)

    def due(self, now: datetime) -> list[str]:
        """The orders to ask now, the longest overdue first."""
        ready = sorted((c for c in self._chases.values() if c.due <= now), key=lambda c: c.due)
        return [chase.order_id for chase in ready]

    def asked(self, order_id: str, now: datetime) -> None:
        """The order was asked at ``now`` and was not paid (or the provider did not
        answer): the next ask is twice as far off, at most ``longest``; past the
        order's expiry there is one ask more, ``first`` after it, and then none."""
        chase = self._chases.get(order_id)
        if chase is None:
            return
        last = chase.expires_at + self.first
        if now >= last:
            self.drop(order_id)
            return
        wait = min(self.first * 2 ** (chase.asks + 1), self.longest)
        self._chases[order_id] = Chase(
            order_id, chase.expires_at, min(now + wait, last), chase.asks + 1
        )


Settle = Callable[[Provider, PaymentNotice], Awaitable[object]]
Load = Callable[[str], Awaitable[PaymentOrder | None]]


class Chaser:
    """Runs a ``ChasePlan``: ``settle`` is called with each payment a query finds."""

    def __init__(
        self,
        plan: ChasePlan,
        providers: Mapping[str, Provider],
        load: Load,
        settle: Settle,
        clock: Callable[[], datetime],
    ) -> None:
        self.plan = plan
        self._providers = providers
        self._load = load
        self._settle = settle
        self._clock = clock
        self._changed = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self, orders: list[PaymentOrder]) -> None:
        for order in orders:
            self.plan.add(order)
        self._task = asyncio.create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def follow(self, order: PaymentOrder) -> None:
        """A new order: asked after in its turn."""
        self.plan.add(order)
        self._changed.set()

    def settled(self, order_id: str) -> None:
        """A notification paid the order: it is asked after no more."""
        self.plan.drop(order_id)

    async def _run(self) -> None:
        while True:
            due = self.plan.next_due()
            now = self._clock()
            if due is None or due > now:
                self._changed.clear()
                timeout = None if due is None else (due - now).total_seconds()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(timeout):
                        await self._changed.wait()
                continue
            for order_id in self.plan.due(now):
                await self._ask(order_id)

    async def _ask(self, order_id: str) -> None:
        try:
            if await self._found(order_id):
                self.plan.drop(order_id)
                return
        except ConsoleError as exc:
            # The store or the provider is down, or the payment does not stand: asked
            # again later, the settle's own refusal being ledgered already.
            log.warning("payments.query.failed order=%s error=%s", order_id, exc.code)
        except Exception:
            # Whatever went wrong with one order, the others are still asked after.
            log.exception("payments.query.crashed order=%s", order_id)
        self.plan.asked(order_id, self._clock())

    async def _found(self, order_id: str) -> bool:
        """Whether asking is over for the order: its payment found and settled, or
        nobody to ask (the order or its provider gone)."""
        order = await self._load(order_id)
        provider = None if order is None else self._providers.get(order.provider)
        if order is None or provider is None:
            return True
        notice = await provider.query(order)
        if notice is None:
            return False
        await self._settle(provider, notice)
        return True
