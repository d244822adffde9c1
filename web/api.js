// The centre's HTTP API. Errors come back as {"error": code, "detail": text} (STYLE.md
// habit 6); every failure, from the server or the network, becomes an ApiError with a
// code the page can translate.

// Paths are resolved against the page, so the console also works behind a reverse
// proxy that mounts the centre under a prefix.
export function apiUrl(path) {
  return new URL(path, document.baseURI);
}

export class ApiError extends Error {
  constructor(status, code, detail = "", body = {}) {
    super(detail || code);
    this.status = status;
    this.code = code;
    this.detail = detail;
    this.body = body;
  }
}

let csrfToken = null;
let onUnauthorized = () => {};

/** The token the server handed out at login or /api/me; sent on every state change. */
export function setCsrfToken(token) {
  csrfToken = token;
}

/** Called when a request made inside a session gets 401: the session is gone. */
export function setUnauthorizedHandler(fn) {
  onUnauthorized = fn;
}

const DEFAULT_TIMEOUT_MS = 15_000;

/**
 * Send a request and return the parsed JSON body (null for 204).
 * `session: false` marks calls where 401 is an answer, not a lost session (login, me).
 * `keepalive: true` lets the request outlive the page (pagehide).
 * `binary: true` returns a successful answer as a Blob (a file); errors are JSON still.
 */
export async function request(
  method,
  path,
  { body, timeoutMs = DEFAULT_TIMEOUT_MS, session = true, keepalive = false, binary = false } = {},
) {
  const headers = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrfToken) headers["X-CSRF-Token"] = csrfToken;

  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  let response;
  try {
    response = await fetch(apiUrl(path), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
      keepalive,
      signal: abort.signal,
    });
  } catch (err) {
    throw new ApiError(0, abort.signal.aborted ? "client_timeout" : "network", String(err?.message ?? err));
  } finally {
    clearTimeout(timer);
  }

  if (response.ok && binary) return response.blob();
  let data = null;
  if (response.status !== 204) {
    const type = response.headers.get("Content-Type") ?? "";
    if (type.includes("json")) {
      try {
        data = await response.json();
      } catch {
        data = null;
      }
    }
  }
  if (response.ok) return data;

  const code = typeof data?.error === "string" ? data.error : `http_${response.status}`;
  const detail = typeof data?.detail === "string" ? data.detail : response.statusText;
  const error = new ApiError(response.status, code, detail, data ?? {});
  if (response.status === 401 && session) onUnauthorized(error);
  throw error;
}

export const api = {
  me: () => request("GET", "api/me", { session: false }),
  login: (username, password) =>
    request("POST", "api/login", { body: { username, password }, session: false }),
  logout: () => request("POST", "api/logout", { session: false }),
  lanes: () => request("GET", "api/lanes"),
  // The server waits up to ~10 s for the lane's ack; allow for that plus the network.
  openGate: (laneId, reason, note) =>
    request("POST", `api/lanes/${encodeURIComponent(laneId)}/open`, {
      body: { reason, note },
      timeoutMs: 25_000,
    }),
  display: (laneId, lines) =>
    request("POST", `api/lanes/${encodeURIComponent(laneId)}/display`, {
      body: { lines },
      timeoutMs: 25_000,
    }),
  // format: "png" | "pdf"; answers the file as a Blob (supervisors and admins).
  sticker: (laneId, format = "png") =>
    request("GET", `api/lanes/${encodeURIComponent(laneId)}/sticker?format=${format}`, {
      binary: true,
      timeoutMs: 30_000,
    }),
  media: () => request("GET", "api/media"),
  // offer: {sdp, type: "offer", intercom, listen}; answers {type, sdp, viewer}.
  watch: (laneId, offer) =>
    request("POST", `api/lanes/${encodeURIComponent(laneId)}/webrtc`, { body: offer, timeoutMs: 20_000 }),
  // A viewer the centre already dropped, or a session already ended, is no loss here.
  unwatch: (laneId, viewer, { keepalive = false } = {}) =>
    request("DELETE", `api/lanes/${encodeURIComponent(laneId)}/webrtc/${encodeURIComponent(viewer)}`, {
      keepalive,
      session: false,
      timeoutMs: 5_000,
    }),
  // A hotline call typed in by the agent who answered the phone; answers the call (201).
  placeCall: (laneId, caller, note) =>
    request("POST", "api/calls", { body: { lane_id: laneId, caller, note } }),
  acceptCall: (callId) => request("POST", `api/calls/${encodeURIComponent(callId)}/accept`),
  declineCall: (callId) => request("POST", `api/calls/${encodeURIComponent(callId)}/decline`),
  // to: an agent's username or "supervisors".
  transferCall: (callId, to, note) =>
    request("POST", `api/calls/${encodeURIComponent(callId)}/transfer`, { body: { to, note } }),
  // A supervisor takes an answered call over from its holder.
  bargeCall: (callId) => request("POST", `api/calls/${encodeURIComponent(callId)}/barge`),
  // outcome: {category, plate, amount_fen, note}
  endCall: (callId, outcome) =>
    request("POST", `api/calls/${encodeURIComponent(callId)}/end`, { body: outcome }),
  // state: "available" | "break"; a break's reason
  setState: (state, reason = "") => request("POST", "api/agents/me/state", { body: { state, reason } }),
  agents: () => request("GET", "api/agents"),
  // The call workspace (README, "The call workspace"): a lane's last vehicles, the
  // plate check, correction and matching, a stay with its fee, payment orders.
  laneVehicles: (laneId, limit) =>
    request("GET", `api/lanes/${encodeURIComponent(laneId)}/vehicles?limit=${limit}`),
  checkPlate: (plate) => request("GET", `api/plates/check?${new URLSearchParams({ plate })}`),
  correctPlate: (eventId, plate, note) =>
    request("POST", `api/vehicles/${encodeURIComponent(eventId)}/plate`, { body: { plate, note } }),
  // The OCR's reading, made on the first ask: it may wait for the reads before it.
  readPlate: (eventId) =>
    request("POST", `api/vehicles/${encodeURIComponent(eventId)}/reading`, { timeoutMs: 30_000 }),
  candidates: (carPark, plate) =>
    request("GET", `api/stays/candidates?${new URLSearchParams({ car_park: carPark, plate })}`),
  matchStay: (stayId, eventId) =>
    request("POST", `api/stays/${encodeURIComponent(stayId)}/match`, { body: { event_id: eventId } }),
  stay: (stayId) => request("GET", `api/stays/${encodeURIComponent(stayId)}`),
  // order: {plate, stay_id, amount_fen, reason}, each optional; the lane's display is
  // told too, so allow for its ack.
  issuePayment: (laneId, order) =>
    request("POST", `api/lanes/${encodeURIComponent(laneId)}/payment`, { body: order, timeoutMs: 25_000 }),
  payment: (orderId) => request("GET", `api/payments/${encodeURIComponent(orderId)}`),
  reopenPayment: (orderId, note = "") =>
    request("POST", `api/payments/${encodeURIComponent(orderId)}/open`, { body: { note }, timeoutMs: 25_000 }),
  // A car park's rules and lists, its stays without a plate, and escapes.
  park: (carPark) => request("GET", `api/parks/${encodeURIComponent(carPark)}`),
  noplateStays: (carPark, limit) =>
    request("GET", `api/noplate/stays?${new URLSearchParams({ car_park: carPark, limit: String(limit) })}`),
  linkNoPlate: (stayId, plate, note) =>
    request("POST", `api/noplate/stays/${encodeURIComponent(stayId)}/plate`, { body: { plate, note } }),
  // escape: {note, amount_fen?}
  recordEscape: (stayId, escape) =>
    request("POST", `api/stays/${encodeURIComponent(stayId)}/escape`, { body: escape }),
  audit: (limit, before) => {
    const query = new URLSearchParams({ limit: String(limit) });
    if (before != null) query.set("before", String(before));
    return request("GET", `api/audit?${query}`);
  },
};

export function snapshotUrl(laneId, vehicleAt) {
  const url = apiUrl(`api/lanes/${encodeURIComponent(laneId)}/snapshot`);
  if (vehicleAt) url.searchParams.set("t", vehicleAt);
  return url.href;
}

/** A path the centre gave ("/api/vehicles/…/crop") as a URL of the page's centre,
 * resolved like every request so a prefix in front of the centre is kept. */
export function centreUrl(path) {
  return apiUrl(String(path).replace(/^\/+/, "")).href;
}

/** ws: or wss: by the page's own protocol, same origin as the page. */
export function streamUrl() {
  const url = apiUrl("api/stream");
  url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  return url.href;
}
