// The lane board: one table per car park, one row per lane, updated in place so a
// live update never steals keyboard focus or reloads an unchanged snapshot.
//
// A city's wall holds hundreds of lanes, tens of them changing each second, so the board
// does only what a change needs: the stream's changes arrive a frame's worth at a time
// (`update`), a lane sent again unchanged is not rendered again, a text is written only
// when it differs, and only the car parks whose lanes changed are counted again. The
// browser's share is kept small by style.css (car parks off screen are neither laid out
// nor painted) and by loading snapshots only as their rows come near the screen.

import { el, setText } from "./dom.js";
import { applyStatic, t } from "./i18n.js";
import { createRow, renderCall, renderRow } from "./lanerow.js";

const COLUMNS = ["col.lane", "col.status", "col.gate", "col.vehicle", "col.call", "col.fault", "col.actions"];

const collator = new Intl.Collator("zh-CN", { numeric: true });

/**
 * @param {{onOpen, onDisplay, onLive: (laneId: string) => void,
 *          onPark: (carPark: string) => void,
 *          onSticker: (laneId: string) => Promise<void>, canSticker: () => boolean}} actions
 *   onPark: show a car park's rules, lists and no-plate stays (parks.js).
 *   canSticker: whether this user is offered the lanes' help stickers (supervisors).
 */
export function createLanesView(container, { onPark, ...rowActions }) {
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
        entry = createRow(lane, rowActions);
        rows.set(lane.id, entry);
        moved = true;
      } else if (entry.group.name !== carPark || entry.lane.name !== lane.name) {
        moved = true;
      }
      entry.lane = lane;
      entry.sent = sent;
      renderRow(entry);
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
    /** Re-evaluate time-based state (the call indicator fades, lanerow.js). */
    tick() {
      for (const entry of rows.values()) renderCall(entry);
    },
    relabel() {
      applyStatic(container);
      for (const entry of rows.values()) renderRow(entry);
      refreshCounts();
    },
  };
}
