// The agent's microphone for the intercom. It is asked for once when the intercom
// starts and stopped when it ends, and its track is disabled (silence goes out) except
// while the agent holds push-to-talk or has latched it: an agent's room must never
// reach a car park unasked.

import { LiveError } from "./viewer.js";

export class Microphone {
  constructor({ onEnded = () => {} } = {}) {
    this.onEnded = onEnded; // the device went away (unplugged, permission revoked)
    this.stream = null;
  }

  get track() {
    return this.stream?.getAudioTracks()[0] ?? null;
  }

  get open() {
    return this.track?.readyState === "live";
  }

  /** Ask for the microphone if not already open; throws a LiveError when refused. */
  async start() {
    if (this.open) return;
    if (!navigator.mediaDevices?.getUserMedia) throw new LiveError("microphone_unavailable");
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      });
    } catch (error) {
      throw new LiveError("microphone_unavailable", String(error?.name ?? error));
    }
    const track = stream.getAudioTracks()[0];
    track.enabled = false;
    track.addEventListener("ended", () => {
      if (this.stream === stream) this.onEnded();
    });
    this.stop();
    this.stream = stream;
  }

  /** Whether what it hears goes out. */
  set talking(on) {
    const track = this.track;
    if (track) track.enabled = on;
  }

  stop() {
    for (const track of this.stream?.getTracks() ?? []) track.stop();
    this.stream = null;
  }
}
