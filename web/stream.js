// The live feed: one WebSocket to /api/stream that reconnects with capped, jittered
// exponential backoff, so a centre restart does not get hit by every seat at once.

export const CLOSE_UNAUTHORIZED = 4401;

const BASE_DELAY_MS = 1_000;
const MAX_DELAY_MS = 30_000;

export class LiveStream {
  /**
   * @param {() => string} url
   * @param {{onMessage?: Function, onState?: Function, onClose?: Function}} handlers
   *   onState(state) with state "connecting" | "open" | "reconnecting" | "idle";
   *   onClose({code, wasOpen}) before any reconnect is scheduled (it may call stop()).
   */
  constructor(url, { onMessage = () => {}, onState = () => {}, onClose = () => {} } = {}) {
    this.url = url;
    this.onMessage = onMessage;
    this.onState = onState;
    this.onClose = onClose;
    this.socket = null;
    this.timer = null;
    this.attempt = 0;
    this.running = false;
    this.reconnectNow = () => {
      if (this.running && this.timer !== null) {
        clearTimeout(this.timer);
        this.timer = null;
        this.connect();
      }
    };
  }

  start() {
    if (this.running) return;
    this.running = true;
    this.attempt = 0;
    // Coming back from a dropped network should not wait out the backoff.
    window.addEventListener("online", this.reconnectNow);
    this.connect();
  }

  stop() {
    this.running = false;
    window.removeEventListener("online", this.reconnectNow);
    clearTimeout(this.timer);
    this.timer = null;
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      socket.close(1000);
    }
    this.onState("idle");
  }

  connect() {
    this.onState(this.attempt === 0 ? "connecting" : "reconnecting");
    let wasOpen = false;
    const socket = new WebSocket(this.url());
    this.socket = socket;
    socket.onopen = () => {
      wasOpen = true;
      this.onState("open");
    };
    socket.onmessage = (event) => {
      // Only a working feed resets the backoff: a server that accepts and drops
      // at once must not be hammered.
      this.attempt = 0;
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return; // not ours to interpret; the server only sends JSON
      }
      if (message && typeof message.type === "string") this.onMessage(message);
    };
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.onClose({ code: event.code, wasOpen });
      if (!this.running) return;
      const delay = Math.min(MAX_DELAY_MS, BASE_DELAY_MS * 2 ** this.attempt);
      this.attempt += 1;
      this.onState("reconnecting");
      this.timer = setTimeout(() => {
        this.timer = null;
        this.connect();
      }, delay * (0.5 + Math.random() / 2));
    };
  }
}
