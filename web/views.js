// Which of the page's views is shown (loading, login, lanes, agents, audit) and the
// header over them: who is signed in, the tabs they may use, the stream's state and the
// language button. The audit and the supervisors' floor are for supervisors and admins;
// anyone else asking for them gets the lanes.

import { label, lang, setLang, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

/**
 * @param {{user: () => object|null, canAudit: () => boolean, supervisor, audit}} parts
 *   user: the signed-in user ({username, role}) or null; supervisor and audit: the views
 *   told when they are shown (supervisor.js, audit.js).
 */
export function createViews({ user, canAudit, supervisor, audit }) {
  function show(view) {
    if ((view === "audit" || view === "agents") && !canAudit()) view = "lanes";
    const was = document.body.dataset.view;
    document.body.dataset.view = view;
    $("loading").hidden = view !== "loading";
    $("login-view").hidden = view !== "login";
    $("workspace").hidden = view === "loading" || view === "login";
    $("lanes-view").hidden = view !== "lanes";
    $("agents-view").hidden = view !== "agents";
    $("audit-view").hidden = view !== "audit";
    if (view === "agents" && was !== "agents") {
      delete $("tab-agents").dataset.alerts;
      supervisor.shown();
    } else if (view !== "agents") {
      supervisor.hidden();
    }
    for (const tab of $("tabs").querySelectorAll("[data-view]")) {
      if (tab.dataset.view === view) tab.setAttribute("aria-current", "page");
      else tab.removeAttribute("aria-current");
    }
    if (view === "audit" && !audit.loaded) audit.load();
  }

  function header() {
    const me = user();
    $("user").hidden = !me;
    $("logout").hidden = !me;
    $("tabs").hidden = !me;
    $("tab-audit").hidden = !canAudit();
    $("tab-agents").hidden = !canAudit();
    $("conn-state").hidden = !me;
    if (me) {
      $("user-name").textContent = me.username;
      $("user-role").textContent = label("role.", me.role);
      $("user-role").setAttribute("data-role", String(me.role));
    }
  }

  function languageButton() {
    // The button names the other language, in that language.
    $("lang-switch").lang = lang() === "zh-CN" ? "en" : "zh-CN";
    document.title = t("app.title");
  }

  for (const tab of $("tabs").querySelectorAll("[data-view]")) {
    tab.addEventListener("click", () => show(tab.dataset.view));
  }
  $("lang-switch").addEventListener("click", () => setLang(lang() === "zh-CN" ? "en" : "zh-CN"));

  return {
    show,
    header,
    languageButton,
    /** The stream's state (stream.js) in the header; the banner while it reconnects. */
    connection(state) {
      const node = $("conn-state");
      node.dataset.state = state;
      node.dataset.i18n = `conn.${state}`;
      node.textContent = t(`conn.${state}`);
      $("banner").hidden = state !== "reconnecting";
    },
    current: () => document.body.dataset.view,
  };
}
