// The lane board: one table per car park, one row per lane, updated in place so a
// live update never steals keyboard focus or reloads an unchanged snapshot.
//
// A city's wall holds hundreds of lanes, tens of them changing each second, so the board
// does only what a change needs: the stream's changes arrive a frame's worth at a time
// (`update`), a lane sent again unchanged is not rendered again, a text is written only
// when it differs, and only the car parks whose lanes changed are counted again. The
// browser's share is kept small by style.css (car parks off screen are neither laid out
// nor painted) and by loading snapshots only as their rows come near the screen.

import { snapshotUrl } from "./api.js";
import { el } from "./dom.js";
import { ageMs, localDateTime, localTime } from "./format.js";
import { applyStatic, label, t } from "./i18n.js";

/** A call button press stays flagged this long (the contract's 5-minute SLA is per problem). */
export const CALL_RECENT_MS = 2 * 60_000;
/** Below this LPR confidence (0..1) the agent should check the plate against the snapshot. */
export const LOW_CONFIDENCE = 0.8;

const GATE_STATES = new Set(["down", "rising", "up", "falling", "unknown"]);
// GA 36-2018 plate background colours; anything else renders as "unknown".
const PLATE_COLOURS = new Set(["blue", "yellow", "green", "yellow_green", "white", "black"]);
const COLUMNS = ["col.lane", "col.status", "col.gate", "col.vehicle", "col.call", "col.fault", "col.actions"];

const collator = new Intl.Collator("zh-CN", { numeric: true });

/** A text written again unchanged still makes the browser lay the row's table out again
 * (an unchanged attribute or class does not), so texts are compared first. */
function setText(node, text) {
  if (node.textContent !== text) node.textContent = text;
}

function normalisedConfidence(value) {
  if (typeof value !== "number" || Number.isNaN(value)) return null;
  return value > 1 ? value / 100 : value; // tolerate a 0..100 scale
}

/**
 * @param {{onOpen, onDisplay, onLive: (laneId: string) => void,
 *          onPark: (carPark: string) => void,
 *          onSticker: (laneId: string) => Promise<void>, canSticker: () => boolean}} actions
 *   onPark: show a car park's rules, lists and no-plate stays (parks.js).
 *   canSticker: whether this user is offered the lanes' help stickers (supervisors).
 */
export function createLanesView(container, { onOpen, onDisplay, onLive, onPark, onSticker, canSticker }) {
  const rows = new Map(); // lane id -> { lane, row, f: {fields}, group }
  const groups = new Map(); // car park name -> { section, tbody, count }
  let groupSeq = 0; // car park names are free text, so heading ids are generated
  const status = el("p", "lanes-status", t("lanes.loading"));
  status.dataset.i18n = "lanes.loading";
  container.replaceChildren(status);

  function group(name) {
    let g = groups.get(name);
    if (g) return g;
    const section = el("section", "carpark");
    section.setAttribute("data-car-park", name);
    const head = el("header", "carpark__head");
    const title = el("h2", "carpark__name", name);
    groupSeq += 1;
    title.id = `carpark-${groupSeq}`;
    const count = el("span", "carpark__count");
    const rules = el("button", "btn btn--small carpark__rules");
    rules.type = "button";
    rules.dataset.action = "park";
    const rulesText = el("span", "", t("park.open"));
    rulesText.dataset.i18n = "park.open";
    rules.append(rulesText, el("span", "visually-hidden", ` ${name}`));
    rules.addEventListener("click", () => onPark(name));
    head.append(title, count, rules);
    const table = el("table", "lanes-table");
    table.setAttribute("aria-labelledby", title.id);
    const headRow = el("tr");
    for (const key of COLUMNS) {
      const th = el("th", `col-${key.slice(4)}`, t(key));
      th.scope = "col";
      th.dataset.i18n = key;
      headRow.append(th);
    }
    const thead = el("thead");
    thead.append(headRow);
    const tbody = el("tbody");
    table.append(thead, tbody);
    section.append(head, table);
    g = { name, section, tbody, count };
    groups.set(name, g);
    return g;
  }

  function createRow(lane) {
    const row = el("tr", "lane");
    row.setAttribute("data-lane", lane.id);

    const name = el("span", "lane__name");
    name.dataset.field = "name";
    const direction = el("span", "dir");
    direction.dataset.field = "direction";
    const id = el("span", "lane__id", lane.id);
    const nameCell = el("th", "lane__title");
    nameCell.scope = "row";
    nameCell.append(name, direction, id);

    const online = el("span", "badge");
    online.dataset.field = "online";

    const gate = el("span", "gate");
    gate.dataset.field = "gate";

    const thumb = el("img", "thumb");
    thumb.dataset.field = "snapshot";
    thumb.width = 160;
    thumb.height = 90;
    thumb.decoding = "async";
    // Fetched as the row nears the screen: a wall of 500 lanes shows a dozen at a time.
    // A lazy image that is not rendered is never fetched, so the image is shown (its
    // dark box) from the moment it has a source, not from its load.
    thumb.loading = "lazy";
    thumb.hidden = true;
    const noThumb = el("span", "thumb thumb--empty");
    thumb.addEventListener("error", () => {
      thumb.hidden = true;
      noThumb.hidden = false;
    });
    const plate = el("span", "plate");
    plate.dataset.field = "plate";
    const plateColour = el("span", "visually-hidden");
    const plateTime = el("time", "plate-time");
    plateTime.dataset.field = "plate-time";
    const plateFlag = el("span", "plate-flag");
    plateFlag.dataset.field = "plate-flag";
    const info = el("div", "vehicle__info");
    const meta = el("div", "vehicle__meta");
    meta.append(plateTime, plateFlag);
    info.append(plate, plateColour, meta);
    const vehicle = el("div", "vehicle");
    vehicle.append(thumb, noThumb, info);

    const call = el("span", "call");
    call.dataset.field = "call";
    const fault = el("span", "fault");
    fault.dataset.field = "fault";

    const open = el("button", "btn btn--primary");
    open.type = "button";
    open.dataset.action = "open";
    const openText = el("span");
    const openLane = el("span", "visually-hidden");
    open.append(openText, openLane);
    open.addEventListener("click", () => onOpen(row.getAttribute("data-lane")));
    const display = el("button", "btn");
    display.type = "button";
    display.dataset.action = "display";
    const displayText = el("span");
    const displayLane = el("span", "visually-hidden");
    display.append(displayText, displayLane);
    display.addEventListener("click", () => onDisplay(row.getAttribute("data-lane")));
    const live = el("button", "btn");
    live.type = "button";
    live.dataset.action = "live";
    const liveText = el("span");
    const liveLane = el("span", "visually-hidden");
    live.append(liveText, liveLane);
    live.addEventListener("click", () => onLive(row.getAttribute("data-lane")));
    const actions = el("div", "actions");
    actions.append(open, display, live);
    if (canSticker()) actions.append(stickerButton(lane.id));

    const cells = [online, gate, vehicle, call, fault, actions].map((child) => {
      const td = el("td");
      td.append(child);
      return td;
    });
    row.append(nameCell, ...cells);
    return {
      row,
      snapshotSrc: null,
      f: { name, direction, online, gate, thumb, noThumb, plate, plateColour, plateTime, plateFlag,
        call, fault, open, openText, openLane, display, displayText, displayLane, live, liveText,
        liveLane },
    };
  }

  /** A supervisor's download of the lane's help sticker, to print (offline lanes too). */
  function stickerButton(laneId) {
    const button = el("button", "btn btn--quiet");
    button.type = "button";
    button.dataset.action = "sticker";
    const text = el("span", "", t("action.sticker"));
    text.dataset.i18n = "action.sticker";
    button.append(text, el("span", "visually-hidden", ` ${laneId}`));
    button.addEventListener("click", async () => {
      button.disabled = true; // one click, one file, one entry in the ledger
      button.setAttribute("aria-busy", "true");
      try {
        await onSticker(laneId);
      } finally {
        button.disabled = false;
        button.setAttribute("aria-busy", "false");
      }
    });
    return button;
  }

  function renderCall(entry) {
    const { lane, row, f } = entry;
    const age = lane.last_call_at ? ageMs(lane.last_call_at) : Infinity;
    // A little negative age is clock skew between the centre and this seat.
    const calling = age < CALL_RECENT_MS && age > -60_000;
    row.setAttribute("data-calling", String(calling));
    setText(f.call, calling ? t("call.active", { time: localTime(lane.last_call_at) }) : t("none"));
    f.call.classList.toggle("call--active", calling);
  }

  function render(entry) {
    const { lane, row, f } = entry;
    const online = lane.online === true;
    row.setAttribute("data-online", String(online));
    row.classList.toggle("lane--offline", !online);
    setText(f.name, lane.name || lane.id);
    setText(f.direction, label("dir.", lane.direction));
    f.direction.className = `dir dir--${lane.direction === "exit" ? "exit" : "entry"}`;

    setText(f.online, t(`online.${online}`));
    f.online.setAttribute("data-online", String(online));
    f.online.className = `badge badge--${online ? "online" : "offline"}`;

    const gate = typeof lane.gate === "string" ? lane.gate : "unknown";
    row.setAttribute("data-gate", gate);
    f.gate.setAttribute("data-gate", gate);
    setText(f.gate, label("gate.", gate));
    f.gate.className = `gate gate--${GATE_STATES.has(gate) ? gate : "unknown"}`;

    renderVehicle(entry);
    renderCall(entry);

    const fault = lane.fault;
    if (fault) {
      row.setAttribute("data-fault", String(fault.code ?? ""));
      setText(f.fault, [fault.code, fault.detail].filter(Boolean).join("："));
      f.fault.title = localDateTime(fault.at);
      f.fault.classList.add("fault--active");
    } else {
      row.removeAttribute("data-fault");
      setText(f.fault, t("none"));
      f.fault.removeAttribute("title");
      f.fault.classList.remove("fault--active");
    }

    const laneName = ` ${f.name.textContent}`;
    f.openText.textContent = t("action.open");
    f.openLane.textContent = laneName;
    f.open.disabled = !online;
    f.displayText.textContent = t("action.display");
    f.displayLane.textContent = laneName;
    f.display.disabled = !online;
    f.liveText.textContent = t("action.live");
    f.liveLane.textContent = laneName;
    f.live.disabled = !online;
  }

  function renderVehicle(entry) {
    const { lane, f } = entry;
    const v = lane.last_vehicle;
    f.thumb.alt = t("snapshot.alt", { lane: lane.name || lane.id });
    setText(f.noThumb, t("snapshot.none"));
    if (!v) {
      setText(f.plate, t("plate.none"));
      f.plate.className = "plate plate--none";
      f.plate.removeAttribute("data-plate-colour");
      f.plate.removeAttribute("data-plate-flag");
      f.plate.removeAttribute("title");
      setText(f.plateColour, "");
      setText(f.plateTime, "");
      f.plateTime.removeAttribute("datetime");
      setText(f.plateFlag, "");
      setSnapshot(entry, null);
      return;
    }
    const colour = PLATE_COLOURS.has(v.plate_colour) ? v.plate_colour : "unknown";
    f.plate.className = `plate plate--${colour}`;
    f.plate.setAttribute("data-plate-colour", colour);
    setText(f.plate, v.plate || t("plate.unlicensed"));
    setText(f.plateColour, ` ${t(`plate.colour.${colour}`)}`);

    const confidence = normalisedConfidence(v.confidence);
    const flags = [];
    if (v.plate_valid === false) flags.push("invalid");
    if (confidence !== null && confidence < LOW_CONFIDENCE) flags.push("low_confidence");
    const percent = confidence === null ? null : Math.round(confidence * 100);
    // The title carries the whole plate too, as a long one is cut off on screen.
    f.plate.title = [f.plate.textContent, percent === null ? "" : t("plate.confidence", { p: percent })]
      .filter(Boolean)
      .join(" · ");
    if (flags.length) f.plate.setAttribute("data-plate-flag", flags.join(" "));
    else f.plate.removeAttribute("data-plate-flag");
    f.plate.classList.toggle("plate--flagged", flags.length > 0);
    const words = [];
    if (flags.includes("invalid")) words.push(t("plate.invalid"));
    if (flags.includes("low_confidence")) words.push(`${t("plate.low")} ${percent}%`);
    setText(f.plateFlag, words.join(" · "));

    setText(f.plateTime, localTime(v.at));
    if (v.at) f.plateTime.setAttribute("datetime", v.at);
    f.plateTime.title = localDateTime(v.at);
    setSnapshot(entry, snapshotUrl(lane.id, v.at));
  }

  function setSnapshot(entry, src) {
    const { f } = entry;
    if (entry.snapshotSrc === src) return;
    entry.snapshotSrc = src;
    if (src) {
      f.thumb.src = src;
      f.thumb.hidden = false;
      f.noThumb.hidden = true;
    } else {
      f.thumb.removeAttribute("src");
      f.thumb.hidden = true;
      f.noThumb.hidden = false;
    }
  }

  /** Count the online lanes of `counted` car parks again (all of them by default). */
  function refreshCounts(counted = groups.values()) {
    for (const g of counted) {
      const total = g.tbody.rows.length;
      let online = 0;
      for (const row of g.tbody.rows) if (row.getAttribute("data-online") === "true") online += 1;
      setText(g.count, t("lanes.online_count", { online, total }));
      g.count.classList.toggle("carpark__count--degraded", online < total);
      // The height style.css reserves for the car park while it is off screen.
      g.section.style.setProperty("--lane-rows", String(total));
    }
  }

  function sortGroup(g) {
    const sorted = [...g.tbody.rows].sort((a, b) => {
      const la = rows.get(a.getAttribute("data-lane")).lane;
      const lb = rows.get(b.getAttribute("data-lane")).lane;
      return collator.compare(la.name || la.id, lb.name || lb.id) || collator.compare(la.id, lb.id);
    });
    // Re-appending moves nodes; skip it when the order already holds, as a moved
    // node loses keyboard focus.
    if (sorted.some((row, i) => g.tbody.rows[i] !== row)) g.tbody.append(...sorted);
  }

  function layoutGroups() {
    for (const [name, g] of groups) {
      if (g.tbody.rows.length === 0) {
        g.section.remove();
        groups.delete(name);
      }
    }
    const ordered = [...groups.values()].sort((a, b) => collator.compare(a.name, b.name));
    if (ordered.length === 0) {
      status.dataset.i18n = "lanes.empty";
      status.textContent = t("lanes.empty");
      container.replaceChildren(status);
      return;
    }
    const current = [...container.children];
    if (current.length !== ordered.length || ordered.some((g, i) => current[i] !== g.section)) {
      container.replaceChildren(...ordered.map((g) => g.section));
    }
  }

  /** Insert or update lanes, each car park sorted and counted once for all of them;
   * returns whether the board's car parks had to be laid out again. */
  function put(lanes) {
    const sorted = new Set(); // car parks a lane joined, or whose order may have changed
    const counted = new Set(); // car parks whose online count may have changed
    for (const lane of lanes) {
      if (!lane || typeof lane.id !== "string") continue;
      // The same lane sent again (a resync after a reconnect) leaves its row as it is.
      const sent = JSON.stringify(lane);
      let entry = rows.get(lane.id);
      if (entry?.sent === sent) continue;
      const carPark = String(lane.car_park ?? "");
      let moved = false;
      if (!entry) {
        entry = createRow(lane);
        rows.set(lane.id, entry);
        moved = true;
      } else if (entry.group.name !== carPark || entry.lane.name !== lane.name) {
        moved = true;
      }
      entry.lane = lane;
      entry.sent = sent;
      render(entry);
      if (moved) {
        const g = group(carPark);
        if (entry.group !== g) {
          if (entry.group) counted.add(entry.group);
          g.tbody.append(entry.row);
        }
        entry.group = g;
        sorted.add(g);
      }
      counted.add(entry.group);
    }
    for (const g of sorted) sortGroup(g);
    refreshCounts(counted);
    return sorted.size > 0;
  }

  return {
    /** Replace the whole board (the stream's first message or GET /api/lanes). */
    setAll(lanes) {
      const ids = new Set(lanes.map((lane) => lane?.id));
      for (const [id, entry] of rows) {
        if (!ids.has(id)) {
          entry.row.remove();
          rows.delete(id);
        }
      }
      put(lanes);
      layoutGroups();
      refreshCounts();
    },
    /** Apply lanes' changes: all the stream brought since the last frame. */
    update(lanes) {
      if (put(lanes)) layoutGroups();
    },
    get(id) {
      return rows.get(id)?.lane ?? null;
    },
    /** Every lane on the board. */
    list() {
      return [...rows.values()].map((entry) => entry.lane);
    },
    /** Mark the lane whose live view is open (null: none). */
    watching(id) {
      for (const [laneId, entry] of rows) {
        const on = laneId === id;
        entry.row.classList.toggle("lane--watching", on);
        if (on) entry.row.setAttribute("data-watching", "true");
        else entry.row.removeAttribute("data-watching");
      }
    },
    /** Forget everything (logout); shows the loading line until the next setAll. */
    clear() {
      rows.clear();
      groups.clear();
      status.dataset.i18n = "lanes.loading";
      status.textContent = t("lanes.loading");
      container.replaceChildren(status);
    },
    /** Re-evaluate time-based state (the call indicator fades after CALL_RECENT_MS). */
    tick() {
      for (const entry of rows.values()) renderCall(entry);
    },
    relabel() {
      applyStatic(container);
      for (const entry of rows.values()) render(entry);
      refreshCounts();
    },
  };
}
