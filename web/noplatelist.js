// A car park's stays without a plate (无牌车), newest first, as the car park panel shows
// them (GET /api/noplate/stays): each marked, with the temporary identity the driver's
// phone was given, the entry lane and the times. An agent who learns the car's real
// plate (the driver shows the registration, a camera reads it later) links the stay
// to it; the plate is checked as typed, as any correction is, and the centre records
// the link in the ledger as a plate correction before the stay changes.

import { api } from "./api.js";
import { el } from "./dom.js";
import { localDateTime } from "./format.js";
import { errorText, label, t } from "./i18n.js";
import { PlateCheck } from "./platecheck.js";

const $ = (id) => document.getElementById(id);
const LIMIT = 50; // the API's default: a day's no-plate cars at a busy car park

export class NoPlateList {
  constructor() {
    this.carPark = null;
    this.stays = [];
    this.chosen = null; // the stay id the link form is for
    this.done = null; // {identity, plate} of the last link, shown until the next action
    this.error = null; // a failed load or link, kept for a language switch
    this.busy = false;
    this.loads = 0;
    this.form = $("noplate-link");
    this.check = new PlateCheck({
      input: $("noplate-plate"),
      view: $("noplate-plate-check"),
      error: $("noplate-plate-error"),
      onChange: () => this.syncSubmit(),
    });
    this.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.link();
    });
    $("noplate-cancel").addEventListener("click", () => this.choose(null));
  }

  /** The car park whose stays to list (null: none, the panel closed). */
  show(carPark) {
    this.carPark = carPark;
    this.stays = [];
    this.done = this.error = null;
    this.choose(null);
    if (carPark) this.load();
  }

  async load() {
    const loading = ++this.loads;
    const carPark = this.carPark;
    try {
      const body = await api.noplateStays(carPark, LIMIT);
      if (loading !== this.loads || carPark !== this.carPark) return;
      this.stays = body.stays;
    } catch (error) {
      if (loading !== this.loads) return;
      this.error = error;
    }
    this.render();
  }

  get stay() {
    return this.stays.find((stay) => stay.stay_id === this.chosen) ?? null;
  }

  choose(stayId) {
    this.chosen = stayId;
    this.check.set("");
    $("noplate-note").value = "";
    this.render();
    if (stayId !== null) $("noplate-plate").focus();
  }

  async link() {
    const stay = this.stay;
    const plate = this.check.plate;
    if (this.busy || !stay || !plate) return;
    this.error = this.done = null;
    this.busy = true;
    this.render();
    try {
      const body = await api.linkNoPlate(stay.stay_id, plate, $("noplate-note").value);
      this.done = { identity: body.stay.identity, plate: body.stay.plate };
      this.stays = this.stays.map((s) => (s.stay_id === body.stay.stay_id ? body.stay : s));
      this.busy = false;
      this.choose(null);
    } catch (error) {
      this.busy = false;
      this.error = error;
      this.render();
    }
  }

  syncSubmit() {
    $("noplate-submit").disabled = this.busy || !this.check.plate;
  }

  render() {
    const list = $("noplate-stays");
    list.replaceChildren(...this.stays.map((stay) => this.item(stay)));
    $("noplate-empty").hidden = Boolean(this.stays.length) || !this.carPark;
    const stay = this.stay;
    this.form.hidden = !stay;
    this.form.setAttribute("aria-busy", String(this.busy));
    if (stay) {
      this.form.dataset.stay = String(stay.stay_id);
      $("noplate-link-title").textContent = t("noplate.link.title", { identity: stay.identity });
    }
    this.syncSubmit();
    const error = $("noplate-error");
    error.hidden = !this.error;
    error.textContent = this.error ? errorText(this.error) : "";
    if (this.error) error.dataset.error = this.error.code;
    else delete error.dataset.error;
    const done = $("noplate-done");
    done.hidden = !this.done;
    done.textContent = this.done ? t("noplate.link.done", this.done) : "";
  }

  item(stay) {
    const item = el("li", "noplate-stay");
    item.dataset.stay = String(stay.stay_id);
    item.dataset.linked = String(stay.linked);
    item.dataset.state = stay.state;
    const mark = el("span", "badge badge--noplate", t("noplate.mark"));
    const who = el("span", "noplate-stay__identity", t("noplate.identity", { identity: stay.identity }));
    const linked = el("span", "noplate-stay__linked");
    if (stay.linked) {
      const plate = el("span", "plate", stay.plate);
      plate.dataset.plate = stay.plate;
      linked.append(t("noplate.linked"), " ", plate);
    }
    const facts = el("p", "hint noplate-stay__facts");
    const lines = [
      label("ws.stay.", stay.state),
      t("noplate.lane", { lane: stay.entry_lane ?? "" }),
      t("noplate.entered", { time: localDateTime(stay.entered_at) }),
    ];
    if (stay.closed_at) lines.push(t("noplate.closed", { time: localDateTime(stay.closed_at) }));
    facts.textContent = lines.join(" · ");
    const link = el("button", "btn btn--small", t("noplate.link"));
    link.type = "button";
    link.dataset.action = "link";
    link.addEventListener("click", () => {
      this.done = this.error = null;
      this.choose(stay.stay_id);
    });
    item.append(mark, " ", who, " ", linked, facts, link);
    return item;
  }

  relabel() {
    this.check.relabel();
    this.render();
  }
}
