"""The centre's lanes as the console uses them, wherever their links are."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from gates.centre.commands import Resolved
from gates.centre.hub import StatusListener
from gates.centre.status import LaneStatus
from gates.protocol import Command
from gates.wire import Message


class LaneView(Protocol):
    """``LaneHub`` on a server alone, ``console.cluster.lanes.ClusterLanes`` when
    several servers are one centre: the console's code is the same for both."""

    def status(self, lane: str) -> LaneStatus: ...

    def online(self) -> list[str]: ...

    async def snapshot(self, lane: str) -> bytes | None: ...

    def subscribe(self, listener: StatusListener) -> Callable[[], None]: ...

    async def command(self, lane: str, command: Command, wait_s: float) -> Resolved: ...

    async def notify(self, lane: str, message: Message) -> bool: ...
