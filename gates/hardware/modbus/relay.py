"""A network relay board or barrier controller over Modbus: the barrier opens on a coil
pulse, and an input wired to the arm's limit switch, where there is one, says where the
arm is.

The pulse's off is what must never be lost: a coil left on holds most controllers'
"open" contact closed, and the barrier stays up for every car behind. So:

- the off is sent from ``finally``, whether the wait was cancelled (the command given up,
  the agent stopping) or the on-write itself was (its reply never read: the coil may be
  on all the same);
- it runs as a task of its own under ``asyncio.shield``: a second cancellation of the
  open does not stop it, and when the agent stops, ``asyncio.run`` cancels that task too
  and waits for it, so it tries once more within its own deadline (``OFF_WITHIN``) and
  only then gives up;
- an off that was not acknowledged is owed: ``run`` sends it before anything else as
  soon as the controller answers again, and meanwhile the lane's
  ``gate_controller_unreachable`` fault is raised;
- an agent that was killed outright (SIGKILL, power) sent no off: the off is owed from
  the start, so the first thing a new agent does with the controller is switch the coil
  off.

``open_gate`` is confirmed when the controller acknowledged the on (a Modbus write is
echoed only once done). That says the contact closed, not that the arm rose: a locked
barrier takes the pulse and stays down. Only the input says the arm moved; the lane waits
for its ``GateChanged`` where ``state_input`` is wired, and says in the outcome when it is
not.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pymodbus.client.base import ModbusBaseClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from gates.backoff import Backoff
from gates.hardware.latch import FaultLatch
from gates.hardware.parts import DeviceFault, Emit, Outcome, Unreachable
from gates.hardware.watch import GateReading
from gates.lane.drivers import DriverRefused
from gates.vocabulary import GateState

log = logging.getLogger(__name__)

OFF_WITHIN = 3.0  # seconds an off keeps being retried before it is left owed to run()
FAULT = DeviceFault.GATE_CONTROLLER_UNREACHABLE
Client = Callable[[], ModbusBaseClient]


@dataclass(frozen=True, slots=True)
class Wiring:
    """Where the controller is and what of it opens the barrier. ``where`` names it in
    faults ("192.168.1.50:502 unit 1")."""

    where: str
    unit: int = 1
    coil: int = 0
    pulse: float = 0.5
    poll: float = 0.2


class Refused(DriverRefused):
    """The controller answered with a Modbus exception: it is there, and says no."""

    def __init__(self, detail: str) -> None:
        super().__init__("gate_controller_refused")
        self.detail = detail


class Relay:
    """A coil that opens the barrier, pulsed ``wiring.pulse`` seconds."""

    def __init__(self, name: str, client: Client, wiring: Wiring) -> None:
        self.name = name
        self._make_client = client
        self._made: ModbusBaseClient | None = None
        self._where = wiring.where
        self._unit = wiring.unit
        self._coil = wiring.coil
        self._pulse = wiring.pulse
        self._poll = wiring.poll
        self._pulsing = asyncio.Lock()
        self._dialling = asyncio.Lock()
        self._off_owed = True  # a killed agent's pulse may have left the coil on
        self._offs: set[asyncio.Task[None]] = set()

    @property
    def _client(self) -> ModbusBaseClient:
        """Made at first use: pymodbus's clients belong to the running event loop."""
        if self._made is None:
            self._made = self._make_client()
        return self._made

    async def open_gate(self) -> Outcome:
        async with self._pulsing:
            await self._connect()  # no link, nothing sent: no off to owe
            try:
                await self._write_coil(True)
                log.info("lane.modbus.pulse device=%s coil=%s", self.name, self._coil)
                await asyncio.sleep(self._pulse)  # the pulse itself: real time, not a wait
            finally:
                await self._switch_off()
        if self._off_owed:
            # Not confirmed: the barrier's open contact may still be closed, and the
            # agent must see it (a confirmed outcome's detail goes nowhere).
            return Outcome(
                False,
                f"coil {self._coil} was switched on, but its off was not acknowledged: "
                "the open contact may still be closed; the off is sent again",
            )
        return Outcome(confirmed=True)

    async def _switch_off(self) -> None:
        self._off_owed = True
        task = asyncio.create_task(self._off_within(OFF_WITHIN))
        self._offs.add(task)
        task.add_done_callback(self._offs.discard)
        await asyncio.shield(task)

    async def _off_within(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + seconds
        backoff = Backoff(first=0.05, cap=0.5)
        stopping = False
        while not stopping or loop.time() < deadline:
            try:
                async with asyncio.timeout_at(deadline):
                    await self._write_coil(False)
                self._off_owed = False
                break
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if stopping or task is None:
                    raise
                # The agent is going down: one more try, within the deadline, with the
                # cancellation set aside (and raised again once the off is out).
                task.uncancel()
                stopping = True
            except Refused as exc:
                # It answers, and says no: asking again now would get the same answer.
                log.error("lane.modbus.off_refused device=%s error=%s", self.name, exc.detail)
                break
            except (Unreachable, TimeoutError) as exc:
                if loop.time() >= deadline:
                    log.error("lane.modbus.off_owed device=%s error=%s", self.name, exc)
                    break
                await asyncio.sleep(backoff.next())  # pacing retries to a controller away
        if stopping:
            raise asyncio.CancelledError

    async def run(self, emit: Emit) -> None:
        backoff = Backoff()
        latch = FaultLatch(emit, FAULT, self.name)
        try:
            while True:
                try:
                    await self._check(emit)
                except (Unreachable, Refused) as exc:
                    self._lost(emit)
                    latch.raise_(exc.detail)
                    await asyncio.sleep(backoff.next())
                    continue
                latch.clear()
                backoff.reset()
                await asyncio.sleep(self._poll)  # the lane file's polling cadence
        finally:
            async with self._pulsing:  # a pulse's off goes out before the link closes
                if self._made is not None:
                    self._made.close()

    async def _check(self, emit: Emit) -> None:
        """One round: the off owed first, then a reading that shows the controller is
        there (the coil, or the arm's input where one is wired)."""
        if self._off_owed and not self._pulsing.locked():
            async with self._pulsing:
                await self._write_coil(False)
                self._off_owed = False
                log.info("lane.modbus.off device=%s coil=%s", self.name, self._coil)
        await self._read(emit)

    async def _read(self, emit: Emit) -> None:
        await self._ask(
            f"reading coil {self._coil}",
            lambda: self._client.read_coils(self._coil, device_id=self._unit),
        )

    def _lost(self, emit: Emit) -> None:
        """The controller stopped answering; a sensed relay forgets where the arm is."""

    async def _write_coil(self, on: bool) -> None:
        await self._ask(
            f"switching coil {self._coil} {'on' if on else 'off'}",
            lambda: self._client.write_coil(self._coil, on, device_id=self._unit),
        )

    async def _connect(self) -> None:
        """One dial at a time: the watch and an open both find the link down, and two
        connects on one client would leave the first's socket open behind the second."""
        async with self._dialling:
            if not self._client.connected:
                self._client.close()  # whatever is left of the last link
                connected = await self._client.connect()
                _raise_if_cancelled()
                if not connected:
                    raise Unreachable(FAULT, f"{self._where}: no connection")

    async def _ask(self, what: str, call: Callable[[], Awaitable[ModbusPDU]]) -> ModbusPDU:
        await self._connect()
        try:
            reply = await call()
            _raise_if_cancelled()
        except ModbusException as exc:
            # A timeout or a dropped link: start the next request on a fresh
            # connection, so a late reply is not taken for the next request's.
            self._client.close()
            raise Unreachable(FAULT, f"{self._where}: {what}: {exc}") from None
        if reply.isError():
            code = getattr(reply, "exception_code", "?")
            log.warning("lane.modbus.exception device=%s what=%s code=%s", self.name, what, code)
            raise Refused(f"{self._where}: {what}: Modbus exception {code}")
        return reply


class SensedRelay(Relay):
    """A relay whose controller also reports the arm on a discrete input."""

    def __init__(
        self,
        name: str,
        client: Client,
        wiring: Wiring,
        *,
        state_input: int,
        up_when: bool,
    ) -> None:
        super().__init__(name, client, wiring)
        self._input = state_input
        self._up_when = up_when
        self._gate = GateReading(name)

    def gate_state(self) -> GateState:
        return self._gate.state

    def senses_gate(self) -> bool:
        return self._gate.reported

    async def _read(self, emit: Emit) -> None:
        reply = await self._ask(
            f"reading input {self._input}",
            lambda: self._client.read_discrete_inputs(self._input, device_id=self._unit),
        )
        up = bool(reply.bits[0]) == self._up_when
        self._gate.set(GateState.UP if up else GateState.DOWN, emit)

    def _lost(self, emit: Emit) -> None:
        self._gate.set(GateState.UNKNOWN, emit)


def _raise_if_cancelled() -> None:
    """Before Python 3.12, ``asyncio.wait_for`` (pymodbus waits for connections and
    replies with it) returns the result and drops a cancellation that lands in the same
    turn; the task still counts it. Raised here, it stops a pulse given up from running
    its full length, and a stopped watch from polling on."""
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError
