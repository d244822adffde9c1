"""The lane wall in a real browser: 500 lanes against a 20-lane wall, side by side.

Starts two real centres (``seat serve``), one with 500 lanes in 10 car parks and one
with 20 lanes in one, their lanes simulated by processes speaking the lane link
(``bench/call_lanes.py``, its changes in ``bench/lane_changes.py``); every lane is
primed with a lowered barrier and a car read with its snapshot. An agent made with
``seat user add`` opens each centre's console in headless Chromium (1920×1080) and
the page is measured from inside (``bench/wall_probe.js``) and through the DevTools
protocol:

- **first render**: from navigation to the first frame drawn with every lane's row in
  the document (a mutation observer counts them; the frame after is the one drawn),
  the tasks over 50 ms meanwhile as total blocking time (each one's time past 50 ms),
  and the snapshots the page asked for before the network went quiet. The two walls
  load in turns, ``--loads`` times each; medians.
- **churn**: while lanes change at 50 a second for 10 s (cars with plates and
  snapshots, barriers, call buttons, faults, over lanes picked at random), every gap
  between animation frames: long frames (over 1.5 frames of 60 Hz, 25 ms), frames
  dropped (each long gap counted in the 16.7 ms frames it took), p99 frame time, long
  tasks, and the main thread's time in scripts, style and layout (the DevTools
  protocol's ``Performance`` counters). Then how long after the last change was sent
  until every row showed what its lane last said, beside when the tab's last stream
  message arrived (seen by Playwright, outside the page): the centre's share of it.

Both walls are measured in the same run, so the ratios (500 lanes ÷ 20) hold on a noisy
machine where the absolute figures do not. ``--profile DIR`` also saves each churn's
JavaScript CPU profile (``wall-N.cpuprofile``) and trace (``wall-N.trace.json``), both
for Chromium's DevTools, and prints the functions with the most time of their own and
the main thread's time by kind of work (layout, paint, script...).

    python bench/wall.py [--json] [--loads N] [--profile DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Run as a script, this file's directory is first on sys.path: the repository root goes
# before it, so ``bench`` is the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from playwright.async_api import (
    Browser,
    BrowserContext,
    CDPSession,
    Page,
    ViewportSize,
    async_playwright,
)

from bench.call_lanes import Fleet
from bench.calls import add_agents, seed_lanes
from bench.figures import measure_and_print
from bench.gate_latency import free_port, percentile
from bench.processes import PASSWORD, Centre, Process

WALL = 500
BASELINE = 20
LANES_PER_CAR_PARK = 50
LANES_PER_PROCESS = 250
CHANGES_PER_S = 50.0
CHURN_S = 10.0
LOADS = 5
FRAME_MS = 1000 / 60
LONG_FRAME_MS = 1.5 * FRAME_MS
VIEWPORT = ViewportSize(width=1920, height=1080)
CHROMIUM = "/usr/bin/chromium"  # Debian's package, as the browser tests use
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
PROBE = Path(__file__).with_name("wall_probe.js")
AGENT = "wall"
TRACED = ["devtools.timeline", "disabled-by-default-devtools.timeline"]
CAUGHT_UP_S = 30.0


def progress(text: str) -> None:
    """Where the run is, on stderr (stdout has the figures)."""
    print(f"wall: {text}", file=sys.stderr, flush=True)


@dataclass
class Wall:
    """One centre with its lanes, and a browser context logged in to its console."""

    lanes: int
    centre: Centre
    fleet: Fleet
    context: BrowserContext

    @property
    def url(self) -> str:
        return self.centre.url + "/"


async def start_wall(
    lanes: int, work_dir: Path, stack: contextlib.AsyncExitStack, browser: Browser
) -> Wall:
    """A centre with ``lanes`` lanes online and primed, the agent logged in."""
    data_dir = work_dir / f"wall-{lanes}"
    data_dir.mkdir()
    ids = [f"W{n:03d}" for n in range(lanes)]
    tokens = await seed_lanes(data_dir, ids, max(1, lanes // LANES_PER_CAR_PARK))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "SEAT_DATA_DIR": str(data_dir),
        "SEAT_PORT": str(port),
        "SEAT_LOG_LEVEL": "WARNING",
    }
    await add_agents(env, [AGENT])
    server = await Process.start(f"seat serve ({lanes} lanes)", ["console.cli", "serve"], env)
    stack.push_async_callback(server.stop)
    centre = Centre(url, env, server, tokens)
    await centre.wait_online(0)
    processes = -(-lanes // LANES_PER_PROCESS)
    fleet = await Fleet.start(f"lanes {lanes}", url, tokens, processes, data_dir, env)
    stack.push_async_callback(fleet.stop)
    await centre.wait_online(lanes)
    await fleet.churn()

    # Playwright's waits for a condition evaluate it as a string, which the console's
    # policy (script-src 'self') forbids.
    context = await browser.new_context(viewport=VIEWPORT, bypass_csp=True)
    stack.push_async_callback(context.close)
    await context.add_init_script(f"window.__wallExpected = {lanes};\n{PROBE.read_text()}")
    page = await context.new_page()
    await page.goto(url)
    await page.wait_for_selector('body[data-view="login"]')
    await page.fill("#username", AGENT)
    await page.fill("#password", PASSWORD)
    await page.click("#login-submit")
    await page.wait_for_selector('body[data-view="lanes"]')
    await page.close()
    return Wall(lanes, centre, fleet, context)


# ------------------------------------------------------------------ first render


@dataclass
class Load:
    rendered_ms: float
    blocking_ms: float
    snapshots: int


@dataclass
class Tab:
    """A console tab, with the snapshots it asked for and when its stream's messages
    arrived (``time.monotonic()``), both seen from outside the page."""

    page: Page
    snapshots: list[str] = field(default_factory=list)
    arrivals: list[float] = field(default_factory=list)


async def opened(wall: Wall) -> Tab:
    """A new tab on the console, once its full wall is drawn and the network is quiet."""
    tab = Tab(await wall.context.new_page())
    page = tab.page
    page.on("request", lambda r: tab.snapshots.append(r.url) if "/snapshot" in r.url else None)
    page.on(
        "websocket",
        lambda ws: ws.on("framereceived", lambda _: tab.arrivals.append(time.monotonic())),
    )
    await page.goto(wall.url)
    await page.wait_for_function("window.__wall.paintedAt !== null", timeout=60_000)
    await page.wait_for_load_state("networkidle")
    return tab


async def load(wall: Wall) -> Load:
    tab = await opened(wall)
    try:
        seen = await tab.page.evaluate("({at: __wall.paintedAt, tasks: __wall.longTasks})")
        blocking = sum(d - 50 for start, d in seen["tasks"] if start < seen["at"])
        return Load(seen["at"], blocking, len(tab.snapshots))
    finally:
        await tab.page.close()


# ------------------------------------------------------------------ churn


@dataclass
class Churn:
    deltas: list[float]
    long_tasks: list[tuple[float, float]]
    counters: dict[str, float]  # the DevTools protocol's Performance counters, differences
    caught_up_ms: float
    arrived_ms: float  # from the last change sent to the tab's last message
    snapshots: int


async def counters(cdp: CDPSession) -> dict[str, float]:
    answer = await cdp.send("Performance.getMetrics")
    return {metric["name"]: metric["value"] for metric in answer["metrics"]}


async def churn(wall: Wall, profile: Path | None) -> Churn:
    tab = await opened(wall)
    page = tab.page
    try:
        cdp = await wall.context.new_cdp_session(page)
        await cdp.send("Performance.enable")
        browser = wall.context.browser
        assert browser is not None
        if profile is not None:  # both walls: the profiles compare
            await cdp.send("Profiler.enable")
            await cdp.send("Profiler.start")
            await browser.start_tracing(page=page, categories=TRACED)
        before = await counters(cdp)
        fetched = len(tab.snapshots)
        await page.evaluate("__wall.record()")
        shown = await wall.fleet.churn(CHANGES_PER_S, CHURN_S)
        sent = time.monotonic()
        seen = await page.evaluate("__wall.stop()")
        after = await counters(cdp)
        await page.wait_for_function("s => __wall.shows(s)", arg=shown, timeout=CAUGHT_UP_S * 1000)
        caught_up = (time.monotonic() - sent) * 1000
        if profile is not None:
            taken = await cdp.send("Profiler.stop")
            profile.mkdir(parents=True, exist_ok=True)
            (profile / f"wall-{wall.lanes}.cpuprofile").write_text(json.dumps(taken["profile"]))
            trace = await browser.stop_tracing()
            (profile / f"wall-{wall.lanes}.trace.json").write_bytes(trace)
            progress(f"{wall.lanes} lanes: JavaScript functions by time of their own")
            for line in heaviest(taken["profile"]):
                progress(line)
            progress(f"{wall.lanes} lanes: the renderer's main thread by kind of work")
            for line in busiest(json.loads(trace)):
                progress(line)
        return Churn(
            seen["deltas"],
            [(start, d) for start, d in seen["longTasks"]],
            {name: after[name] - before.get(name, 0.0) for name in after},
            caught_up,
            (max(tab.arrivals, default=sent) - sent) * 1000,
            len(tab.snapshots) - fetched,
        )
    finally:
        await page.close()


def busiest(trace: dict[str, Any], top: int = 15) -> list[str]:
    """The renderer main thread's time by kind of work (style, layout, paint, image
    decoding, script...), each kind's events summed; nested kinds count in both."""
    events = trace["traceEvents"]
    main = {
        (e["pid"], e["tid"])
        for e in events
        if e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"
    }
    spent: Counter[str] = Counter()
    for e in events:
        if e.get("ph") == "X" and (e["pid"], e["tid"]) in main:
            spent[e["name"]] += e.get("dur", 0)
    return [f"{us / 1000:8.1f} ms  {name}" for name, us in spent.most_common(top)]


def heaviest(profile: dict[str, Any], top: int = 15) -> list[str]:
    """The functions with the most time of their own in a CPU profile, and where."""
    gaps = profile["timeDeltas"]
    spent: Counter[str] = Counter()
    nodes = {node["id"]: node for node in profile["nodes"]}
    for sample, gap in zip(profile["samples"], gaps, strict=True):
        frame = nodes[sample]["callFrame"]
        where = frame["url"].rsplit("/", 1)[-1]
        spent[f"{frame['functionName'] or '(anonymous)'} {where}:{frame['lineNumber'] + 1}"] += gap
    total = sum(gaps) or 1
    return [
        f"{us / 1000:8.1f} ms {100 * us / total:5.1f} %  {name}"
        for name, us in spent.most_common(top)
    ]


# ------------------------------------------------------------------ the run


async def bench(loads: int, profile: Path | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="seat-bench-wall-") as tmp:
        async with async_playwright() as playwright, contextlib.AsyncExitStack() as stack:
            browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            stack.push_async_callback(browser.close)
            progress(f"starting a {BASELINE}-lane and a {WALL}-lane centre")
            walls = [await start_wall(n, Path(tmp), stack, browser) for n in (BASELINE, WALL)]
            loaded: dict[int, list[Load]] = {wall.lanes: [] for wall in walls}
            for n in range(loads):
                progress(f"first render, load {n + 1} of {loads}")
                for wall in walls:
                    loaded[wall.lanes].append(await load(wall))
            churned: dict[int, Churn] = {}
            for wall in walls:
                progress(f"{wall.lanes} lanes: {CHANGES_PER_S:g} changes/s for {CHURN_S:g} s")
                churned[wall.lanes] = await churn(wall, profile)
            closed = sum(len(wall.fleet.closed) + len(wall.fleet.errors) for wall in walls)
    return figures(loaded, churned, closed)


def figures(
    loaded: dict[int, list[Load]], churned: dict[int, Churn], closed: int
) -> dict[str, Any]:
    r: dict[str, Any] = {"loads": len(loaded[WALL]), "lane_links_closed": closed}
    for lanes in (BASELINE, WALL):
        loads, c = loaded[lanes], churned[lanes]
        slow = [d for d in c.deltas if d > LONG_FRAME_MS]
        r[str(lanes)] = {
            "first_render_ms": round(statistics.median(x.rendered_ms for x in loads), 1),
            "first_render_blocking_ms": round(statistics.median(x.blocking_ms for x in loads), 1),
            "first_render_snapshots": statistics.median(x.snapshots for x in loads),
            "frames": len(c.deltas),
            "long_frames": len(slow),
            "frames_dropped": sum(round(d / FRAME_MS) - 1 for d in slow),
            "frame_ms_p99": round(percentile(c.deltas, 99), 1),
            "frame_ms_max": round(max(c.deltas), 1),
            "long_tasks": len(c.long_tasks),
            "long_task_ms": round(sum(d for _, d in c.long_tasks), 1),
            # Over the counters' own window, which holds the frames' and a little more.
            "busy_pct": round(100 * c.counters["TaskDuration"] / c.counters["Timestamp"], 1),
            "script_ms": round(1000 * c.counters["ScriptDuration"], 1),
            "style_layout_ms": round(
                1000 * (c.counters["RecalcStyleDuration"] + c.counters["LayoutDuration"]), 1
            ),
            "layouts": int(c.counters["LayoutCount"]),
            "caught_up_ms": round(c.caught_up_ms, 1),
            "arrived_ms": round(c.arrived_ms, 1),
            "churn_snapshots": c.snapshots,
        }
    return r


FIGURES = [
    ("first_render_ms", "ms", "to the first frame with every row, median of {loads} loads"),
    ("first_render_blocking_ms", "ms", "total blocking time until then"),
    ("first_render_snapshots", "images", "snapshots fetched by then; every lane has one"),
    ("long_frames", "frames", "over 25 ms, of {frames} in {churn_s:g} s of churn"),
    ("frames_dropped", "frames", "16.7 ms frames lost in those"),
    ("frame_ms_p99", "ms", "max {frame_ms_max} ms"),
    ("long_tasks", "tasks", "over 50 ms, {long_task_ms} ms in all"),
    ("busy_pct", "%", "of the main thread during churn"),
    ("script_ms", "ms", "in scripts during churn"),
    ("style_layout_ms", "ms", "in style and layout during churn, {layouts} layouts"),
    ("caught_up_ms", "ms", "from the last change sent to every row showing it"),
    ("arrived_ms", "ms", "from the last change sent to the tab's last stream message"),
    ("churn_snapshots", "images", "snapshots fetched during churn"),
]


def report(r: dict[str, Any]) -> list[str]:
    """One line per figure and wall: ``name: value unit (ratio vs baseline)``."""
    lines = []
    for name, unit, note in FIGURES:
        base, wall = r[str(BASELINE)][name], r[str(WALL)][name]
        ratio = f"{wall / base:.2f}x" if base else "n/a"
        context = note.format(loads=r["loads"], churn_s=CHURN_S, **r[str(WALL)])
        lines.append(f"wall_{name}_{BASELINE}: {base} {unit}")
        lines.append(
            f"wall_{name}_{WALL}: {wall} {unit} ({ratio} the {BASELINE}-lane wall; {context})"
        )
    lines.append(f"lane_links_closed: {r['lane_links_closed']} (0 expected)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--loads", type=int, default=LOADS, help="first renders of each wall")
    parser.add_argument("--profile", type=Path, help="save the churns' profiles and traces here")
    args = parser.parse_args()
    measure_and_print(lambda: bench(args.loads, args.profile), report, as_json=args.json)


if __name__ == "__main__":
    main()
