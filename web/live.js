// The lane live view: the lane's camera, how fresh that picture is, and the intercom
// with the lane (push-to-talk). The connection itself is watch.js and viewer.js; the
// measuring is meter.js; this module is what the agent sees and presses.
//
// Whatever the view opened it releases (DELETE of the viewer, pc.close(), the
// microphone) when it closes, switches lane, or the page goes away.

import { api, snapshotUrl } from "./api.js";
import { errorText, t } from "./i18n.js";
import { Freshness, LevelMeter, pickStats } from "./meter.js";
import { Microphone } from "./microphone.js";
import { LiveError } from "./viewer.js";
import { Watch } from "./watch.js";

export const CAMERA_FAULT = "camera_unavailable";

// Often enough that frames stopping shows within about STALE_MS of the last one.
const STATS_MS = 500;
const METER_MS = 100;

const $ = (id) => document.getElementById(id);

/** The lane's camera fault, if it has one: from `faults` (every active fault) when the
 * centre sends it, else from `fault` (the latest only). */
function cameraFault(lane) {
  const faults = Array.isArray(lane?.faults) ? lane.faults : [lane?.fault];
  return faults.find((fault) => fault?.code === CAMERA_FAULT) ?? null;
}

function setData(node, key, value) {
  if (value === null || value === undefined) delete node.dataset[key];
  else node.dataset[key] = String(value);
}

export class LiveView {
  /**
   * @param {{getLane: (id: string) => object|null, canListen: () => boolean,
   *          onShown?: (laneId: string|null) => void, onOpen: (laneId: string) => void,
   *          onDisplay: (laneId: string) => void}} options
   *   onOpen and onDisplay are the board's gate and display commands, offered here too
   *   since beside the picture the board may be scrolled away from the lane's row.
   */
  constructor({ getLane, canListen, onShown = () => {}, onOpen, onDisplay }) {
    this.getLane = getLane;
    this.canListen = canListen;
    this.onShown = onShown;
    this.onOpen = onOpen;
    this.onDisplay = onDisplay;
    this.root = $("live");
    this.video = $("live-video");
    this.audio = $("live-audio");
    this.agentAudio = $("live-agent-audio"); // listening in: the agent's voice
    this.b = {
      close: $("live-close"),
      intercomStart: $("intercom-start"),
      intercomEnd: $("intercom-end"),
      listen: $("listen-toggle"),
      mute: $("live-mute"),
      hold: $("talk-hold"),
      latch: $("talk-latch"),
      open: $("live-open"),
      display: $("live-display"),
    };
    this.laneId = null;
    this.watch = null; // the Watch of the open lane
    this.shownConn = null; // the Viewer whose frames the freshness counts
    this.generation = 0; // bumped on close, so a lane switch drops late answers
    this.iceServers = [];
    this.mic = new Microphone({ onEnded: () => this.fail(new LiveError("microphone_unavailable", "ended")) });
    this.problem = null; // {error}: a microphone failure (offer failures are the Watch's)
    this.held = false;
    this.latched = false;
    this.muted = false;
    this.statsTimer = null;
    this.meterTimer = null;
    this.audioContext = null;
    this.opener = null;
    this.freshness = new Freshness();
    this.fresh = this.freshness.indicator(0);
    const context = () => this.context();
    this.meterOut = new LevelMeter($("meter-out"), context);
    this.meterIn = new LevelMeter($("meter-in"), context);
    this.wire();
  }

  get laneOnline() {
    return this.getLane(this.laneId)?.online === true;
  }

  /** The current RTCPeerConnection (for getStats in tests), or null. */
  get pc() {
    return this.watch?.conn?.pc ?? null;
  }

  /** The centre's id of the current viewer, or null. */
  get viewer() {
    return this.watch?.conn?.id ?? null;
  }

  get mode() {
    return this.watch?.conn?.mode ?? null;
  }

  wire() {
    const { b } = this;
    b.close.addEventListener("click", () => this.close());
    b.open.addEventListener("click", () => this.onOpen(this.laneId));
    b.display.addEventListener("click", () => this.onDisplay(this.laneId));
    b.intercomStart.addEventListener("click", () => this.switchTo(true, this.watch?.listening));
    b.intercomEnd.addEventListener("click", () => this.switchTo(false, this.watch?.listening));
    b.listen.addEventListener("click", () => this.switchTo(false, !this.watch?.listening));
    b.mute.addEventListener("click", () => {
      this.muted = !this.muted;
      this.audio.muted = this.agentAudio.muted = this.muted;
      this.render();
    });
    b.latch.addEventListener("click", () => this.toggleLatch());
    // Push-to-talk: the microphone is live only while the pointer or Space is down.
    const hold = b.hold;
    hold.addEventListener("pointerdown", (event) => {
      if (event.button !== 0 || hold.disabled) return;
      hold.setPointerCapture(event.pointerId);
      this.hold(true);
    });
    for (const type of ["pointerup", "pointercancel", "lostpointercapture", "blur"]) {
      hold.addEventListener(type, () => this.hold(false));
    }
    hold.addEventListener("contextmenu", (event) => event.preventDefault()); // long press on touch
    // Space talks while the talk button or the view itself (focused when it opens) has
    // the focus; on any other control Space keeps its usual meaning.
    const spaceTalks = (event) =>
      event.code === "Space" && (event.target === hold || event.target === this.root) && !hold.disabled;
    this.root.addEventListener("keydown", (event) => {
      if (!spaceTalks(event)) return;
      event.preventDefault();
      if (!event.repeat) this.hold(true);
    });
    this.root.addEventListener("keyup", (event) => {
      if (event.code !== "Space" || !this.held) return;
      event.preventDefault();
      this.hold(false);
    });
    // A key or button released in another window never reaches this one.
    window.addEventListener("blur", () => this.hold(false));
  }

  // ---- opening and closing ------------------------------------------------------------

  /**
   * Open the view of `laneId`. With `intercom` it starts on the intercom (the lane's
   * call was answered: its intercom is held for this agent), and with `talk` latched
   * talking, as a phone call is once answered. With `listen` (a supervisor listening in
   * on a call) it carries the lane's sound, and no microphone.
   */
  async show(laneId, { intercom = false, talk = false, listen = false } = {}) {
    if (this.laneId === laneId) {
      this.root.focus();
      if (intercom && !this.watch?.intercom) {
        await this.switchTo(true, false);
        if (talk && this.watch?.intercom) this.toggleLatch(true);
      } else if (listen && !this.watch?.intercom && !this.watch?.listening) {
        await this.switchTo(false, true);
      }
      return;
    }
    const opener = document.activeElement;
    if (this.laneId) this.close({ restoreFocus: false }); // one lane at a time
    this.opener = opener;
    this.laneId = laneId;
    this.problem = null;
    this.held = false;
    this.latched = intercom && talk;
    this.muted = this.audio.muted = this.agentAudio.muted = false;
    this.freshness.reset();
    this.fresh = this.freshness.indicator(performance.now());
    this.setPoster(this.getLane(laneId));
    this.root.hidden = false;
    this.onShown(laneId);
    this.statsTimer = setInterval(() => this.sample(), STATS_MS);
    this.meterTimer = setInterval(() => {
      this.meterOut.read();
      this.meterIn.read();
    }, METER_MS);
    this.render();
    this.root.focus();
    if (listen) this.context(); // inside the click that asked, so its meter may run

    const generation = this.generation;
    try {
      const media = await api.media();
      if (Array.isArray(media?.ice_servers)) this.iceServers = media.ice_servers;
    } catch {
      // No answer: keep the last list (on a LAN it is empty anyway).
    }
    if (this.generation !== generation) return;
    if (intercom) intercom = await this.openMic(generation);
    if (this.generation !== generation) return;
    this.watch = new Watch(laneId, {
      iceServers: this.iceServers,
      online: this.laneOnline,
      microphone: () => this.mic.track,
      onChange: () => this.changed(),
      onIntercomLost: () => this.stopMic(),
    });
    this.watch.start({ intercom, listening: listen && !intercom });
  }

  /** The microphone for an intercom the view starts on; false (watching only, the
   * failure shown) when it cannot be had. */
  async openMic(generation) {
    this.context();
    try {
      await this.mic.start();
    } catch (error) {
      if (this.generation === generation) this.fail(error);
      return false;
    }
    if (this.laneId === null) {
      this.stopMic(); // closed while the browser asked
      return false;
    }
    this.meterOutput();
    return true;
  }

  /** Release everything: the viewer at the centre, the peer connection, the microphone. */
  close({ keepalive = false, restoreFocus = true } = {}) {
    if (!this.laneId) return;
    this.generation += 1;
    clearInterval(this.statsTimer);
    clearInterval(this.meterTimer);
    this.statsTimer = this.meterTimer = null;
    const watch = this.watch;
    this.watch = null;
    watch?.close({ keepalive });
    this.shownConn = null;
    this.stopMic();
    this.showTracks();
    this.video.removeAttribute("poster");
    this.audioContext?.close().catch(() => {});
    this.audioContext = null;
    this.laneId = null;
    this.root.hidden = true;
    this.root.removeAttribute("data-lane");
    this.root.dataset.state = "closed";
    this.onShown(null);
    const opener = this.opener;
    this.opener = null;
    if (restoreFocus && opener?.isConnected && !opener.disabled) opener.focus();
  }

  /** The lane's status changed (live stream); null when the lane is gone. */
  laneChanged(lane) {
    if (!this.laneId) return;
    if (!lane) {
      this.close();
      return;
    }
    if (lane.id !== this.laneId) return;
    this.setPoster(lane);
    this.watch?.setOnline(lane.online === true);
    this.changed(); // an offline lane's connection is gone: so is its picture
    this.render();
  }

  /** Something the Watch carries changed: its connection, tracks or state. */
  changed() {
    if (!this.watch) return;
    const conn = this.watch.conn;
    if (conn !== this.shownConn) {
      this.shownConn = conn;
      this.freshness.reset();
      this.fresh = this.freshness.indicator(performance.now());
    }
    this.showTracks();
    this.setTalking();
  }

  showTracks() {
    const conn = this.watch?.conn;
    const video = conn?.video ?? null;
    if (video !== (this.video.srcObject?.getVideoTracks()[0] ?? null)) {
      this.video.srcObject = video ? new MediaStream([video]) : null;
      if (video) this.video.play().catch(() => {});
    }
    // Played through elements, not only metered: Chromium counts received audio (and
    // plays it) only when something renders it (docs/media.md). A listener's two
    // tracks play through two, as an element plays one audio track of a stream.
    if (this.play(this.audio, conn?.audio ?? null)) this.meterIn.attach(conn?.audio ?? null);
    this.play(this.agentAudio, conn?.agent ?? null);
    this.meterOutput();
  }

  /** Play `track` (or nothing) through `element`; whether that changed. */
  play(element, track) {
    if (track === (element.srcObject?.getAudioTracks()[0] ?? null)) return false;
    element.srcObject = track ? new MediaStream([track]) : null;
    element.muted = this.muted;
    if (track) element.play().catch(() => {});
    return true;
  }

  /** The first meter shows this side's microphone, or, listening in, the agent's voice. */
  meterOutput() {
    const track = this.watch?.conn?.agent ?? this.mic.track;
    if (track !== this.meterOut.track) this.meterOut.attach(track);
    const label = $("meter-out-label");
    label.dataset.i18n = this.mode === "listen" ? "meter.agent" : "meter.out";
    label.textContent = t(label.dataset.i18n);
  }

  // ---- intercom ---------------------------------------------------------------------

  async switchTo(intercom, listening = false) {
    const watch = this.watch;
    if (!watch || watch.switching) return;
    this.problem = null;
    this.context(); // created inside the click, so the browser lets it play
    if (intercom) {
      try {
        await this.mic.start();
      } catch (error) {
        if (this.watch === watch) this.fail(error);
        return;
      }
      if (this.watch !== watch) return; // closed while the browser asked
      this.meterOutput();
    } else {
      this.held = this.latched = false;
    }
    await watch.switchTo({ intercom, listening: Boolean(listening) });
    if (this.watch === watch && !watch.intercom) this.stopMic();
    this.setTalking();
  }

  stopMic() {
    this.mic.stop();
    this.held = this.latched = false;
    this.meterOutput();
  }

  /** Latch talking on or off (or the other way round): the mute key. */
  toggleLatch(on = !this.latched) {
    this.latched = on;
    this.setTalking();
  }

  hold(down) {
    if (this.held === down) return;
    this.held = down;
    this.setTalking();
  }

  setTalking() {
    const on = this.mode === "intercom" && (this.held || this.latched);
    this.mic.talking = on;
    this.root.dataset.talking = String(on);
    this.render();
  }

  fail(error) {
    this.problem = { error };
    this.render();
  }

  context() {
    if (!this.audioContext) {
      try {
        this.audioContext = new AudioContext();
      } catch {
        return null; // meters stay at zero; the intercom itself does not need it
      }
    }
    if (this.audioContext.state === "suspended") this.audioContext.resume().catch(() => {});
    return this.audioContext;
  }

  // ---- what is on screen ------------------------------------------------------------

  async sample() {
    const conn = this.watch?.conn ?? null;
    let video = null;
    if (conn) {
      try {
        video = pickStats(await conn.pc.getStats()).video;
      } catch {
        return; // closed meanwhile
      }
      if (conn !== this.watch?.conn) return;
    }
    this.fresh = this.freshness.update(video, performance.now());
    this.renderFresh();
  }

  setPoster(lane) {
    // The last snapshot stands in until the first frame, so the agent is not looking
    // at a black box while the connection sets up.
    const at = lane?.last_vehicle?.at;
    if (at) this.video.poster = snapshotUrl(lane.id, at);
    else this.video.removeAttribute("poster");
  }

  /** The view's state: the lane's own first, then the connection's. */
  state(lane) {
    if (!lane || lane.online !== true) return "offline";
    if (cameraFault(lane)) return "camera_down";
    return this.watch?.state ?? "connecting";
  }

  message(state, lane) {
    if (state === "offline") return { code: "offline", text: t("live.msg.offline") };
    if (state === "camera_down") {
      const { detail } = cameraFault(lane);
      return { code: "camera_down", text: `${t("live.msg.camera_down")}${detail ? `（${detail}）` : ""}` };
    }
    const problem = this.watch?.problem ?? this.problem;
    if (problem) return { code: problem.error.code, text: errorText(problem.error) };
    if (state === "disconnected" || state === "failed") {
      return { code: "reconnecting", text: t("live.msg.reconnecting") };
    }
    return null;
  }

  render() {
    if (!this.laneId) return;
    const lane = this.getLane(this.laneId);
    const state = this.state(lane);
    const { root, b, watch } = this;
    root.setAttribute("data-lane", this.laneId);
    root.dataset.state = state;
    root.dataset.mode = this.mode ?? "none";
    $("live-lane").textContent = lane ? `${lane.name || lane.id} (${lane.id})` : this.laneId;

    const stateNode = $("live-state");
    stateNode.dataset.state = state;
    stateNode.textContent = t(`live.state.${state}`);

    const message = this.message(state, lane);
    const messageNode = $("live-message");
    messageNode.hidden = !message;
    messageNode.textContent = message?.text ?? "";
    setData(messageNode, "message", message?.code);

    const holder = watch?.busyHolder ?? null;
    const busy = $("intercom-busy");
    busy.hidden = holder === null;
    busy.textContent = holder === null ? "" : t("intercom.busy", { holder: holder || "?" });
    setData(busy, "holder", holder);

    const intercom = watch?.intercom === true;
    const switching = watch?.switching === true;
    const ready = Boolean(watch?.conn) && !switching && lane?.online === true;
    b.intercomStart.hidden = intercom;
    b.intercomStart.disabled = !ready;
    b.intercomStart.setAttribute("aria-busy", String(switching && !intercom));
    b.intercomEnd.hidden = !intercom;
    b.intercomEnd.disabled = switching;
    b.listen.hidden = !this.canListen();
    b.listen.disabled = !ready || intercom;
    b.listen.setAttribute("aria-pressed", String(watch?.listening === true));
    b.mute.disabled = this.mode !== "intercom" && this.mode !== "listen";
    b.mute.setAttribute("aria-pressed", String(this.muted));
    b.hold.disabled = b.latch.disabled = this.mode !== "intercom";
    b.latch.setAttribute("aria-pressed", String(this.latched));
    b.hold.classList.toggle("talk--active", this.held && this.mode === "intercom");
    b.open.disabled = b.display.disabled = lane?.online !== true;
    this.renderFresh();
  }

  renderFresh() {
    if (!this.laneId) return;
    const fresh = this.fresh;
    const node = $("live-fresh");
    // An offline lane sends nothing: that, not the age of its last frame, is the news.
    const offline = this.getLane(this.laneId)?.online !== true;
    node.dataset.state = offline ? "offline" : fresh.state;
    setData(node, "fps", fresh.fps);
    setData(node, "sinceMs", fresh.sinceMs === null ? null : Math.round(fresh.sinceMs));
    setData(node, "bufferMs", fresh.bufferMs);
    this.video.setAttribute("data-frames", String(fresh.frames));
    if (offline) {
      node.textContent = t("live.fresh.offline");
    } else if (fresh.state === "live") {
      node.textContent =
        fresh.fps === null
          ? t("live.fresh.started")
          : t("live.fresh.live", { fps: fresh.fps, buffer: fresh.bufferMs ?? "–" });
    } else if (fresh.state === "stale") {
      node.textContent = t("live.fresh.stale", { s: Math.floor(fresh.sinceMs / 1000) });
    } else {
      node.textContent = t("live.fresh.waiting");
    }
  }

  relabel() {
    this.render();
  }
}
