// The driver's help page: a phone that scanned a lane's help sticker calls the remote
// seat, follows its call and talks on it. No login: the page's address (the sticker's
// token) names the lane, and the call's secret, kept in sessionStorage, proves to the
// centre that this page placed the call.
//
// Placing a call answers {call_id, secret, call, ice_servers}; from then on:
//   - a WebSocket (…/stream) says the call's state as it changes: queued with its place
//     in the queue, answered, ended. It reconnects when dropped: the centre hangs up a
//     call whose page has been away for ten seconds;
//   - a WebRTC connection (…/webrtc, one HTTP exchange) carries the microphone to the
//     agent who answers and the agent's voice back; it is opened at once, and nothing is
//     heard either way until an agent answers;
//   - closing the page hangs up (a keepalive request on pagehide).
//
// For tests, window.seatHelp holds the call, its peer connection and its state.

import { gathered } from "./ice.js";

const STREAM_RETRY_MAX_MS = 4000;
const VOICE_RETRY_MS = 2000;

const token = decodeURIComponent(location.pathname.split("/")[2] ?? "");
const base = `/help/${encodeURIComponent(token)}`;
const storageKey = `seat-help:${token}`;

const $ = (id) => document.getElementById(id);
const els = {
  call: $("call"),
  hangup: $("hangup"),
  status: $("status"),
  detail: $("detail"),
};

const help = {
  callId: null,
  secret: null,
  iceServers: [],
  state: "idle", // idle placing queued answered ended error
  over: true, // no call under way
  ws: null,
  pc: null,
  mic: null, // the microphone's stream, or null when refused
  audio: null, // plays the agent's voice
  retries: 0,
};
window.seatHelp = help;

// ---------------------------------------------------------------- what the page shows

const LIVE = new Set(["placing", "queued", "answered"]);

function show(state, text, detail = "") {
  help.state = state;
  document.body.dataset.state = state;
  els.status.textContent = text;
  els.detail.textContent = detail;
  els.hangup.hidden = !LIVE.has(state);
  els.call.disabled = LIVE.has(state);
}

function render(call) {
  if (help.over) return;
  if (call.state === "queued") {
    const place = call.position ? `排队中（第 ${call.position} 位）` : "排队中";
    show("queued", place, "坐席接听前请稍候，请勿关闭本页面");
  } else if (call.state === "answered") {
    show("answered", "已接通", help.mic ? "请对着手机讲话" : "麦克风未开启：坐席听不到您的声音");
  } else {
    finish(call.ending === "caller" ? "您已挂断" : "通话已结束，如需帮助可再次呼叫");
  }
}

/** The call is over: let go of everything it held. */
function finish(detail) {
  stop();
  show("ended", "已结束", detail);
}

function fail(text, detail = "") {
  stop();
  show("error", text, detail);
}

function stop() {
  help.over = true;
  const { ws, pc, mic } = help;
  help.ws = help.pc = help.mic = null;
  ws?.close();
  pc?.close();
  mic?.getTracks().forEach((track) => track.stop());
  sessionStorage.removeItem(storageKey);
}

// ---------------------------------------------------------------- the centre

function headers() {
  const sent = { "content-type": "application/json" };
  if (help.secret) sent["x-help-secret"] = help.secret;
  return sent;
}

function post(path, body = {}, { keepalive = false } = {}) {
  return fetch(base + path, {
    method: "POST",
    headers: headers(),
    body: JSON.stringify(body),
    keepalive,
    cache: "no-store",
  });
}

function callPath(suffix = "") {
  return `/call/${encodeURIComponent(help.callId)}${suffix}`;
}

function keep(placed) {
  help.callId = placed.call_id;
  help.secret = placed.secret;
  help.iceServers = Array.isArray(placed.ice_servers) ? placed.ice_servers : [];
  const kept = { call_id: help.callId, secret: help.secret, ice_servers: help.iceServers };
  sessionStorage.setItem(storageKey, JSON.stringify(kept));
}

async function place() {
  show("placing", "正在呼叫…");
  help.over = false;
  help.mic = await microphone();
  let response;
  try {
    response = await post("/call");
  } catch {
    fail("网络错误", "请检查网络后再试");
    return;
  }
  if (response.status === 404) {
    stop();
    document.body.dataset.page = "invalid";
    return;
  }
  if (response.status === 429) {
    const wait = Number(response.headers.get("retry-after")) || 60;
    fail("呼叫过于频繁", `请 ${wait} 秒后再试，或使用车道上的对讲按钮`);
    return;
  }
  if (!response.ok) {
    fail("呼叫失败", "请稍后再试，或使用车道上的对讲按钮");
    return;
  }
  const placed = await response.json();
  keep(placed);
  render(placed.call);
  follow();
  connectVoice();
}

async function hangUp() {
  if (!help.callId || help.over) return;
  const path = callPath("/hangup");
  finish("您已挂断");
  try {
    await post(path);
  } catch {
    // The centre hangs up on its own once the page's stream has been gone a while.
  }
}

// ---------------------------------------------------------------- the call's state

function follow() {
  if (help.over) return;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${scheme}//${location.host}${base}${callPath("/stream")}`);
  help.ws = ws;
  ws.addEventListener("open", () => ws.send(JSON.stringify({ secret: help.secret })));
  ws.addEventListener("message", (event) => {
    help.retries = 0;
    const message = JSON.parse(event.data);
    if (message.type === "call") render(message.call);
  });
  ws.addEventListener("close", (event) => {
    if (help.ws !== ws || help.over) return;
    if (event.code === 4401 || event.code === 4404) {
      finish("通话已结束，如需帮助可再次呼叫"); // not (or no longer) this page's call
      return;
    }
    const wait = Math.min(STREAM_RETRY_MAX_MS, 250 * 2 ** help.retries++);
    setTimeout(follow, wait);
  });
}

// ---------------------------------------------------------------- the voice

async function microphone() {
  try {
    return await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: true, noiseSuppression: true, autoGainControl: true },
      video: false,
    });
  } catch {
    return null; // refused or absent: the driver still hears the agent
  }
}

function preferOpus(transceiver) {
  const codecs = RTCRtpReceiver.getCapabilities?.("audio")?.codecs;
  if (!codecs || typeof transceiver.setCodecPreferences !== "function") return;
  const opus = codecs.filter((codec) => codec.mimeType.toLowerCase() === "audio/opus");
  if (opus.length) transceiver.setCodecPreferences(opus);
}

function hear(track) {
  help.audio ??= new Audio();
  help.audio.srcObject = new MediaStream([track]);
  help.audio.play().catch(() => {
    // No gesture yet (a resumed page): the next touch starts the sound.
    els.detail.textContent = "轻触屏幕以听到坐席的声音";
    document.addEventListener("pointerdown", () => help.audio.play().catch(() => {}), { once: true });
  });
}

async function connectVoice() {
  if (help.over) return;
  const pc = new RTCPeerConnection({ iceServers: help.iceServers });
  help.pc = pc;
  const track = help.mic?.getAudioTracks()[0];
  const transceiver = track
    ? pc.addTransceiver(track, { direction: "sendrecv" })
    : pc.addTransceiver("audio", { direction: "sendrecv" });
  preferOpus(transceiver);
  pc.addEventListener("track", (event) => hear(event.track));
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState === "failed" && help.pc === pc) retryVoice(pc);
  });
  try {
    await pc.setLocalDescription();
    await gathered(pc);
    if (help.pc !== pc) return;
    const response = await post(callPath("/webrtc"), { type: "offer", sdp: pc.localDescription.sdp });
    if (!response.ok) throw new Error(`webrtc ${response.status}`);
    const answer = await response.json();
    if (help.pc !== pc) return;
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
  } catch {
    if (help.pc === pc) retryVoice(pc);
  }
}

function retryVoice(pc) {
  pc.close();
  if (help.over) return;
  els.detail.textContent = "语音连接中断，正在重新连接…";
  setTimeout(() => {
    if (help.pc === pc) connectVoice();
  }, VOICE_RETRY_MS);
}

// ---------------------------------------------------------------- start

/** A call this tab placed before it was reloaded, if the centre still has it open. */
async function resume() {
  let kept;
  try {
    kept = JSON.parse(sessionStorage.getItem(storageKey) ?? "null");
  } catch {
    kept = null;
  }
  if (!kept?.call_id || !kept?.secret) return;
  keep(kept);
  let call;
  try {
    const response = await fetch(base + callPath(), { headers: headers(), cache: "no-store" });
    call = response.ok ? await response.json() : null;
  } catch {
    call = null;
  }
  if (!call || call.state === "ended") {
    sessionStorage.removeItem(storageKey);
    return;
  }
  help.over = false;
  help.mic = await microphone();
  render(call);
  follow();
  connectVoice();
}

if (document.body.dataset.page === "call") {
  if (!token) document.body.dataset.page = "invalid";
  els.call.addEventListener("click", () => {
    if (help.over) place();
  });
  els.hangup.addEventListener("click", hangUp);
  // Closing (or leaving) the page hangs up; the centre would after ten seconds anyway.
  addEventListener("pagehide", () => {
    if (help.over || !help.callId) return;
    post(callPath("/hangup"), {}, { keepalive: true }).catch(() => {});
    stop();
  });
  resume();
}
