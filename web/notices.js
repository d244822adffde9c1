// One line of news on the desk: a call taken by someone else, a call handed on, a
// refusal from the centre. It says what happened and goes after a few seconds; news the
// agent must act on (put on a break, money paid late) stays until the next, and may
// carry the one button that acts on it.

import { errorText, t } from "./i18n.js";

const SHOWN_MS = 8_000;

export class Notices {
  constructor(node) {
    this.node = node;
    this.current = null; // {key, params, action?} | {error}: kept for a language switch
    this.timer = null;
  }

  /** Show `key` (an i18n key, also data-notice) with `params`; `sticky` keeps it.
   * `action` ({key, run}) puts a button labelled `key` beside it that calls `run`. */
  show(key, params = {}, sticky = false, action = null) {
    this.set({ key, params, action }, sticky);
  }

  /** Whether the notice shown is `key` about `subject` (a params value). */
  showing(key, name, subject) {
    return this.current?.key === key && this.current.params?.[name] === subject;
  }

  /** A refusal or failure of a request (an ApiError). */
  error(error) {
    this.set({ error }, false);
  }

  set(notice, sticky) {
    clearTimeout(this.timer);
    this.timer = sticky ? null : setTimeout(() => this.clear(), SHOWN_MS);
    this.current = notice;
    this.render();
  }

  clear() {
    clearTimeout(this.timer);
    this.timer = null;
    this.current = null;
    this.render();
  }

  render() {
    const notice = this.current;
    this.node.hidden = !notice;
    this.node.classList.toggle("desk-notice--bad", Boolean(notice?.error));
    if (!notice) {
      this.node.textContent = "";
      delete this.node.dataset.notice;
      return;
    }
    this.node.dataset.notice = notice.error ? notice.error.code : notice.key;
    this.node.textContent = notice.error ? errorText(notice.error) : t(notice.key, notice.params);
    const action = notice.action;
    if (!action) return;
    const button = document.createElement("button");
    button.type = "button";
    button.id = "desk-notice-action";
    button.className = "btn btn--danger desk-notice__action";
    button.textContent = t(action.key);
    button.addEventListener("click", () => action.run());
    this.node.append(" ", button);
  }

  relabel() {
    this.render();
  }
}
