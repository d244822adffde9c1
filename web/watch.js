// What the live view carries for one lane, kept up: one Viewer at a time, replaced after
// a capped, jittered backoff when it fails or when the lane comes back online, and
// swapped without a gap in the picture when the agent starts or ends the intercom or
// listening in (the new connection is answered before the old one is let go, so a busy
// intercom costs the agent nothing).

import { transient, Viewer } from "./viewer.js";

// A connection disconnected or failed this long is replaced; ICE often recovers from a
// shorter blip on its own, and each new offer costs the centre an audit entry.
const GRACE_MS = 3000;
const RETRY_FIRST_MS = 1000;
const RETRY_MAX_MS = 15_000;

export class Watch {
  /**
   * @param {string} laneId
   * @param {{iceServers: object[], online: boolean,
   *          microphone: () => MediaStreamTrack|null, onChange: () => void,
   *          onIntercomLost: () => void}} options
   *   onChange runs whenever what the view shows may have changed; onIntercomLost when
   *   a reconnect found the intercom taken and went on without it.
   */
  constructor(laneId, { iceServers, online, microphone, onChange, onIntercomLost }) {
    this.laneId = laneId;
    this.iceServers = iceServers;
    this.online = online;
    this.microphone = microphone;
    this.onChange = onChange;
    this.onIntercomLost = onIntercomLost;
    this.conn = null; // the current Viewer
    this.intercom = false; // what to carry after the next (re)connect
    this.listening = false;
    this.switching = false;
    this.problem = null; // {error}: the last offer's failure, until one succeeds
    this.busyHolder = null; // who has the intercom, after a refused switch to it
    this.attempt = 0;
    this.retryTimer = null;
    this.graceTimer = null;
    this.generation = 0; // bumped whenever an offer in flight must be dropped
    this.closed = false;
  }

  /** The first offer: video, and the intercom or listening in when `want` says so
   * (kept for the lane's return if it is offline now). */
  start(want = { intercom: false, listening: false }) {
    this.intercom = want.intercom;
    this.listening = want.listening;
    if (this.online) this.connect(want);
  }

  /** RTCPeerConnection.connectionState, or what happens with no connection. */
  get state() {
    if (this.conn) return this.conn.state;
    if (this.problem && this.retryTimer === null) return "error";
    return this.retryTimer === null ? "connecting" : "disconnected";
  }

  /** Carry `want` ({intercom, listening}) from now on; resolves to whether it worked. */
  async switchTo(want) {
    if (this.switching || this.closed) return false;
    this.switching = true;
    this.busyHolder = null;
    this.problem = null;
    this.onChange();
    try {
      return await this.connect(want, { keep: true });
    } finally {
      this.switching = false;
      this.onChange();
    }
  }

  /** The lane went offline or came back (the console's live stream says so). */
  setOnline(online) {
    const was = this.online;
    this.online = online;
    if (!online && was) {
      // Nothing to carry while the lane is away; holding its intercom would keep the
      // talk floor from everyone else.
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
      this.drop();
    } else if (online && !was) {
      // The lane's stream starts anew: a fresh offer rather than a wait on the old one.
      this.attempt = 0;
      this.problem = null;
      this.connect({ intercom: this.intercom, listening: this.listening });
    }
  }

  close({ keepalive = false } = {}) {
    this.closed = true;
    this.generation += 1;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.drop({ keepalive });
  }

  /** With `keep` the current connection stays until the new one is answered. */
  async connect(want, { keep = false } = {}) {
    if (this.closed) return false;
    const generation = ++this.generation;
    clearTimeout(this.retryTimer);
    this.retryTimer = null;
    if (!keep) this.drop();
    this.onChange();
    const mode = want.intercom ? "intercom" : want.listening ? "listen" : "watch";
    const conn = new Viewer(this.laneId, mode, {
      iceServers: this.iceServers,
      onChange: (viewer) => this.changed(viewer),
    });
    try {
      await conn.open(mode === "intercom" ? this.microphone() : null);
    } catch (error) {
      if (generation === this.generation) this.failed(error, keep);
      return false;
    }
    if (generation !== this.generation) {
      conn.release();
      return false;
    }
    const previous = this.conn;
    this.conn = conn;
    this.intercom = want.intercom;
    this.listening = want.listening;
    this.problem = null;
    previous?.release();
    clearTimeout(this.graceTimer);
    this.graceTimer = null;
    this.changed(conn);
    return true;
  }

  failed(error, keep) {
    if (error.code === "intercom_busy") {
      this.busyHolder = typeof error.body?.holder === "string" ? error.body.holder : "";
      if (!keep || !this.conn) {
        // A reconnect found the floor taken meanwhile: go on watching without it.
        this.intercom = false;
        this.onIntercomLost();
        this.connect({ intercom: false, listening: this.listening });
      }
      this.onChange();
      return;
    }
    this.problem = { error };
    // A failed switch leaves the view as it was; a failed (re)connect tries again.
    if (!(keep && this.conn) && transient(error)) this.retry();
    this.onChange();
  }

  retry() {
    clearTimeout(this.retryTimer);
    const delay = Math.min(RETRY_MAX_MS, RETRY_FIRST_MS * 2 ** this.attempt);
    this.attempt += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      // An offline lane is offered to again when the stream says it is back.
      if (this.online) this.connect({ intercom: this.intercom, listening: this.listening });
      else this.onChange();
    }, delay * (0.5 + Math.random() / 2));
  }

  changed(conn) {
    if (conn !== this.conn) return;
    const state = conn.state;
    if (state === "connected") {
      this.attempt = 0;
      clearTimeout(this.graceTimer);
      this.graceTimer = null;
    } else if ((state === "disconnected" || state === "failed") && this.graceTimer === null) {
      this.graceTimer = setTimeout(() => {
        this.graceTimer = null;
        if (this.conn !== conn || conn.state === "connected") return;
        this.drop();
        this.retry();
        this.onChange();
      }, GRACE_MS);
    }
    this.onChange();
  }

  drop({ keepalive = false } = {}) {
    const conn = this.conn;
    this.conn = null;
    clearTimeout(this.graceTimer);
    this.graceTimer = null;
    conn?.release({ keepalive });
  }
}
