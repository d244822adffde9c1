// Remote-seat agent console: session, views and the live stream.
//
// Served as static files with a strict CSP (script-src 'self', style-src 'self'), so there
// is no inline script, style or event handler anywhere. Untrusted text (plates, notes,
// names, details) only ever reaches the page through textContent.
//
// Test contract: stable selectors for Playwright. Visible text is localised (zh-CN by
// default), so assert on ids and data-* attributes rather than on words.
//   body[data-view]            "loading" | "login" | "lanes" | "audit"
//   #login-form #username #password #login-submit
//   #login-error               role=alert, hidden when empty; data-error="<code>"
//                              ("missing" "bad_credentials" "throttled" "expired" or an
//                              API error code)
//   #login-notice              role=status, hidden when empty; data-notice="logged_out"
//                              after the user's own logout (not an error)
//   #lanes                     the board: <section data-car-park="…"> per car park
//   [data-lane="<id>"]         one <tr> per lane with data-online="true|false",
//                              data-gate="<raw gate state>", data-calling="true|false",
//                              data-fault="<code>" (only while the lane has a fault)
//     [data-field="online"]    在线/离线 (Online/Offline), also data-online
//     [data-field="gate"]      localised gate state, also data-gate
//     [data-field="plate"]     the plate as sent (localised placeholder when none);
//                              data-plate-colour, data-plate-flag="invalid low_confidence"
//     [data-field="plate-time"] <time datetime=ISO> HH:MM:SS in Asia/Shanghai
//     [data-field="snapshot"]  <img> of GET /api/lanes/<id>/snapshot?t=<vehicle at>
//     [data-field="call"] [data-field="fault"]
//     button[data-action="open"] button[data-action="display"]   disabled when offline
//     button[data-action="live"] opens the live view; disabled when offline.
//                              The row being watched has data-watching="true".
//     button[data-action="sticker"]  supervisors and admins only: downloads the lane's
//                              help sticker (sticker-<id>.png); a refusal shows in
//                              #desk-notice[data-notice="<code>"]
//   #open-dialog <dialog>      #open-reason <select> (values = reason codes), #open-note,
//                              #open-confirm, #open-cancel, #open-error (validation)
//   #outcome                   data-outcome="pending|done|refused|timeout|lane_offline|error",
//                              data-error="<code>" when the request itself failed
//   #display-dialog <dialog>   #display-line-1…N (N = the lane's display.lines, each with
//                              maxlength = display.chars), #display-hint, #display-confirm,
//                              #display-cancel, #display-error, #display-outcome (same
//                              attributes as #outcome)
//   #tabs #tab-lanes #tab-audit (#tab-audit hidden for role "agent")
//   #audit <table>             tbody tr[data-seq] (+ data-action); #audit-more, #audit-status
//   #lang-switch #logout #user-name #user-role[data-role] #conn-state[data-state] #banner
//   #attack-alert              role=alert, supervisors and admins: the latest login_attack
//                              entry from the stream, with data-trigger="username|address",
//                              data-username, data-remote; #attack-alert-dismiss hides it
//   <html lang> = current language; localStorage "seat.lang" = "zh-CN" | "en"
//   #live                      the live view (hidden when closed): data-lane="<id>",
//                              data-state = the view's state, as #live-state;
//                              data-mode="none|watch|listen|intercom" (what the current
//                              peer connection carries); data-talking="true|false"
//                              (the microphone track is enabled)
//     #live-state[data-state]  RTCPeerConnection.connectionState ("new" "connecting"
//                              "connected" "disconnected" "failed"), or "offline" (the
//                              lane is offline), "camera_down" (the lane has the fault
//                              camera_unavailable), "error" (the offer was refused and
//                              is not retried), "closed". With no peer connection:
//                              "connecting" while offering, "disconnected" while a
//                              new offer waits out its backoff.
//     #live-message            role=alert, hidden when empty; data-message="offline" |
//                              "camera_down" | "reconnecting" | "<error code>"
//     #live-video              <video>; data-frames = framesDecoded; poster = the last
//                              snapshot until the first frame
//     #live-fresh[data-state]  "waiting" (no frame yet) | "live" (a new frame decoded
//                              within 1.5 s, never at 0 fps) | "stale" (none since:
//                              "画面中断 · N 秒无新帧") | "offline" (the lane is offline);
//                              data-fps (over the last 2 s), data-since-ms (since the
//                              last new frame), data-buffer-ms (jitter buffer)
//     #intercom-start #intercom-end (one of the two is shown) #intercom-busy[data-holder]
//     #listen-toggle[aria-pressed]  supervisors and admins only
//     #live-mute[aria-pressed] #talk-hold (pointer or Space held on it, or Space on the
//                              focused #live, which it is when it opens) #talk-latch[aria-pressed]
//     #meter-out #meter-in     <meter> with data-level 0..1 (dB scale, 0 = -60 dBFS);
//                              #meter-out-label: 我方话筒, or 坐席话音 when listening in
//                              (the meter then shows the agent's voice)
//     #live-open #live-display  the lane's open-gate and display dialogs, as on its row
//     #live-close
//   window.seatLive            the live view; .pc = the current RTCPeerConnection or null,
//                              .viewer = its viewer id at the centre, .watch.conn.audio
//                              and .agent = its received audio tracks (the agent's when
//                              listening in)
//
//   The call desk (README, "Answering calls at the console"):
//   body[data-view]            also "agents" (supervisors' floor); data-ringing="true|false"
//   #agent-state[data-state]   offline | available | ringing | on_call | wrap_up | break
//   #state-available #state-break #state-error[data-error]
//   #break-dialog              input[name="break-reason"] rest|meal|training|other, #break-confirm
//   #sound-hint                shown while the page may not sound yet (no click since load)
//   #desk-notice[data-notice]  the latest news: an i18n key ("queue.taken", "call.ended",
//                              "call.transferred", ...) or an API error code
//   #ring-card[data-call][data-source]  #ring-accept #ring-decline
//   #call-card[data-call][data-lane][data-level="ok|warned|breached"]  #call-clock
//     #call-open #call-display #call-live #call-transfer #call-end
//     #outcome-form #outcome-category #outcome-plate #outcome-amount (yuan) #outcome-note
//     #outcome-submit; #outcome-{category,plate,amount,note}-error[data-error] beside each
//   #transfer-dialog           input[name="transfer-to"] agent|supervisors, #transfer-agent,
//                              #transfer-note, #transfer-confirm, #transfer-agent-error,
//                              #transfer-error (both with data-error)
//   #call-workspace[data-call]  the call workspace (workspace.js), shown while holding a call
//     #ws-vehicles li[data-event][data-direction][data-stay-state] button[data-action="choose"][aria-pressed]
//     #ws-pair[data-event]     the chosen read: #ws-exit-crop, #ws-exit-plate[data-plate],
//                              #ws-exit-confidence; #ws-entry[data-stay][data-state] with
//                              #ws-entry-crop, #ws-entry-plate[data-plate]
//     #ws-plate #ws-plate-note #ws-plate-submit; #ws-plate-check[data-valid="true|false|pending|"]
//                              with span[data-wrong="true"] on the first wrong character;
//                              #ws-plate-error[data-error="<plate check error>"]
//     #ws-candidates li[data-stay] button[data-action="match"]; #ws-candidates-panel
//     #ws-fee[data-fee-fen]    #ws-pay-amount #ws-pay-reason #ws-pay-issue #ws-pay-error[data-error]
//     #ws-order[data-order][data-state]  #ws-qr (the QR code's PNG) #ws-order-amount;
//                              #ws-step-{order,notice,gate}[data-state]; #ws-reopen
//     #ws-error[data-error]    a refusal of the centre
//   #queue li[data-call][data-state][data-source]  button[data-action="pick"]; #queue-count
//   #hotline-open (H)          the hotline form: #hotline-dialog, #hotline-search (filters
//                              by lane id, name, car park), #hotline-lane <select> (values =
//                              lane ids), #hotline-matches[data-matches], #hotline-caller,
//                              #hotline-note, #hotline-confirm, #hotline-cancel;
//                              #hotline-{lane,note}-error and #hotline-error with data-error
//   #keys-dialog #keys-list    the shortcuts, on `?`
//   #tab-agents[data-alerts]   alerts not yet seen; #agents-table tr[data-agent][data-state]
//                              [data-connected]; #board-{waiting,longest,level,answered,
//                              abandoned}; #alerts li[data-agent][data-kind]
//     button[data-action="listen"][data-call][aria-pressed]  on an agent's lane call
//     button[data-action="barge"][data-call]  on an agent's call: opens #barge-dialog
//   #barge-dialog[data-call]   #barge-text, #barge-confirm, #barge-cancel,
//                              #barge-error[data-error]
//   window.seatRing            the ringer: .started (tones started), .sounding, .notified,
//                              .context (its AudioContext)

import { api, setCsrfToken, setUnauthorizedHandler, streamUrl } from "./api.js";
import { createAuditView } from "./audit.js";
import { Desk } from "./desk.js";
import { DisplayDialog, OpenGateDialog } from "./dialogs.js";
import { oncePerFrame } from "./frames.js";
import { applyStatic, errorText, label, lang, onLangChange, setLang, t } from "./i18n.js";
import { createKeys } from "./keys.js";
import { createLanesView } from "./lanes.js";
import { CarParkDialog } from "./parks.js";
import { LiveView } from "./live.js";
import { downloadSticker } from "./stickers.js";
import { CLOSE_UNAUTHORIZED, LiveStream } from "./stream.js";
import { createSupervisorView } from "./supervisor.js";

const $ = (id) => document.getElementById(id);
const AUDIT_ROLES = new Set(["supervisor", "admin"]);
const TICK_MS = 5_000;
const CLOCK_MS = 1_000; // the call clocks, wait clocks and wrap-up countdown
// The desk's messages on the live stream: the call queue's (README, "Calls") and the
// orders' (README, "Payments").
const CALL_MESSAGES = new Set(["calls", "call", "queue", "ring", "ring_stopped", "agent", "alert", "order"]);

const session = {
  user: null, // {username, role, csrf_token} while logged in
  synced: false, // the stream's snapshot has arrived: stale HTTP answers must not overwrite it
  leaving: false, // the user asked to log out: the session's end is no surprise
};
// {key, params, code, notice?} | {error}: kept so a language switch re-renders it. A
// notice (the user's own logout) is news, not a failure, and is shown as such.
let loginMessage = null;
let throttleTimer = null;
let attack = null; // the latest login_attack entry shown to a supervisor, until dismissed

const lanes = createLanesView($("lanes"), {
  onOpen: (id) => openDialog.show(id),
  onDisplay: (id) => displayDialog.show(id),
  onLive: (id) => live.show(id),
  onPark: (name) => parks.show(name),
  onSticker: (id) => downloadSticker(id).catch((error) => desk.notices.error(error)),
  canSticker: () => canAudit(),
});
const live = new LiveView({
  getLane: (id) => lanes.get(id),
  onOpen: (id) => openDialog.show(id),
  onDisplay: (id) => displayDialog.show(id),
  canListen: () => AUDIT_ROLES.has(session.user?.role),
  onShown: (id) => {
    lanes.watching(id);
    $("stage").classList.toggle("stage--live", id !== null);
  },
});
// For tests and for an engineer at the console: the live peer connection's getStats().
window.seatLive = live;
const openDialog = new OpenGateDialog((id) => lanes.get(id));
const parks = new CarParkDialog();
// The call workspace names its lane's car park on its button (workspace.js).
$("ws-park").addEventListener("click", (event) => parks.show(event.currentTarget.dataset.carPark));
const displayDialog = new DisplayDialog((id) => lanes.get(id));
const desk = new Desk({
  getLane: (id) => lanes.get(id),
  lanes: () => lanes.list(),
  live,
  openGate: (id) => openDialog.show(id),
  display: (id) => displayDialog.show(id),
  agentNames: () => (canAudit() ? supervisor.names() : []),
  title: () => t("app.title"),
});
// For tests and for an engineer at the console: the ringer (.started, .sounding, .context).
window.seatRing = desk.ringer;
const supervisor = createSupervisorView({
  book: desk.book,
  getLane: (id) => lanes.get(id),
  onListen: (call) => live.show(call.lane_id, { listen: true }),
  listening: (laneId) => live.laneId === laneId && live.mode === "listen",
  // The call is this supervisor's now: its card, and its lane's view on the intercom,
  // as an answer would open them.
  onBarged: (call) => {
    desk.observe(call);
    desk.startView(call);
  },
});
// Lane changes from the stream, the latest of each lane, shown a frame's worth at a time:
// a city's wall may change 50 lanes a second, and the page is drawn 60 times.
const laneChanges = new Map(); // lane id -> its state not yet shown
const laneFrame = oncePerFrame(() => {
  const changed = [...laneChanges.values()];
  laneChanges.clear();
  lanes.update(changed);
  if (changed.some((lane) => lane.id === live.laneId)) live.laneChanged(lanes.get(live.laneId));
  desk.render(); // the call's lane: online, gate, last vehicle
});

/** Forget changes not shown yet: the whole list replaces them, or the session ended. */
function dropLaneChanges() {
  laneChanges.clear();
  laneFrame.cancel();
}
// Shortcuts act only inside a session; the login form is all fields anyway.
const signedIn = (fn) => (...args) => (session.user ? fn(...args) : undefined);
const keys = createKeys({
  ringing: () => desk.book.ring !== null,
  answer: signedIn(() => desk.answer()),
  decline: signedIn(() => desk.decline()),
  next: signedIn(() => desk.next()),
  hotline: signedIn(() => desk.askHotline()),
  open: signedIn(() => desk.openGateForCall()),
  end: signedIn(() => desk.askEnd()),
  talking: () => live.mode === "intercom",
  hold: (down) => live.hold(down),
  mute: () => live.mode === "intercom" && live.toggleLatch(),
});
const audit = createAuditView({
  table: $("audit"),
  more: $("audit-more"),
  status: $("audit-status"),
  laneName: (id) => {
    const lane = lanes.get(id);
    return lane?.name ? `${lane.name} (${id})` : id;
  },
});
const stream = new LiveStream(streamUrl, {
  onMessage: handleMessage,
  onState: showConnection,
  onClose: handleStreamClose,
});

// ---- views -------------------------------------------------------------------------

function canAudit() {
  return AUDIT_ROLES.has(session.user?.role);
}

function showView(view) {
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

function showHeader() {
  const user = session.user;
  $("user").hidden = !user;
  $("logout").hidden = !user;
  $("tabs").hidden = !user;
  $("tab-audit").hidden = !canAudit();
  $("tab-agents").hidden = !canAudit();
  $("conn-state").hidden = !user;
  if (user) {
    $("user-name").textContent = user.username;
    $("user-role").textContent = label("role.", user.role);
    $("user-role").setAttribute("data-role", String(user.role));
  }
}

function showConnection(state) {
  const node = $("conn-state");
  node.dataset.state = state;
  node.dataset.i18n = `conn.${state}`;
  node.textContent = t(`conn.${state}`);
  $("banner").hidden = state !== "reconnecting";
}

function syncLanguageButton() {
  // The button names the other language, in that language.
  $("lang-switch").lang = lang() === "zh-CN" ? "en" : "zh-CN";
  document.title = t("app.title");
}

// ---- login ---------------------------------------------------------------------------

function renderLoginMessage() {
  const message = loginMessage;
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

function setLoginMessage(message) {
  loginMessage = message;
  renderLoginMessage();
}

function setLoginBusy(busy) {
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
      setLoginMessage(null);
      setLoginBusy(false);
      return;
    }
    setLoginMessage({ key, params: { n: left }, code });
  };
  throttleTimer = setInterval(update, 1000);
  update();
  setLoginBusy(false);
}

function showLogin(message = null) {
  setLoginMessage(message);
  showView("login");
  $("username").focus();
}

async function submitLogin(event) {
  event.preventDefault();
  if (throttleTimer !== null) return;
  const username = $("username").value.trim();
  const password = $("password").value;
  if (!username || !password) {
    setLoginMessage({ key: "login.missing", code: "missing" });
    (username ? $("password") : $("username")).focus();
    return;
  }
  setLoginBusy(true);
  try {
    const me = await api.login(username, password);
    $("password").value = "";
    setLoginMessage(null);
    startSession(me);
  } catch (error) {
    if (error.status === 429) {
      startThrottle(error.body?.retry_after);
    } else if (error.status === 503 && error.code === "busy") {
      startThrottle(error.body?.retry_after, "login.server_busy", "busy");
    } else if (error.status === 401) {
      setLoginMessage({ key: "login.bad_credentials", code: error.code });
      $("password").select();
    } else {
      setLoginMessage({ error });
    }
  } finally {
    setLoginBusy(false);
  }
}

// ---- login attacks -------------------------------------------------------------------

/** A brute-force alarm must not scroll away in the audit table: a red banner until dismissed. */
function renderAttack() {
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

function showAttack(entry) {
  attack = entry;
  renderAttack();
}

// ---- session -------------------------------------------------------------------------

function startSession(me) {
  session.user = me;
  session.synced = false;
  session.leaving = false;
  setCsrfToken(me.csrf_token);
  dropLaneChanges();
  lanes.clear();
  audit.clear();
  supervisor.clear();
  desk.start(me.username);
  showHeader();
  showView("lanes");
  $("main").focus();
  stream.start();
  // The stream's first message carries the same list; this is for the first paint
  // and for networks where the WebSocket is slow or blocked.
  api.lanes().then(
    (body) => {
      if (session.user === me && !session.synced) lanes.setAll(body?.lanes ?? []);
    },
    () => {}, // a 401 ends the session via the handler; anything else waits for the stream
  );
}

/** @param {{key: string, code: string, notice?: boolean}|null} message for the login page */
function endSession(message) {
  if (!session.user) return;
  session.user = null;
  stream.stop();
  setCsrfToken(null);
  openDialog.close();
  displayDialog.close();
  live.close();
  desk.clear();
  supervisor.clear();
  dropLaneChanges();
  lanes.clear();
  audit.clear();
  showAttack(null);
  showHeader();
  showLogin(message);
}

/** The centre ended the session (expired, revoked, or logged out in another tab). */
function sessionLost() {
  // The centre closes the stream (4401) and answers 401 as soon as a logout ends the
  // session, before the logout's own answer arrives: that is this seat leaving.
  if (!session.leaving) endSession({ key: "login.expired", code: "expired" });
}

async function logout() {
  const button = $("logout");
  button.disabled = true;
  session.leaving = true;
  live.close(); // its DELETE must still carry the session's cookie
  try {
    await api.logout();
  } catch {
    // The cookie may already be dead; either way this seat is signed out.
  } finally {
    button.disabled = false;
    endSession({ key: "login.logged_out", code: "logged_out", notice: true });
  }
}

// ---- stream --------------------------------------------------------------------------

function handleMessage(message) {
  if (!session.user) return;
  if (CALL_MESSAGES.has(message.type)) {
    desk.handle(message);
    if (message.type === "agent" && message.agent) supervisor.agent(message.agent);
    if (message.type === "alert" && message.alert && canAudit()) supervisor.alert(message.alert);
    return;
  }
  switch (message.type) {
    case "lanes":
      if (!Array.isArray(message.lanes)) return;
      session.synced = true;
      dropLaneChanges();
      lanes.setAll(message.lanes);
      if (live.laneId) live.laneChanged(lanes.get(live.laneId));
      desk.render();
      desk.resync();
      // A (re)connect may follow a gap: fetch the newest audit page again.
      if (audit.loaded) audit.load();
      break;
    case "lane":
      if (message.lane && typeof message.lane.id === "string") {
        laneChanges.set(message.lane.id, message.lane);
        laneFrame.request();
      }
      break;
    case "audit":
      if (!message.entry) break;
      audit.add(message.entry);
      if (message.entry.action === "login_attack" && canAudit()) showAttack(message.entry);
      break;
    case "plate_alert":
      if (message.alert) showPlateAlert(message.alert);
      break;
    default:
      break; // newer servers may send more; this console ignores what it does not know
  }
}

/** The centre held a blacklisted car, or a car that owes came in: the notice stays
 * until the next, for the seat must act on it. */
function showPlateAlert(alert) {
  if (alert.kind !== "blacklist" && alert.kind !== "debtor") return;
  const lane = lanes.get(alert.lane);
  const fen = Number.isInteger(alert.debts_fen) ? alert.debts_fen : 0;
  desk.notices.show(
    `plate_alert.${alert.kind}`,
    {
      plate: String(alert.plate ?? ""),
      lane: lane?.name ?? String(alert.lane ?? ""),
      car_park: String(alert.car_park ?? ""),
      yuan: (fen / 100).toFixed(2),
    },
    true,
  );
}

function handleStreamClose({ code, wasOpen }) {
  if (!session.user) return;
  if (code === CLOSE_UNAUTHORIZED) {
    sessionLost();
    return;
  }
  // A refused upgrade (e.g. HTTP 403 for a dead cookie) shows only as close code 1006:
  // ask the API whether the session still stands rather than retrying forever.
  if (!wasOpen) {
    const user = session.user;
    api.me().catch((error) => {
      if (error.status === 401 && session.user === user) sessionLost();
    });
  }
}

// ---- wiring --------------------------------------------------------------------------

function relabel() {
  syncLanguageButton();
  showHeader();
  renderLoginMessage();
  renderAttack();
  lanes.relabel();
  openDialog.relabel();
  parks.relabel();
  displayDialog.relabel();
  live.relabel();
  audit.relabel();
  desk.relabel();
  supervisor.relabel();
  keys.relabel();
}

function boot() {
  document.documentElement.lang = lang();
  applyStatic();
  syncLanguageButton();
  setUnauthorizedHandler(sessionLost);
  onLangChange(relabel);

  $("login-form").addEventListener("submit", submitLogin);
  $("logout").addEventListener("click", logout);
  $("lang-switch").addEventListener("click", () => setLang(lang() === "zh-CN" ? "en" : "zh-CN"));
  $("audit-more").addEventListener("click", () => audit.loadMore());
  $("attack-alert-dismiss").addEventListener("click", () => showAttack(null));
  for (const tab of $("tabs").querySelectorAll("[data-view]")) {
    tab.addEventListener("click", () => showView(tab.dataset.view));
  }
  setInterval(() => lanes.tick(), TICK_MS);
  setInterval(() => {
    desk.tick();
    if (document.body.dataset.view === "agents") supervisor.tick();
  }, CLOCK_MS);
  // A closed tab must not hold a viewer (or the lane's intercom) until the centre's
  // ICE consent check notices; keepalive lets the DELETE outlive the page.
  window.addEventListener("pagehide", () => live.close({ keepalive: true, restoreFocus: false }));

  showView("loading");
  api.me().then(startSession, (error) => showLogin(error.status === 401 ? null : { error }));
}

boot();
