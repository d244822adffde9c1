// Payment in the call workspace: what the car park's rules charge the chosen car's stay
// now, the order the agent issues (the amount from the rules, or another with a
// reason), its QR code as the lane's display shows it, and the order followed live
// until the barrier is up. "Paid but not lifted" is answered from the order itself:
// the order, the provider's notification and the gate command with its outcome side
// by side, and one click opens again for that same order. Money that came after the
// order expired or was replaced lifts nothing by itself: the order shows it, with a
// button that opens for it.
//
// The centre tells each change of an order on the live stream (an `order` message, the
// order as GET /api/payments/{id} gives it): the panel follows its order from there,
// and reads it once when the stream (re)opens, for a change told while it was down.

import { api } from "./api.js";
import { localTime } from "./format.js";
import { errorText, label, t } from "./i18n.js";
import { toFen } from "./outcome.js";

const $ = (id) => document.getElementById(id);
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

/** Money came for the order after it expired or was replaced: the gate stayed down. */
export function paidLate(order) {
  return Boolean(order.notifications?.some((notice) => notice.effect === "late"));
}

/** The agent may open (again) for the order: no open of it lifted the barrier, and it
 * was paid late (nothing opens for it by itself), or paid and an open failed or none
 * was asked within OPEN_GRACE_MS of the payment. */
export function mayReopen(order, now = Date.now()) {
  const gate = gateOf(order);
  if (gate === "done" || gate === "opening") return false;
  if (paidLate(order)) return true;
  if (order.state !== "paid") return false;
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
    this.order = null; // the order as the stream (or GET /api/payments/{id}) last told it
    this.issued = null; // the issue's answer: its QR code
    // The lane's orders the stream told of, by id: an order's first message may come
    // before the answer to the request that issued it.
    this.told = new Map();
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
    this.order = this.issued = null;
    this.told.clear();
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
      this.order = this.told.get(issued.order_id) ?? {
        order_id: issued.order_id,
        amount_fen: issued.amount_fen,
        state: "open",
        gate_opens: [],
        notifications: [],
      };
      this.render();
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

  /** An `order` message: the shown order as it is now. Another of the lane's orders
   * paid late and not lifted is shown in its place unless the shown one is still
   * open: it is the one the driver at the barrier needs opened. */
  orderChanged(order) {
    if (!this.laneId || order.lane !== this.laneId) return;
    this.told.set(order.order_id, order);
    const shown = this.order;
    const adopt = shown?.order_id !== order.order_id && paidLate(order) && mayReopen(order) && shown?.state !== "open";
    if (shown?.order_id !== order.order_id && !adopt) return;
    if (adopt) this.issued = null;
    this.order = order;
    this.render();
  }

  /** The stream (re)opened: what was told while it was down is read once. A message
   * the stream brings while the answer is on its way is as new as it, or newer. */
  async reread() {
    const orderId = this.order?.order_id;
    if (!orderId) return;
    const before = this.told.get(orderId);
    try {
      const order = await api.payment(orderId);
      if (this.order?.order_id === orderId && this.told.get(orderId) === before) this.orderChanged(order);
    } catch (error) {
      if (this.order?.order_id === orderId) this.onError(error);
    }
  }

  /** Open for the shown order; the stream tells the open and its outcome. */
  async reopen() {
    const order = this.order;
    if (!order || this.busy) return;
    this.onError(null);
    this.setBusy(true);
    try {
      await api.reopenPayment(order.order_id, paidLate(order) ? t("ws.open_late.note") : "");
    } catch (error) {
      this.onError(error);
    }
    this.setBusy(false);
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
    const fee =
      stay.fee_fen === null
        ? label("ws.fee.", stay.fee_error)
        : t("ws.fee", { amount: yuan(stay.fee_fen), plate: this.plate() || stay.plate });
    // Debts from escapes join the order the rules make: say so before it is issued.
    const owed = Number.isInteger(stay.debts_fen) && stay.debts_fen > 0;
    node.dataset.debtsFen = owed ? String(stay.debts_fen) : "";
    node.textContent = owed ? `${fee}${t("ws.fee.debts", { amount: yuan(stay.debts_fen) })}` : fee;
  }

  renderOrder() {
    const order = this.order;
    const box = $("ws-order");
    box.hidden = !order;
    if (!order) return;
    box.dataset.order = order.order_id;
    box.dataset.state = order.state;
    const qr = $("ws-qr");
    // An order this panel did not issue (one paid late, told by the stream) has no QR
    // code here: the driver has paid it already.
    qr.hidden = !this.issued;
    const src = `data:image/png;base64,${this.issued?.qr_png ?? ""}`;
    if (this.issued && qr.getAttribute("src") !== src) qr.src = src;
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
    const gate = order.state === "paid" || paidLate(order) ? gateOf(order) : "none";
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
    reopen.dataset.i18n = paidLate(order) ? "ws.open_late" : "ws.reopen";
    reopen.textContent = t(reopen.dataset.i18n);
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
