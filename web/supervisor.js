// The supervisors' view of the floor: every agent who logged in since the centre
// started, their state and how long they have been in it, the queue now (its length
// and longest wait, from the calls this console sees), today's figures from the centre
// (service level, answered, abandoned), and alerts: agents put on a break after missed
// rings. GET /api/agents gives the whole picture; `agent` and `alert` stream messages
// keep it up between reads.
//
// Beside each agent on a call: 监听 (listen in: the call's lane in this console's live
// view, without a microphone) and 强插 (barge: take the call over, after a
// confirmation). A listener hears both sides of the call on two tracks: the driver (or,
// on a phone call, the caller) and the agent.

import { api } from "./api.js";
import { BargeDialog } from "./barge.js";
import { laneLine } from "./calls.js";
import { el } from "./dom.js";
import { clock, localTime } from "./format.js";
import { errorText, label, t } from "./i18n.js";
import { breakText } from "./status.js";

const REFRESH_MS = 15_000; // today's figures; agents come by the stream
const ALERTS_KEPT = 20;

const $ = (id) => document.getElementById(id);

/**
 * @param {{book: import("./calls.js").CallBook, getLane: (id: string) => object|null,
 *          onListen: (call: object) => void, listening: (laneId: string) => boolean,
 *          onBarged: (call: object) => void}} options
 *   book holds the open calls (a supervisor sees every one); onListen opens the call's
 *   lane listening in, listening says whether this console listens to a lane now;
 *   onBarged gets the call once it is this supervisor's.
 */
export function createSupervisorView({ book, getLane, onListen, listening, onBarged }) {
  const tbody = $("agents-table").tBodies[0];
  const agents = new Map(); // name -> {agent, at}
  const rows = new Map(); // name -> {tr, f}
  let board = null; // the centre's figures of the day
  let alerts = []; // {alert, at: ISO}
  let timer = null;
  let problem = null;
  let generation = 0;
  const barge = new BargeDialog({ onBarged });

  async function load() {
    const mine = generation;
    try {
      const body = await api.agents();
      if (mine !== generation) return;
      problem = null;
      board = body?.board ?? null;
      for (const agent of body?.agents ?? []) put(agent);
    } catch (error) {
      if (mine !== generation) return;
      problem = error;
    }
    render();
  }

  function put(agent) {
    if (typeof agent?.name !== "string") return;
    agents.set(agent.name, { agent, at: performance.now() });
  }

  function inState(entry) {
    return (entry.agent.in_state_s ?? 0) + (performance.now() - entry.at) / 1000;
  }

  function createRow(name) {
    const tr = el("tr");
    tr.dataset.agent = name;
    const f = {};
    const cells = ["name", "state", "time", "call", "parks", "link", "actions"].map((key) => {
      const td = el(key === "name" ? "th" : "td", `agents__${key}`);
      if (key === "name") td.scope = "row";
      f[key] = td;
      return td;
    });
    f.badge = el("span", "agent-state");
    f.state.append(f.badge);
    f.listen = el("button", "btn btn--small", t("agents.listen"));
    f.barge = el("button", "btn btn--small btn--danger", t("agents.barge"));
    for (const [button, action] of [
      [f.listen, "listen"],
      [f.barge, "barge"],
    ]) {
      button.type = "button";
      button.dataset.action = action;
      button.hidden = true;
      button.addEventListener("click", () => act(name, action));
    }
    f.actions.append(f.listen, " ", f.barge);
    tr.append(...cells);
    return { tr, f };
  }

  /** The call `name` holds now, if this console may listen in on it or take it over. */
  function heldBy(name) {
    const agent = agents.get(name)?.agent;
    const call = agent?.call_id ? book.get(agent.call_id) : null;
    const held = call?.state === "active" && call.agent === name && name !== book.username;
    return held ? call : null;
  }

  function act(name, action) {
    const call = heldBy(name);
    if (!call) return;
    if (action === "listen") onListen(call);
    else barge.show(call, name, laneLine(call, getLane(call.lane_id)));
  }

  function stateText(agent, seconds) {
    if (agent.state === "break") return breakText(agent.break_reason);
    if (agent.state === "wrap_up" && agent.wrap_until && agent.since) {
      const left = (Date.parse(agent.wrap_until) - Date.parse(agent.since)) / 1000 - seconds;
      if (Number.isFinite(left)) return t("state.wrap_up_left", { s: Math.max(0, Math.ceil(left)) });
    }
    return label("state.", agent.state);
  }

  function renderRow(row, entry) {
    const { agent } = entry;
    const seconds = inState(entry);
    row.tr.dataset.state = agent.state;
    row.tr.dataset.connected = String(agent.connected !== false);
    row.f.name.textContent = agent.supervisor ? `${agent.name}（${t("role.supervisor")}）` : agent.name;
    row.f.badge.dataset.state = agent.state;
    row.f.badge.textContent = stateText(agent, seconds);
    row.f.time.textContent = clock(seconds);
    const call = agent.call_id ? book.get(agent.call_id) : null;
    row.f.call.textContent = call ? laneLine(call, getLane(call.lane_id)) : agent.call_id ? t("agents.call_other") : "";
    row.f.parks.textContent = agent.car_parks === null ? t("agents.all_parks") : agent.car_parks.join("、");
    const away = agent.connected === false && agent.state !== "offline";
    row.f.link.textContent = away ? t("agents.away") : agent.state === "offline" ? t("none") : t("agents.linked");
    const held = heldBy(agent.name);
    row.f.listen.hidden = held === null;
    row.f.listen.setAttribute("aria-pressed", String(held !== null && listening(held.lane_id)));
    row.f.barge.hidden = held === null;
    // One live view at a time: listening would close the view of this supervisor's own
    // call, intercom and all, and a call held must be ended before another is taken.
    row.f.listen.disabled = row.f.barge.disabled = Boolean(book.mine());
    for (const button of [row.f.listen, row.f.barge]) {
      if (held) button.dataset.call = held.id;
      else delete button.dataset.call;
    }
  }

  function renderBoard() {
    const pending = book.pending();
    const longest = Math.max(0, ...pending.map((call) => book.seconds(call.id, "wait_s") ?? 0));
    const figures = {
      waiting: String(pending.length),
      longest: clock(longest),
      level: board?.service_level == null ? "—" : `${board.service_level}%`,
      answered: board ? String(board.answered) : "—",
      abandoned: board ? String(board.abandoned) : "—",
    };
    for (const [key, value] of Object.entries(figures)) {
      const node = $(`board-${key}`);
      node.textContent = value;
      node.dataset.value = value;
    }
    $("board-level-hint").textContent = t("board.level_hint");
  }

  function renderAlerts() {
    $("alerts-empty").hidden = alerts.length > 0;
    $("alerts").replaceChildren(
      ...alerts.map(({ alert, at }) => {
        const li = el("li", "alert");
        li.dataset.agent = String(alert.agent ?? "");
        li.dataset.kind = String(alert.kind ?? "");
        const time = el("time", "alert__time", localTime(at));
        time.setAttribute("datetime", at);
        li.append(time, el("span", "", t(`alert.${alert.kind}`, { agent: alert.agent ?? "" })));
        return li;
      }),
    );
  }

  function render() {
    const names = [...agents.keys()].sort();
    for (const [name, row] of rows) {
      if (!agents.has(name)) {
        row.tr.remove();
        rows.delete(name);
      }
    }
    names.forEach((name, i) => {
      let row = rows.get(name);
      if (!row) {
        row = createRow(name);
        rows.set(name, row);
      }
      renderRow(row, agents.get(name));
      if (tbody.rows[i] !== row.tr) tbody.insertBefore(row.tr, tbody.rows[i] ?? null);
    });
    renderBoard();
    renderAlerts();
    const status = $("agents-status");
    status.hidden = !problem && agents.size > 0;
    status.textContent = problem ? errorText(problem) : agents.size ? "" : t("agents.empty");
  }

  return {
    /** The view was opened: read the floor now, and the day's figures every so often. */
    shown() {
      load();
      clearInterval(timer);
      timer = setInterval(load, REFRESH_MS);
    },
    hidden() {
      clearInterval(timer);
      timer = null;
    },
    agent(agent) {
      put(agent);
      render();
    },
    alert(alert) {
      alerts = [{ alert, at: new Date().toISOString() }, ...alerts].slice(0, ALERTS_KEPT);
      const tab = $("tab-agents");
      if (document.body.dataset.view !== "agents") tab.dataset.alerts = String(Number(tab.dataset.alerts ?? 0) + 1);
      render();
    },
    /** Names of the agents known, for the transfer form. */
    names() {
      return [...agents.keys()].sort();
    },
    tick() {
      for (const [name, row] of rows) renderRow(row, agents.get(name));
      renderBoard();
    },
    clear() {
      generation += 1;
      barge.close();
      clearInterval(timer);
      timer = null;
      agents.clear();
      rows.clear();
      tbody.replaceChildren();
      board = null;
      alerts = [];
      problem = null;
      delete $("tab-agents").dataset.alerts;
      render();
    },
    relabel() {
      for (const row of rows.values()) {
        row.f.listen.textContent = t("agents.listen");
        row.f.barge.textContent = t("agents.barge");
      }
      barge.relabel();
      render();
    },
  };
}
