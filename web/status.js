// The agent's own state, always in the header: what the centre says they are (online,
// ringing, on a call, wrapping up with its countdown, on a break and why, offline) and
// the switch between available and a break. A break asks its reason from a short list.

import { api } from "./api.js";
import { clock } from "./format.js";
import { errorText, label, t } from "./i18n.js";

export const BREAK_REASONS = ["rest", "meal", "training", "other"];

const $ = (id) => document.getElementById(id);

/** "休息（用餐）": a break with its reason, the queue's own reasons and free text too. */
export function breakText(reason) {
  return reason ? t("state.break_reason", { reason: label("break.", reason) }) : t("state.break");
}

export class AgentStatus {
  /** @param {import("./calls.js").CallBook} book */
  constructor(book) {
    this.book = book;
    this.root = $("agent-status");
    this.state = $("agent-state");
    this.available = $("state-available");
    this.pause = $("state-break");
    this.error = $("state-error");
    this.dialog = $("break-dialog");
    this.form = $("break-form");
    this.problem = null;
    this.busy = false;
    this.available.addEventListener("click", () => this.change("available"));
    this.pause.addEventListener("click", () => this.askBreak());
    $("break-cancel").addEventListener("click", () => this.dialog.close());
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      const reason = this.form.elements["break-reason"].value;
      if (!BREAK_REASONS.includes(reason)) return;
      this.dialog.close();
      this.change("break", reason);
    });
  }

  askBreak() {
    for (const input of this.form.elements["break-reason"]) input.checked = input.value === "rest";
    this.dialog.showModal();
    this.form.querySelector("input:checked")?.focus();
  }

  async change(state, reason = "") {
    if (this.busy) return;
    this.busy = true;
    this.problem = null;
    this.render();
    try {
      const agent = await api.setState(state, reason);
      if (agent?.name === this.book.username) this.book.setMe(agent);
    } catch (error) {
      this.problem = error;
    } finally {
      this.busy = false;
      this.render();
    }
  }

  text(agent) {
    switch (agent.state) {
      case "wrap_up": {
        const left = this.book.wrapLeft();
        return left === null ? t("state.wrap_up") : t("state.wrap_up_left", { s: Math.ceil(left) });
      }
      case "break":
        return breakText(agent.break_reason);
      default:
        return label("state.", agent.state);
    }
  }

  /** Re-read the book: its agent changed, or a second went by. */
  render() {
    const agent = this.book.me?.agent ?? { state: "offline" };
    this.state.dataset.state = agent.state;
    this.state.textContent = this.text(agent);
    this.state.title = t("state.since", { time: clock(this.book.inState()) });
    const s = agent.state;
    // Choosing available ends a wrap-up early; a call held must be ended first.
    this.available.hidden = s === "available" || s === "ringing" || s === "on_call";
    this.pause.hidden = s === "break" || s === "offline";
    this.pause.disabled = s === "on_call" || this.busy;
    this.available.disabled = this.busy;
    this.error.hidden = !this.problem;
    this.error.textContent = this.problem ? errorText(this.problem) : "";
    if (this.problem) this.error.dataset.error = this.problem.code;
    else delete this.error.dataset.error;
  }

  show(visible) {
    this.root.hidden = !visible;
    if (!visible && this.dialog.open) this.dialog.close();
  }
}
