// The audit log view (supervisors and admins): newest first, paged with ?before=<seq>,
// and live entries from the stream merged in by seq so none shows twice.

import { api } from "./api.js";
import { el } from "./dom.js";
import { localDateTime } from "./format.js";
import { errorText, label, t } from "./i18n.js";

export const PAGE_SIZE = 50;
const DETAIL_MAX = 300; // characters of detail shown in the table; the hash chain keeps the rest

function detailText(detail) {
  if (!detail || typeof detail !== "object") return "";
  return Object.entries(detail)
    .filter(([key]) => key !== "note")
    .map(([key, value]) => `${key}=${typeof value === "string" ? value : JSON.stringify(value)}`)
    .join(", ")
    .slice(0, DETAIL_MAX);
}

export function createAuditView({ table, more, status, laneName }) {
  const tbody = table.tBodies[0];
  const entries = new Map(); // seq -> entry
  let nextBefore = null;
  let loaded = false;
  let loading = false;
  let statusKey = null;
  let failure = null;
  let generation = 0; // bumped by clear(), so a page fetched for a past session is dropped

  function setStatus(key, error = null) {
    statusKey = key;
    failure = error;
    status.textContent = error ? errorText(error) : key ? t(key) : "";
    status.hidden = !key && !error;
    status.classList.toggle("form-error", Boolean(error));
  }

  function row(entry) {
    const tr = el("tr");
    tr.setAttribute("data-seq", String(entry.seq));
    tr.setAttribute("data-action", String(entry.action ?? ""));
    const seq = el("td", "num", String(entry.seq));
    if (entry.hash) seq.title = String(entry.hash);
    const at = el("td", "nowrap", localDateTime(entry.at));
    if (entry.at) at.title = String(entry.at);
    const actor = el("td", "", entry.actor ?? "");
    const action = el("td", "", entry.action ? label("audit.action.", entry.action) : "");
    const lane = el("td", "", entry.lane ? laneName(entry.lane) : "");
    const reason = el("td", "", entry.reason ? label("reason.", entry.reason) : "");
    if (entry.reason) reason.setAttribute("data-reason", String(entry.reason));
    const outcome = el("td", "", entry.outcome ? label("audit.outcome.", entry.outcome) : "");
    if (entry.outcome) {
      outcome.setAttribute("data-outcome", String(entry.outcome));
      outcome.className = entry.outcome === "done" ? "outcome-ok" : "outcome-bad";
    }
    const note = el("td", "audit-note");
    const noteText = entry.detail?.note;
    if (typeof noteText === "string" && noteText) note.append(el("span", "", noteText));
    const rest = detailText(entry.detail);
    if (rest) note.append(el("span", "muted", rest));
    tr.append(seq, at, actor, action, lane, reason, outcome, note);
    return tr;
  }

  function render() {
    const sorted = [...entries.values()].sort((a, b) => b.seq - a.seq);
    tbody.replaceChildren(...sorted.map(row));
    more.hidden = nextBefore === null;
    more.disabled = loading;
    if (loading) setStatus("audit.loading");
    else if (failure) setStatus(null, failure);
    else if (entries.size === 0) setStatus("audit.empty");
    else if (nextBefore === null) setStatus("audit.end");
    else setStatus(null);
  }

  function merge(list) {
    for (const entry of list ?? []) {
      if (entry && Number.isFinite(entry.seq)) entries.set(entry.seq, entry);
    }
  }

  /** Returns the page, or null on failure or when clear() ran meanwhile. */
  async function fetchPage(before) {
    const started = generation;
    loading = true;
    failure = null;
    render();
    try {
      const page = await api.audit(PAGE_SIZE, before);
      return started === generation ? page : null;
    } catch (error) {
      if (started === generation) failure = error;
      return null;
    } finally {
      if (started === generation) loading = false;
    }
  }

  return {
    get loaded() {
      return loaded;
    },
    /** First page; again after a stream reconnect to fill any gap (older pages stay). */
    async load() {
      if (loading) return;
      const started = generation;
      const page = await fetchPage(null);
      if (started !== generation) return;
      if (page) {
        const first = !loaded;
        merge(page.entries);
        loaded = true;
        if (first) nextBefore = page.next_before ?? null;
      }
      render();
    },
    async loadMore() {
      if (loading || nextBefore === null) return;
      const started = generation;
      const page = await fetchPage(nextBefore);
      if (started !== generation) return;
      if (page) {
        merge(page.entries);
        nextBefore = page.next_before ?? null;
      }
      render();
    },
    /** A live entry from the stream; ignored until the first page is loaded. */
    add(entry) {
      if (!loaded) return;
      merge([entry]);
      render();
    },
    clear() {
      generation += 1;
      loading = false;
      entries.clear();
      nextBefore = null;
      loaded = false;
      failure = null;
      tbody.replaceChildren();
      more.hidden = true;
      setStatus(null);
    },
    relabel() {
      render();
      if (statusKey && !failure) setStatus(statusKey);
    },
  };
}
