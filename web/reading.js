// The OCR's second reading of the chosen vehicle's plate in the call workspace (README,
// "A second reading by OCR"): read only when the agent asks, as a read costs the centre
// a core's tens of milliseconds and it reads one plate at a time, then shown beside the
// camera's plate with its confidence. Where the two disagree the vehicle is marked, here
// and in the lane's list (`readingMark`), and one click puts the OCR's plate into the
// correction field, checked there as if typed: the OCR is a second opinion for the
// agent to weigh, so only the agent's own submit, with a note, corrects the plate.

import { api } from "./api.js";
import { el } from "./dom.js";
import { t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

/** What the second reading says of `vehicle`: none (not asked), unread (the OCR found
 * no plate), disagrees (it read another plate than the camera) or agrees. */
export function verdict(vehicle) {
  const reading = vehicle?.reading;
  if (!reading) return "none";
  if (!reading.plate) return "unread";
  return vehicle.reading_disagrees ? "disagrees" : "agrees";
}

/** The mark a lane's list row carries for a vehicle whose readings disagree, or null. */
export function readingMark(vehicle) {
  if (verdict(vehicle) !== "disagrees") return null;
  const mark = el("span", "ws-reading-mark", t("ws.reading.disagrees_short"));
  mark.dataset.plate = vehicle.reading.plate;
  return mark;
}

export class SecondReading {
  /** @param {{onAnswer: (vehicle: object) => void, onUse: (plate: string) => void,
   *          onError: (error: Error|null) => void}} options: onAnswer gets the event as
   *          the centre answers it, with its reading; onUse the OCR's plate to check */
  constructor({ onAnswer, onUse, onError }) {
    this.onAnswer = onAnswer;
    this.onUse = onUse;
    this.onError = onError;
    this.vehicle = null; // the chosen vehicle, as last rendered
    this.counted = ""; // the plate that counts for it now (a correction over the camera's)
    this.pending = new Set(); // events whose reading was asked for and not answered yet
    this.failed = null; // the event whose last ask was refused: the button says retry
    this.epoch = 0; // answers to asks made before the last clear are dropped
    $("ws-read").addEventListener("click", () => this.ask());
    $("ws-reading-use").addEventListener("click", () => {
      const plate = this.vehicle?.reading?.plate;
      if (plate) this.onUse(plate);
    });
  }

  /** Another lane or call: nothing asked for the last one counts here. */
  clear() {
    this.epoch += 1;
    this.pending.clear();
    this.failed = null;
  }

  async ask() {
    const vehicle = this.vehicle;
    if (!vehicle || vehicle.reading || this.pending.has(vehicle.event_id)) return;
    const eventId = vehicle.event_id;
    const epoch = this.epoch;
    this.onError(null);
    this.pending.add(eventId);
    this.failed = null;
    this.render(this.vehicle, this.counted);
    let answer = null;
    let failure = null;
    try {
      answer = await api.readPlate(eventId);
    } catch (error) {
      failure = error;
    }
    if (epoch !== this.epoch) return;
    this.pending.delete(eventId);
    if (failure) {
      // 503 reader_busy included: nothing was read, the button asks again.
      this.failed = eventId;
      this.onError(failure);
      this.render(this.vehicle, this.counted);
    } else {
      this.onAnswer(answer);
    }
  }

  /** Draw `vehicle`'s reading (or the button asking for it); `counted` is the plate
   * that counts for it now, which the OCR's plate need not be put into again. */
  render(vehicle, counted) {
    this.vehicle = vehicle;
    this.counted = counted;
    const root = $("ws-reading");
    root.hidden = !vehicle;
    const said = verdict(vehicle);
    root.dataset.event = vehicle?.event_id ?? "";
    root.dataset.verdict = said;
    $("ws-exit").dataset.disagrees = String(said === "disagrees");

    const button = $("ws-read");
    const reading = vehicle ? this.pending.has(vehicle.event_id) : false;
    // No snapshot (retention removed it, or a phone stands for a car without a plate):
    // no crop, nothing to read.
    button.hidden = !vehicle?.crop_url || said !== "none";
    button.disabled = reading;
    button.setAttribute("aria-busy", String(reading));
    const refused = this.failed !== null && this.failed === vehicle?.event_id;
    button.textContent = t(reading ? "ws.reading.busy" : refused ? "ws.reading.retry" : "ws.reading.ask");

    const result = $("ws-reading-result");
    result.hidden = said === "none";
    const found = vehicle?.reading;
    const plate = $("ws-reading-plate");
    plate.hidden = !found?.plate;
    plate.textContent = found?.plate ?? "";
    plate.dataset.plate = found?.plate ?? "";
    plate.className = `plate plate--${vehicle?.plate_colour || "unknown"}`;
    // A plate no car park issues: its characters are still worth the agent's look.
    plate.classList.toggle("plate--flagged", Boolean(found?.plate) && !found.plate_valid);
    $("ws-reading-confidence").textContent = found?.plate
      ? t("plate.confidence", { p: Math.round((found.confidence ?? 0) * 100) })
      : "";
    const words = $("ws-reading-verdict");
    words.dataset.verdict = said;
    words.textContent = said === "none" ? "" : t(`ws.reading.${said}`);
    // Offered wherever the OCR's plate is not already the one that counts.
    $("ws-reading-use").hidden = !found?.plate || found.plate === counted;
  }
}
