// Payment in the call workspace: what the car park's rules charge the chosen car's stay
// now, the order the agent issues (the amount from the rules, or another with a
// reason), its QR code as the lane's display shows it, and the order followed live
// until the barrier is up. "Paid but not lifted" is answered from the order itself:
// the order, the provider's notification and the gate command with its outcome side
// by side, and one click opens again for that same order.
//
// The centre does not push orders on the live stream; while an order is shown and not
// settled the page asks for it every POLL_MS, and stops when it is.

import { api } from "./api.js";
import { localTime } from "./format.js";
import { errorText, label, t } from "./i18n.js";
import { toFen } from "./outcome.js";

const $ = (id) => document.getElementById(id);
const POLL_MS = 1_000;
// A paid order whose gate the centre has not been asked to open this long after the
// payment is one an agent should be able to open again (a restart lost the open).
const OPEN_GRACE_MS = 15_000;

/** Fen as yuan with two decimals: 1500 -> "15.00". */
export function yuan(fen) {
  return (fen / 100).toFixed(2);
}

/** Where a paid order's barrier stands: "waiting" (no open asked yet), "opening", "done",
 * or the last open's failed outcome. */
export function gateOf(order) {
  const last = order.gate_opens?.at(-1);
  if (!last) return "waiting";
  return last.outcome ?? "opening";
}

/** The agent may open again: paid, and no open of the order lifted the barrier, once
 * one failed or none was asked within OPEN_GRACE_MS of the payment. */
export function mayReopen(order, now = Date.now()) {
  if (order.state !== "paid") return false;
  const gate = gateOf(order);
  if (gate === "done" || gate === "opening") return false;
  if (gate !== "waiting") return true;
  return now - new Date(order.paid_at).getTime() > OPEN_GRACE_MS;
}

export class PaymentPanel {
  /** @param {{onError: (error: Error|null) => void}} options */
  constructor({ onError }) {
    this.onError = onError;
    this.laneId = null;
    this.stay = null;
    this.vehicle = null;
    this.order = null; // GET /api/payments/{id} as last answered, or the issue's answer
    this.issued = null; // the issue's answer: its QR code
    this.timer = null;
    this.busy = false;
    this.formError = null;
    $("ws-pay-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.issue();
    });
    $("ws-reopen").addEventListener("click", () => this.reopen());
  }

  /** The call's lane and the stay of the car chosen there (null: none). */
  show(laneId, stay, vehicle) {
    if (laneId !== this.laneId) this.forget();
    this.laneId = laneId;
    this.stay = stay;
    this.vehicle = vehicle;
    this.render();
  }

  forget() {
    clearTimeout(this.timer);
    this.timer = null;
    this.order = this.issued = null;
    this.formError = null;
    $("ws-pay-form").reset();
  }

  clear() {
    this.forget();
    this.laneId = this.stay = this.vehicle = null;
    this.render();
  }

  async issue() {
    if (this.busy || !this.laneId) return;
    const typed = $("ws-pay-amount").value;
    const fen = typed.trim() ? toFen(typed) : null;
    if (fen === null && typed.trim()) {
      this.setError({ key: "outcome.err.amount", code: "amount_format" });
      return;
    }
    const order = { reason: $("ws-pay-reason").value.trim() };
    if (this.stay) order.stay_id = this.stay.stay_id;
    const plate = this.plate();
    if (plate) order.plate = plate;
    if (fen !== null) order.amount_fen = fen;
    const laneId = this.laneId;
    this.setError(null);
    this.setBusy(true);
    try {
      const issued = await api.issuePayment(laneId, order);
      this.setBusy(false);
      if (laneId !== this.laneId) return;
      this.issued = issued;
      this.order = { order_id: issued.order_id, amount_fen: issued.amount_fen, state: "open", gate_opens: [], notifications: [] };
      this.render();
      this.follow();
    } catch (error) {
      this.setBusy(false);
      this.setError(error);
    }
  }

  /** The plate the order is for: the chosen car's as the agent corrected it, or as
   * read when valid; else the centre takes the stay's. */
  plate() {
    const vehicle = this.vehicle;
    return vehicle?.corrected_plate || (vehicle?.plate_valid ? vehicle.plate : "");
  }

  /** Ask for the order again until it is settled: paid with the barrier up, or over. */
  async follow() {
    clearTimeout(this.timer);
    this.timer = null;
    const orderId = this.order?.order_id;
    if (!orderId) return;
    try {
      const order = await api.payment(orderId);
      if (this.order?.order_id !== orderId) return;
      this.order = order;
      this.render();
    } catch (error) {
      if (this.order?.order_id !== orderId) return;
      this.onError(error);
    }
    const order = this.order;
    const settled = ["expired", "cancelled"].includes(order.state) || (order.state === "paid" && gateOf(order) === "done");
    if (!settled) this.timer = setTimeout(() => this.follow(), POLL_MS);
  }

  async reopen() {
    const orderId = this.order?.order_id;
    if (!orderId || this.busy) return;
    this.onError(null);
    this.setBusy(true);
    try {
      await api.reopenPayment(orderId);
    } catch (error) {
      this.onError(error);
    }
    this.setBusy(false);
    await this.follow();
  }

  setBusy(busy) {
    this.busy = busy;
    this.render();
  }

  setError(error) {
    this.formError = error;
    this.render();
  }

  // ---- what is on screen --------------------------------------------------------

  render() {
    this.renderFee();
    const form = $("ws-pay-issue");
    form.disabled = this.busy || !this.laneId;
    form.setAttribute("aria-busy", String(this.busy));
    const error = this.formError;
    const node = $("ws-pay-error");
    node.hidden = !error;
    node.textContent = error ? (error.key ? t(error.key) : errorText(error)) : "";
    if (error) node.dataset.error = error.code;
    else delete node.dataset.error;
    this.renderOrder();
  }

  renderFee() {
    const stay = this.stay;
    const node = $("ws-fee");
    node.dataset.feeFen = String(stay?.fee_fen ?? "");
    if (!stay) {
      node.textContent = t("ws.fee.no_stay");
      return;
    }
    node.textContent =
      stay.fee_fen === null
        ? label("ws.fee.", stay.fee_error)
        : t("ws.fee", { amount: yuan(stay.fee_fen), plate: this.plate() || stay.plate });
  }

  renderOrder() {
    const order = this.order;
    const box = $("ws-order");
    box.hidden = !order;
    if (!order) return;
    box.dataset.order = order.order_id;
    box.dataset.state = order.state;
    const qr = $("ws-qr");
    const src = `data:image/png;base64,${this.issued?.qr_png ?? ""}`;
    if (qr.getAttribute("src") !== src) qr.src = src;
    qr.alt = t("ws.qr.alt", { amount: yuan(order.amount_fen) });
    $("ws-order-amount").textContent = t("ws.order.amount", { amount: yuan(order.amount_fen) });
    this.step("ws-step-order", order.state, label("ws.order.", order.state));
    const notice = order.notifications?.at(-1);
    this.step(
      "ws-step-notice",
      notice?.effect ?? "none",
      notice
        ? t("ws.notice", { effect: label("ws.notice.", notice.effect), time: localTime(notice.received_at) })
        : t("ws.notice.none"),
    );
    const gate = order.state === "paid" ? gateOf(order) : "none";
    const last = order.gate_opens?.at(-1);
    this.step(
      "ws-step-gate",
      gate,
      last
        ? t("ws.gate", { outcome: label("ws.gate.", gate), actor: last.actor, time: localTime(last.requested_at) })
        : label("ws.gate.", gate),
    );
    const reopen = $("ws-reopen");
    reopen.hidden = !mayReopen(order);
    reopen.disabled = this.busy;
  }

  step(id, state, text) {
    const node = $(id);
    node.dataset.state = state;
    node.querySelector(".ws-step__value").textContent = text;
  }

  relabel() {
    this.render();
  }
}
