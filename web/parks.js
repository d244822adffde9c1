// A car park's panel: the billing rules and plate lists the centre decides its lanes by
// (GET /api/parks/{car_park}), and its stays without a plate (noplatelist.js). Read
// only: rules and lists are set with the `seat parks` CLI, which audits each change, so
// the panel says so rather than offering a form. Opened from a car park's heading on
// the lane board and from the call workspace, for the call's lane's car park.

import { api } from "./api.js";
import { el } from "./dom.js";
import { localDateTime } from "./format.js";
import { errorText, label, t } from "./i18n.js";
import { NoPlateList } from "./noplatelist.js";
import { yuan } from "./payment.js";

const $ = (id) => document.getElementById(id);
// A lists file may hold tens of thousands of passes; a screen shows the first few.
export const LIST_SHOWN = 200;

/** Today as YYYY-MM-DD in Asia/Shanghai, the days passes are sold in. */
export function shanghaiToday(now = new Date()) {
  return localDateTime(now.toISOString()).slice(0, 10);
}

/** A band's price in words: "每 60 分钟 5.00 元", its first period first when it has one. */
export function bandPrice(band) {
  const price = t("park.band.price", { minutes: band.period_minutes, amount: yuan(band.fen_per_period) });
  const first = band.first_period;
  return first ? t("park.band.first", { minutes: first.minutes, amount: yuan(first.fen) }) + price : price;
}

/** A band's own cap, or a dash for none. */
export function capText(band) {
  return band.cap_fen === null ? t("park.band.no_cap") : t("park.band.cap", { amount: yuan(band.cap_fen) });
}

/** The free minutes line. */
export function freeText(rules) {
  if (!rules.free_minutes) return t("park.free.none");
  const how = rules.free_minutes_deducted ? "park.free.deducted" : "park.free.counted";
  return t("park.free", { minutes: rules.free_minutes }) + t(how);
}

/** The caps, each a line; one "no cap" line when there is none. */
export function capLines(rules) {
  const lines = [];
  if (rules.daily_cap_fen !== null) {
    const window = label("park.cap.window.", rules.daily_cap_window);
    lines.push(t("park.cap.daily", { amount: yuan(rules.daily_cap_fen), window }));
  }
  if (rules.stay_cap_fen !== null) lines.push(t("park.cap.stay", { amount: yuan(rules.stay_cap_fen) }));
  return lines.length ? lines : [t("park.cap.none")];
}

function rulesNodes(rules) {
  if (!rules) return [el("p", "park-rules__none", t("park.rules.none"))];
  const free = el("p", "park-rules__free", freeText(rules));
  free.dataset.freeMinutes = String(rules.free_minutes);
  const table = el("table", "park-bands");
  const head = el("tr");
  for (const key of ["name", "time", "price", "cap"]) {
    const th = el("th", "", t(`park.band.head.${key}`));
    th.scope = "col";
    head.append(th);
  }
  const thead = el("thead");
  thead.append(head);
  const tbody = el("tbody");
  for (const band of rules.bands) {
    const row = el("tr", "park-band");
    row.dataset.band = band.name;
    row.append(
      el("td", "", band.name),
      el("td", "park-band__time", `${band.start}–${band.end}`),
      el("td", "park-band__price", bandPrice(band)),
      el("td", "park-band__cap", capText(band)),
    );
    row.dataset.fenPerPeriod = String(band.fen_per_period);
    tbody.append(row);
  }
  table.append(thead, tbody);
  const caps = el("ul", "park-caps");
  for (const line of capLines(rules)) caps.append(el("li", "", line));
  return [free, table, caps];
}

function scope(entry) {
  return entry.car_park === null ? t("park.scope.all") : t("park.scope.here");
}

function listNode(kind, entries, describe) {
  const section = el("section", "park-list");
  section.dataset.list = kind;
  const title = el("h4", "park-list__title", `${t(`park.${kind}`)} · ${entries.length}`);
  const items = el("ul", "park-list__items");
  for (const entry of entries.slice(0, LIST_SHOWN)) {
    const item = el("li", "park-list__item");
    item.dataset.plate = entry.plate;
    const plate = el("span", "plate", entry.plate);
    item.append(plate, " ", ...describe(entry, item));
    items.append(item);
  }
  section.append(title, items);
  if (!entries.length) section.append(el("p", "hint", t("park.list.empty")));
  if (entries.length > LIST_SHOWN) {
    section.append(el("p", "hint", t("park.list.more", { count: entries.length - LIST_SHOWN })));
  }
  return section;
}

function listsNodes(lists) {
  const today = shanghaiToday();
  const pass = (entry, item) => {
    const valid = entry.valid_from <= today && today <= entry.valid_until;
    item.dataset.valid = String(valid);
    return [
      el("span", "", t("park.pass.valid", { from: entry.valid_from, until: entry.valid_until })),
      " ",
      el("span", `hint park-pass--${valid ? "valid" : "lapsed"}`, t(valid ? "park.pass.today" : "park.pass.lapsed")),
    ];
  };
  const listed = (entry) => [el("span", "hint", scope(entry)), entry.note ? ` ${entry.note}` : ""];
  return [
    listNode("passes", lists.monthly_passes, pass),
    listNode("whitelist", lists.whitelist, listed),
    listNode("blacklist", lists.blacklist, listed),
  ];
}

export class CarParkDialog {
  constructor() {
    this.dialog = $("park-dialog");
    this.carPark = null;
    this.park = null; // GET /api/parks/{car_park} as last answered
    this.error = null;
    this.loads = 0; // answers for a car park no longer shown are dropped
    this.noplate = new NoPlateList();
    $("park-close").addEventListener("click", () => this.dialog.close());
    this.dialog.addEventListener("close", () => {
      this.loads += 1;
      this.carPark = null;
      this.noplate.show(null);
    });
  }

  /** Open the panel of `carPark` and load what the centre holds for it. */
  async show(carPark) {
    if (!carPark) return;
    const loading = ++this.loads;
    this.carPark = carPark;
    this.park = this.error = null;
    this.dialog.dataset.carPark = carPark;
    this.render();
    if (!this.dialog.open) this.dialog.showModal();
    this.noplate.show(carPark);
    try {
      const park = await api.park(carPark);
      if (loading !== this.loads) return;
      this.park = park;
    } catch (error) {
      if (loading !== this.loads) return;
      this.error = error;
    }
    this.render();
  }

  render() {
    $("park-name").textContent = this.carPark ?? "";
    const park = this.park;
    this.dialog.dataset.state = park ? "loaded" : this.error ? "failed" : "loading";
    const error = $("park-error");
    error.hidden = !this.error;
    error.textContent = this.error ? errorText(this.error) : "";
    if (this.error) error.dataset.error = this.error.code;
    else delete error.dataset.error;
    const rules = $("park-rules-body");
    const lists = $("park-lists-body");
    if (!park) {
      rules.replaceChildren(el("p", "hint", this.error ? "" : t("park.loading")));
      lists.replaceChildren();
      return;
    }
    rules.dataset.set = String(park.rules !== null);
    rules.replaceChildren(...rulesNodes(park.rules));
    lists.replaceChildren(...listsNodes(park.lists));
  }

  relabel() {
    if (this.carPark) this.render();
    this.noplate.relabel();
  }
}
