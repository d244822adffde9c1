// What each of the live stream's messages changes on the page. The call queue's and the
// orders' go to the desk; the lanes' to the board, the live view and the call's card;
// the ledger's to the audit table; a held car to a notice that stays. Newer servers may
// send more types: this console ignores what it does not know.

import { oncePerFrame } from "./frames.js";

// The desk's messages: the call queue's (README, "Calls") and the orders' (README,
// "Payments").
const CALL_MESSAGES = new Set(["calls", "call", "queue", "ring", "ring_stopped", "agent", "alert", "order"]);

/**
 * @param {{lanes, live, desk, supervisor, audit, attack, canAudit: () => boolean,
 *          synced: () => void}} parts
 *   attack: the login-attack banner (attack.js); synced: the stream's own list of lanes
 *   arrived, so slower HTTP answers must not overwrite it.
 */
export function createMessages({ lanes, live, desk, supervisor, audit, attack, canAudit, synced }) {
  // Lane changes, the latest of each lane, shown a frame's worth at a time: a city's
  // wall may change 50 lanes a second, and the page is drawn 60 times.
  const laneChanges = new Map(); // lane id -> its state not yet shown
  const laneFrame = oncePerFrame(() => {
    const changed = [...laneChanges.values()];
    laneChanges.clear();
    lanes.update(changed);
    if (changed.some((lane) => lane.id === live.laneId)) live.laneChanged(lanes.get(live.laneId));
    desk.render(); // the call's lane: online, gate, last vehicle
  });

  /** Forget changes not shown yet: the whole list replaces them, or the session ended. */
  function dropLaneChanges() {
    laneChanges.clear();
    laneFrame.cancel();
  }

  /** The centre held a blacklisted car, or a car that owes came in: the notice stays
   * until the next, for the seat must act on it. */
  function showPlateAlert(alert) {
    if (alert.kind !== "blacklist" && alert.kind !== "debtor") return;
    const lane = lanes.get(alert.lane);
    const fen = Number.isInteger(alert.debts_fen) ? alert.debts_fen : 0;
    desk.notices.show(
      `plate_alert.${alert.kind}`,
      {
        plate: String(alert.plate ?? ""),
        lane: lane?.name ?? String(alert.lane ?? ""),
        car_park: String(alert.car_park ?? ""),
        yuan: (fen / 100).toFixed(2),
      },
      true,
    );
  }

  function handle(message) {
    if (CALL_MESSAGES.has(message.type)) {
      desk.handle(message);
      if (message.type === "agent" && message.agent) supervisor.agent(message.agent);
      if (message.type === "alert" && message.alert && canAudit()) supervisor.alert(message.alert);
      return;
    }
    switch (message.type) {
      case "lanes":
        if (!Array.isArray(message.lanes)) return;
        synced();
        dropLaneChanges();
        lanes.setAll(message.lanes);
        if (live.laneId) live.laneChanged(lanes.get(live.laneId));
        desk.render();
        desk.resync();
        // A (re)connect may follow a gap: fetch the newest audit page again.
        if (audit.loaded) audit.load();
        break;
      case "lane":
        if (message.lane && typeof message.lane.id === "string") {
          laneChanges.set(message.lane.id, message.lane);
          laneFrame.request();
        }
        break;
      case "audit":
        if (!message.entry) break;
        audit.add(message.entry);
        if (message.entry.action === "login_attack" && canAudit()) attack.show(message.entry);
        break;
      case "plate_alert":
        if (message.alert) showPlateAlert(message.alert);
        break;
      default:
        break;
    }
  }

  return { handle, dropLaneChanges };
}
