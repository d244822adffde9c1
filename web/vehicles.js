// The vehicles of the call's lane in the call workspace: the last cars its camera read,
// newest first, each with its enhanced plate crop; the one chosen (the newest exit by
// default: the car at the barrier) shown beside the entry crop of the stay it closed,
// so the agent compares the two plates at a glance. From there the agent corrects a
// misread plate (checked as typed) or, for an exit that found no entry, matches it to
// one of the open stays the centre ranks, each with its entry crop. The OCR's second
// reading of the chosen plate, on the agent's ask, is reading.js's.

import { api, centreUrl } from "./api.js";
import { el } from "./dom.js";
import { localDateTime, localTime } from "./format.js";
import { label, t } from "./i18n.js";
import { PlateCheck } from "./platecheck.js";
import { readingMark, SecondReading } from "./reading.js";

const $ = (id) => document.getElementById(id);
const LIMIT = 6; // a lane's last few cars: the one at the barrier and those just before
// An exit that closed no stay: what candidates are for.
const UNMATCHED = new Set(["no_entry", "unread"]);

/** The plate that counts: the agent's correction over the camera's read. */
export function plateOf(vehicle) {
  return vehicle?.corrected_plate || vehicle?.plate || "";
}

function plateNode(node, plate, colour) {
  node.textContent = plate || t("plate.unlicensed");
  node.className = `plate plate--${plate ? colour || "unknown" : "none"}`;
  node.dataset.plate = plate ?? "";
}

function setImage(img, url) {
  img.hidden = !url;
  if (!url) img.removeAttribute("src");
  else if (img.dataset.src !== url) img.src = centreUrl(url);
  img.dataset.src = url ?? "";
}

export class VehiclesPanel {
  /** @param {{onStay: (stay: object|null, vehicle: object|null) => void,
   *          onError: (error: Error|null) => void}} options: onError(null) as an action
   *          starts, so an old refusal does not stay on screen */
  constructor({ onStay, onError }) {
    this.onStay = onStay;
    this.onError = onError;
    this.laneId = null;
    this.seen = null; // the lane's last vehicle time the list was loaded for
    this.vehicles = [];
    this.chosen = null; // the event id shown in the pair
    this.stay = null; // the chosen exit's stay, with its entry crop and fee
    this.candidates = [];
    this.loads = 0; // answers to older loads are dropped
    this.busy = false;
    this.list = $("ws-vehicles");
    this.check = new PlateCheck({
      input: $("ws-plate"),
      view: $("ws-plate-check"),
      error: $("ws-plate-error"),
      onChange: (valid) => this.syncSubmit(valid),
    });
    this.reading = new SecondReading({
      onAnswer: (vehicle) => this.readingArrived(vehicle),
      onUse: (plate) => this.usePlate(plate),
      onError,
    });
    $("ws-correct").addEventListener("submit", (event) => {
      event.preventDefault();
      this.correct();
    });
  }

  /** The call's lane, as the stream last told of it; a new car there reloads the list. */
  show(lane) {
    const laneId = lane?.id ?? null;
    const seen = lane?.last_vehicle?.at ?? null;
    if (laneId === this.laneId && seen === this.seen) return;
    const moved = laneId !== this.laneId;
    this.laneId = laneId;
    this.seen = seen;
    if (moved) this.reset();
    if (laneId) this.load();
  }

  reset() {
    this.loads += 1;
    this.reading.clear();
    this.vehicles = [];
    this.chosen = null;
    this.stay = null;
    this.candidates = [];
    this.check.set("");
    $("ws-plate-note").value = "";
    this.render();
    this.onStay(null, null);
  }

  clear() {
    this.laneId = this.seen = null;
    this.reset();
  }

  get vehicle() {
    return this.vehicles.find((v) => v.event_id === this.chosen) ?? null;
  }

  async load() {
    const loading = ++this.loads;
    const laneId = this.laneId;
    try {
      const body = await api.laneVehicles(laneId, LIMIT);
      if (loading !== this.loads) return;
      this.vehicles = body?.vehicles ?? [];
    } catch (error) {
      if (loading === this.loads) this.onError(error);
      return;
    }
    const kept = this.vehicle;
    const first = this.vehicles.find((v) => v.direction === "exit") ?? this.vehicles[0] ?? null;
    await this.choose((kept ?? first)?.event_id ?? null, { keepText: Boolean(kept) });
  }

  /** Show event `eventId` in the pair, with its stay or the stays it may belong to. */
  async choose(eventId, { keepText = false } = {}) {
    const changed = eventId !== this.chosen;
    this.chosen = eventId;
    const vehicle = this.vehicle;
    if (changed || !keepText) {
      this.check.set(plateOf(vehicle));
      if (changed) $("ws-plate-note").value = "";
    }
    this.render();
    const loading = this.loads;
    const [stay, candidates] = await Promise.all([this.fetchStay(vehicle), this.fetchCandidates(vehicle)]);
    if (loading !== this.loads || this.chosen !== eventId) return;
    this.stay = stay;
    this.candidates = candidates;
    this.render();
    this.onStay(stay, vehicle);
  }

  async fetchStay(vehicle) {
    if (!vehicle?.stay_id) return null;
    try {
      return await api.stay(vehicle.stay_id);
    } catch (error) {
      if (error.code !== "unknown_stay") this.onError(error);
      return null;
    }
  }

  async fetchCandidates(vehicle) {
    const plate = plateOf(vehicle);
    if (vehicle?.direction !== "exit" || !UNMATCHED.has(vehicle.stay_change) || !plate) return [];
    try {
      return (await api.candidates(vehicle.car_park, plate))?.candidates ?? [];
    } catch (error) {
      this.onError(error);
      return [];
    }
  }

  /** An event as the centre answers it now (corrected, matched): in the list, chosen. */
  async replaced(vehicle) {
    this.vehicles = this.vehicles.map((v) => (v.event_id === vehicle.event_id ? vehicle : v));
    await this.choose(vehicle.event_id);
  }

  /** The event with the OCR's reading: in the list, the choice left as it is (the
   * agent may have chosen another car meanwhile); the plate that counts is unchanged,
   * so the stay and candidates stand. An event no longer listed is no one's concern. */
  readingArrived(vehicle) {
    if (!this.vehicles.some((v) => v.event_id === vehicle.event_id)) return;
    this.vehicles = this.vehicles.map((v) => (v.event_id === vehicle.event_id ? vehicle : v));
    this.render();
  }

  /** The OCR's plate into the correction field, checked as if typed; the agent adds
   * the note and sends it, or not. */
  usePlate(plate) {
    this.check.set(plate);
    $("ws-plate-note").focus();
  }

  async correct() {
    const vehicle = this.vehicle;
    const plate = this.check.plate;
    if (!vehicle || !plate || this.busy) return;
    this.onError(null);
    this.setBusy(true);
    try {
      const answer = await api.correctPlate(vehicle.event_id, plate, $("ws-plate-note").value.trim());
      this.setBusy(false);
      await this.replaced(answer);
    } catch (error) {
      this.setBusy(false);
      this.onError(error);
    }
  }

  async match(stayId) {
    const vehicle = this.vehicle;
    if (!vehicle || this.busy) return;
    this.onError(null);
    this.setBusy(true);
    try {
      const answer = await api.matchStay(stayId, vehicle.event_id);
      this.setBusy(false);
      await this.replaced(answer);
    } catch (error) {
      this.setBusy(false);
      this.onError(error);
    }
  }

  setBusy(busy) {
    this.busy = busy;
    this.syncSubmit(this.check.plate !== null);
    for (const button of $("ws-candidates").querySelectorAll("button")) button.disabled = busy;
  }

  /** Send a correction only of a valid plate that is not the one the event has. */
  syncSubmit(valid) {
    const vehicle = this.vehicle;
    const same = this.check.plate !== null && this.check.plate === plateOf(vehicle);
    $("ws-plate-submit").disabled = this.busy || !vehicle || !valid || same;
  }

  // ---- what is on screen --------------------------------------------------------

  render() {
    this.list.replaceChildren(...this.vehicles.map((v) => this.row(v)));
    $("ws-vehicles-empty").hidden = this.vehicles.length > 0 || this.laneId === null;
    this.renderPair();
    this.renderCandidates();
    this.syncSubmit(this.check.plate !== null);
  }

  row(vehicle) {
    const item = el("li", "ws-vehicle");
    item.dataset.event = vehicle.event_id;
    item.dataset.direction = vehicle.direction;
    item.dataset.stayState = vehicle.stay_state ?? "";
    item.dataset.disagrees = String(vehicle.reading_disagrees === true);
    const button = el("button", "ws-vehicle__pick");
    button.type = "button";
    button.dataset.action = "choose";
    button.setAttribute("aria-pressed", String(vehicle.event_id === this.chosen));
    button.addEventListener("click", () => this.choose(vehicle.event_id));
    const crop = el("img", "ws-vehicle__crop");
    crop.alt = "";
    crop.width = 120;
    crop.height = 40;
    setImage(crop, vehicle.crop_url);
    const plate = el("span");
    plateNode(plate, plateOf(vehicle), vehicle.plate_colour);
    const facts = el("span", "ws-vehicle__facts");
    facts.append(
      el("span", "", t(`dir.${vehicle.direction}`)),
      el("time", "plate-time", localTime(vehicle.at)),
      el("span", "hint", label("ws.stay.", vehicle.stay_state ?? "none")),
    );
    const mark = readingMark(vehicle);
    if (mark) facts.append(mark);
    button.append(crop, plate, facts);
    item.append(button);
    return item;
  }

  renderPair() {
    const vehicle = this.vehicle;
    $("ws-pair").dataset.event = vehicle?.event_id ?? "";
    $("ws-exit-caption").textContent = vehicle
      ? t(`ws.read.${vehicle.direction}`, { time: localTime(vehicle.at) })
      : t("ws.crop.none");
    setImage($("ws-exit-crop"), vehicle?.crop_url);
    plateNode($("ws-exit-plate"), vehicle?.plate ?? "", vehicle?.plate_colour);
    $("ws-exit-plate").hidden = $("ws-exit-source").hidden = !vehicle;
    const confidence = $("ws-exit-confidence");
    confidence.textContent = vehicle ? this.readText(vehicle) : "";
    this.reading.render(vehicle, plateOf(vehicle));
    const stay = this.stay;
    const entry = $("ws-entry");
    entry.dataset.stay = String(stay?.stay_id ?? "");
    entry.dataset.state = stay?.state ?? "";
    setImage($("ws-entry-crop"), stay?.crop_url);
    plateNode($("ws-entry-plate"), stay?.entered_at ? stay.plate : "", vehicle?.plate_colour);
    $("ws-entry-plate").hidden = !stay?.entered_at;
    $("ws-entry-time").textContent = stay?.entered_at
      ? t("ws.entered", { time: localDateTime(stay.entered_at) })
      : t(vehicle ? `ws.no_entry.${vehicle.direction}` : "ws.crop.none");
  }

  /** The camera's confidence, and the correction when there is one. */
  readText(vehicle) {
    const parts = [t("plate.confidence", { p: Math.round((vehicle.confidence ?? 0) * 100) })];
    if (vehicle.corrected_plate) parts.push(t("ws.corrected", { plate: vehicle.corrected_plate }));
    if (vehicle.no_plate) parts.push(t("ws.no_plate"));
    return parts.join(" · ");
  }

  renderCandidates() {
    const vehicle = this.vehicle;
    const open = vehicle?.direction === "exit" && UNMATCHED.has(vehicle.stay_change);
    $("ws-candidates-panel").hidden = !open;
    $("ws-candidates-empty").hidden = !open || this.candidates.length > 0;
    $("ws-candidates").replaceChildren(...(open ? this.candidates.map((c) => this.candidate(c)) : []));
  }

  candidate(stay) {
    const item = el("li", "ws-candidate");
    item.dataset.stay = String(stay.stay_id);
    const crop = el("img", "ws-candidate__crop");
    crop.alt = "";
    crop.width = 180;
    crop.height = 60;
    setImage(crop, stay.crop_url);
    const plate = el("span");
    plateNode(plate, stay.plate, "unknown");
    const facts = el("span", "ws-candidate__facts hint", t("ws.entered", { time: localDateTime(stay.entered_at) }));
    if (stay.car_park !== this.vehicle?.car_park) facts.textContent += ` · ${stay.car_park}`;
    if (stay.no_plate) facts.textContent += ` · ${t("ws.no_plate")}`;
    const button = el("button", "btn btn--small", t("ws.match"));
    button.type = "button";
    button.dataset.action = "match";
    button.disabled = this.busy;
    button.addEventListener("click", () => this.match(stay.stay_id));
    item.append(crop, plate, facts, button);
    return item;
  }

  relabel() {
    this.check.relabel();
    this.render();
  }
}
