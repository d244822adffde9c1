// Times travel as ISO 8601 UTC and are shown in Asia/Shanghai whatever the seat
// computer's own time zone is (DESIGN.md decision 6), so every agent and every
// report reads the same clock.

const TIME_ZONE = "Asia/Shanghai";

// hourCycle h23, not hour12:false: the latter renders midnight as "24:00:00" in Chromium.
const parts = new Intl.DateTimeFormat("en-GB", {
  timeZone: TIME_ZONE,
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});

function pieces(iso) {
  const date = new Date(iso);
  if (iso == null || Number.isNaN(date.getTime())) return null;
  const out = {};
  for (const { type, value } of parts.formatToParts(date)) out[type] = value;
  return out;
}

/** "19:32:05" in Asia/Shanghai, or "" for a missing or unreadable time. */
export function localTime(iso) {
  const p = pieces(iso);
  return p ? `${p.hour}:${p.minute}:${p.second}` : "";
}

/** "2025-01-31 19:32:05" in Asia/Shanghai, or "" for a missing or unreadable time. */
export function localDateTime(iso) {
  const p = pieces(iso);
  return p ? `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}` : "";
}

/** Milliseconds from `iso` to now; Infinity when unreadable. */
export function ageMs(iso, now = Date.now()) {
  const ms = new Date(iso).getTime();
  return Number.isNaN(ms) ? Infinity : now - ms;
}


/** A duration as a clock: "0:07", "4:05", "1:02:03"; "" for a missing one. */
export function clock(seconds) {
  if (typeof seconds !== "number" || !Number.isFinite(seconds)) return "";
  const total = Math.max(0, Math.floor(seconds));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}
