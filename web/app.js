// Remote-seat agent console: the session, and the console's parts wired together. The
// login form is login.js, the views and header views.js, what the stream's messages
// change messages.js.
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
import { createAttackAlert } from "./attack.js";
import { createAuditView } from "./audit.js";
import { Desk } from "./desk.js";
import { DisplayDialog, OpenGateDialog } from "./dialogs.js";
import { applyStatic, lang, onLangChange, t } from "./i18n.js";
import { createKeys } from "./keys.js";
import { createLanesView } from "./lanes.js";
import { createLogin } from "./login.js";
import { createMessages } from "./messages.js";
import { CarParkDialog } from "./parks.js";
import { LiveView } from "./live.js";
import { downloadSticker } from "./stickers.js";
import { CLOSE_UNAUTHORIZED, LiveStream } from "./stream.js";
import { createSupervisorView } from "./supervisor.js";
import { createViews } from "./views.js";

const $ = (id) => document.getElementById(id);
const AUDIT_ROLES = new Set(["supervisor", "admin"]);
const TICK_MS = 5_000;
const CLOCK_MS = 1_000; // the call clocks, wait clocks and wrap-up countdown

const session = {
  user: null, // {username, role, csrf_token} while logged in
  synced: false, // the stream's snapshot has arrived: stale HTTP answers must not overwrite it
  leaving: false, // the user asked to log out: the session's end is no surprise
};

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
  canListen: canAudit,
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
const views = createViews({ user: () => session.user, canAudit, supervisor, audit });
const login = createLogin({ onSignedIn: startSession, showView: views.show });
const attack = createAttackAlert();
const messages = createMessages({
  lanes,
  live,
  desk,
  supervisor,
  audit,
  attack,
  canAudit,
  synced: () => {
    session.synced = true;
  },
});
const stream = new LiveStream(streamUrl, {
  onMessage: (message) => {
    if (session.user) messages.handle(message);
  },
  onState: views.connection,
  onClose: handleStreamClose,
});

function canAudit() {
  return AUDIT_ROLES.has(session.user?.role);
}

// ---- session -------------------------------------------------------------------------

function startSession(me) {
  session.user = me;
  session.synced = false;
  session.leaving = false;
  setCsrfToken(me.csrf_token);
  messages.dropLaneChanges();
  lanes.clear();
  audit.clear();
  supervisor.clear();
  desk.start(me.username);
  views.header();
  views.show("lanes");
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
  messages.dropLaneChanges();
  lanes.clear();
  audit.clear();
  attack.show(null);
  views.header();
  login.show(message);
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
  views.languageButton();
  views.header();
  login.relabel();
  attack.relabel();
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
  views.languageButton();
  setUnauthorizedHandler(sessionLost);
  onLangChange(relabel);

  $("logout").addEventListener("click", logout);
  $("audit-more").addEventListener("click", () => audit.loadMore());
  setInterval(() => lanes.tick(), TICK_MS);
  setInterval(() => {
    desk.tick();
    if (views.current() === "agents") supervisor.tick();
  }, CLOCK_MS);
  // A closed tab must not hold a viewer (or the lane's intercom) until the centre's
  // ICE consent check notices; keepalive lets the DELETE outlive the page.
  window.addEventListener("pagehide", () => live.close({ keepalive: true, restoreFocus: false }));

  views.show("loading");
  api.me().then(startSession, (error) => login.show(error.status === 401 ? null : { error }));
}

boot();