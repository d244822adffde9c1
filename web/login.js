// The login form: the name and password sent to the centre, and what the page says
// about the attempt. A throttled attempt (429) or a busy centre (503) keeps the form
// shut, counting the centre's retry_after down on screen.

import { api } from "./api.js";
import { errorText, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

/**
 * @param {{onSignedIn: (me: object) => void, showView: (view: string) => void}} hooks
 *   onSignedIn: the centre took the credentials; `me` is GET /api/me's answer.
 */
export function createLogin({ onSignedIn, showView }) {
  // {key, params, code, notice?} | {error}: kept so a language switch re-renders it. A
  // notice (the user's own logout) is news, not a failure, and is shown as such.
  let message = null;
  let throttleTimer = null;

  function render() {
    const notice = message?.notice === true;
    for (const [id, attribute, shown] of [
      ["login-error", "data-error", Boolean(message) && !notice],
      ["login-notice", "data-notice", notice],
    ]) {
      const node = $(id);
      node.hidden = !shown;
      if (!shown) {
        node.textContent = "";
        node.removeAttribute(attribute);
        continue;
      }
      node.textContent = message.error ? errorText(message.error) : t(message.key, message.params);
      node.setAttribute(attribute, message.code ?? message.error?.code ?? message.key);
    }
  }

  function setMessage(next) {
    message = next;
    render();
  }

  function setBusy(busy) {
    const button = $("login-submit");
    button.disabled = busy || throttleTimer !== null;
    button.dataset.i18n = busy ? "login.busy" : "login.submit";
    button.textContent = t(button.dataset.i18n);
  }

  /** 429 or 503: count the server's retry_after down on screen and keep the form shut
   * until then. */
  function startThrottle(seconds, key = "login.throttled", code = "throttled") {
    clearInterval(throttleTimer);
    const until = Date.now() + Math.max(1, Math.ceil(Number(seconds) || 30)) * 1000;
    const update = () => {
      const left = Math.ceil((until - Date.now()) / 1000);
      if (left <= 0) {
        clearInterval(throttleTimer);
        throttleTimer = null;
        setMessage(null);
        setBusy(false);
        return;
      }
      setMessage({ key, params: { n: left }, code });
    };
    throttleTimer = setInterval(update, 1000);
    update();
    setBusy(false);
  }

  async function submit(event) {
    event.preventDefault();
    if (throttleTimer !== null) return;
    const username = $("username").value.trim();
    const password = $("password").value;
    if (!username || !password) {
      setMessage({ key: "login.missing", code: "missing" });
      (username ? $("password") : $("username")).focus();
      return;
    }
    setBusy(true);
    try {
      const me = await api.login(username, password);
      $("password").value = "";
      setMessage(null);
      onSignedIn(me);
    } catch (error) {
      if (error.status === 429) {
        startThrottle(error.body?.retry_after);
      } else if (error.status === 503 && (error.code === "busy" || error.code === "throttle_unavailable")) {
        startThrottle(error.body?.retry_after, "login.server_busy", "busy");
      } else if (error.status === 401) {
        setMessage({ key: "login.bad_credentials", code: error.code });
        $("password").select();
      } else {
        setMessage({ error });
      }
    } finally {
      setBusy(false);
    }
  }

  $("login-form").addEventListener("submit", submit);

  return {
    /** The login page, with `notice` ({key, code, notice?} | {error} | null) on it. */
    show(notice = null) {
      setMessage(notice);
      showView("login");
      $("username").focus();
    },
    relabel: render,
  };
}
