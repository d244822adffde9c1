// A plate typed by an agent, checked as it is typed against the centre's plate rules
// (GET /api/plates/check, GA 36-2018): the plate as the centre reads it is drawn
// character by character with the first wrong one marked, so a tired agent sees which
// character to fix before sending anything. Only the answer to the latest text counts:
// answers to older keystrokes that arrive late are dropped.

import { api } from "./api.js";
import { el } from "./dom.js";
import { errorText, t } from "./i18n.js";

export class PlateCheck {
  /**
   * @param {{input: HTMLInputElement, view: HTMLElement, error: HTMLElement,
   *          onChange: (valid: boolean) => void}} nodes
   */
  constructor({ input, view, error, onChange }) {
    this.input = input;
    this.view = view;
    this.errorNode = error;
    this.onChange = onChange;
    this.asked = 0; // the number of the latest question; older answers are stale
    this.answer = null; // the centre's answer for the text in the field, or null
    this.failure = null; // an ApiError, kept for a language switch
    this.input.addEventListener("input", () => this.check());
  }

  /** The plate the centre read, when it is valid; null otherwise. */
  get plate() {
    return this.answer?.valid === true ? this.answer.plate : null;
  }

  /** Put `plate` in the field (a new vehicle chosen) and check it. */
  set(plate) {
    this.input.value = plate ?? "";
    this.check();
  }

  async check() {
    const asked = ++this.asked;
    const text = this.input.value.trim();
    this.answer = null;
    this.failure = null;
    if (!text) {
      this.render();
      return;
    }
    this.view.dataset.valid = "pending";
    this.onChange(false);
    try {
      const answer = await api.checkPlate(text);
      if (asked === this.asked) this.answer = answer;
    } catch (error) {
      if (asked === this.asked) this.failure = error;
    }
    if (asked === this.asked) this.render();
  }

  render() {
    const answer = this.answer;
    const chars = [...(answer?.plate ?? "")];
    const wrong = Number.isInteger(answer?.position) ? answer.position : -1;
    this.view.replaceChildren(
      ...chars.map((char, i) => {
        const node = el("span", "plate-check__char", char);
        if (i === wrong) {
          node.dataset.wrong = "true";
          node.className += " plate-check__char--wrong";
        }
        return node;
      }),
    );
    this.view.dataset.valid = answer ? String(answer.valid) : "";
    if (answer?.kind) this.view.dataset.kind = answer.kind;
    else delete this.view.dataset.kind;
    const line = this.failure ? errorText(this.failure) : answer && !answer.valid ? this.refusal(answer) : "";
    this.errorNode.hidden = !line;
    this.errorNode.textContent = line;
    if (line) this.errorNode.dataset.error = this.failure?.code ?? answer.error;
    else delete this.errorNode.dataset.error;
    this.input.setAttribute("aria-invalid", String(Boolean(line)));
    this.onChange(answer?.valid === true);
  }

  /** What is wrong, in words, naming the character when there is one. */
  refusal({ plate, error, position }) {
    const what = t(`platecheck.${error}`);
    if (!Number.isInteger(position)) return what;
    return `${what}：${t("outcome.err.plate_at", { n: position + 1, char: [...plate][position] ?? "" })}`;
  }

  relabel() {
    this.render();
  }
}
