// One lane's row on the board: its cells and buttons built once, then written in
// place from the lane's state, so a live update never steals keyboard focus or reloads
// an unchanged snapshot. Where the row stands, among which car park, is the board's
// (lanes.js).

import { snapshotUrl } from "./api.js";
import { el, setText } from "./dom.js";
import { ageMs, localDateTime, localTime } from "./format.js";
import { label, t } from "./i18n.js";

/** A call button press stays flagged this long (the contract's 5-minute SLA is per problem). */
export const CALL_RECENT_MS = 2 * 60_000;
/** Below this LPR confidence (0..1) the agent should check the plate against the snapshot. */
export const LOW_CONFIDENCE = 0.8;

const GATE_STATES = new Set(["down", "rising", "up", "falling", "unknown"]);
// GA 36-2018 plate background colours; anything else renders as "unknown".
const PLATE_COLOURS = new Set(["blue", "yellow", "green", "yellow_green", "white", "black"]);

function normalisedConfidence(value) {
  if (typeof value !== "number" || Number.isNaN(value)) return null;
  return value > 1 ? value / 100 : value; // tolerate a 0..100 scale
}

/**
 * A new row for `lane`, not yet rendered: {row, snapshotSrc, f: its fields}; the board
 * adds lane, sent and group.
 * @param {{onOpen, onDisplay, onLive: (laneId: string) => void,
 *          onSticker: (laneId: string) => Promise<void>, canSticker: () => boolean}} actions
 */
export function createRow(lane, { onOpen, onDisplay, onLive, onSticker, canSticker }) {
  const row = el("tr", "lane");
  row.setAttribute("data-lane", lane.id);

  const name = el("span", "lane__name");
  name.dataset.field = "name";
  const direction = el("span", "dir");
  direction.dataset.field = "direction";
  const id = el("span", "lane__id", lane.id);
  // What the lane is made of, as its lane file names it: the device a fault names
  // ("cam: no push …") is found here. Folded, as most lanes need no looking at.
  const devices = el("details", "lane__devices");
  devices.dataset.field = "devices";
  devices.hidden = true;
  const devicesSummary = el("summary");
  const devicesList = el("ul", "lane__device-list");
  devices.append(devicesSummary, devicesList);
  const nameCell = el("th", "lane__title");
  nameCell.scope = "row";
  nameCell.append(name, direction, id, devices);

  const online = el("span", "badge");
  online.dataset.field = "online";

  const gate = el("span", "gate");
  gate.dataset.field = "gate";

  const thumb = el("img", "thumb");
  thumb.dataset.field = "snapshot";
  thumb.width = 160;
  thumb.height = 90;
  thumb.decoding = "async";
  // Fetched as the row nears the screen: a wall of 500 lanes shows a dozen at a time.
  // A lazy image that is not rendered is never fetched, so the image is shown (its
  // dark box) from the moment it has a source, not from its load.
  thumb.loading = "lazy";
  thumb.hidden = true;
  const noThumb = el("span", "thumb thumb--empty");
  thumb.addEventListener("error", () => {
    thumb.hidden = true;
    noThumb.hidden = false;
  });
  const plate = el("span", "plate");
  plate.dataset.field = "plate";
  const plateColour = el("span", "visually-hidden");
  const plateTime = el("time", "plate-time");
  plateTime.dataset.field = "plate-time";
  const plateFlag = el("span", "plate-flag");
  plateFlag.dataset.field = "plate-flag";
  const info = el("div", "vehicle__info");
  const meta = el("div", "vehicle__meta");
  meta.append(plateTime, plateFlag);
  info.append(plate, plateColour, meta);
  const vehicle = el("div", "vehicle");
  vehicle.append(thumb, noThumb, info);

  const call = el("span", "call");
  call.dataset.field = "call";
  const fault = el("span", "fault");
  fault.dataset.field = "fault";

  const open = el("button", "btn btn--primary");
  open.type = "button";
  open.dataset.action = "open";
  const openText = el("span");
  const openLane = el("span", "visually-hidden");
  open.append(openText, openLane);
  open.addEventListener("click", () => onOpen(row.getAttribute("data-lane")));
  const display = el("button", "btn");
  display.type = "button";
  display.dataset.action = "display";
  const displayText = el("span");
  const displayLane = el("span", "visually-hidden");
  display.append(displayText, displayLane);
  display.addEventListener("click", () => onDisplay(row.getAttribute("data-lane")));
  const live = el("button", "btn");
  live.type = "button";
  live.dataset.action = "live";
  const liveText = el("span");
  const liveLane = el("span", "visually-hidden");
  live.append(liveText, liveLane);
  live.addEventListener("click", () => onLive(row.getAttribute("data-lane")));
  const actions = el("div", "actions");
  actions.append(open, display, live);
  if (canSticker()) actions.append(stickerButton(lane.id, onSticker));

  const cells = [online, gate, vehicle, call, fault, actions].map((child) => {
    const td = el("td");
    td.append(child);
    return td;
  });
  row.append(nameCell, ...cells);
  return {
    row,
    snapshotSrc: null,
    f: { name, direction, devices, devicesSummary, devicesList, online, gate, thumb, noThumb,
      plate, plateColour, plateTime, plateFlag, call, fault, open, openText, openLane, display,
      displayText, displayLane, live, liveText, liveLane },
  };
}

/** A supervisor's download of the lane's help sticker, to print (offline lanes too). */
function stickerButton(laneId, onSticker) {
  const button = el("button", "btn btn--quiet");
  button.type = "button";
  button.dataset.action = "sticker";
  const text = el("span", "", t("action.sticker"));
  text.dataset.i18n = "action.sticker";
  button.append(text, el("span", "visually-hidden", ` ${laneId}`));
  button.addEventListener("click", async () => {
    button.disabled = true; // one click, one file, one entry in the ledger
    button.setAttribute("aria-busy", "true");
    try {
      await onSticker(laneId);
    } finally {
      button.disabled = false;
      button.setAttribute("aria-busy", "false");
    }
  });
  return button;
}

/** The call cell alone: the only one that changes with time, not with the lane. */
export function renderCall(entry) {
  const { lane, row, f } = entry;
  const age = lane.last_call_at ? ageMs(lane.last_call_at) : Infinity;
  // A little negative age is clock skew between the centre and this seat.
  const calling = age < CALL_RECENT_MS && age > -60_000;
  row.setAttribute("data-calling", String(calling));
  setText(f.call, calling ? t("call.active", { time: localTime(lane.last_call_at) }) : t("none"));
  f.call.classList.toggle("call--active", calling);
}

/** Write the row from its lane's state (entry.lane). */
export function renderRow(entry) {
  const { lane, row, f } = entry;
  const online = lane.online === true;
  row.setAttribute("data-online", String(online));
  row.classList.toggle("lane--offline", !online);
  setText(f.name, lane.name || lane.id);
  setText(f.direction, label("dir.", lane.direction));
  f.direction.className = `dir dir--${lane.direction === "exit" ? "exit" : "entry"}`;

  setText(f.online, t(`online.${online}`));
  f.online.setAttribute("data-online", String(online));
  f.online.className = `badge badge--${online ? "online" : "offline"}`;

  const gate = typeof lane.gate === "string" ? lane.gate : "unknown";
  row.setAttribute("data-gate", gate);
  f.gate.setAttribute("data-gate", gate);
  setText(f.gate, label("gate.", gate));
  f.gate.className = `gate gate--${GATE_STATES.has(gate) ? gate : "unknown"}`;

  renderDevices(entry);
  renderVehicle(entry);
  renderCall(entry);

  const fault = lane.fault;
  if (fault) {
    row.setAttribute("data-fault", String(fault.code ?? ""));
    // The fault's name in words (the code itself when this console does not know it),
    // then the lane's own detail.
    const named = fault.code ? label("fault.", fault.code) : "";
    setText(f.fault, [named, fault.detail].filter(Boolean).join("："));
    f.fault.title = localDateTime(fault.at);
    f.fault.classList.add("fault--active");
  } else {
    row.removeAttribute("data-fault");
    setText(f.fault, t("none"));
    f.fault.removeAttribute("title");
    f.fault.classList.remove("fault--active");
  }

  const laneName = ` ${f.name.textContent}`;
  f.openText.textContent = t("action.open");
  f.openLane.textContent = laneName;
  f.open.disabled = !online;
  f.displayText.textContent = t("action.display");
  f.displayLane.textContent = laneName;
  f.display.disabled = !online;
  f.liveText.textContent = t("action.live");
  f.liveLane.textContent = laneName;
  f.live.disabled = !online;
}

/** The lane's devices, one line each in words: "cam · AlarmInfoPlate camera ·
 * 192.168.1.64 · plates, gate". Names and addresses are the lane's, shown as text. */
function renderDevices(entry) {
  const { lane, f } = entry;
  const devices = Array.isArray(lane.devices) ? lane.devices : [];
  f.devices.hidden = devices.length === 0;
  setText(f.devicesSummary, t("devices.summary", { n: devices.length }));
  const lines = devices.map(deviceLine);
  const shown = [...f.devicesList.children].map((item) => item.textContent);
  if (shown.length === lines.length && shown.every((line, n) => line === lines[n])) return;
  f.devicesList.replaceChildren(
    ...devices.map((device, n) => {
      const item = el("li", "lane__device", lines[n]);
      item.dataset.device = String(device.name ?? "");
      return item;
    }),
  );
}

function deviceLine(device) {
  const parts = Array.isArray(device.parts) ? device.parts : [];
  const plays = parts.map((part) => label("device.part.", part)).join(t("device.parts.join"));
  const family = device.family ? label("device.family.", device.family) : "";
  return [device.name, family, device.at, plays].filter(Boolean).join(" · ");
}

function renderVehicle(entry) {
  const { lane, f } = entry;
  const v = lane.last_vehicle;
  f.thumb.alt = t("snapshot.alt", { lane: lane.name || lane.id });
  setText(f.noThumb, t("snapshot.none"));
  if (!v) {
    setText(f.plate, t("plate.none"));
    f.plate.className = "plate plate--none";
    f.plate.removeAttribute("data-plate-colour");
    f.plate.removeAttribute("data-plate-flag");
    f.plate.removeAttribute("title");
    setText(f.plateColour, "");
    setText(f.plateTime, "");
    f.plateTime.removeAttribute("datetime");
    setText(f.plateFlag, "");
    setSnapshot(entry, null);
    return;
  }
  const colour = PLATE_COLOURS.has(v.plate_colour) ? v.plate_colour : "unknown";
  f.plate.className = `plate plate--${colour}`;
  f.plate.setAttribute("data-plate-colour", colour);
  setText(f.plate, v.plate || t("plate.unlicensed"));
  setText(f.plateColour, ` ${t(`plate.colour.${colour}`)}`);

  const confidence = normalisedConfidence(v.confidence);
  const flags = [];
  if (v.plate_valid === false) flags.push("invalid");
  if (confidence !== null && confidence < LOW_CONFIDENCE) flags.push("low_confidence");
  const percent = confidence === null ? null : Math.round(confidence * 100);
  // The title carries the whole plate too, as a long one is cut off on screen.
  f.plate.title = [f.plate.textContent, percent === null ? "" : t("plate.confidence", { p: percent })]
    .filter(Boolean)
    .join(" · ");
  if (flags.length) f.plate.setAttribute("data-plate-flag", flags.join(" "));
  else f.plate.removeAttribute("data-plate-flag");
  f.plate.classList.toggle("plate--flagged", flags.length > 0);
  const words = [];
  if (flags.includes("invalid")) words.push(t("plate.invalid"));
  if (flags.includes("low_confidence")) words.push(`${t("plate.low")} ${percent}%`);
  setText(f.plateFlag, words.join(" · "));

  setText(f.plateTime, localTime(v.at));
  if (v.at) f.plateTime.setAttribute("datetime", v.at);
  f.plateTime.title = localDateTime(v.at);
  setSnapshot(entry, snapshotUrl(lane.id, v.at));
}

function setSnapshot(entry, src) {
  const { f } = entry;
  if (entry.snapshotSrc === src) return;
  entry.snapshotSrc = src;
  if (src) {
    f.thumb.src = src;
    f.thumb.hidden = false;
    f.noThumb.hidden = true;
  } else {
    f.thumb.removeAttribute("src");
    f.thumb.hidden = true;
    f.noThumb.hidden = false;
  }
}
