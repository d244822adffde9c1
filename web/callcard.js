// The call being handled: its lane and the last vehicle there (with the snapshot), the
// commands for the lane, the handle-time clock (a warning at 4 minutes, the breach at
// 5), transfer, and the end with its outcome form.

import { snapshotUrl } from "./api.js";
import { showSource } from "./badges.js";
import { clockLevel, laneLine } from "./calls.js";
import { clock, localTime } from "./format.js";
import { label, t } from "./i18n.js";

const $ = (id) => document.getElementById(id);

export class CallCard {
  /**
   * @param {{book: import("./calls.js").CallBook, getLane: (id: string) => object|null,
   *          onOpen: () => void, onDisplay: () => void, onLive: () => void,
   *          onTransfer: () => void, onEnd: () => void}} options
   */
  constructor({ book, getLane, onOpen, onDisplay, onLive, onTransfer, onEnd }) {
    this.book = book;
    this.getLane = getLane;
    this.root = $("call-card");
    this.b = {
      open: $("call-open"),
      display: $("call-display"),
      live: $("call-live"),
      transfer: $("call-transfer"),
      end: $("call-end"),
    };
    this.snapshot = $("call-snapshot");
    this.snapshotSrc = null;
    this.callId = null;
    this.b.open.addEventListener("click", onOpen);
    this.b.display.addEventListener("click", onDisplay);
    this.b.live.addEventListener("click", onLive);
    this.b.transfer.addEventListener("click", onTransfer);
    this.b.end.addEventListener("click", onEnd);
  }

  /** Show `call` (the one this agent holds), or nothing. */
  render(call) {
    this.root.hidden = !call;
    this.callId = call?.id ?? null;
    if (!call) {
      this.root.removeAttribute("data-call");
      this.setSnapshot(null);
      return;
    }
    const lane = this.getLane(call.lane_id);
    this.root.dataset.call = call.id;
    this.root.dataset.lane = call.lane_id;
    this.root.dataset.source = call.source;
    showSource($("call-source"), call.source);
    $("call-lane").textContent = laneLine(call, lane);
    $("call-park").textContent = call.car_park;
    const online = lane?.online === true;
    const gate = $("call-gate");
    gate.textContent = lane ? `${t("col.gate")}：${label("gate.", lane.gate ?? "unknown")}` : "";
    gate.dataset.gate = String(lane?.gate ?? "unknown");
    const status = $("call-online");
    status.textContent = t(`online.${online}`);
    status.className = `badge badge--${online ? "online" : "offline"}`;
    const who = [
      call.caller ? t("call.caller", { caller: call.caller }) : "",
      call.note,
      ...call.transfers.filter((x) => x.note).map((x) => t("call.transfer_note", { from: x.from_agent, note: x.note })),
    ].filter(Boolean);
    const whoNode = $("call-who");
    whoNode.textContent = who.join(" · ");
    whoNode.hidden = who.length === 0;
    this.renderVehicle(lane);
    this.b.open.disabled = this.b.display.disabled = this.b.live.disabled = !online;
    this.tick();
  }

  renderVehicle(lane) {
    const v = lane?.last_vehicle;
    const plate = $("call-plate");
    $("call-vehicle").dataset.empty = String(!v);
    if (!v) {
      plate.textContent = t("plate.none");
      plate.className = "plate plate--none";
      $("call-plate-time").textContent = "";
      this.setSnapshot(null);
      return;
    }
    plate.textContent = v.plate || t("plate.unlicensed");
    plate.className = `plate plate--${v.plate_colour || "unknown"}`;
    plate.dataset.plate = String(v.plate ?? "");
    $("call-plate-time").textContent = localTime(v.at);
    this.snapshot.alt = t("snapshot.alt", { lane: lane.name || lane.id });
    this.setSnapshot(snapshotUrl(lane.id, v.at));
  }

  setSnapshot(src) {
    if (this.snapshotSrc === src) return;
    this.snapshotSrc = src;
    this.snapshot.hidden = !src;
    if (src) this.snapshot.src = src;
    else this.snapshot.removeAttribute("src");
  }

  /** A second went by: the handle-time clock. */
  tick() {
    const call = this.callId ? this.book.get(this.callId) : null;
    if (!call) return;
    const seconds = this.book.seconds(call.id, "handle_s") ?? 0;
    const level = clockLevel(call, seconds);
    const node = $("call-clock");
    node.textContent = clock(seconds);
    node.dataset.level = level;
    this.root.dataset.level = level;
    const note = $("call-clock-note");
    note.hidden = level === "ok";
    note.dataset.level = level;
    note.textContent = level === "ok" ? "" : t(`call.clock.${level}`);
  }
}
