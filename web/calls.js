// The calls this console knows, as the live stream tells them (README, "Calls"): the open
// calls the agent may see, their queue in the order it will be answered, the agent
// themself and the ring, if any. No DOM here: the panels read it.
//
// Clocks run from the centre's own figures (wait_s, handle_s, in_state_s) plus the time
// since they arrived, so a seat computer whose clock is off still shows the right wait.

import { label } from "./i18n.js";

// The service targets of a call's handle time (README: `warned` past 240 s, `breached`
// past 300 s); the centre's flags say the same once its timer has run.
export const WARN_S = 240;
export const BREACH_S = 300;
export const SOURCES = ["lane", "phone", "hotline"];

const PENDING = new Set(["waiting", "ringing"]);
const FINISHED = new Set(["ended", "abandoned"]);

export function isPending(call) {
  return PENDING.has(call?.state);
}

/** "人民路 出口 · 出口" style line for a call's lane, from the board's lane when known. */
export function laneLine(call, lane) {
  const name = lane?.name || call.lane_id;
  return [name, label("dir.", call.direction)].filter(Boolean).join(" · ");
}

/** What the call's handle time is worth: "ok", "warned" (4 min) or "breached" (5 min). */
export function clockLevel(call, handleS) {
  if (call.breached || handleS >= BREACH_S) return "breached";
  if (call.warned || handleS >= WARN_S) return "warned";
  return "ok";
}

export class CallBook {
  constructor() {
    this.reset(null);
  }

  /** Forget everything; `username` is who this console is logged in as. */
  reset(username) {
    this.username = username;
    this.entries = new Map(); // call id -> {call, at}: `at` = performance.now() on arrival
    this.order = []; // the agent's queue, first to be answered first
    this.me = null; // {agent, at}
    this.ring = null; // {callId, until, at, ringS}
  }

  /** The tab's greeting: every open call, in the order they will be answered. */
  setAll(calls) {
    this.entries.clear();
    for (const call of calls) this.put(call);
    this.order = calls.filter(isPending).map((call) => call.id);
  }

  /** One call as it is now; returns what it was before (null if unknown). A finished
   * call leaves the book; one answered by someone else leaves the queue (pending())
   * and stays only to say who handles what (the supervisors' floor). */
  put(call) {
    if (!call || typeof call.id !== "string") return null;
    const before = this.entries.get(call.id)?.call ?? null;
    if (FINISHED.has(call.state)) {
      this.entries.delete(call.id);
      this.order = this.order.filter((id) => id !== call.id);
    } else {
      this.entries.set(call.id, { call, at: performance.now() });
    }
    return before;
  }

  remove(callId) {
    this.entries.delete(callId);
    this.order = this.order.filter((id) => id !== callId);
    if (this.ring?.callId === callId) this.ring = null;
  }

  setOrder(ids) {
    this.order = Array.isArray(ids) ? ids.filter((id) => typeof id === "string") : [];
  }

  setMe(agent) {
    this.me = { agent, at: performance.now() };
  }

  get(callId) {
    return this.entries.get(callId)?.call ?? null;
  }

  /** Waiting and rung calls: the agent's queue order first, then the rest they see. */
  pending() {
    const rank = new Map(this.order.map((id, i) => [id, i]));
    const calls = [...this.entries.values()].map((e) => e.call).filter(isPending);
    const key = (call) => [rank.get(call.id) ?? Infinity, call.position ?? Infinity, call.queued_at ?? ""];
    return calls.sort((a, b) => {
      const [ra, pa, qa] = key(a);
      const [rb, pb, qb] = key(b);
      return ra - rb || pa - pb || (qa < qb ? -1 : qa > qb ? 1 : 0);
    });
  }

  /** The first call of the agent's queue they may take now, or null. */
  next() {
    return this.pending().find((call) => call.may_accept === true) ?? null;
  }

  /** The call this agent holds, or null. */
  mine() {
    for (const { call } of this.entries.values()) {
      if (call.state === "active" && call.agent === this.username) return call;
    }
    return null;
  }

  /** A running clock of `callId`: the centre's `field` (seconds) plus the time since. */
  seconds(callId, field) {
    const entry = this.entries.get(callId);
    const base = entry?.call[field];
    if (typeof base !== "number") return null;
    return base + (performance.now() - entry.at) / 1000;
  }

  /** Seconds the agent has been in their state. */
  inState() {
    if (!this.me) return 0;
    return (this.me.agent.in_state_s ?? 0) + (performance.now() - this.me.at) / 1000;
  }

  /** Seconds of wrap-up left, or null when not wrapping up. Both ends are the centre's
   * times, so only the elapsed part is this computer's. */
  wrapLeft() {
    const agent = this.me?.agent;
    if (agent?.state !== "wrap_up" || !agent.wrap_until || !agent.since) return null;
    const length = (Date.parse(agent.wrap_until) - Date.parse(agent.since)) / 1000;
    return Number.isFinite(length) ? Math.max(0, length - this.inState()) : null;
  }

  /** The ring for `callId` started now, lasting until the centre's `until`. The
   * centre's time at sending is the call's queued_at plus its wait_s. */
  setRing(callId, until, call) {
    let left = null;
    if (call?.queued_at && typeof call.wait_s === "number") {
      const sentAt = Date.parse(call.queued_at) + call.wait_s * 1000;
      left = (Date.parse(until) - sentAt) / 1000;
    }
    this.ring = { callId, at: performance.now(), left: Number.isFinite(left) ? left : null };
    if (call) this.put(call);
  }

  /** Seconds before the ring moves on, or null when unknown. */
  ringLeft() {
    if (this.ring?.left == null) return null;
    return Math.max(0, this.ring.left - (performance.now() - this.ring.at) / 1000);
  }

  clearRing(callId = null) {
    if (!this.ring || (callId !== null && this.ring.callId !== callId)) return false;
    this.ring = null;
    return true;
  }

  ringing() {
    return this.ring ? this.get(this.ring.callId) : null;
  }
}
