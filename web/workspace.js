// The call workspace (README, "The call workspace"): while the agent holds a call, the
// call's lane's last vehicles with their crops, the plate correction and the candidate
// stays (vehicles.js), the payment of the chosen car's stay (payment.js) and its escape
// (escape.js), and a way to the car park's rules and lists (parks.js). It follows the
// call: another call, another lane, a clean slate; no call, hidden.

import { EscapePanel } from "./escape.js";
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
    // A recorded escape changes what the stay owes: ask for it again.
    this.escape = new EscapePanel({ onRecorded: () => this.vehicles.choose(this.vehicles.chosen, { keepText: true }) });
    this.vehicles = new VehiclesPanel({
      onStay: (stay, vehicle) => {
        this.payment.show(this.laneId, stay, vehicle);
        this.escape.show(stay);
      },
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
    // The car park panel opens from here for the call's lane's car park (app.js).
    const park = $("ws-park");
    park.hidden = !lane?.car_park;
    park.dataset.carPark = lane?.car_park ?? "";
  }

  clear() {
    this.callId = this.laneId = null;
    this.root.removeAttribute("data-call");
    this.vehicles.clear();
    this.payment.clear();
    this.escape.clear();
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
    this.escape.relabel();
    this.showError(this.error);
  }
}
