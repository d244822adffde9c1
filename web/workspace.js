// The call workspace (README, "The call workspace"): while the agent holds a call, the
// call's lane's last vehicles with their crops, the plate correction and the candidate
// stays (vehicles.js), and the payment of the chosen car's stay (payment.js). It
// follows the call: another call, another lane, a clean slate; no call, hidden.

import { errorText } from "./i18n.js";
import { PaymentPanel } from "./payment.js";
import { VehiclesPanel } from "./vehicles.js";

const $ = (id) => document.getElementById(id);

export class CallWorkspace {
  constructor() {
    this.root = $("call-workspace");
    this.callId = null;
    this.laneId = null;
    this.error = null; // the last failed request, kept for a language switch
    this.payment = new PaymentPanel({ onError: (error) => this.showError(error) });
    this.vehicles = new VehiclesPanel({
      onStay: (stay, vehicle) => this.payment.show(this.laneId, stay, vehicle),
      onError: (error) => this.showError(error),
    });
  }

  /** The call this agent holds (or null) and its lane as the stream last told of it. */
  render(call, lane) {
    this.root.hidden = !call;
    if (!call) {
      if (this.callId !== null) this.clear();
      return;
    }
    this.root.dataset.call = call.id;
    if (call.id !== this.callId || call.lane_id !== this.laneId) {
      this.callId = call.id;
      this.laneId = call.lane_id;
      this.showError(null);
      this.vehicles.clear();
      this.payment.clear();
      this.payment.show(call.lane_id, null, null);
    }
    this.vehicles.show(lane ?? { id: call.lane_id });
  }

  clear() {
    this.callId = this.laneId = null;
    this.root.removeAttribute("data-call");
    this.vehicles.clear();
    this.payment.clear();
    this.showError(null);
  }

  showError(error) {
    this.error = error;
    const node = $("ws-error");
    node.hidden = !error;
    node.textContent = error ? errorText(error) : "";
    if (error) node.dataset.error = error.code;
    else delete node.dataset.error;
  }

  relabel() {
    this.vehicles.relabel();
    this.payment.relabel();
    this.showError(this.error);
  }
}
