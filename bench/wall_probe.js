// What bench/wall.py measures inside the console's page, installed before the page's
// own scripts run. `window.__wallExpected` (set just before) is the number of lane rows
// a full wall has. Nothing here touches the console's code: the same probe measures any
// version of it.
(() => {
  const expected = window.__wallExpected;
  const wall = {
    rowsAt: null, // when the last of the expected rows entered the document (ms)
    paintedAt: null, // when the frame showing them had been drawn (ms)
    longTasks: [], // [start, duration] of every task over 50 ms, from the start
    recording: null,
  };
  window.__wall = wall;

  new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) wall.longTasks.push([entry.startTime, entry.duration]);
  }).observe({ type: "longtask", buffered: true });

  // The wall is rendered when every row is in the document and a frame has been drawn
  // with them: a task queued from the next animation frame runs once that frame is done.
  const rows = new MutationObserver(() => {
    if (document.querySelectorAll("#lanes tr[data-lane]").length < expected) return;
    rows.disconnect();
    wall.rowsAt = performance.now();
    requestAnimationFrame(() => setTimeout(() => (wall.paintedAt = performance.now())));
  });
  rows.observe(document, { childList: true, subtree: true });

  /** Start timing every frame: the gaps between animation frames. */
  wall.record = () => {
    const recording = { from: performance.now(), deltas: [], on: true };
    let last = null;
    const frame = (now) => {
      if (last !== null) recording.deltas.push(now - last);
      last = now;
      if (recording.on) requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
    wall.recording = recording;
  };

  /** Stop, and say what was seen since `record()`. */
  wall.stop = () => {
    const recording = wall.recording;
    recording.on = false;
    return {
      deltas: recording.deltas,
      longTasks: wall.longTasks.filter(([start]) => start >= recording.from),
    };
  };

  /** Whether every lane of `shown` ({id: {gate, plate}}) shows what it last said. */
  wall.shows = (shown) => {
    const rows = new Map();
    for (const row of document.querySelectorAll("#lanes tr[data-lane]")) rows.set(row.dataset.lane, row);
    return Object.entries(shown).every(([id, last]) => {
      const row = rows.get(id);
      if (!row || row.getAttribute("data-gate") !== last.gate) return false;
      return last.plate === null || row.querySelector('[data-field="plate"]')?.textContent === last.plate;
    });
  };
})();
