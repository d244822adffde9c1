// The login-attack alarm for supervisors and admins: the latest login_attack entry the
// stream brought. A brute-force alarm must not scroll away in the audit table, so it is
// a red banner until dismissed.

import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

export function createAttackAlert() {
  let attack = null; // the entry shown, until dismissed

  function render() {
    const node = $("attack-alert");
    node.hidden = !attack;
    if (!attack) return;
    const detail = attack.detail ?? {};
    const trigger = detail.trigger === "address" ? "address" : "username";
    node.dataset.trigger = trigger;
    node.dataset.username = String(detail.username ?? "");
    node.dataset.remote = String(detail.remote ?? "");
    $("attack-alert-text").textContent = t(`attack.${trigger}`, {
      username: detail.username ?? "",
      remote: detail.remote ?? "",
      users: detail.user_failures ?? "",
      addresses: detail.address_failures ?? "",
    });
  }

  /** Show `entry` (an audit entry), or hide the banner (null). */
  function show(entry) {
    attack = entry;
    render();
  }

  $("attack-alert-dismiss").addEventListener("click", () => show(null));

  return { show, relabel: render };
}
