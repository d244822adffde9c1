// One WebRTC connection to the centre for one lane, as the centre calls it: a viewer.
//
// Signalling is one HTTP exchange: the centre answers and takes no trickled candidates,
// so the offer leaves once ICE gathering is complete. The centre forwards the lane's own
// H.264 and transcodes nothing, and Chromium takes the bytes of a VP8 answer and
// silently decodes none of them (docs/media.md), so the offer puts H.264 first. The
// offer holds exactly a video section, then one audio section when talking, or two
// when listening in (the lane's sound or a phone caller's, then the agent's voice):
// the centre refuses any other layout (offer_mismatch).

import { api } from "./api.js";
import { gathered } from "./ice.js";


/** A failure on this side of the API; `code` is translated like the server's. */
export class LiveError extends Error {
  constructor(code, detail = "") {
    super(detail || code);
    this.code = code;
    this.detail = detail;
    this.status = -1;
  }
}

/** Whether a later attempt may succeed without anybody doing anything. */
export function transient(error) {
  return (
    error.status === 0 ||
    error.status >= 500 ||
    error.code === "lane_offline" ||
    error.code === "webrtc_failed"
  );
}

/** Put `mime` first (Constrained Baseline, packetization-mode 1 first of those). */
function prefer(transceiver, kind, mime) {
  const codecs = RTCRtpReceiver.getCapabilities?.(kind)?.codecs;
  if (!codecs || typeof transceiver.setCodecPreferences !== "function") return;
  const wanted = codecs.filter((codec) => codec.mimeType.toLowerCase() === mime);
  if (!wanted.length) throw new LiveError(kind === "video" ? "h264_unsupported" : "opus_unsupported");
  const score = (codec) => {
    const fmtp = codec.sdpFmtpLine ?? "";
    return (fmtp.includes("packetization-mode=1") ? 2 : 0) + (/profile-level-id=42e0/i.test(fmtp) ? 1 : 0);
  };
  wanted.sort((a, b) => score(b) - score(a));
  const rest = codecs.filter((codec) => codec.mimeType.toLowerCase() !== mime);
  transceiver.setCodecPreferences([...wanted, ...rest]);
}

/**
 * A peer connection carrying `mode`: "watch" (the lane's video), "listen" (and the
 * lane's sound, and the agent's voice as a track of its own) or "intercom" (and the
 * agent's microphone to the lane).
 * `onChange(viewer)` runs on each received track and each connection state change.
 */
export class Viewer {
  constructor(laneId, mode, { iceServers = [], onChange = () => {} } = {}) {
    this.laneId = laneId;
    this.mode = mode;
    this.id = null; // the centre's viewer id, once answered
    this.video = null; // received tracks
    this.audio = null;
    this.agent = null; // listening in: the agent's voice
    this.agentTransceiver = null;
    this.released = false;
    this.pc = new RTCPeerConnection({ iceServers });
    this.pc.addEventListener("track", ({ track, transceiver }) => {
      if (track.kind === "video") this.video = track;
      else if (transceiver === this.agentTransceiver) this.agent = track;
      else this.audio = track;
      onChange(this);
    });
    this.pc.addEventListener("connectionstatechange", () => onChange(this));
  }

  get state() {
    return this.pc.connectionState;
  }

  /**
   * Offer, have the centre answer, apply the answer. On failure the connection is
   * released and the error thrown: an ApiError from the centre or a LiveError.
   */
  async open(microphone = null) {
    const { pc, mode } = this;
    try {
      prefer(pc.addTransceiver("video", { direction: "recvonly" }), "video", "video/h264");
      if (mode === "intercom") {
        if (!microphone) throw new LiveError("microphone_unavailable");
        prefer(pc.addTransceiver(microphone, { direction: "sendrecv" }), "audio", "audio/opus");
      } else if (mode === "listen") {
        prefer(pc.addTransceiver("audio", { direction: "recvonly" }), "audio", "audio/opus");
        this.agentTransceiver = pc.addTransceiver("audio", { direction: "recvonly" });
        prefer(this.agentTransceiver, "audio", "audio/opus");
      }
      await pc.setLocalDescription();
      await gathered(pc);
      const answer = await api.watch(this.laneId, {
        sdp: pc.localDescription.sdp,
        type: "offer",
        intercom: mode === "intercom",
        listen: mode === "listen",
      });
      this.id = typeof answer?.viewer === "string" ? answer.viewer : null;
      if (typeof answer?.sdp !== "string") throw new LiveError("webrtc_failed", "no answer SDP");
      await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    } catch (error) {
      this.release();
      if (error instanceof LiveError || typeof error?.code === "string") throw error;
      throw new LiveError("webrtc_failed", String(error?.message ?? error)); // a DOMException
    }
  }

  /** Let go at the centre (DELETE) and here (pc.close()); `keepalive` when the page goes. */
  release({ keepalive = false } = {}) {
    if (this.released) return;
    this.released = true;
    if (!this.id) {
      this.pc.close();
      return;
    }
    // The DELETE goes first: closing the peer connection ends the viewer at the centre
    // as well (DTLS close), and a DELETE arriving after that finds nothing to close.
    const deleted = api.unwatch(this.laneId, this.id, { keepalive }).catch(() => {
      // Already gone at the centre; its ICE consent check ends a viewer within seconds.
    });
    if (keepalive) this.pc.close(); // the page is going: no waiting for answers
    else deleted.finally(() => this.pc.close());
  }
}
