"""The simulated lane behaves like hardware behind the LaneDriver seam."""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import TypeVar

import pytest

from gates.lane.drivers import (
    CallPressed,
    DriverRefused,
    FaultRaised,
    GateChanged,
    LaneDriver,
    LaneEvent,
    VehicleSeen,
)
from gates.lane.sim import FaultCode, SimLane, SimTiming
from gates.plates import colour_of, is_valid
from gates.vocabulary import Direction, GateState, PlateColour
from tests.pictures import decoded

E = TypeVar("E", bound=LaneEvent)

# No cars, instant barrier: a lane that only does what the test tells it.
QUIET = SimTiming(lift_s=0, fall_s=0, mean_arrival_s=math.inf)
# Cars back to back, nothing takes time, every read is right.
BUSY = SimTiming(
    lift_s=0,
    fall_s=0,
    pass_s=0,
    hold_s=0,
    mean_arrival_s=0.001,
    call_after_s=0,
    patience_s=30,
    misread_p=0,
    call_p=0,
    fault_p=0,
    auto_open_p=1,
)
SMALL = (320, 180)  # snapshots are tested elsewhere; keep these cheap


class Watcher:
    """Runs a lane and collects what it emits, so tests can wait for events."""

    def __init__(self, lane: SimLane) -> None:
        self.lane = lane
        self.queue: asyncio.Queue[LaneEvent] = asyncio.Queue()

    async def next(self, kind: type[E], timeout: float = 5.0) -> E:
        """The next event of ``kind``, skipping others."""
        async with asyncio.timeout(timeout):
            while True:
                event = await self.queue.get()
                if isinstance(event, kind):
                    return event

    async def upto(self, kind: type[LaneEvent], timeout: float = 5.0) -> list[LaneEvent]:
        """Every event up to and including the next one of ``kind``."""
        events: list[LaneEvent] = []
        async with asyncio.timeout(timeout):
            while not events or not isinstance(events[-1], kind):
                events.append(await self.queue.get())
        return events

    async def gate_moves(self, count: int, timeout: float = 5.0) -> list[GateState]:
        return [(await self.next(GateChanged, timeout)).state for _ in range(count)]


@asynccontextmanager
async def watching(lane: SimLane) -> AsyncIterator[Watcher]:
    """Run ``lane`` through the LaneDriver interface for the length of the block."""
    driver: LaneDriver = lane  # mypy checks SimLane against the protocol here
    watcher = Watcher(lane)
    task = asyncio.create_task(driver.run(watcher.queue.put_nowait))
    try:
        # A starting lane first reports where its barrier stands.
        assert await asyncio.wait_for(watcher.queue.get(), 5) == GateChanged(lane.gate)
        yield watcher
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


@pytest.fixture
async def quiet() -> AsyncIterator[Watcher]:
    async with watching(SimLane("E1", random.Random(1), QUIET)) as watcher:
        yield watcher


async def test_open_gate_lifts_and_reports_each_step(quiet: Watcher) -> None:
    """open_gate returns with the barrier up, after reporting rising then up."""
    await quiet.lane.open_gate()
    assert quiet.lane.gate is GateState.UP
    assert await quiet.gate_moves(2) == [GateState.RISING, GateState.UP]
    assert quiet.lane.opens == 1


async def test_open_gate_when_up_returns_at_once_and_still_counts(quiet: Watcher) -> None:
    """A repeated open changes nothing on the lane but is visible in ``opens``."""
    await quiet.lane.open_gate()
    await quiet.gate_moves(2)
    await quiet.lane.open_gate()
    assert quiet.lane.opens == 2
    assert quiet.queue.empty()


async def test_concurrent_opens_share_one_lift() -> None:
    """Two opens during one lift move the barrier once."""
    lane = SimLane("E1", random.Random(1), replace(QUIET, lift_s=0.01))
    async with watching(lane) as watcher:
        await asyncio.gather(lane.open_gate(), lane.open_gate())
        assert await watcher.gate_moves(2) == [GateState.RISING, GateState.UP]
        assert watcher.queue.empty()
        assert lane.opens == 2


async def test_events_before_run_are_delivered_when_run_starts() -> None:
    """A gate moved before anyone watched is still reported, in order."""
    lane = SimLane("E1", random.Random(1), QUIET)
    await lane.open_gate()
    async with watching(lane) as watcher:
        assert await watcher.gate_moves(2) == [GateState.RISING, GateState.UP]


async def test_gate_motor_fault_refuses_open(quiet: Watcher) -> None:
    """With the motor faulted the lane refuses, says why, and the barrier stays down."""
    quiet.lane.raise_fault(FaultCode.GATE_MOTOR)
    fault = await quiet.next(FaultRaised)
    assert fault.code == "gate_motor"
    with pytest.raises(DriverRefused) as refused:
        await quiet.lane.open_gate()
    assert refused.value.reason == "gate_motor_fault"
    assert quiet.lane.gate is GateState.DOWN
    assert quiet.lane.opens == 0


async def test_open_works_again_once_the_fault_clears(quiet: Watcher) -> None:
    """Repairing the motor makes the gate usable without restarting the lane."""
    quiet.lane.raise_fault(FaultCode.GATE_MOTOR)
    quiet.lane.clear_fault(FaultCode.GATE_MOTOR)
    await quiet.lane.open_gate()
    assert quiet.lane.gate is GateState.UP


async def test_open_gate_without_a_car_falls_after_the_hold_time() -> None:
    """An opened barrier nobody drives through closes by itself."""
    lane = SimLane("E1", random.Random(1), replace(QUIET, hold_s=0))
    async with watching(lane) as watcher:
        await lane.open_gate()
        assert await watcher.gate_moves(4) == [
            GateState.RISING,
            GateState.UP,
            GateState.FALLING,
            GateState.DOWN,
        ]


async def test_display_shows_lines() -> None:
    """Accepted text is what the panel now shows."""
    lane = SimLane("E1", random.Random(1), QUIET)
    await lane.display(("粤B12345", "请缴费 ¥10.00"))
    assert lane.shown == ("粤B12345", "请缴费 ¥10.00")


async def test_display_shows_a_qr_code_until_a_display_without_one() -> None:
    """The QR code a command names stays with its lines; the next command without one
    clears it."""
    lane = SimLane("E1", random.Random(1), QUIET)
    await lane.display(("请扫码缴费",), "https://pay.example.cn/o/8f2a")
    assert (lane.shown, lane.qr) == (("请扫码缴费",), "https://pay.example.cn/o/8f2a")
    await lane.display(("欢迎光临",))
    assert (lane.shown, lane.qr) == (("欢迎光临",), None)


@pytest.mark.parametrize(
    ("qr", "reason"),
    [("https://a.cn/" + "x" * 500, "display_overflow"), ("https://a.cn/\n", "display_bad_text")],
)
async def test_display_refuses_a_qr_it_cannot_show(qr: str, reason: str) -> None:
    """A link longer than the protocol allows, or one with a control character, is
    refused (the centre never sends one) and the panel keeps what it showed."""
    lane = SimLane("E1", random.Random(1), QUIET)
    await lane.display(("欢迎光临",))
    with pytest.raises(DriverRefused) as refused:
        await lane.display(("请扫码",), qr)
    assert refused.value.reason == reason
    assert (lane.shown, lane.qr) == (("欢迎光临",), None)


@pytest.mark.parametrize(
    "lines",
    [
        ("1", "2", "3", "4", "5"),
        ("x" * 33,),
        ("ok", "一" * 33),
    ],
)
async def test_display_overflow_is_refused_and_shown_unchanged(lines: tuple[str, ...]) -> None:
    """More than four lines or 32 characters a line is refused; the panel keeps its text."""
    lane = SimLane("E1", random.Random(1), QUIET)
    await lane.display(("欢迎光临",))
    with pytest.raises(DriverRefused) as refused:
        await lane.display(lines)
    assert refused.value.reason == "display_overflow"
    assert lane.shown == ("欢迎光临",)


async def test_display_refuses_control_characters() -> None:
    """A newline would scroll the panel rather than show a line."""
    lane = SimLane("E1", random.Random(1), QUIET)
    with pytest.raises(DriverRefused) as refused:
        await lane.display(("a\nb",))
    assert refused.value.reason == "display_bad_text"
    assert lane.shown == ()


async def test_run_emits_vehicle_seen_with_a_decodable_snapshot() -> None:
    """A car arrives, the camera reads it, and the snapshot is a real picture of a plate."""
    lane = SimLane("E1", random.Random(2), BUSY, snapshot_size=(640, 360))
    async with watching(lane) as watcher:
        seen = await watcher.next(VehicleSeen)
    image = decoded(seen.snapshot_jpeg)
    assert image.shape == (360, 640, 3)
    x, y, w, h = seen.box
    assert x >= 0 and y >= 0 and x + w <= 640 and y + h <= 360
    assert is_valid(seen.plate)
    assert seen.plate_colour is colour_of(seen.plate)
    assert seen.at.tzinfo is not None
    assert 0.0 < seen.confidence <= 1.0


async def test_entry_lets_a_recognised_car_through_and_closes_behind_it() -> None:
    """Read, lift, drive through, lower: the barrier's full cycle at an entry."""
    lane = SimLane("E1", random.Random(3), BUSY, snapshot_size=SMALL)
    async with watching(lane) as watcher:
        await watcher.next(VehicleSeen)
        assert await watcher.gate_moves(4) == [
            GateState.RISING,
            GateState.UP,
            GateState.FALLING,
            GateState.DOWN,
        ]
    assert lane.opens == 0  # the car park let it in, not the centre


async def test_exit_car_waits_and_calls_until_the_centre_opens() -> None:
    """At an exit the barrier stays shut; the driver calls; an open lets the car out."""
    lane = SimLane("X1", random.Random(4), BUSY, direction=Direction.EXIT, snapshot_size=SMALL)
    async with watching(lane) as watcher:
        await watcher.next(VehicleSeen)
        await watcher.next(CallPressed)
        assert lane.gate is GateState.DOWN
        await lane.open_gate()
        assert await watcher.gate_moves(4) == [
            GateState.RISING,
            GateState.UP,
            GateState.FALLING,
            GateState.DOWN,
        ]
    assert lane.opens == 1


async def test_a_car_without_a_plate_is_read_as_nothing_and_waits_at_the_entry() -> None:
    """A plate-less car: the camera reads no plate at all, the car park's own system
    cannot let it in, and it waits for the centre's open."""
    lane = SimLane("E1", random.Random(7), replace(BUSY, no_plate_p=1.0), snapshot_size=SMALL)
    async with watching(lane) as watcher:
        seen = await watcher.next(VehicleSeen)
        assert (seen.plate, seen.confidence) == ("", 0.0)
        assert seen.plate_colour is PlateColour.UNKNOWN
        await watcher.next(CallPressed)
        assert lane.gate is GateState.DOWN
        await lane.open_gate()
        assert (await watcher.gate_moves(2))[-1] is GateState.UP
    assert lane.opens == 1


async def test_dead_loop_detector_means_no_read_but_a_call() -> None:
    """With no loop trigger the camera never fires, so the driver has to call."""
    lane = SimLane("E1", random.Random(5), BUSY, snapshot_size=SMALL)
    lane.raise_fault(FaultCode.LOOP_DETECTOR)
    async with watching(lane) as watcher:
        events = await watcher.upto(CallPressed)
    assert isinstance(events[0], FaultRaised) and events[0].code == "loop_detector"
    assert not any(isinstance(e, VehicleSeen) for e in events)


async def test_misreads_come_with_low_confidence() -> None:
    """When the camera gets a plate wrong it is less sure, as LPR engines are."""
    # Misread cars are not let in; with no patience they leave and the next one comes.
    timing = replace(BUSY, misread_p=1.0, patience_s=0)
    lane = SimLane("E1", random.Random(6), timing, snapshot_size=SMALL)
    async with watching(lane) as watcher:
        seen = [await watcher.next(VehicleSeen) for _ in range(3)]
    assert all(s.confidence < 0.9 for s in seen)


async def test_pressing_call_reports_a_press(quiet: Watcher) -> None:
    """The button pressed from outside is reported like a simulated driver's press."""
    quiet.lane.press_call()
    assert isinstance(await quiet.next(CallPressed), CallPressed)


async def test_run_twice_at_once_is_refused(quiet: Watcher) -> None:
    """One lane, one watcher: a second run would split its events."""
    await quiet.lane.open_gate()
    await quiet.gate_moves(2)  # delivered through run(), so run() has started
    with pytest.raises(RuntimeError, match="already running"):
        await quiet.lane.run(lambda event: None)


@pytest.mark.parametrize(
    "bad",
    [
        {"lift_s": -1.0},
        {"misread_p": 1.5},
        {"no_plate_p": 2.0},
        {"call_after_s": 200.0, "patience_s": 100.0},
        {"fall_s": math.inf},
        {"lift_s": math.nan},
    ],
)
def test_timing_refuses_impossible_worlds(bad: dict[str, float]) -> None:
    """Nonsense timings fail at construction, not as a hung lane later."""
    with pytest.raises(ValueError):
        SimTiming(**bad)


def test_bad_home_prefix_is_refused() -> None:
    """A lane configured for a prefix GA 36-2018 cannot issue fails at start-up."""
    with pytest.raises(ValueError, match="home"):
        SimLane("E1", random.Random(0), home="京I")
