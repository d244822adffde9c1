// A supervisor taking a call over (强插), asked for once more before it happens: the
// agent on the call loses the driver mid-sentence, so a stray click must not do it. On
// the centre's answer the call is the supervisor's; a refusal (the call ended or was
// handed on meanwhile, the supervisor is on a call) shows in the dialog and nothing
// changes.

import { api } from "./api.js";
import { wireFormDialog } from "./dialogs.js";
import { errorText, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

export class BargeDialog {
  /** @param {{onBarged: (call: object) => void}} options  onBarged gets the call as the centre answered it. */
  constructor({ onBarged }) {
    this.onBarged = onBarged;
    this.dialog = $("barge-dialog");
    this.error = $("barge-error");
    this.confirm = $("barge-confirm");
    this.callId = null;
    this.busy = false;
    this.problem = null;
    this.params = {};
    wireFormDialog({
      dialog: this.dialog,
      form: $("barge-form"),
      cancel: $("barge-cancel"),
      busy: () => this.busy,
      submit: () => this.submit(),
    });
  }

  /** Ask before taking `call` over from `agent`; `lane` names the call's lane. */
  show(call, agent, lane) {
    this.callId = call.id;
    this.dialog.dataset.call = call.id;
    this.params = { agent, lane };
    this.setProblem(null);
    this.render();
    this.dialog.showModal();
    this.confirm.focus();
  }

  close() {
    this.busy = false;
    if (this.dialog.open) this.dialog.close();
  }

  async submit() {
    const callId = this.callId;
    this.busy = true;
    this.setProblem(null);
    this.render();
    try {
      const call = await api.bargeCall(callId);
      this.busy = false;
      this.close();
      this.onBarged(call);
    } catch (error) {
      this.busy = false;
      this.setProblem(error);
      this.render();
    }
  }

  setProblem(error) {
    this.problem = error;
    this.error.hidden = !error;
    this.error.textContent = error ? errorText(error) : "";
    if (error) this.error.dataset.error = error.code;
    else delete this.error.dataset.error;
  }

  render() {
    $("barge-text").textContent = t("barge.text", this.params);
    this.confirm.disabled = this.busy;
    this.confirm.setAttribute("aria-busy", String(this.busy));
  }

  relabel() {
    if (!this.dialog.open) return;
    this.render();
    this.setProblem(this.problem);
  }
}
