// An escape (逃费) recorded from the call workspace, on the chosen car's stay: the car
// left without paying (a tailgater, a forced barrier). The agent writes why and may
// give the amount; left blank, the centre takes what the car park's rules charge the
// stay (POST /api/stays/{id}/escape). The plate then owes it at every car park, and
// its next payment asks for it. Recording a debt against a driver is not undone from
// the console, so the form asks once more, naming the plate and the amount, before it
// is sent; a refusal (already owed, paid, nothing owed) is shown as the centre gives it.

import { api } from "./api.js";
import { errorText, t } from "./i18n.js";
import { toFen } from "./outcome.js";
import { yuan } from "./payment.js";

const $ = (id) => document.getElementById(id);

/** What the form asks to record: {note, amount_fen?}, or {error} naming what to fix.
 * A blank amount is the rules' (the centre's to compute); 0 is not a debt. */
export function escapeRequest(note, amount) {
  const text = note.trim();
  if (!text) return { error: { key: "escape.err.note", code: "note_required" } };
  if (!amount.trim()) return { request: { note: text } };
  const fen = toFen(amount);
  if (fen === null || fen <= 0) return { error: { key: "escape.err.amount", code: "amount_format" } };
  return { request: { note: text, amount_fen: fen } };
}

export class EscapePanel {
  /** @param {{onRecorded: () => void}} options: the stay owes now; show it again */
  constructor({ onRecorded }) {
    this.onRecorded = onRecorded;
    this.stay = null;
    this.pending = null; // the request the agent is asked to confirm
    this.done = null; // the centre's answer: the debt recorded
    this.error = null; // {key, code} of the form, or an ApiError
    this.busy = false;
    $("ws-escape-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.ask();
    });
    $("ws-escape-yes").addEventListener("click", () => this.record());
    $("ws-escape-no").addEventListener("click", () => {
      this.pending = null;
      this.render();
    });
  }

  /** The chosen car's stay (null: none). Another stay starts afresh. */
  show(stay) {
    if (stay?.stay_id !== this.stay?.stay_id) {
      this.pending = this.done = this.error = null;
      $("ws-escape-form").reset();
    }
    this.stay = stay;
    this.render();
  }

  clear() {
    this.show(null);
  }

  ask() {
    if (this.busy || !this.stay) return;
    const { request, error } = escapeRequest($("ws-escape-note").value, $("ws-escape-amount").value);
    this.error = error ?? null;
    this.done = null;
    this.pending = request ?? null;
    this.render();
    if (request) $("ws-escape-yes").focus();
  }

  async record() {
    const stay = this.stay;
    const request = this.pending;
    if (this.busy || !stay || !request) return;
    this.busy = true;
    this.error = null;
    this.render();
    try {
      const debt = await api.recordEscape(stay.stay_id, request);
      if (this.stay?.stay_id !== stay.stay_id) return;
      this.done = debt;
      this.pending = null;
      $("ws-escape-form").reset();
      this.onRecorded();
    } catch (error) {
      if (this.stay?.stay_id !== stay.stay_id) return;
      this.error = error;
      this.pending = null;
    } finally {
      this.busy = false;
      this.render();
    }
  }

  render() {
    const stay = this.stay;
    const root = $("ws-escape");
    root.hidden = !stay;
    if (!stay) return;
    root.dataset.stay = String(stay.stay_id);
    const fee = Number.isInteger(stay.fee_fen) ? yuan(stay.fee_fen) : null;
    $("ws-escape-amount").placeholder =
      fee === null ? t("escape.amount_hint.none") : t("escape.amount_hint", { amount: fee });
    const owed = $("ws-escape-owed");
    const debts = Number.isInteger(stay.debts_fen) && stay.debts_fen > 0;
    owed.hidden = !debts;
    owed.dataset.debtsFen = debts ? String(stay.debts_fen) : "";
    owed.textContent = debts ? t("escape.owed", { amount: yuan(stay.debts_fen) }) : "";
    $("ws-escape-submit").disabled = this.busy || Boolean(this.pending);
    const confirm = $("ws-escape-confirm");
    confirm.hidden = !this.pending;
    if (this.pending) {
      const amount = this.pending.amount_fen;
      $("ws-escape-question").textContent = t("escape.confirm", {
        plate: stay.plate,
        amount: amount === undefined ? t("escape.confirm.rules") : t("escape.confirm.amount", { amount: yuan(amount) }),
      });
    }
    $("ws-escape-yes").disabled = this.busy;
    const error = this.error;
    const node = $("ws-escape-error");
    node.hidden = !error;
    node.textContent = error ? (error.key ? t(error.key) : errorText(error)) : "";
    if (error) node.dataset.error = error.code;
    else delete node.dataset.error;
    const done = $("ws-escape-done");
    done.hidden = !this.done;
    if (this.done) {
      done.dataset.debt = String(this.done.id);
      done.dataset.fen = String(this.done.fen);
      done.textContent = t("escape.done", { amount: yuan(this.done.fen), plate: this.done.plate });
    }
  }

  relabel() {
    this.render();
  }
}
