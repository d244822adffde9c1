// ICE gathering for the centre's one-exchange signalling, shared by the console's live
// view and the driver's help page: the centre takes no trickled candidates, so an offer
// leaves once gathering is complete. A TURN server that never answers must not hold the
// offer forever, so what was gathered by then goes.

export const GATHER_MS = 5000;

/** Resolves when `pc` has gathered its candidates, or after `timeoutMs`. */
export function gathered(pc, timeoutMs = GATHER_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, timeoutMs);
    pc.addEventListener("icegatheringstatechange", check);
  });
}
