// The end-of-call form (README, "Ending"): what the call was about, the plate and the
// money it concerned, a note. The centre checks it and ends the call only if it is
// right; its refusals are shown next to the field they name, and the call stays on.

import { api } from "./api.js";
import { errorText, t } from "./i18n.js";

export const CATEGORIES = [
  "paid_not_lifted",
  "no_entry_record",
  "plate_misread",
  "no_plate",
  "payment_help",
  "equipment_fault",
  "consultation",
  "complaint",
  "escape",
  "other",
];

// The API's error codes for each field of the form; anything else is the form's.
const FIELD_OF = {
  invalid_category: "category",
  invalid_plate: "plate",
  invalid_amount: "amount",
  note_required: "note",
  note_too_long: "note",
};
const FIELDS = ["category", "plate", "amount", "note"];

const $ = (id) => document.getElementById(id);

/** A refusal in words; a plate's names the character the centre found wrong. */
function errorLine(error) {
  if (error.key) return t(error.key);
  const line = errorText({ ...error, detail: "" });
  const { plate, position } = error.body ?? {};
  if (typeof plate !== "string" || !Number.isInteger(position)) return line;
  return `${line} ${t("outcome.err.plate_at", { n: position + 1, char: plate[position] })}`;
}

/** Yuan as typed ("12", "12.5", "12.50") to whole fen, exactly; null when it is not
 * an amount, 0 when blank. No floating point: 0.29 yuan is 29 fen, not 28.999…. */
export function toFen(text) {
  const value = text.trim().replace(/[，,]/g, "");
  if (!value) return 0;
  const match = /^(\d{1,9})(?:[.．](\d{1,2}))?$/.exec(value);
  if (!match) return null;
  return Number(match[1]) * 100 + Number((match[2] ?? "").padEnd(2, "0"));
}

export class OutcomeForm {
  /** @param {{onEnded: (call: object) => void}} options */
  constructor({ onEnded }) {
    this.onEnded = onEnded;
    this.form = $("outcome-form");
    this.f = {
      category: $("outcome-category"),
      plate: $("outcome-plate"),
      amount: $("outcome-amount"),
      note: $("outcome-note"),
    };
    this.submitButton = $("outcome-submit");
    this.error = $("outcome-error");
    this.callId = null;
    this.busy = false;
    this.errors = {}; // field or "form" -> ApiError or {key}: kept for a language switch
    this.fillCategories();
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!this.busy) this.submit();
    });
    $("outcome-cancel").addEventListener("click", () => this.hide());
    this.f.category.addEventListener("change", () => this.syncNote());
  }

  get shown() {
    return !this.form.hidden;
  }

  fillCategories() {
    const value = this.f.category.value;
    const placeholder = new Option(t("outcome.category.placeholder"), "");
    const options = CATEGORIES.map((c) => new Option(t(`category.${c}`), c));
    this.f.category.replaceChildren(placeholder, ...options);
    this.f.category.value = value;
  }

  syncNote() {
    const required = this.f.category.value === "other";
    this.f.note.required = required;
    $("outcome-note-required").textContent = t(required ? "open.note.required" : "open.note.optional");
  }

  /** Open the form for `call`, the plate filled in from the lane's last valid read. */
  show(call, lane) {
    if (this.callId !== call.id) {
      this.form.reset();
      this.callId = call.id;
      const vehicle = lane?.last_vehicle;
      if (vehicle?.plate && vehicle.plate_valid === true) this.f.plate.value = vehicle.plate;
      this.setErrors({});
    }
    this.syncNote();
    this.form.hidden = false;
    this.f.category.focus();
  }

  hide() {
    if (this.busy) return;
    this.form.hidden = true;
  }

  /** The call is over or gone: forget the form. */
  clear() {
    this.busy = false;
    this.callId = null;
    this.form.reset();
    this.setErrors({});
    this.form.hidden = true;
    this.setBusy(false);
  }

  setBusy(busy) {
    this.busy = busy;
    this.submitButton.disabled = busy;
    this.submitButton.setAttribute("aria-busy", String(busy));
  }

  setErrors(errors) {
    this.errors = errors;
    for (const name of [...FIELDS, "form"]) {
      const node = name === "form" ? this.error : $(`outcome-${name}-error`);
      const error = errors[name];
      node.hidden = !error;
      node.textContent = error ? errorLine(error) : "";
      if (error) {
        node.dataset.error = error.code ?? error.key;
        if (error.detail) node.title = error.detail;
        else node.removeAttribute("title");
      } else {
        delete node.dataset.error;
        node.removeAttribute("title");
      }
      if (name !== "form") this.f[name].setAttribute("aria-invalid", String(Boolean(error)));
    }
  }

  async submit() {
    const callId = this.callId;
    const fen = toFen(this.f.amount.value);
    if (fen === null) {
      this.setErrors({ amount: { key: "outcome.err.amount", code: "amount_format" } });
      this.f.amount.focus();
      return;
    }
    const body = {
      category: this.f.category.value,
      plate: this.f.plate.value.trim(),
      amount_fen: fen,
      note: this.f.note.value.trim(),
    };
    this.setErrors({});
    this.setBusy(true);
    try {
      const call = await api.endCall(callId, body);
      this.setBusy(false);
      if (this.callId === callId) this.clear();
      this.onEnded(call);
    } catch (error) {
      this.setBusy(false);
      if (this.callId !== callId) return;
      const field = FIELD_OF[error.code] ?? "form";
      this.setErrors({ [field]: error });
      (field === "form" ? this.submitButton : this.f[field]).focus();
      if (field === "plate") this.pointAt(error.body);
    }
  }

  /** The plate as the centre read it (separators gone, letters folded), with the
   * character it found wrong selected, so the agent types over just that one. */
  pointAt({ plate, position } = {}) {
    if (typeof plate !== "string" || !Number.isInteger(position)) return;
    this.f.plate.value = plate;
    this.f.plate.setSelectionRange(position, position + 1);
  }

  relabel() {
    this.fillCategories();
    this.syncNote();
    this.setErrors(this.errors);
  }
}
