// The console ringing: a tone from Web Audio, the tab's title and icon flashing, and a
// system notification when the browser permits one.
//
// The tone is one oscillator whose pattern is written ahead on the audio clock, not
// played by timers: a tab in the background has its timers slowed to once a second or
// less, its audio clock not at all, and Chromium lets an AudioContext go on playing
// there. Browsers start an AudioContext only after a user gesture on the page, so the
// console makes one at the first click or key press (the login click counts) and keeps
// it; until then #sound-hint asks for a click.
//
// For tests and for an engineer at the console: window.seatRing is this ringer;
// .started counts tones started, .sounding says one plays, .context is the AudioContext.

const VOLUME = 0.25;
const PERIOD_S = 1.6; // one ring: two beeps, then a pause
const BEEPS = [
  [0, 880],
  [0.4, 660],
];
const BEEP_S = 0.3;
const AHEAD_S = 60; // written ahead; a ring that outlasts it starts a new pattern
const FLASH_MS = 800;

function icon(fill, text) {
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="6" fill="${fill}"/>` +
    `<text x="16" y="23" font-size="20" text-anchor="middle" fill="#fff" font-family="sans-serif">${text}</text></svg>`;
  return `data:image/svg+xml,${encodeURIComponent(svg)}`;
}

const ICON_IDLE = icon("#0b57d0", "坐");
const ICON_RING = icon("#d93025", "☎");

export class Ringer {
  /**
   * @param {{title: () => string, onLockChange?: (locked: boolean) => void}} options
   *   title gives the page's own title, to flash against; onLockChange tells whether
   *   sound waits for a user gesture.
   */
  constructor({ title, onLockChange = () => {} }) {
    this.title = title;
    this.onLockChange = onLockChange;
    this.context = null;
    this.tone = null; // {osc, gain}
    this.started = 0;
    this.notified = 0;
    this.ringing = null; // {title, body, tag}
    this.flashTimer = null;
    this.flashOn = false;
    this.notification = null;
    this.askedToNotify = false;
    this.favicon = document.getElementById("favicon");
    this.favicon.href = ICON_IDLE;
    const unlock = () => this.unlock();
    document.addEventListener("pointerdown", unlock, { capture: true });
    document.addEventListener("keydown", unlock, { capture: true });
  }

  get sounding() {
    return this.tone !== null;
  }

  get locked() {
    return this.context?.state !== "running";
  }

  /** Called on every user gesture: make or resume the AudioContext, and at the first
   * ask whether notifications may be shown (once a page: a dismissed question stays
   * "default", and asking at every click would nag). */
  unlock() {
    const context = this.audio();
    if (context?.state === "suspended") context.resume().catch(() => {});
    if (this.askedToNotify || typeof Notification === "undefined") return;
    this.askedToNotify = true;
    if (Notification.permission === "default") Notification.requestPermission().catch(() => {});
  }

  audio() {
    if (!this.context) {
      try {
        this.context = new AudioContext();
      } catch {
        return null; // no Web Audio: the title, icon and notification still ring
      }
      this.context.addEventListener("statechange", () => {
        this.onLockChange(this.locked);
        if (!this.locked && this.ringing && !this.tone) this.sound();
      });
      this.onLockChange(this.locked);
    }
    return this.context;
  }

  /** Ring for one call: `title` and `body` describe it (title bar and notification). */
  start({ title, body, tag }) {
    const same = this.ringing?.tag === tag;
    this.ringing = { title, body, tag };
    if (same) return;
    this.sound();
    this.flash();
    this.notify();
  }

  stop() {
    this.ringing = null;
    this.silence();
    clearInterval(this.flashTimer);
    this.flashTimer = null;
    this.flashOn = false;
    document.title = this.title();
    this.favicon.href = ICON_IDLE;
    this.notification?.close();
    this.notification = null;
  }

  /** The page's title changed (a language switch): keep flashing against the new one. */
  retitle() {
    if (!this.flashOn) document.title = this.title();
  }

  sound() {
    this.silence();
    const context = this.audio();
    if (!context) return;
    if (context.state === "suspended") context.resume().catch(() => {});
    const osc = context.createOscillator();
    const gain = context.createGain();
    osc.type = "sine";
    gain.gain.value = 0;
    osc.connect(gain).connect(context.destination);
    const t0 = context.currentTime + 0.05;
    const cycles = Math.ceil(AHEAD_S / PERIOD_S);
    for (let i = 0; i < cycles; i += 1) {
      for (const [offset, frequency] of BEEPS) {
        const at = t0 + i * PERIOD_S + offset;
        osc.frequency.setValueAtTime(frequency, at);
        gain.gain.setValueAtTime(0, at);
        gain.gain.linearRampToValueAtTime(VOLUME, at + 0.02);
        gain.gain.setValueAtTime(VOLUME, at + BEEP_S - 0.03);
        gain.gain.linearRampToValueAtTime(0, at + BEEP_S);
      }
    }
    osc.start(t0);
    osc.stop(t0 + cycles * PERIOD_S);
    const tone = { osc, gain };
    osc.addEventListener("ended", () => {
      if (this.tone !== tone) return;
      this.tone = null;
      if (this.ringing) this.sound();
    });
    this.tone = tone;
    this.started += 1;
  }

  silence() {
    const tone = this.tone;
    this.tone = null;
    if (!tone) return;
    try {
      tone.osc.stop();
    } catch {
      // already stopped
    }
    tone.osc.disconnect();
    tone.gain.disconnect();
  }

  flash() {
    clearInterval(this.flashTimer);
    const step = () => {
      this.flashOn = !this.flashOn;
      document.title = this.flashOn ? this.ringing.title : this.title();
      this.favicon.href = this.flashOn ? ICON_RING : ICON_IDLE;
    };
    step();
    this.flashTimer = setInterval(step, FLASH_MS);
  }

  /** A system notification when the agent may not be looking at this tab. */
  notify() {
    if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
    if (document.visibilityState === "visible" && document.hasFocus()) return;
    this.notification?.close();
    try {
      const notification = new Notification(this.ringing.title, {
        body: this.ringing.body,
        tag: this.ringing.tag,
        requireInteraction: true,
      });
      notification.addEventListener("click", () => {
        window.focus();
        notification.close();
      });
      this.notification = notification;
      this.notified += 1;
    } catch {
      // Some platforms allow notifications only from a service worker: the tone and
      // the title still ring.
    }
  }
}
