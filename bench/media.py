"""Live video and intercom through the centre, measured against what the peers cost on
their own.

Everything real: the centre is ``seat serve`` in its own process (user and lanes added
with the ``seat`` CLI), the lane is a ``seat lane`` agent streaming its synthetic
1280x720 camera at 15 fps, and viewers are aiortc peers signing their offers through
the HTTP API like the console. The figures:

* **first frame**, from the offer's POST to the first decoded frame, for ten fresh
  viewers of a lane already streaming (warm: they start from the centre's GOP cache)
  and of a lane that is not (cold: the centre asks the lane to start its camera).
  Baseline: the same viewer peers answered directly, in this process, by the very peer
  the centre answers with (``media.centre.viewer.Viewer``) fed by the same camera
  (``bench.direct_lane``): no HTTP, no lane link, no other process.
* **centre CPU per viewer** of one lane's stream, from ``/proc/<pid>/stat`` over a
  10 s window: (CPU with N viewers - CPU streaming to none) / N, for N = 1, 4, 16
  viewers living in four other processes (``bench.viewer_worker``; they receive every
  packet but do not decode). Baseline: the same with a centre that decodes each lane
  once and encodes per viewer, as a plain aiortc relay does
  (``bench.transcoding_centre``); at 16 viewers that cannot keep up on two cores and
  is only estimated.
* **what hearing the lane costs** (``bench.centre_cpu.audio_cpu``, its own centre): the
  lane's microphone reaching the centre (the stream to nobody with audio on, minus
  with video alone), and the CPU per listener and for the one talker beyond a video
  viewer's, at 1 and 4 viewers.
* **CPU per packet per viewer**: a viewer's share of the centre's CPU divided by the
  RTP packets per second it received (from its own ``getStats()``), for video and for
  audio, so figures compare across bit rates and with other relays (Janus's streaming
  plugin, C, costs about 30 us per packet per viewer on the development machine), and
  what is left above the floor the kernel sets (``bench.datagrams``): a datagram that
  wakes a viewer asleep on this machine costs its sender the wake-up, which each Opus
  packet pays and a video frame's burst mostly does not.
* **intercom delay added by the centre**: tone bursts (``ToneMicrophone.mark``) from a
  talking viewer to the lane's ``RecordingSpeaker`` and from the lane's microphone to
  the viewer (whose receiver keeps Opus packets and decodes them the same way), found
  with ``find_bursts``; the centre's figure minus the direct one, medians of 8 bursts.
  The lane for this is an agent in this process, so its speaker can be read.
* **first frame from an RTSP camera**, cold, for ten fresh viewers of a ``seat lane``
  agent whose camera is GStreamer's RTSP server (``tests/rtsp_camera.py``, 1280x720 at
  15 fps, a keyframe a second, run by Debian's Python). Baseline: what opening that
  camera costs a lane that opens it only when asked (FFmpeg open to first unit, as the
  lane opens it and with FFmpeg's default probe), medians of three.
* **frame age**, capture (the time stamped in the picture) to decode at an aiortc viewer,
  over 15 s, leaving out the first GOP a viewer decodes (the catch-up burst is old by
  design). An aiortc viewer holds each frame until the next one's first packet
  arrives (one frame, 67 ms at 15 fps), which a browser does not; the direct figure
  shows that share.

    python bench/media.py [--json]

The machine is shared and noisy: read the ratios. A run takes about five minutes.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

# Run as a script, this file's directory is first on sys.path and its name would shadow
# the ``media`` package: the repository root goes before it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.centre_cpu import audio_cpu, centre_cpu
from bench.datagrams import floor
from bench.direct_lane import DirectLane
from bench.figures import measure_and_print
from bench.gate_latency import percentile
from bench.peers import Answerer, CentreLane, Shown, ViewerPeer, leave
from bench.processes import PASSWORD, USERNAME, Centre, centre
from gates.backoff import Backoff
from gates.lane.agent import LaneAgent, link_url
from gates.lane.session import LaneSession
from gates.lane.sim import SimLane, SimTiming
from media.lane.camera import FfmpegCamera, SyntheticCamera
from media.lane.ffmpeg import default_options
from media.lane.publisher import Publisher
from media.lane.tones import MARK_HZ, RATE, find_bursts
from media.lane.voice import RecordingSpeaker, ToneMicrophone
from tests.rtsp import rtsp_camera

VIDEO_LANE = "L1"  # a `seat lane` agent, 1280x720 at 15 fps
VOICE_LANE = "A1"  # an agent in this process, so its speaker can be read
RTSP_LANE = "R1"  # a `seat lane` agent with an RTSP camera
OPENS = 3
# What FFmpeg probes unless told otherwise (libavformat's probesize default, 5 MB).
DEFAULT_PROBE = {"probesize": "5000000"}
SIZE = (1280, 720)
FPS = 15
FIRST_FRAME_VIEWERS = 10
FRAME_AGE_S = 15.0
BURSTS = 8
BURST_GAP_S = 0.3  # a burst lasts 0.1 s
LATENCY_GRACE_S = 0.5  # the lane stops soon after the last viewer: cold starts
VIEWER_COUNTS = (1, 4, 16)
TRANSCODE_COUNTS = (1, 4)
CPUS = os.cpu_count() or 1
QUIET = SimTiming(lift_s=0.0, mean_arrival_s=math.inf)

# The intercom's two directions: the JSON key of each and its name in the report.
WAYS = (("audio_bridge", "agent_to_lane"), ("audio_bridge_lane_to_agent", "lane_to_agent"))
AUDIO_BUDGET_MS = 40.0
FRAME_AGE_TARGET_MS = 250.0
PER_VIEWER_TARGET_PCT = 1.5
RATIO_TARGET = 10.0
AUDIO_COUNTS = (1, 4)
# Janus's streaming plugin (C) relaying the same kind of stream to aiortc viewers on the
# development machine: its cost follows packets per second, about this much each.
JANUS_US_PER_PACKET = 30.0
US_PER_PCT = 10_000  # 1 % of a core is 10 ms of CPU each second


# ------------------------------------------------------------------ first frame, age


async def first_frame(lane: Answerer) -> tuple[float, ViewerPeer]:
    """A fresh decoding viewer; ms from its offer leaving to its first decoded frame."""
    peer = ViewerPeer()
    try:
        started = await peer.connect(lane)
        async with asyncio.timeout(20):
            shown = await peer.first_frame
    except BaseException:
        await peer.close()
        raise
    return (shown - started) * 1000, peer


async def cold_starts(lane: Answerer, stopped: Callable[[int], Awaitable[None]]) -> list[float]:
    """Viewers of a lane that is not streaming, one at a time; after each leaves, wait
    for ``stopped(n)``: the lane has stopped streaming for the n-th time."""
    times = []
    for n in range(1, FIRST_FRAME_VIEWERS + 1):
        ms, peer = await first_frame(lane)
        times.append(ms)
        await leave(peer, lane)
        await stopped(n)
    return times


async def warm_starts(lane: Answerer) -> tuple[list[float], list[Shown]]:
    """Fresh viewers of a lane one viewer keeps streaming; that viewer's frames over
    ``FRAME_AGE_S`` give the frame age."""
    _, holder = await first_frame(lane)
    try:
        started = time.monotonic()
        times = []
        for _ in range(FIRST_FRAME_VIEWERS):
            ms, peer = await first_frame(lane)
            times.append(ms)
            await leave(peer, lane)
        await asyncio.sleep(max(0.0, FRAME_AGE_S - (time.monotonic() - started)))  # window
        return times, holder.frames_since_join()
    finally:
        await leave(holder, lane)


def ages_ms(frames: Sequence[Shown]) -> list[float]:
    return [(frame.at - frame.stamp) * 1000 for frame in frames if frame.stamp is not None]


# ------------------------------------------------------------------ intercom


async def intercom_delays(
    lane: Answerer, lane_microphone: ToneMicrophone, lane_speaker: RecordingSpeaker
) -> tuple[list[float], list[float]]:
    """One talking viewer; ``BURSTS`` marked bursts each way. Returns the delays (ms)
    of the bursts heard, agent to lane and lane to agent."""
    microphone = ToneMicrophone(seed=2)
    peer = ViewerPeer(talk=True)
    await peer.connect(lane)
    assert peer.heard is not None
    speaking = asyncio.create_task(peer.speak(microphone))
    try:
        async with asyncio.timeout(20):  # both ways flowing before the first mark
            await lane_speaker.wait_heard(lane_speaker.heard + 25)
            await peer.heard.wait_heard(25)
        up, down = [], []
        for _ in range(BURSTS):
            up.append(microphone.mark())
            down.append(lane_microphone.mark())
            await asyncio.sleep(BURST_GAP_S)  # the bursts' pacing
        marked_up = [await mark for mark in up]
        marked_down = [await mark for mark in down]
        # The last bursts' way across: 15 more packets (300 ms) heard at each far end.
        await lane_speaker.wait_heard(lane_speaker.heard + 15)
        await peer.heard.wait_heard(peer.heard.heard + 15)
        return burst_delays(marked_up, lane_speaker), burst_delays(marked_down, peer.heard)
    finally:
        speaking.cancel()
        await asyncio.gather(speaking, return_exceptions=True)
        await leave(peer, lane)


def burst_delays(marks: Sequence[float], speaker: RecordingSpeaker) -> list[float]:
    """For each mark (Unix capture time), ms until its burst arrived at ``speaker``."""
    arrivals = [speaker.arrival_time(s) for s in find_bursts(speaker.samples(), RATE, MARK_HZ)]
    delays = []
    for mark in marks:
        heard = [at for at in arrivals if mark <= at < mark + 1.0]
        if heard:
            delays.append((min(heard) - mark) * 1000)
    return delays


@contextlib.asynccontextmanager
async def voice_lane(
    running: Centre, lane: str
) -> AsyncIterator[tuple[ToneMicrophone, RecordingSpeaker]]:
    """A lane agent in this process with a small camera, the simulator's microphone
    and a speaker that records; online until the block ends."""
    token = running.tokens[lane]
    microphone = ToneMicrophone(seed=1)
    speaker = RecordingSpeaker()
    publisher = Publisher(
        lane,
        token,
        camera=lambda: SyntheticCamera(lane, size=(320, 240), fps=FPS),
        microphone=lambda: microphone,
        speaker=speaker,
    )
    agent = LaneAgent(
        [link_url(running.url)],
        LaneSession(lane, token),
        SimLane(lane, random.Random(1), QUIET),
        Backoff(first=0.05, cap=0.5),
        publisher=publisher,
    )
    task = asyncio.create_task(agent.run())
    try:
        async with asyncio.timeout(20):
            await agent.connected.wait()
        yield microphone, speaker
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# ------------------------------------------------------------------ an RTSP camera


async def camera_open_ms(url: str, options: dict[str, str] | None = None) -> float:
    """ms from opening ``url`` as the lane does to its first unit (a keyframe)."""
    started = time.perf_counter()
    async with contextlib.aclosing(FfmpegCamera(url, options=options).units()) as units:
        async for _ in units:
            break
    return (time.perf_counter() - started) * 1000


async def rtsp_cold(data_dir: Path) -> dict[str, Any]:
    """Cold first frames of a lane with a real RTSP camera, and what opening the camera
    on demand would cost instead."""
    size = f"{SIZE[0]}x{SIZE[1]}"
    async with rtsp_camera("--size", size, "--fps", str(FPS), "--gop", str(FPS)) as camera:
        lane_probe = [await camera_open_ms(camera.url) for _ in range(OPENS)]
        full = {**default_options(camera.url), **DEFAULT_PROBE}
        default_probe = [await camera_open_ms(camera.url, full) for _ in range(OPENS)]
        async with centre(
            data_dir, [RTSP_LANE], grace_s=LATENCY_GRACE_S, log_level="INFO"
        ) as running:
            await running.add_lane_agent(RTSP_LANE, camera=camera.url)
            client = await CentreLane.login(running.url, USERNAME, PASSWORD)
            try:

                async def stopped(n: int) -> None:
                    await running.process.logged("media.upstream.closed", n)

                cold = await cold_starts(CentreLane(client, RTSP_LANE), stopped)
            finally:
                await client.aclose()
    return {"cold": cold, "open": lane_probe, "open_default_probe": default_probe}


def rtsp_figures(rtsp: dict[str, Any]) -> dict[str, Any]:
    r: dict[str, Any] = {}
    for p in (50, 90):
        r[f"first_frame_rtsp_cold_ms_p{p}"] = _ms(rtsp["cold"], p)
    r["rtsp_open_ms"] = round(statistics.median(rtsp["open"]), 1)
    r["rtsp_open_default_probe_ms"] = round(statistics.median(rtsp["open_default_probe"]), 1)
    return r


def rtsp_report(r: dict[str, Any]) -> list[str]:
    lines = []
    for p in (50, 90):
        mine, theirs = r[f"first_frame_rtsp_cold_ms_p{p}"], r["rtsp_open_ms"]
        lines.append(
            f"first_frame_rtsp_cold_p{p}: {mine} ms ({_x(mine, theirs)} opening the camera "
            f"on demand {theirs} ms; {r['rtsp_open_default_probe_ms']} ms with FFmpeg's "
            f"default probe)"
        )
    return lines


# ------------------------------------------------------------------ the latency phases


async def through_centre(data_dir: Path) -> dict[str, Any]:
    async with centre(
        data_dir, [VIDEO_LANE, VOICE_LANE], grace_s=LATENCY_GRACE_S, log_level="INFO"
    ) as running:
        await running.add_lane_agent(VIDEO_LANE, size=f"{SIZE[0]}x{SIZE[1]}", fps=FPS)
        client = await CentreLane.login(running.url, USERNAME, PASSWORD)
        try:
            lane = CentreLane(client, VIDEO_LANE)

            async def stopped(n: int) -> None:
                await running.process.logged("media.upstream.closed", n)

            cold = await cold_starts(lane, stopped)
            warm, frames = await warm_starts(lane)
            async with voice_lane(running, VOICE_LANE) as (microphone, speaker):
                up, down = await intercom_delays(
                    CentreLane(client, VOICE_LANE), microphone, speaker
                )
        finally:
            await client.aclose()
    return {"cold": cold, "warm": warm, "ages": ages_ms(frames), "up": up, "down": down}


async def direct() -> dict[str, Any]:
    video = DirectLane(lambda: SyntheticCamera(VIDEO_LANE, size=SIZE, fps=FPS))
    try:
        cold = await cold_starts(video, _nothing)
        warm, frames = await warm_starts(video)
    finally:
        await video.close()
    microphone = ToneMicrophone(seed=1)
    speaker = RecordingSpeaker()
    voice = DirectLane(
        lambda: SyntheticCamera(VOICE_LANE, size=(320, 240), fps=FPS),
        microphone=microphone,
        speaker=speaker,
    )
    try:
        up, down = await intercom_delays(voice, microphone, speaker)
    finally:
        await voice.close()
    return {"cold": cold, "warm": warm, "ages": ages_ms(frames), "up": up, "down": down}


async def _nothing(n: int) -> None:
    """The direct lane stops its camera as the last viewer leaves."""


# ------------------------------------------------------------------ the run


def _ms(values: Sequence[float], p: float) -> float:
    return round(percentile(values, p), 1) if values else math.nan


async def bench() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="seat-media-bench-") as tmp:
        root = Path(tmp)
        bridged = await through_centre(root / "latency")
        alone = await direct()
        rtsp = await rtsp_cold(root / "rtsp")
        size = f"{SIZE[0]}x{SIZE[1]}"
        passthrough = await centre_cpu(
            root / "passthrough", VIDEO_LANE, size, FPS, VIEWER_COUNTS, ("console.cli", "serve")
        )
        transcode = await centre_cpu(
            root / "transcode", VIDEO_LANE, size, FPS, TRANSCODE_COUNTS,
            ("bench.transcoding_centre",),
        )  # fmt: skip
        hearing = await audio_cpu(root / "audio", VIDEO_LANE, size, FPS, AUDIO_COUNTS)
    packets_per_frame = round(passthrough[max(TRANSCODE_COUNTS)]["video_pps"] / FPS)
    kernel = await asyncio.to_thread(floor, max(packets_per_frame, 1))
    return {
        **latencies(bridged, alone),
        **rtsp_figures(rtsp),
        **loads(passthrough, transcode),
        **packet_costs(passthrough),
        **audio_loads(hearing),
        "datagram_floor_lone_us": kernel["lone_us"],
        "datagram_floor_burst_us": kernel["burst_us"],
        "datagram_floor_burst": packets_per_frame,
    }


def latencies(bridged: dict[str, Any], alone: dict[str, Any]) -> dict[str, Any]:
    """First frame, frame age and intercom figures through the centre and direct."""
    r: dict[str, Any] = {}
    for name, key in (("", "warm"), ("_cold", "cold")):
        for p in (50, 90):
            r[f"first_frame{name}_ms_p{p}"] = _ms(bridged[key], p)
            r[f"first_frame{name}_direct_ms_p{p}"] = _ms(alone[key], p)
    for p in (50, 99):
        r[f"frame_age_ms_p{p}"] = _ms(bridged["ages"], p)
        r[f"frame_age_direct_ms_p{p}"] = _ms(alone["ages"], p)
    r["frame_age_frames"] = len(bridged["ages"])
    for way, (key, _) in zip(("up", "down"), WAYS, strict=True):
        through, straight = bridged[way], alone[way]
        r[f"{key}_ms"] = round(statistics.median(through), 1) if through else math.nan
        r[f"{key}_direct_ms"] = round(statistics.median(straight), 1) if straight else math.nan
        r[f"{key}_added_ms"] = round(r[f"{key}_ms"] - r[f"{key}_direct_ms"], 1)
        r[f"{key}_bursts_heard"] = len(through)
        r[f"{key}_direct_bursts_heard"] = len(straight)
    return r


def loads(
    passthrough: dict[int, dict[str, float]], transcode: dict[int, dict[str, float]]
) -> dict[str, Any]:
    """Centre CPU per viewer, passthrough and transcoding, by number of viewers."""
    r: dict[str, Any] = {
        "cpu_streaming_no_viewer_pct": round(passthrough[0]["centre_pct"], 2),
        "cpu_streaming_no_viewer_transcode_pct": round(transcode[0]["centre_pct"], 2),
    }
    for mode, by_count in (("passthrough", passthrough), ("transcode", transcode)):
        zero = by_count[0]["centre_pct"]
        viewed = {n: load for n, load in by_count.items() if n}
        r[f"cpu_per_viewer_{mode}_pct_by_viewers"] = {
            str(n): round((load["centre_pct"] - zero) / n, 2) for n, load in viewed.items()
        }
        r[f"cpu_centre_{mode}_pct_by_viewers"] = {
            str(n): round(load["centre_pct"], 1) for n, load in by_count.items()
        }
        r[f"cpu_machine_{mode}_pct_by_viewers"] = {
            str(n): round(load["machine_pct"], 1) for n, load in by_count.items()
        }
        r[f"viewer_fps_{mode}_by_viewers"] = {
            str(n): {"min": round(load["fps_min"], 1), "mean": round(load["fps_mean"], 1)}
            for n, load in viewed.items()
        }
    # The single figures are at 4 viewers, the most measured in both modes, so that
    # ``ratio`` is exactly the one divided by the other.
    common = str(max(TRANSCODE_COUNTS))
    r["cpu_per_viewer_passthrough_pct"] = r["cpu_per_viewer_passthrough_pct_by_viewers"][common]
    r["cpu_per_viewer_transcode_pct"] = r["cpu_per_viewer_transcode_pct_by_viewers"][common]
    r["ratio"] = round(r["cpu_per_viewer_transcode_pct"] / r["cpu_per_viewer_passthrough_pct"], 1)
    r["ratio_viewers"] = int(common)
    return r


def _per_viewer(by_count: dict[int, dict[str, float]], n: int) -> float:
    return (by_count[n]["centre_pct"] - by_count[0]["centre_pct"]) / n


def _us_per_packet(pct: float, pps: float) -> float:
    return round(pct * US_PER_PCT / pps, 1) if pps else math.nan


def packet_costs(passthrough: dict[int, dict[str, float]]) -> dict[str, Any]:
    """The passthrough centre's CPU per viewer against the packets each viewer got:
    comparable across bit rates, and with other relays."""
    viewed = [n for n in passthrough if n]
    return {
        "video_pps_per_viewer_by_viewers": {
            str(n): round(passthrough[n]["video_pps"], 1) for n in viewed
        },
        "us_per_video_packet_by_viewers": {
            str(n): _us_per_packet(_per_viewer(passthrough, n), passthrough[n]["video_pps"])
            for n in viewed
        },
    }


def audio_loads(hearing: dict[str, dict[int, dict[str, float]]]) -> dict[str, Any]:
    """What hearing the lane costs beside watching it: the lane's microphone reaching
    the centre (once per lane), each listener's and the talker's share beyond a video
    viewer's, and that per audio packet."""
    video, listen, talk = hearing["video"], hearing["listen"], hearing["talk"]
    r: dict[str, Any] = {
        "cpu_audio_upstream_pct": round(listen[0]["centre_pct"] - video[0]["centre_pct"], 2),
        "audio_pps_per_listener": round(listen[max(AUDIO_COUNTS)]["audio_pps"], 1),
    }
    for n in AUDIO_COUNTS:
        watcher, listener = _per_viewer(video, n), _per_viewer(listen, n)
        r.setdefault("cpu_per_video_viewer_pct_by_viewers", {})[str(n)] = round(watcher, 2)
        r.setdefault("cpu_per_listener_pct_by_viewers", {})[str(n)] = round(listener, 2)
        r.setdefault("cpu_audio_per_listener_pct_by_viewers", {})[str(n)] = round(
            listener - watcher, 2
        )
        r.setdefault("us_per_audio_packet_by_viewers", {})[str(n)] = _us_per_packet(
            listener - watcher, listen[n]["audio_pps"]
        )
        r.setdefault("us_per_video_packet_audio_run_by_viewers", {})[str(n)] = _us_per_packet(
            watcher, video[n]["video_pps"]
        )
    talker = talk[1]["centre_pct"] - listen[0]["centre_pct"]
    r["cpu_per_talker_pct"] = round(talker, 2)
    r["cpu_audio_per_talker_pct"] = round(talker - _per_viewer(video, 1), 2)
    # Both ends send one 20 ms Opus packet at a time: as many each way.
    r["us_per_audio_packet_talker"] = _us_per_packet(
        talker - _per_viewer(video, 1), 2 * talk[1]["audio_pps"]
    )
    return r


def audio_report(r: dict[str, Any]) -> list[str]:
    """The audio and per-packet figures, ``name: value unit (ratio vs baseline)``: audio
    per packet against video per packet in the same run, and both against Janus."""
    lines = [
        f"centre_cpu_lane_microphone: {r['cpu_audio_upstream_pct']} % of a core per lane "
        f"(its Opus reaching the centre, {r['audio_pps_per_listener']} packets/s)"
    ]
    for n in AUDIO_COUNTS:
        audio = r["us_per_audio_packet_by_viewers"][str(n)]
        video = r["us_per_video_packet_audio_run_by_viewers"][str(n)]
        lines.append(
            f"cpu_audio_per_listener_{n}v: {r['cpu_audio_per_listener_pct_by_viewers'][str(n)]} "
            f"% of a core beyond a video viewer's "
            f"{r['cpu_per_video_viewer_pct_by_viewers'][str(n)]} %"
        )
        lines.append(
            f"us_per_audio_packet_{n}v: {audio} us per packet per viewer "
            f"({_x(audio, video)} video's {video} us; {_x(audio, JANUS_US_PER_PACKET)} "
            f"Janus's {JANUS_US_PER_PACKET:.0f} us)"
        )
    # What is left once the kernel's price for waking a receiver on this machine is
    # taken off (bench.datagrams): the relay's own cost, audio against video.
    lone, burst = r["datagram_floor_lone_us"], r["datagram_floor_burst_us"]
    lines.append(
        f"datagram_floor_lone: {lone} us per datagram (what the kernel charges a sender for "
        f"one that wakes a local receiver, as each Opus packet does)"
    )
    lines.append(
        f"datagram_floor_burst: {burst} us per datagram ({_x(burst, lone)} lone; in bursts "
        f"of {r['datagram_floor_burst']}, as a video frame)"
    )
    for n in AUDIO_COUNTS:
        audio = round(r["us_per_audio_packet_by_viewers"][str(n)] - lone, 1)
        video = round(r["us_per_video_packet_audio_run_by_viewers"][str(n)] - burst, 1)
        lines.append(
            f"us_above_floor_audio_{n}v: {audio} us per packet per viewer "
            f"({_x(audio, video)} video's {video} us above its floor)"
        )
    talker = r["us_per_audio_packet_talker"]
    lines.append(
        f"cpu_audio_per_talker: {r['cpu_audio_per_talker_pct']} % of a core beyond a video "
        f"viewer's; {talker} us per Opus packet relayed ({_x(talker, JANUS_US_PER_PACKET)} "
        f"Janus's {JANUS_US_PER_PACKET:.0f} us)"
    )
    for n, us in r["us_per_video_packet_by_viewers"].items():
        pps = r["video_pps_per_viewer_by_viewers"][n]
        lines.append(
            f"us_per_video_packet_passthrough_{n}v: {us} us per packet per viewer "
            f"({_x(us, JANUS_US_PER_PACKET)} Janus's {JANUS_US_PER_PACKET:.0f} us; "
            f"{pps} packets/s each)"
        )
    return lines


def _x(value: float, base: float) -> str:
    return f"{value / base:.2f}x" if base and not math.isnan(base) else "n/a"


def report(r: dict[str, Any]) -> list[str]:
    """One line per figure: ``name: value unit (ratio vs baseline)``. Latency is
    compared with the same peers connected directly, CPU with the transcoding centre
    and the targets."""
    lines = []
    for name, label in (("", "warm"), ("_cold", "cold")):
        for p in (50, 90):
            mine, theirs = r[f"first_frame{name}_ms_p{p}"], r[f"first_frame{name}_direct_ms_p{p}"]
            lines.append(
                f"first_frame_{label}_p{p}: {mine} ms ({_x(mine, theirs)} direct {theirs} ms)"
            )
    for key, label in WAYS:
        added = r[f"{key}_added_ms"]
        lines.append(
            f"audio_added_{label}: {added} ms ({_x(added, AUDIO_BUDGET_MS)} budget "
            f"{AUDIO_BUDGET_MS:.0f} ms; {r[f'{key}_ms']} ms through the centre vs "
            f"{r[f'{key}_direct_ms']} ms direct; {r[f'{key}_bursts_heard']} and "
            f"{r[f'{key}_direct_bursts_heard']} of {BURSTS} bursts heard)"
        )
    for p in (50, 99):
        mine, theirs = r[f"frame_age_ms_p{p}"], r[f"frame_age_direct_ms_p{p}"]
        lines.append(
            f"frame_age_p{p}: {mine} ms ({_x(mine, FRAME_AGE_TARGET_MS)} target "
            f"{FRAME_AGE_TARGET_MS:.0f} ms; direct {theirs} ms)"
        )
    lines.append(
        f"centre_cpu_streaming_to_no_viewer: {r['cpu_streaming_no_viewer_pct']} % of a core "
        f"(the zero of the per-viewer figures)"
    )
    passthrough = r["cpu_per_viewer_passthrough_pct_by_viewers"]
    transcode = r["cpu_per_viewer_transcode_pct_by_viewers"]
    for n in VIEWER_COUNTS:
        mine = passthrough[str(n)]
        lines.append(
            f"cpu_per_viewer_passthrough_{n}v: {mine} % of a core "
            f"({_x(mine, PER_VIEWER_TARGET_PCT)} target {PER_VIEWER_TARGET_PCT} %)"
        )
    for n in VIEWER_COUNTS:
        if str(n) in transcode:
            theirs = transcode[str(n)]
            lines.append(
                f"cpu_per_viewer_transcode_{n}v: {theirs} % of a core "
                f"({_x(theirs, passthrough[str(n)])} passthrough {passthrough[str(n)]} %)"
            )
        else:
            need = round(n * transcode[str(max(TRANSCODE_COUNTS))])
            lines.append(
                f"cpu_per_viewer_transcode_{n}v: not measured ({n} viewers would take the "
                f"centre alone about {need} % of a core; this machine has {100 * CPUS} %)"
            )
    lines.append(
        f"transcode_ratio_{r['ratio_viewers']}v: {r['ratio']}x "
        f"({_x(r['ratio'], RATIO_TARGET)} target {RATIO_TARGET:.0f}x)"
    )
    for mode in ("passthrough", "transcode"):
        for n, fps in r[f"viewer_fps_{mode}_by_viewers"].items():
            lines.append(
                f"viewer_fps_{mode}_{n}v: {fps['min']} fps ({_x(fps['min'], FPS)} the lane's "
                f"{FPS}; slowest viewer, mean {fps['mean']})"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    measure_and_print(
        bench,
        lambda result: [*report(result), *rtsp_report(result), *audio_report(result)],
        as_json=args.json,
    )


if __name__ == "__main__":
    main()
