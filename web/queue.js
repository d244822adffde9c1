// The queue panel: the waiting and rung calls this agent may see, first to be answered
// first, each with its wait clock, where it comes from, its lane and car park, and a
// button to pick it. Rows are kept and updated in place, so a clock ticking never moves
// the keyboard focus.

import { showSource } from "./badges.js";
import { laneLine } from "./calls.js";
import { el } from "./dom.js";
import { clock } from "./format.js";
import { t } from "./i18n.js";

/**
 * @param {{book: import("./calls.js").CallBook, getLane: (id: string) => object|null,
 *          onPick: (callId: string) => void}} options
 */
export function createQueue({ book, getLane, onPick }) {
  const list = document.getElementById("queue");
  const empty = document.getElementById("queue-empty");
  const count = document.getElementById("queue-count");
  const rows = new Map(); // call id -> {li, f}

  function createRow(callId) {
    const li = el("li", "qcall");
    li.dataset.call = callId;
    const source = el("span", "src");
    const wait = el("span", "qcall__wait");
    wait.setAttribute("role", "timer");
    const head = el("div", "qcall__head");
    head.append(source, wait);
    const lane = el("p", "qcall__lane");
    const park = el("p", "qcall__park");
    const note = el("p", "qcall__note");
    const pick = el("button", "btn btn--small");
    pick.type = "button";
    pick.dataset.action = "pick";
    pick.addEventListener("click", () => onPick(callId));
    li.append(head, lane, park, note, pick);
    return { li, f: { source, wait, lane, park, note, pick } };
  }

  /** Who it rings, who it was handed to, who is calling: what the agent should know
   * before picking. */
  function noteOf(call) {
    return [whereTo(call), call.caller ? t("queue.caller", { caller: call.caller }) : ""]
      .filter(Boolean)
      .join(" · ");
  }

  function whereTo(call) {
    if (call.state === "ringing" && call.offered_to) {
      return call.offered_to === book.username ? t("queue.ringing_you") : t("queue.ringing", { agent: call.offered_to });
    }
    if (call.for_agent) return t("queue.for_agent", { agent: call.for_agent });
    if (call.for_supervisors) return t("queue.for_supervisors");
    return "";
  }

  function renderRow(row, call) {
    const { li, f } = row;
    li.dataset.state = call.state;
    li.dataset.source = call.source;
    li.classList.toggle("qcall--ringing", call.state === "ringing");
    showSource(f.source, call.source);
    f.lane.textContent = laneLine(call, getLane(call.lane_id));
    f.park.textContent = call.car_park;
    const note = noteOf(call);
    f.note.textContent = note;
    f.note.hidden = !note;
    f.pick.textContent = t("queue.pick");
    f.pick.disabled = call.may_accept !== true;
    renderClock(row, call);
  }

  function renderClock(row, call) {
    const seconds = book.seconds(call.id, "wait_s");
    row.f.wait.textContent = t("queue.wait", { time: clock(seconds) });
    row.f.wait.dataset.waitS = String(Math.floor(seconds ?? 0));
  }

  return {
    /** Re-read the book: calls came, changed or went, or the order moved. */
    render() {
      const calls = book.pending();
      const ids = new Set(calls.map((call) => call.id));
      for (const [id, row] of rows) {
        if (!ids.has(id)) {
          row.li.remove();
          rows.delete(id);
        }
      }
      calls.forEach((call, i) => {
        let row = rows.get(call.id);
        if (!row) {
          row = createRow(call.id);
          rows.set(call.id, row);
        }
        renderRow(row, call);
        if (list.children[i] !== row.li) list.insertBefore(row.li, list.children[i] ?? null);
      });
      empty.hidden = calls.length > 0;
      count.textContent = String(calls.length);
    },
    /** A second went by. */
    tick() {
      for (const call of book.pending()) {
        const row = rows.get(call.id);
        if (row) renderClock(row, call);
      }
    },
    clear() {
      rows.clear();
      list.replaceChildren();
      empty.hidden = false;
      count.textContent = "0";
    },
  };
}
