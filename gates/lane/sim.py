"""A lane with no hardware: cars, a barrier, a camera, an intercom and an LED display.

One command starts a whole system on a laptop, and the centre's tests and benchmarks need
lanes that behave like real ones: cars turn up at random, the camera sometimes misreads,
drivers press the call button when the barrier stays shut, a gate motor fails. ``SimLane``
is that lane behind the ``LaneDriver`` seam, so the lane agent cannot tell the difference.
``view`` is what its camera sees at each moment: the barrier where it really is and the
car at it with its true plate, so an agent can check the barrier, or a misread, on camera.

``asyncio.sleep`` is the simulated world's clock here: a barrier takes time to lift, a car
takes time to drive through. Set the timings to zero and the lane runs as fast as the
event loop does.
"""

from __future__ import annotations

import asyncio
import enum
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Final

from gates.lane.drivers import (
    CallPressed,
    DriverRefused,
    FaultRaised,
    GateChanged,
    LaneEvent,
    VehicleSeen,
)
from gates.lane.snapshot import (
    ARM_UP,
    CAR_PAINTS,
    Car,
    Panel,
    View,
    arm_angle,
    arriving,
    leaving,
    render,
)
from gates.plates import colour_of, is_valid, misread, random_plate
from gates.protocol import MAX_DISPLAY_QR, DisplaySize
from gates.vocabulary import Direction, GateState

# The simulated LED panel: four lines of 32 characters, and a QR code below them. The
# lane agent states the lines in its hello, so the centre offers no more than this.
DISPLAY_SIZE: Final = DisplaySize(lines=4, chars=32)

# Events that happen while nobody is watching (before ``run``) wait here, as a lane
# controller's event log does until the host polls it; old ones drop off first.
_BACKLOG: Final[int] = 256


class FaultCode(enum.StrEnum):
    CAMERA_DIRTY = "camera_dirty"
    LOOP_DETECTOR = "loop_detector"
    GATE_MOTOR = "gate_motor"


_FAULT_DETAIL: Final[dict[FaultCode, str]] = {
    FaultCode.CAMERA_DIRTY: "LPR camera lens dirty; plate reads unreliable",
    FaultCode.LOOP_DETECTOR: "vehicle loop detector not responding; cars are not detected",
    FaultCode.GATE_MOTOR: "barrier motor overcurrent; the gate will not lift",
}


@dataclass(frozen=True, slots=True)
class SimTiming:
    """How the simulated world behaves. Seconds are simulated seconds on the event loop.

    ``mean_arrival_s`` may be ``math.inf`` for a lane no car ever visits (tests that only
    drive the gate), or ``0`` for back-to-back traffic in benchmarks.
    """

    lift_s: float = 1.5  # barrier down → up
    fall_s: float = 1.5  # barrier up → down
    pass_s: float = 3.0  # a car drives through the open barrier
    hold_s: float = 10.0  # an open barrier with no car under it falls after this
    mean_arrival_s: float = 20.0  # arrivals are a Poisson process with this mean gap
    call_after_s: float = 15.0  # a driver at a shut barrier presses call after this
    patience_s: float = 120.0  # ...and reverses away after this
    fault_s: float = 300.0  # a fault the lane raised by itself clears after this
    misread_p: float = 0.10
    new_energy_p: float = 0.25
    call_p: float = 0.05  # the driver presses call as soon as the car stops
    fault_p: float = 0.005  # a fault arises with this chance per arrival
    # An entry's own controller lets a correctly read car in by itself with this chance.
    # 0 by default: a lane linked to a centre leaves entry releases to the centre, which
    # knows the blacklist (``console.gatekeeping``); a lane that opened by itself would
    # let a blacklisted car in.
    auto_open_p: float = 0.0
    # A car with no plate (new, temporary, or one no camera can read): the camera reads
    # nothing, and the car waits for the centre (its no-plate QR code, or an agent).
    no_plate_p: float = 0.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if math.isnan(value) or value < 0:
                raise ValueError(f"{field.name} must be a non-negative number, not {value}")
            if field.name.endswith("_p") and value > 1:
                raise ValueError(f"{field.name} is a probability, not {value}")
            if field.name != "mean_arrival_s" and math.isinf(value):
                raise ValueError(f"{field.name} must be finite")
        if self.call_after_s > self.patience_s:
            raise ValueError("call_after_s longer than patience_s: drivers would never call")


# How the picture moves where the simulated world has no timing of its own: a car the
# loop detector caught rolls to a stop at the barrier, a driver who gives up reverses out.
_ROLL_IN_S: Final = 1.5
_REVERSE_S: Final = 1.5


class Motion(enum.Enum):
    ARRIVING = "arriving"  # then waiting at the barrier
    PASSING = "passing"
    REVERSING = "reversing"


def _utc_now() -> datetime:
    return datetime.now(UTC)


class SimLane:
    """A simulated lane that satisfies ``gates.lane.drivers.LaneDriver``.

    The world (cars, faults, the barrier closing behind a car) moves only while ``run``
    runs; ``open_gate`` and ``display`` work without it, and what they report waits for
    ``run`` to deliver it.
    """

    def __init__(
        self,
        lane_id: str,
        rng: random.Random,
        timing: SimTiming | None = None,
        *,
        direction: Direction = Direction.ENTRY,
        home: str = "粤B",
        snapshot_size: tuple[int, int] = (1280, 720),
        clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        self.lane_id = lane_id
        self.direction = direction
        self.timing = timing if timing is not None else SimTiming()
        self.opens = 0  # open_gate calls carried out, so a duplicated command shows up
        self.panel = Panel()  # what the LED display shows now, and its camera films
        self._rng = rng
        self._home = home
        self._size = snapshot_size
        self._clock = clock
        self._gate = GateState.DOWN
        self._faults: set[FaultCode] = set()
        self._emit: Callable[[LaneEvent], None] | None = None
        self._backlog: deque[LaneEvent] = deque(maxlen=_BACKLOG)
        self._changed = asyncio.Event()
        self._motion: asyncio.Task[None] | None = None
        self._car_on_loop = False  # the loop detector under the barrier sees a car
        self._passed_since_up = False
        # What the camera sees: the car in the lane, how and since when (loop time) it
        # moves, and where the arm was when the barrier last changed state.
        self._car: tuple[Car, Motion, float] | None = None
        self._arm: tuple[float, float] = (arm_angle(self._gate), -math.inf)
        # Paint and position are looks only: drawn from their own generator so the
        # world's randomness (plates, reads, faults) stays what a seed made it.
        self._looks = random.Random(lane_id)
        if len(home) != 2 or not is_valid(home + "12345"):
            raise ValueError(f"home must be a province and an authority letter, not {home!r}")

    @property
    def gate(self) -> GateState:
        return self._gate

    @property
    def faults(self) -> frozenset[FaultCode]:
        return frozenset(self._faults)

    @property
    def shown(self) -> tuple[str, ...]:
        """The lines the LED display shows now."""
        return self.panel.lines

    @property
    def qr(self) -> str | None:
        """The URL of the QR code the LED display shows now, if any."""
        return self.panel.qr

    def view(self, now: float) -> View:
        """What the lane's camera sees at loop time ``now``: the arm at its angle, and
        the car in the lane, if any, with its true plate."""
        angle, since = self._arm
        moved = now - since
        if self._gate is GateState.RISING:
            angle += (ARM_UP - angle) * _progress(moved, self.timing.lift_s)
        elif self._gate is GateState.FALLING:
            angle -= angle * _progress(moved, self.timing.fall_s)
        if self._car is None:
            return View(angle, panel=self.panel)
        car, motion, start = self._car
        u = now - start
        if motion is Motion.ARRIVING:
            pose = arriving(_progress(u, _ROLL_IN_S))
        elif motion is Motion.PASSING:
            pose = leaving(_progress(u, self.timing.pass_s))
        elif u < _REVERSE_S:
            pose = arriving(1.0 - u / _REVERSE_S)
        else:
            return View(angle, panel=self.panel)
        return View(angle, car, pose, self.panel)

    async def run(self, emit: Callable[[LaneEvent], None]) -> None:
        """Run the simulated world until cancelled, reporting what the hardware would."""
        if self._emit is not None:
            raise RuntimeError(f"lane {self.lane_id} is already running")
        self._emit = emit
        # A real controller reports its barrier's position when it starts watching it.
        emit(GateChanged(self._gate))
        while self._backlog:
            emit(self._backlog.popleft())
        try:
            async with asyncio.TaskGroup() as tasks:
                tasks.create_task(self._keep_gate())
                tasks.create_task(self._traffic(tasks))
        finally:
            self._emit = None

    async def open_gate(self) -> None:
        if self._gate is GateState.UP:
            self.opens += 1
            return
        if FaultCode.GATE_MOTOR in self._faults:
            raise DriverRefused("gate_motor_fault")
        self.opens += 1
        await self._lift()

    async def display(self, lines: tuple[str, ...], qr: str | None = None) -> None:
        if not DISPLAY_SIZE.fits(lines) or (qr is not None and len(qr) > MAX_DISPLAY_QR):
            raise DriverRefused("display_overflow")
        # A newline or control code would scroll or blank the panel instead of showing text.
        if not all(text.isprintable() for text in (*lines, qr or "")):
            raise DriverRefused("display_bad_text")
        self.panel = Panel(tuple(lines), qr)

    def press_call(self) -> None:
        """Press the intercom's call button, as an installer testing the lane, a demo
        or a test wants; it is reported like a driver's press."""
        self._send(CallPressed())

    def raise_fault(self, code: FaultCode) -> None:
        """Break part of the lane, as a demo or a test wants; ``clear_fault`` repairs it."""
        if code in self._faults:
            return
        self._faults.add(code)
        self._send(FaultRaised(code=code.value, detail=_FAULT_DETAIL[code]))
        self._poke()

    def clear_fault(self, code: FaultCode) -> None:
        self._faults.discard(code)
        self._poke()

    # The barrier.

    async def _lift(self) -> None:
        if self._gate is GateState.UP:
            return
        if self._motion is None or self._motion.done():
            self._motion = asyncio.create_task(self._rise())
        # The motor keeps turning when whoever asked stops waiting.
        await asyncio.shield(self._motion)

    async def _rise(self) -> None:
        # From FALLING this reverses the arm, as barrier controllers do on a new open.
        self._set_gate(GateState.RISING)
        await asyncio.sleep(self.timing.lift_s)
        self._set_gate(GateState.UP)

    async def _keep_gate(self) -> None:
        """Lower the barrier behind each car, or after ``hold_s`` if no car comes."""
        loop = asyncio.get_running_loop()
        while True:
            await self._until(self._gate_is_up)
            up_at = loop.time()
            while not self._passed_since_up:
                if self._car_on_loop:
                    await self._until(lambda: not self._car_on_loop or self._passed_since_up)
                    continue
                remaining = up_at + self.timing.hold_s - loop.time()
                if remaining <= 0 or not await self._until(
                    lambda: self._car_on_loop or self._passed_since_up, remaining
                ):
                    break
            self._set_gate(GateState.FALLING)
            await asyncio.sleep(self.timing.fall_s)
            if self._gate is GateState.FALLING:
                self._set_gate(GateState.DOWN)

    def _gate_is_up(self) -> bool:
        return self._gate is GateState.UP

    def _set_gate(self, state: GateState) -> None:
        if state is self._gate:
            return
        now = asyncio.get_running_loop().time()
        self._arm = (self.view(now).arm, now)
        self._gate = state
        if state is GateState.UP:
            self._passed_since_up = False
        self._send(GateChanged(state))
        self._poke()

    # The traffic.

    async def _traffic(self, tasks: asyncio.TaskGroup) -> None:
        mean = self.timing.mean_arrival_s
        if math.isinf(mean):
            await asyncio.Event().wait()  # nobody ever comes
            return
        while True:
            await asyncio.sleep(self._rng.expovariate(1.0 / mean) if mean > 0 else 0.0)
            if self._rng.random() < self.timing.fault_p:
                self._break_down(tasks)
            await self._serve_car()

    async def _serve_car(self) -> None:
        """One car from stopping at the barrier to driving through or giving up."""
        timing, rng = self.timing, self._rng
        # Drawn only when plate-less cars are asked for, so a seeded world without them
        # is the same world it always was.
        plateless = timing.no_plate_p > 0 and rng.random() < timing.no_plate_p
        truth = (
            ""
            if plateless
            else random_plate(rng, new_energy=rng.random() < timing.new_energy_p, home=self._home)
        )
        car = Car(
            truth,
            colour_of(truth),
            self._looks.choice(CAR_PAINTS),
            self._looks.uniform(-0.05, 0.05),
        )
        self._car = (car, Motion.ARRIVING, asyncio.get_running_loop().time())
        # A dead loop detector never triggers the camera, and never tells the gate a car
        # is under it.
        detected = FaultCode.LOOP_DETECTOR not in self._faults
        self._car_on_loop = detected
        self._poke()
        read = await self._photograph(car) if detected else None
        called = rng.random() < timing.call_p
        if called:
            self._send(CallPressed())
        if (
            self.direction is Direction.ENTRY
            and read is not None
            and is_valid(read)
            and FaultCode.GATE_MOTOR not in self._faults
            and rng.random() < timing.auto_open_p
        ):
            # The car park's own system lets a recognised car in; not a centre command,
            # so it does not count in ``opens``.
            await self._lift()
        if not await self._until(self._gate_is_up, timing.call_after_s):
            if not called:
                self._send(CallPressed())
            if not await self._until(self._gate_is_up, timing.patience_s - timing.call_after_s):
                self._car_on_loop = False  # reverses out of the lane
                self._car = (car, Motion.REVERSING, asyncio.get_running_loop().time())
                self._poke()
                return
        self._car = (car, Motion.PASSING, asyncio.get_running_loop().time())
        await asyncio.sleep(timing.pass_s)
        self._car = None
        self._car_on_loop = False
        self._passed_since_up = FaultCode.LOOP_DETECTOR not in self._faults
        self._poke()

    async def _photograph(self, car: Car) -> str:
        """Emit what the camera reads of ``car``; the picture always shows the truth."""
        truth = car.plate
        timing, rng = self.timing, self._rng
        dirty = FaultCode.CAMERA_DIRTY in self._faults
        wrong = rng.random() < min(1.0, timing.misread_p * (4 if dirty else 1))
        read = misread(truth, rng) if wrong and truth else truth
        confidence = rng.uniform(0.55, 0.85) if wrong else rng.uniform(0.90, 0.995)
        if not truth:  # a blank plate: the camera saw a car and read nothing
            confidence = 0.0
        if dirty:
            confidence *= 0.8
        colour = colour_of(truth)
        at = self._clock()
        # OpenCV takes tens of milliseconds per frame: keep it off the event loop.
        snap = await asyncio.to_thread(
            render,
            truth,
            colour,
            gate_angle=arm_angle(self._gate),
            at=at,
            seed=rng.getrandbits(32),
            size=self._size,
            caption=f"{self.lane_id} {self.direction.value}",
            paint=car.paint,
        )
        self._send(
            VehicleSeen(
                at=at,
                plate=read,
                plate_colour=colour,
                confidence=round(confidence, 3),
                box=snap.box,
                snapshot_jpeg=snap.jpeg,
            )
        )
        return read

    def _break_down(self, tasks: asyncio.TaskGroup) -> None:
        code = self._rng.choice(list(FaultCode))
        if code in self._faults:
            return
        self.raise_fault(code)
        tasks.create_task(self._repair(code))

    async def _repair(self, code: FaultCode) -> None:
        await asyncio.sleep(self.timing.fault_s)
        self.clear_fault(code)

    # Plumbing.

    def _send(self, event: LaneEvent) -> None:
        if self._emit is None:
            self._backlog.append(event)
        else:
            self._emit(event)

    def _poke(self) -> None:
        """Wake everything waiting in ``_until`` to look at the lane again."""
        self._changed.set()
        self._changed = asyncio.Event()

    async def _until(self, ready: Callable[[], bool], timeout: float | None = None) -> bool:
        """Wait until ``ready()`` holds; False if ``timeout`` seconds pass first."""
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not ready():
            changed = self._changed
            if deadline is None:
                await changed.wait()
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                async with asyncio.timeout(remaining):
                    await changed.wait()
            except TimeoutError:
                return ready()
        return True


def _progress(elapsed: float, duration: float) -> float:
    """How far, from 0 to 1, a movement of ``duration`` seconds is after ``elapsed``."""
    return 1.0 if duration <= 0 else min(max(elapsed / duration, 0.0), 1.0)
