"""A Modbus relay that opens the barrier, against an emulated controller over real
sockets: the pulse goes on then off, the off still goes out when the open is cancelled or
the agent stops, a locked barrier's input stays down, and a controller that does not
answer is the lane's ``gate_controller_unreachable`` until it does."""

from __future__ import annotations

import asyncio
import signal
import sys
import threading
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from gates.hardware import modbus
from gates.hardware.modbus.relay import Relay, SensedRelay
from gates.hardware.options import DeviceOptions, LaneFileError
from gates.hardware.parts import DeviceFault, GateOpener, GateSensor, Outcome, Unreachable
from gates.lane.drivers import DriverRefused, FaultRaised, GateChanged
from gates.vocabulary import GateState
from tests.emulators.modbus_relay import RelayEmulator
from tests.hardware import Events, Workshop

UNREACHABLE = DeviceFault.GATE_CONTROLLER_UNREACHABLE


def build(table: dict[str, object]) -> Relay:
    options = DeviceOptions(Path("lane.toml"), "barrier", {"family": "modbus", **table})
    relay = modbus.build(options, Workshop())
    assert options.unused() == []
    return relay


@pytest.fixture
async def controller() -> AsyncIterator[RelayEmulator]:
    emulator = RelayEmulator()
    await emulator.start()
    yield emulator
    await emulator.stop()


Start = Callable[..., Relay]


@pytest.fixture
async def start(controller: RelayEmulator) -> AsyncIterator[Start]:
    """A relay on the emulated controller, run as the lane runs it until the test ends."""
    tasks: list[asyncio.Task[None]] = []

    def started(events: Events | None = None, **table: object) -> Relay:
        where = {} if "serial" in table else {"host": "127.0.0.1", "port": controller.port}
        relay = build({**where, **table})
        tasks.append(asyncio.create_task(relay.run((events or Events()).emit)))
        return relay

    yield started
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_an_open_is_a_pulse_on_then_off(controller: RelayEmulator, start: Start) -> None:
    relay = start(coil=3, pulse_ms=200)
    assert isinstance(relay, GateOpener) and not isinstance(relay, GateSensor)
    outcome = await relay.open_gate()
    assert outcome == Outcome(confirmed=True)  # the lane says what no sensor saw
    pulse = [write for write in controller.writes if write.coil == 3]
    assert [write.on for write in pulse][-2:] == [True, False]
    assert pulse[-2].at < pulse[-1].at
    assert controller.coils[3] is False


async def test_a_coil_left_on_by_a_killed_agent_is_switched_off_at_start(
    controller: RelayEmulator, start: Start
) -> None:
    controller.coils[0] = True
    start()
    [first] = await controller.wait_writes(1)
    assert (first.coil, first.on) == (0, False)
    assert controller.coils[0] is False


async def test_an_open_whose_off_is_not_acknowledged_is_not_confirmed(
    controller: RelayEmulator, start: Start
) -> None:
    """The controller stops answering after the on: the agent is told the contact may
    still be closed, not handed a confirmed open."""
    relay = start(pulse_ms=200)
    await controller.wait_writes(1)  # the start-up off
    opening = asyncio.create_task(relay.open_gate())
    await controller.wait_writes(2)  # the on, acknowledged
    controller.silent = True
    outcome = await opening
    assert not outcome.confirmed and "off was not acknowledged" in outcome.detail


async def test_the_off_goes_out_when_the_open_is_cancelled_mid_pulse(
    controller: RelayEmulator, start: Start
) -> None:
    relay = start(pulse_ms=10_000)
    await controller.wait_writes(1)  # the start-up off
    opening = asyncio.create_task(relay.open_gate())
    await controller.wait_writes(2)
    assert controller.coils[0] is True
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    on, off = controller.writes[1:3]
    assert (on.on, off.on) == (True, False)
    assert controller.coils[0] is False


async def test_the_off_goes_out_when_the_on_write_is_cancelled(
    controller: RelayEmulator, start: Start
) -> None:
    """Cancelled while waiting for the on's echo: the on may have landed, so off."""
    relay = start(timeout_ms=2000)  # the off's echo queues behind the on's
    await controller.wait_writes(1)
    controller.delay = 0.5
    opening = asyncio.create_task(relay.open_gate())
    await controller.wait_writes(2)  # the on arrived; its echo is held back
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    controller.delay = 0
    writes = await controller.wait_writes(3)
    assert [write.on for write in writes] == [False, True, False]
    assert controller.coils[0] is False


async def test_the_off_goes_out_when_the_loop_shuts_down_mid_pulse(
    controller: RelayEmulator,
) -> None:
    """The agent's own loop, shut down as ``asyncio.run`` shuts it down: every task
    cancelled and waited for; the pulse's off is among what it waits for."""
    pulsing = threading.Event()

    async def agent() -> None:
        relay = build({"host": "127.0.0.1", "port": controller.port, "pulse_ms": 10_000})
        watching = asyncio.create_task(relay.run(lambda event: None))
        opening = asyncio.create_task(relay.open_gate())
        await asyncio.to_thread(pulsing.wait, 30)
        assert not (watching.done() or opening.done())
        # main returns with the open mid-pulse: asyncio.run cancels both and waits

    thread = threading.Thread(target=asyncio.run, args=(agent(),))
    thread.start()
    await controller.wait_until(lambda: controller.coils[0])
    pulsing.set()
    await asyncio.to_thread(thread.join, 30)
    assert not thread.is_alive()
    assert [write.on for write in controller.writes] == [False, True, False]
    assert controller.coils[0] is False


# An agent process as ``seat lane`` runs it: its work under ``until_stopped`` on
# ``run_fast``, so SIGTERM cancels it and the loop's shutdown waits for what is left.
AGENT = """
import asyncio, sys
from pathlib import Path
from console.service import run_fast, until_stopped
from gates.hardware import modbus
from gates.hardware.options import DeviceOptions

async def main():
    table = {"family": "modbus", "host": "127.0.0.1", "port": int(sys.argv[1]),
             "pulse_ms": 10_000}
    relay = modbus.build(DeviceOptions(Path("lane.toml"), "barrier", table), None)
    watching = asyncio.create_task(relay.run(lambda event: None))
    try:
        await relay.open_gate()
    finally:
        watching.cancel()

run_fast(until_stopped(main()))
"""


async def test_the_off_goes_out_when_the_agent_is_sent_sigterm(
    controller: RelayEmulator,
) -> None:
    agent = await asyncio.create_subprocess_exec(sys.executable, "-c", AGENT, str(controller.port))
    try:
        await controller.wait_until(lambda: controller.coils[0])  # mid-pulse
        agent.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            assert await agent.wait() == 0
    finally:
        if agent.returncode is None:
            agent.kill()
            await agent.wait()
    assert [write.on for write in controller.writes][-2:] == [True, False]
    assert controller.coils[0] is False


async def test_the_input_follows_the_arm(controller: RelayEmulator, start: Start) -> None:
    events = Events()
    relay = start(events, state_input=2, poll_ms=50)
    controller.state_input = 2
    assert isinstance(relay, SensedRelay)
    assert isinstance(relay, GateSensor)
    await events.wait_for(GateChanged(GateState.DOWN))
    outcome = await relay.open_gate()
    assert outcome == Outcome(confirmed=True)
    await events.wait_for(GateChanged(GateState.UP))
    assert relay.gate_state() == GateState.UP
    controller.lower()
    await events.wait_until(lambda seen: seen[-1] == GateChanged(GateState.DOWN))
    assert relay.gate_state() == GateState.DOWN


async def test_an_input_that_reads_low_when_up(controller: RelayEmulator, start: Start) -> None:
    controller.input_up_when = False
    events = Events()
    relay = start(events, state_input=0, input_up_when=False, poll_ms=50)
    await events.wait_for(GateChanged(GateState.DOWN))
    await relay.open_gate()
    await events.wait_for(GateChanged(GateState.UP))


async def test_a_locked_barrier_takes_the_pulse_and_its_input_stays_down(
    controller: RelayEmulator, start: Start
) -> None:
    controller.barrier.locked = True
    events = Events()
    relay = start(events, state_input=0, poll_ms=50)
    assert isinstance(relay, SensedRelay)
    await events.wait_for(GateChanged(GateState.DOWN))
    outcome = await relay.open_gate()
    assert outcome == Outcome(confirmed=True)  # the contact closed: the input says the arm did not
    # Polls after the pulse's off: the input still reads the arm down.
    polls = controller.requests
    await controller.wait_requests(polls + 3)
    assert controller.barrier.lifts == 0
    assert relay.gate_state() == GateState.DOWN
    assert GateChanged(GateState.UP) not in events.seen


async def test_an_unreachable_controller_is_a_fault_until_it_answers(
    controller: RelayEmulator, start: Start
) -> None:
    events = Events()
    relay = start(events, state_input=0, poll_ms=50)
    await events.wait_for(GateChanged(GateState.DOWN))
    port = controller.port
    await controller.stop()
    await events.wait_for(GateChanged(GateState.UNKNOWN))
    [fault] = [e for e in events.seen if isinstance(e, FaultRaised)]
    assert fault.code == UNREACHABLE and fault.active and f"127.0.0.1:{port}" in fault.detail
    with pytest.raises(Unreachable) as unreachable:
        await relay.open_gate()
    assert unreachable.value.fault == UNREACHABLE
    await controller.start(port)
    await events.wait_for(FaultRaised(UNREACHABLE, "", active=False))
    lost = events.seen.index(GateChanged(GateState.UNKNOWN))
    assert GateChanged(GateState.DOWN) in events.seen[lost:]
    assert (await relay.open_gate()).confirmed


async def test_a_slow_controller_is_unreachable(controller: RelayEmulator, start: Start) -> None:
    controller.delay = 1.0
    events = Events()
    relay = start(events, timeout_ms=200)
    await events.wait_until(lambda seen: any(isinstance(e, FaultRaised) for e in seen))
    [fault] = events.seen
    assert isinstance(fault, FaultRaised) and fault.code == UNREACHABLE
    controller.delay = 0
    await events.wait_for(FaultRaised(UNREACHABLE, "", active=False))
    assert (await relay.open_gate()).confirmed


async def test_an_exception_reply_is_a_refusal_and_a_fault(
    controller: RelayEmulator, start: Start
) -> None:
    controller.exception = 0x04  # server device failure
    events = Events()
    relay = start(events)
    await events.wait_until(lambda seen: bool(seen))
    [fault] = events.seen
    assert isinstance(fault, FaultRaised) and "Modbus exception 4" in fault.detail
    with pytest.raises(DriverRefused) as refused:
        await relay.open_gate()
    assert refused.value.reason == "gate_controller_refused"


async def test_modbus_rtu_on_a_serial_line(controller: RelayEmulator, start: Start) -> None:
    controller.rtu = True
    events = Events()
    relay = start(events, serial=f"socket://127.0.0.1:{controller.port}", state_input=0)
    await events.wait_for(GateChanged(GateState.DOWN))
    assert (await relay.open_gate()).confirmed
    await events.wait_for(GateChanged(GateState.UP))
    assert [write.on for write in controller.writes] == [False, True, False]


@pytest.mark.parametrize(
    "table, problem",
    [
        ({}, "either host"),
        ({"host": "10.0.0.2", "serial": "/dev/ttyUSB1"}, "either host"),
        ({"host": "10.0.0.2", "pulse_ms": 20}, "pulse_ms"),
        ({"host": "10.0.0.2", "unit": 300}, "unit"),
        ({"serial": "/dev/ttyUSB1", "parity": "mark"}, "parity"),
        ({"host": "10.0.0.2", "state_input": True}, "state_input"),
    ],
)
def test_a_wrong_table_names_the_key(table: dict[str, object], problem: str) -> None:
    with pytest.raises(LaneFileError, match=problem):
        build(table)
