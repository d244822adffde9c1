// The command dialogs: open a gate (with a reason, DESIGN.md decision 2) and send text
// to a lane display. A command has exactly one outcome (decision 3), and the dialog
// stays open until the agent has seen it.

import { api } from "./api.js";
import { errorText, label, t } from "./i18n.js";

export const REASONS = [
  "paid_not_lifted",
  "no_entry_record",
  "free_release",
  "plate_misread",
  "equipment_fault",
  "emergency",
  "escape_recovered",
  "other",
];
export const NOTE_MAX = 500;
// What the centre takes a lane to show when the lane states no display size: the lane
// link's maximum. Each lane's own size comes with it (lane.display).
const MAX_DISPLAY = { lines: 8, chars: 64 };

/** Length in Unicode code points, as the server counts it (not UTF-16 units). */
const length = (text) => [...text].length;

function laneSummary(lane) {
  return [lane.name || lane.id, lane.car_park, label("dir.", lane.direction)].filter(Boolean).join(" · ");
}

/**
 * What every form dialog shares: the form's submit runs `submit` (never while one is
 * under way), Cancel and Esc close the dialog, and while `busy()` nothing closes it, so
 * the agent sees how the request ended. Browsers let a repeated Esc through a prevented
 * cancel: a dialog closed while busy is shown again. `closed` runs when it really closes.
 */
export function wireFormDialog({ dialog, form, cancel, busy, submit, closed = () => {} }) {
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (!busy()) submit();
  });
  cancel.addEventListener("click", () => {
    if (!busy()) dialog.close();
  });
  dialog.addEventListener("cancel", (event) => {
    if (busy()) event.preventDefault();
  });
  dialog.addEventListener("close", () => {
    if (busy()) {
      dialog.showModal();
      return;
    }
    closed();
  });
}

/** A lane command's dialog: focus returns to the button that opened it. */
class CommandDialog {
  constructor({ dialog, form, confirm, cancel, outcome, error }) {
    Object.assign(this, { dialog, form, confirm, cancel, outcome, error });
    this.busy = false;
    this.laneId = null;
    this.result = null; // what #outcome shows, kept so a language switch can re-render it
    this.opener = null;
    wireFormDialog({
      dialog,
      form,
      cancel,
      busy: () => this.busy,
      submit: () => this.submit(),
      closed: () => {
        this.laneId = null;
        if (this.opener?.isConnected && !this.opener.disabled) this.opener.focus();
        this.opener = null;
      },
    });
  }

  show(laneId) {
    this.opener = document.activeElement;
    this.laneId = laneId;
    this.setResult(null);
    this.clearError();
    this.cancel.textContent = t("dialog.cancel");
    this.confirm.disabled = false;
    this.dialog.showModal();
  }

  close() {
    this.busy = false;
    if (this.dialog.open) this.dialog.close();
  }

  clearError() {
    this.errorKey = null;
    this.error.textContent = "";
    this.error.hidden = true;
  }

  /** Show a validation message (kept as a key so a language switch re-renders it). */
  fail(key, params = {}, focus = null) {
    this.errorKey = key;
    this.errorParams = params;
    this.error.textContent = t(key, params);
    this.error.hidden = false;
    focus?.focus();
  }

  setBusy(busy) {
    this.busy = busy;
    this.confirm.disabled = busy;
    this.cancel.disabled = busy;
    this.confirm.setAttribute("aria-busy", String(busy));
    this.dialog.classList.toggle("dialog--busy", busy);
  }

  /** result: null | {state: "pending"} | {state: outcome, detail} | {state: "error", error} */
  setResult(result) {
    this.result = result;
    const el = this.outcome;
    el.classList.remove("outcome--ok", "outcome--bad", "outcome--pending");
    el.removeAttribute("data-error");
    if (!result) {
      el.removeAttribute("data-outcome");
      el.textContent = "";
      el.hidden = true;
      return;
    }
    el.hidden = false;
    el.setAttribute("data-outcome", result.state);
    if (result.state === "pending") {
      el.classList.add("outcome--pending");
      el.textContent = t("outcome.pending");
    } else if (result.state === "error") {
      el.classList.add("outcome--bad");
      el.setAttribute("data-error", result.error.code);
      el.textContent = errorText(result.error);
    } else if (result.state === "done") {
      el.classList.add("outcome--ok");
      // A done the lane could not fully confirm says what it could not (README,
      // "Lane hardware"): "done" alone would promise a lift nobody saw.
      el.textContent = result.detail ? `${this.doneText()}：${result.detail}` : this.doneText();
    } else {
      el.classList.add("outcome--bad");
      const known = ["refused", "timeout", "lane_offline"].includes(result.state);
      const text = known ? t(`outcome.${result.state}`) : t("outcome.unknown", { outcome: result.state });
      // A refusal's detail is the lane's reason code: in words where the console knows it.
      const why = result.state === "refused" && result.detail ? label("refused.", result.detail) : result.detail;
      el.textContent = why ? `${text}：${why}` : text;
    }
  }

  async run(send) {
    this.clearError();
    this.setBusy(true);
    this.setResult({ state: "pending" });
    try {
      const body = await send();
      const state = typeof body?.outcome === "string" ? body.outcome : "unknown";
      this.setResult({ state, detail: typeof body?.detail === "string" ? body.detail : "" });
    } catch (error) {
      if (!this.dialog.open) return; // session ended meanwhile
      this.setResult({ state: "error", error });
    } finally {
      this.setBusy(false);
      // A done command is not offered again (a second click would open the gate twice);
      // after a failure the agent may retry.
      this.confirm.disabled = this.result?.state === "done";
      this.cancel.textContent = t("dialog.close");
    }
  }

  relabel() {
    this.setResult(this.result);
    if (this.errorKey) this.error.textContent = t(this.errorKey, this.errorParams);
    this.cancel.textContent = t(this.result && this.result.state !== "pending" ? "dialog.close" : "dialog.cancel");
  }
}

export class OpenGateDialog extends CommandDialog {
  constructor(getLane) {
    super({
      dialog: document.getElementById("open-dialog"),
      form: document.getElementById("open-form"),
      confirm: document.getElementById("open-confirm"),
      cancel: document.getElementById("open-cancel"),
      outcome: document.getElementById("outcome"),
      error: document.getElementById("open-error"),
    });
    this.getLane = getLane;
    this.reason = document.getElementById("open-reason");
    this.note = document.getElementById("open-note");
    this.noteCount = document.getElementById("open-note-count");
    this.noteRequired = document.getElementById("open-note-required");
    this.laneText = document.getElementById("open-lane");
    this.vehicleText = document.getElementById("open-vehicle");
    this.note.maxLength = NOTE_MAX;
    this.reason.addEventListener("change", () => this.syncNote());
    this.note.addEventListener("input", () => this.syncNote());
    this.fillReasons();
  }

  doneText() {
    return t("outcome.done");
  }

  fillReasons() {
    const value = this.reason.value;
    const placeholder = new Option(t("open.reason.placeholder"), "");
    this.reason.replaceChildren(placeholder, ...REASONS.map((r) => new Option(t(`reason.${r}`), r)));
    this.reason.value = value;
  }

  syncNote() {
    const required = this.reason.value === "other";
    this.note.required = required;
    this.note.setAttribute("aria-required", String(required));
    this.noteRequired.textContent = t(required ? "open.note.required" : "open.note.optional");
    this.noteCount.textContent = t("open.note.count", { n: length(this.note.value), max: NOTE_MAX });
  }

  describeLane() {
    const lane = this.getLane(this.laneId);
    if (!lane) return;
    this.laneText.textContent = laneSummary(lane);
    const v = lane.last_vehicle;
    this.vehicleText.textContent = v ? `${t("open.last_vehicle")}${v.plate || t("plate.unlicensed")}` : "";
    this.vehicleText.hidden = !v;
  }

  show(laneId) {
    this.reason.value = "";
    this.note.value = "";
    this.syncNote();
    super.show(laneId);
    this.describeLane();
    this.reason.focus();
  }

  submit() {
    const reason = this.reason.value;
    const note = this.note.value.trim();
    if (!REASONS.includes(reason)) return this.fail("open.err.reason", {}, this.reason);
    if (reason === "other" && !note) return this.fail("open.err.note", {}, this.note);
    if (length(note) > NOTE_MAX) return this.fail("open.err.note_long", { max: NOTE_MAX }, this.note);
    const laneId = this.laneId;
    return this.run(() => api.openGate(laneId, reason, note));
  }

  relabel() {
    this.fillReasons();
    this.syncNote();
    if (this.dialog.open) this.describeLane();
    super.relabel();
  }
}

export class DisplayDialog extends CommandDialog {
  constructor(getLane) {
    super({
      dialog: document.getElementById("display-dialog"),
      form: document.getElementById("display-form"),
      confirm: document.getElementById("display-confirm"),
      cancel: document.getElementById("display-cancel"),
      outcome: document.getElementById("display-outcome"),
      error: document.getElementById("display-error"),
    });
    this.getLane = getLane;
    this.laneText = document.getElementById("display-lane");
    this.hint = document.getElementById("display-hint");
    this.box = document.getElementById("display-lines");
    this.size = MAX_DISPLAY;
    this.lines = [];
  }

  doneText() {
    return t("outcome.display_done");
  }

  /** One input per line of the display, each taking no more than a line holds. */
  buildLines(size) {
    this.size = size;
    this.lines = [];
    const fields = [];
    for (let n = 1; n <= size.lines; n += 1) {
      const field = document.createElement("div");
      field.className = "field field--inline";
      const label = document.createElement("label");
      const input = document.createElement("input");
      input.id = `display-line-${n}`;
      input.className = "led-line";
      input.autocomplete = "off";
      // maxLength counts UTF-16 units, which for the BMP (all of Chinese in use) are
      // characters; submit() counts code points, as the centre does.
      input.maxLength = size.chars;
      label.htmlFor = input.id;
      field.append(label, input);
      fields.push(field);
      this.lines.push(input);
    }
    this.box.replaceChildren(...fields);
    this.relabelHint();
  }

  relabelHint() {
    this.hint.textContent = t("display.hint", { lines: this.size.lines, max: this.size.chars });
    this.lines.forEach((input, i) => {
      input.labels[0].textContent = t("display.line", { n: i + 1 });
    });
  }

  show(laneId) {
    const lane = this.getLane(laneId);
    // The lane's display as it stated it; the centre refuses more (display_too_large).
    this.buildLines(lane?.display ?? MAX_DISPLAY);
    super.show(laneId);
    this.laneText.textContent = lane ? laneSummary(lane) : laneId;
    this.lines[0].focus();
  }

  submit() {
    const lines = this.lines.map((input) => input.value);
    // Blank lines between text are layout; blank lines after the last text are not.
    while (lines.length && !lines.at(-1).trim()) lines.pop();
    if (!lines.length) return this.fail("display.err.empty", {}, this.lines[0]);
    const { chars } = this.size;
    const long = lines.findIndex((line) => length(line) > chars);
    if (long >= 0) return this.fail("display.err.long", { max: chars }, this.lines[long]);
    const laneId = this.laneId;
    return this.run(() => api.display(laneId, lines));
  }

  relabel() {
    this.relabelHint();
    if (this.dialog.open) {
      const lane = this.getLane(this.laneId);
      if (lane) this.laneText.textContent = laneSummary(lane);
    }
    super.relabel();
  }
}
