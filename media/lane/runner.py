"""Builds a lane agent from command-line choices: the URL, the token, the driver (the
simulator, or the hardware a lane file describes), and the lane's camera and intercom
devices."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gates.hardware.assembly import HardwareLane
from gates.hardware.options import LaneFileError
from gates.hardware.parts import LaneAudio
from gates.lane.agent import LaneAgent, LaneReplaced, link_url
from gates.lane.drivers import LaneDriver
from gates.lane.memory import CommandJournal, CommandMemory, JournalCorrupt
from gates.lane.session import LaneSession
from gates.lane.sim import DISPLAY_SIZE, SimLane, SimTiming
from gates.lane.snapshot import View
from gates.textrules import parse_count
from media.errors import AudioDeviceError
from media.lane.camera import Camera, FfmpegCamera, SyntheticCamera
from media.lane.device_url import shown
from media.lane.g711 import PhoneMicrophone, PhoneSpeaker
from media.lane.publisher import Publisher
from media.lane.voice import (
    DeviceMicrophone,
    DeviceSpeaker,
    Microphone,
    RecordingSpeaker,
    Speaker,
    ToneMicrophone,
)

SIM = "sim"
NONE = "none"
# ``kill -USR1 PID`` presses a simulated lane's call button, for whoever tests the lane
# (or the console's call handling) from outside the process.
PRESS_CALL = signal.SIGUSR1

log = logging.getLogger("seat.lane")


@dataclass(frozen=True, slots=True)
class MediaChoice:
    """``camera``: "sim", "none" or any FFmpeg URL or file; ``microphone`` and
    ``speaker``: "sim", "none" or "<ffmpeg device format>:<device>", e.g. "alsa:default"."""

    camera: str = SIM
    microphone: str = SIM
    speaker: str = SIM
    size: tuple[int, int] = (1280, 720)
    fps: float = 15.0


def parse_size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    if parse_count(width) is None or parse_count(height) is None:
        raise ValueError(f"a frame size is WIDTHxHEIGHT, e.g. 1280x720, not {text!r}")
    return int(width), int(height)


def _device(choice: str) -> tuple[str, str]:
    fmt, sep, device = choice.partition(":")
    if not sep or not fmt or not device:
        raise SystemExit(
            f"an audio device is sim, none or FORMAT:DEVICE (alsa:default), not {shown(choice)!r}"
        )
    return fmt, device


def publisher(
    lane: str,
    token: str,
    choice: MediaChoice,
    view: Callable[[float], View] | None,
    audio: LaneAudio | None = None,
) -> Publisher:
    """The lane's media; the simulated camera films ``view``, the simulated lane's (a
    lane of real hardware has none to film). A lane whose intercom is a device of its
    own (``audio``, a SIP intercom) hears and speaks through it, whatever ``choice``
    says of microphone and speaker."""
    camera: Callable[[], Camera] | None = None
    if choice.camera == SIM:
        if view is None:
            raise SystemExit("seat lane: --camera sim films the simulated lane only")
        # One camera for the agent's life: its scene's background is drawn once, not at
        # the start of every stream (100-200 ms at 720p); each stream still starts with
        # a fresh encoder, so at a keyframe.
        synthetic = SyntheticCamera(lane, view=view, size=choice.size, fps=choice.fps)
        camera = lambda: synthetic  # noqa: E731
    elif choice.camera != NONE:
        camera = lambda: FfmpegCamera(choice.camera, loop=True)  # noqa: E731
    microphone: Callable[[], Microphone] | None = None
    if audio is not None:
        microphone = lambda: PhoneMicrophone(audio)  # noqa: E731
    elif choice.microphone == SIM:
        microphone = ToneMicrophone
    elif choice.microphone != NONE:
        fmt, device = _device(choice.microphone)
        microphone = lambda: DeviceMicrophone(device, fmt)  # noqa: E731
    speaker: Speaker | None = None
    if audio is not None:
        speaker = PhoneSpeaker(audio)
    elif choice.speaker == SIM:
        speaker = RecordingSpeaker()
    elif choice.speaker != NONE:
        fmt, device = _device(choice.speaker)
        try:
            speaker = DeviceSpeaker(device, fmt)
        except AudioDeviceError as exc:
            raise SystemExit(f"the lane's speaker: {exc.detail}") from None
    return Publisher(
        lane,
        token,
        camera=camera,
        microphone=microphone,
        speaker=speaker,
    )


def press_call(lane: str, driver: LaneDriver) -> None:
    """What ``PRESS_CALL`` does: press the call button of a simulated lane. A real
    lane's button is pressed by drivers at the barrier, so its lane only logs that it
    was asked."""
    if isinstance(driver, SimLane):
        driver.press_call()
    else:
        log.warning("lane.call.signal_ignored lane=%s driver=%s", lane, type(driver).__name__)


@contextlib.contextmanager
def call_button_on_signal(lane: str, driver: LaneDriver) -> Iterator[None]:
    """Within the block, ``PRESS_CALL`` reaching this process calls ``press_call``."""
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(PRESS_CALL, press_call, lane, driver)
    try:
        yield
    finally:
        loop.remove_signal_handler(PRESS_CALL)


async def run_lane(
    servers: list[str],
    lane: str,
    token: str,
    *,
    driver: str = "sim",
    lift_s: float = 1.5,
    no_plate_p: float = 0.0,
    seed: int | None = None,
    heartbeat_ms: int = 5000,
    state: Path | None = None,
    media: MediaChoice | None = None,
    hardware: HardwareLane | None = None,
) -> None:
    """Run the lane: the simulated one, or with ``hardware`` the lane a lane file
    describes (``gates.hardware.assembly``)."""
    lane_driver: LaneDriver
    view: Callable[[float], View] | None = None
    if hardware is not None:
        lane_driver, agent, display = hardware, "seat-lane/hardware", hardware.display_size
        devices = hardware.described
    elif driver == "sim":
        sim = SimLane(lane, random.Random(seed), SimTiming(lift_s=lift_s, no_plate_p=no_plate_p))
        lane_driver, agent, display, view = sim, "seat-lane/sim", DISPLAY_SIZE, sim.view
        # The simulator is no hardware: an installer has nothing to look for, and its
        # agent, seat-lane/sim, says what it is.
        devices = ()
    else:
        raise SystemExit(f"unknown driver {driver!r}; this build has: sim")
    # Before anything slow: until the handler is set, SIGUSR1 ends the process.
    with call_button_on_signal(lane, lane_driver):
        try:
            memory = CommandJournal(state) if state is not None else CommandMemory()
        except (JournalCorrupt, OSError) as exc:
            raise SystemExit(f"seat lane: {exc}") from None
        session = LaneSession(
            lane,
            token,
            heartbeat_ms=heartbeat_ms,
            agent=agent,
            memory=memory,
            display=display,
            devices=devices,
        )
        audio = hardware.audio if hardware is not None else None
        media_publisher = publisher(lane, token, media or MediaChoice(), view, audio=audio)
        links = [link_url(server) for server in servers]
        try:
            await LaneAgent(links, session, lane_driver, publisher=media_publisher).run()
        except* LaneReplaced as replaced:
            raise SystemExit(f"seat lane: {replaced.exceptions[0]}") from None
        except* LaneFileError as bad:
            # A listening port taken by another program, found as the lane starts.
            raise SystemExit(f"seat lane: {bad.exceptions[0]}") from None
        finally:
            if isinstance(media_publisher.speaker, DeviceSpeaker):
                # A WAV file gets its length in its header only here.
                media_publisher.speaker.close()
