// Handing the call on: to an agent by name, or to the supervisors, with a note. The
// call then rings for them and this agent goes to wrap-up; a refusal (nobody of that
// name, not free, another car park) is shown next to the name and nothing changes.

import { api } from "./api.js";
import { wireFormDialog } from "./dialogs.js";
import { errorText, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

// Refusals about the agent named; the others are the form's.
const ABOUT_AGENT = new Set(["unknown_agent", "self_transfer", "not_available", "not_covered", "bad_request"]);

export class TransferDialog {
  /** @param {{onTransferred: (call: object) => void, agentNames: () => string[]}} options */
  constructor({ onTransferred, agentNames }) {
    this.onTransferred = onTransferred;
    this.agentNames = agentNames;
    this.dialog = $("transfer-dialog");
    this.form = $("transfer-form");
    this.agent = $("transfer-agent");
    this.note = $("transfer-note");
    this.agentError = $("transfer-agent-error");
    this.error = $("transfer-error");
    this.confirm = $("transfer-confirm");
    this.callId = null;
    this.busy = false;
    this.problem = null; // {field, error}
    wireFormDialog({
      dialog: this.dialog,
      form: this.form,
      cancel: $("transfer-cancel"),
      busy: () => this.busy,
      submit: () => this.submit(),
    });
    for (const radio of this.form.elements["transfer-to"]) {
      radio.addEventListener("change", () => this.syncTarget());
    }
  }

  get target() {
    return this.form.elements["transfer-to"].value;
  }

  syncTarget() {
    const toAgent = this.target === "agent";
    this.agent.disabled = !toAgent;
    this.agent.required = toAgent;
  }

  show(call, laneText) {
    this.callId = call.id;
    this.form.reset();
    $("transfer-lane").textContent = laneText;
    $("transfer-agents").replaceChildren(...this.agentNames().map((name) => new Option(name)));
    this.setProblem(null);
    this.syncTarget();
    this.dialog.showModal();
    this.agent.focus();
  }

  close() {
    this.busy = false;
    if (this.dialog.open) this.dialog.close();
  }

  setProblem(problem) {
    this.problem = problem;
    for (const [node, field] of [
      [this.agentError, "agent"],
      [this.error, "form"],
    ]) {
      const error = problem?.field === field ? problem.error : null;
      node.hidden = !error;
      node.textContent = error ? (error.key ? t(error.key) : errorText(error)) : "";
      if (error) node.dataset.error = error.code ?? error.key;
      else delete node.dataset.error;
    }
    this.agent.setAttribute("aria-invalid", String(problem?.field === "agent"));
  }

  async submit() {
    const to = this.target === "supervisors" ? "supervisors" : this.agent.value.trim();
    if (!to) {
      this.setProblem({ field: "agent", error: { key: "transfer.err.agent", code: "missing" } });
      this.agent.focus();
      return;
    }
    const callId = this.callId;
    this.busy = true;
    this.confirm.disabled = true;
    this.confirm.setAttribute("aria-busy", "true");
    this.setProblem(null);
    try {
      const call = await api.transferCall(callId, to, this.note.value.trim());
      this.busy = false;
      this.close();
      this.onTransferred(call);
    } catch (error) {
      if (!this.dialog.open) return;
      const field = ABOUT_AGENT.has(error.code) && to !== "supervisors" ? "agent" : "form";
      this.setProblem({ field, error });
    } finally {
      this.busy = false;
      this.confirm.disabled = false;
      this.confirm.setAttribute("aria-busy", "false");
    }
  }

  relabel() {
    this.setProblem(this.problem);
  }
}
