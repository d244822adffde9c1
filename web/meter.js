// What the live view measures: how fresh the picture is (from getStats) and how loud
// each direction of the intercom is (from an AnalyserNode over the track).
//
// Freshness comes from the receiver's own counters, not from the <video> element: a
// frozen picture looks exactly like a still car park, and only framesDecoded standing
// still tells them apart.

/** No new decoded frame for this long and the picture is called interrupted (15 fps lanes). */
export const STALE_MS = 1500;
// The frame rate shown is counted over this much of the recent past: long enough to be
// steady, short enough that a stop shows within the staleness limit.
const FPS_WINDOW_MS = 2000;
// The meter's scale: -60 dBFS (room noise) reads 0, full scale reads 1.
const FLOOR_DB = -60;

/** The reports the view reads out of one RTCStatsReport. */
export function pickStats(report) {
  const out = { video: null, audioIn: null, codecs: new Map() };
  for (const stat of report.values()) {
    if (stat.type === "inbound-rtp" && stat.kind === "video") out.video = stat;
    else if (stat.type === "inbound-rtp" && stat.kind === "audio") out.audioIn = stat;
    else if (stat.type === "codec") out.codecs.set(stat.id, stat);
  }
  return out;
}

/**
 * Folds successive inbound-rtp video reports of one peer connection into what the
 * agent needs: is the picture moving, at what rate, and how much the receiver buffers.
 * "live" means a new frame was decoded within STALE_MS: a picture whose frames stopped
 * is never called live, whatever rate it had a moment ago.
 */
export class Freshness {
  constructor() {
    this.reset();
  }

  /** A new peer connection: its counters start again from zero. */
  reset() {
    this.frames = 0;
    this.lastFrameAt = null; // performance.now() of the last sample that saw framesDecoded grow
    this.recent = []; // {at, frames} of the samples of the last FPS_WINDOW_MS
    this.previous = null; // {delay, emitted} of the last sample
    this.bufferMs = null;
  }

  /** Feed the video report (or null before any) at `now`; returns the indicator. */
  update(video, now) {
    const frames = video?.framesDecoded ?? 0;
    const delay = video?.jitterBufferDelay ?? 0;
    const emitted = video?.jitterBufferEmittedCount ?? 0;
    if (frames > this.frames) this.lastFrameAt = now;
    this.frames = frames;
    this.recent.push({ at: now, frames });
    while (this.recent.length > 2 && now - this.recent[1].at >= FPS_WINDOW_MS) this.recent.shift();
    const previous = this.previous;
    if (previous) {
      const count = emitted - previous.emitted;
      // The recent average, not the total since connecting: a buffer that grew after a
      // network blip must show now, not be diluted by a good first hour.
      if (count > 0) this.bufferMs = ((delay - previous.delay) / count) * 1000;
    }
    this.previous = { delay, emitted };
    return this.indicator(now);
  }

  /** Frames per second over the window, or null before there are two samples. */
  fps() {
    const first = this.recent[0];
    const last = this.recent.at(-1);
    if (!first || last.at <= first.at) return null;
    return Math.max(0, ((last.frames - first.frames) * 1000) / (last.at - first.at));
  }

  indicator(now) {
    const sinceMs = this.lastFrameAt === null ? null : Math.max(0, now - this.lastFrameAt);
    const rate = this.fps();
    const fps = rate === null ? null : Math.round(rate);
    let state = "waiting";
    if (sinceMs !== null) state = sinceMs <= STALE_MS && fps !== 0 ? "live" : "stale";
    return {
      state,
      frames: this.frames,
      fps,
      sinceMs,
      bufferMs: this.bufferMs === null ? null : Math.round(this.bufferMs),
    };
  }
}

/** RMS of float samples as a 0..1 meter reading on a dB scale. */
export function levelOf(samples) {
  let sum = 0;
  for (const x of samples) sum += x * x;
  const rms = Math.sqrt(sum / Math.max(1, samples.length));
  if (rms <= 0) return 0;
  const db = 20 * Math.log10(rms);
  return Math.min(1, Math.max(0, (db - FLOOR_DB) / -FLOOR_DB));
}

/**
 * A <meter> showing one audio track's level. An AnalyserNode reads the track itself,
 * so the lane's meter still moves while the agent has muted the lane (getStats'
 * audioLevel counts only audio that is played), and the agent's own meter stays at 0
 * while the microphone track is disabled (a disabled track is silence).
 */
export class LevelMeter {
  constructor(element, audioContext) {
    this.element = element;
    this.audioContext = audioContext; // () => AudioContext, created on first use
    this.source = null;
    this.analyser = null;
    this.buffer = null;
    this.track = null; // the track measured
    this.show(0);
  }

  attach(track) {
    this.detach();
    if (!track) return;
    const context = this.audioContext();
    if (!context) return;
    try {
      this.source = context.createMediaStreamSource(new MediaStream([track]));
      this.analyser = context.createAnalyser();
      this.analyser.fftSize = 2048;
      this.buffer = new Float32Array(this.analyser.fftSize);
      this.source.connect(this.analyser);
      this.track = track;
    } catch {
      this.detach(); // no meter is better than no intercom
    }
  }

  detach() {
    this.source?.disconnect();
    this.source = null;
    this.analyser = null;
    this.track = null;
    this.show(0);
  }

  read() {
    if (!this.analyser) return;
    this.analyser.getFloatTimeDomainData(this.buffer);
    this.show(levelOf(this.buffer));
  }

  show(level) {
    const rounded = Math.round(level * 100) / 100;
    this.element.value = rounded;
    this.element.setAttribute("data-level", String(rounded));
  }
}
