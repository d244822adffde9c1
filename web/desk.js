// The agent's call workspace: the stream's call messages kept in a CallBook, and what
// the agent does with them. A ring rings (ring.js) and shows its card; answering a lane
// call opens that lane's live view with the intercom already on (the centre reserved
// the lane's intercom for the agent at the answer); ending, transferring or losing the
// call lets the view and the intercom go. A call someone else took leaves the queue at
// once, with a short notice.

import { api } from "./api.js";
import { showSource } from "./badges.js";
import { CallBook, isPending, laneLine } from "./calls.js";
import { CallCard } from "./callcard.js";
import { clock } from "./format.js";
import { t } from "./i18n.js";
import { Notices } from "./notices.js";
import { mayReopen, paidLate } from "./payment.js";
import { OutcomeForm } from "./outcome.js";
import { HotlineDialog } from "./hotline.js";
import { createQueue } from "./queue.js";
import { Ringer } from "./ring.js";
import { AgentStatus } from "./status.js";
import { TransferDialog } from "./transfer.js";
import { CallWorkspace } from "./workspace.js";

const $ = (id) => document.getElementById(id);

export class Desk {
  /**
   * @param {{getLane: (id: string) => object|null, lanes: () => object[],
   *          live: import("./live.js").LiveView,
   *          openGate: (laneId: string) => void, display: (laneId: string) => void,
   *          agentNames: () => string[], title: () => string}} options
   */
  constructor({ getLane, lanes, live, openGate, display, agentNames, title }) {
    this.getLane = getLane;
    this.live = live;
    this.openGate = openGate;
    this.display = display;
    this.book = new CallBook();
    this.heldId = null; // the call this agent holds, as last rendered
    this.viewCall = null; // the call whose lane the live view was opened for
    this.accepting = null; // the call id of an accept in flight
    this.notices = new Notices($("desk-notice"));
    this.lateShown = new Set(); // the orders paid late whose news was shown
    this.ringer = new Ringer({ title, onLockChange: (locked) => this.showLock(locked) });
    this.status = new AgentStatus(this.book);
    this.queue = createQueue({ book: this.book, getLane, onPick: (id) => this.accept(id) });
    this.card = new CallCard({
      book: this.book,
      getLane,
      onOpen: () => this.openGateForCall(),
      onDisplay: () => this.heldLane() && this.display(this.heldLane()),
      onLive: () => this.startView(this.book.mine()),
      onTransfer: () => this.askTransfer(),
      onEnd: () => this.askEnd(),
    });
    this.workspace = new CallWorkspace();
    this.outcome = new OutcomeForm({ onEnded: (call) => this.observe(call) });
    this.transfer = new TransferDialog({ onTransferred: (call) => this.observe(call), agentNames });
    this.hotline = new HotlineDialog({ lanes, onPlaced: (call) => this.placed(call) });
    $("hotline-open").addEventListener("click", () => this.askHotline());
    $("ring-accept").addEventListener("click", () => this.answer());
    $("ring-decline").addEventListener("click", () => this.decline());
    this.showLock(this.ringer.locked);
  }

  // ---- the session --------------------------------------------------------------

  start(username) {
    this.book.reset(username);
    this.heldId = this.viewCall = this.accepting = null;
    this.render();
  }

  clear() {
    this.ringer.stop();
    this.outcome.clear();
    this.transfer.close();
    this.hotline.close();
    this.notices.clear();
    this.book.reset(null);
    this.lateShown.clear();
    this.heldId = this.viewCall = this.accepting = null;
    this.queue.clear();
    this.status.show(false);
    this.render();
  }

  // ---- the stream ---------------------------------------------------------------

  /** A call-queue message from the live stream. */
  handle(message) {
    switch (message.type) {
      case "calls":
        if (Array.isArray(message.calls)) this.greet(message.calls);
        break;
      case "call":
        if (message.call) this.observe(message.call);
        break;
      case "queue":
        this.book.setOrder(message.calls);
        break;
      case "ring":
        this.ring(message);
        break;
      case "ring_stopped":
        if (this.book.clearRing(message.call_id)) this.ringer.stop();
        if (["missed", "cancelled", "unrecorded"].includes(message.reason)) {
          this.notices.show(`ring.${message.reason}`);
        }
        break;
      case "agent":
        if (message.agent?.name === this.book.username) this.book.setMe(message.agent);
        break;
      case "alert":
        if (message.alert?.agent === this.book.username) this.notices.show(`alert.you.${message.alert.kind}`, {}, true);
        break;
      case "order":
        if (message.order) this.orderChanged(message.order);
        break;
      default:
        return;
    }
    this.render();
  }

  /** An order changed (README, "Payments"). Money for an order already expired or
   * replaced leaves the gate down, and an agent decides (open for it, or have it
   * refunded): the news stays up with a button that opens for that order, until an
   * open of it lifts the barrier. */
  orderChanged(order) {
    this.workspace.payment.orderChanged(order);
    const id = order.order_id;
    if (!paidLate(order)) return;
    if (!mayReopen(order)) {
      if (this.notices.showing("payment.late", "order", id)) this.notices.clear();
      return;
    }
    if (this.lateShown.has(id)) return;
    this.lateShown.add(id);
    const late = order.notifications.find((notice) => notice.effect === "late");
    const lane = this.getLane(order.lane)?.name ?? order.lane;
    const params = { lane, plate: order.plate, amount: (late.amount_fen / 100).toFixed(2), order: id };
    this.notices.show("payment.late", params, true, { key: "ws.open_late", run: () => this.openLate(id) });
  }

  async openLate(orderId) {
    try {
      await api.reopenPayment(orderId, t("ws.open_late.note"));
    } catch (error) {
      this.notices.error(error);
    }
  }

  /** The stream (re)opened after a gap: the order on show is read again. */
  resync() {
    this.workspace.payment.reread();
  }

  /** A (re)opened tab's calls: the one this agent holds gets its view back. */
  greet(calls) {
    const held = this.heldId ? this.book.get(this.heldId) : null;
    this.book.setAll(calls);
    this.book.clearRing();
    this.ringer.stop();
    const mine = this.book.mine();
    if (held && mine?.id !== held.id) this.left(held);
    this.heldId = mine?.id ?? null;
    if (mine && this.live.laneId !== mine.lane_id) this.startView(mine);
  }

  /** One call as it is now, from the stream or an answer of the API. */
  observe(call) {
    const me = this.book.username;
    const before = this.book.put(call);
    const mine = call.state === "active" && call.agent === me;
    if (mine) {
      this.heldId = call.id;
    } else if (this.heldId === call.id) {
      this.heldId = null;
      this.left(call);
    } else if (before && isPending(before) && call.state === "active") {
      this.notices.show("queue.taken", { lane: this.laneText(call), agent: call.agent ?? "" });
    }
    if (!isPending(call) && this.book.clearRing(call.id)) this.ringer.stop();
    this.render();
  }

  ring(message) {
    const call = message.call;
    if (!call || typeof message.call_id !== "string") return;
    this.book.setRing(message.call_id, message.until, call);
    this.ringer.start({
      title: t("ring.title_bar", { lane: this.laneText(call) }),
      body: [this.laneText(call), call.car_park].join(" · "),
      tag: `seat-ring-${message.call_id}`,
    });
  }

  // ---- what the agent does ------------------------------------------------------

  /** Answer the call ringing here. */
  answer() {
    const ring = this.book.ring;
    if (ring) this.accept(ring.callId);
  }

  /** H: type in a call that came to the hotline. */
  askHotline() {
    this.hotline.show();
  }

  /** A hotline call typed in here: in the queue now, before the stream tells of it. */
  placed(call) {
    this.observe(call);
    this.notices.show("hotline.placed", { lane: this.laneText(call) });
  }

  /** Answer the first call of the queue this agent may take. */
  next() {
    if (this.book.mine()) {
      this.notices.show("desk.on_call");
      return;
    }
    const call = this.book.next();
    if (call) this.accept(call.id);
    else this.notices.show("queue.none");
  }

  async accept(callId) {
    if (this.accepting) return;
    const call = this.book.get(callId);
    this.accepting = callId;
    this.render();
    try {
      const answered = await api.acceptCall(callId);
      this.accepting = null;
      if (this.book.clearRing(callId)) this.ringer.stop();
      this.observe(answered);
      this.startView(answered);
    } catch (error) {
      this.accepting = null;
      const gone = error.code === "call_taken" || error.code === "call_ended" || error.code === "unknown_call";
      if (gone) {
        this.book.remove(callId);
        if (this.book.ring === null) this.ringer.stop();
      }
      if (error.code === "call_taken") {
        const holder = typeof error.body?.holder === "string" ? error.body.holder : "";
        this.notices.show("queue.taken", { lane: call ? this.laneText(call) : callId, agent: holder });
      } else {
        this.notices.error(error);
      }
      this.render();
    }
  }

  async decline() {
    const ring = this.book.ring;
    if (!ring) return;
    try {
      await api.declineCall(ring.callId);
      if (this.book.clearRing(ring.callId)) this.ringer.stop();
    } catch (error) {
      this.notices.error(error);
    }
    this.render();
  }

  heldLane() {
    return this.book.mine()?.lane_id ?? null;
  }

  /** O: the open-gate dialog for the call's lane, else for the lane in view. */
  openGateForCall() {
    const laneId = this.heldLane() ?? this.live.laneId;
    if (laneId) this.openGate(laneId);
    else this.notices.show("desk.no_lane");
  }

  /** E: the outcome form of the call held. */
  askEnd() {
    const call = this.book.mine();
    if (call) this.outcome.show(call, this.getLane(call.lane_id));
    else this.notices.show("desk.no_call");
  }

  askTransfer() {
    const call = this.book.mine();
    if (call) this.transfer.show(call, `${this.laneText(call)} · ${call.car_park}`);
  }

  /** The live view of the call's lane, talking from the moment it is answered: for a
   * lane call with the lane's intercom, for a phone call with the caller (the centre
   * routes the phone's voice to the holder's talking view instead of the lane's). A
   * hotline call is on an ordinary phone: the view only. */
  startView(call) {
    if (!call) return;
    this.viewCall = call.id;
    const intercom = call.source === "lane" || call.source === "phone";
    this.live.show(call.lane_id, { intercom, talk: intercom });
  }

  /** The call held here is no longer this agent's: let its view and intercom go. */
  left(call) {
    if (this.viewCall === call.id) {
      this.viewCall = null;
      if (this.live.laneId === call.lane_id) this.live.close({ restoreFocus: false });
    }
    this.outcome.clear();
    this.transfer.close();
    const lane = this.laneText(call);
    const last = call.transfers?.at(-1);
    if (call.state === "ended") {
      const byMe = call.ended_by === this.book.username;
      this.notices.show(byMe ? "call.ended" : "call.ended_by", { lane, agent: call.ended_by ?? "" });
    } else if (call.state === "abandoned") {
      this.notices.show("call.hung_up", { lane });
    } else if (call.state === "active") {
      this.notices.show("call.barged", { lane, agent: call.agent ?? "" });
    } else if (last && last.from_agent === this.book.username) {
      const to = last.to_agent ?? t("transfer.supervisors");
      this.notices.show("call.transferred", { lane, agent: to });
    } else {
      this.notices.show("call.returned", { lane });
    }
    $("main").focus();
  }

  // ---- what is on screen --------------------------------------------------------

  laneText(call) {
    return laneLine(call, this.getLane(call.lane_id));
  }

  showLock(locked) {
    $("sound-hint").hidden = !locked || this.book.username === null;
  }

  render() {
    this.status.show(this.book.username !== null);
    this.status.render();
    this.renderRing();
    const mine = this.book.mine();
    this.card.render(mine);
    this.workspace.render(mine, mine ? this.getLane(mine.lane_id) : null);
    this.queue.render();
    this.showLock(this.ringer.locked);
    document.body.dataset.ringing = String(this.book.ring !== null);
  }

  renderRing() {
    const call = this.book.ringing();
    const card = $("ring-card");
    card.hidden = !call;
    if (!call) {
      card.removeAttribute("data-call");
      return;
    }
    card.dataset.call = call.id;
    card.dataset.source = call.source;
    showSource($("ring-source"), call.source);
    $("ring-lane").textContent = this.laneText(call);
    $("ring-park").textContent = call.car_park;
    const last = call.transfers?.at(-1);
    const note = [
      call.caller ? t("call.caller", { caller: call.caller }) : "",
      last ? t("ring.transferred", { agent: last.from_agent }) : "",
      last?.note ?? "",
    ].filter(Boolean);
    $("ring-note").textContent = note.join(" · ");
    $("ring-note").hidden = note.length === 0;
    const busy = this.accepting === call.id;
    $("ring-accept").disabled = busy;
    $("ring-accept").setAttribute("aria-busy", String(busy));
    this.tickRing();
  }

  tickRing() {
    const call = this.book.ringing();
    if (!call) return;
    const wait = clock(this.book.seconds(call.id, "wait_s"));
    const left = this.book.ringLeft();
    $("ring-wait").textContent =
      left === null ? t("ring.wait", { time: wait }) : t("ring.wait_left", { time: wait, s: Math.ceil(left) });
  }

  /** A second went by. */
  tick() {
    this.status.render();
    this.tickRing();
    this.card.tick();
    this.queue.tick();
  }

  relabel() {
    this.workspace.relabel();
    this.outcome.relabel();
    this.transfer.relabel();
    this.hotline.relabel();
    this.notices.relabel();
    this.ringer.retitle();
    this.render();
  }
}
