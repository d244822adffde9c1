// A hotline call typed in. Calls to the operator's 400 number ring an ordinary phone,
// so the agent who answered it puts the call into the queue by hand: the lane it is
// about (found among hundreds by its id, name or car park), the caller's number and a
// note. The centre queues it like any other call (source hotline); a refusal (a lane
// that is gone, a note too long) is shown beside its field and nothing is placed.

import { api } from "./api.js";
import { wireFormDialog } from "./dialogs.js";
import { errorText, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

// The list shows at most this many matches: more than that is a sign to type more.
const SHOWN_MAX = 100;
// What the centre allows (README, POST /api/calls); the note is counted as it counts.
const CALLER_MAX = 32;
const NOTE_MAX = 500;
// Refusals about one field; the others are the form's.
const FIELD_OF = { unknown_lane: "lane", note_too_long: "note" };

const collator = new Intl.Collator("zh-CN", { numeric: true });
const length = (text) => [...text].length;

function laneText(lane) {
  return [lane.id, lane.name, lane.car_park].filter(Boolean).join(" · ");
}

/** Whether every word of `query` is in the lane's id, name or car park. */
function matches(lane, words) {
  const text = `${lane.id} ${lane.name ?? ""} ${lane.car_park ?? ""}`.toLowerCase();
  return words.every((word) => text.includes(word));
}

export class HotlineDialog {
  /** @param {{lanes: () => object[], onPlaced: (call: object) => void}} options */
  constructor({ lanes, onPlaced }) {
    this.lanes = lanes;
    this.onPlaced = onPlaced;
    this.dialog = $("hotline-dialog");
    this.form = $("hotline-form");
    this.search = $("hotline-search");
    this.lane = $("hotline-lane");
    this.matchCount = $("hotline-matches");
    this.caller = $("hotline-caller");
    this.note = $("hotline-note");
    this.noteCount = $("hotline-note-count");
    this.confirm = $("hotline-confirm");
    this.errors = { lane: $("hotline-lane-error"), note: $("hotline-note-error"), form: $("hotline-error") };
    this.caller.maxLength = CALLER_MAX;
    this.busy = false;
    this.problem = null; // {field, error}
    this.opener = null;
    this.found = 0; // lanes matching the search, shown or not
    wireFormDialog({
      dialog: this.dialog,
      form: this.form,
      cancel: $("hotline-cancel"),
      busy: () => this.busy,
      submit: () => this.submit(),
      closed: () => {
        if (this.opener?.isConnected) this.opener.focus();
        this.opener = null;
      },
    });
    this.search.addEventListener("input", () => this.filter());
    this.search.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" && this.lane.options.length) {
        event.preventDefault();
        this.lane.focus();
      }
    });
    this.note.addEventListener("input", () => this.countNote());
  }

  show() {
    this.opener = document.activeElement;
    this.form.reset();
    this.setProblem(null);
    this.filter();
    this.countNote();
    this.dialog.showModal();
    this.search.focus();
  }

  close() {
    this.busy = false;
    if (this.dialog.open) this.dialog.close();
  }

  /** The lanes whose id, name or car park hold every word typed, by car park and name;
   * the lane chosen stays chosen while it still matches, else the first is. */
  filter() {
    const words = this.search.value.toLowerCase().split(/\s+/).filter(Boolean);
    const found = this.lanes()
      .filter((lane) => matches(lane, words))
      .sort(
        (a, b) =>
          collator.compare(a.car_park ?? "", b.car_park ?? "") ||
          collator.compare(a.name || a.id, b.name || b.id) ||
          collator.compare(a.id, b.id),
      );
    const chosen = this.lane.value;
    const shown = found.slice(0, SHOWN_MAX);
    this.lane.replaceChildren(...shown.map((lane) => new Option(laneText(lane), lane.id)));
    this.lane.value = shown.some((lane) => lane.id === chosen) ? chosen : (shown[0]?.id ?? "");
    this.found = found.length;
    this.countMatches();
  }

  countMatches() {
    const n = this.found;
    this.matchCount.dataset.matches = String(n);
    this.matchCount.textContent =
      n === 0 ? t("hotline.matches.none") : n > SHOWN_MAX ? t("hotline.matches.more", { n, max: SHOWN_MAX }) : t("hotline.matches", { n });
  }

  countNote() {
    const n = length(this.note.value.trim());
    this.noteCount.textContent = t("open.note.count", { n, max: NOTE_MAX });
    this.noteCount.classList.toggle("field__count--over", n > NOTE_MAX);
  }

  setProblem(problem) {
    this.problem = problem;
    for (const [field, node] of Object.entries(this.errors)) {
      const error = problem?.field === field ? problem.error : null;
      node.hidden = !error;
      node.textContent = error ? (error.key ? t(error.key) : errorText(error)) : "";
      if (error) node.dataset.error = error.code ?? error.key;
      else delete node.dataset.error;
    }
    this.lane.setAttribute("aria-invalid", String(problem?.field === "lane"));
    this.note.setAttribute("aria-invalid", String(problem?.field === "note"));
  }

  async submit() {
    const laneId = this.lane.value;
    if (!laneId) {
      this.setProblem({ field: "lane", error: { key: "hotline.err.lane", code: "missing" } });
      this.search.focus();
      return;
    }
    this.busy = true;
    this.confirm.disabled = true;
    this.confirm.setAttribute("aria-busy", "true");
    this.setProblem(null);
    try {
      const call = await api.placeCall(laneId, this.caller.value.trim(), this.note.value.trim());
      this.busy = false;
      this.close();
      this.onPlaced(call);
    } catch (error) {
      if (!this.dialog.open) return; // the session ended meanwhile
      const field = FIELD_OF[error.code] ?? "form";
      this.setProblem({ field, error });
      ({ lane: this.search, note: this.note })[field]?.focus();
    } finally {
      this.busy = false;
      this.confirm.disabled = false;
      this.confirm.setAttribute("aria-busy", "false");
    }
  }

  relabel() {
    this.setProblem(this.problem);
    if (this.dialog.open) {
      this.countMatches();
      this.countNote();
    }
  }
}
